"""Hostile command lines on every subcommand: each ends with a non-zero exit, one line on stderr naming the
problem, no traceback, and nothing written (no run, sweep, figure or report folder from a refused command)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import save_model

TINY = ["--set", "data.train_limit=100", "--set", "data.test_limit=100", "--set", "model.encoder_hidden=[8]",
        "--set", "model.decoder_hidden=[8]", "--epochs", "1", "--no-progress"]
FIELDS = "letters, digits"  # the name rule's message

# (argv, exit code, what the message must say). RUN is a saved tiny run, FILE a file, DIR an empty folder.
CASES = [
    # names: a name is one folder name, never a path (the default run folder is runs/<name>)
    (["train", "--set", "name=../../escaped", *TINY], 2, "name: '../../escaped' is not a valid name"),
    (["train", "--set", "name=a/b", *TINY], 2, FIELDS),
    (["train", "--set", "name=..", *TINY], 2, FIELDS),
    (["train", "--set", "name=.hidden", *TINY], 2, FIELDS),
    (["train", "--set", 'name=""', *TINY], 2, FIELDS),
    (["train", "--set", "name=a\\b", *TINY], 2, FIELDS),
    (["train", "--set", "name=bell\x07", *TINY], 2, FIELDS),
    (["train", "--set", "name=" + "x" * 101, *TINY], 2, "1-100 characters"),
    (["train", "--set", "name=/etc", "--seeds", "2", *TINY], 2, FIELDS),
    (["sweep", "--set", "name=../escaped", "--grid", "lr=1e-3", "--sequential", *TINY], 2, FIELDS),
    (["config", "--set", "name=../../x"], 2, FIELDS),
    (["config", "--set", "name=-rf"], 2, FIELDS),
    # --set: empty keys and values, a key twice
    (["config", "--set", "=3"], 2, "the key before '=' must be a field path"),
    (["config", "--set", "train.epochs="], 2, "no value after '='"),
    (["config", "--set", "train..epochs=3"], 2, "the key before '=' must be a field path"),
    (["config", "--set", "train.epochs"], 2, "expected key=value"),
    (["config", "--set", "train.epochs=3", "--set", "train.epochs=4"], 2, "train.epochs is set twice"),
    (["config", "--set", "train.epochs=3", "--set", 'train={"epochs": 3}'], 2, "train overlaps train.epochs"),
    (["train", "--set", "train.epochs=4", *TINY], 2, "(--set train.epochs=4, then --epochs 1)"),
    (["train", "--seed", "3", "--set", "train.seed=4", *TINY], 2, "train.seed is set twice"),
    (["train", "--download", "--set", "data.download=false", *TINY], 2, "data.download is set twice"),
    (["sweep", "--epochs", "2", "--set", "train.epochs=2", "--grid", "lr=1e-3"], 2, "train.epochs is set twice"),
    # upper bounds on whole numbers
    (["config", "--set", "train.epochs=100001"], 2, "train.epochs: must be at most 100,000"),
    (["train", "--epochs", "1000000000", "--no-progress"], 2, "train.epochs: must be at most 100,000"),
    (["config", "--set", "train.batch_size=10000000"], 2, "train.batch_size: must be at most 1,000,000"),
    (["config", "--set", "train.eval_batch_size=0"], 2, "train.eval_batch_size: must be at least 1"),
    (["config", "--set", "data.train_limit=100000000000"], 2, "data.train_limit: must be at most 10,000,000"),
    (["config", "--set", "data.test_limit=-1"], 2, "data.test_limit: must not be negative"),
    (["config", "--set", "data.labels_per_class=100000000"], 2, "data.labels_per_class: must be at most"),
    (["config", "--set", "train.seed=99999999999"], 2, "train.seed: must be at most"),
    (["config", "--set", "train.threads=100000"], 2, "train.threads: must be at most 256"),
    (["config", "--set", "model.latent_dim=100000000"], 2, "model.latent_dim: must be at most 8192"),
    (["config", "--set", "objective.kl_warmup_epochs=1000000"], 2, "objective.kl_warmup_epochs: must be at most"),
    (["config", "--set", "style.dim=1000000"], 2, "style.dim: must be at most 8,192"),
    (["config", "--set", "style.start_epoch=1000000"], 2, "style.start_epoch: must be at most 100,000"),
    (["config", "--set", "prior.grid_columns=1000"], 2, "prior.grid_columns: must be at most 10"),
    (["config", "--set", "prior.grid_columns=0"], 2, "prior.grid_columns: must be at least 1"),
    (["config", "--set", "routing.free=[99999]"], 2, "routing.free: must be at most 8,191"),
    (["config", "--set", "routing.routes=[[-1]]"], 2, "routing.routes: must not be negative"),
    (["config", "--set", "anchors.dims=[10000000]"], 2, "anchors.dims: must be at most 8,191"),
    (["config", "--set", "classifier.hidden=[1000000]"], 2, "classifier.hidden: must be at most 8192"),
    (["config", "--set", "routing.predicted_from=1e9"], 2, "routing.predicted_from: must be at most 100,000"),
    (["config", "--set", f"train.epochs={10**40}"], 2, "train.epochs: must be at most 100,000"),
    (["train", "--seeds", "100000", *TINY], 2, "argument --seeds: must be at most 1,000"),
    (["sweep", "--seeds", "1000", "--grid", "lr=1e-3,2e-3,3e-3,4e-3,5e-3,6e-3,7e-3,8e-3,9e-3,1e-2,2e-2", *TINY], 2,
     "11,000 trials"),
    # --grid
    (["sweep", "--grid", "lr=", *TINY], 2, "--grid lr: no values given"),
    (["sweep", "--grid", "lr=1e-3,", *TINY], 2, "value 2 is empty"),
    (["sweep", "--grid", "lr=1e-3,1e-3", *TINY], 2, "1e-3 repeats 1e-3"),
    (["sweep", "--grid", "beta=1,1.0", *TINY], 2, "1.0 repeats 1"),
    (["sweep", "--grid", "lr=1e-3", "--grid", "train.lr=2e-3", *TINY], 2, "--grid train.lr is given twice"),
    (["sweep", "--grid", "bogus=1,2", *TINY], 2, "unknown grid key 'bogus'"),
    (["sweep", "--grid", "=1,2", *TINY], 2, "the key before '='"),
    (["sweep", "--grid", "seed=1,2", *TINY], 2, "seeds are not a grid axis"),
    (["sweep", "--grid", "name=a,b", *TINY], 2, "--grid name"),
    (["sweep", "--grid", "lr=1e-3", "--metrics", "loss,,kl", *TINY], 2, "--metrics 'loss,,kl': a name is empty"),
    (["sweep", "--grid", "lr=1e-3", "--metrics", "kl,kl", *TINY], 2, "kl is listed twice"),
    # output places: empty, a file in the way, a folder where a file goes, unwritable
    (["sweep", "--out", "", "--grid", "lr=1e-3", *TINY], 2, "argument --out: is empty"),
    (["sweep", "--out", "FILE", "--grid", "lr=1e-3", "--sequential", *TINY], 2, "--out FILE: is a file"),
    (["train", "--run-dir", "", *TINY], 2, "argument --run-dir: is empty"),
    (["train", "--run-dir", "FILE", *TINY], 2, "--run-dir FILE: is a file"),
    (["train", "--run-dir", "FILE/sub", *TINY], 2, "FILE is a file, not a folder"),
    (["plot", "RUN", "--out", "FILE"], 2, "--out FILE: is a file"),
    (["plot", "RUN", "--out", ""], 2, "argument --out: is empty"),
    (["export", "RUN", "--out", "FILE"], 2, "--out FILE: is a file"),
    (["export", "RUN", "--out", " "], 2, "argument --out: is empty"),
    (["report", "RUN", "--out", ""], 2, "argument --out: is empty"),
    (["report", "RUN", "--out", "DIR"], 2, "DIR is a folder"),
    (["report", "RUN", "--out", "notes.md"], 2, "must end in .html"),
    (["report", "RUN", "--out", "FILE/report.html"], 2, "FILE is a file, not a folder"),
    (["report", "RUN", "--out", "/sys/report.html"], 2, "cannot write in /sys"),
    (["report", ""], 2, "argument RUN_DIR: is empty"),
    # --config and other paths
    (["config", "--config", "DIR"], 2, "is a folder; --config needs a config file (TOML or JSON)"),
    (["train", "--config", "DIR", *TINY], 2, "is a folder; --config needs a config file"),
    (["config", "--config", "missing.toml"], 2, "missing.toml does not exist"),
    (["config", "--config", ""], 2, "argument --config: is empty"),
    (["data", "--data-dir", ""], 2, "argument --data-dir: is empty"),
    (["data", "--dataset", "bogus"], 2, "argument --dataset: invalid choice"),
    (["evaluate", "missing-run"], 1, "missing-run"),
    (["evaluate", ""], 2, "argument RUN_DIR: is empty"),
    # numbers on the other commands
    (["evaluate", "RUN", "--samples", "-1"], 2, "argument --samples: must be at least 0"),
    (["evaluate", "RUN", "--samples", "10000000"], 2, "argument --samples: must be at most 100,000"),
    (["evaluate", "RUN", "--fit-limit", "0"], 2, "argument --fit-limit: must be at least 1"),
    (["evaluate", "RUN", "--test-limit", "999999999999"], 2, "argument --test-limit: must be at most"),
    (["report", "RUN", "--fit-limit", "x"], 2, "argument --fit-limit: 'x' is not a whole number"),
    (["plot", "RUN", "--label", "99"], 2, "--label 99: this run has 10 classes, 0..9"),
    (["plot", "RUN", "--label", "100"], 2, "argument --label: must be at most 99"),
    (["plot", "RUN", "--range", "nan", "3"], 2, "'nan' is not a finite number"),
    (["plot", "RUN", "--grid-range", "1", "2", "3"], 2, "--grid-range takes LOW HIGH"),
    (["serve", "RUN", "--port", "70000"], 2, "argument --port: '70000' is not a port number"),
    (["serve", ""], 2, "is empty"),
    (["demo", "--epochs", "0"], 2, "argument --epochs: must be at least 1"),
    (["demo", "--epochs", "10000000"], 2, "argument --epochs: must be at most 100,000"),
    (["demo", "--epochs", "3"], 2, "--epochs applies to --train only"),
    (["demo", "--run-dir", ""], 2, "argument --run-dir: is empty"),
    (["presets", "extra"], 2, "unrecognized arguments: extra (see latentcraft presets --help)"),
    # data a command cannot use: one line naming the file or folder, exit 1 (--data with --dataset: a usage error)
    (["train", "--data", "FILE", "--run-dir", "out"], 1, "deeper/FILE: is a file but not an .npz archive"),
    (["train", "--data", "missing", "--run-dir", "out"], 1, "deeper/missing: does not exist"),
    (["train", "--data", "DIR", "--dataset", "blobs"], 2, "--data and --dataset: give one"),
    (["data", "--data", "DIR"], 1, "deeper/DIR: holds no class folders"),
    (["sweep", "--data", "DIR", "--out", "out", "--sequential"], 1, "deeper/DIR: holds no class folders"),
    (["plot", "RUN", "--data", "FILE"], 1, "deeper/FILE: is a file but not an .npz archive"),
    (["evaluate", "RUN", "--data", "DIR"], 1, "deeper/DIR: holds no class folders"),
    (["export", "RUN", "--data", "DIR"], 1, "deeper/DIR: holds no class folders"),
    (["demo", "--data", "DIR"], 2, "--data applies to --run-dir only"),
    # unknown options point to the command's own help
    *[([*command, "--bogus"], 2, f"(see latentcraft {command[0]} --help)")
      for command in (["train"], ["sweep"], ["config"], ["data"], ["evaluate", "RUN"], ["plot", "RUN"],
                      ["report", "RUN"], ["export", "RUN"], ["serve", "RUN"], ["demo"])],
]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A tiny untrained run folder (config and weights), copied into each case's folder as RUN."""
    folder = tmp_path_factory.mktemp("saved") / "RUN"
    torch.manual_seed(0)
    save_model(build_model(resolve_config(overrides=["model.encoder_hidden=[8]", "model.decoder_hidden=[8]"])),
               folder)
    return folder


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's usage errors
        return stop.code if isinstance(stop.code, int) else 1


