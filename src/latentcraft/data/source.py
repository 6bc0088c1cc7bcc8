"""The images a run config names, wherever they come from: MNIST-format files, a generated set, or your own.

`load_config_data(config, split)` is what training, evaluation, plots and
export read. `data.path` (an image-folder tree, an .npz archive or a Hugging
Face folder, see formats/) wins over `data.dataset`; a dataset in
procedural.PROCEDURAL is generated; any other name is an MNIST-format dataset
found on disk. A run that recorded its image shape and classes refuses data
that no longer matches them, naming what changed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from latentcraft.data.formats.detect import read_dataset
from latentcraft.data.formats.labelled_images import DatasetError, LabelledImages
from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import load_split
from latentcraft.data.procedural import PROCEDURAL, generate
from latentcraft.data.shape import ImageShape, image_shape

if TYPE_CHECKING:
    from latentcraft.config.sections import RunSpec


def load_config_data(config: RunSpec, split: str, data_dir: str | Path | None = None,
                     limit: int | None = None) -> ImageSet:
    """The `split` ("train" or "test") of the data a config names, with every label.

    data_dir: where to look first for MNIST-format files (None = the config's data.data_dir, then the usual
    places); limit: the first N images (None = the config's train_limit / test_limit; 0 = all).
    """
    d = config.data
    if limit is None:
        limit = d.train_limit if split == "train" else d.test_limit
    if d.path:
        images = _own_split(config, split)
    elif not mnist_format(config):
        images = _generated_split(d.dataset, split)
    else:
        images = load_split(d.dataset, split, data_dir or d.data_dir, d.download)
        images.shape = ImageShape(*images.shape.chw[1:], 1, image_shape(config).class_names)
    if d.image_shape or d.class_names:
        _check_matches(config, images)
    return images.subset(slice(0, limit)) if limit else images


def absolute_path(value: Any) -> Any:
    """A data.path value made absolute, so a saved run, a sweep's trials and other machines name the same data
    (anything else, such as null, as it is: Config.from_dict judges it)."""
    return str(Path(value).expanduser().resolve()) if isinstance(value, str) and value.strip() else value


def mnist_format(config: RunSpec) -> bool:
    """Whether a run's data is an MNIST-format IDX dataset (28x28 grey, MNIST's drawing conventions, files on
    disk); your own data (data.path) and the generated sets are not, whatever their size."""
    return not config.data.path and config.data.dataset not in PROCEDURAL


def relocate(config: RunSpec, path: str | os.PathLike[str]) -> RunSpec:
    """`config`, changed in place to read its data from `path` (a run whose data moved; its folder is untouched),
    checked at once: data unlike what the run recorded (a run from before own data recorded nothing: MNIST's
    28 × 28 grey digits) is refused before any work."""
    shape = image_shape(config)
    config.data.path = absolute_path(os.fspath(path))
    config.data.image_shape = [shape.height, shape.width, shape.channels]
    config.data.class_names = list(shape.class_names)
    load_config_data(config, "test", limit=1)
    return config


def read_own_data(config: RunSpec) -> LabelledImages:
    """Both splits of `data.path`, read once per process while the files stay as they are."""
    d = config.data
    assert d.path is not None
    path = Path(d.path)
    return _read_cached(str(path.resolve()), _modified(path), d.test_fraction, d.split_seed,
                        d.image_column, d.label_column)


def _own_split(config: RunSpec, split: str) -> ImageSet:
    data = read_own_data(config)
    pixels = getattr(data, f"x_{split}")
    images = torch.from_numpy(pixels[..., 0] if data.channels == 1 else pixels)  # grey: (N, H, W)
    labels = torch.from_numpy(getattr(data, f"y_{split}"))
    factors = getattr(data, f"factors_{split}")
    shape = ImageShape(data.height, data.width, data.channels, tuple(data.class_names))
    return ImageSet(images, labels, None, shape, None if factors is None else torch.from_numpy(factors).double(),
                    tuple(data.factor_names or (f"factor {k}" for k in range(0 if factors is None
                                                                             else factors.shape[1]))))


def _generated_split(dataset: str, split: str) -> ImageSet:
    spec, made = PROCEDURAL[dataset], generate(dataset, split)
    pixels = made.images[..., 0] if spec.channels == 1 else made.images
    shape = ImageShape(spec.side, spec.side, spec.channels, spec.class_names)
    return ImageSet(torch.from_numpy(pixels), torch.from_numpy(made.labels), None, shape,
                    torch.from_numpy(made.factors).double(), made.factor_names)


def _modified(path: Path) -> float:
    """The newest modification time of the file or the folder tree's top two levels (a changed dataset re-reads)."""
    if path.is_file():
        return path.stat().st_mtime
    try:
        times = [path.stat().st_mtime, *(p.stat().st_mtime for p in path.iterdir())]
        times += [q.stat().st_mtime for p in path.iterdir() if p.is_dir() for q in p.iterdir()]
    except OSError:
        return 0.0  # the reader names the missing or unreadable path
    return max(times)


@lru_cache(maxsize=2)
def _read_cached(path: str, modified: float, test_fraction: float, seed: int, image_column: str | None,
                 label_column: str | None) -> LabelledImages:
    return read_dataset(path, test_fraction, seed, image_column=image_column, label_column=label_column)


def _check_matches(config: RunSpec, images: ImageSet) -> None:
    """Refuse data whose shape or classes differ from what the run recorded when it trained."""
    recorded, found = image_shape(config), images.shape
    where = config.data.path or config.data.dataset
    if recorded.chw != found.chw:
        raise DatasetError(f"{where}: images are {found.describe()}, but this run was trained on "
                           f"{recorded.describe()}; point data.path (--data) at the data it was trained on")
    if recorded.class_names != found.class_names:
        raise DatasetError(f"{where}: classes {list(found.class_names)} differ from the run's "
                           f"{list(recorded.class_names)}; point data.path (--data) at the data it was trained on")
