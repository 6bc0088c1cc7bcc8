"""Robustness: how well a classifier reads test images that were moved, turned or re-inked.

MNIST-format data (the 28x28 grey IDX datasets, `drawing=True`): each transform
acts on the test images, and the result then goes through the same
preprocessing a drawing in the explorer gets (preprocess.py: crop to the ink,
scale into 20x20, centre by centre of mass), so the table answers "does the
model still read a digit written a little differently and cleaned up the way
the page cleans it up?". The "preprocessing only" row is the reference: it
shows what the clean-up alone costs before any transform.

Any other data (your own, or a generated set; any size, grey or colour,
`drawing=False`): the drawing preprocessing assumes a centred ink mark on
black, which photos, colour blobs or a shape whose position is a factor are
not, so it is not applied and its "preprocessing only" row is left out; the
reference is the plain test accuracy. The shifts (the same 2 px, whatever the
size) and rotations act on each channel of the image alike, the vacated border
filled with 0. Thicker and thinner strokes (grey dilation and erosion) are
kept for grey data only: on colour images a max or min filter per channel
changes the colours, not a stroke.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from latentcraft.data.images import ImageSet
from latentcraft.data.preprocess import preprocess_drawing
from latentcraft.data.shape import MNIST_SHAPE
from latentcraft.data.strokes import STROKE_KERNEL, dilate, erode
from latentcraft.evaluation.registry import PREDICTION, Metric, register

Transform = Callable[[torch.Tensor], torch.Tensor]  # (B, H, W) planes in [0, 1] -> (B, H, W)
Classifier = Callable[[torch.Tensor], torch.Tensor]  # (B, C·H·W) in [0, 1] -> (B,) predicted labels

SHIFT_PIXELS = 2
ROTATE_DEGREES = 15.0


def shift(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Move the content dx pixels right and dy pixels down; what leaves the field is lost, what enters is 0."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (abs(dx), abs(dx), abs(dy), abs(dy)))  # (B, H + 2|dy|, W + 2|dx|)
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[:, top : top + height, left : left + width]


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Turn the content counter-clockwise (as seen on screen) about the field's centre, bilinear."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    # affine_grid maps output positions to input positions in [-1, 1] coordinates, y pointing down;
    # sampling from the point turned clockwise on screen turns the content counter-clockwise.
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, [len(images), 1, *images.shape[1:]], align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(images.unsqueeze(1), grid, align_corners=False, padding_mode="zeros").squeeze(1)


@dataclass(frozen=True)
class ImageTransform:
    label: str  # how tables name it
    apply: Transform


DRAWING_ONLY = ("preprocessed",)  # rows that only the drawing preprocessing gives meaning to
STROKES = ("thicker", "thinner")  # rows of grey data only
TRANSFORMS: dict[str, ImageTransform] = {  # key -> transform; keys name the metrics "<prediction>_<key>"
    "preprocessed": ImageTransform("preprocessing only", lambda images: images),
    "shift_right": ImageTransform(f"shifted right {SHIFT_PIXELS} px", partial(shift, dx=SHIFT_PIXELS, dy=0)),
    "shift_left": ImageTransform(f"shifted left {SHIFT_PIXELS} px", partial(shift, dx=-SHIFT_PIXELS, dy=0)),
    "shift_down": ImageTransform(f"shifted down {SHIFT_PIXELS} px", partial(shift, dx=0, dy=SHIFT_PIXELS)),
    "shift_up": ImageTransform(f"shifted up {SHIFT_PIXELS} px", partial(shift, dx=0, dy=-SHIFT_PIXELS)),
    "rotate_ccw": ImageTransform(f"rotated {ROTATE_DEGREES:g}° counter-clockwise",
                                 partial(rotate, degrees=ROTATE_DEGREES)),
    "rotate_cw": ImageTransform(f"rotated {ROTATE_DEGREES:g}° clockwise", partial(rotate, degrees=-ROTATE_DEGREES)),
    "thicker": ImageTransform(f"thicker strokes ({STROKE_KERNEL}x{STROKE_KERNEL} dilation)", dilate),
    "thinner": ImageTransform(f"thinner strokes ({STROKE_KERNEL}x{STROKE_KERNEL} erosion)", erode),
}


def register_robustness(prediction_metric: str, metrics: dict[str, Metric]) -> None:
    """Register "<prediction_metric>_<transform key>" per transform, labelled after the prediction's own metric."""
    own = metrics.get(f"test_{prediction_metric}")
    what = own.label if own else prediction_metric.replace("_", " ")
    for key, transform in TRANSFORMS.items():
        register(f"{prediction_metric}_{key}", Metric(f"{what}, {transform.label}", True, PREDICTION))


