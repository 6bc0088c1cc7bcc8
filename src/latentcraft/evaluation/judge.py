"""The judge: a small pixel CNN that reads the class of generated images.

Metrics such as style transfer ("is the decoded image really a k?") need a
reader that knows nothing of the model under test. The judge is trained here,
on the run's own training split (any size, grey or colour, any class count),
never by or through a latent model, and is cached under the user cache as
safetensors weights plus a JSON record of its recipe, its test accuracy and a
checksum of the data it was trained on. A missing, corrupt or stale cache is
retrained.

Where: an MNIST-format dataset (named by a string: "mnist", "fashion-mnist")
keeps cache_root()/judge/<dataset>/, as before; any other data (a run config:
data.path or a generated set) gets cache_root()/judge/<name>-<checksum>/, keyed
by a checksum of its training pixels and labels, so two datasets never share an
entry. A judge whose test accuracy is below TRUSTED_ACCURACY is still used but
marked untrusted (`trusted`), and `evaluate` says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from latentcraft.config.sections import RunSpec
from latentcraft.data.batches import augment, batch_indices
from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import cache_root, load_split
from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.data.source import load_config_data
from latentcraft.training.checkpoint import atomic_write, write_json

JUDGE_VERSION = 1  # bump when the network or recipe changes: cached judges of another version are retrained
JUDGE_MIN_ACCURACY = 0.985  # what the full MNIST judge reaches on the test split (test_judge checks it)
# Below this test accuracy a judge is marked untrusted: a reader wrong on one test image in ten cannot tell a
# failed render from its own mistake. Fashion-MNIST's judge (about 91%) just passes.
TRUSTED_ACCURACY = 0.90
# A small training split is passed over this many images' worth per epoch (whole shuffled passes), so a
# judge of 1,500 images takes as many steps as one of 20,000; MNIST's 60,000 are one pass, as before.
EPOCH_IMAGES = 20_000
POOLED_SIDE = 32  # larger images are average-pooled to about this side first: 64 px costs what 32 px does
WEIGHTS_FILE = "judge.safetensors"
INFO_FILE = "judge.json"

# What the judge learns from: an MNIST-format dataset's name, or a run config (its data.path or generated set).
Source = str | RunSpec


class JudgeError(RuntimeError):
    """A cached judge is missing, unreadable or does not fit the data; the message is one line."""


@dataclass(frozen=True)
class JudgeRecipe:
    epochs: int = 3  # passes over the training split
    batch_size: int = 128  # images per Adam step
    lr: float = 2e-3  # Adam's step size in the first epoch
    lr_decay: float = 0.4  # per-epoch factor on lr (3 epochs: 2e-3, 8e-4, 3.2e-4)
    augment_shift: float = 2.0  # max random shift, pixels: makes the judge read off-centre renders
    augment_rotate: float = 10.0  # max random rotation, degrees
    seed: int = 0  # initial weights and batch order


def _feature_side(side: int, pad: int) -> int:
    """Side after conv3 (padding `pad`), pool 2, conv3, pool 2."""
    return ((side + 2 * pad - 2) // 2 + 2 * pad - 2) // 2


class DigitJudge(nn.Module):
    """Two 3x3 conv layers with max-pooling, then a one-hidden-layer MLP: (B, C·H·W) pixels -> (B, classes) logits.

    MNIST (the default shape) keeps the network of version 1: 28 -> 13 -> 5, unpadded. Images wider than
    POOLED_SIDE are average-pooled first; images under 16 px get padded convolutions, so 8 px still leave 2x2.
    """

    def __init__(self, shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.shape = shape
        factor = max(1, math.ceil(min(shape.height, shape.width) / POOLED_SIDE))
        height, width = shape.height // factor, shape.width // factor
        pad = 1 if min(height, width) < 16 else 0
        # No parameters: MNIST's weight names and shapes stay those of version 1 caches.
        self.pool = nn.AvgPool2d(factor) if factor > 1 else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(shape.channels, 32, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2),  # MNIST: (B, 32, 13, 13)
            nn.Conv2d(32, 64, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2),  # MNIST: (B, 64, 5, 5)
        )
        flat = 64 * _feature_side(height, pad) * _feature_side(width, pad)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, shape.classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(-1, *self.shape.chw)  # (B, C, H, W)
        return self.classifier(self.features(self.pool(images)))  # (B, classes)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """The class read from each (B, C·H·W) image in [0, 1].  # (B,)"""
        self.eval()
        return torch.cat([self(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def judge_dir(dataset: str) -> Path:
    return cache_root() / "judge" / dataset


def data_checksum(data: ImageSet) -> str:
    """SHA-256 of a split's pixels and labels: names exactly the data a judge was trained on."""
    digest = hashlib.sha256(data.images.contiguous().numpy().tobytes())
    digest.update(data.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


def trusted(info: dict[str, Any]) -> bool:
    """Whether a judge reads enough of its test images (TRUSTED_ACCURACY) for the metrics it judges to count."""
    return float(info.get("test_accuracy", 0.0)) >= TRUSTED_ACCURACY


def _passes(n_train: int, train_limit: int) -> int:
    # A deliberately small slice (train_limit, as tests use) is passed over once, as before.
    return 1 if train_limit or not n_train else max(1, EPOCH_IMAGES // n_train)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    # The judge is a side job: one core, whatever the caller had set, restored afterwards.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_judge(train: ImageSet, test: ImageSet, recipe: JudgeRecipe = JudgeRecipe(),
                progress: bool = True, passes: int = 1) -> tuple[DigitJudge, dict[str, Any]]:
    """Train a judge on `train` (`passes` shuffled passes per epoch), score it on `test`; returns it with its info."""
    started, cpu_started = time.perf_counter(), time.process_time()
    shape = train.shape
    # The shift is in MNIST pixels: scaled with the image, so 2 px of 28 is 4.6 px of 64 and 0.6 px of 8.
    max_shift = recipe.augment_shift * min(shape.height, shape.width) / MNIST_SHAPE.height
    with _one_thread():
        torch.manual_seed(recipe.seed)
        judge = DigitJudge(shape)
        optimizer = torch.optim.Adam(judge.parameters(), lr=recipe.lr)
        generator = torch.Generator().manual_seed(recipe.seed)
        for epoch in range(recipe.epochs):
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr * recipe.lr_decay**epoch
            judge.train()
            batches = batch_indices(len(train), recipe.batch_size, generator, passes)
            bar = tqdm(batches, desc=f"judge, epoch {epoch + 1}/{recipe.epochs}", leave=False,
                       disable=not progress, dynamic_ncols=True)
            for index in bar:
                x = augment(train.floats(index), generator, max_shift, recipe.augment_rotate, shape=shape)
                loss = F.cross_entropy(judge(x), train.labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        accuracy = (judge.predict(test.floats()) == test.labels).float().mean().item()
    info: dict[str, Any] = {
        "version": JUDGE_VERSION, "test_accuracy": accuracy, "n_train": len(train), "n_test": len(test),
        "train_checksum": data_checksum(train), "recipe": asdict(recipe),
        "train_seconds": round(time.perf_counter() - started, 1),  # wall clock
        "train_cpu_seconds": round(time.process_time() - cpu_started, 1),  # this process only (shared machines)
    }
    if passes > 1:  # recorded only when used, so MNIST's record stays that of version 1
        info["passes"] = passes
    if shape != MNIST_SHAPE:
        info["image_shape"], info["classes"] = [shape.height, shape.width, shape.channels], shape.classes
    return judge.eval(), info


def save_judge(judge: DigitJudge, info: dict[str, Any], folder: Path) -> None:
    tensors = {k: v.detach().contiguous().clone() for k, v in judge.state_dict().items()}
    atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    write_json(folder / INFO_FILE, info)


def load_judge(folder: Path, shape: ImageShape = MNIST_SHAPE) -> tuple[DigitJudge, dict[str, Any]]:
    """A cached judge and its info record; JudgeError (one line) if anything is missing or damaged."""
    info_path, weights_path = folder / INFO_FILE, folder / WEIGHTS_FILE
    for path in (info_path, weights_path):
        if not path.is_file():
            raise JudgeError(f"{path} does not exist")
    try:
        info = json.loads(info_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise JudgeError(f"{info_path} is not valid JSON") from None
    if not isinstance(info, dict) or info.get("version") != JUDGE_VERSION:
        found = info.get("version") if isinstance(info, dict) else None
        raise JudgeError(f"{info_path}: judge version {found!r}, this latentcraft trains version {JUDGE_VERSION}")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as err:
        raise JudgeError(f"{weights_path} is not a readable safetensors file ({err})") from None
    judge = DigitJudge(shape)
    try:
        judge.load_state_dict(tensors)
    except RuntimeError:
        raise JudgeError(f"{weights_path}: tensors do not match the judge's network (names or shapes differ)") from None
    return judge.eval(), info


def _splits(source: Source, data_dir: str | Path | None, download: bool, train_limit: int,
            test_limit: int) -> tuple[ImageSet, Callable[[], ImageSet]]:
    """The training split of `source`, and a function reading its test split (read only when a judge is trained)."""
    if isinstance(source, str):
        return (load_split(source, "train", data_dir, download, train_limit),
                lambda: load_split(source, "test", data_dir, download, test_limit))
    return (load_config_data(source, "train", data_dir, train_limit),
            lambda: load_config_data(source, "test", data_dir, test_limit))


def source_name(source: Source) -> str:
    """How records name what a judge learned from: the dataset, or the run's data.path."""
    return source if isinstance(source, str) else str(source.data.path or source.data.dataset)


def _own_dir(source: Source, checksum: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source_name(source)).name)[:40] or "data"
    return cache_root() / "judge" / f"{name}-{checksum[:16]}"


def ensure_judge(source: Source = "mnist", data_dir: str | Path | None = None, download: bool = False,
                 folder: Path | None = None, train_limit: int = 0, test_limit: int = 0,
                 recipe: JudgeRecipe = JudgeRecipe(),
                 progress: bool = True) -> tuple[DigitJudge, dict[str, Any]]:
    """The cached judge for `source`, trained (a minute or so on one core) if missing, damaged or stale.

    source: an MNIST-format dataset's name, or a run config whose data the judge learns (data.path or a
    generated set). Stale means trained on other data than the current training split (its checksum
    differs) or with another recipe. train_limit / test_limit > 0 train and score on the
    first N images (for tests; the cache's default judge always uses whole splits).
    """
    train, read_test = _splits(source, data_dir, download, train_limit, test_limit)
    checksum = data_checksum(train)
    folder = folder or (judge_dir(source) if isinstance(source, str) else _own_dir(source, checksum))
    passes = _passes(len(train), train_limit)
    try:
        judge, info = load_judge(folder, train.shape)
        if (info.get("train_checksum") == checksum and info.get("recipe") == asdict(recipe)
                and info.get("passes", 1) == passes):
            return judge, info
        reason = f"{folder / INFO_FILE} was trained on other data or with another recipe"
    except JudgeError as err:
        reason = str(err)
    if progress:
        print(f"training the judge for {source_name(source)} ({reason}); this happens once", flush=True)
    judge, info = train_judge(train, read_test(), recipe, progress, passes)
    info["dataset"] = source_name(source)
    save_judge(judge, info, folder)
    return judge, info


class LazyJudge:
    """A reader (images -> classes) that loads or trains the cached judge on first use only.

    The `evaluate` command hands one to every technique; a run that never asks
    for a judged metric never trains one. `info` is the judge's record once used.
    """

    def __init__(self, source: Source = "mnist", data_dir: str | Path | None = None, download: bool = False,
                 progress: bool = True):
        self.source, self.data_dir, self.download, self.progress = source, data_dir, download, progress
        self.judge: DigitJudge | None = None
        self.info: dict[str, Any] | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.judge is None:
            self.judge, self.info = ensure_judge(self.source, self.data_dir, self.download, progress=self.progress)
        return self.judge.predict(images)  # (B,)
