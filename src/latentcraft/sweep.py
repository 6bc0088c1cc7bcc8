"""Sweeps: every grid setting × seed as an ordinary run folder, run on Ray or one after another.

Latent-shaping results swing from seed to seed, so a number worth publishing is
a mean ± spread over seeds. A sweep folder holds:

    sweep.json            the definition: base config, grid axes, seeds (re-runs must match it)
    trials/<setting>/seed-<k>/   one ordinary run folder per trial (evaluate/plot/export work on it)
    trials/.../failed.json       in a trial folder whose last attempt raised: the error
    sweep_summary.json    per setting: mean, std, min, max of the chosen metrics; the best run
    sweep_summary.md      the same as a Markdown table, ready to paste into a README

Trials run on Ray (a local instance started in-process, or an existing cluster
via its address) — the scheduling, placement and fault handling are Ray's, not
ours. Without Ray, or with `sequential=True`, they run one after another in this
process and write identical run folders. Re-running skips finished trials
(summary.json present), resumes interrupted ones from their checkpoint and
retries failed ones; a failing trial is recorded and never stops the others.

Each trial uses train.threads torch threads (1 when 0) under every executor, so
the numbers match between Ray and the fallback. On a multi-node cluster the
sweep folder must sit on a filesystem every node sees at the same path, and
latentcraft and the dataset must be installed on every node.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import re
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, get_type_hints

from . import checkpoint as ckpt
from .config import Config, ConfigError, apply_override, differences
from .locking import LOCK_FILE, holds_folder_lock
from .metrics import best_by, lower_is_better, metric_key

SWEEP_FILE = "sweep.json"
SUMMARY_FILE = "sweep_summary.json"
TABLE_FILE = "sweep_summary.md"
TRIALS_DIR = "trials"
FAILED_FILE = "failed.json"
FORMAT_VERSION = 1
RAY_HINT = "for parallel or cluster runs install Ray: pip install 'latentcraft[ray]'"


# ---- grid keys: full config paths or unambiguous short aliases ---------------------------


def config_fields(cls: type = Config, prefix: str = "") -> list[str]:
    """Every leaf field of a (nested) config dataclass as a dotted path, e.g. 'train.lr'."""
    out = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += config_fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def resolve_key(key: str, cls: type = Config) -> str:
    """'train.lr' stays; 'lr' becomes the one field named lr. Unknown or ambiguous keys are errors."""
    paths = config_fields(cls)
    if key in paths:
        return key
    matches = [p for p in paths if p.split(".")[-1] == key or p.endswith(f".{key}")]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"grid key {key!r} is ambiguous: it could be {', '.join(matches)}; write the full path")
    raise ConfigError(f"unknown grid key {key!r}; use a config path such as train.lr or objective.beta")


def split_values(text: str) -> list[str]:
    """'1e-3,3e-3' -> ['1e-3', '3e-3']; commas inside [] or quotes do not split ('[64],[128,64]')."""
    parts, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p.strip() for p in parts]


def _parse_value(text: str) -> Any:
    # Same reading as --set: JSON if it parses (numbers, lists, booleans), else a plain string.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass
class GridAxis:
    key: str  # full config path, e.g. "train.lr"
    values: list[Any]  # the values to try, in the order given


def parse_grid(text: str) -> GridAxis:
    """'lr=1e-3,3e-3' -> GridAxis('train.lr', [0.001, 0.003])."""
    if "=" not in text:
        raise ConfigError(f"--grid {text!r}: expected key=value1,value2,..., e.g. lr=1e-3,3e-3")
    key, raw = text.split("=", 1)
    full = resolve_key(key.strip())
    if full == "train.seed":
        raise ConfigError("--grid train.seed: seeds are not a grid axis; use --seeds N (and --seed for the first)")
    values = [_parse_value(v) for v in split_values(raw) if v != ""]
    if not values:
        raise ConfigError(f"--grid {key}: no values given")
    return GridAxis(full, values)


# ---- the sweep definition ----------------------------------------------------------------


def short_key(key: str, cls: type = Config) -> str:
    """The shortest name for a full path that still resolves to it ('train.lr' -> 'lr')."""
    leaf = key.split(".")[-1]
    try:
        return leaf if resolve_key(leaf, cls) == key else key
    except ConfigError:
        return key


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Trial:
    setting: int  # index into SweepDefinition.settings()
    seed: int  # train.seed of this trial
    run_dir: str  # the trial's run folder, relative to the sweep folder
    config: dict[str, Any]  # the full config of the trial (Config.to_dict())


@dataclass
class SweepDefinition:
    base: dict[str, Any]  # the full resolved config every trial starts from (Config.to_dict())
    grid: list[GridAxis] = field(default_factory=list)  # axes; every combination is a setting
    seeds: list[int] = field(default_factory=lambda: [0])  # train.seed values run for every setting

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "SweepDefinition":
        return cls(base=raw["base"], grid=[GridAxis(**a) for a in raw["grid"]], seeds=list(raw["seeds"]))

    def settings(self) -> list[dict[str, Any]]:
        """Every combination of grid values, first axis varying slowest: [{'train.lr': 0.001, ...}, ...]."""
        combos: list[dict[str, Any]] = [{}]
        for axis in self.grid:
            combos = [{**c, axis.key: v} for c in combos for v in axis.values]
        return combos

    def label(self, setting: dict[str, Any]) -> str:
        """Human label of a setting, e.g. 'lr=0.001 beta=0.5' ('base' with no grid)."""
        return " ".join(f"{short_key(k)}={format_value(v)}" for k, v in setting.items()) or "base"

    def folder(self, index: int, setting: dict[str, Any]) -> str:
        # The index keeps folders unique and in grid order even if two labels sanitise alike.
        slug = "_".join(f"{short_key(k)}={format_value(v)}" for k, v in setting.items()) or "base"
        return f"{index:02d}_" + re.sub(r"[^A-Za-z0-9=.,+_\-]+", "-", slug)

    def trials(self) -> list[Trial]:
        out = []
        for index, setting in enumerate(self.settings()):
            for seed in self.seeds:
                raw = json.loads(json.dumps(self.base))
                for key, value in setting.items():
                    apply_override(raw, key.split("."), value)
                raw["train"]["seed"] = seed
                if setting:
                    raw["name"] = f"{self.base['name']} {self.label(setting)}"
                config = Config.from_dict(raw)  # validates: a bad grid value fails before any trial runs
                run_dir = f"{TRIALS_DIR}/{self.folder(index, setting)}/seed-{seed}"
                out.append(Trial(index, seed, run_dir, config.to_dict()))
        return out


def define_sweep(base: Config, grid: list[str], seeds: int) -> SweepDefinition:
    """Seeds run base.train.seed .. base.train.seed + seeds - 1, as `train --seeds` does."""
    if seeds < 1:
        raise ConfigError(f"--seeds: must be at least 1, got {seeds}")
    axes = [parse_grid(text) for text in grid]
    keys = [a.key for a in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
    first = base.train.seed
    definition = SweepDefinition(base.to_dict(), axes, list(range(first, first + seeds)))
    definition.trials()  # build every trial config once so invalid values are reported now
    return definition


def prepare_sweep_dir(sweep_dir: Path, definition: SweepDefinition) -> None:
    """Write sweep.json, or check that the one already there defines the same sweep."""
    path = sweep_dir / SWEEP_FILE
    if path.is_file():
        saved = ckpt.read_json(path, "restore it from a backup, or choose another --out")
        try:
            old = {"base": saved["base"], "seeds": saved["seeds"],
                   "grid": {a["key"]: a["values"] for a in saved["grid"]}}
        except (KeyError, TypeError):
            raise ckpt.RunError(f"{path} is damaged: it does not define a sweep; restore it from a backup, "
                                "or choose another --out") from None
        new = {"base": definition.base, "seeds": definition.seeds,
               "grid": {a.key: a.values for a in definition.grid}}
        differing = [f"{key}: {format_value(a)} in the folder, {format_value(b)} now"
                     for key, a, b in differences(old, new)]
        if differing:
            raise ckpt.RunError(
                f"{sweep_dir} holds a different sweep; it differs in " + "; ".join(differing)
                + ". Re-run with the same definition, or choose another --out."
            )
        return
    if sweep_dir.exists() and any(p.name != LOCK_FILE for p in sweep_dir.iterdir()):
        raise ckpt.RunError(f"{sweep_dir} exists and is not a sweep folder (no {SWEEP_FILE}); choose another --out")
    ckpt.write_json(path, definition.to_dict())


def load_definition(sweep_dir: str | Path) -> SweepDefinition:
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.is_file():
        raise ckpt.RunError(f"{sweep_dir} is not a sweep folder: {SWEEP_FILE} is missing")
    return SweepDefinition.from_dict(ckpt.read_json(path, "the sweep folder is damaged"))


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


# ---- one trial (runs in a Ray worker or in this process) ---------------------------------


def run_trial(config: dict[str, Any], run_dir: str, threads: int = 0, progress: bool = False,
              env: dict[str, str] | None = None, data: Any = None) -> dict[str, Any]:
    """Train one trial into run_dir (absolute); never raises: a failure comes back as a record.

    `threads` limits torch's intra-op threads for this trial without writing it
    into the config, so the run folder is the same whichever executor ran it.
    """
    import torch

    from .train import train

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


def _passed_env() -> dict[str, str]:
    # Workers started by `ray start` may not share this shell's environment; pass the data location.
    from .data import DATA_DIR_ENV

    return {DATA_DIR_ENV: os.environ[DATA_DIR_ENV]} if os.environ.get(DATA_DIR_ENV) else {}


# ---- executors ---------------------------------------------------------------------------

OnResult = Callable[[Trial, dict[str, Any]], None]


def ray_available() -> bool:
    # find_spec, not import: Ray reads its environment switches once, when first imported.
    return importlib.util.find_spec("ray") is not None


def run_sequential(sweep_dir: Path, trials: list[Trial], on_result: OnResult, progress: bool = True) -> None:
    """One trial after another in this process, reusing the loaded dataset between trials."""
    import torch

    from .train import load_data

    cache: dict[str, Any] = {}
    threads_before = torch.get_num_threads()
    try:
        _run_each(sweep_dir, trials, on_result, progress, cache, load_data)
    finally:
        torch.set_num_threads(threads_before)  # the caller's process keeps its own setting


def _run_each(sweep_dir: Path, trials: list[Trial], on_result: OnResult, progress: bool, cache: dict[str, Any],
              load_data: Callable) -> None:
    for trial in trials:
        config = Config.from_dict(trial.config)
        # The data depend on the data section, and on the seed only when labels are hidden.
        key = json.dumps([trial.config["data"], config.train.seed if config.data.labelled_fraction < 1 else None])
        if key not in cache:
            cache.clear()
            try:
                cache[key] = load_data(config)
            except Exception as err:
                on_result(trial, {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": 0.0})
                continue
        result = run_trial(trial.config, str(sweep_dir / trial.run_dir), trial_threads(trial.config), progress,
                           data=cache[key])
        on_result(trial, result)


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
               threads: int = 1) -> None:
    """Each trial is a Ray task asking for `threads` CPUs, so Ray never runs more trials than cores."""
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
            # A private single-node instance on loopback with this machine's cores; no dashboard.
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
    try:
        task = ray.remote(num_cpus=threads, max_retries=1)(run_trial)
        env = _passed_env()
        pending = {task.remote(t.config, str(sweep_dir / t.run_dir), threads, False, env): t for t in trials}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                trial = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except Exception as err:  # the worker died (OOM, node lost): Ray's error is the record
                    result = {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": 0.0}
                on_result(trial, result)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)  # checkpoints stay; the next run resumes them
            raise
    finally:
        if started_here:
            ray.shutdown()


# ---- summary: mean, std, min, max per setting --------------------------------------------


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (n-1; None for one value), min, max, n."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarise(definition: SweepDefinition, results: dict[str, dict[str, Any]], metrics: list[str],
              select_metric: str) -> dict[str, Any]:
    """results: trial run_dir -> record from run_trial (plus 'skipped' for finished earlier)."""
    metrics = [metric_key(m) for m in metrics]
    select_metric = metric_key(select_metric)
    trials = definition.trials()
    settings = []
    for index, setting in enumerate(definition.settings()):
        runs = []
        for t in (t for t in trials if t.setting == index):
            record = results.get(t.run_dir, {"status": "missing"})
            runs.append({"seed": t.seed, "run_dir": t.run_dir, **record})
        done = [r for r in runs if r["status"] == "done"]
        stats = {}
        for m in metrics:
            values = [r["final"][m] for r in done if isinstance(r["final"].get(m), (int, float))
                      and math.isfinite(r["final"][m])]
            if values:
                stats[m] = spread(values)
        settings.append({"index": index, "label": definition.label(setting), "values": setting,
                         "folder": f"{TRIALS_DIR}/{definition.folder(index, setting)}",
                         "runs_done": len(done), "runs_total": len(runs), "metrics": stats, "runs": runs})
    scored = [(r["final"][select_metric], s["label"], r) for s in settings for r in s["runs"]
              if r["status"] == "done" and isinstance(r["final"].get(select_metric), (int, float))
              and math.isfinite(r["final"][select_metric])]
    best_run = None
    if scored:
        value, label, run = best_by(select_metric, scored, lambda x: x[0])
        best_run = {"run_dir": run["run_dir"], "setting": label, "seed": run["seed"], "value": value}
    means = [(s["metrics"][select_metric]["mean"], s["label"]) for s in settings if select_metric in s["metrics"]]
    best_setting = None
    if means:
        value, label = best_by(select_metric, means, lambda x: x[0])
        best_setting = {"setting": label, "mean": value}
    failed = [{"run_dir": r["run_dir"], "error": r.get("error", r["status"])}
              for s in settings for r in s["runs"] if r["status"] != "done"]
    return {
        "name": definition.base["name"],
        "metrics": metrics,
        "select_metric": select_metric,
        "higher_is_better": not lower_is_better(select_metric),
        "seeds": definition.seeds,
        "grid": {a.key: a.values for a in definition.grid},
        "settings": settings,
        "best_run": best_run,
        "best_setting": best_setting,
        "failed": failed,
    }


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def _first_sentence(text: str, limit: int = 120) -> str:
    head = text.split(". ")[0].splitlines()[0] if text else ""
    return head if len(head) <= limit else head[: limit - 1] + "…"


def markdown_table(summary: dict[str, Any]) -> str:
    """The summary as Markdown: one row per setting, mean ± std, min and max of each chosen metric."""
    metrics = summary["metrics"]
    head = ["setting", "runs"]
    for m in metrics:
        short = m.removeprefix("test_")
        head += [f"{short} mean ± std", f"{short} min", f"{short} max"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for s in summary["settings"]:
        row = [f"`{s['label']}`", f"{s['runs_done']}/{s['runs_total']}"]
        for m in metrics:
            st = s["metrics"].get(m)
            if st is None:
                row += ["–", "–", "–"]
            else:
                row += [f"{_num(st['mean'])} ± {_num(st['std'])}", _num(st["min"]), _num(st["max"])]
        lines.append("| " + " | ".join(row) + " |")
    seeds = summary["seeds"]
    notes = [f"\nSeeds {seeds[0]}–{seeds[-1]} ({len(seeds)} per setting); std is the sample standard "
             "deviation over seeds (n−1)."]
    if summary["best_run"]:
        b = summary["best_run"]
        notes.append(f"Best run by {summary['select_metric']}: `{b['run_dir']}` ({_num(b['value'])})"
                     + (f"; best setting by mean: `{summary['best_setting']['setting']}`." if summary["best_setting"]
                        else "."))  # no best setting when the select metric is not among --metrics
    if summary["failed"]:
        notes.append(f"{len(summary['failed'])} trial(s) failed (full errors in {SUMMARY_FILE}):")
        notes += [f"- `{f['run_dir']}`: {_first_sentence(f['error'])}" for f in summary["failed"]]
    return "\n".join(lines) + "\n" + "\n".join(notes) + "\n"


# ---- the whole sweep ---------------------------------------------------------------------


def default_metrics(select_metric: str) -> list[str]:
    chosen = [metric_key(select_metric)]
    return chosen + [m for m in ("test_recon_bce",) if m not in chosen]


@holds_folder_lock("sweep_dir", "sweep")
def run_sweep(definition: SweepDefinition, sweep_dir: str | Path, metrics: list[str] | None = None,
              select_metric: str | None = None, executor: str = "auto", address: str | None = None,
              progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every trial not finished yet, then write and return the summary.

    executor: "auto" (Ray if installed, else sequential), "ray" or "sequential".
    """
    sweep_dir = Path(sweep_dir).resolve()  # workers need an absolute path; their cwd is not ours
    select_metric = metric_key(select_metric or definition.base["train"]["select_metric"])
    metrics = [metric_key(m) for m in (metrics or default_metrics(select_metric))]
    ckpt.remove_partial_writes(sweep_dir)
    prepare_sweep_dir(sweep_dir, definition)
    trials = definition.trials()

    results: dict[str, dict[str, Any]] = {}
    todo = []
    for t in trials:
        folder = sweep_dir / t.run_dir
        if (folder / ckpt.SUMMARY_FILE).is_file():
            results[t.run_dir] = {"status": "done", "final": ckpt.read_summary(folder)["final"], "skipped": True}
        else:
            todo.append(t)
    resumed = sum(1 for t in todo if (sweep_dir / t.run_dir).exists())

    if executor == "auto":
        executor = "ray" if ray_available() else "sequential"
        if executor == "sequential":
            log(f"Ray is not installed: running trials one after another in this process; {RAY_HINT}")
    if executor == "ray" and not ray_available():
        raise ConfigError(f"Ray is needed for {'--address' if address else 'parallel runs'}; {RAY_HINT}")
    if address and executor != "ray":
        raise ConfigError("--address needs the Ray executor; drop --sequential")

    labels = {t.run_dir: definition.label(definition.settings()[t.setting]) for t in trials}
    log(f"sweep {sweep_dir}: {len(trials)} trials, {len(trials) - len(todo)} finished earlier, "
        f"{len(todo)} to run ({resumed} resumed) on {executor}" + (f" at {address}" if address else ""))
    count = [len(trials) - len(todo)]

    def on_result(trial: Trial, result: dict[str, Any]) -> None:
        results[trial.run_dir] = result
        count[0] += 1
        what = (", ".join(f"{m.removeprefix('test_')}={_num(result['final'].get(m))}" for m in metrics)
                if result["status"] == "done" else f"FAILED: {result['error']}")
        log(f"[{count[0]}/{len(trials)}] {labels[trial.run_dir]} seed {trial.seed}: {what} ({result['seconds']:.0f} s)")

    if todo and executor == "ray":
        run_on_ray(sweep_dir, todo, on_result, address, trial_threads(definition.base))
    elif todo:
        run_sequential(sweep_dir, todo, on_result, progress)

    summary = summarise(definition, results, metrics, select_metric)
    ckpt.write_json(sweep_dir / SUMMARY_FILE, summary)
    ckpt.atomic_write(sweep_dir / TABLE_FILE, lambda tmp: tmp.write_text(markdown_table(summary)))
    return summary


