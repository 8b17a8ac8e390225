"""Where a store's files live: a local directory (the fast path) or an fsspec URL.

Every reader and writer of a store goes through one of two small classes with the same
methods (``read``, ``is_file``, ``size``, ``names``, ``write``, ``write_many``, ``sync``,
``remove``):

* :class:`LocalFiles` -- a directory on a POSIX file system (local disk, NFS, Lustre).  A
  file is written under a temporary name and renamed to its key (so a reader sees it whole
  or not at all); ``sync`` is one ``syncfs`` of the file system (group commit).
* :class:`RemoteFiles` -- an fsspec URL (``s3://bucket/x.zarr``, ``gs://...``,
  ``memory://x.zarr`` in tests).  An object PUT is atomic and durable when it returns, so
  ``write`` is one PUT and ``sync`` does nothing; the files of one chunk go in one
  ``fs.pipe`` call (concurrent uploads on the async file systems s3fs and gcsfs).

:func:`store_files` picks one from the store's name; a URL whose file-system package is not
installed (``s3fs`` for ``s3://``) is one line naming the package.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
from pathlib import Path

from ..errors import fail


def is_url(store) -> bool:
    """True for an fsspec URL (``s3://...``, ``memory://...``); ``file://`` is local."""
    s = str(store)
    return "://" in s and not s.startswith("file://")


def local_path(store) -> Path:
    s = str(store)
    return Path(s[len("file://") :] if s.startswith("file://") else s)


# ----------------------------------------------------------------------------- POSIX helpers


def write_all(fd, data) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(target: Path, data: bytes, durable: bool, tmp_dir=None) -> None:
    """Write ``data`` to a temporary file (in ``tmp_dir``, else beside ``target``) and
    rename it to ``target``; ``durable`` also ``fdatasync``s it first."""
    name = f".{target.name}.tmp-{threading.get_ident()}"
    tmp = (tmp_dir / name) if tmp_dir is not None else target.with_name(name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        if durable:
            os.fdatasync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)


def fsync_dir(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path) -> None:
    """Flush every dirty page of the file system holding ``path`` (Linux ``syncfs``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    except (AttributeError, OSError):
        os.sync()
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- the two kinds


class LocalFiles:
    """A store directory on a POSIX file system; keys are ``/``-separated relative paths."""

    remote = False

    def __init__(self, root):
        self.root = local_path(root)
        self._dirs: set[Path] = set()
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return str(self.root)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def is_file(self, key: str) -> bool:
        return (self.root / key).is_file()

    def size(self, key: str) -> int:
        return (self.root / key).stat().st_size

    def names(self, key: str) -> list[str]:
        """Names directly under ``key`` (``[]`` if it is not a directory)."""
        d = self.root / key
        return [p.name for p in d.iterdir()] if d.is_dir() else []

    def write(self, key: str, data: bytes, *, durable: bool = False, tmp_dir=None) -> None:
        target = self.root / key
        parent = target.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._dirs.add(parent)
        atomic_write(target, data, durable=durable, tmp_dir=tmp_dir)

    def write_many(self, items: dict, *, tmp_dir=None) -> None:
        for key, data in items.items():
            self.write(key, data, tmp_dir=tmp_dir)

    def sync(self) -> None:
        syncfs(self.root)

    def remove(self, key: str) -> None:
        shutil.rmtree(self.root / key, ignore_errors=True)


class RemoteFiles:
    """A store under an fsspec URL; each file is one object."""

    remote = True

    def __init__(self, url: str, fs, root: str):
        self.url, self.fs, self.root = url, fs, root.rstrip("/")

    def __str__(self) -> str:
        return self.url

    def _p(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def read(self, key: str) -> bytes:
        return self.fs.cat_file(self._p(key))

    def is_file(self, key: str) -> bool:
        return self.fs.isfile(self._p(key))

    def size(self, key: str) -> int:
        return int(self.fs.size(self._p(key)))

    def names(self, key: str) -> list[str]:
        try:
            paths = self.fs.ls(self._p(key), detail=False)
        except FileNotFoundError:
            return []
        return [p.rstrip("/").rsplit("/", 1)[-1] for p in paths]

    def write(self, key: str, data: bytes, *, durable: bool = False, tmp_dir=None) -> None:
        self.fs.pipe_file(self._p(key), bytes(data))

    def write_many(self, items: dict, *, tmp_dir=None) -> None:
        self.fs.pipe({self._p(k): bytes(v) for k, v in items.items()})

    def sync(self) -> None:
        """Nothing to do: an object PUT is durable when it returns."""

    def remove(self, key: str) -> None:
        try:
            self.fs.rm(self._p(key), recursive=True)
        except FileNotFoundError:
            pass


def store_files(store, source=None):
    """The files of the store named ``store``: a :class:`LocalFiles` for a path, a
    :class:`RemoteFiles` for an fsspec URL.  A URL with an unknown protocol, or whose
    file-system package is missing, is a one-line ``InputError``."""
    if isinstance(store, LocalFiles | RemoteFiles):
        return store
    if not is_url(store):
        return LocalFiles(store)
    url = str(store).rstrip("/")
    try:
        import fsspec
    except ImportError:
        raise fail("object-store URLs need fsspec: pip install 'kvjax[dask]'", source,
                   field="store", value=url) from None  # fmt: skip
    protocol = url.split("://", 1)[0]
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as e:
        raise fail(f"no file-system package for {protocol}:// ({e})", source, field="store",
                   value=url) from None  # fmt: skip
    except ValueError as e:
        raise fail(f"unknown URL protocol {protocol!r} ({e})", source, field="store",
                   value=url) from None  # fmt: skip
    return RemoteFiles(url, fs, root)
