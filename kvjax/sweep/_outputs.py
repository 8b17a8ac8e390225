"""Nothing a user has is lost: output paths, store locks, replacement and verification.

The promises (``docs/reliability.md`` lists them with their tests):

- **Locked**: one writer per store from template creation to completion.  The lock is an
  ``flock`` on ``.<name>.kvjax-lock`` beside the store (it dies with the process, even on
  ``kill -9``); the holder writes who it is into that file, so a second writer -- or an
  ``--overwrite`` of a store being written -- is refused in one line naming the holder.
- **Replaced only when the new one is complete**: ``--overwrite`` builds the new store at
  ``<name>.kvjax-new`` and swaps it in when it is complete (the old one is renamed to
  ``.<name>.kvjax-trash-<pid>`` and deleted after).  Killed before that, the old store is
  intact and the new one resumable (``--resume``) or removable (``rm -r <name>.kvjax-new``);
  killed between the two renames, the next command finishes the swap (:func:`recover`).
- **Other outputs** (a frontier table, a boundary store, a report) are written beside their
  destination and renamed into place by :func:`safe_output`, which refuses to replace
  anything without ``overwrite`` and never writes onto one of its inputs.
- **Verified**: :func:`verify` checks every file a chunk's done record lists (present, its
  size, its CRC-32) and names the missing or corrupt ones; ``--resume`` rewrites them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, fail
from . import _zarr_writer as st
from ._storage import fsync_dir, is_url, store_files

# ----------------------------------------------------------------------------- paths


def pending_path(path) -> Path:
    """Where ``--overwrite`` builds the replacement of the store at ``path``."""
    path = Path(path)
    return path.with_name(f"{path.name}.kvjax-new")


def _lock_path(path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.kvjax-lock")


def _trash_paths(path) -> list[Path]:
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.kvjax-trash-*"))


def os_error(e: OSError, path, source=None, doing: str = "writing") -> InputError:
    """A one-line ``InputError`` for an ``OSError`` met while reading or writing ``path``."""
    what = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }.get(e.errno, e.strerror or str(e))
    return fail(f"{what} while {doing} {e.filename or path}", source, field="store",
                value=str(path))  # fmt: skip


# ----------------------------------------------------------------------------- locking


class StoreLock:
    """``with StoreLock(path, source):`` -- the one-writer lock of the store at ``path``.

    ``shared=True`` takes it shared (``LOCK_SH``), as the ``--shard`` runs do: any number of
    shards write one store at once, while a single-process run, an ``--overwrite``, a
    ``--dask`` client or a ``--finalize`` (all exclusive) is refused until they end, and a
    shard is refused while one of those runs.  An fsspec URL has no lock (object stores
    have no ``flock``): one writer at a time is the user's promise there (docs/scale-out.md).
    """

    def __init__(self, path, source=None, command: str | None = None, shared: bool = False):
        self.path, self.source, self.shared = path, source, shared
        self.command = command or " ".join(["kvjax", *sys.argv[1:]])
        self._fd = None

    def __enter__(self):
        if is_url(self.path):
            return self
        lock = _lock_path(self.path)
        try:
            self._fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise os_error(e, self.path, self.source, "locking") from None
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 4096, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise fail(f"the store is being written by another process ({holder}); wait for "
                       "it or stop it first", self.source, field="store",
                       value=str(self.path)) from None  # fmt: skip
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        info = f"pid {os.getpid()} on {socket.gethostname()} since {when}: {self.command}"
        if not self.shared:
            os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, info.encode().ljust(512), 0)  # shards: the latest one's line
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            if not self.shared:  # other shards may still hold it: leave their line
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None
        return False


@contextlib.contextmanager
def setup_lock(path):
    """``with setup_lock(path):`` -- serialises the shards of one store while one of them
    creates the template, checks it or finalizes it (``flock LOCK_EX`` on
    ``.<name>.kvjax-setup``, blocking: each holder keeps it for a second or so).  Taken
    only while the shared :class:`StoreLock` is held, so no exclusive writer runs."""
    if is_url(path):
        yield
        return
    path = Path(path)
    fd = os.open(path.with_name(f".{path.name}.kvjax-setup"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- replacement


def recover(path) -> None:
    """Finish what a killed ``--overwrite`` left (call with the store's lock held): a
    complete replacement whose swap was interrupted is moved into place, and old stores
    waiting for deletion are deleted."""
    path, new = Path(path), pending_path(path)
    if not path.exists() and st.is_kvjax_store(new):
        if st.read_attrs(new).get(st.STATUS_KEY) == "complete":
            os.rename(new, path)
            fsync_dir(path.parent)
    for trash in _trash_paths(path):
        shutil.rmtree(trash, ignore_errors=True)


def swap_into_place(path, new) -> None:
    """Replace the store at ``path`` by the complete store at ``new``: two renames, then
    the old one is deleted (a kill in between is finished by :func:`recover`)."""
    path, new = Path(path), Path(new)
    trash = path.with_name(f".{path.name}.kvjax-trash-{os.getpid()}")
    if path.exists():
        os.rename(path, trash)
    os.rename(new, path)
    fsync_dir(path.parent)
    shutil.rmtree(trash, ignore_errors=True)


def check_output_path(path, *, overwrite: bool = False, inputs=(), what: str = "output",
                      one_file: str | None = None):  # fmt: skip
    """Refuse (one-line ``InputError``) an output ``path`` that is, holds or lies inside one
    of ``inputs``; that is a directory where a ``one_file`` output (e.g. ``"csv"``) would go;
    that exists without ``overwrite``; or that is a non-empty directory but not a zarr store
    (a folder of the user's files)."""
    path = Path(path)
    target = path.absolute().resolve()
    for src in inputs:
        src = Path(src).absolute().resolve()
        if target == src or src.is_relative_to(target) or target.is_relative_to(src):
            raise fail(f"is (or holds, or lies inside) the input {src}: it would write onto "
                       "its own input", field=what, value=str(path))  # fmt: skip
    if one_file is not None and path.is_dir():
        raise fail(f"is a directory; a {one_file} output is one file", field=what,
                   value=str(path))  # fmt: skip
    if os.path.lexists(path) and not overwrite:
        raise fail("exists; pass --overwrite to replace it", field=what, value=str(path))
    if path.is_dir() and not st.is_store(path) and any(path.iterdir()):
        raise fail("is a directory that is not a zarr store; refusing to replace it",
                   field=what, value=str(path))  # fmt: skip


@contextlib.contextmanager
def safe_output(path, *, overwrite: bool = False, inputs=(), what: str = "output"):
    """Write one output file or directory safely: ``with safe_output(p) as tmp:`` write to
    ``tmp`` (same directory, so the final rename is atomic); on success it replaces ``p``.

    Refused in one line (``InputError``): ``p`` exists and ``overwrite`` is False; ``p`` is a
    non-empty directory that is not a zarr store (a folder of the user's files); ``p`` is
    (or contains, or is inside) one of ``inputs``; its directory cannot be created.  On an
    exception nothing at ``p`` changes and the temporary output is removed.
    """
    path = Path(path)
    check_output_path(path, overwrite=overwrite, inputs=inputs, what=what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, path, doing="creating the directory of") from None
    tmp = path.with_name(f".{path.name}.kvjax-tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if path.exists() and (tmp.is_dir() or path.is_dir()):
            swap_into_place(path, tmp)
        else:
            os.replace(tmp, path)
    except OSError as e:
        raise os_error(e, path) from None
    finally:
        _remove(tmp)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


# ----------------------------------------------------------------------------- verification


def store_attrs(store) -> dict:
    """The root attrs of a kvjax store; one-line ``InputError`` if it is not one or its
    metadata is unreadable (truncated, not JSON, unreadable file)."""
    try:
        if not st.is_kvjax_store(store):
            raise fail("not a kvjax sweep store", field="store", value=str(store))
        return st.read_attrs(store)
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise fail(f"corrupt store metadata zarr.json ({e})", field="store",
                   value=str(store)) from None  # fmt: skip
    except OSError as e:
        raise os_error(e, store, doing="reading") from None


@dataclass
class Verification:
    """What :func:`verify` found: chunks done, and the files missing or corrupt."""

    store: str
    chunks_done: int
    chunks_total: int
    files_checked: int = 0
    missing: list = field(default_factory=list)  # (chunk id, key)
    corrupt: list = field(default_factory=list)  # (chunk id, key, why)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt

    @property
    def bad_chunks(self) -> set[int]:
        return {c for c, *_ in self.missing} | {c for c, *_ in self.corrupt}

    def summary(self, limit: int = 4) -> str:
        """One line: what is wrong (the first few files), or that all is well."""
        if self.ok:
            return (f"verified {self.files_checked:,} files of {self.chunks_done:,} done "
                    f"chunks: all present with their recorded sizes and checksums")  # fmt: skip
        items = [f"{k} (missing)" for _, k in self.missing]
        items += [f"{k} ({why})" for _, k, why in self.corrupt]
        more = f" and {len(items) - limit} more" if len(items) > limit else ""
        return (f"{len(self.missing)} missing and {len(self.corrupt)} corrupt chunk files in "
                f"{len(self.bad_chunks)} chunks: {', '.join(items[:limit])}{more}; "
                "rewrite them with `kvjax sweep SPEC -o STORE --resume`")  # fmt: skip


def verify(path, *, checksums: bool = True, chunks=None) -> Verification:
    """Check every file each done record lists (of the chunk ids in ``chunks``, default
    all): present, of its recorded size and (with ``checksums``) CRC-32.  Raises
    ``InputError`` for a store that cannot be verified."""
    attrs = store_attrs(path)
    files = store_files(path)
    if st.store_format(path) < st.STORE_FORMAT:
        raise fail("written by kvjax 0.1 (no checksums to verify); re-run it to verify",
                   field="store", value=str(path))  # fmt: skip
    records = st.read_records(path)
    if chunks is not None:
        wanted = set(chunks)
        records = {c: r for c, r in records.items() if c in wanted}
    total = int(attrs.get("kvjax_n_chunks", 0))
    out = Verification(str(path), len(records), total)
    for cid, rec in sorted(records.items()):
        for key, (size, crc) in rec["files"].items():
            try:
                data = files.read(key) if checksums else None
                n = len(data) if checksums else files.size(key)
            except FileNotFoundError:
                out.missing.append((cid, key))
                continue
            except OSError as e:
                raise os_error(e, path, doing="reading") from None
            out.files_checked += 1
            if n != size:
                out.corrupt.append((cid, key, f"{n} bytes, recorded {size}"))
            elif checksums and st.crc32(data) != crc:
                out.corrupt.append((cid, key, "checksum mismatch"))
    return out

