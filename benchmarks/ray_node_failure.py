"""Fault drill (not a unit test): a Ray sweep on a real two-node cluster loses its worker node mid-trial.

Both nodes run on this machine, on a loopback address (NODE_IP), each a `ray start --block` in a
session and process group of its own, which dies with the node: a head that offers no CPUs, so
trials run only on workers, and a worker node with one CPU. `latentcraft sweep --address` trains
2 seeds x 3 epochs; as soon as a trial has logged its first epoch every process of the worker node
is SIGKILLed, as if its machine had crashed, and a replacement worker node joins --replace-after
seconds later. What must happen: Ray reruns the lost trial on the new node, the rerun resumes from
the trial's last epoch checkpoint, and the sweep ends with every trial recorded and trained for
every epoch. It prints what happened as JSON and exits 1 if any of that did not hold.

    python benchmarks/ray_node_failure.py                       # ~1.5 min on 2 busy cores
    python benchmarks/ray_node_failure.py --train-limit 20000   # longer epochs on a faster machine

Every node it started is stopped at the end, whatever happened (SIGTERM, then SIGKILL, to every
process of the node's session, never `ray stop`, which would stop every Ray on the machine); the
check that none is left is part of the drill, and the temporary folder is removed. The nodes use a
throwaway auth token (RAY_AUTH_MODE=token) and never read ~/.ray.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
SRC = Path(__file__).resolve().parents[1] / "src"
OBJECT_STORE_BYTES = 100 * 1024**2  # Ray's default is 30% of the machine's memory, per node
# The nodes' address: loopback, but not 127.0.0.1. `ray start --address` (a worker node) refuses
# to run with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, Ray's only switch that keeps 127.0.0.1 (and binds
# every server to it); without it Ray rewrites 127.0.0.1 and localhost, and only those, to the
# machine's network address. On 127.0.0.2 the nodes talk over loopback, though GCS and raylet
# listen on every interface, as on any multi-node cluster (the throwaway token guards them).
NODE_IP = "127.0.0.2"


def ray_environment(node: bool) -> dict[str, str]:
    """The environment of a node (node=True) or a driver: no usage stats, one throwaway auth token.

    A driver given an explicit address sends its token only with RAY_AUTH_MODE=token. The token is
    read from (or put into) this process's environment, so a driver in this process agrees with it.
    Nodes get RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1 whatever this process has (see NODE_IP).
    """
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    if node:
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_processes(session_id: int) -> list[tuple[int, int, str]]:
    """(pid, process group, name) of every live process in a session (a `start_new_session` child's pid is its id)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if int(fields[3]) == session_id and fields[0] != "Z":  # fields: state, ppid, pgrp, session
            found.append((int(stat.parent.name), int(fields[2]), name))
    return found


def described(processes: list[tuple[int, int, str]]) -> list[str]:
    return [f"{pid} {name}" for pid, _, name in processes]


class RayNode:
    """One `ray start --block` in its own session and process group; the group dies with the node."""

    def __init__(self, name: str, args: list[str], folder: Path):
        self.name, self.log_path = name, folder / f"{name}.log"
        ports = [f"--{flag}={free_port()}" for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                       "metrics-export-port", "runtime-env-agent-port")]
        with open(self.log_path, "w") as log:  # two nodes on one machine: no fixed default port may clash
            self.process = subprocess.Popen(
                [str(BIN / "ray"), "start", "--block", f"--node-ip-address={NODE_IP}", "--disable-usage-stats",
                 f"--object-store-memory={OBJECT_STORE_BYTES}", *ports, *args],
                stdout=log, stderr=subprocess.STDOUT, env=ray_environment(node=True), start_new_session=True)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while "block forever" not in self.log_path.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray node {self.name} did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.5)

    def alive(self) -> list[tuple[int, int, str]]:
        """The node's live processes: its group, and the Ray workers that raylet moved to groups of their own."""
        return session_processes(self.process.pid)

    def crash(self) -> list[str]:
        """SIGKILL every process of the node at once, as a power cut would; returns those outside its group.

        raylet moves each Ray worker to a process group of its own, so killing only the node's group
        leaves the worker running a trial alive for a second or two (until it notices its raylet is
        gone): enough to finish the trial and hand its result to the driver, and then nothing is rerun.
        """
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 5
        while any(group == self.process.pid for _, group, _ in self.alive()) and time.monotonic() < deadline:
            time.sleep(0.05)  # the kernel delivers SIGKILL asynchronously
        outside_group = described(self.alive())
        self._signal(signal.SIGKILL)
        if not self.wait_gone(10):
            raise RuntimeError(f"ray node {self.name} survived SIGKILL: {described(self.alive())}")
        return outside_group

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self) -> None:
        """SIGTERM every process of the node, SIGKILL what still runs after 5 s, until none is left."""
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 30)):
            self._signal(sig)
            self.process.poll()  # reap `ray start` itself once it exits
            if self.wait_gone(grace):
                return

    def _signal(self, sig: int) -> None:
        for pid, _, _ in self.alive():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass  # it ended meanwhile


