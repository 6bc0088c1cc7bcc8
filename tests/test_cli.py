"""cli.py: each foundation subcommand end to end through `main(argv)`, and errors as exit codes."""

import json
import re
import shlex

import pytest

from latentcraft.cli import main as cli
from latentcraft.cli.main import main
from latentcraft.errors import DEBUG_ENV, ConfigError
from latentcraft.training import checkpoint as ckpt

TINY = ["--set", "data.train_limit=300", "--set", "data.test_limit=200", "--set", "model.encoder_hidden=[32]",
        "--set", "model.decoder_hidden=[32]", "--epochs", "1", "--no-progress"]


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_presets_lists_each_with_its_description(capsys):
    assert main(["presets"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("routed10-original"))
    assert "experiments.md §1" in line


def test_config_prints_the_resolved_config(capsys):
    assert main(["config", "--preset", "routed10-original", "--set", "train.epochs=3"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["train"]["epochs"] == 3 and config["objective"]["kind"] == "reference"


def test_config_errors_are_one_line_and_exit_2(capsys):
    assert main(["config", "--set", "trian.epochs=3"]) == 2  # a usage error
    err = capsys.readouterr().err
    assert err.startswith("latentcraft config: error: unknown config key trian") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_argparse_usage_errors_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--seeds", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == ("latentcraft train: error: argument --seeds: must be at least 1, "
                                               "got 0 (see latentcraft train --help)")


@pytest.mark.parametrize("argv, message", [
    (["plot", "run", "--label", "100"], "argument --label: must be at most 99, got 100"),
    (["plot", "run", "--range", "nan", "3"], "argument --range: 'nan' is not a finite number"),
    (["evaluate", "run", "--samples", "-1"], "argument --samples: must be at least 0, got -1"),
    (["sweep", "--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
    (["demo", "--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
])
def test_out_of_range_options_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def _crash(args):
    raise TypeError("a bug")


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_an_unexpected_error_is_one_line_unless_debugging(capsys, monkeypatch, debug):
    monkeypatch.setattr(cli, "COMMANDS", [(add, _crash if add is cli.add_presets else run)
                                          for add, run in cli.COMMANDS])
    if debug:
        with pytest.raises(TypeError, match="a bug"):  # the traceback reaches the terminal
            main(["presets", *debug])
        return
    assert main(["presets"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("latentcraft presets: error: internal error (TypeError: a bug). This is a bug")
    assert "--debug" in err and len(err.splitlines()) == 1


def test_debug_from_the_environment_or_before_the_command(capsys, monkeypatch):
    with pytest.raises(ConfigError):
        main(["--debug", "config", "--set", "trian.epochs=3"])
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ConfigError):
        main(["config", "--set", "trian.epochs=3"])
    monkeypatch.setenv(DEBUG_ENV, "0")
    assert main(["config", "--set", "trian.epochs=3"]) == 2


def test_data_with_a_missing_data_dir_is_an_error_not_a_fallback(tmp_path, capsys, mnist_dir):
    assert main(["data", "--data-dir", str(tmp_path / "nonexistent")]) == 1  # $LATENTCRAFT_DATA_DIR is set
    err = capsys.readouterr().err
    assert f"data folder {tmp_path / 'nonexistent'} (--data-dir or data.data_dir) does not exist" in err
    assert main(["data", "--data-dir", str(mnist_dir.parent)]) == 0  # the parent of mnist/ is found too


def test_demo_help_states_the_epochs_it_trains(capsys):
    from latentcraft.explorer.demo import DEMO_EPOCHS

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert f"(default: {DEMO_EPOCHS})" in " ".join(capsys.readouterr().out.split())


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


def test_several_seeds_without_the_dataset_is_one_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LATENTCRAFT_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run = tmp_path / "seeds"
    assert main(["train", "--preset", "routed10-original", *TINY, "--seeds", "2", "--run-dir", str(run)]) == 1
    assert "mnist not found" in capsys.readouterr().err
    assert not run.exists()  # no sweep.json left to block the same command once the data is there


def test_resume_applies_flags_on_top_of_the_run_folders_config(tmp_path, capsys, mnist_dir):
    run = tmp_path / "run"
    assert main(["train", "--preset", "routed10-original", *TINY, "--run-dir", str(run)]) == 0
    assert main(["train", "--resume", "--run-dir", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert [m["epoch"] for m in ckpt.read_metrics(run)] == [1, 2]
    capsys.readouterr()
    assert main(["train", "--resume", "--run-dir", str(run), "--set", "train.batch_size=50", "--no-progress"]) == 1
    assert "differs in train.batch_size." in capsys.readouterr().err  # only the field that really differs
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "nothing"), "--no-progress"]) == 2  # usage
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
                 "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"latentcraft train: error: train.lr: must be a finite number, got {float(value)}"
    assert not run.exists()


# ---- help and layout: every command and option says what it does --------------------------


def test_every_command_has_a_description_and_every_option_a_help_text():
    parser, _ = cli.build_parser()
    for name, command in parser.commands.items():
        assert command.description and len(command.description) > 30, name
        for action in command._actions:
            assert action.help, f"latentcraft {name} {action.option_strings or action.dest} has no help text"


@pytest.mark.parametrize("command", ["config", "data", "presets"])
def test_help_shows_the_description(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert cli.build_parser()[0].commands[command].description.split()[0] in out


def test_presets_align_their_descriptions_in_one_column(capsys, monkeypatch):
    names = ["a", "a-much-longer-preset-name-than-any", "routed10"]
    monkeypatch.setattr("latentcraft.cli.setup_commands.preset_names", lambda: names)
    monkeypatch.setattr("latentcraft.cli.setup_commands.preset_dict", lambda n: {"description": f"about {n}"})
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len({line.index("about") for line in lines}) == 1
    assert all(line.split()[0] == name for line, name in zip(lines, names, strict=True))


@pytest.mark.parametrize("command", ["train", "sweep", "config", "data", "presets", "evaluate x", "plot x",
                                     "report x", "export x", "serve x", "demo"])
def test_an_unknown_option_points_to_the_commands_own_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--bogus"])
    name = command.split()[0]
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (f"latentcraft {name}: error: unrecognized arguments: --bogus "
                                               f"(see latentcraft {name} --help)")


def test_config_given_a_folder_says_a_file_is_needed(tmp_path, capsys):
    assert main(["config", "--config", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "config file (TOML or JSON)" in err and "does not exist" not in err


def test_report_to_an_unwritable_place_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import latentcraft.reporting.report as report

    monkeypatch.setattr(report, "load_run", lambda *a, **k: pytest.fail("the report did work before failing"))
    for out, says in [("/sys/report.html", "cannot write in /sys"), (str(tmp_path), "is a folder"),
                      (str(tmp_path / "notes.md"), "must end in .html")]:
        assert main(["report", str(tmp_path), "--out", out, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"latentcraft report: error: --out {out}: ") and says in err
    assert list(tmp_path.iterdir()) == []
