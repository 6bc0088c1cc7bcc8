"""How a command's failure reaches the terminal.

An expected failure (a bad option, a damaged file, a locked folder, a
diverged run) is one line that names the file, key or value and says what to
do, with exit code 2 for a usage error and 1 for work that failed. Anything
else is a bug: one line saying so. The traceback is shown only on request,
with --debug or LATENTCRAFT_DEBUG=1.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any

DEBUG_ENV = "LATENTCRAFT_DEBUG"
USAGE_ERROR = 2  # the command line or a config asks for something invalid
WORK_FAILED = 1  # the work could not be done: data, run folders, files, the training itself
INTERRUPTED = 130  # Ctrl+C, as shells report SIGINT

# What to do about the operating-system errors a user can fix.
_OS_ADVICE = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.ENOSPC: "free some disk space and run the same command again",
    errno.ENOTDIR: "a file is in the way where a folder is expected; choose another path",
    errno.EEXIST: "a file is in the way; choose another path",
    errno.EISDIR: "this is a folder, but a file is expected; choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENAMETOOLONG: "choose a shorter path",
}


class LatentcraftError(Exception):
    """An expected failure: its message is one line naming the file, key or value, and what to do.

    Each subpackage defines the errors it raises as subclasses, beside the code
    that raises them, so this module imports none of them; `exit_code` says
    which kind of failure it is.
    """

    exit_code = WORK_FAILED


class UsageError(LatentcraftError, ValueError):
    """A command-line value that argparse could not check on its own."""

    exit_code = USAGE_ERROR


class ArgumentError(UsageError):
    """A Python API argument (api.py, trained.py) of the wrong type, shape or value, or one the model cannot use.

    The API's counterpart of a usage error: the message names the argument and what it must be.
    """


class ConfigError(LatentcraftError, ValueError):
    """A configuration problem; the message names the offending field."""

    exit_code = USAGE_ERROR


def debug_requested(flag: bool = False) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def describe(error: BaseException) -> tuple[str, int]:
    """(one-line message, exit code) for a failure."""
    if isinstance(error, LatentcraftError):
        return _one_line(_message(error)), error.exit_code
    if isinstance(error, (MemoryError, OSError)):
        return _one_line(_message(error)), WORK_FAILED
    return (f"internal error ({type(error).__name__}: {_one_line(str(error))}). This is a bug: run the same "
            f"command with --debug (or {DEBUG_ENV}=1) for the traceback, and report it"), WORK_FAILED


def _message(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "out of memory; use a smaller model or batch (model.*, train.batch_size, train.eval_batch_size)"
    if isinstance(error, OSError) and error.strerror and type(error).__str__ is OSError.__str__:
        where = f"{error.filename}: " if error.filename else ""
        advice = _OS_ADVICE.get(error.errno) if error.errno is not None else None
        return f"{where}{error.strerror}" + (f"; {advice}" if advice else "")
    return str(error)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_command(name: str, command: Callable[[], None], debug: bool = False, interrupted: str = "interrupted") -> int:
    """Run `command`, turning a failure into one line on stderr and an exit code (0 if it succeeded).

    `interrupted` is what to print after Ctrl+C.
    """
    try:
        command()
    except KeyboardInterrupt:
        print(f"\n{name}: {interrupted}", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        if debug_requested(debug):
            raise
        message, code = describe(error)
        print(f"{name}: error: {message}", file=sys.stderr)
        return code
    return 0


# ---- argument checks the API and the loaded-model class share ----


def shown(value: Any) -> str:
    """A value as a message quotes it: its repr on one line, cut short (an array's repr spans lines)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def check_flag(value: Any, name: str) -> bool:
    """True or False only: a 0/1 or a string here is more likely a slipped argument than a choice."""
    if not isinstance(value, bool):
        raise ArgumentError(f"{name}: must be True or False, got {shown(value)}")
    return value
