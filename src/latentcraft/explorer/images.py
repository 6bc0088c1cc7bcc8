"""The data a site shows, in the pages' terms: its test images laid out as the models read them, what the
pages call an example, whether they offer a drawing pad and how a drawing is scaled to the run's images.

Every answer comes from the run's record (`model.shape`, its config), never from MNIST's constants, except
where MNIST is the reference on purpose: drawings are fitted as MNIST's digits were (preprocess.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentcraft.data.constants import IMAGE_SIDE
from latentcraft.data.images import ImageSet
from latentcraft.data.preprocess import FIT_SIDE
from latentcraft.data.shape import MNIST_SHAPE, ImageShape

if TYPE_CHECKING:
    from latentcraft.config.sections import RunSpec

DIGIT_NAMES = MNIST_SHAPE.class_names  # "0".."9": the pages call an example a digit
UNDRAWN_DATASETS = ("fashion-mnist",)  # grey built-in datasets of photographs: no drawing pad


def channel_first_pixels(test: ImageSet) -> np.ndarray:
    """(N, C·H·W) uint8 pixels in the models' flattened channel-first layout, so a page feeds pixels / 255
    to the encoder as they are and draws channel c of image i from the c-th plane of its row."""
    images = test.images.numpy().astype(np.uint8)
    if images.ndim == 4:  # (N, H, W, C) -> (N, C, H, W)
        images = images.transpose(0, 3, 1, 2)
    return images.reshape(len(images), -1)


def item_noun(shape: ImageShape) -> str:
    """What the pages call one example: "digit" when the classes are the ten digits, else "image"."""
    return "digit" if shape.class_names == DIGIT_NAMES else "image"


def drawable(config: RunSpec, shape: ImageShape) -> bool:
    """Whether the pages offer the drawing pad: white ink on black is a drawing of grey data only, and
    Fashion-MNIST's photographs are not drawings (its pages never had a pad)."""
    return shape.grey and (bool(config.data.path) or config.data.dataset not in UNDRAWN_DATASETS)


def drawing_fit(shape: ImageShape) -> list[int]:
    """The [height, width] box a drawing's ink is scaled into (preprocess.js): MNIST's 20 of 28 pixels, and the
    same share of each side of other images, so a drawing fills a 32×32 image as a digit fills MNIST's."""
    return [max(1, round(FIT_SIDE * side / IMAGE_SIDE)) for side in (shape.height, shape.width)]


def dataset_name(config: RunSpec) -> str:
    """The data a run was trained on, as the overview names it: the user's file or folder, else the dataset."""
    return Path(config.data.path).name if config.data.path else config.data.dataset
