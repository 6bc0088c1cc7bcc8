"""Running a sweep: every trial not finished yet, on Ray or one after another in this process.

Trials run on Ray (a local instance started in-process, or an existing cluster
via its address) — the scheduling, placement and fault handling are Ray's, not
ours. Without Ray, or with `sequential=True`, they run one after another in this
process and write identical run folders. Re-running skips finished trials
(summary.json present), resumes interrupted ones from their checkpoint and
retries failed ones; a failing trial is recorded (failed.json in its folder) and
never stops the others.

Each trial uses train.threads torch threads (1 when 0) under every executor, so
the numbers match between Ray and the fallback. On a multi-node cluster the
sweep folder must sit on a filesystem every node sees at the same path, and
latentcraft and MNIST must be installed on every node. A trial whose node
dies is rerun by Ray and resumes from its last epoch checkpoint; a cluster left
with no node that can run a trial ends the sweep after NODE_WAIT_S, not never.

Your own data (data.path, always absolute) is read once by the driver before
any trial starts, so a missing or refused dataset is one error, not a failure
per trial. On Ray, data up to SHIP_LIMIT_BYTES travels to the workers through
Ray's object store and no node reads the path; larger data is read by each
worker from that absolute path, which must then be on a filesystem every node
sees (the driver says so in its log).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latentcraft.config.run_config import Config
from latentcraft.errors import ConfigError
from latentcraft.sweeps.definition import SweepDefinition, Trial, prepare_sweep_dir
from latentcraft.sweeps.summary import default_metrics, format_stat, summarise, sweep_metric, write_summary
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.locking import holds_folder_lock

FAILED_FILE = "failed.json"
RAY_HINT = "for parallel or cluster runs install Ray: pip install 'latentcraft[ray]'"
# Reruns of a trial whose worker process or node died. Ray's own task retry, not a loop of ours:
# Ray sees the death first, reschedules the task on a node that is alive (one that joins later
# included) and counts only such system failures; retry_exceptions stays off, since run_trial
# returns its own errors as records and a diverged trial would diverge again. The rerun resumes
# from the trial's last epoch checkpoint (run_trial resumes whenever its folder exists), so a
# lost node costs the epoch in progress, not the trial.
NODE_LOSS_RETRIES = 3
# Seconds the sweep waits while no alive node offers the CPUs a trial asks for (every worker
# node lost, or a head started with --num-cpus=0 and no worker yet). Ray would keep such tasks
# pending forever; after this the unfinished trials are recorded as failed, their checkpoints kept.
NODE_WAIT_S = 300.0
POLL_S = 5.0  # how often the Ray loop looks at the cluster while no trial finishes
# Own data (data.path) up to this many pixel bytes, all splits and settings together, goes to Ray workers through
# the object store, which holds 30% of a node's memory by default; beyond it workers read the path themselves.
SHIP_LIMIT_BYTES = 256 * 2**20


# ---- one trial (runs in a Ray worker or in this process) ---------------------------------


def run_trial(config: dict[str, Any], run_dir: str, threads: int = 0, progress: bool = False,
              env: dict[str, str] | None = None, data: Any = None) -> dict[str, Any]:
    """Train one trial into run_dir (absolute); never raises: a failure comes back as a record.

    `threads` limits torch's intra-op threads for this trial without writing it
    into the config, so the run folder is the same whichever executor ran it.
    """
    import torch

    from latentcraft.training.trainer import train

    for name, value in (env or {}).items():
        os.environ.setdefault(name, value)  # a worker's own setting wins (its data may live elsewhere)
    if threads:
        torch.set_num_threads(threads)
    folder = Path(run_dir)
    started = time.perf_counter()
    try:
        summary = train(Config.from_dict(config), folder, resume=folder.exists(), progress=progress, data=data)
    except Exception as err:  # any failure is this trial's result, not the sweep's end
        error = f"{type(err).__name__}: {err}"
        ckpt.write_json(folder / FAILED_FILE, {"error": error})
        return {"status": "failed", "error": error, "seconds": round(time.perf_counter() - started, 2)}
    (folder / FAILED_FILE).unlink(missing_ok=True)
    return {"status": "done", "final": summary["final"], "seconds": round(time.perf_counter() - started, 2)}


def trial_threads(config: dict[str, Any]) -> int:
    """Torch threads per trial, the same under every executor: train.threads, or 1 when it is 0.

    The thread count changes the order of floating-point sums, so keeping it fixed is what makes
    a Ray run and the sequential fallback write the same numbers. Ray reserves this many CPUs per
    trial, so trials never oversubscribe the cores.
    """
    return config["train"]["threads"] or 1


def data_key(config: dict[str, Any]) -> str:
    """Trials with equal keys train on identical data: the data section, and the seed only when labels are hidden."""
    data = config["data"]
    hidden = data["labelled_fraction"] < 1 or data["labels_per_class"]
    return json.dumps([data, config["train"]["seed"] if hidden else None], sort_keys=True)


def unfinished(trials: list[Trial], sweep_dir: Path) -> list[Trial]:
    """The trials whose run folder under `sweep_dir` has no summary yet: those a (re-)run trains."""
    return [t for t in trials if not (sweep_dir / t.run_dir / ckpt.SUMMARY_FILE).is_file()]


def check_own_data(trials: list[Trial]) -> None:
    """Read every data.path the trials name, here and now: a DatasetError before any trial starts."""
    from latentcraft.data.source import read_own_data

    for config in {json.dumps(t.config["data"], sort_keys=True): t.config for t in trials}.values():
        if config["data"]["path"]:
            read_own_data(Config.from_dict(config))  # cached: the sequential trials reuse what it read


def own_data_for_workers(trials: list[Trial], log: Callable[[str], None],
                         limit: int = SHIP_LIMIT_BYTES) -> dict[str, Any]:
    """data_key -> the (train, test) ImageSets a Ray worker trains on, for trials whose own data (data.path) fits
    within `limit` bytes in all; a path left out is named in the log, as workers will read it themselves."""
    from latentcraft.training.trainer import load_data

    shipped: dict[str, Any] = {}
    total, too_large = 0, set()
    for trial in trials:
        key, path = data_key(trial.config), trial.config["data"]["path"]
        if not path or key in shipped or path in too_large:
            continue
        data = load_data(Config.from_dict(trial.config))
        size = sum(part.images.numel() * part.images.element_size() for part in data)
        if total + size > limit:
            too_large.add(path)
            log(f"{path}: {size / 2**20:.0f} MB of images, too much for Ray's object store here; each worker reads "
                "it from this path, which must be on a filesystem every node sees")
            continue
        shipped[key], total = data, total + size
    return shipped


def _passed_env() -> dict[str, str]:
    # Workers started by `ray start` may not share this shell's environment; pass the data location.
    from latentcraft.data.mnist import DATA_DIR_ENV

    return {DATA_DIR_ENV: os.environ[DATA_DIR_ENV]} if os.environ.get(DATA_DIR_ENV) else {}


# ---- executors ---------------------------------------------------------------------------

OnResult = Callable[[Trial, dict[str, Any]], None]


def ray_available() -> bool:
    # find_spec, not import: Ray reads its environment switches once, when first imported.
    return importlib.util.find_spec("ray") is not None


def run_sequential(sweep_dir: Path, trials: list[Trial], on_result: OnResult, progress: bool = True,
                   threads: int | None = None) -> None:
    """One trial after another in this process, reusing the loaded dataset between trials.

    threads: torch threads per trial; None = trial_threads (as on Ray), 0 = the config's own train.threads.
    """
    import torch

    from latentcraft.training.trainer import load_data

    cache: dict[str, Any] = {}
    threads_before = torch.get_num_threads()
    try:
        for trial in trials:
            config = Config.from_dict(trial.config)
            key = data_key(trial.config)
            if key not in cache:
                cache.clear()
                try:
                    cache[key] = load_data(config)
                except Exception as err:
                    on_result(trial, {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": 0.0})
                    continue
            count = trial_threads(trial.config) if threads is None else threads
            on_result(trial, run_trial(trial.config, str(sweep_dir / trial.run_dir), count, progress,
                                       data=cache[key]))
    finally:
        torch.set_num_threads(threads_before)  # the caller's process keeps its own setting


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected HOST:PORT of a Ray head node, e.g. 10.0.0.5:6379")
    return host, int(port)


def _is_loopback(address: str) -> bool:
    return _split_address(address)[0] in ("127.0.0.1", "localhost", "::1")


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    # ray.init retries an unreachable address for minutes; fail fast with what to do instead.
    host, port = _split_address(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise ConfigError(f"--address {address}: no Ray head node answers there ({err}); start one with "
                          f"`ray start --head --port={port}` or drop --address for a local instance") from None


def run_on_ray(sweep_dir: Path, trials: list[Trial], on_result: OnResult, address: str | None = None,
               threads: int = 1, log: Callable[[str], None] = print, node_wait: float = NODE_WAIT_S,
               shipped: dict[str, Any] | None = None) -> None:
    """Each trial is a Ray task asking for `threads` CPUs, so Ray never runs more trials than cores.

    shipped: data_key -> data (own_data_for_workers), put once in the object store for every trial that reads it.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
    if address:
        _check_reachable(address)
    if not address or _is_loopback(address):
        # A single-machine instance: with this switch Ray keeps 127.0.0.1 as the node address (it
        # otherwise rewrites loopback to the network interface's address) and binds only to loopback.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            try:
                ray.init(address=address, log_to_driver=True)
            except ConnectionError as err:
                # Ray never sends a token to an explicit address unless told to (Ray >= 2.5x).
                raise ConfigError(
                    f"--address {address}: could not join the Ray cluster ({err}). If it uses token "
                    "authentication (the default for `ray start`), set RAY_AUTH_MODE=token and the cluster's "
                    "token (~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH) in this shell"
                ) from None
        else:
            # A private single-node instance on loopback with this machine's cores (at least one trial's
            # worth, or a trial asking for more threads than there are cores would never start); no dashboard.
            ray.init(num_cpus=max(os.cpu_count() or 1, threads), include_dashboard=False)
    try:
        task = ray.remote(num_cpus=threads, max_retries=NODE_LOSS_RETRIES, retry_exceptions=False)(run_trial)
        env = _passed_env()
        refs = {key: ray.put(data) for key, data in (shipped or {}).items()}  # a worker gets the arrays, not a path
        pending = {}
        for t in trials:
            data = refs.get(data_key(t.config))  # None: the worker reads the data itself
            pending[task.remote(t.config, str(sweep_dir / t.run_dir), threads, False, env, data)] = t
        try:
            _collect(pending, on_result, _NodeWatch(threads, node_wait, address, log))
        except KeyboardInterrupt:
            _cancel(pending)  # checkpoints stay; the next run resumes them
            raise
    finally:
        if started_here:
            ray.shutdown()


