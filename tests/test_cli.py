"""cli.py: each foundation subcommand end to end through `main(argv)`, and errors as exit codes."""

import json
import re
import shlex

import pytest

from latentcraft import checkpoint as ckpt
from latentcraft.cli import main

TINY = ["--set", "data.train_limit=300", "--set", "data.test_limit=200", "--set", "model.encoder_hidden=[32]",
        "--set", "model.decoder_hidden=[32]", "--epochs", "1", "--no-progress"]


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_presets_lists_each_with_its_description(capsys):
    assert main(["presets"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("routed10-original"))
    assert "SPEC §1" in line


def test_config_prints_the_resolved_config(capsys):
    assert main(["config", "--preset", "routed10-original", "--set", "train.epochs=3"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["train"]["epochs"] == 3 and config["objective"]["kind"] == "reference"


def test_config_errors_are_one_line_and_exit_1(capsys):
    assert main(["config", "--set", "trian.epochs=3"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("latentcraft config: error: unknown config key trian") and "Traceback" not in err


def test_data_verifies_mnist(capsys, mnist_dir):
    assert main(["data"]) == 0
    assert "checksums match" in capsys.readouterr().out


def test_train_then_resume_a_finished_run(tmp_path, capsys, mnist_dir):
    run = tmp_path / "run"
    assert main(["train", "--preset", "routed10-original", *TINY, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "test_argmax_accuracy" in out and str(run) in out
    before = ckpt.read_summary(run)
    # Resuming with only --run-dir uses the run folder's own config; a finished run stays as it is.
    assert main(["train", "--resume", "--run-dir", str(run), "--no-progress"]) == 0
    assert ckpt.read_summary(run)["final"] == before["final"]
    assert main(["train", "--preset", "routed10-original", *TINY, "--run-dir", str(run)]) == 1
    assert "already holds a run" in capsys.readouterr().err


def test_train_several_seeds(tmp_path, capsys, mnist_dir):
    run = tmp_path / "seeds"
    assert main(["train", "--preset", "routed10-original", *TINY, "--seeds", "2", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "seed 0:" in out and "seed 1:" in out and "best: seed" in out
    assert (run / ckpt.WEIGHTS_FILE).is_file() and (run / "seed-1" / ckpt.WEIGHTS_FILE).is_file()


def test_resume_applies_flags_on_top_of_the_run_folders_config(tmp_path, capsys, mnist_dir):
    run = tmp_path / "run"
    assert main(["train", "--preset", "routed10-original", *TINY, "--run-dir", str(run)]) == 0
    assert main(["train", "--resume", "--run-dir", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert [m["epoch"] for m in ckpt.read_metrics(run)] == [1, 2]
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run), "--set", "train.batch_size=50", "--no-progress"]) == 1
    assert "differs in train.batch_size." in capsys.readouterr().err  # only the field that really differs
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "nothing"), "--no-progress"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def test_a_first_epoch_divergence_says_no_checkpoint_exists_and_its_command_works(tmp_path, capsys, mnist_dir):
    run = tmp_path / "run"
    assert main(["train", "--preset", "routed10-original", *TINY, "--set", "train.lr=1e30", "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert "loss became nan at epoch 1" in err and "No checkpoint exists yet" in err
    command = shlex.split(err.split(": latentcraft ", 1)[1].strip())
    command = [re.sub(r"train.lr=.*", "train.lr=0.001", word) for word in command]  # any sane rate
    assert main([*command, "--no-progress"]) == 0
    assert [m["epoch"] for m in ckpt.read_metrics(run)] == [1]
    assert ckpt.load_model(run).config.train.lr == 0.001  # finite weights, trained at the rate given


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_from_the_command_line_is_refused_before_anything_is_written(tmp_path, capsys, value):
    run = tmp_path / "run"
    assert main(["train", "--preset", "routed10-original", *TINY, "--set", f"train.lr={value}",
                 "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"latentcraft train: error: train.lr: must be a finite number, got {float(value)}"
    assert not run.exists()
