"""Epoch time on other image shapes against an MNIST epoch, in the same process.

One epoch of a preset (an epoch is train.epoch_images = 60,000 images whatever
the dataset, so every row trains the same number of steps) on:

- mnist   28×28 grey, 10 classes (the baseline)
- blobs   32×32 RGB, 6 classes (the generated colour set)
- shapes  64×64 grey, 4 classes (the generated dSprites-like set)

Rounds interleave the datasets (mnist, blobs, shapes, mnist, ...) so a busy
machine slows them alike; the ratios use each dataset's median epoch.

    export LATENTCRAFT_DATA_DIR=../shared/data/mnist
    .venv/bin/python benchmarks/own_data_speed.py                       # routed10, 3 rounds of full epochs
    .venv/bin/python benchmarks/own_data_speed.py --preset routed-style --images 12800 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics

import torch

from latentcraft.config.run_config import record_data, resolve_config
from latentcraft.data.source import load_config_data

from train_speed import latentcraft_epoch  # this folder is on the path when a benchmark runs as a script

DATASETS = ("mnist", "blobs", "shapes")


def epoch_seconds(preset: str, dataset: str, images: int, threads: int) -> float:
    """Seconds of one epoch of `images` images, the model built and sized as training builds it."""
    config = resolve_config(preset, overrides=[f"data.dataset={dataset}", f"train.epoch_images={images}",
                                               f"train.threads={threads}"])
    train_set = load_config_data(config, "train")
    config = record_data(config, train_set.shape)
    if images < len(train_set):  # a quick run: the first `images` images once
        train_set = train_set.subset(slice(0, images))
    return latentcraft_epoch(config, train_set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="routed10", help="preset to time (default: routed10)")
    parser.add_argument("--images", type=int, default=60_000, help="images per epoch (default: 60000)")
    parser.add_argument("--rounds", type=int, default=3, help="epochs per dataset, interleaved (default: 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {name: [] for name in DATASETS}
    for round_index in range(args.rounds):
        for name in DATASETS:
            seconds = epoch_seconds(args.preset, name, args.images, args.threads)
            times[name].append(seconds)
            print(f"round {round_index + 1}: {name:7s} {seconds:7.2f} s", flush=True)
    base = statistics.median(times["mnist"])
    print(f"\n{args.preset}, {args.images} images per epoch, {args.threads} thread(s), median of {args.rounds}:")
    for name in DATASETS:
        median = statistics.median(times[name])
        print(f"  {name:7s} {median:7.2f} s  ({median / base:.2f}× the MNIST epoch; "
              f"min {min(times[name]):.2f}, max {max(times[name]):.2f})")


if __name__ == "__main__":
    main()
