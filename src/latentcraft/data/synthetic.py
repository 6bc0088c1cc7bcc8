"""Synthetic image sets whose generating factors are known, to measure disentanglement on (MIG, SAP, DCI).

Two generators, both seeded and independent of torch, each returning a
`SyntheticSet` of plain numpy arrays:

* `shapes`: a dSprites-like grey set (Matthey et al. 2017, "dSprites: Disentanglement
  testing Sprites dataset"): one white shape on black; factors shape (= the class
  label), scale, orientation, x and y, each drawn independently and uniformly.
* `colour_blobs`: an RGB classification set: the class is the shape of one blob on
  a dark background; colour, scale, x and y are nuisance factors the label must
  not depend on, drawn independently and uniformly and recorded too.

`save_npz` writes a train and a test set in the project's .npz layout (x_train,
y_train, x_test, y_test as uint8 N×H×W×C; factors_train, factors_test as N×F
int64; class_names, factor_names as fixed-width unicode arrays), readable with
np.load(path, allow_pickle=False).

Shapes are PIL vector polygons without antialiasing, so every pixel is background
or ink (`shapes` draws at 4× and keeps the pixels the shape covers at least half
of, so small rotations still show). `render_shapes` and `render_blobs` draw given
factor values, for traversals of one factor.
Factors are drawn with replacement from a finite grid, so a test set drawn with
another seed can repeat images of the train set, as any dSprites split does.
"""

from __future__ import annotations

import math
from os import PathLike
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

SIZES = (32, 64)  # image sides the geometry below is laid out for

# --- shapes (dSprites-like) ---
SHAPE_NAMES = ("square", "ellipse", "triangle", "heart")
SHAPE_FACTORS = ("shape", "scale", "orientation", "x", "y")
SHAPE_SCALES = 6
SHAPE_ORIENTATIONS = 8
SHAPE_POSITIONS = 16
# Rotation that maps each shape onto itself (square 90°, ellipse 180°, equilateral triangle 120°, heart
# 360°). Orientation k is the angle k·period/8, so the 8 values are 8 distinct poses of every shape; a
# shared 0..360° range (as dSprites has) would draw square poses 1 and 3 identically, and no code could
# recover the factor.
SHAPE_PERIODS_DEG = (90.0, 180.0, 120.0, 360.0)
SHAPE_EXTENT = 0.25  # circumradius of the largest shape, as a fraction of the image side
SHAPE_MIN_SCALE = 0.5  # the smallest shape's circumradius relative to the largest
# Drawn at 4× and thresholded at half coverage: at 1× PIL snaps vertices to whole pixels and 9 of the 192
# (shape, scale, orientation) poses of a 32-px image come out identical; at 4× all 192 differ, at both sizes.
SHAPE_SUPERSAMPLE = 4

# --- colour blobs ---
BLOB_NAMES = ("disc", "square", "triangle", "cross", "ring", "star")
BLOB_FACTORS = ("shape", "colour", "scale", "x", "y")
BLOB_COLOURS = ((230, 40, 40), (230, 210, 40), (40, 200, 60), (40, 200, 220), (60, 90, 240), (210, 60, 220))
BLOB_SCALES = 4
BLOB_POSITIONS = 8
BLOB_EXTENT = 0.28  # radius of the largest blob, as a fraction of the image side
BLOB_MIN_SCALE = 0.55
BLOB_BACKGROUND = (16, 16, 16)  # dark, not black, so "background" is not also "zero in every channel"


class SyntheticSet(NamedTuple):
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64, the class; equal to factors[:, 0]
    factors: np.ndarray  # (N, F) int64, factor k takes values 0 .. factor_sizes[k] − 1
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]  # number of values of each factor
    class_names: tuple[str, ...]


def _check(n: int, size: int, seed: int) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")


def _draw_factors(rng: np.random.Generator, n: int, sizes: tuple[int, ...]) -> np.ndarray:
    """(n, F) int64, column k uniform on 0 .. sizes[k] − 1, all columns independent."""
    return np.stack([rng.integers(0, s, size=n) for s in sizes], axis=1).astype(np.int64).reshape(n, len(sizes))


def _grid(size: int, margin: float, count: int) -> np.ndarray:
    """`count` evenly spaced centre coordinates (pixels) keeping `margin` pixels from both edges."""
    return np.linspace(margin, size - 1 - margin, count)


def _unit_outline(name: str) -> np.ndarray:
    """(P, 2) polygon of a shape centred on 0 with circumradius 1, pointing up (image y grows downwards)."""
    if name == "square":
        angles = np.deg2rad(45.0 + 90.0 * np.arange(4))
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if name == "ellipse":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t), 0.5 * np.sin(t)], axis=1)  # 2:1, so its orientation shows
    if name == "triangle":
        angles = np.deg2rad(-90.0 + 120.0 * np.arange(3))
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if name == "heart":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        outline = np.stack([x, y], axis=1)
        outline -= (outline.max(axis=0) + outline.min(axis=0)) / 2  # centre its bounding box
        return outline / np.linalg.norm(outline, axis=1).max()
    if name == "star":
        angles = np.deg2rad(-90.0 + 36.0 * np.arange(10))
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    raise ValueError(f"no outline for shape {name!r}")


