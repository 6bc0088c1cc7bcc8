"""Write the synthetic datasets with known factors (latentcraft.data.synthetic) as .npz files, timing each.

    python benchmarks/make_datasets.py --out DIR [--train 20000] [--test 2000] [--seed 0]

Writes DIR/shapes32.npz and DIR/shapes64.npz (dSprites-like: shape, scale,
orientation, x, y) and DIR/blobs32.npz (4 coloured-blob classes; colour, scale,
x, y as nuisance factors), each in the project's .npz layout (x_train, y_train,
x_test, y_test, factors_train, factors_test, class_names, factor_names). The
train set uses seed 2·SEED and the test set 2·SEED + 1, so no two seeds share a
stream. Prints the seconds each file took and its size.

Also DIR/digits8/: scikit-learn's 1,797 real 8×8 handwritten digits as an image-folder
tree (one folder of PNGs per digit, no test split: latentcraft holds one out), the
real-handwriting dataset the README's own-data table trains on.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from latentcraft.data.synthetic import SyntheticSet, colour_blobs, save_npz, shapes

DATASETS: dict[str, Callable[[int, int], SyntheticSet]] = {
    "shapes32": lambda n, seed: shapes(n, size=32, seed=seed),
    "shapes64": lambda n, seed: shapes(n, size=64, seed=seed),
    "blobs32": lambda n, seed: colour_blobs(n, size=32, classes=4, seed=seed),
}


def write_digits_folder(out: Path) -> Path:
    """scikit-learn's 8×8 digits as DIR/<digit>/<index>.png, grey levels 0..16 scaled to 0..255."""
    digits = load_digits()
    folder = out / "digits8"
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.round(image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / str(label) / f"{index:04d}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder to write the .npz files to (created)")
    parser.add_argument("--train", type=int, default=20_000, help="training images per dataset (default: 20000)")
    parser.add_argument("--test", type=int, default=2_000, help="test images per dataset (default: 2000)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    parser.add_argument("--only", nargs="+", choices=sorted([*DATASETS, "digits8"]),
                        help="write only these datasets")
    args = parser.parse_args()
    if args.train < 1 or args.test < 1:
        parser.error("--train and --test must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)

    if "digits8" in (args.only or ["digits8"]):
        print(f"{write_digits_folder(args.out)}: scikit-learn's 1,797 8×8 digits as an image-folder tree")
    for name in [name for name in args.only or DATASETS if name in DATASETS]:
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
