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


def suggest(name: str, choices, limit: int = 8) -> str:
    """``"; did you mean 'a', 'b'?"``: first every choice that ``name`` is a prefix of (``a100``
    -> each A100 id), closest spelling first; then the closest others by spelling; else those
    that contain it; at most ``limit``; ``""`` when nothing is near.

    >>> suggest("a100", ["a100-40gb-sxm", "a100-80gb-sxm", "l40s"])
    "; did you mean 'a100-40gb-sxm', 'a100-80gb-sxm'?"
    >>> suggest("yi34b", ["yi-34b", "llama-2-7b"])
    "; did you mean 'yi-34b'?"
    """
    key = str(name).lower()
    names = [str(c) for c in choices]

    def score(c):
        return difflib.SequenceMatcher(None, key, c.lower()).ratio()

    prefix = sorted((c for c in names if key and c.lower().startswith(key)), key=score,
                    reverse=True)  # fmt: skip
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    out = prefix + [c for c in close if c not in prefix]
    if not out:
        out = [c for c in names if key in c.lower()][:3]
    out = out[:limit]
    return f"; did you mean {', '.join(repr(c) for c in out)}?" if out else ""
