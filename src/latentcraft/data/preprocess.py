"""Turn a free-hand drawing into an MNIST-style 28x28 digit.

MNIST's digits were made this way (LeCun et al., "The MNIST database"): the
ink's bounding box is scaled, keeping its aspect ratio, to fit a 20x20 box
(anti-aliased, hence the grey levels), then placed in a 28x28 field so that
the centre of mass of its pixels sits at the centre of the field.

This file is the reference for explorer/web/lib/preprocess.js, which must give the same
numbers for the same ink: every step is plain float64 arithmetic that both
languages do identically (area resampling by explicit overlap weights, no
library resizer, rounding as floor(v + 0.5)).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from latentcraft.data.constants import IMAGE_SIDE

FIT_SIDE = 20  # the longer side of the ink's box is scaled to this many pixels
INK_THRESHOLD = 0.0  # a pixel counts as ink when its value is above this


@functools.lru_cache(maxsize=1024)
def area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) matrix averaging source pixels into target pixels by overlap length.

    Target pixel o covers source interval [o * r, (o + 1) * r) with r = source / target;
    its value is the overlap-weighted mean of the source pixels it covers (a box filter).
    """
    ratio = source / target
    weights = np.zeros((target, source))
    for o in range(target):
        start, end = o * ratio, (o + 1) * ratio
        for i in range(int(math.floor(start)), min(source, int(math.ceil(end)))):
            overlap = min(end, i + 1) - max(start, i)
            if overlap > 0:
                weights[o, i] = overlap / ratio
    weights.flags.writeable = False  # cached and shared between calls
    return weights


def round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def preprocess_drawing(ink: np.ndarray) -> np.ndarray:
    """(H, W) ink in [0, 1] (1 = full stroke) -> (28, 28) float32 MNIST-style digit.

    Raises ValueError for a drawing with no ink.
    """
    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2:
        raise ValueError(f"expected a 2-D ink array, got shape {ink.shape}")
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise ValueError("the drawing is empty: no pixel has ink")
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h, w)

    # Scale the longer side to FIT_SIDE, keeping the aspect ratio.
    h, w = crop.shape
    scale = FIT_SIDE / max(h, w)
    out_h, out_w = max(1, round_half_up(h * scale)), max(1, round_half_up(w * scale))
    small = area_weights(h, out_h) @ crop @ area_weights(w, out_w).T  # (out_h, out_w)
    peak = small.max()
    if peak > 0:
        small = small / peak  # a thin pen still gives full-intensity cores, as in MNIST

    # Centre of mass (pixel-centre coordinates) moved to the field's centre, by whole pixels.
    total = small.sum()
    com_y = (small.sum(axis=1) * np.arange(out_h)).sum() / total
    com_x = (small.sum(axis=0) * np.arange(out_w)).sum() / total
    centre = (IMAGE_SIDE - 1) / 2  # 13.5
    top, left = round_half_up(centre - com_y), round_half_up(centre - com_x)

    # Paste the box at (top, left), dropping whatever falls outside the field.
    field = np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + out_h, IMAGE_SIDE), min(left + out_w, IMAGE_SIDE)
    if y0 < y1 and x0 < x1:
        field[y0:y1, x0:x1] = small[y0 - top : y1 - top, x0 - left : x1 - left]
    return field.astype(np.float32)
