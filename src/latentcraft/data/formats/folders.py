"""Reading image-folder trees: `train/` and `test/` of class subfolders, or one folder of class subfolders.

Class names are the class folders' names, sorted, and a label is its class's index in that order,
as torchvision's ImageFolder does; images are found recursively in a class folder, in sorted
order. Hidden files and folders (".DS_Store", ".ipynb_checkpoints") and Thumbs.db / desktop.ini
are skipped, as are plain files beside the class folders (a README); both are said in the notes.

Refused: fewer than 2 or more than 100 classes, an empty class folder, a test class that is not
in train/, a train/ without test/ (or the reverse), and every file pixels.py refuses, and images of
different sizes. The reader looks at every file before refusing, so `folder_problems` can list
all that is wrong at once; the error names the first and counts the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentcraft.data.formats.labelled_images import MAX_CLASSES, MIN_CLASSES, DatasetError, LabelledImages
from latentcraft.data.formats.pixels import Conversions, read_image_file, same_size_problems, stack_images
from latentcraft.data.formats.split import check_fraction, stratified_split

OS_CLUTTER = frozenset({"thumbs.db", "desktop.ini"})
SPLIT_TREE = "image folders (train/ and test/, one subfolder per class)"
CLASS_TREE = "image folder (one subfolder per class)"


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in OS_CLUTTER


@dataclass
class _Listing:
    """The files found, their labels and splits, and what is wrong or worth saying so far."""

    files: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    in_test: list[bool] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_split_tree(path: Path) -> bool:
    return (path / "train").is_dir() or (path / "test").is_dir()


def read_image_folder(path: str | Path, test_fraction: float = 0.1, seed: int = 0) -> LabelledImages:
    """Read either tree (train/ and test/, or one folder of classes split with `test_fraction` and `seed`)."""
    images, problems = _read(Path(path), test_fraction, seed)
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
        raise DatasetError(problems[0] + more)
    assert images is not None
    return images


def folder_problems(path: str | Path, test_fraction: float = 0.1, seed: int = 0) -> list[str]:
    """Everything read_image_folder would refuse in this tree, one line each; [] if it reads."""
    return _read(Path(path), test_fraction, seed)[1]


def _class_folders(root: Path, listing: _Listing) -> list[Path]:
    """Sorted class folders of root; files beside them are noted as ignored."""
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as error:
        raise DatasetError(f"{root}: cannot be listed ({error.strerror}); check the path and its permissions") \
            from None
    loose = [p.name for p in entries if not p.is_dir() and not _skipped(p)]
    if loose:
        listing.notes.append(f"ignored {len(loose)} file{'s' * (len(loose) > 1)} beside the class folders of "
                             f"{root}: {', '.join(loose[:3])}{', ...' * (len(loose) > 3)}")
    return [p for p in entries if p.is_dir() and not _skipped(p)]


def _class_count_problem(root: Path, folders: list[Path]) -> str | None:
    if MIN_CLASSES <= len(folders) <= MAX_CLASSES:
        return None
    if not folders:
        return (f"{root}: holds no class folders; put each class's images in a subfolder named after the class "
                f"({MIN_CLASSES} to {MAX_CLASSES} classes)")
    if len(folders) == 1:
        return (f"{root}: holds one class folder ({folders[0].name}); latentcraft needs {MIN_CLASSES} to "
                f"{MAX_CLASSES} classes, one subfolder each (point at the folder above if this is a class)")
    return (f"{root}: holds {len(folders)} class folders, more than the {MAX_CLASSES} latentcraft reads; "
            f"merge or drop classes to keep {MIN_CLASSES} to {MAX_CLASSES}")


def _image_files(folder: Path) -> list[Path]:
    """Files of a class folder and its subfolders, sorted by path, skipping hidden ones and OS clutter."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if path.is_file() and not any(part.startswith(".") for part in relative) and not _skipped(path):
            found.append(path)
    return found


