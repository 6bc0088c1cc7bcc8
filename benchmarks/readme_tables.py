"""Regenerate the README's results tables from sweep folders, so no number in them is typed by hand.

    python benchmarks/readme_tables.py [--sweeps DIR] [--readme README.md] [--check]

A generated table sits between `<!-- table: NAME -->` and `<!-- /table -->` lines in the
README; the script rewrites what is between them and nothing else. Every number comes from
the trials of a sweep folder under --sweeps: summary.json (training's final test metrics and
wall time) and eval.json (`latentcraft evaluate`). A table whose sweeps are missing is left
as it was, and the script names the commands that make them and exits 1. --check writes
nothing and exits 1 if a table would change.

Tables:
  presets      routed10, routed-style and plain-style over their seeds
  robust-axes  the recommended preset against the targets for routed axes that hold up
  tries        one row per trial of every sweeps/tries-* folder: what was tried, and what it gave
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from style_results import seed_records

from latentcraft.config.run_config import resolve_config
from latentcraft.config.sources import differences

Records = list[dict[str, float]]
Reader = Callable[[str], Records]  # a sweep's name -> one record per finished seed
EVALUATE = "for s in 0 1 2 3 4; do latentcraft evaluate sweeps/{name}/trials/00_base/seed-$s; done"
SWEEP = "latentcraft sweep --seeds 5 --sequential --set train.threads=1"
PREVIOUS = "--set data.augment=false --set routing.consistency=0"  # routed-style before the consistency term
# Each sweep a table reads, and the commands that make it (run from the repository root).
SWEEPS = {
    "routed-style": [f"{SWEEP} --preset routed-style --out sweeps/routed-style", EVALUATE.format(name="routed-style")],
    "routed-style-previous": [f"{SWEEP} --preset routed-style {PREVIOUS} --out sweeps/routed-style-previous",
                              EVALUATE.format(name="routed-style-previous")],
    "plain-style": [f"{SWEEP} --preset plain-style --out sweeps/plain-style", EVALUATE.format(name="plain-style")],
    "routed10": [f"{SWEEP} --preset routed10 --out sweeps/routed10"],
    "routed-style-10-per-class": [f"{SWEEP} --preset routed-style --set data.labels_per_class=10 "
                                  "--out sweeps/routed-style-10-per-class"],
    "routed-style-1pct": [f"{SWEEP} --preset routed-style --set data.labelled_fraction=0.01 "
                          "--out sweeps/routed-style-1pct"],
}
# The targets table's columns: (heading, sweep); the verdicts judge the last one.
COLUMNS = [("`routed-style` before (no consistency term)", "routed-style-previous"), ("`routed-style`", "routed-style")]


class MissingSweep(Exception):
    """A table needs a sweep folder that has no finished seed."""


@dataclass
class Row:
    label: str
    values: Callable[[Reader, str], list[float]]  # (sweep reader, the column's sweep) -> one value per seed
    percent: bool  # shown × 100 with a %
    target: str  # as the table states it
    met: Callable[[list[float]], float] | None  # short of the target by (0: met); None: a reference row


def metric(key: str, suffix: str = "") -> Callable[[Reader, str], list[float]]:
    """`key` of each seed of the column's sweep, or of its sibling sweep named with `suffix`."""
    return lambda read, sweep: [r[key] for r in read(sweep + suffix) if key in r]


def at_least(bound: float, floor: float | None = None) -> Callable[[list[float]], float]:
    """Short by: the mean below `bound` (and the worst seed below `floor`), whichever is more."""
    return lambda v: max(bound - statistics.fmean(v), 0.0 if floor is None else floor - min(v), 0.0)


def at_most(bound: float) -> Callable[[list[float]], float]:
    return lambda v: max(statistics.fmean(v) - bound, 0.0)


def elbo_gap(read: Reader, sweep: str) -> list[float]:
    """Per seed: nats behind plain-style's mean one-sample ELBO."""
    plain = metric("eval test_elbo")(read, "plain-style")
    if not plain:
        raise MissingSweep("plain-style")
    return [statistics.fmean(plain) - value for value in metric("eval test_elbo")(read, sweep)]


