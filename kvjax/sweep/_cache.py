"""The persistent compilation cache: a re-run, a ``--resume`` or another sweep of the same
shape loads its compiled chunk kernel from disk instead of compiling it again.

JAX keys every entry on the lowered program itself (the HLO: shapes, dtypes, the metrics
and elasticities it computes, the catalog constants folded in), the backend, its compile
flags and the jax/jaxlib versions, so a hit is always the same program; kvjax adds its own
version to the directory name so an upgrade starts a fresh cache.  Only programs that took
at least ``MIN_COMPILE_S`` to compile are written (the chunk kernel, not JAX's one-op
helpers).  Measured on the 2-core CI machine kind (``docs/performance.md``): the chunk
kernel of ``context-scaling`` compiles in about 1 s and loads from the cache in about 0.1 s.

Where: ``$KVJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/kvjax``, else ``~/.cache/kvjax``; a
directory that cannot be created or written just means no cache (it is a speed-up, never a
reason to fail).  ``kvjax sweep --no-cache`` skips it.  The cache is trusted code (JAX's
warning): never point it at a directory other users can write.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._version import __version__

MIN_COMPILE_S = 0.2
"""Programs that compile faster than this are not cached (s)."""


def cache_dir() -> Path:
    """The cache directory of this kvjax version (not created here)."""
    base = os.environ.get("KVJAX_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "kvjax")
    return Path(base) / f"jax-{__version__}"


def enable_compile_cache(path=None) -> Path | None:
    """Turn JAX's persistent compilation cache on at ``path`` (default :func:`cache_dir`) for
    this process; returns the directory, or ``None`` where it cannot be used."""
    import jax

    path = Path(path) if path is not None else cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    return path
