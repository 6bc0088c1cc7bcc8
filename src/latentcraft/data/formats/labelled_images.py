"""The in-memory container every reader returns, and the rules a dataset must meet to be used.

Images are uint8 (N, H, W, C) with C = 1 (grey) or 3 (RGB), labels int64 (N,) indexing
`class_names`. The readers convert what can be converted without guessing (see their modules)
and refuse the rest with a `DatasetError`: one line naming the file, class or array, and the fix.
`check()` is the last line of defence: it enforces the rules on the arrays themselves, whoever built them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from latentcraft.errors import LatentcraftError

MIN_SIDE = 8  # smaller images leave a convolutional encoder nothing to downsample
MAX_SIDE = 64  # the models are sized for small images; larger ones should be downscaled by their owner
MIN_CLASSES = 2
MAX_CLASSES = 100  # per-class plots and tables stop being readable beyond this
SPLITS = ("train", "test")


class DatasetError(LatentcraftError, ValueError):
    """Data latentcraft will not use as it is; the message names the file, class or array and what to do."""


def size_text(height: int, width: int) -> str:
    """A size as people read it in image viewers: width × height."""
    return f"{width}×{height} px (width×height)"


def side_problem(height: int, width: int) -> str | None:
    """Why an image of this size is refused, or None if it is allowed (rectangular images are)."""
    if max(height, width) > MAX_SIDE:
        return (f"is {size_text(height, width)}, larger than the limit of {MAX_SIDE} px a side; "
                f"downscale the images to at most {MAX_SIDE} px a side first")
    if min(height, width) < MIN_SIDE:
        return (f"is {size_text(height, width)}, smaller than the minimum of {MIN_SIDE} px a side; "
                f"upscale or pad the images to at least {MIN_SIDE} px a side first")
    return None


@dataclass
class LabelledImages:
    """A labelled image dataset with a train and a test split, as read from `source`.

    `split_note` says how the test split was made; `notes` lists what the reader converted
    (and anything it ignored), so that the report can say so.
    """

    x_train: np.ndarray  # uint8 (N, H, W, C)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]  # index = label
    source: str = ""
    split_note: str = ""
    factors_train: np.ndarray | None = None  # int64 or float64 (N, F)
    factors_test: np.ndarray | None = None
    factor_names: list[str] | None = None
    format: str = ""  # the format it was read from, in words
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def width(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[3])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> dict[str, list[int]]:
        """Images per class (list index = label) for each split: {"train": [...], "test": [...]}."""
        return {split: np.bincount(labels, minlength=self.classes).tolist()
                for split, labels in (("train", self.y_train), ("test", self.y_test))}

    def check(self) -> LabelledImages:
        """Enforce the rules on the arrays; raise DatasetError naming the first one broken. Returns self."""
        where = f"{self.source}: " if self.source else ""

        def fail(message: str) -> DatasetError:
            return DatasetError(where + message)

        names = self.class_names
        if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
            raise fail("class_names must be a list of non-empty strings")
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise fail(f"class name {duplicate!r} appears twice; give each class its own name")
        if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
            raise fail(f"has {len(names)} class{'es' * (len(names) != 1)}; latentcraft needs "
                       f"{MIN_CLASSES} to {MAX_CLASSES} classes")
        shape: tuple[int, ...] | None = None
        for split in SPLITS:
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] not in (1, 3):
                got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
                raise fail(f"x_{split} must be uint8 (N, H, W, C) with C = 1 or 3, not {got}")
            if shape is not None and x.shape[1:] != shape:
                raise fail(f"x_test images are {x.shape[1:]} but x_train images are {shape} (H, W, C); "
                           "both splits must have one size and channel count")
            shape = x.shape[1:]
            problem = side_problem(x.shape[1], x.shape[2])
            if problem:
                raise fail(f"x_{split} {problem}")
            if len(x) == 0:
                raise fail(f"the {split} split is empty; it needs at least one image")
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (len(x),):
                got = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
                raise fail(f"y_{split} must be int64 ({len(x)},), one label per image, not {got}")
            if y.min() < 0 or y.max() >= len(names):
                bad = int(y.min() if y.min() < 0 else y.max())
                raise fail(f"y_{split} holds label {bad}, outside 0..{len(names) - 1} (one per class name)")
        empty = [names[k] for k, n in enumerate(np.bincount(self.y_train, minlength=len(names))) if n == 0]
        if empty:
            raise fail(f"class {empty[0]!r} has no training images; add some or remove the class")
        self._check_factors(fail)
        return self

    def _check_factors(self, fail: Callable[[str], DatasetError]) -> None:
        given = [self.factors_train is not None, self.factors_test is not None]
        if not any(given):
            if self.factor_names is not None:
                raise fail("factor_names given without factors_train and factors_test")
            return
        if not all(given):
            missing = "factors_test" if given[0] else "factors_train"
            raise fail(f"{missing} is missing; give factors for both splits or for neither")
        width = None
        for split in SPLITS:
            f, x = getattr(self, f"factors_{split}"), getattr(self, f"x_{split}")
            ok = isinstance(f, np.ndarray) and f.dtype in (np.int64, np.float64) and f.ndim == 2
            if not ok or f.shape[0] != len(x):
                got = f"{f.dtype} {f.shape}" if isinstance(f, np.ndarray) else type(f).__name__
                raise fail(f"factors_{split} must be int64 or float64 ({len(x)}, F), one row per image, not {got}")
            if width is not None and f.shape[1] != width:
                raise fail(f"factors_test has {f.shape[1]} columns but factors_train has {width}")
            width = f.shape[1]
            if f.dtype == np.float64 and not np.isfinite(f).all():
                raise fail(f"factors_{split} holds NaN or infinite values; fill or drop those rows")
        names = self.factor_names
        if names is not None and (len(names) != width or not all(isinstance(n, str) and n for n in names)):
            raise fail(f"factor_names must be {width} non-empty strings, one per factor column")
