"""One writer per folder: a run or sweep folder is locked while a process writes to it.

The lock is an flock on `.latentcraft.lock` inside the folder, and the file
holds the PID of the process that has it, so a refusal can say who to wait
for. The kernel drops an flock when its process dies, however it dies, so a
lock left behind by a killed process is never in the way: the next process
takes it over (and says so).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from latentcraft.errors import LatentcraftError

LOCK_FILE = ".latentcraft.lock"


class FolderInUse(LatentcraftError, RuntimeError):
    """Another process holds the folder's lock."""


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _acquire(path: Path, what: str) -> int:
    """An open descriptor of `path`, flock'ed by this process, with our PID written in it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise FolderInUse(
                f"{path.parent} is in use: {who} is writing to it (lock file {path}). "
                f"Wait for it to finish, stop it, or {what} into another folder."
            ) from None
        # The holder we waited behind may have removed the file after we opened it;
        # then our lock is on an orphan, and a newcomer could lock the new file.
        try:
            same_file = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)
    previous = _read_pid(fd)
    if previous is not None and previous != os.getpid():
        print(f"note: {path.parent} was locked by process {previous}, which is no longer running; "
              "taking the folder over", file=sys.stderr)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@contextmanager
def folder_lock(folder: str | Path, what: str = "write") -> Iterator[Path]:
    """Hold `folder`'s lock (creating the folder) for the duration; FolderInUse if another process has it.

    `what` names the action in the refusal ("... or train into another folder").
    A folder this call created and nobody filled is removed again on the way out.
    """
    folder = Path(folder)
    created = not folder.exists()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = _acquire(path, what)
    try:
        yield folder
    finally:
        path.unlink(missing_ok=True)  # while still locked, so no one else's file is removed
        os.close(fd)
        if created:
            try:
                folder.rmdir()  # only succeeds if the work wrote nothing
            except OSError:
                pass


def holds_folder_lock(argument: str, what: str = "write") -> Callable:
    """Decorator: run the function while holding the lock of the folder passed as `argument`."""

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            folder = signature.bind(*args, **kwargs).arguments[argument]
            with folder_lock(folder, what):
                return function(*args, **kwargs)

        return locked

    return decorate