@dataclass
class LocalCluster:
    """A head (no CPUs for trials) and worker nodes on NODE_IP, all under one temporary folder."""

    root: Path
    port: int = field(default_factory=free_port)
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{NODE_IP}:{self.port}"

    def start_head(self) -> RayNode:
        # Ray's socket paths must fit in 107 bytes, hence a short temp dir of its own.
        return self._start("head", ["--head", f"--port={self.port}", "--num-cpus=0", "--include-dashboard=false",
                                    f"--temp-dir={self.root / 'ray'}"])

    def add_worker(self) -> RayNode:
        return self._start(f"worker{len(self.nodes)}", [f"--address={self.address}", "--num-cpus=1"])

    def _start(self, name: str, args: list[str]) -> RayNode:
        node = RayNode(name, args, self.root)
        self.nodes.append(node)
        node.wait_ready()
        return node

    def close(self) -> list[str]:
        """Stop every node and remove the folder; returns the processes of theirs still running (none expected)."""
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        return [line for node in self.nodes for line in described(node.alive())]


def local_cluster() -> LocalCluster:
    return LocalCluster(Path(tempfile.mkdtemp(prefix="lcray", dir="/tmp")))


def metrics_lines(run_dir: Path) -> list[str]:
    path = run_dir / "metrics.jsonl"
    return path.read_text().splitlines() if path.is_file() else []


