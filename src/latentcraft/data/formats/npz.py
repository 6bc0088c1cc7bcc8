"""Reading an `.npz` archive of x_train, y_train, x_test, y_test (and optionally factors and names).

Arrays: x_* images (N×H×W or N×H×W×C), y_* labels (N), optionally factors_train / factors_test
(N×F) with factor_names, and class_names (fixed-width strings; without them classes are named
"0".."K-1"). Without x_test and y_test a seeded stratified test split is held out (split.py).
The archive is opened with allow_pickle=False: an object array (which could run code when
unpickled) is refused with the way to save it plainly. An array of an unknown name is refused
too, since it is most often a misspelt one (x_tests) that would otherwise be silently ignored.
How each array is converted or refused: arrays.py.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from latentcraft.data.formats.arrays import factors_from_array, images_from_array, labels_from_array, names_from_array
from latentcraft.data.formats.labelled_images import DatasetError, LabelledImages
from latentcraft.data.formats.split import Part, check_fraction, hold_out

IMAGES = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("factors_train", "factors_test", "class_names", "factor_names")
NPZ_FORMAT = "NumPy .npz archive"


def read_npz(path: str | Path, test_fraction: float = 0.1, seed: int = 0) -> LabelledImages:
    """Read an .npz archive into LabelledImages (see the module docstring for its arrays)."""
    path = Path(path)
    test_fraction = check_fraction(test_fraction)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = getattr(error, "strerror", None) or " ".join(str(error).split()) or type(error).__name__
        raise DatasetError(f"{path}: cannot be read as an .npz archive ({reason}); save it with "
                           "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path}: holds a single array, not an .npz archive of named arrays; save it with "
                           "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")
    with archive:
        arrays = _load(path, archive)
    return _assemble(path, arrays, test_fraction, seed)


def _load(path: Path, archive: np.lib.npyio.NpzFile) -> dict[str, np.ndarray]:
    unknown = sorted(set(archive.files) - set(IMAGES) - set(OPTIONAL))
    if unknown:
        raise DatasetError(f"{path}: holds array{'s' * (len(unknown) > 1)} {', '.join(unknown)}, which latentcraft "
                           f"does not read; rename or remove {'them' if len(unknown) > 1 else 'it'} (it reads "
                           f"{', '.join(IMAGES + OPTIONAL)})")
    for key in ("x_train", "y_train"):
        if key not in archive.files:
            raise DatasetError(f"{path}: has no {key} array; save the training images as x_train and their "
                               "labels as y_train")
    pairs = (("x_test", "y_test"), ("y_test", "x_test"), ("factors_test", "factors_train"), ("factors_test", "x_test"))
    for a, b in pairs:
        if a in archive.files and b not in archive.files:
            raise DatasetError(f"{path}: has {a} but no {b}; give both or neither")
    if "factors_train" in archive.files and "x_test" in archive.files and "factors_test" not in archive.files:
        raise DatasetError(f"{path}: has factors_train but no factors_test; give factors for both splits or neither")
    arrays = {}
    for key in archive.files:
        try:
            arrays[key] = archive[key]
        except ValueError:  # "Object arrays cannot be loaded when allow_pickle=False"
            raise DatasetError(f"{path}: {key} is an object array, which latentcraft does not load (unpickling can "
                               "run code); save it as a plain array, e.g. np.array(names) for strings") from None
    return arrays


def _assemble(path: Path, arrays: dict[str, np.ndarray], test_fraction: float, seed: int) -> LabelledImages:
    notes: list[str] = []
    parts: dict[str, Part] = {}
    for split in ("train", "test"):
        if f"x_{split}" not in arrays:
            continue
        x = images_from_array(arrays[f"x_{split}"], f"{path}: x_{split}", notes)
        y = labels_from_array(arrays[f"y_{split}"], f"{path}: y_{split}", len(x), notes)
        f = arrays.get(f"factors_{split}")
        parts[split] = (x, y, None if f is None else factors_from_array(f, f"{path}: factors_{split}", len(x), notes))
    if "test" in parts:
        split_note = "given: x_test and y_test"
    else:
        parts["train"], parts["test"], split_note = hold_out(*parts["train"], test_fraction, seed)
    if "class_names" in arrays:
        class_names = names_from_array(arrays["class_names"], f"{path}: class_names")
    else:
        top = max((int(parts[s][1].max()) for s in parts if len(parts[s][1])), default=-1)
        class_names = [str(k) for k in range(top + 1)]
        notes.append(f"no class_names array: classes named 0..{top}")
    factor_names = None
    if "factor_names" in arrays:
        factor_names = names_from_array(arrays["factor_names"], f"{path}: factor_names")
    (x_train, y_train, f_train), (x_test, y_test, f_test) = parts["train"], parts["test"]
    return LabelledImages(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=class_names,
        source=str(path), split_note=split_note, factors_train=f_train, factors_test=f_test,
        factor_names=factor_names, format=NPZ_FORMAT, notes=notes,
    ).check()