def _list_classes(folders: list[Path], labels: dict[str, int], in_test: bool, listing: _Listing) -> None:
    for folder in folders:
        files = _image_files(folder)
        if not files:
            listing.problems.append(f"{folder}: class folder holds no images; add images or remove the folder")
        listing.files += files
        listing.labels += [labels[folder.name]] * len(files)
        listing.in_test += [in_test] * len(files)


def _list(root: Path) -> tuple[list[str], _Listing, bool]:
    """(class names, listing, whether the tree has its own test split); structural problems in the listing."""
    listing = _Listing()
    if not is_split_tree(root):
        folders = _class_folders(root, listing)
        problem = _class_count_problem(root, folders)
        if problem:
            listing.problems.append(problem)
            return [], listing, False
        names = [f.name for f in folders]
        _list_classes(folders, {n: k for k, n in enumerate(names)}, False, listing)
        return names, listing, False
    for have, lack in (("train", "test"), ("test", "train")):
        if not (root / lack).is_dir():
            listing.problems.append(f"{root}: has {have}/ but no {lack}/; add {lack}/ with the same class "
                                    "folders, or point at a single folder of class folders to hold out a test split")
            return [], listing, True
    others = [p.name for p in _class_folders(root, _Listing())
              if p.name not in ("train", "test")]
    if others:
        listing.notes.append(f"ignored folder{'s' * (len(others) > 1)} {', '.join(o + '/' for o in others)} "
                             f"of {root}: only train/ and test/ are read")
    train = _class_folders(root / "train", listing)
    test = _class_folders(root / "test", listing)
    problem = _class_count_problem(root / "train", train)
    if problem:
        listing.problems.append(problem)
        return [], listing, True
    names = [f.name for f in train]
    labels = {n: k for k, n in enumerate(names)}
    strangers = [f for f in test if f.name not in labels]
    listing.problems += [f"{f}: class {f.name!r} is in test/ but not in train/; add {root / 'train' / f.name} "
                         "or remove this folder" for f in strangers]
    if not test:
        listing.problems.append(f"{root / 'test'}: holds no class folders; give it the same class folders as train/")
    _list_classes(train, labels, False, listing)
    _list_classes([f for f in test if f.name in labels], labels, True, listing)
    missing = sorted(set(names) - {f.name for f in test})
    if missing and test:
        listing.notes.append(f"no test images for class{'es' * (len(missing) > 1)} {', '.join(missing)}")
    return names, listing, True


def _read(root: Path, test_fraction: float, seed: int) -> tuple[LabelledImages | None, list[str]]:
    test_fraction = check_fraction(test_fraction)
    if not root.is_dir():
        raise DatasetError(f"{root}: is not a folder; give a folder of class folders, or one with train/ and test/")
    names, listing, split_tree = _list(root)
    if listing.problems:
        return None, listing.problems
    conversions = Conversions()
    pixels: list[np.ndarray] = []
    kept: list[int] = []
    for index, path in enumerate(listing.files):
        try:
            pixels.append(read_image_file(path, str(path), conversions))
            kept.append(index)
        except DatasetError as error:
            listing.problems.append(str(error))
    sizes = [(int(p.shape[0]), int(p.shape[1])) for p in pixels]
    listing.problems += same_size_problems(sizes, [str(listing.files[i]) for i in kept], str(root))
    if listing.problems:
        return None, listing.problems
    x = stack_images(pixels, [str(p) for p in listing.files], conversions)
    y = np.array(listing.labels, dtype=np.int64)
    if split_tree:
        test = np.array(listing.in_test, dtype=bool)
        train_index, test_index = np.flatnonzero(~test), np.flatnonzero(test)
        note, kind = "given: the test/ folder", SPLIT_TREE
    else:
        train_index, test_index, note = stratified_split(y, test_fraction, seed)
        kind = CLASS_TREE
    images = LabelledImages(
        x_train=x[train_index], y_train=y[train_index], x_test=x[test_index], y_test=y[test_index],
        class_names=names, source=str(root), split_note=note, format=kind,
        notes=listing.notes + conversions.notes(),
    )
    try:
        return images.check(), []
    except DatasetError as error:
        return None, [str(error)]
