"""Signals end a command with one line and a conventional exit status, never a traceback or a
segfault: SIGINT 130, SIGTERM 143, SIGHUP 129 (128 + the signal number).

During a sweep the handler only sets ``kvjax.sweep.STOP``: the chunk loop stops after the
chunk in hand, commits what it wrote and raises ``Interrupted``, so the store stays
resumable.  Nothing is raised inside JAX's C++ code (an exception raised while XLA compiles
crashed the interpreter at exit before): a signal during the compile takes effect when the
compile returns, a second signal exits at once (``os._exit``; the done records only ever
describe durable files, so the store is resumable then too).  Other commands stop at once,
except inside an import: JAX's extensions crash or print tracebacks when interrupted while
they initialise, so a signal there is held until the import is over (re-checked every 50 ms
with ``SIGALRM``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Stopped(Exception):
    """A command stopped by a signal (``signum``)."""

    def __init__(self, signum: int):
        super().__init__(SIGNALS.get(signum, str(signum)))
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class _State:
    deferred = False  # True while a sweep runs: set STOP instead of raising
    received: int | None = None
    held: int | None = None  # a signal that arrived inside an import


def _in_import(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def handled():
    """Install the handlers for the duration of one ``kvjax`` command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from .._stop import STOP

    def handler(signum, frame):
        if _State.deferred:
            if STOP.is_set():  # a second signal: stop now
                sys.stderr.write(f"kvjax: {SIGNALS[signum]} again: stopped at once\n")
                sys.stderr.flush()
                os._exit(128 + signum)
            _State.received = signum
            STOP.set()
            return
        _State.received = signum
        if _in_import(frame):
            _State.held = signum
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        raise Stopped(signum)

    def on_alarm(signum, frame):
        if _State.held is not None:
            held, _State.held = _State.held, None
            handler(held, frame)

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    old[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_alarm)
    _State.deferred, _State.received, _State.held = False, None, None
    STOP.clear()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # a held signal still pending
        for s, h in old.items():
            signal.signal(s, h)
        _State.deferred = False
        STOP.clear()


@contextlib.contextmanager
def deferred():
    """Within a ``handled()`` command: signals set ``STOP`` instead of raising."""
    _State.deferred = True
    try:
        yield
    finally:
        _State.deferred = False


def received() -> int | None:
    """The signal that set ``STOP`` during this command, if any."""
    return _State.received
