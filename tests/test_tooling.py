"""The linters are part of the suite: `ruff check` and `mypy` (configured in pyproject.toml) are clean.

Both run from the environment's own executables (next to sys.executable; `pip install -e '.[dev]'`
puts them there). mypy keeps its cache in .mypy_cache, so a re-run checks only what changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.is_file():
        pytest.fail(f"{tool} is not installed in {BIN}; install the dev extra: pip install -e '.[dev]'")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    result = _run("ruff", "check", "--no-cache", "src", "tests", "benchmarks")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_mypy_is_clean():
    result = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"))
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