def read_sweep_summary(sweep_dir: str | Path) -> dict[str, Any]:
    path = Path(sweep_dir) / SUMMARY_FILE
    if not path.is_file():
        raise ckpt.RunError(f"{path} does not exist: run the sweep (or re-run it to finish) first")
    return json.loads(path.read_text())


# ---- figures and the report section ------------------------------------------------------


def plot_spread(summary: dict[str, Any], metric: str, path: str | Path) -> Path:
    """Box plot per setting with every seed's value as a jittered point on top (strip plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metric = metric_key(metric)
    settings = summary["settings"]
    values = [[r["final"][metric] for r in s["runs"] if r["status"] == "done" and metric in r["final"]]
              for s in settings]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(settings) + 1.5), 3.6))
    positions = list(range(1, len(settings) + 1))
    ax.boxplot([v if v else [math.nan] for v in values], positions=positions, widths=0.5, showfliers=False)
    jitter = np.random.default_rng(0)  # fixed: the figure is reproducible
    for pos, vals in zip(positions, values):
        ax.scatter(pos + jitter.uniform(-0.12, 0.12, len(vals)), vals, s=18, alpha=0.8, zorder=3)
    ax.set_xticks(positions, [s["label"] for s in settings], rotation=30 if len(settings) > 3 else 0, ha="right"
                  if len(settings) > 3 else "center", fontsize=8)
    ax.set_ylabel(metric.removeprefix("test_"))
    ax.set_title(f"{summary['name']}: spread over {len(summary['seeds'])} seeds", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep_report_section(sweep_dir: str | Path, figure_dir: str | Path) -> dict[str, Any]:
    """What a report shows for a sweep folder: the Markdown table and one spread figure per metric.

    Returns {"title", "markdown", "figures": [(metric, path)]}; figures are written under figure_dir.
    """
    sweep_dir = Path(sweep_dir)
    summary = read_sweep_summary(sweep_dir)
    figures = [(m, plot_spread(summary, m, Path(figure_dir) / f"sweep_spread_{m.removeprefix('test_')}.png"))
               for m in summary["metrics"]]
    return {"title": f"Sweep {summary['name']} ({sweep_dir})", "markdown": markdown_table(summary),
            "summary": summary, "figures": figures}


def print_table(summary: dict[str, Any], file=sys.stdout) -> None:
    print(markdown_table(summary), file=file)


def _html_table(summary: dict[str, Any]) -> str:
    import html

    e = html.escape
    head = "".join(f"<th>{e(m.removeprefix('test_'))} mean ± std</th><th>min</th><th>max</th>"
                   for m in summary["metrics"])
    rows = []
    for s in summary["settings"]:
        cells = ""
        for m in summary["metrics"]:
            st = s["metrics"].get(m)
            cells += ("<td>–</td>" * 3 if st is None else
                      f"<td>{_num(st['mean'])} ± {_num(st['std'])}</td><td>{_num(st['min'])}</td>"
                      f"<td>{_num(st['max'])}</td>")
        rows.append(f"<tr><td>{e(s['label'])}</td><td>{s['runs_done']}/{s['runs_total']}</td>{cells}</tr>")
    return f"<table><tr><th>setting</th><th>runs</th>{head}</tr>{''.join(rows)}</table>"


def add_sweep_sections(page: str, markdown: str, sweep_dirs: list[Path], out: Path,
                       keep_run_tables: bool) -> tuple[str, str]:
    """Add one section per sweep folder to the report's HTML page and Markdown twin.

    Figures go to <out stem>_sweeps/<sweep folder name>/ beside the report (embedded in the
    HTML, linked from the Markdown). With no ordinary runs, the empty run tables are dropped.
    """
    import base64
    import html

    e = html.escape
    page_parts, text_parts = [], []
    for sweep_dir in sweep_dirs:
        section = sweep_report_section(sweep_dir, out.parent / f"{out.stem}_sweeps" / Path(sweep_dir).resolve().name)
        notes = markdown_table(section["summary"]).split("\n\n", 1)[-1]  # the lines under the table
        images = "".join(
            f'<img alt="{e(metric)} over seeds" src="data:image/png;base64,'
            f'{base64.b64encode(path.read_bytes()).decode("ascii")}">' for metric, path in section["figures"])
        page_parts.append(f"<h2>{e(section['title'])}</h2>{_html_table(section['summary'])}"
                          f'<p class="note">{e(notes).replace(chr(10), "<br>")}</p>{images}')
        links = "\n".join(f"![{m} over seeds]({Path(os.path.relpath(p.resolve(), out.parent.resolve())).as_posix()})"
                          for m, p in section["figures"])
        text_parts.append(f"## {section['title']}\n\n{section['markdown']}\n{links}\n")
    sweeps_html, sweeps_md = "\n".join(page_parts), "\n".join(text_parts)
    if not keep_run_tables and "<h2>Metrics</h2>" in page:
        return page.split("<h2>Metrics</h2>")[0] + sweeps_html + "</body></html>", "# latentcraft report\n\n" + sweeps_md
    return page.replace("</body></html>", sweeps_html + "</body></html>"), markdown + "\n" + sweeps_md
