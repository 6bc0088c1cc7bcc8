"""Sweeps: grid keys, sweep folders, Ray head node vs in-process, resume, failing trials.

Every trial is tiny (500 training images, 1 epoch, a 64-unit MLP) so the whole
file stays well under a minute and a half on two cores.
"""

import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.errors import ConfigError
from latentcraft.reporting.report import RunMaterial, load_sweep, render_html, render_markdown
from latentcraft.sweeps import definition as sweep_definition
from latentcraft.sweeps import execution as sweep_run
from latentcraft.sweeps import summary as sweep_summary
from latentcraft.training.checkpoint import SUMMARY_FILE, WEIGHTS_FILE, RunError, load_model, read_summary

TINY = ["data.train_limit=500", "data.test_limit=200", "train.epochs=1", "model.encoder_hidden=[64]",
        "model.decoder_hidden=[64]", "routing.enabled=true"]
DIVERGES = 1e30  # an Adam step this large turns the loss into NaN -> TrainingDiverged
RAY = Path(sys.executable).with_name("ray")
# For the head node and this driver, set before anything imports ray: loopback only (without
# this switch Ray rewrites 127.0.0.1 to the machine's network address and binds there), and a
# throwaway auth token (a driver given an explicit address sends one only with RAY_AUTH_MODE=token).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
os.environ.update(RAY_ENV)


def tiny_definition(grid: list[str], seeds: int = 1, extra: tuple[str, ...] = ()) -> sweep_definition.SweepDefinition:
    return sweep_definition.define_sweep(resolve_config(None, None, TINY + list(extra)), grid, seeds)


class Log(list):
    """Collects run_sweep's lines; optionally interrupts the sweep after N finished trials."""

    def __init__(self, stop_after: int | None = None):
        super().__init__()
        self.stop_after = stop_after

    def __call__(self, line: str) -> None:
        self.append(line)
        if self.stop_after is not None and sum(x.startswith("[") for x in self) >= self.stop_after:
            raise KeyboardInterrupt


def trial_lines(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("[")]


# ---- keys and definitions (no training) --------------------------------------------------


def test_grid_keys_accept_full_paths_and_unique_short_names():
    assert sweep_definition.resolve_key("train.lr") == "train.lr"
    assert sweep_definition.resolve_key("lr") == "train.lr"
    assert sweep_definition.resolve_key("beta") == "objective.beta"
    axis = sweep_definition.parse_grid("encoder_hidden=[64],[128,64]")
    assert axis == sweep_definition.GridAxis("model.encoder_hidden", [[64], [128, 64]])
    assert sweep_definition.parse_grid("lr=1e-3,3e-3").values == [0.001, 0.003]
    with pytest.raises(ConfigError, match="'learning_rate'"):
        sweep_definition.resolve_key("learning_rate")
    with pytest.raises(ConfigError, match="--seeds"):
        sweep_definition.parse_grid("seed=1,2")


@dataclass
class _A:
    size: int = 1


@dataclass
class _B:
    size: int = 2
    depth: int = 3


@dataclass
class _Twin:
    a: _A = field(default_factory=_A)
    b: _B = field(default_factory=_B)


def test_ambiguous_short_key_names_every_candidate():
    assert sweep_definition.resolve_key("depth", _Twin) == "b.depth"
    with pytest.raises(ConfigError, match=r"'size' is ambiguous.*a\.size, b\.size"):
        sweep_definition.resolve_key("size", _Twin)


def test_definition_has_every_combination_times_seed_with_valid_configs():
    definition = tiny_definition(["lr=1e-3,3e-3", "beta=0.5,1"], seeds=3, extra=("train.seed=7",))
    trials = definition.trials()
    assert len(trials) == 2 * 2 * 3
    assert sorted({(t.config["train"]["lr"], t.config["objective"]["beta"]) for t in trials}) == [
        (0.001, 0.5), (0.001, 1.0), (0.003, 0.5), (0.003, 1.0)]
    assert sorted({t.seed for t in trials}) == [7, 8, 9]
    assert len({t.run_dir for t in trials}) == len(trials)
    with pytest.raises(ConfigError, match="train.lr"):
        tiny_definition(["lr=1e-3,-1"])  # a bad value fails before anything runs