def _place(outline: np.ndarray, radius: float, angle_deg: float, cx: float, cy: float) -> list[tuple[float, float]]:
    """The outline rotated by angle_deg, scaled to `radius` pixels and centred at (cx, cy), as PIL wants it."""
    a = math.radians(angle_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    points = radius * outline @ rotation.T + np.array([cx, cy])
    return [(float(x), float(y)) for x, y in points]


def _factor_grid(factors: np.ndarray, sizes: tuple[int, ...], name: str = "factors") -> np.ndarray:
    """Check (N, F) factor indices against `sizes`; return them as int64."""
    array = np.asarray(factors)
    if array.ndim != 2 or array.shape[1] != len(sizes):
        raise ValueError(f"{name} must have shape (N, {len(sizes)}), got {array.shape}")
    if array.size and (not np.issubdtype(array.dtype, np.integer)
                       or (array < 0).any() or (array >= np.array(sizes)).any()):
        raise ValueError(f"{name} must be integers with column k in 0 .. {[s - 1 for s in sizes]}[k]")
    return array.astype(np.int64)


def render_shapes(factors: np.ndarray, size: int = 32) -> np.ndarray:
    """(N, size, size, 1) uint8 images of given (shape, scale, orientation, x, y) factor indices (see `shapes`).

    For traversals: vary one column, hold the rest, and see what that factor draws.
    """
    _check(0, size, 0)
    sizes = (len(SHAPE_NAMES), SHAPE_SCALES, SHAPE_ORIENTATIONS, SHAPE_POSITIONS, SHAPE_POSITIONS)
    factors = _factor_grid(factors, sizes)
    largest = SHAPE_EXTENT * size
    radii = largest * np.linspace(SHAPE_MIN_SCALE, 1.0, SHAPE_SCALES)
    centres = _grid(size, largest, SHAPE_POSITIONS)
    outlines = [_unit_outline(name) for name in SHAPE_NAMES]
    ss = SHAPE_SUPERSAMPLE
    images = np.zeros((len(factors), size, size, 1), dtype=np.uint8)
    for i, (shape, scale, orientation, x, y) in enumerate(factors):
        canvas = Image.new("L", (size * ss, size * ss), 0)
        angle = orientation * SHAPE_PERIODS_DEG[shape] / SHAPE_ORIENTATIONS
        # Pixel centre c of the image is pixel centre (c + 0.5)·ss − 0.5 of the big canvas.
        outline = _place(outlines[shape], radii[scale] * ss, angle, (centres[x] + 0.5) * ss - 0.5,
                         (centres[y] + 0.5) * ss - 0.5)
        ImageDraw.Draw(canvas).polygon(outline, fill=1)
        coverage = np.asarray(canvas).reshape(size, ss, size, ss).sum(axis=(1, 3))
        images[i, :, :, 0] = np.where(2 * coverage >= ss * ss, 255, 0)
    return images


def shapes(n: int, size: int = 32, seed: int = 0) -> SyntheticSet:
    """`n` dSprites-like grey images (N, size, size, 1): one white (255) shape on black (0).

    Factors, each independent and uniform over its values (factor_sizes):
      shape        4: square, ellipse (2:1), equilateral triangle, heart; the class label
      scale        6: circumradius from 0.5 to 1 times size/4 (4 to 8 px at size 32)
      orientation  8: angle k·period/8, period being the shape's own symmetry (square 90°,
                      ellipse 180°, triangle 120°, heart 360°), so each value is a distinct pose
      x, y        16 each: centre on an even grid from size/4 to size−1−size/4 (1 px steps at
                      size 32, ≈2 px at 64); the largest shape always fits inside the image
    size: 32 or 64. The same (n, size, seed) always gives the same arrays.
    """
    _check(n, size, seed)
    sizes = (len(SHAPE_NAMES), SHAPE_SCALES, SHAPE_ORIENTATIONS, SHAPE_POSITIONS, SHAPE_POSITIONS)
    factors = _draw_factors(np.random.default_rng(seed), n, sizes)
    return SyntheticSet(render_shapes(factors, size), factors[:, 0].copy(), factors, SHAPE_FACTORS, sizes, SHAPE_NAMES)


def _draw_blob(draw: ImageDraw.ImageDraw, name: str, radius: float, cx: float, cy: float,
               colour: tuple[int, int, int]) -> None:
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if name == "disc":
        draw.ellipse(box, fill=colour)
    elif name == "ring":
        draw.ellipse(box, outline=colour, width=max(2, round(radius / 3)))
    elif name == "cross":
        arm = radius * 0.35  # half-width of each bar
        draw.rectangle((cx - radius, cy - arm, cx + radius, cy + arm), fill=colour)
        draw.rectangle((cx - arm, cy - radius, cx + arm, cy + radius), fill=colour)
    else:  # square, triangle, star: polygons, upright
        draw.polygon(_place(_unit_outline(name), radius, 0.0, cx, cy), fill=colour)


def _blob_sizes(classes: int) -> tuple[int, ...]:
    if not isinstance(classes, int | np.integer) or isinstance(classes, bool) or not 2 <= classes <= len(BLOB_NAMES):
        raise ValueError(f"classes must be an integer from 2 to {len(BLOB_NAMES)}, got {classes!r}")
    return (int(classes), len(BLOB_COLOURS), BLOB_SCALES, BLOB_POSITIONS, BLOB_POSITIONS)


def render_blobs(factors: np.ndarray, size: int = 32, classes: int = 4) -> np.ndarray:
    """(N, size, size, 3) uint8 images of given (shape, colour, scale, x, y) factor indices (see `colour_blobs`)."""
    _check(0, size, 0)
    factors = _factor_grid(factors, _blob_sizes(classes))
    largest = BLOB_EXTENT * size
    radii = largest * np.linspace(BLOB_MIN_SCALE, 1.0, BLOB_SCALES)
    centres = _grid(size, largest, BLOB_POSITIONS)
    images = np.zeros((len(factors), size, size, 3), dtype=np.uint8)
    for i, (shape, colour, scale, x, y) in enumerate(factors):
        canvas = Image.new("RGB", (size, size), BLOB_BACKGROUND)
        _draw_blob(ImageDraw.Draw(canvas), BLOB_NAMES[shape], radii[scale], centres[x], centres[y],
                   BLOB_COLOURS[colour])
        images[i] = np.asarray(canvas)
    return images


def colour_blobs(n: int, size: int = 32, classes: int = 4, seed: int = 0) -> SyntheticSet:
    """`n` RGB images (N, size, size, 3) of one coloured blob on a dark grey background; the class is its shape.

    classes: how many shapes, the first `classes` of disc, square, triangle, cross,
    ring, star (4 or 6 are the intended sets; 2 to 6 are allowed). The known answer:
    only the shape should decide the label; these nuisance factors, each independent
    and uniform, vary too and are recorded:
      colour  6: red, yellow, green, cyan, blue, magenta (saturated, one per blob)
      scale   4: radius from 0.55 to 1 times 0.28·size (5 to 9 px at size 32)
      x, y    8 each: centre on an even grid keeping the largest blob inside the image
    Factors are (shape, colour, scale, x, y); size 32 or 64; deterministic per seed.
    """
    _check(n, size, seed)
    sizes = _blob_sizes(classes)
    factors = _draw_factors(np.random.default_rng(seed), n, sizes)
    images = render_blobs(factors, size, classes)
    return SyntheticSet(images, factors[:, 0].copy(), factors, BLOB_FACTORS, sizes, BLOB_NAMES[:classes])


def _names(names: tuple[str, ...] | list[str]) -> np.ndarray:
    # Fixed-width unicode ("<U…"), not object: np.load(..., allow_pickle=False) can read it back.
    return np.array([str(name) for name in names], dtype=f"<U{max(1, *(len(str(s)) for s in names))}")


def save_npz(path: str | PathLike[str], train: SyntheticSet, test: SyntheticSet) -> None:
    """Write `train` and `test` to `path` (compressed .npz) in the project's layout.

    Keys: x_train, y_train, x_test, y_test (uint8 N×H×W×C images, int64 labels),
    factors_train, factors_test (int64 N×F), class_names, factor_names (fixed-width
    unicode arrays). np.load(path, allow_pickle=False) reads every key.
    """
    for name, part in (("train", train), ("test", test)):
        if not isinstance(part, SyntheticSet):
            raise ValueError(f"{name} must be a SyntheticSet (from shapes or colour_blobs), got {type(part).__name__}")
    if train.class_names != test.class_names or train.factor_names != test.factor_names:
        raise ValueError("train and test must come from the same generator settings (class and factor names differ)")
    if train.images.shape[1:] != test.images.shape[1:]:
        raise ValueError(f"train images are {train.images.shape[1:]} but test images {test.images.shape[1:]}")
    np.savez_compressed(
        path,
        x_train=train.images.astype(np.uint8), y_train=train.labels.astype(np.int64),
        x_test=test.images.astype(np.uint8), y_test=test.labels.astype(np.int64),
        factors_train=train.factors.astype(np.int64), factors_test=test.factors.astype(np.int64),
        class_names=_names(train.class_names), factor_names=_names(train.factor_names),
    )
