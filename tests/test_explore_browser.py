"""The explorer and the report in a real browser: Playwright driving the system Chromium
(Debian's ``chromium``, installed by ``.ci/run``; Playwright never downloads a browser).

One app server (a thread of this process) and one browser for the module.  What is checked
is read from the page's Bokeh document model (titles, axis labels, scales) and its DOM
(widgets), never from pixels; the report is opened from a file with every non-file request
blocked, and the test asserts none was attempted.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("no system Chromium (apt-get install chromium; CI installs it)",
                allow_module_level=True)  # fmt: skip
from playwright import sync_api  # noqa: E402  (in the dev extra)

DOCS = Path(__file__).resolve().parents[1] / "docs"

PLOT = """(name) => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    const all = doc._all_models ? [...doc._all_models.values()] : [...doc.all_models];
    const named = all.filter(m => m.name === name);
    const p = named[named.length - 1];  // a redraw swaps the figure: the newest
    if (p) return {title: p.title.text, x: p.below[0].axis_label, y: p.left[0].axis_label,
                   xlog: p.x_scale.type === "LogScale", ylog: p.y_scale.type === "LogScale",
                   id: p.id};
  }
  return null;
}"""


@pytest.fixture(scope="module")
def store(explore_store):
    return explore_store  # built once a session (conftest.py)


@pytest.fixture(scope="module")
def server(store):
    from kvjax.explore import build_app, check_port, open_store, serve

    ds = open_store(store)
    port = check_port(0)
    thread = serve(lambda: build_app(ds, ("yi-34b", ["a100-80gb-sxm", "h100-sxm"], "bf16")),
                   port=port, open_browser=False, threaded=True)  # fmt: skip
    time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/"
    thread.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_function(f"({PLOT})('curves') !== null", timeout=60_000)
    page.errors = errors
    yield page
    page.close()


def plot(page, name):
    return page.evaluate(PLOT, name)


def wait_change(page, name, old_id, timeout=30_000):
    page.wait_for_function(f"(() => {{ const p = ({PLOT})('{name}'); "
                           f"return p !== null && p.id !== '{old_id}'; }})()",
                           timeout=timeout)  # fmt: skip
    return plot(page, name)


def present(page, css) -> bool:
    return page.locator(f".{css}").count() > 0


def select(page, css, value):
    page.locator(f".{css} select").select_option(value)


def test_app_loads_without_console_errors_and_labels_from_attrs(page):
    p = plot(page, "curves")
    assert p["title"].startswith("time per output token -- model = yi-34b")
    assert "hardware" not in p["title"] and "name" not in p["title"]  # no catalog extras
    assert p["x"] == "context tokens (tokens)" and p["y"] == "time per output token (s)"
    assert p["xlog"] and p["ylog"]  # context was made with geomspace
    assert page.errors == []
    if os.environ.get("KVJAX_UPDATE_SCREENSHOT"):
        page.screenshot(path=str(DOCS / "explore.png"))


def test_changing_the_metric_changes_title_axes_and_widgets(page):
    before = plot(page, "curves")
    assert present(page, "kvjax-curves-sel-batch")  # decode_step_s has a batch dim
    select(page, "kvjax-metric", "prefill_s")
    after = wait_change(page, "curves", before["id"])
    assert after["title"].startswith("prefill time (time to first token)")
    assert after["y"] == "prefill time (time to first token) (s)"
    page.wait_for_timeout(300)
    assert not present(page, "kvjax-curves-sel-batch")  # prefill is per user: no batch
    assert present(page, "kvjax-curves-sel-model")
    select(page, "kvjax-metric", "decode_step_s")
    again = wait_change(page, "curves", after["id"])
    assert again["title"].startswith("time per output token")
    page.wait_for_timeout(300)
    assert present(page, "kvjax-curves-sel-batch")  # back again
    assert page.errors == []


def _tab(page, name):
    page.get_by_text(name, exact=True).first.click()


def test_map_view_renders_regimes_with_boundaries(page):
    _tab(page, "Map")
    page.wait_for_function(f"({PLOT})('map') !== null", timeout=60_000)
    p = plot(page, "map")
    assert p["title"].startswith("resource binding decode -- model = yi-34b")
    assert p["x"] == "context tokens (tokens)" and p["y"] == "batch"
    legend = page.evaluate(f"""() => {{ const d = Bokeh.documents[0];
        const p = d._all_models.get("{p['id']}");
        return p.center.concat(p.right).filter(m => m.items !== undefined)
                .flatMap(l => l.items.map(i => i.label.value)); }}""")
    assert "HBM bandwidth" in " ".join(legend) and "fits" in legend
    assert page.errors == []


def test_pareto_selection_shows_the_scenario(page):
    _tab(page, "Pareto")
    page.wait_for_function(f"({PLOT})('pareto') !== null", timeout=60_000)
    p = plot(page, "pareto")
    assert p["title"].startswith("Pareto front")
    page.evaluate(f"""() => {{ const d = Bokeh.documents[0];
        const p = d._all_models.get("{p['id']}");
        p.renderers[0].data_source.selected.indices = [0]; }}""")
    table = page.locator(".kvjax-scenario-table")
    table.wait_for(timeout=30_000)
    text = page.locator(".kvjax-scenario").locator("div").first.inner_text()
    assert "hardware" in text and "decode_step_s" in text
    assert "knobs of decode_step_s" in text  # the store holds elasticities
    assert "every leaf of the scenario" in text and "workload.kv_bits" in text
    assert page.errors == []


def test_live_view_renders(page):
    _tab(page, "Live")
    # the Live tab compiles the cost model on first use: allow for a loaded 2-core machine
    page.wait_for_function(f"({PLOT})('live') !== null", timeout=180_000)
    p = plot(page, "live")
    assert p["title"].startswith("time per output token -- model = yi-34b")
    assert present(page, "kvjax-live-batch")
    assert page.errors == []


def test_report_opens_offline_and_is_not_blank(browser, store, tmp_path):
    from kvjax.explore import open_store, write_report

    out = tmp_path / "report.html"
    write_report(open_store(store), out)
    page = browser.new_page()
    attempted, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith("file://"):
            return r.continue_()
        attempted.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(out.as_uri())
    page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0 && "
                           "document.querySelectorAll('.bk-Column, .bk-Row, [class*=bk-]')"
                           ".length > 0", timeout=30_000)  # fmt: skip
    n_plots = page.evaluate("""() => Bokeh.documents[0].roots()[0].children
        .flatMap(r => r.children).length""")
    assert n_plots >= 4
    png = page.screenshot()
    assert len(set(png[1000:20000])) > 20  # not a blank page
    assert attempted == [] and errors == []
    page.close()
