"""Built-in generated datasets (`--dataset shapes`, `--dataset blobs`): known factors, no download.

Each is drawn by data/synthetic.py from fixed seeds (train 0, test 1), so every
machine gets the same images; a process generates each split once and keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from latentcraft.data.synthetic import BLOB_NAMES, SHAPE_NAMES, SyntheticSet, colour_blobs, shapes

_SPLIT_SEEDS = {"train": 0, "test": 1}
BLOB_CLASSES = 6


@dataclass(frozen=True)
class ProceduralSpec:
    side: int
    channels: int
    sizes: dict[str, int]  # split -> images
    class_names: tuple[str, ...]
    make: Callable[[int, int], SyntheticSet]  # (n, seed) -> images with factors
    about: str


PROCEDURAL = {
    "shapes": ProceduralSpec(
        64, 1, {"train": 20_000, "test": 2_000}, SHAPE_NAMES, lambda n, seed: shapes(n, 64, seed),
        "dSprites-like 64×64 binary shapes; class = shape; factors scale, orientation, x, y"),
    "blobs": ProceduralSpec(
        32, 3, {"train": 12_000, "test": 2_000}, BLOB_NAMES[:BLOB_CLASSES],
        lambda n, seed: colour_blobs(n, 32, BLOB_CLASSES, seed),
        "32×32 RGB coloured blobs; class = shape; factors colour, scale, x, y"),
}


@lru_cache(maxsize=4)
def generate(dataset: str, split: str) -> SyntheticSet:
    """The `split` of built-in dataset `dataset`, generated once per process."""
    spec = PROCEDURAL[dataset]
    return spec.make(spec.sizes[split], _SPLIT_SEEDS[split])
