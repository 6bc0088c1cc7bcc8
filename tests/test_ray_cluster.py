"""A Ray sweep on a real two-node cluster on this machine loses its worker node mid-trial (slow: ~3 min).

The fast test checks the watch that ends a sweep no node can serve, on a scripted node table. The
slow ones use benchmarks/ray_node_failure.py's real cluster: `ray start --head` offering no CPUs
plus worker nodes joined with `ray start --address`, each in its own process group, on loopback.
A lost trial must resume on a replacement node from its checkpoint; with no node left the sweep
must end with every trial recorded, not wait forever, and a re-run must finish the job.
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from latentcraft.config.run_config import resolve_config
from latentcraft.sweeps import definition as sweep_definition
from latentcraft.sweeps import execution as sweep_run

from conftest import load_script

DRILL = Path(__file__).resolve().parents[1] / "benchmarks" / "ray_node_failure.py"
EPOCHS, TRAIN_LIMIT, TEST_LIMIT = 3, 6000, 1000
# This process is a Ray driver too: set before ray is imported (the token itself comes from the drill).
os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")


@pytest.fixture(scope="module")
def drill():
    module = load_script(DRILL)
    module.ray_environment(node=False)  # puts the cluster's token into this process's environment
    return module


def definition(seeds: int) -> sweep_definition.SweepDefinition:
    # The same trials as the drill's `latentcraft sweep --preset routed10 --epochs ... --set ...`.
    overrides = [f"train.epochs={EPOCHS}", f"data.train_limit={TRAIN_LIMIT}", f"data.test_limit={TEST_LIMIT}"]
    return sweep_definition.define_sweep(resolve_config("routed10", None, overrides), [], seeds)


def epochs_logged(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_node_watch_waits_for_a_node_then_gives_up_with_the_command_that_adds_one(monkeypatch):
    import ray

    table = [{"Alive": True, "Resources": {"CPU": 2.0}}]  # the head has CPUs of its own
    monkeypatch.setattr(ray, "nodes", lambda: table)
    log: list[str] = []
    watch = sweep_run._NodeWatch(threads=2, wait=0.3, address="10.0.0.5:6379", log=log.append)
    assert watch.stalled() is None and log == []
    table[:] = [{"Alive": False, "Resources": {"CPU": 2.0}}, {"Alive": True, "Resources": {"CPU": 1.0}}]
    assert watch.stalled() is None  # the worker node is lost, and one CPU is too few: the wait starts
    assert len(log) == 1 and "no alive Ray node offers the 2 CPU(s)" in log[0] and "up to 0.3 s" in log[0]
    assert watch.stalled() is None  # still within the wait, and the log says it once
    time.sleep(0.35)
    error = watch.stalled()
    assert error.startswith("no alive Ray node offered the 2 CPU(s) a trial needs for 0.3 s")
    assert "`ray start --address=10.0.0.5:6379 --num-cpus=2`" in error and len(log) == 1
    table.append({"Alive": True, "Resources": {"CPU": 2.0}})  # a node joins: the trials go on
    assert watch.stalled() is None and "is back" in log[-1]


@pytest.mark.slow
def test_a_trial_on_a_crashed_worker_node_resumes_on_the_replacement(drill, mnist_dir, tmp_path):
    args = drill.parse_args(["--epochs", str(EPOCHS), "--train-limit", str(TRAIN_LIMIT),
                             "--test-limit", str(TEST_LIMIT), "--timeout", "300"])
    result = drill.drill(args)
    assert result["left_behind"] == [], "processes of the stopped nodes are still running"
    assert result["sweep_exit_code"] == 0, result["sweep_output"]
    assert result["problems"] == []  # every trial recorded as done, with epochs 1..EPOCHS in its metrics
    crashed = result["crashed"]
    assert 1 <= crashed["epochs_logged"] < EPOCHS  # the node died mid-trial
    # Ray reran the task (its words are in the driver's output), and the rerun kept the checkpointed epoch.
    assert any("will be retried" in line for line in result["sweep_output"]), result["sweep_output"]
    assert result["resumed_from_epoch"] >= 1
    # The crash took the process training the trial with it (raylet had moved it out of the node's group).
    assert any(line.endswith("ray::run_trial") for line in crashed["killed_outside_its_group"]), crashed
    # Resuming is exact: the interrupted trial ends with the numbers of an uninterrupted run.
    reference = sweep_run.run_sweep(definition(args.seeds), tmp_path, executor="sequential", progress=False,
                                    log=lambda line: None)
    for setting in reference["settings"]:
        for run in setting["runs"]:
            assert result["finals"][run["run_dir"]] == pytest.approx(run["final"], rel=1e-6), run["run_dir"]


@pytest.mark.slow
def test_losing_every_worker_node_records_the_trials_instead_of_waiting_forever(drill, mnist_dir, tmp_path):
    cluster = drill.local_cluster()
    try:
        cluster.start_head()
        worker = cluster.add_worker()
        crash: dict = {}
        crasher = threading.Thread(target=lambda: crash.update(drill.crash_mid_trial(tmp_path, worker, 300)))
        crasher.start()
        log: list[str] = []
        started = time.monotonic()
        summary = sweep_run.run_sweep(definition(1), tmp_path, executor="ray", address=cluster.address,
                                      log=log.append, node_wait=5)
        crasher.join()
        # Node death is noticed within ~30 s, then 5 s of waiting: far from forever.
        assert time.monotonic() - started < 120
        (failed,) = summary["failed"]
        assert failed["run_dir"] == crash["run_dir"] == "trials/00_base/seed-0"
        assert "no alive Ray node offered the 1 CPU(s) a trial needs for 5 s" in failed["error"]
        assert f"ray start --address={cluster.address} --num-cpus=1" in failed["error"]
        assert sum("no alive Ray node offers" in line for line in log) == 1, log
        assert any("FAILED: no alive Ray node" in line for line in log), log

        # The remedy the error names works: with a node back, the same sweep resumes the trial and finishes.
        cluster.add_worker()
        log.clear()
        summary = sweep_run.run_sweep(definition(1), tmp_path, executor="ray", address=cluster.address,
                                      log=log.append, node_wait=5)
        assert summary["failed"] == [] and "(1 resumed)" in log[0]
        assert epochs_logged(tmp_path / crash["run_dir"]) == list(range(1, EPOCHS + 1))
    finally:
        assert cluster.close() == []
