"""The seeded, stratified test split held out of a dataset that comes with no test split of its own.

Per class of n images, round(n × test_fraction) (halves up) go to test, but at least 1 where n ≥ 2
and never all of them, so every class keeps a training image; a class of one image stays in train.
Which images go is drawn by a NumPy generator seeded with `seed`, class by class in label order,
from the images in the order the reader lists them (sorted paths, array order), so the same data,
fraction and seed always give the same split.
"""

from __future__ import annotations

import math

import numpy as np

from latentcraft.data.formats.labelled_images import DatasetError


def check_fraction(test_fraction: float) -> float:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0 < test_fraction < 1:
        raise DatasetError(f"test_fraction must be a number between 0 and 1 (exclusive), not {test_fraction!r}")
    return float(test_fraction)


def held_out_count(n: int, test_fraction: float) -> int:
    """How many of a class's n images the split holds out."""
    if n < 2:
        return 0
    return min(n - 1, max(1, math.floor(n * test_fraction + 0.5)))


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(train indices, test indices, split note) for int labels; each index array sorted."""
    test_fraction = check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    alone = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        alone += len(members) == 1
        test.append(rng.permutation(members)[: held_out_count(len(members), test_fraction)])
    test_index = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    train_index = np.setdiff1d(np.arange(len(labels)), test_index)
    percent = f"{100 * test_fraction:g}%"
    note = (f"held out {percent} per class (at least 1 where a class has 2 or more images), seed {seed}: "
            f"{len(test_index)} test images")
    if alone:
        note += f"; {alone} class{'es' * (alone > 1)} with a single image kept in train only"
    return train_index.astype(np.int64), test_index.astype(np.int64), note


Part = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # (images, labels, factors or None) of one split


def hold_out(x: np.ndarray, y: np.ndarray, factors: np.ndarray | None, test_fraction: float,
             seed: int) -> tuple[Part, Part, str]:
    """((x, y, factors) of train, the same of test, split note) for arrays with no test split of their own."""
    train, test, note = stratified_split(y, test_fraction, seed)

    def take(index: np.ndarray) -> Part:
        return x[index], y[index], None if factors is None else factors[index]

    return take(train), take(test), note
