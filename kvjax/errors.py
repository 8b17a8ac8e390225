"""One error type for bad input, with a one-line message naming file, entry, field and value."""

from __future__ import annotations

import difflib


class InputError(ValueError):
    """Bad user input (catalog entry, config.json, sweep spec, CLI argument).

    The message is one line: ``<file>: <entry>: <field> = <value>: <what is wrong>``.
    The CLI prints it without a traceback and exits with status 2.
    """


def where(file=None, entry=None, field=None, value=None) -> str:
    """``"file: [entry]: field = value"`` from whichever parts are known."""
    parts = []
    if file is not None:
        parts.append(str(file))
    if entry is not None:
        parts.append(f"[{entry}]")
    if field is not None:
        parts.append(f"{field} = {value!r}" if value is not None else str(field))
    return ": ".join(parts)


def fail(message: str, file=None, entry=None, field=None, value=None) -> InputError:
    """Build (not raise) an ``InputError`` located at file/entry/field."""
    loc = where(file, entry, field, value)
    return InputError(f"{loc}: {message}" if loc else message)


def suggest(name: str, choices) -> str:
    """``"; did you mean 'a', 'b'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name).lower(), [str(c) for c in choices], n=3, cutoff=0.5)
    if not close:
        close = [c for c in choices if str(name).lower() in str(c).lower()][:3]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
