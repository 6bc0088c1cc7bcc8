"""Telling the formats apart, and `read_dataset`: the one entry point that reads any of them.

A path is read as
- an `.npz` archive when it is a file (any name: NumPy's archives are zip files, checked by content);
- a Hugging Face `save_to_disk` folder when it holds dataset_dict.json, or state.json and dataset_info.json;
- an image-folder tree with its own test split when it holds train/ or test/ (both are then required);
- otherwise a single folder of class folders, from which a test split is held out.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from latentcraft.data.formats.folders import is_split_tree, read_image_folder
from latentcraft.data.formats.huggingface import is_hf_folder, read_hf
from latentcraft.data.formats.labelled_images import DatasetError, LabelledImages
from latentcraft.data.formats.npz import read_npz

NPZ, HF, SPLIT_FOLDERS, CLASS_FOLDERS = "npz", "hf", "split-folders", "class-folders"


def detect_format(path: str | Path) -> str:
    """One of "npz", "hf", "split-folders", "class-folders"; DatasetError if the path is none of them."""
    path = Path(path)
    if path.is_file():
        if zipfile.is_zipfile(path):
            return NPZ
        raise DatasetError(f"{path}: is a file but not an .npz archive; give an .npz (np.savez), a folder of class "
                           "folders, a folder with train/ and test/, or a Hugging Face save_to_disk folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: does not exist; check the path")
    if is_hf_folder(path):
        return HF
    return SPLIT_FOLDERS if is_split_tree(path) else CLASS_FOLDERS


def read_dataset(path: str | Path, test_fraction: float = 0.1, seed: int = 0, image_column: str | None = None,
                 label_column: str | None = None) -> LabelledImages:
    """Read labelled images in any supported format; `test_fraction` and `seed` make the test split when the
    data has none; `image_column` / `label_column` choose Hugging Face columns."""
    kind = detect_format(path)
    if kind != HF and (image_column is not None or label_column is not None):
        raise DatasetError(f"{path}: image_column and label_column apply to Hugging Face datasets only, and this "
                           f"is {'an .npz archive' if kind == NPZ else 'an image folder'}")
    if kind == NPZ:
        return read_npz(path, test_fraction, seed)
    if kind == HF:
        return read_hf(path, test_fraction, seed, image_column=image_column, label_column=label_column)
    return read_image_folder(path, test_fraction, seed)