def time_ratio(read: Reader, sweep: str) -> list[float]:
    """Per seed: training wall time over routed10's median, swept on the same machine with the same settings."""
    baseline = metric("wall_time_s")(read, "routed10")
    if not baseline:
        raise MissingSweep("routed10")
    return [value / statistics.median(baseline) for value in metric("wall_time_s")(read, sweep)]


ROBUST_AXES = [
    Row("test argmax of the routed coordinates", metric("test_argmax_accuracy"), True, "≥ 98.5%, min seed ≥ 98%",
        at_least(0.985, 0.98)),
    Row("squared error / image", metric("test_recon_sq"), False, "≤ 11", at_most(11)),
    Row("ELBO (1 sample), nats behind `plain-style`", elbo_gap, False, "≤ 3", at_most(3)),
    Row("worst of rotations ±15°, thicker, thinner", metric("eval worst_transform_accuracy"), True, "≥ 95%",
        at_least(0.95)),
    Row("real handwriting it never saw (scikit-learn 8×8)", metric("eval handwriting_accuracy"), True, "≥ 85%",
        at_least(0.85)),
    Row("… the judge CNN on the same images", metric("eval handwriting_judge_accuracy"), True, "(a reference)", None),
    Row("10 labels per class", metric("test_argmax_accuracy", "-10-per-class"), True, "≥ 97%", at_least(0.97)),
    Row("1% of labels", metric("test_argmax_accuracy", "-1pct"), True, "≥ 98%", at_least(0.98)),
    Row("style probe (standardised k-NN, k = 15)", metric("eval style_probe_accuracy"), True, "≤ 20%",
        at_most(0.20)),
    Row("style transfer read by the judge", metric("eval style_transfer_accuracy"), True, "≥ 97%", at_least(0.97)),
    Row("style sliders with a measured meaning (of 10)", metric("eval style_sliders_named"), False, "all 10",
        at_least(10)),
    Row("training time, × `routed10`'s whole run", time_ratio, False, "≤ 2.5×", at_most(2.5)),
]


def cell(values: list[float], percent: bool) -> str:
    if not values:
        return "–"
    scale, unit = (100, "%") if percent else (1, "")
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.2f}{unit} (1 seed)"
    spread = statistics.stdev(values) * scale
    low, high = min(values) * scale, max(values) * scale
    return f"{mean:.2f} ± {spread:.2f}{unit} ({low:.2f} to {high:.2f}, {len(values)} seeds)"


def verdict(row: Row, values: list[float]) -> str:
    if row.met is None:
        return ""
    if not values:
        return "not measured"
    short = row.met(values)
    scale, unit = (100, " points") if row.percent else (1, "")
    return "met" if short <= 0 else f"missed by {short * scale:.2f}{unit}"


def robust_axes_table(read: Reader) -> str:
    for _, sweep in COLUMNS:
        if not read(sweep):
            raise MissingSweep(sweep)
    lines = ["| | " + " | ".join(heading for heading, _ in COLUMNS) + " | target | |",
             "|---|" + "---|" * len(COLUMNS) + "---|---|"]
    for row in ROBUST_AXES:
        columns = [row.values(read, sweep) for _, sweep in COLUMNS]
        cells = " | ".join(cell(values, row.percent) for values in columns)
        lines.append(f"| {row.label} | {cells} | {row.target} | {verdict(row, columns[-1])} |")
    return "\n".join(lines)


# Fields that say where or how fast a run trained, or what it recorded of its data: not what was tried.
NOT_A_CHOICE = {"name", "description", "train.seed", "train.threads", "data.data_dir", "data.image_shape",
                "data.class_names", "objective.reconstruction"}
UNUSED_WITHOUT_AUGMENTATION = {"data.augment_shift", "data.augment_rotate", "data.augment_stroke",
                               "data.reconstruct_augmented"}
TRIED = {"test argmax": ("test_argmax_accuracy", True), "squared error / image": ("test_recon_sq", False),
         "worst of rotations, thicker, thinner": ("eval worst_transform_accuracy", True),
         "handwriting": ("eval handwriting_accuracy", True), "style probe": ("eval style_probe_accuracy", True)}


