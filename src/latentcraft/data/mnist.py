"""MNIST-format datasets (MNIST, Fashion-MNIST): IDX files, where to find them, download and checksums.

The datasets it knows, with their files and checksums, are in datasets.py; a split
is read into an ImageSet (images.py).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from latentcraft.data.constants import IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.datasets import DATASETS
from latentcraft.data.images import ImageSet
from latentcraft.errors import LatentcraftError

DATA_DIR_ENV = "LATENTCRAFT_DATA_DIR"


class DataError(LatentcraftError, RuntimeError):
    """A dataset file is missing or malformed; the message names the file and the fix."""


# ---- IDX format ---------------------------------------------------------------
# Header: 2 zero bytes, a type byte (0x08 = unsigned byte), the number of
# dimensions, then each dimension as a big-endian uint32; then the raw data.


MAX_IDX_BYTES = 128 * 2**20  # the largest MNIST-format file is 47 MB; a bigger one (or gzip bomb) is not one


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if it is gzip, read no further than MAX_IDX_BYTES."""
    compressed = False
    try:
        with open(path, "rb") as file:
            compressed = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            raw = (gzip.GzipFile(fileobj=file) if compressed else file).read(MAX_IDX_BYTES + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: corrupt gzip stream ({err}); delete it and fetch it again") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    if len(raw) > MAX_IDX_BYTES:
        raise DataError(f"{path}: holds more than {MAX_IDX_BYTES // 2**20} MB{' once decompressed' * compressed}, "
                        "more than any MNIST-format file; is it the right file?")
    return raw


def parse_idx(raw: bytes, source: str, ndim: int) -> np.ndarray:
    """Decode IDX bytes into a uint8 array, checking magic, rank and length."""
    if len(raw) < 4:
        raise DataError(f"{source}: file is {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(
            f"{source}: wrong magic number 0x{raw[:4].hex()} (expected 0x000008{ndim:02x}, "
            "unsigned-byte IDX); is this an MNIST-format file?"
        )
    if raw[3] != ndim:
        raise DataError(f"{source}: has {raw[3]} dimensions, expected {ndim} (images have 3, labels 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated inside the header ({len(raw)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = header + math.prod(shape)
    if len(raw) < expected:
        raise DataError(
            f"{source}: truncated: header promises shape {shape} ({expected} bytes) but the file has "
            f"{len(raw)}; delete it and fetch it again"
        )
    if len(raw) > expected:
        raise DataError(f"{source}: {len(raw) - expected} unexpected bytes after the data of shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path), ndim)


def write_idx(path: str | Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array as IDX (gzipped if asked); used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)


def md5_of(path: Path) -> str:
    return hashlib.md5(_read_bytes(path)).hexdigest()


# ---- locating and downloading ---------------------------------------------------


def _find_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def cache_root() -> Path:
    """latentcraft's folder in the user cache ($XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latentcraft"


def cache_dir(dataset: str) -> Path:
    return cache_root() / dataset


def search_dirs(dataset: str, data_dir: str | Path | None = None) -> list[Path]:
    """Where a dataset is looked for: a given --data-dir only; else $LATENTCRAFT_DATA_DIR, the cache, OS packages.

    A given folder is the only place looked in, so a typo in it is an error, not
    a silent fallback to another copy. Each given folder may hold the files
    directly or in a subfolder named after the dataset.
    """
    if data_dir:
        return [Path(data_dir), Path(data_dir) / dataset]
    roots = [Path(os.environ[DATA_DIR_ENV])] if os.environ.get(DATA_DIR_ENV) else []
    dirs = [d for root in roots for d in (root, root / dataset)]
    dirs.append(cache_dir(dataset))
    dirs.extend(Path(d) for d in DATASETS[dataset].system_dirs)
    return dirs


def locate(dataset: str, data_dir: str | Path | None = None, download: bool = False) -> Path:
    """The folder holding all four IDX files of `dataset`, downloading them only if asked."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; available: {', '.join(DATASETS)}")
    names = [n for pair in DATASETS[dataset].files.values() for n in pair]
    dirs = search_dirs(dataset, data_dir)
    for folder in dirs:
        if all(_find_file(folder, n) for n in names):
            return folder
    if download:
        target = Path(data_dir) / dataset if data_dir else cache_dir(dataset)
        fetch(dataset, target)
        return target
    if data_dir and not Path(data_dir).is_dir():
        raise DataError(f"data folder {data_dir} (--data-dir or data.data_dir) does not exist; fix the path, "
                        f"or add --download to fetch {dataset} into it")
    searched = ", ".join(str(d) for d in dirs)
    where = "--data-dir (or data.data_dir)" if data_dir else f"--data-dir or ${DATA_DIR_ENV}"
    raise DataError(
        f"{dataset} not found: looked for {', '.join(names)} (optionally .gz) in {searched}. "
        f"Point {where} at the folder, or pass --download to fetch it."
    )


def fetch(dataset: str, target: Path, mirrors: tuple[str, ...] | None = None) -> None:
    """Download the missing files of `dataset` into `target`, verifying each against its MD5."""
    spec = DATASETS[dataset]
    target.mkdir(parents=True, exist_ok=True)
    for name, digest in spec.md5.items():
        if _find_file(target, name):
            continue
        errors = []
        for base in mirrors or spec.mirrors:
            url = f"{base}{name}.gz"
            try:
                _download_verified(url, target / f"{name}.gz", digest)
                break
            except (OSError, DataError) as err:
                errors.append(f"{url}: {err}")
        else:
            raise DataError(f"could not download {name}:\n  " + "\n  ".join(errors))


def _download_verified(url: str, dest: Path, md5: str) -> None:
    # Write to a temp file in the same folder and rename, so a failed or
    # interrupted download never leaves a partial file behind.
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        got = md5_of(tmp)
        if got != md5:
            raise DataError(f"wrong checksum: MD5 of the uncompressed bytes is {got}, expected {md5}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def verify(dataset: str, folder: Path) -> None:
    """Check every file of `dataset` in `folder` against its known MD5."""
    for name, digest in DATASETS[dataset].md5.items():
        path = _find_file(folder, name)
        if path is None:
            raise DataError(f"{folder / name}: missing")
        got = md5_of(path)
        if got != digest:
            raise DataError(f"{path}: wrong checksum (MD5 {got}, expected {digest}); delete it and fetch it again")


# ---- in-memory splits -----------------------------------------------------------


def load_split(
    dataset: str, split: str, data_dir: str | Path | None = None, download: bool = False, limit: int = 0
) -> ImageSet:
    folder = locate(dataset, data_dir, download)
    image_name, label_name = DATASETS[dataset].files[split]
    # locate() saw both files; one deleted since then reads as "cannot be read" (a DataError).
    image_path = _find_file(folder, image_name) or folder / image_name
    label_path = _find_file(folder, label_name) or folder / label_name
    images = read_idx(image_path, ndim=3)
    labels = read_idx(label_path, ndim=1)
    if len(images) == 0:
        raise DataError(f"{image_path}: holds no images; delete it and fetch it again")
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{image_path}: images are {images.shape[1:]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    if len(images) != len(labels):
        raise DataError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels; "
            "the two files do not belong together"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{label_path}: label {labels.max()} is outside 0..{NUM_CLASSES - 1}")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return ImageSet(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), folder)
