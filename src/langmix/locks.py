"""Cross-process locks and per-process temporary names: the one place langmix decides who may write where.

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

import logging
import os
import re
import secrets
import socket
from pathlib import Path
from types import TracebackType

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
