"""Datasets: IDX reading, locating/downloading, in-memory batches (the known datasets: datasets.py).

The whole dataset lives in memory as a uint8 tensor (60,000 x 28 x 28 is 47 MB);
batches are drawn by index with no per-sample Python, converted to float and
optionally augmented on the fly as one tensor operation.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentcraft.data.constants import IMAGE_SIDE, NUM_CLASSES, UNLABELLED
from latentcraft.data.datasets import DATASETS
from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.data.strokes import dilate, erode
from latentcraft.errors import LatentcraftError
from latentcraft.training.devices import to_device

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


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, (N, H, W) grey or (N, H, W, 3) colour; MNIST: (N, 28, 28)
    labels: torch.Tensor  # (N,) int64, UNLABELLED where hidden
    folder: Path | None = None  # where it was read from, so a read-out can find the other split; None: in memory
    shape: ImageShape = MNIST_SHAPE  # height, width, channels and class names
    factors: torch.Tensor | None = None  # (N, F) ground-truth factors, when the data carries them
    factor_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def floats(self, index: torch.Tensor | slice = slice(None), device: torch.device | str = "cpu") -> torch.Tensor:
        """Images at `index` as (B, C·H·W) floats in [0, 1], channel-first, on `device` (MNIST: (B, 784)).

        The uint8 pixels cross to the device and become floats there: a quarter of the bytes.
        """
        images = to_device(self.images[index], device)
        if images.dim() == 4:  # (B, H, W, C) -> (B, C, H, W): the models' channel-first layout
            images = images.permute(0, 3, 1, 2)
        return images.reshape(-1, self.shape.features).float().div_(255.0)

    def batch(
        self, index: torch.Tensor | slice, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C·H·W) as floats in [0, 1] and labels (B,) at `index`, on `device`."""
        return self.floats(index, device), to_device(self.labels[index], device)

    def subset(self, index: torch.Tensor | slice) -> ImageSet:
        """The images, labels and factors at `index`, same shape and source."""
        factors = None if self.factors is None else self.factors[index]
        return ImageSet(self.images[index], self.labels[index], self.folder, self.shape, factors, self.factor_names)


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


def hide_labels(labels: torch.Tensor, labelled_fraction: float, seed: int, per_class: int = 0) -> torch.Tensor:
    """Keep a seeded random `labelled_fraction` of the labels, or `per_class` of each class; the rest UNLABELLED."""
    if labelled_fraction >= 1.0 and not per_class:
        return labels
    generator = torch.Generator().manual_seed(seed + 7919)
    if per_class:
        order = torch.randperm(len(labels), generator=generator)
        keep = torch.zeros(len(labels), dtype=torch.bool)
        for k in labels.unique():
            keep[order[labels[order] == k][:per_class]] = True
    else:
        keep = torch.rand(len(labels), generator=generator) < labelled_fraction
    return torch.where(keep, labels, torch.full_like(labels, UNLABELLED))


def mix_in_labelled(batches: list[torch.Tensor], labels: torch.Tensor, share: float,
                    generator: torch.Generator) -> list[torch.Tensor]:
    """Each batch with its first `share` replaced by labelled examples drawn with replacement.

    With few labels a plain shuffle shows a labelled example about once per epoch; semi-supervised
    training instead keeps a fixed labelled share in every batch. Unchanged if nothing or everything is labelled.
    """
    labelled = (labels != UNLABELLED).nonzero().squeeze(1)
    if not share or len(labelled) in (0, len(labels)):
        return batches
    mixed = []
    for batch in batches:
        count = math.ceil(share * len(batch))
        drawn = labelled[torch.randint(len(labelled), (count,), generator=generator)]
        mixed.append(torch.cat([drawn, batch[count:]]))
    return mixed


def batch_indices(n: int, batch_size: int, generator: torch.Generator, passes: int = 1) -> list[torch.Tensor]:
    """A shuffled epoch as index tensors, `passes` shuffles of the n examples back to back; the last short batch
    is kept."""
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(passes)])
    return list(order.split(batch_size))


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: float, max_degrees: float,
            stroke: float = 0.0, shape: ImageShape = MNIST_SHAPE) -> torch.Tensor:
    """Random shift and rotation of a (B, C·H·W) batch, as one affine resampling; then, for a `stroke`
    share of the images, strokes one pixel thicker or thinner (half each), as pens and drawings differ.

    The draws come from the CPU `generator` whatever x's device: a seed means the same augmentation everywhere.
    """
    batch = x.shape[0]
    channels, height, width = shape.chw
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(max_degrees)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / width across and 2 / height down.
    shift = (torch.rand(batch, 2, generator=generator) * 2 - 1) * max_shift * 2 / torch.tensor([width, height])
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), [batch, channels, height, width], align_corners=False)  # (B, H, W, 2)
    images = F.grid_sample(x.view(batch, channels, height, width), grid, align_corners=False, padding_mode="zeros")
    if stroke:
        draw = torch.rand(batch, generator=generator).to(x.device)  # (B,)
        thicker = (draw < stroke / 2).view(-1, 1, 1, 1)
        thinner = ((draw >= stroke / 2) & (draw < stroke)).view(-1, 1, 1, 1)
        planes = images.reshape(batch * channels, height, width)
        thick = dilate(planes).view_as(images)
        thin = erode(planes).view_as(images)
        images = torch.where(thicker, thick, torch.where(thinner, thin, images))
    return images.reshape(batch, shape.features)
