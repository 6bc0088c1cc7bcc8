"""Robustness: how well a classifier reads test digits that were moved, turned or re-inked.

Each transform acts on 28x28 test images; the result then goes through the same
preprocessing a drawing in the explorer gets (preprocess.py: crop to the ink,
scale into 20x20, centre by centre of mass), so the table answers "does the
model still read a digit written a little differently and cleaned up the way
the page cleans it up?". The "preprocessing only" row is the reference: it
shows what the clean-up alone costs before any transform.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .constants import IMAGE_PIXELS, IMAGE_SIDE
from .preprocess import preprocess_drawing

Transform = Callable[[torch.Tensor], torch.Tensor]  # (B, 28, 28) in [0, 1] -> (B, 28, 28)
Classifier = Callable[[torch.Tensor], torch.Tensor]  # (B, 784) in [0, 1] -> (B,) predicted labels

SHIFT_PIXELS = 2
ROTATE_DEGREES = 15.0
# Side of the square window of the stroke transforms: 2 makes strokes one pixel wider or thinner.
# A 3x3 window (two pixels) erases most of MNIST's 2-3 px strokes: it keeps 16% of the ink and
# even the digit judge reads only 54% of the results, so it measures broken digits, not thin ones.
STROKE_KERNEL = 2


def shift(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move the content dx pixels right and dy pixels down; what leaves the field is lost, what enters is 0."""
    side = images.shape[-1]
    padded = F.pad(images, (abs(dx), abs(dx), abs(dy), abs(dy)))  # (B, H + 2|dy|, W + 2|dx|)
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top : top + side, left : left + side]


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Turn the content counter-clockwise (as seen on screen) about the field's centre, bilinear."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # affine_grid maps output positions to input positions in [-1, 1] coordinates, y pointing down;
    # sampling from the point turned clockwise on screen turns the content counter-clockwise.
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, [len(images), 1, *images.shape[1:]], align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(images.unsqueeze(1), grid, align_corners=False, padding_mode="zeros").squeeze(1)


def _window_extreme(images: torch.Tensor, kernel: int, before: int, sign: float) -> torch.Tensor:
    """sign * (max of sign * images) over each pixel's kernel x kernel window, starting `before` pixels up-left."""
    after = kernel - 1 - before
    padded = F.pad(sign * images.unsqueeze(1), (before, after, before, after), value=-math.inf)
    return sign * F.max_pool2d(padded, kernel, stride=1).squeeze(1)


def dilate(images: torch.Tensor, kernel: int = STROKE_KERNEL) -> torch.Tensor:
    """Grey-level dilation by a kernel x kernel square: strokes grow kernel - 1 pixels wider."""
    return _window_extreme(images, kernel, kernel // 2, 1.0)


def erode(images: torch.Tensor, kernel: int = STROKE_KERNEL) -> torch.Tensor:
    """Grey-level erosion by the same square (reflected, so erode(dilate(x)) is a closing); the border is ignored."""
    return _window_extreme(images, kernel, (kernel - 1) // 2, -1.0)


TRANSFORMS: dict[str, Transform] = {
    "preprocessing only": lambda images: images,
    f"shift right {SHIFT_PIXELS} px": partial(shift, dx=SHIFT_PIXELS, dy=0),
    f"shift left {SHIFT_PIXELS} px": partial(shift, dx=-SHIFT_PIXELS, dy=0),
    f"shift down {SHIFT_PIXELS} px": partial(shift, dx=0, dy=SHIFT_PIXELS),
    f"shift up {SHIFT_PIXELS} px": partial(shift, dx=0, dy=-SHIFT_PIXELS),
    f"rotate +{ROTATE_DEGREES:g}° (counter-clockwise)": partial(rotate, degrees=ROTATE_DEGREES),
    f"rotate −{ROTATE_DEGREES:g}° (clockwise)": partial(rotate, degrees=-ROTATE_DEGREES),
    f"thicker strokes ({STROKE_KERNEL}x{STROKE_KERNEL} dilation)": dilate,
    f"thinner strokes ({STROKE_KERNEL}x{STROKE_KERNEL} erosion)": erode,
}


def preprocess_batch(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each (28, 28) image through the drawing preprocessing: (B, 784) images and a (B,) mask of empty ones.

    An image a transform emptied (no ink left) stays all zero and is flagged, so it can be scored as wrong.
    """
    out = np.zeros((len(images), IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    empty = torch.zeros(len(images), dtype=torch.bool)
    for i, image in enumerate(images.numpy()):
        try:
            out[i] = preprocess_drawing(image)
        except ValueError:
            empty[i] = True
    return torch.from_numpy(out).reshape(-1, IMAGE_PIXELS), empty


def robustness_table(classify: Classifier, images: torch.Tensor, labels: torch.Tensor,
                     transforms: dict[str, Transform] = TRANSFORMS) -> dict[str, float]:
    """Transform name -> accuracy of `classify` on the transformed, preprocessed (B, 28, 28) images.

    An image left without ink counts as misread.
    """
    table = {}
    for name, transform in transforms.items():
        prepared, empty = preprocess_batch(transform(images).clamp(0.0, 1.0))
        correct = (classify(prepared) == labels) & ~empty
        table[name] = correct.float().mean().item()
    return table


def routed_classifier(model) -> Classifier:
    """A routed LatentModel's label read-out: argmax over each label's routed coordinates of μ."""
    from .metrics import routed_predictions

    routes = model.config.route_map()

    @torch.no_grad()
    def classify(x: torch.Tensor) -> torch.Tensor:
        model.eval()
        return routed_predictions(model.encode(x)[0], routes)

    return classify
