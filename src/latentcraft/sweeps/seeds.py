"""`train --seeds N`: a sweep over seeds alone, whose best run is copied to the top of its folder.

The folder is a sweep folder (sweep.json, sweep_summary.json and .md) with the
trials in seed-<k>/, so re-running skips finished seeds and resumes interrupted
ones. Beside them sit the best seed's config, weights, metrics and summary, so
evaluate, plot, export and report treat the folder as that run; seeds.json
records which seed won and why.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from latentcraft.config.run_config import Config
from latentcraft.data.mnist import locate
from latentcraft.evaluation.registry import metric_key
from latentcraft.sweeps.definition import define_sweep
from latentcraft.sweeps.execution import run_sweep
from latentcraft.training import checkpoint as ckpt

SEEDS_FILE = "seeds.json"
BEST_FILES = (ckpt.CONFIG_FILE, ckpt.WEIGHTS_FILE, ckpt.METRICS_FILE, ckpt.SUMMARY_FILE)


def train_seeds(config: Config, run_dir: str | Path, seeds: int, metric: str | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Train seeds seed..seed+n-1 into run_dir/seed-K, copy the best (by `metric`) to run_dir.

    Returns (and writes to seeds.json) {"metric", "best_seed", "best_value", "runs": [one per seed]}.
    """
    run_dir = Path(run_dir)
    metric = metric_key(metric or config.train.select_metric)
    definition = define_sweep(config, [], seeds, trials_at_top=True)
    d = config.data
    locate(d.dataset, d.data_dir, d.download)  # no dataset: one clear error, and nothing written yet
    # In this process with the threads `train` itself would use (threads=0), and no per-trial log
    # lines: the caller prints the returned record.
    summary = run_sweep(definition, run_dir, select_metric=metric, executor="sequential", progress=progress,
                        log=lambda line: None, threads=0)
    if summary["failed"]:
        first = summary["failed"][0]
        raise ckpt.RunError(f"{len(summary['failed'])} of {seeds} seeds failed, first {run_dir / first['run_dir']}: "
                            f"{first['error']} (finished seeds are kept; re-run the same command to retry)")
    (setting,) = summary["settings"]
    runs = []
    for run in setting["runs"]:
        value = run["final"].get(metric)
        if value is None or not math.isfinite(value):
            choices = sorted(run["final"])
            raise ckpt.RunError(f"metric {metric!r} is not reported by this model; choose one of {choices}")
        runs.append({"seed": run["seed"], "run_dir": str(run_dir / run["run_dir"]), metric: value,
                     "final": run["final"]})
    best = summary["best_run"]
    for name in BEST_FILES:
        shutil.copyfile(run_dir / best["run_dir"] / name, run_dir / name)
    record = {"metric": metric, "best_seed": best["seed"], "best_value": best["value"], "runs": runs}
    ckpt.write_json(run_dir / SEEDS_FILE, record)
    return record
