"""Start `latentcraft demo` as a real process and wait for the URL it prints (shared by the demo tests)."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running_demo(command: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[list[str]]:
    """Run `command` (a demo command line) until it prints "open http://..."; yields every line printed so far,
    the URL line last, and stops the process on exit."""
    demo = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("open http://"):
                break
        assert lines and lines[-1].startswith("open http://127.0.0.1:"), "".join(lines)
        yield lines
    finally:
        demo.terminate()
        demo.wait(timeout=10)