def _collect(pending: dict[Any, Trial], on_result: OnResult, watch: _NodeWatch) -> None:
    """Hand each trial's result to on_result as it comes; give up on the rest once no node can run them."""
    import ray

    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
        if not ready:
            error = watch.stalled()
            if error:
                _cancel(pending)
                for trial in pending.values():
                    on_result(trial, {"status": "failed", "error": error, "seconds": 0.0})
                return
            continue
        trial = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as err:  # Ray's retries are spent (the node died again, OOM): its error is the record
            result = {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": 0.0}
        on_result(trial, result)


def _cancel(pending: dict[Any, Trial]) -> None:
    import ray

    for ref in pending:
        ray.cancel(ref, force=True)


class _NodeWatch:
    """Notices a cluster where no alive node offers the CPUs a trial needs, and for how long."""

    def __init__(self, threads: int, wait: float, address: str | None, log: Callable[[str], None]):
        self.threads, self.wait, self.log = threads, wait, log
        self.join = f"ray start --address={address} --num-cpus={threads}" if address else "ray start --address=..."
        self.since: float | None = None

    def stalled(self) -> str | None:
        """None while trials can run (or the wait is not over); else the error to record for the rest."""
        import ray

        capable = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) >= self.threads]
        if capable:
            if self.since is not None:
                self.log(f"a Ray node with {self.threads} CPU(s) is back: the trials continue")
            self.since = None
            return None
        if self.since is None:
            self.since = time.monotonic()
            self.log(f"no alive Ray node offers the {self.threads} CPU(s) a trial needs (worker nodes lost, or "
                     f"none joined yet): waiting up to {self.wait:g} s for one to join (`{self.join}`)")
            return None
        if time.monotonic() - self.since < self.wait:
            return None
        return (f"no alive Ray node offered the {self.threads} CPU(s) a trial needs for {self.wait:g} s; "
                f"add a node (`{self.join}`) and re-run the same command: it resumes this trial")


