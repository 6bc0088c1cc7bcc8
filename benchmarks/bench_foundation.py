"""Speed of the foundation on CPU: data, one training step per body/precision, evaluation, checkpoints.

Every timing is a median from `torch.utils.benchmark` (blocked_autorange), on
real MNIST batches, so numbers are comparable across machines and commits:

    export LATENTCRAFT_DATA_DIR=../shared/data/mnist                 # or pass --data-dir
    .venv/bin/python benchmarks/bench_foundation.py                  # full run, under a minute on 2 idle cores
    .venv/bin/python benchmarks/bench_foundation.py --quick          # a few seconds, rough numbers
    .venv/bin/python benchmarks/bench_foundation.py --json out.json  # also save the numbers

The headline is the projected seconds per epoch of the `routed10-original`
preset (60,000 images, batch 128) against the original code's measured
33 s/epoch on the same kind of 2-core machine (SPEC §1).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

from latentcraft.config.run_config import resolve_config
from latentcraft.data.batches import augment
from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import load_split
from latentcraft.evaluation.metrics import evaluate_split
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.trainer import make_optimizer

ORIGINAL_SECONDS_PER_EPOCH = 33.0  # SPEC §1: the original code, 100 epochs in 56 min on a 2-core machine
TRAIN_IMAGES = 60_000  # full MNIST training split

# (label, preset, overrides): the models whose training step is timed.
STEP_CASES = [
    ("routed10-original fp32", "routed10-original", ["train.precision=fp32"]),
    ("routed10-original bf16", "routed10-original", ["train.precision=bf16"]),
    ("default mlp elbo bf16", None, ["routing.enabled=true", "train.precision=bf16"]),
    ("conv elbo fp32", None, ["model.body=conv", "routing.enabled=true", "train.precision=fp32"]),
    ("conv elbo bf16", None, ["model.body=conv", "routing.enabled=true", "train.precision=bf16"]),
]


@dataclass
class Timing:
    name: str  # what was timed
    median_ms: float  # median time of one call, milliseconds
    per_second: float  # items (images) processed per second
    note: str = ""  # derived figure, e.g. projected epoch time

    def row(self) -> str:
        return f"| {self.name} | {self.median_ms:.2f} | {self.per_second:,.0f} | {self.note} |"


def _time(fn, min_run_time: float) -> float:
    """Median seconds of one fn() call (torch.utils.benchmark, which warms up and picks the block size)."""
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def bench_data(min_run_time: float, batch_size: int, data_dir: str | None) -> tuple[list[Timing], ImageSet, ImageSet]:
    started = time.perf_counter()
    train = load_split("mnist", "train", data_dir)
    load_s = time.perf_counter() - started
    test = load_split("mnist", "test", data_dir)
    timings = [Timing("load train split (IDX .gz -> uint8)", load_s * 1e3, len(train) / load_s, "once per run")]
    generator = torch.Generator().manual_seed(0)
    index = torch.randperm(len(train), generator=generator)[:batch_size]
    s = _time(lambda: train.floats(index), min_run_time)
    timings.append(Timing(f"batch of {batch_size} to floats", s * 1e3, batch_size / s))
    x = train.floats(index)
    s = _time(lambda: augment(x, generator, 2.0, 10.0), min_run_time)
    timings.append(Timing(f"augment a batch of {batch_size}", s * 1e3, batch_size / s))
    return timings, train, test


def _step_fn(config, train):
    """One optimiser step of the trainer's inner loop, on a fixed real batch."""
    torch.manual_seed(0)
    model = build_model(config).train()
    optimizer = make_optimizer(model, config)
    index = torch.arange(config.train.batch_size)
    x, y = train.floats(index), train.labels[index]
    bf16 = config.train.precision == "bf16"

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()

    return model, step


def bench_steps(min_run_time: float, train: ImageSet, test: ImageSet, cases: list = STEP_CASES) -> list[Timing]:
    timings = []
    for label, preset, overrides in cases:
        config = resolve_config(preset, overrides=overrides)
        model, step = _step_fn(config, train)
        s = _time(step, min_run_time)
        batch = config.train.batch_size
        epoch_s = s * math.ceil(TRAIN_IMAGES / batch)
        note = f"≈ {epoch_s:.1f} s/epoch"
        if preset == "routed10-original":
            note += f" ({ORIGINAL_SECONDS_PER_EPOCH / epoch_s:.1f}x the original's {ORIGINAL_SECONDS_PER_EPOCH:.0f} s)"
        timings.append(Timing(f"train step: {label}, batch {batch}", s * 1e3, batch / s, note))
        if preset == "routed10-original" and config.train.precision == "fp32":
            s = _time(partial(evaluate_split, model, test, config.train.eval_batch_size), min_run_time)
            timings.append(Timing(f"evaluate_split, {len(test):,} test images", s * 1e3, len(test) / s,
                                  "once per epoch"))
            with tempfile.TemporaryDirectory() as folder:
                run = Path(folder)
                s = _time(partial(ckpt.save_model, model, run), min_run_time)
                timings.append(Timing("save_model (config.json + safetensors)", s * 1e3, 1 / s, "models per second"))
                s = _time(partial(ckpt.load_model, run), min_run_time)
                timings.append(Timing("load_model", s * 1e3, 1 / s, "models per second"))
    return timings


def run(quick: bool = False, threads: int = 0, data_dir: str | None = None, cases: list = STEP_CASES) -> dict:
    if threads:
        torch.set_num_threads(threads)
    min_run_time = 0.05 if quick else 2.0
    data_timings, train, test = bench_data(min_run_time, 128, data_dir)
    timings = data_timings + bench_steps(min_run_time, train, test, cases)
    return {
        # The load average says whether other work shared the cores: timings taken under load are pessimistic.
        "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cores": os.cpu_count(), "quick": quick,
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "timings": [t.__dict__ for t in timings],
    }


def to_markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"torch {m['torch']}, {m['threads']} of {m['cores']} cores, load average {m['load_average_1min']}"
             f"{' (quick)' if m['quick'] else ''}", "",
             "| what | median ms | images/s | note |", "| --- | ---: | ---: | --- |"]
    lines += [Timing(**t).row() for t in result["timings"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short timing windows (seconds, not minutes); rough")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder with the MNIST IDX files (else $LATENTCRAFT_DATA_DIR, ...)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    result = run(args.quick, args.threads, args.data_dir)
    print(to_markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
