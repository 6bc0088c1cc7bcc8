"""Anchor templates: masks whose overlap with an image scores it (experiments.md §4).

A template is named by a string in `anchors.templates`:

    "donut"          a ring where round digits (0) put their ink, generated in code
    "stick"          a vertical bar where stick-like digits (1) put theirs
    "class-mean:K"   the mean training image of class K (labelled examples only)
    a file path      a .npy array or an image (PNG, JPEG, ...) of 28x28 values

"donut", "stick" and files are 28x28 grey masks, for MNIST-format data; class means
work on any data and come back flattened like its images (channel-first C·H·W).
Every template comes back as a flat float tensor in [0, 1] (MNIST: (784,)). Built-in
templates are computed in code; the others are read when training starts
(`resolve_template`, called by the anchors technique's `fit`) and then saved
with the weights, so a trained model never reads them again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, UNLABELLED
from latentcraft.errors import LatentcraftError

_CENTRE = (IMAGE_SIDE - 1) / 2  # 13.5: the pixel-grid centre, where MNIST centres ink by mass
# MNIST digits fill a 20x20 box; a zero is taller than wide, so the donut is an
# elliptical ring through where a zero's stroke runs.
DONUT_SEMI_AXES = (8.0, 5.5)  # (vertical, horizontal) radii of the ring's mid-line, pixels
DONUT_HALF_WIDTH = 0.35  # ring half-thickness, as a fraction of the (elliptical) radius
STICK_HALF_WIDTH = 2.0  # half-width of the vertical bar, pixels
STICK_HALF_HEIGHT = 10.0  # half-height of the vertical bar, pixels (the 20-pixel digit box)

CLASS_MEAN_PREFIX = "class-mean:"


class TemplateError(LatentcraftError, ValueError):
    """A template name or file that cannot give a 28x28 mask."""


def _grid() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE].astype(np.float64)
    return rows - _CENTRE, cols - _CENTRE


def donut() -> torch.Tensor:
    """A ring mask: pixels whose elliptical radius is within DONUT_HALF_WIDTH of 1.  # (784,)"""
    dy, dx = _grid()
    radius = np.sqrt((dy / DONUT_SEMI_AXES[0]) ** 2 + (dx / DONUT_SEMI_AXES[1]) ** 2)
    mask = np.abs(radius - 1.0) <= DONUT_HALF_WIDTH
    return torch.from_numpy(mask.astype(np.float32)).flatten()


def stick() -> torch.Tensor:
    """A vertical bar through the centre.  # (784,)"""
    dy, dx = _grid()
    mask = (np.abs(dx) <= STICK_HALF_WIDTH) & (np.abs(dy) <= STICK_HALF_HEIGHT)
    return torch.from_numpy(mask.astype(np.float32)).flatten()


BUILT_IN = {"donut": donut, "stick": stick}  # name -> the function drawing it


def _class_of(spec: str, classes: int = NUM_CLASSES) -> int:
    text = spec.removeprefix(CLASS_MEAN_PREFIX)
    if not text.isdigit() or not 0 <= int(text) < classes:
        raise TemplateError(f"{spec!r}: the class after {CLASS_MEAN_PREFIX!r} must be 0..{classes - 1}")
    return int(text)


def class_mean(label: int, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of the labelled images of class `label` (uint8 or float images, flattened as the model reads them).

    # (C·H·W,)
    """
    chosen = images[(labels == label) & (labels != UNLABELLED)]
    if len(chosen) == 0:
        raise TemplateError(f"{CLASS_MEAN_PREFIX}{label}: no labelled training image of class {label}")
    mean = chosen.reshape(len(chosen), -1).float().mean(0)
    return mean / 255.0 if images.dtype == torch.uint8 else mean


_SHAPES = ((IMAGE_SIDE, IMAGE_SIDE), (IMAGE_PIXELS,))


def _check_shape(path: Path, shape: tuple[int, ...]) -> None:
    if tuple(shape) not in _SHAPES:
        raise TemplateError(f"{path}: shape {tuple(shape)}, expected ({IMAGE_SIDE}, {IMAGE_SIDE}) or ({IMAGE_PIXELS},)")


def _read_npy(path: Path) -> np.ndarray:
    """A .npy array, its header checked before any data is read (a header can promise terabytes)."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version not in readers:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = readers[version](file)
    except (ValueError, EOFError, OSError) as err:  # numpy reports a damaged header as ValueError
        raise TemplateError(f"{path}: not a readable .npy array ({err})") from None
    _check_shape(path, shape)
    if dtype.kind not in "biuf":  # bool, int, unsigned, float
        raise TemplateError(f"{path}: holds {dtype} values; a template is a 28x28 array of numbers")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as err:
        raise TemplateError(f"{path}: not a readable .npy array ({err})") from None


def _read_image(path: Path) -> np.ndarray:
    """An image file in grey levels, its size checked before it is decoded."""
    from PIL import Image, UnidentifiedImageError

    # PIL's decoders report a damaged file as any of these.
    damaged = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError)
    try:
        image = Image.open(path)
    except damaged as err:
        raise TemplateError(f"{path}: not a readable image ({err})") from None
    with image:
        _check_shape(path, image.size[::-1])
        try:
            return np.asarray(image.convert("L"))
        except damaged as err:
            raise TemplateError(f"{path}: not a readable image ({err})") from None


def read_file(path: str | Path) -> torch.Tensor:
    """A .npy array or an image file as a (784,) float tensor in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise TemplateError(f"{path}: no such file (expected 'donut', 'stick', '{CLASS_MEAN_PREFIX}K' or a file)")
    array = _read_npy(path) if path.suffix == ".npy" else _read_image(path)
    values = torch.from_numpy(np.asarray(array, dtype=np.float32)).flatten()
    if not torch.isfinite(values).all():
        raise TemplateError(f"{path}: has NaN or infinite values; a template is a mask of finite weights")
    if values.min() < 0:
        raise TemplateError(f"{path}: has negative values; a template is a mask of non-negative weights")
    return values / 255.0 if values.max() > 1.0 else values


def is_file_spec(spec: str) -> bool:
    return spec not in BUILT_IN and not spec.startswith(CLASS_MEAN_PREFIX)


def check_name(spec: str, classes: int = NUM_CLASSES) -> None:
    """Raise TemplateError if `spec` is a malformed class-mean name; reads nothing (`read_file` checks files)."""
    if spec.startswith(CLASS_MEAN_PREFIX):
        _class_of(spec, classes)


def resolve_template(spec: str, training: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """The (784,) template named by `spec`; class means need `training` = (images, labels)."""
    if spec in BUILT_IN:
        return BUILT_IN[spec]()
    if spec.startswith(CLASS_MEAN_PREFIX):
        if training is None:
            raise TemplateError(f"{spec!r}: class-mean templates need the training images")
        return class_mean(_class_of(spec, int(training[1].max()) + 1), *training)
    return read_file(spec)
