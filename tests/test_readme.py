"""The README's commands and Python snippet, extracted from README.md: they must run as written.

Short commands (they read or print, in seconds) run exactly as the README
writes them, from a folder that is not the repository's; every other command
(training, sweeps, serving) is parsed by the real command line, so a renamed
option or subcommand fails here. The Python snippet runs in full, with only
its training budget shrunk; `-m slow` runs it exactly as written.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from latentcraft.cli.main import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
SHORT = {"data", "presets", "config"}  # subcommands that only read and print
SNIPPET_BUDGET = ('overrides={"train.epochs": 3}',
                  'overrides={"train.epochs": 1, "data.train_limit": 1024, "data.test_limit": 500, "train.threads": 1}')


def readme_commands() -> list[list[str]]:
    """Every `latentcraft ...` command of the README's indented code blocks, comments dropped."""
    commands = []
    for line in README.read_text().splitlines():
        if not line.startswith("    "):
            continue
        for part in re.split(r";\s*(?:do|done)?\s*", line.strip()):
            if part.startswith("latentcraft ") and "[" not in part:  # "[--config FILE]": a synopsis, not a command
                commands.append(shlex.split(part, comments=True)[1:])
    return commands


def python_snippet() -> str:
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "the README has one Python snippet"
    return blocks[0]


def test_the_readme_has_the_commands_a_newcomer_needs():
    subcommands = {argv[0] for argv in readme_commands()}
    assert {"demo", "train", "evaluate", "plot", "report", "export", "serve", "sweep", "data", "presets",
            "config"} <= subcommands


@pytest.mark.parametrize("argv", readme_commands(), ids=" ".join)
def test_every_readme_command_parses(argv):
    parser, _ = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        pytest.fail(f"`latentcraft {' '.join(argv)}` from the README is refused by the parser (exit {stop.code})")
    assert args.command == argv[0]


def runnable(argv: list[str]) -> bool:
    """A short command with no placeholder (PATH, RUN_DIR: a word in capitals stands for the reader's own)."""
    return argv[0] in SHORT and not any(re.fullmatch(r"[A-Z][A-Z_]+", arg) for arg in argv)


@pytest.mark.parametrize("argv", [a for a in readme_commands() if runnable(a)], ids=" ".join)
def test_short_readme_commands_run_as_written_from_any_folder(argv, tmp_path, mnist_dir):
    env = {**os.environ, "LATENTCRAFT_DATA_DIR": str(mnist_dir.resolve())}  # absolute, as the README exports it
    done = subprocess.run([sys.executable, "-m", "latentcraft.cli", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "Traceback" not in done.stderr


def _run_snippet(code: str, folder: Path, monkeypatch) -> None:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")  # plt.show() returns at once
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert (folder / "runs" / "api-routed10" / "eval.json").is_file()
    assert (folder / "site" / "manifest.json").is_file()


def test_the_python_snippet_runs(tmp_path, monkeypatch, mnist_dir):
    code = python_snippet()
    assert SNIPPET_BUDGET[0] in code, "the snippet's training call changed: update SNIPPET_BUDGET"
    _run_snippet(code.replace(*SNIPPET_BUDGET), tmp_path, monkeypatch)


@pytest.mark.slow
def test_the_python_snippet_runs_exactly_as_written(tmp_path, monkeypatch, mnist_dir):
    _run_snippet(python_snippet(), tmp_path, monkeypatch)
