"""Reading a Hugging Face dataset saved with `save_to_disk` (needs the optional extra: pip install 'latentcraft[hf]').

A DatasetDict is read from its "train" and "test" splits (other splits are ignored, and said in
the notes; without "test" a test split is held out of "train"); a single Dataset is split as a
single image folder is (split.py). The image column is the one whose feature is datasets.Image,
the label column the ClassLabel one, whose names are the class names; `image_column=` and
`label_column=` choose when there are several or none (a label column of plain integers gives
classes named "0".."K-1"; an image column of arrays is read as arrays.py reads an .npz).
Images are decoded by PIL from the stored bytes, with the same conversions and refusals as
image files (pixels.py), each named by split and row. Nothing is written: no cache, no map().
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from latentcraft.data.formats.arrays import images_from_array, labels_from_array
from latentcraft.data.formats.labelled_images import DatasetError, LabelledImages
from latentcraft.data.formats.pixels import Conversions, read_image_file, same_size_problems, stack_images
from latentcraft.data.formats.split import Part, check_fraction, hold_out

HF_FORMAT = "Hugging Face dataset (save_to_disk)"
INSTALL = "pip install 'latentcraft[hf]'"


def is_hf_folder(path: Path) -> bool:
    """Whether path is a folder written by Dataset.save_to_disk or DatasetDict.save_to_disk."""
    return (path / "dataset_dict.json").is_file() or ((path / "state.json").is_file()
                                                      and (path / "dataset_info.json").is_file())


def _datasets(path: Path) -> Any:
    # Imported by name so that latentcraft (and mypy) work without the optional package.
    try:
        return importlib.import_module("datasets")
    except ImportError:
        raise DatasetError(f"{path}: is a Hugging Face dataset; reading it needs the optional 'datasets' package: "
                           f"{INSTALL}") from None


def read_hf(path: str | Path, test_fraction: float = 0.1, seed: int = 0, image_column: str | None = None,
            label_column: str | None = None) -> LabelledImages:
    """Read a save_to_disk folder (DatasetDict or Dataset) into LabelledImages."""
    path = Path(path)
    test_fraction = check_fraction(test_fraction)
    hf = _datasets(path)
    try:
        loaded = hf.load_from_disk(str(path))
    except Exception as error:  # datasets raises FileNotFoundError, ValueError, pyarrow errors... for damage
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DatasetError(f"{path}: cannot be read as a Hugging Face dataset ({reason}); save it again with "
                           "save_to_disk") from None
    notes: list[str] = []
    if isinstance(loaded, hf.DatasetDict):
        if "train" not in loaded:
            raise DatasetError(f"{path}: has splits {', '.join(loaded)} but no 'train'; name the training split "
                               "'train' (and the test split 'test')")
        others = [name for name in loaded if name not in ("train", "test")]
        if others:
            notes.append(f"ignored split{'s' * (len(others) > 1)} {', '.join(others)}: only train and test are read")
        splits = {name: loaded[name] for name in ("train", "test") if name in loaded}
    else:
        splits = {"train": loaded}
    features = splits["train"].features
    image = _column(path, features, image_column, hf.Image, "image", "image_column")
    label = _column(path, features, label_column, hf.ClassLabel, "label", "label_column")
    class_names = list(features[label].names) if isinstance(features[label], hf.ClassLabel) else None
    conversions = Conversions()
    parts: dict[str, Part] = {}
    for name, ds in splits.items():
        for column in (image, label):
            if column not in ds.features:
                raise DatasetError(f"{path}: the {name} split has no column {column!r}; give both splits the "
                                   "same columns")
        if class_names is not None and getattr(ds.features[label], "names", None) != class_names:
            raise DatasetError(f"{path}: the {name} split's {label!r} class names differ from train's; give both "
                               "splits the same ClassLabel")
        x = _images(path, hf, ds, image, name, conversions, notes)
        y = _labels(path, ds, label, name, len(x), notes)
        parts[name] = (x, y, None)
    if "test" in parts:
        split_note = "given: the dataset's test split"
        if parts["test"][0].shape[1:] != parts["train"][0].shape[1:]:
            _align_channels(parts, conversions)
    else:
        parts["train"], parts["test"], split_note = hold_out(*parts["train"], test_fraction, seed)
    if class_names is None:
        top = max((int(p[1].max()) for p in parts.values() if len(p[1])), default=-1)
        class_names = [str(k) for k in range(top + 1)]
        notes.append(f"{label!r} is not a ClassLabel column: classes named 0..{top}")
    (x_train, y_train, _), (x_test, y_test, _) = parts["train"], parts["test"]
    return LabelledImages(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=class_names,
        source=str(path), split_note=split_note, format=HF_FORMAT,
        notes=[f"image column {image!r}, label column {label!r}"] + notes + conversions.notes(),
    ).check()


def _column(path: Path, features: Any, chosen: str | None, kind: type, role: str, option: str) -> str:
    """The chosen column if it exists, else the one column whose feature is `kind`."""
    if chosen is not None:
        if chosen not in features:
            raise DatasetError(f"{path}: has no column {chosen!r} ({option}); its columns are {', '.join(features)}")
        return chosen
    found = [name for name, feature in features.items() if isinstance(feature, kind)]
    if len(found) == 1:
        return found[0]
    what = f"no {kind.__name__} column" if not found else f"{len(found)} {kind.__name__} columns ({', '.join(found)})"
    raise DatasetError(f"{path}: has {what}; choose the {role} column with {option}= (columns: {', '.join(features)})")


def _images(path: Path, hf: Any, ds: Any, column: str, split: str, conversions: Conversions,
            notes: list[str]) -> np.ndarray:
    if not isinstance(ds.features[column], hf.Image):
        return images_from_array(np.asarray(ds.with_format("numpy")[column][:]), f"{path}: {split} {column!r}", notes)
    # Undecoded, so that a damaged image is named by its row instead of failing inside datasets.
    stored = ds.cast_column(column, hf.Image(decode=False))[column]
    pixels, names, problems = [], [], []
    for row, value in enumerate(stored):
        name = f"{path}: {split} row {row} ({column!r})"
        try:
            if value is None or (value.get("bytes") is None and not value.get("path")):
                raise DatasetError(f"{name}: has no image; drop the row or fill it")
            if value.get("bytes") is not None:
                pixels.append(read_image_file(io.BytesIO(value["bytes"]), name, conversions))
            else:
                pixels.append(read_image_file(Path(value["path"]), f"{name} at {value['path']}", conversions))
            names.append(name)
        except DatasetError as error:
            problems.append(str(error))
    problems += same_size_problems([(int(p.shape[0]), int(p.shape[1])) for p in pixels], names, f"{path}: {split}")
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
        raise DatasetError(problems[0] + more)
    if not pixels:
        raise DatasetError(f"{path}: the {split} split is empty; it needs at least one image")
    return stack_images(pixels, names, conversions)


def _labels(path: Path, ds: Any, column: str, split: str, count: int, notes: list[str]) -> np.ndarray:
    values = np.asarray(ds.with_format("numpy")[column][:])
    name = f"{path}: {split} {column!r}"
    if values.dtype.kind in "USO":
        raise DatasetError(f"{name}: holds strings, not integer labels; encode it first with "
                           f"dataset.class_encode_column({column!r})")
    return labels_from_array(values, name, count, notes)


def _align_channels(parts: dict[str, Part], conversions: Conversions) -> None:
    """Give both splits 3 channels when one is colour and the other grey (sizes are checked by check())."""
    (xa, ya, fa), (xb, yb, fb) = parts["train"], parts["test"]
    if xa.shape[1:3] != xb.shape[1:3]:
        return
    if xa.shape[3] == 1:
        conversions.add("grey image converted to RGB, since others in the dataset are colour", "train", len(xa))
        parts["train"] = (np.repeat(xa, 3, axis=3), ya, fa)
    else:
        conversions.add("grey image converted to RGB, since others in the dataset are colour", "test", len(xb))
        parts["test"] = (np.repeat(xb, 3, axis=3), yb, fb)
