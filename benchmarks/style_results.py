"""The routed-style targets over a sweep's seeds: training metrics and `evaluate`'s style and robustness metrics.

    python benchmarks/style_results.py SWEEP_DIR [SWEEP_DIR ...]

reads every SWEEP_DIR/trials/*/seed-*/summary.json and, where `latentcraft evaluate`
has written it, eval.json, and prints one Markdown table per sweep: mean ± std,
min and max over the seeds of each metric, and how many seeds have it. The per-epoch
test metrics come from training (summary.json); the style probe, style transfer,
one-sample ELBO and the robustness rows need `latentcraft evaluate` on each seed first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from latentcraft.evaluation.robustness import TRANSFORMS
from latentcraft.sweeps.summary import spread, stat_cells

FROM_TRAINING = ("test_argmax_accuracy", "test_recon_sq", "test_recon_bce", "test_elbo")
FROM_EVALUATE = ("test_elbo", "style_probe_accuracy", "style_transfer_accuracy", "style_transfer_own_digit_sq_error",
                 "handwriting_accuracy", "handwriting_judge_accuracy",
                 *(f"argmax_accuracy_{key}" for key in TRANSFORMS))  # the robustness rows, one per transform
# The transforms a drawing differs from a test digit by: the worst of them is one robustness number.
HARD_TRANSFORMS = ("rotate_ccw", "rotate_cw", "thicker", "thinner")
UNNAMED_LABELS = ("little effect", "mixed")  # style labels that give a slider no measured meaning


def seed_records(sweep: Path, trial: str = "*") -> list[dict[str, float]]:
    """One record per finished seed of the trials matching `trial`: training's final test metrics, then
    evaluate's (prefixed "eval ")."""
    records = []
    for run in sorted(sweep.glob(f"trials/{trial}/seed-*")):
        if not (run / "summary.json").is_file():
            continue
        summary = json.loads((run / "summary.json").read_text())
        record = {k: summary["final"][k] for k in FROM_TRAINING if k in summary["final"]}
        record["wall_time_s"] = summary["wall_time_s"]
        if (run / "eval.json").is_file():
            record.update(evaluated(json.loads((run / "eval.json").read_text())))
        records.append(record)
    return records


def evaluated(report: dict) -> dict[str, float]:
    """What `latentcraft evaluate` measured (prefixed "eval "), with two summaries: the worst accuracy over
    HARD_TRANSFORMS and how many style sliders have a measured meaning."""
    metrics = report["metrics"]
    record = {f"eval {k}": metrics[k] for k in FROM_EVALUATE if k in metrics}
    hard = [metrics.get(f"argmax_accuracy_{key}") for key in HARD_TRANSFORMS]
    if all(value is not None for value in hard):
        record["eval worst_transform_accuracy"] = min(hard)
    labels = (report.get("style") or {}).get("labels")
    if labels:
        record["eval style_sliders_named"] = sum(not label["label"].startswith(UNNAMED_LABELS) for label in labels)
    return record


def table(records: list[dict[str, float]]) -> str:
    names = list(dict.fromkeys(k for r in records for k in r))
    lines = ["| metric | mean ± std | min | max | seeds |", "|---|---|---|---|---|"]
    for name in names:
        values = [r[name] for r in records if name in r]
        lines.append(f"| {name} | " + " | ".join(stat_cells(spread(values))) + f" | {len(values)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="sweep folders (latentcraft sweep --out)")
    args = parser.parse_args(argv)
    for sweep in args.sweeps:
        records = seed_records(sweep)
        if not records:
            print(f"{sweep}: no finished seed (no trials/*/seed-*/summary.json)", file=sys.stderr)
            continue
        print(f"\n## {sweep}\n\n{table(records)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
