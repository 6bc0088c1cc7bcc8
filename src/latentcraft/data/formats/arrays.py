"""Checking and converting the arrays of an `.npz` (or a Hugging Face array column) into the container's dtypes.

Decisions, each said in a note or in the error:
- images: uint8 is taken as is; other integers are cast when every value is in 0..255 (else
  refused: scale them yourself, latentcraft will not guess the range); floats in [0, 1] are
  scaled to 0..255 and rounded; floats outside [0, 1] are refused (0..255 floats or
  standardised values are ambiguous); NaN, infinity and bools are refused.
- image rank: N×H×W (grey) or N×H×W×C with C = 1 or 3; 4 channels (alpha) and channel-first
  N×C×H×W are refused with the transpose or flatten to do.
- labels: integers 0 and up, one per image; an N×1 column is flattened; floats are taken only
  when every value is whole; NaN, fractions, negatives, strings and bools are refused.
- factors: N×F numbers (int64 or float64), an N-vector is one factor column; NaN is refused.
"""

from __future__ import annotations

import numpy as np

from latentcraft.data.formats.labelled_images import DatasetError, side_problem


def _range(values: np.ndarray) -> str:
    return f"{values.min():g} to {values.max():g}"


def images_from_array(x: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """uint8 (N, H, W, C) from an image array, converting or refusing as the module says."""
    if x.dtype.kind not in "uif":
        raise DatasetError(f"{name}: has dtype {x.dtype}; images must be uint8 0..255 (or floats in [0, 1])")
    if x.ndim == 3:
        x = x[..., None]
    elif x.ndim != 4:
        raise DatasetError(f"{name}: has shape {x.shape}; images must be N×H×W (grey) or N×H×W×C (C = 1 or 3)")
    elif x.shape[3] not in (1, 3):
        if x.shape[3] == 4:
            raise DatasetError(f"{name}: has 4 channels (RGBA?); drop or flatten the alpha channel to "
                               "give 1 or 3 channels")
        if x.shape[1] in (1, 3):
            raise DatasetError(f"{name}: has shape {x.shape}, channel-first; give N×H×W×C "
                               f"(np.moveaxis({name.rsplit(': ', 1)[-1]}, 1, -1))")
        raise DatasetError(f"{name}: has {x.shape[3]} channels; images need 1 (grey) or 3 (RGB)")
    problem = side_problem(x.shape[1], x.shape[2])
    if problem:
        raise DatasetError(f"{name}: {problem}")
    if x.size == 0 or x.dtype == np.uint8:
        return np.ascontiguousarray(x, dtype=np.uint8)
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DatasetError(f"{name}: holds NaN or infinite values; fix or drop those images")
        if x.min() < 0 or x.max() > 1:
            raise DatasetError(f"{name}: holds floats from {_range(x)}, outside [0, 1]; give uint8 0..255 or "
                               "floats in [0, 1]")
        notes.append(f"{name}: {x.dtype} values in [0, 1] scaled to 0..255 (uint8)")
        return np.floor(x.astype(np.float64) * 255 + 0.5).astype(np.uint8)
    if x.min() < 0 or x.max() > 255:
        raise DatasetError(f"{name}: holds {x.dtype} values from {_range(x)}, outside 0..255; scale them to "
                           "0..255 (uint8) first")
    notes.append(f"{name}: {x.dtype} values cast to uint8")
    if x.max() <= 1:
        notes.append(f"{name}: pixel values are only 0 and 1; if they mean black and white, multiply by 255")
    return x.astype(np.uint8)


def labels_from_array(y: np.ndarray, name: str, count: int, notes: list[str]) -> np.ndarray:
    """int64 (count,) labels from an array, converting or refusing as the module says."""
    if y.ndim == 2 and y.shape[1] == 1:
        notes.append(f"{name}: an N×1 column, flattened")
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{name}: has shape {y.shape}; labels must be one integer per image, shape ({count},)")
    if len(y) != count:
        raise DatasetError(f"{name}: has {len(y)} labels for {count} images; give one label per image")
    if y.dtype.kind not in "uif":
        raise DatasetError(f"{name}: has dtype {y.dtype}; labels must be integers 0..K-1 (names go in "
                           "class_names)")
    if len(y) == 0:
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise DatasetError(f"{name}: holds NaN; every image needs a label (drop the unlabelled ones)")
        fraction = y[np.isfinite(y) & (y != np.floor(y))]
        if len(fraction) or not np.isfinite(y).all():
            bad = fraction[0] if len(fraction) else y[~np.isfinite(y)][0]
            raise DatasetError(f"{name}: holds non-integer label {bad:g}; labels must be integers 0..K-1")
        notes.append(f"{name}: {y.dtype} labels with whole values cast to integers")
    if y.min() < 0:
        raise DatasetError(f"{name}: holds negative label {y.min():g}; labels must be 0..K-1 and every image "
                           "needs one (latentcraft hides labels itself when a run asks for it)")
    if y.max() > np.iinfo(np.int64).max // 2:
        raise DatasetError(f"{name}: holds label {y.max():g}, far beyond any class count; labels must be 0..K-1")
    return y.astype(np.int64)


def factors_from_array(f: np.ndarray, name: str, count: int, notes: list[str]) -> np.ndarray:
    """int64 or float64 (count, F) factors from an array."""
    if f.ndim == 1:
        notes.append(f"{name}: a vector, read as one factor column")
        f = f[:, None]
    if f.ndim != 2:
        raise DatasetError(f"{name}: has shape {f.shape}; factors must be N×F, one row per image")
    if len(f) != count:
        raise DatasetError(f"{name}: has {len(f)} rows for {count} images; give one row of factors per image")
    if f.dtype.kind == "f":
        if not np.isfinite(f).all():
            raise DatasetError(f"{name}: holds NaN or infinite values; fill or drop those rows")
        return f.astype(np.float64)
    if f.dtype.kind in "bi" or (f.dtype.kind == "u" and (len(f) == 0 or f.max() <= np.iinfo(np.int64).max)):
        return f.astype(np.int64)
    raise DatasetError(f"{name}: has dtype {f.dtype}; factors must be numbers (int or float)")


def names_from_array(a: np.ndarray, name: str) -> list[str]:
    """A list of non-empty strings from a fixed-width unicode (or UTF-8 bytes) array."""
    if a.ndim != 1 or a.dtype.kind not in "US":
        raise DatasetError(f"{name}: has dtype {a.dtype} and shape {a.shape}; give a 1-D array of strings, "
                           "e.g. np.array(['cat', 'dog'])")
    try:
        names = [str(v) if a.dtype.kind == "U" else bytes(v).decode("utf-8") for v in a]
    except UnicodeDecodeError:
        raise DatasetError(f"{name}: holds bytes that are not UTF-8; save it as str, e.g. np.array(['cat'])") \
            from None
    if not all(n.strip() for n in names):
        raise DatasetError(f"{name}: holds an empty name; give every entry a name")
    return names
