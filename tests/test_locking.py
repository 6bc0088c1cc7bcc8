"""One writer per run or sweep folder: a second process is refused by PID; a dead holder's lock is taken over."""

import os
import signal
import subprocess
import sys
import time

import pytest

from latentcraft.cli.main import main
from latentcraft.training.checkpoint import read_metrics
from latentcraft.training.locking import LOCK_FILE, FolderInUse, folder_lock

TINY = ["--set", "data.train_limit=300", "--set", "data.test_limit=200", "--set", "model.encoder_hidden=[32]",
        "--set", "model.decoder_hidden=[32]", "--epochs", "1", "--no-progress"]

HOLD = """
import sys, time
from latentcraft.training.locking import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.fixture()
def holder():
    """holder(folder) -> a separate process that holds `folder`'s lock until killed."""
    processes = []

    def start(folder):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()


def test_a_second_process_is_refused_with_the_folder_and_pid(tmp_path, holder):
    first = holder(tmp_path / "run")
    with pytest.raises(FolderInUse) as refused:
        with folder_lock(tmp_path / "run"):
            pass
    assert f"process {first.pid}" in str(refused.value) and str(tmp_path / "run") in str(refused.value)


def test_train_into_a_locked_run_dir_is_refused_at_once(tmp_path, holder, capsys, mnist_dir):
    run = tmp_path / "run"
    first = holder(run)
    began = time.monotonic()
    assert main(["train", "--preset", "routed10-original", *TINY, "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert f"{run} is in use: process {first.pid}" in err and "Traceback" not in err
    assert time.monotonic() - began < 5  # refused before loading any data
    assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # nothing of the holder's was touched


def test_sweep_into_a_locked_folder_is_refused(tmp_path, holder, capsys):
    out = tmp_path / "sweep"
    first = holder(out)
    assert main(["sweep", "--preset", "routed10-original", *TINY, "--grid", "lr=1e-3,2e-3", "--sequential",
                 "--out", str(out)]) == 1
    assert f"process {first.pid}" in capsys.readouterr().err
    assert not (out / "sweep.json").exists()


def test_a_killed_holders_lock_is_taken_over(tmp_path, holder, capsys):
    first = holder(tmp_path / "run")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert (tmp_path / "run" / LOCK_FILE).read_text().strip() == str(first.pid)  # left behind by the kill
    with folder_lock(tmp_path / "run"):
        assert (tmp_path / "run" / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert f"locked by process {first.pid}, which is no longer running" in capsys.readouterr().err


def test_release_removes_the_lock_and_a_folder_left_empty(tmp_path):
    with folder_lock(tmp_path / "kept"):
        (tmp_path / "kept" / "result.txt").write_text("1")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["result.txt"]
    with folder_lock(tmp_path / "unused" / "deeper"):
        pass
    assert not (tmp_path / "unused" / "deeper").exists()  # a failed start leaves no empty run folder
    existing = tmp_path / "existing"
    existing.mkdir()
    with folder_lock(existing):
        pass
    assert existing.is_dir()  # a folder the user made stays


def test_the_same_folder_cannot_be_locked_twice_even_in_one_process(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(FolderInUse, match=f"process {os.getpid()}"):
            with folder_lock(tmp_path):
                pass


def test_a_file_where_the_folder_should_be_is_an_error(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(NotADirectoryError):
        with folder_lock(tmp_path / "run"):
            pass


@pytest.mark.slow
def test_two_real_trainings_then_kill_and_resume(tmp_path, mnist_dir):
    """End to end with real processes: the second `train` is refused; after a kill, --resume takes over."""
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "latentcraft.cli", "train", "--preset", "routed10-original", *TINY[:-3],
           "--epochs", "200", "--no-progress", "--run-dir", str(run)]
    first = subprocess.Popen(cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoint.safetensors").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        second = subprocess.run(cli, capture_output=True, text=True)
        assert second.returncode == 1 and f"process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    done = len(read_metrics(run))  # epochs the killed run finished; resuming to exactly those is quick
    resumed = subprocess.run([*cli[:-5], "--epochs", str(done), "--no-progress", "--resume", "--run-dir", str(run)],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"locked by process {first.pid}, which is no longer running" in resumed.stderr