@pytest.mark.parametrize("argv, code, says", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_hostile_input_is_one_clean_line_and_writes_nothing(tmp_path, monkeypatch, capsys, saved_run, mnist_dir,
                                                            argv, code, says):
    import shutil

    work = tmp_path / "work" / "deeper"  # '../..' from here is still inside tmp_path, so an escape shows
    work.mkdir(parents=True)
    shutil.copytree(saved_run, work / "RUN")
    (work / "FILE").write_text("mine\n")
    (work / "DIR").mkdir()
    monkeypatch.chdir(work)
    before = _snapshot(tmp_path)
    assert _run(argv) == code
    err = capsys.readouterr().err
    command = argv[0]
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"latentcraft {command}: error: "), err
    assert says in err, err
    assert _snapshot(tmp_path) == before, "a refused command wrote or changed files"


def test_the_hostile_cases_cover_every_subcommand():
    from latentcraft.cli.main import build_parser

    assert {argv[0] for argv, _, _ in CASES} == set(build_parser()[0].commands)


@pytest.mark.parametrize("argv, says", [
    (["train", "--set", "name=../../escaped", *TINY], "name: '../../escaped' is not a valid name"),
    (["sweep", "--grid", "lr=1e-3,0.001", *TINY], "0.001 repeats 1e-3"),
    (["report", "RUN", "--out", "/sys/report.html"], "cannot write in /sys"),
    (["train", "--bogus"], "(see latentcraft train --help)"),
])
def test_hostile_input_as_a_real_process(tmp_path, saved_run, mnist_dir, argv, says):
    import shutil

    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    shutil.copytree(saved_run, work / "RUN")
    before = _snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-m", "latentcraft.cli", *argv], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["../../escaped", "a/b", ".hidden", ""])
def test_the_api_refuses_the_same_names(name):
    from latentcraft.api import make_config
    from latentcraft.errors import ConfigError

    with pytest.raises(ConfigError, match="^name: .* is not a valid name"):
        make_config("vae2d", overrides={"name": name})