def test_rerun_with_another_definition_is_an_error_naming_the_difference(tmp_path, capsys):
    sweep_definition.prepare_sweep_dir(tmp_path, tiny_definition(["lr=1e-3,3e-3"], seeds=2))
    sweep_definition.prepare_sweep_dir(tmp_path, tiny_definition(["train.lr=0.001,0.003"], seeds=2))  # same sweep
    with pytest.raises(RunError, match=r"train.epochs: 1 in the folder, 2 now"):
        sweep_definition.prepare_sweep_dir(tmp_path, tiny_definition(["lr=1e-3,3e-3"], seeds=2,
                                                                      extra=("train.epochs=2",)))
    # More seeds are not another sweep: the finished seeds are reused and sweep.json lists them all.
    sweep_definition.prepare_sweep_dir(tmp_path, tiny_definition(["lr=1e-3,3e-3"], seeds=3))
    assert json.loads((tmp_path / sweep_definition.SWEEP_FILE).read_text())["seeds"] == [0, 1, 2]
    args = ["sweep", "--out", str(tmp_path), "--grid", "lr=1e-3,1e-2", "--seeds", "2", "--sequential"]
    for item in TINY:
        args += ["--set", item]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "grid.train.lr" in err and "[0.001,0.003] in the folder, [0.001,0.01] now" in err


def _sweep_argv(tmp_path, *extra):
    args = ["sweep", "--out", str(tmp_path / "sweep"), "--grid", "lr=1e-3", "--sequential", *extra]
    for item in TINY:
        args += ["--set", item]
    return args


