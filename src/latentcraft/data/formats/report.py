"""What `latentcraft data --data PATH` prints: a description of the data read, or everything it refuses.

`describe` is plain text for a terminal: source and format, image shape, classes with their
counts per split (a small table), factors, how the test split was made, and what was converted.
`problems` lists what the readers would refuse, one line each, without raising: every bad file of
an image folder at once (the readers stop at the first), the one refusal of an .npz or HF dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentcraft.data.formats.detect import CLASS_FOLDERS, SPLIT_FOLDERS, detect_format, read_dataset
from latentcraft.data.formats.folders import folder_problems
from latentcraft.data.formats.labelled_images import DatasetError, LabelledImages


def describe(images: LabelledImages) -> str:
    """A multi-line description of the dataset, for a terminal."""
    counts = images.counts()
    colour = "grey" if images.channels == 1 else "RGB"
    lines = [
        f"source:  {images.source or '(in memory)'}",
        f"format:  {images.format or 'unknown'}",
        f"images:  {images.height} × {images.width} px (height × width), {colour}; "
        f"{len(images.y_train)} train, {len(images.y_test)} test",
        f"split:   {images.split_note or 'not recorded'}",
        f"classes: {images.classes}",
        "",
        *_class_table(images.class_names, counts["train"], counts["test"]),
    ]
    if images.factors_train is not None and images.factors_test is not None:
        lines += ["", *_factor_lines(images)]
    if images.notes:
        lines += ["", "converted and noted:", *(f"  - {note}" for note in images.notes)]
    return "\n".join(lines)


def _class_table(names: list[str], train: list[int], test: list[int]) -> list[str]:
    label_width = len(str(len(names) - 1))
    name_width = min(30, max(len("class"), *(len(n) for n in names)))

    def shorten(name: str) -> str:
        return name if len(name) <= name_width else name[: name_width - 1] + "…"

    head = f"  {'':>{label_width}}  {'class':<{name_width}}  {'train':>7}  {'test':>6}"
    rows = [f"  {k:>{label_width}}  {shorten(name):<{name_width}}  {a:>7}  {b:>6}"
            for k, (name, a, b) in enumerate(zip(names, train, test))]
    total = f"  {'':>{label_width}}  {'total':<{name_width}}  {sum(train):>7}  {sum(test):>6}"
    return [head, *rows, total]


def _factor_lines(images: LabelledImages) -> list[str]:
    assert images.factors_train is not None and images.factors_test is not None
    both = np.concatenate([images.factors_train, images.factors_test])
    names = images.factor_names or [f"factor {j}" for j in range(both.shape[1])]
    lines = [f"factors: {both.shape[1]} ({both.dtype})"]
    for j, name in enumerate(names):
        column = both[:, j]
        lines.append(f"  {name}: {column.min():g} to {column.max():g}, {len(np.unique(column))} distinct values")
    return lines


def problems(path: str | Path, test_fraction: float = 0.1, seed: int = 0, image_column: str | None = None,
             label_column: str | None = None) -> list[str]:
    """Everything that stops the data at `path` from being read, one line each; [] if it reads."""
    try:
        if detect_format(path) in (SPLIT_FOLDERS, CLASS_FOLDERS) and image_column is None and label_column is None:
            return folder_problems(path, test_fraction, seed)
        read_dataset(path, test_fraction, seed, image_column=image_column, label_column=label_column)
    except DatasetError as error:
        return [str(error)]
    return []
