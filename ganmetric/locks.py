"""Folder locks: one run at a time writes an output folder, and a dead run never blocks the next.

A folder ``parent/NAME`` is locked through the file ``parent/.NAME.lock`` beside it (beside,
not inside: a staged output folder is replaced whole when a run ends, see
:mod:`ganmetric.staging`). The lock is an OS lock (``fcntl.flock``) on that file, so the
kernel releases it when the holding process ends, however it ends (``kill -9`` included): a
lock file left behind by a killed run is taken by the next run at once. The holder writes who
it is into the file (pid, host, start time, command); a second run is refused in one line
naming them (refusing rather than waiting: a run can last hours, and a second one into the
same folder is almost always a mistake). The holder removes the file when it is done.

Under torchrun, rank 0 holds the lock of a batch folder and the other ranks rely on it
(:func:`ganmetric.analysis.batch.batch_metric`).
"""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from .errors import FolderLockedError, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover  (not a POSIX system: folders are not locked)
    fcntl = None


def lock_path(folder) -> Path:
    """The lock file of ``folder``: ``.NAME.lock`` beside it."""
    folder = Path(os.path.abspath(folder))
    return folder.parent / f".{folder.name}.lock"


def _holder() -> str:
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    program = "ganmetric" if program in ("__main__.py", "-m") else program
    command = " ".join([program, *sys.argv[1:2]]) if program and program != "-c" else ""
    return (f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
            + (f" ({command})" if command else ""))


class FolderLock:
    """An exclusive lock on one folder, held from :meth:`acquire` to :meth:`release` (or as a context manager).

    Args:
        folder: the folder to lock (it need not exist yet; its parent must).

    Raises (acquire):
        FolderLockedError: another process holds the lock (the message names it).
        OutputError: the lock file cannot be created (the parent folder is missing or read-only).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = lock_path(folder)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "FolderLock":
        if fcntl is None or self._fd is not None:
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot lock {self.folder}: cannot create {self.path}: "
                                  f"{exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = _read(fd)
                os.close(fd)
                raise FolderLockedError(f"{self.folder} is in use by another ganmetric run ("
                                        f"{who or 'which did not say who it is'}); wait for it to end, or choose "
                                        f"another folder") from None
            # the previous holder may have removed the file between our open and our lock: then we
            # hold a lock on a file nobody else can see, and must take the one at the path instead
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, _holder().encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file and release the lock (removed first, while still held: see :meth:`acquire`)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def _read(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 1000).decode(errors="replace").strip()
    except OSError:
        return ""