def setting(sweep: Path, run: Path) -> str:
    """The preset a sweep's run started from and every field it changed, e.g. `routed10` data.augment=True."""
    name = json.loads((sweep / "sweep.json").read_text())["base"]["name"]  # a trial's own name adds its setting
    config = json.loads((run / "config.json").read_text())
    preset = resolve_config(name).to_dict()
    ignored = NOT_A_CHOICE | (set() if config["data"]["augment"] else UNUSED_WITHOUT_AUGMENTATION)
    # A field the run predates (None) took its default then, the preset's value of that time.
    changes = [f"{key}={new}" for key, _, new in differences(preset, config) if key not in ignored and new is not None]
    return " ".join([f"`{name}`", *changes])


def tries_table(sweeps: Path) -> str:
    """One row per trial of every sweeps/tries-* folder: the preset and what it changed, and what it gave."""
    lines = [f"| sweep | setting | seeds | {' | '.join(TRIED)} |", "|---|---|---" + "|---" * len(TRIED) + "|"]
    for sweep in sorted(sweeps.glob("tries-*")):
        for trial in sorted(p for p in (sweep / "trials").glob("*") if p.is_dir()):
            records = seed_records(sweep, trial.name)
            if not records:
                continue
            cells = []
            for key, percent in TRIED.values():
                values = [r[key] for r in records if key in r]
                cells.append(cell(values, percent) if values else "–")
            run = min(trial.glob("seed-*"))
            lines.append(f"| {sweep.name} | {setting(sweep, run)} | {len(records)} | {' | '.join(cells)} |")
    if len(lines) == 2:
        raise MissingSweep("tries-*")
    return "\n".join(lines)


# The presets table: its rows (preset, sweep) and columns (heading, record key, shown as a percentage).
PRESET_ROWS = [("`routed10`", "routed10"), ("`routed-style`", "routed-style"), ("`plain-style`", "plain-style")]
PRESET_COLUMNS = [("test argmax accuracy", "test_argmax_accuracy", True),
                  ("squared error / image", "test_recon_sq", False), ("BCE / image", "test_recon_bce", False),
                  ("test ELBO (μ)", "test_elbo", False)]


def presets_table(read: Reader) -> str:
    """Each preset's final test metrics over its seeds, and the median wall time of a run."""
    lines = ["| preset | " + " | ".join(h for h, _, _ in PRESET_COLUMNS) + " | time per run (median) |",
             "|---|" + "---|" * (len(PRESET_COLUMNS) + 1)]
    for label, sweep in PRESET_ROWS:
        records = read(sweep)
        if not records:
            raise MissingSweep(sweep)
        cells = [cell([r[key] for r in records if key in r], percent) for _, key, percent in PRESET_COLUMNS]
        wall = statistics.median(r["wall_time_s"] for r in records)
        lines.append(f"| {label} | {' | '.join(cells)} | {wall:.0f} s |")
    return "\n".join(lines)


def reader(sweeps: Path) -> Reader:
    """The records of the sweep folders under `sweeps`, by name."""
    return lambda name: seed_records(sweeps / name)


TABLES: dict[str, Callable[[Path], str]] = {
    "presets": lambda sweeps: presets_table(reader(sweeps)),
    "robust-axes": lambda sweeps: robust_axes_table(reader(sweeps)),
    "tries": tries_table,
}
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def regenerate(readme: str, sweeps: Path) -> tuple[str, list[str]]:
    """The README with every table block rewritten, and the names of the tables left as they were."""
    missing: list[str] = []

    def rewrite(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise SystemExit(f"README: unknown table {name!r}; known: {', '.join(TABLES)}")
        try:
            body = TABLES[name](sweeps)
        except MissingSweep as missing_part:
            missing.append(f"{name} (no finished seed for: {missing_part})")
            return match[0]
        return f"{match[1]}{body}\n{match[4]}"

    return BLOCK.sub(rewrite, readme), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=Path, default=Path("sweeps"), help="folder of the sweep folders")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a table would change")
    args = parser.parse_args(argv)
    before = args.readme.read_text(encoding="utf-8")
    after, missing = regenerate(before, args.sweeps)
    for line in missing:
        print(f"left as it was: {line}", file=sys.stderr)
    if missing:
        print("the sweeps, from the repository root:\n  " + "\n  ".join(c for cs in SWEEPS.values() for c in cs),
              file=sys.stderr)
    if args.check:
        if after != before:
            print(f"{args.readme}: tables are out of date; run python benchmarks/readme_tables.py", file=sys.stderr)
            return 1
        return 1 if missing else 0
    if after != before:
        args.readme.write_text(after, encoding="utf-8")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
