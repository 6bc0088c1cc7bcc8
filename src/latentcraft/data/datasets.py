"""The datasets latentcraft knows: their files, checksums, mirrors and OS-package folders.

Plain data, importable without torch: the command line's --dataset choices and
config validation read the names here; data.py reads and fetches the files.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    files: dict[str, tuple[str, str]]  # split -> (images file, labels file), uncompressed names
    md5: dict[str, str]  # uncompressed file name -> MD5 of its uncompressed bytes
    mirrors: tuple[str, ...]  # base URLs serving "<name>.gz"
    system_dirs: tuple[str, ...]  # where OS packages install it


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

DATASETS = {
    "mnist": DatasetSpec(
        files=_IDX_FILES,
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        system_dirs=("/usr/share/datasets/mnist",),
    ),
    "fashion-mnist": DatasetSpec(
        files=_IDX_FILES,
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
}