@pytest.mark.parametrize("metrics, says", [
    ("bogus", "unknown metric 'bogus'"),
    ("recon_bce,dci_disentanglement", "'dci_disentanglement' is measured by `latentcraft evaluate`"),
])
def test_metrics_training_does_not_log_are_refused_up_front(tmp_path, capsys, metrics, says):
    assert main(_sweep_argv(tmp_path, "--metrics", metrics)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert says in line and "test_recon_bce" in line and "test_argmax_accuracy" in line
    assert not (tmp_path / "sweep").exists()  # refused before anything was written


def test_select_metric_is_checked_like_metrics(tmp_path, capsys):
    assert main(_sweep_argv(tmp_path, "--select-metric", "accuracy")) == 2
    assert "--select-metric: unknown metric 'accuracy'" in capsys.readouterr().err


def test_bare_metric_names_mean_the_test_split():
    assert sweep_summary.sweep_metric("recon_sq") == "test_recon_sq"
    assert sweep_summary.sweep_metric("test_argmax_accuracy") == "test_argmax_accuracy"


def test_node_wait_reaches_run_sweep(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(sweep_run, "run_sweep", lambda *args, **kwargs: seen.append(kwargs["node_wait"]) or
                        {"failed": [], "settings": [], "metrics": []})
    monkeypatch.setattr(sweep_summary, "markdown_table", lambda summary: "")
    assert main(_sweep_argv(tmp_path, "--node-wait", "7.5")) == 0
    assert main(_sweep_argv(tmp_path)) == 0
    assert seen == [7.5, sweep_run.NODE_WAIT_S]
    parser_help = subprocess.run([sys.executable, "-m", "latentcraft.cli", "sweep", "--help"], capture_output=True,
                                 text=True).stdout
    assert f"(default: {sweep_run.NODE_WAIT_S:g})" in " ".join(parser_help.split())


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_node_wait_must_be_seconds_at_least_zero(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        main(_sweep_argv(tmp_path, "--node-wait", value))
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--node-wait" in line and value in line


def test_run_sweep_refuses_a_negative_node_wait(tmp_path):
    with pytest.raises(ConfigError, match="node_wait"):
        sweep_run.run_sweep(tiny_definition(["lr=1e-3"]), tmp_path / "sweep", executor="sequential", node_wait=-1)


# ---- real tiny sweeps --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A real Ray head node on loopback, started as `ray start --head --block` in its own session.

    `ray stop` would stop every Ray process on the machine (other users' included), so the
    fixture stops exactly the process group it started, whatever the test's outcome.
    """
    if not RAY.exists():
        pytest.fail(f"{RAY} not found: install the dev extra (ray[default])")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="lcray")  # short: Ray's socket paths must fit in 107 bytes
    log_path = Path(temp_dir) / "head.log"
    env = {**os.environ, **RAY_ENV}
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp_dir}"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "block forever" not in log_path.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start --head failed:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        _stop_group(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop_group(head: subprocess.Popen) -> None:
    """SIGTERM the head's process group, SIGKILL what is still draining after 5 s, wait until it is gone."""
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            break  # no process of the group is left
        head.poll()
        time.sleep(0.2)


def _check_finished_and_failed(sweep_dir: Path, summary: dict, log: list[str]) -> dict:
    """lr=1e-3 finished as an ordinary run folder; lr=1e30 is recorded as diverged. Returns its final metrics."""
    ok, bad = summary["settings"]
    assert (ok["label"], ok["runs_done"], bad["label"], bad["runs_done"]) == ("lr=0.001", 1, "lr=1e+30", 0)
    run_dir = sweep_dir / ok["runs"][0]["run_dir"]
    assert read_summary(run_dir)["final"] == ok["runs"][0]["final"]
    assert load_model(run_dir).config.train.lr == 0.001  # evaluate/plot/export can load it unchanged
    (failed,) = summary["failed"]
    assert failed["run_dir"] == bad["runs"][0]["run_dir"] and "TrainingDiverged" in failed["error"]
    failed_file = sweep_dir / failed["run_dir"] / sweep_run.FAILED_FILE
    assert "TrainingDiverged" in json.loads(failed_file.read_text())["error"]
    assert summary["best_run"]["run_dir"] == ok["runs"][0]["run_dir"]
    stats = ok["metrics"]["test_argmax_accuracy"]
    assert stats["mean"] == stats["min"] == stats["max"] == ok["runs"][0]["final"]["test_argmax_accuracy"]
    table = (sweep_dir / sweep_summary.TABLE_FILE).read_text()
    assert "| `lr=0.001` | 1/1 |" in table and "| `lr=1e+30` | 0/1 |" in table and "TrainingDiverged" in table
    assert len(trial_lines(log)) == 2 and any("FAILED: TrainingDiverged" in line for line in log)
    return ok["runs"][0]["final"]


@pytest.fixture(scope="module")
def sequential_sweep(tmp_path_factory):
    """The two-trial sweep run in-process; with Ray 'not installed', so 'auto' must fall back."""
    sweep_dir = tmp_path_factory.mktemp("sequential")
    log = Log()
    available = sweep_run.ray_available
    sweep_run.ray_available = lambda: False
    try:
        summary = sweep_run.run_sweep(tiny_definition([f"lr=1e-3,{DIVERGES}"]), sweep_dir, executor="auto",
                                      progress=False, log=log)
    finally:
        sweep_run.ray_available = available
    return sweep_dir, summary, log


def test_sequential_fallback_runs_all_trials_and_records_the_failure(sequential_sweep):
    sweep_dir, summary, log = sequential_sweep
    _check_finished_and_failed(sweep_dir, summary, log)
    assert "pip install 'latentcraft[ray]'" in log[0] and "on sequential" in log[1]


def test_sweep_on_a_ray_head_node_matches_the_sequential_run(ray_head, sequential_sweep, tmp_path):
    log = Log()
    summary = sweep_run.run_sweep(tiny_definition([f"lr=1e-3,{DIVERGES}"]), tmp_path, executor="auto",
                                  address=ray_head, log=log)
    assert f"on ray at {ray_head}" in log[0]
    final = _check_finished_and_failed(tmp_path, summary, log)
    seq_dir, seq_summary, _ = sequential_sweep
    # Same config, seed and one thread per trial: the Ray worker reproduces the in-process numbers.
    assert final == pytest.approx(seq_summary["settings"][0]["runs"][0]["final"], rel=1e-6)
    assert json.loads((tmp_path / summary["settings"][0]["runs"][0]["run_dir"] / "config.json").read_text()) == \
        json.loads((seq_dir / seq_summary["settings"][0]["runs"][0]["run_dir"] / "config.json").read_text())


def test_a_ray_worker_trains_on_own_data_from_the_object_store_not_its_path(ray_head, tmp_path):
    from latentcraft.data.synthetic import colour_blobs, save_npz

    data = tmp_path / "blobs.npz"
    save_npz(data, colour_blobs(120, 32, 4, seed=0), colour_blobs(40, 32, 4, seed=1))
    config = resolve_config(None, None, ["train.epochs=1", "train.epoch_images=0", "model.encoder_hidden=[16]",
                                         "model.decoder_hidden=[16]", f"data.path={json.dumps(str(data))}"])

    class DeletesTheData(Log):  # the driver logs once it has read the data, before any trial starts
        def __call__(self, line: str) -> None:
            super().__call__(line)
            data.unlink(missing_ok=True)

    summary = sweep_run.run_sweep(sweep_definition.define_sweep(config, [], 1), tmp_path / "sweep", executor="ray",
                                  address=ray_head, log=DeletesTheData())
    assert not summary["failed"], summary["failed"]
    run = load_model(tmp_path / "sweep" / summary["settings"][0]["runs"][0]["run_dir"])
    assert run.shape.chw == (3, 32, 32) and run.shape.classes == 4


def test_unreachable_address_fails_fast_naming_it(tmp_path):
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"--address {address}: no Ray head node"):
        sweep_run.run_sweep(tiny_definition(["lr=1e-3"]), tmp_path, executor="ray", address=address, log=Log())
    assert time.monotonic() - started < 30


def test_rerun_of_a_half_finished_sweep_runs_only_the_missing_trials(tmp_path):
    definition = tiny_definition(["lr=1e-3"], seeds=2)
    with pytest.raises(KeyboardInterrupt):
        sweep_run.run_sweep(definition, tmp_path, executor="sequential", progress=False, log=Log(stop_after=1))
    first, second = (tmp_path / t.run_dir for t in definition.trials())
    assert (first / SUMMARY_FILE).is_file() and not second.exists()
    first_weights = (first / WEIGHTS_FILE).stat().st_mtime_ns

    log = Log()
    summary = sweep_run.run_sweep(definition, tmp_path, executor="sequential", progress=False, log=log)
    assert "1 finished earlier, 1 to run" in log[0]
    assert [line.split(":")[0] for line in trial_lines(log)] == ["[2/2] lr=0.001 seed 1"]
    assert (first / WEIGHTS_FILE).stat().st_mtime_ns == first_weights  # not retrained
    assert summary["settings"][0]["runs_done"] == 2 and summary["failed"] == []
    assert summary["settings"][0]["metrics"]["test_argmax_accuracy"]["std"] is not None

    # An interrupted trial (checkpoint but no summary) is resumed, not restarted from scratch.
    (second / SUMMARY_FILE).unlink()
    log = Log()
    again = sweep_run.run_sweep(definition, tmp_path, executor="sequential", progress=False, log=log)
    assert "1 to run (1 resumed)" in log[0]
    assert again["settings"][0]["runs"][1]["final"] == summary["settings"][0]["runs"][1]["final"]


def test_report_section_draws_the_spread_per_metric(sequential_sweep, tmp_path):
    sweep_dir, summary, _ = sequential_sweep
    assert sweep_definition.is_sweep_dir(sweep_dir) and not sweep_definition.is_sweep_dir(tmp_path)
    section = load_sweep(sweep_dir, tmp_path)
    assert section.summary == summary
    assert "| `lr=0.001` |" in sweep_summary.markdown_table(section.summary)
    assert [m for m, _ in section.figures] == summary["metrics"]
    for _, path in section.figures:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_command_accepts_a_sweep_folder(sequential_sweep, tmp_path):
    sweep_dir, _, _ = sequential_sweep
    out = tmp_path / "report.html"
    assert main(["report", str(sweep_dir), "--out", str(out), "--no-progress"]) == 0
    page, text = out.read_text(), out.with_suffix(".md").read_text()
    assert "<td>lr=0.001</td><td>1/1</td>" in page and "<td>lr=1e+30</td><td>0/1</td>" in page
    assert page.count('src="data:image/png;base64,') == 2  # one spread figure per summarised metric
    assert "<h2>Metrics</h2>" not in page  # no empty per-run tables when only a sweep is given
    assert "| `lr=0.001` | 1/1 |" in text
    links = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 2 and all((tmp_path / link).is_file() for link in links)


def test_report_shows_runs_and_sweeps_together(sequential_sweep, tmp_path):
    sweep_dir, summary, _ = sequential_sweep
    run = RunMaterial(tmp_path, "one run (r)", {"name": "one run", "metrics": {"test_recon_bce": 123.25}}, [])
    section = load_sweep(sweep_dir, tmp_path / "figures")
    page = render_html([run], [section])
    assert page.index("<h2>Metrics</h2>") < page.index("<h2>Figures</h2>") < page.index(
        f"<h2>{html.escape(section.title)}</h2>") < page.index("</body></html>")
    assert "123.2" in page and "<td>lr=0.001</td><td>1/1</td>" in page
    assert f"Best run by test_argmax_accuracy: `{summary['best_run']['run_dir']}`" in page
    text = render_markdown([run], tmp_path, [section])
    assert text.index("| metric | one run (r) |") < text.index(f"## {section.title}") < text.index(
        "| `lr=0.001` | 1/1 |")
    assert "![test_recon_bce over seeds](figures/sweep_spread_recon_bce.png)" in text


# ---- hostile grids: empty, repeated or absurd values, and folder names built from values ------


@pytest.mark.parametrize("grid, message", [
    (["lr="], "no values given"),
    (["lr=1e-3,"], "value 2 is empty"),
    (["lr=,1e-3"], "value 1 is empty"),
    (["lr=1e-3,1e-3"], "1e-3 repeats 1e-3"),
    (["lr=1e-3,0.001"], "0.001 repeats 1e-3"),
    (["latent_dim=2,2.0"], "2.0 repeats 2"),
    (["lr=1e-3", "train.lr=3e-3"], "--grid train.lr is given twice"),
    (["=1,2"], "the key before '='"),
    (["bogus=1,2"], "unknown grid key 'bogus'"),
    (["name=a,b"], "--grid name: each trial's name"),
    (["lr"], "expected key=value1,value2"),
    ([f"lr={','.join(str(k) for k in range(1, 102))}", f"beta={','.join(str(k) for k in range(1, 101))}"],
     "10,100 trials"),
])
def test_bad_grids_are_refused_naming_the_axis(grid, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny_definition(grid)


def test_setting_folders_and_trial_names_stay_inside_the_sweep_whatever_the_values(tmp_path):
    values = ["../../escaped", "a/b", "/abs", "..", ".hidden", "x" * 300, "é\x01"]
    definition = tiny_definition([f"data.data_dir={','.join(json.dumps(v) for v in values)}"])
    trials = definition.trials()
    assert len({t.run_dir for t in trials}) == len(values)
    for trial in trials:
        folder = (tmp_path / trial.run_dir).resolve()
        assert folder.is_relative_to(tmp_path / sweep_definition.TRIALS_DIR)
        assert ".." not in Path(trial.run_dir).parts and len(Path(trial.run_dir).parts) == 3
        assert all(len(part) <= 255 for part in Path(trial.run_dir).parts)
        resolve_config(overrides=[f"name={json.dumps(trial.config['name'])}"])  # a valid name
