"""The ``kvjax explore`` app: the views in tabs, served by Panel on 127.0.0.1.

``open_store`` opens a store lazily (nothing is read until a view draws its slice) and
refuses bad input in one line; ``build_app`` makes one session's layout (each browser tab
gets its own widgets over the one opened dataset); ``serve`` checks the port, prints the URL
and blocks until Ctrl-C.
"""

from __future__ import annotations

import os
import socket
import sys

from ..errors import InputError
from . import _logic as L


def open_store(path, allow_partial: bool = False):
    """The store at ``path`` as a lazily loaded Dataset with ``ds.kv``; one-line
    ``InputError`` for a path that is not a kvjax store, a partial store (unless
    ``allow_partial``) or a store with nothing to plot."""
    from .. import analysis as _analysis  # noqa: F401  (registers ds.kv)
    from ..sweep import completeness, is_kvjax_store, open_sweep, read_attrs

    if not os.path.exists(path):
        raise InputError(f"{path}: no such store")
    if not is_kvjax_store(path):
        raise InputError(f"{path}: not a kvjax sweep store (make one with `kvjax sweep SPEC -o "
                         f"{path}`)")  # fmt: skip
    if read_attrs(path).get("kvjax_status") != "complete" and not allow_partial:
        done, total = completeness(path)
        raise InputError(f"{path}: partial store ({done}/{total} chunks done); finish it "
                         "with `kvjax sweep SPEC -o STORE --resume`, or pass --allow-partial")
    ds = open_sweep(path, allow_partial=allow_partial)
    L.check_store(ds, str(path))
    return ds


def build_app(ds=None, live=None, title: str = "kvjax explore"):
    """One session's layout: Curves, Map, Pareto (and Live) tabs for ``ds``; Live alone
    when ``ds`` is None.  ``live`` is ``(model, [hardware ids], precision)``."""
    import panel as pn

    makers = _views(ds, live)
    holders = [pn.Column(name=name) for name, _ in makers]

    def fill(i):  # a view is built when its tab is first shown: the page opens at once
        if 0 <= i < len(holders) and not holders[i].objects:
            holders[i].objects = [makers[i][1]()]

    fill(0)
    tabs = pn.Tabs(*holders, dynamic=True, css_classes=["kvjax-tabs"])
    tabs.param.watch(lambda e: fill(e.new), "active")
    header = pn.pane.Markdown(f"### {title}", margin=(0, 10))
    return pn.Column(header, tabs)


def _views(ds, live):
    from ._views import CurvesView, LiveView, MapView, ParetoView

    out = []
    if ds is not None:
        out += [("Curves", lambda: CurvesView(ds).panel()), ("Map", lambda: MapView(ds).panel()),
                ("Pareto", lambda: ParetoView(ds).panel())]  # fmt: skip
    if live is not None:
        out.append(("Live", lambda: LiveView(*live).panel()))
    return out


def warm_up(ds=None, live=None):
    """Build every view once in a background thread, so that JAX compiles the boundary
    solver and the live kernel (seconds, once per process) while the browser opens; the
    sessions after it reuse the compiled code."""
    import threading

    def run():
        for _, make in _views(ds, live):
            try:
                make()
            except Exception:  # noqa: BLE001 - a session will report it; warming is optional
                pass

    t = threading.Thread(target=run, name="kvjax-warm-up", daemon=True)
    t.start()
    return t


def check_port(port: int, host: str = "127.0.0.1") -> int:
    """``port`` if it is free on ``host`` (0: any free port, returned); else one-line
    ``InputError``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            raise InputError(f"--port {port}: in use on {host}; choose another port, or "
                             "--port 0 for any free one") from None  # fmt: skip
        return s.getsockname()[1]


def serve(factory, port: int = 5006, open_browser: bool = True, title="kvjax explore",
          threaded: bool = False):  # fmt: skip
    """Serve ``factory()`` (a layout per session) at ``http://127.0.0.1:PORT/``; prints the
    URL on stdout.  Blocks unless ``threaded`` (then returns the server thread)."""
    import panel as pn

    port = check_port(port)
    url = f"http://127.0.0.1:{port}/"
    print(f"{title}: serving at {url}  (Ctrl-C to stop)", flush=True)
    sys.stdout.flush()
    return pn.serve({"/": factory}, port=port, address="127.0.0.1", show=open_browser,
                    title=title, verbose=False, threaded=threaded,
                    websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"])  # fmt: skip
