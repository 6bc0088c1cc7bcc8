"""Write the synthetic datasets with known factors (latentcraft.data.synthetic) as .npz files, timing each.

    python benchmarks/make_datasets.py --out DIR [--train 20000] [--test 2000] [--seed 0]

Writes DIR/shapes32.npz and DIR/shapes64.npz (dSprites-like: shape, scale,
orientation, x, y) and DIR/blobs32.npz (4 coloured-blob classes; colour, scale,
x, y as nuisance factors), each in the project's .npz layout (x_train, y_train,
x_test, y_test, factors_train, factors_test, class_names, factor_names). The
train set uses seed 2·SEED and the test set 2·SEED + 1, so no two seeds share a
stream. Prints the seconds each file took and its size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from latentcraft.data.synthetic import SyntheticSet, colour_blobs, save_npz, shapes

DATASETS: dict[str, Callable[[int, int], SyntheticSet]] = {
    "shapes32": lambda n, seed: shapes(n, size=32, seed=seed),
    "shapes64": lambda n, seed: shapes(n, size=64, seed=seed),
    "blobs32": lambda n, seed: colour_blobs(n, size=32, classes=4, seed=seed),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder to write the .npz files to (created)")
    parser.add_argument("--train", type=int, default=20_000, help="training images per dataset (default: 20000)")
    parser.add_argument("--test", type=int, default=2_000, help="test images per dataset (default: 2000)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    parser.add_argument("--only", nargs="+", choices=sorted(DATASETS), help="write only these datasets")
    args = parser.parse_args()
    if args.train < 1 or args.test < 1:
        parser.error("--train and --test must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)

    for name in args.only or DATASETS:
        make = DATASETS[name]
        start = time.perf_counter()
        train, test = make(args.train, 2 * args.seed), make(args.test, 2 * args.seed + 1)
        drawn = time.perf_counter() - start
        path = args.out / f"{name}.npz"
        save_npz(path, train, test)
        total = time.perf_counter() - start
        print(f"{path}: {args.train} + {args.test} images {train.images.shape[1:]}, factors "
              f"{dict(zip(train.factor_names, train.factor_sizes))}; {drawn:.1f} s to draw, {total:.1f} s in all, "
              f"{path.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