def crash_mid_trial(sweep_dir: Path, node: RayNode, timeout: float,
                    sweep_running: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """Crash `node` once some trial has logged an epoch but not finished; returns what that trial had then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sweep_running():
        for metrics in sorted(sweep_dir.glob("trials/*/seed-*/metrics.jsonl")):
            run_dir = metrics.parent
            lines = metrics_lines(run_dir)
            if lines and not (run_dir / "summary.json").exists():
                outside_group = node.crash()
                return {"run_dir": str(run_dir.relative_to(sweep_dir)), "lines_at_crash": lines,
                        "crashed_at": time.monotonic(), "killed_outside_its_group": outside_group}
        time.sleep(0.1)
    raise RuntimeError(f"no trial under {sweep_dir} logged an epoch (within {timeout:.0f} s, while the sweep ran); "
                       "nothing was crashed")


def resumed_from(lines_at_crash: list[str], lines_after: list[str]) -> int:
    """Epochs kept from before the crash: a rerun from scratch rewrites epoch 1 (its elapsed_s differs)."""
    kept = 0
    for before, after in zip(lines_at_crash, lines_after):
        if before != after:
            break
        kept += 1
    return kept


def sweep_command(cluster: LocalCluster, out: Path, args: argparse.Namespace) -> list[str]:
    return [str(BIN / "latentcraft"), "sweep", "--preset", "routed10", "--seeds", str(args.seeds),
            "--epochs", str(args.epochs), "--set", f"data.train_limit={args.train_limit}",
            "--set", f"data.test_limit={args.test_limit}", "--address", cluster.address, "--out", str(out),
            "--no-progress"]


def check_trials(sweep_dir: Path, summary: dict[str, Any], epochs: int) -> list[str]:
    """Problems with the finished sweep: no summary, a trial not recorded as done, or trained for fewer epochs."""
    if not summary:
        return ["the sweep wrote no sweep_summary.json"]
    problems = [f"{f['run_dir']}: {f['error']}" for f in summary["failed"]]
    for setting in summary["settings"]:
        for run in setting["runs"]:
            epochs_logged = [json.loads(line)["epoch"] for line in metrics_lines(sweep_dir / run["run_dir"])]
            if epochs_logged != list(range(1, epochs + 1)):
                problems.append(f"{run['run_dir']}: epochs {epochs_logged}, expected 1..{epochs}")
    return problems


def notable_lines(output: str) -> list[str]:
    """The sweep's own lines and Ray's words on the lost node and the retry, without colour codes."""
    keep = ("retries remaining", "marked dead", "no alive Ray node", "Ray node with")
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines()]
    return [line[:300] for line in lines if line.startswith(("[", "sweep ")) or any(k in line for k in keep)]


def drill(args: argparse.Namespace) -> dict[str, Any]:
    """The whole drill; returns what happened. Raises nothing the cluster would outlive."""
    cluster = local_cluster()
    started = time.monotonic()
    result: dict[str, Any] = {}
    try:
        cluster.start_head()
        worker = cluster.add_worker()
        result["cluster_start_s"] = round(time.monotonic() - started, 1)
        out = cluster.root / "sweep"
        env = {**ray_environment(node=False), "PYTHONPATH": str(SRC)}
        with open(cluster.root / "sweep.log", "w") as log:
            sweep = subprocess.Popen(sweep_command(cluster, out, args), stdout=log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        try:
            try:
                crash = crash_mid_trial(out, worker, args.timeout, lambda: sweep.poll() is None)
            except RuntimeError as err:
                output = (cluster.root / "sweep.log").read_text()[-3000:]
                raise RuntimeError(f"{err}\nthe sweep's output:\n{output}") from err
            time.sleep(args.replace_after)
            cluster.add_worker()
            result["replacement_joined_s"] = round(time.monotonic() - crash.pop("crashed_at"), 1)
            sweep.wait(timeout=args.timeout)
        finally:
            if sweep.poll() is None:
                os.killpg(sweep.pid, signal.SIGKILL)
                sweep.wait()
        output = (cluster.root / "sweep.log").read_text()
        lines_at_crash = crash.pop("lines_at_crash")
        summary_file = out / "sweep_summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        result.update(
            sweep_exit_code=sweep.returncode, total_s=round(time.monotonic() - started, 1),
            crashed={**crash, "epochs_logged": len(lines_at_crash)},
            resumed_from_epoch=resumed_from(lines_at_crash, metrics_lines(out / crash["run_dir"])),
            problems=check_trials(out, summary, args.epochs),
            sweep_output=notable_lines(output),
            finals={run["run_dir"]: run["final"] for setting in summary.get("settings", [])
                    for run in setting["runs"]},
        )
    finally:
        stopping = time.monotonic()
        result["left_behind"] = cluster.close()
        result["stop_s"] = round(time.monotonic() - stopping, 1)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=10_000, help="training images per epoch")
    parser.add_argument("--test-limit", type=int, default=1_000)
    parser.add_argument("--replace-after", type=float, default=5.0, help="seconds between the crash and the new node")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds each stage may take")
    return parser.parse_args(argv)


def main() -> None:
    result = drill(parse_args())
    print(json.dumps(result, indent=2))
    ok = result["sweep_exit_code"] == 0 and not result["problems"] and not result["left_behind"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