def _choose_executor(executor: str, address: str | None, log: Callable[[str], None]) -> str:
    """"auto" becomes "ray" when Ray is installed, else "sequential"; impossible choices are errors."""
    if executor == "auto":
        executor = "ray" if ray_available() else "sequential"
        if executor == "sequential":
            log(f"Ray is not installed: running trials one after another in this process; {RAY_HINT}")
    if executor == "ray" and not ray_available():
        raise ConfigError(f"Ray is needed for {'--address' if address else 'parallel runs'}; {RAY_HINT}")
    if address and executor != "ray":
        raise ConfigError("--address needs the Ray executor; drop --sequential")
    return executor


# ---- the whole sweep ---------------------------------------------------------------------


@holds_folder_lock("sweep_dir", "sweep")
def run_sweep(definition: SweepDefinition, sweep_dir: str | Path, metrics: list[str] | None = None,
              select_metric: str | None = None, executor: str = "auto", address: str | None = None,
              progress: bool = True, log: Callable[[str], None] = print,
              threads: int | None = None, node_wait: float = NODE_WAIT_S) -> dict[str, Any]:
    """Run every trial not finished yet, then write and return the summary.

    executor: "auto" (Ray if installed, else sequential), "ray" or "sequential".
    threads: torch threads per sequential trial; None = the same as on Ray (see trial_threads),
    0 = each config's train.threads (torch's default when that is 0).
    node_wait: seconds a Ray sweep waits for a node that can run trials before recording the rest as failed.
    """
    sweep_dir = Path(sweep_dir).resolve()  # workers need an absolute path; their cwd is not ours
    select_metric = (sweep_metric(select_metric, "--select-metric") if select_metric else
                     sweep_metric(definition.base["train"]["select_metric"], "train.select_metric"))
    metrics = [sweep_metric(m) for m in (metrics or default_metrics(select_metric))]
    if not node_wait >= 0:  # NaN included
        raise ConfigError(f"node_wait: {node_wait!r} seconds; give a number of seconds >= 0")
    ckpt.remove_partial_writes(sweep_dir)  # left by a kill mid-write; the lock says no one else is writing
    prepare_sweep_dir(sweep_dir, definition)
    trials = definition.trials()

    todo = unfinished(trials, sweep_dir)
    waiting = {t.run_dir for t in todo}
    results: dict[str, dict[str, Any]] = {
        t.run_dir: {"status": "done", "final": ckpt.read_summary(sweep_dir / t.run_dir)["final"], "skipped": True}
        for t in trials if t.run_dir not in waiting}
    resumed = sum(1 for t in todo if (sweep_dir / t.run_dir).exists())
    executor = _choose_executor(executor, address, log)
    check_own_data(todo)
    shipped = own_data_for_workers(todo, log) if todo and executor == "ray" else {}

    labels = {t.run_dir: definition.label(definition.settings()[t.setting]) for t in trials}
    log(f"sweep {sweep_dir}: {len(trials)} trials, {len(trials) - len(todo)} finished earlier, "
        f"{len(todo)} to run ({resumed} resumed) on {executor}" + (f" at {address}" if address else ""))
    count = [len(trials) - len(todo)]

    def on_result(trial: Trial, result: dict[str, Any]) -> None:
        results[trial.run_dir] = result
        count[0] += 1
        what = (", ".join(f"{m.removeprefix('test_')}={format_stat(result['final'].get(m))}" for m in metrics)
                if result["status"] == "done" else f"FAILED: {result['error']}")
        log(f"[{count[0]}/{len(trials)}] {labels[trial.run_dir]} seed {trial.seed}: {what} ({result['seconds']:.0f} s)")

    if todo and executor == "ray":
        run_on_ray(sweep_dir, todo, on_result, address, trial_threads(definition.base), log, node_wait, shipped)
    elif todo:
        run_sequential(sweep_dir, todo, on_result, progress, threads)

    summary = summarise(definition, results, metrics, select_metric)
    write_summary(sweep_dir, summary)
    return summary