def preprocess_batch(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each (H, W) image through the drawing preprocessing: (B, 784) images and a (B,) mask of empty ones.

    An image a transform emptied (no ink left) stays all zero and is flagged, so it can be scored as wrong.
    """
    out = np.zeros((len(images), MNIST_SHAPE.height, MNIST_SHAPE.width), dtype=np.float32)  # what drawings become
    empty = torch.zeros(len(images), dtype=torch.bool)
    for i, image in enumerate(images.numpy()):
        try:
            out[i] = preprocess_drawing(image)
        except ValueError:
            empty[i] = True
    return torch.from_numpy(out).reshape(len(images), MNIST_SHAPE.features), empty


@dataclass
class TransformedSet:
    images: torch.Tensor  # (N, C·H·W) transformed (and, for drawings, preprocessed)
    empty: torch.Tensor  # (N,) bool: the transform left no ink
    labels: torch.Tensor  # (N,)


def applicable(drawing: bool, grey: bool) -> dict[str, ImageTransform]:
    """The transforms of the table for this data (the module docstring's decision)."""
    return {key: t for key, t in TRANSFORMS.items()
            if (drawing or key not in DRAWING_ONLY) and (grey or key not in STROKES)}


def transformed_sets(data: ImageSet, transforms: dict[str, ImageTransform] | None = None,
                     drawing: bool = True) -> dict[str, TransformedSet]:
    """Every transform of the test images, prepared once and shared by every classifier scored on them.

    drawing: put each result through the drawing preprocessing (MNIST-format 28x28 grey data only).
    transforms: None = `applicable` ones.
    """
    shape = data.shape
    if drawing and shape.chw != MNIST_SHAPE.chw:
        raise ValueError(f"the drawing preprocessing is for 28×28 grey digits, not {shape.describe()} images")
    transforms = applicable(drawing, shape.grey) if transforms is None else transforms
    planes = data.floats().reshape(-1, shape.height, shape.width)  # (N·C, H, W): each channel moved alike
    sets = {}
    for key, transform in transforms.items():
        moved = transform.apply(planes).clamp(0.0, 1.0)
        if drawing:
            prepared, empty = preprocess_batch(moved)
        else:
            prepared = moved.reshape(len(data), shape.features)
            empty = torch.zeros(len(data), dtype=torch.bool)  # no clean-up that could fail
        sets[key] = TransformedSet(prepared, empty, data.labels)
    return sets


def robustness_table(classify: Classifier, sets: dict[str, TransformedSet]) -> dict[str, float]:
    """Transform key -> accuracy of `classify` on that transformed set; an image left without ink counts as misread."""
    table = {}
    for key, s in sets.items():
        correct = (classify(s.images) == s.labels) & ~s.empty
        table[key] = correct.float().mean().item()
    return table


def technique_classifier(model, technique, batch_size: int = 2000) -> Classifier:
    """A technique's read-out as a classifier of images: argmax of its `predict` on the model's μ."""

    @torch.no_grad()
    def classify(x: torch.Tensor) -> torch.Tensor:
        model.eval()
        return torch.cat([technique.predict(model.encode(batch)[0]).argmax(1) for batch in x.split(batch_size)])

    return classify

