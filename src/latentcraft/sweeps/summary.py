"""A sweep's results: mean, std, min and max per setting, the best run, and the failures.

sweep_summary.json holds them for programs (the report reads it); sweep_summary.md
is the same as a Markdown table to paste into a README.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from latentcraft.errors import ConfigError
from latentcraft.evaluation.metrics import logged_metrics, lower_is_better
from latentcraft.evaluation.registry import best_by, metric_key, registered
from latentcraft.sweeps.definition import SweepDefinition
from latentcraft.training import checkpoint as ckpt

SUMMARY_FILE = "sweep_summary.json"
TABLE_FILE = "sweep_summary.md"


def sweep_metric(name: str, option: str = "--metrics") -> str:
    """`name` as trials record it (metric_key); ConfigError if training does not log it, listing what it logs.

    A sweep summarises its trials' summary.json, so metrics only `latentcraft evaluate`
    measures (probes, DCI, log p(x)) would be empty columns.
    """
    key = metric_key(name)
    if key in logged_metrics():
        return key
    known = ", ".join(logged_metrics())
    if key in registered():
        raise ConfigError(f"{option}: {name!r} is measured by `latentcraft evaluate`, not logged by training, so "
                          f"a sweep's trials do not have it; a sweep can summarise {known}")
    raise ConfigError(f"{option}: unknown metric {name!r}; a sweep can summarise {known} (the test_ may be left out)")


def default_metrics(select_metric: str) -> list[str]:
    """What a sweep summarises unless told: the select metric and the reconstruction error."""
    chosen = [metric_key(select_metric)]
    return chosen + [m for m in ("test_recon_bce",) if m not in chosen]


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (n-1; None for one value), min, max, n."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def _finite(final: dict[str, Any], metric: str) -> bool:
    value = final.get(metric)
    return isinstance(value, (int, float)) and math.isfinite(value)


def summarise(definition: SweepDefinition, results: dict[str, dict[str, Any]], metrics: list[str],
              select_metric: str) -> dict[str, Any]:
    """results: trial run_dir -> record from run_trial (plus 'skipped' for finished earlier)."""
    metrics = [metric_key(m) for m in metrics]
    select_metric = metric_key(select_metric)
    trials = definition.trials()
    settings: list[dict[str, Any]] = []
    for index, setting in enumerate(definition.settings()):
        runs: list[dict[str, Any]] = []
        for t in (t for t in trials if t.setting == index):
            record = results.get(t.run_dir, {"status": "missing"})
            runs.append({"seed": t.seed, "run_dir": t.run_dir, **record})
        done = [r for r in runs if r["status"] == "done"]
        stats = {}
        for m in metrics:
            values = [r["final"][m] for r in done if _finite(r["final"], m)]
            if values:
                stats[m] = spread(values)
        settings.append({"index": index, "label": definition.label(setting), "values": setting,
                         "folder": definition.folder(index, setting),
                         "runs_done": len(done), "runs_total": len(runs), "metrics": stats, "runs": runs})
    scored = [(r["final"][select_metric], s["label"], r) for s in settings for r in s["runs"]
              if r["status"] == "done" and _finite(r["final"], select_metric)]
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


# ---- text ----------------------------------------------------------------------------------


def format_stat(value: float | None) -> str:
    """A summary number: 4 decimals, 1 for large values; '–' where there is none (std of one run)."""
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def stat_cells(stats: dict[str, Any] | None) -> list[str]:
    """The three table cells of one metric of one setting: 'mean ± std', min, max."""
    if stats is None:
        return ["–"] * 3
    return [f"{format_stat(stats['mean'])} ± {format_stat(stats['std'])}", format_stat(stats["min"]),
            format_stat(stats["max"])]


def _first_sentence(text: str, limit: int = 120) -> str:
    head = text.split(". ")[0].splitlines()[0] if text else ""
    return head if len(head) <= limit else head[: limit - 1] + "…"


def table_notes(summary: dict[str, Any]) -> list[str]:
    """The lines under the table: what std means, the best run and setting, the failed trials."""
    seeds = summary["seeds"]
    notes = [f"Seeds {seeds[0]}–{seeds[-1]} ({len(seeds)} per setting); std is the sample standard "
             "deviation over seeds (n−1)."]
    if summary["best_run"]:
        b = summary["best_run"]
        best_setting = summary["best_setting"]  # None when the select metric is not among --metrics
        notes.append(f"Best run by {summary['select_metric']}: `{b['run_dir']}` ({format_stat(b['value'])})"
                     + (f"; best setting by mean: `{best_setting['setting']}`." if best_setting else "."))
    if summary["failed"]:
        notes.append(f"{len(summary['failed'])} trial(s) failed (full errors in {SUMMARY_FILE}):")
        notes += [f"- `{f['run_dir']}`: {_first_sentence(f['error'])}" for f in summary["failed"]]
    return notes


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
            row += stat_cells(s["metrics"].get(m))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(table_notes(summary)) + "\n"


# ---- files ---------------------------------------------------------------------------------


def write_summary(sweep_dir: Path, summary: dict[str, Any]) -> None:
    ckpt.write_json(sweep_dir / SUMMARY_FILE, summary)
    def write_table(tmp: Path) -> None:
        tmp.write_text(markdown_table(summary))

    ckpt.atomic_write(sweep_dir / TABLE_FILE, write_table)


def read_sweep_summary(sweep_dir: str | Path) -> dict[str, Any]:
    path = Path(sweep_dir) / SUMMARY_FILE
    if not path.is_file():
        raise ckpt.RunError(f"{path} does not exist: run the sweep (or re-run it to finish) first")
    return ckpt.read_json(path, "re-run the sweep to write it again")
