"""The digit judge: a small pixel CNN that reads generated images.

Metrics such as style transfer ("is the decoded image really a k?") need a
reader that knows nothing of the model under test. The judge is trained here,
on the training split's pixels, never by or through a latent model, and is
cached under the user cache (cache_root()/judge/<dataset>/) as safetensors
weights plus a JSON record of its recipe, its test accuracy and a checksum of
the data it was trained on. A missing, corrupt or stale cache is retrained.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from latentcraft.data.constants import IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.mnist import ImageSet, augment, batch_indices, cache_root, load_split
from latentcraft.training.checkpoint import atomic_write, write_json

JUDGE_VERSION = 1  # bump when the network or recipe changes: cached judges of another version are retrained
JUDGE_MIN_ACCURACY = 0.985  # below this on the test split a judge is not trusted to read generated digits
WEIGHTS_FILE = "judge.safetensors"
INFO_FILE = "judge.json"


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


class DigitJudge(nn.Module):
    """Two 3x3 conv layers with max-pooling, then a one-hidden-layer MLP: (B, 784) pixels -> (B, 10) logits."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 13, 13)
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 5, 5)
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
                                        nn.Linear(128, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = x.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)  # (B, 1, 28, 28)
        return self.classifier(self.features(images))  # (B, 10)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """The digit read from each (B, 784) image in [0, 1].  # (B,)"""
        self.eval()
        return torch.cat([self(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def judge_dir(dataset: str) -> Path:
    return cache_root() / "judge" / dataset


def data_checksum(data: ImageSet) -> str:
    """SHA-256 of a split's pixels and labels: names exactly the data a judge was trained on."""
    digest = hashlib.sha256(data.images.contiguous().numpy().tobytes())
    digest.update(data.labels.contiguous().numpy().tobytes())
    return digest.hexdigest()


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
                progress: bool = True) -> tuple[DigitJudge, dict[str, Any]]:
    """Train a judge on `train`, score it on `test`; returns it with its info record."""
    started, cpu_started = time.perf_counter(), time.process_time()
    with _one_thread():
        torch.manual_seed(recipe.seed)
        judge = DigitJudge()
        optimizer = torch.optim.Adam(judge.parameters(), lr=recipe.lr)
        generator = torch.Generator().manual_seed(recipe.seed)
        for epoch in range(recipe.epochs):
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr * recipe.lr_decay**epoch
            judge.train()
            batches = batch_indices(len(train), recipe.batch_size, generator)
            bar = tqdm(batches, desc=f"digit judge, epoch {epoch + 1}/{recipe.epochs}", leave=False,
                       disable=not progress, dynamic_ncols=True)
            for index in bar:
                x = augment(train.floats(index), generator, recipe.augment_shift, recipe.augment_rotate)
                loss = F.cross_entropy(judge(x), train.labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        accuracy = (judge.predict(test.floats()) == test.labels).float().mean().item()
    info = {
        "version": JUDGE_VERSION, "test_accuracy": accuracy, "n_train": len(train), "n_test": len(test),
        "train_checksum": data_checksum(train), "recipe": asdict(recipe),
        "train_seconds": round(time.perf_counter() - started, 1),  # wall clock
        "train_cpu_seconds": round(time.process_time() - cpu_started, 1),  # this process only (shared machines)
    }
    return judge.eval(), info


def save_judge(judge: DigitJudge, info: dict[str, Any], folder: Path) -> None:
    tensors = {k: v.detach().contiguous().clone() for k, v in judge.state_dict().items()}
    atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    write_json(folder / INFO_FILE, info)


def load_judge(folder: Path) -> tuple[DigitJudge, dict[str, Any]]:
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
    judge = DigitJudge()
    try:
        judge.load_state_dict(tensors)
    except RuntimeError:
        raise JudgeError(f"{weights_path}: tensors do not match the judge's network (names or shapes differ)") from None
    return judge.eval(), info


def ensure_judge(dataset: str = "mnist", data_dir: str | Path | None = None, download: bool = False,
                 folder: Path | None = None, train_limit: int = 0, test_limit: int = 0,
                 recipe: JudgeRecipe = JudgeRecipe(),
                 progress: bool = True) -> tuple[DigitJudge, dict[str, Any]]:
    """The cached judge for `dataset`, trained (about a minute on one core) if missing, damaged or stale.

    Stale means trained on other data than the current training split (its checksum
    differs) or with another recipe. train_limit / test_limit > 0 train and score on the
    first N images (for tests; the cache's default judge always uses whole splits).
    """
    folder = folder or judge_dir(dataset)
    train = load_split(dataset, "train", data_dir, download, train_limit)
    checksum = data_checksum(train)
    try:
        judge, info = load_judge(folder)
        if info.get("train_checksum") == checksum and info.get("recipe") == asdict(recipe):
            return judge, info
        reason = f"{folder / INFO_FILE} was trained on other data or with another recipe"
    except JudgeError as err:
        reason = str(err)
    if progress:
        print(f"training the digit judge ({reason}); this happens once", flush=True)
    test = load_split(dataset, "test", data_dir, download, test_limit)
    judge, info = train_judge(train, test, recipe, progress)
    info["dataset"] = dataset
    save_judge(judge, info, folder)
    if info["test_accuracy"] < JUDGE_MIN_ACCURACY:
        print(f"warning: the digit judge reads only {info['test_accuracy']:.2%} of test images "
              f"(expected >= {JUDGE_MIN_ACCURACY:.1%}); metrics it judges are less trustworthy", flush=True)
    return judge, info


class LazyJudge:
    """A reader (images -> digits) that loads or trains the cached judge on first use only.

    The `evaluate` command hands one to every technique; a run that never asks
    for a judged metric never trains one. `info` is the judge's record once used.
    """

    def __init__(self, dataset: str = "mnist", data_dir: str | Path | None = None, download: bool = False,
                 progress: bool = True):
        self.dataset, self.data_dir, self.download, self.progress = dataset, data_dir, download, progress
        self.judge: DigitJudge | None = None
        self.info: dict[str, Any] | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.judge is None:
            self.judge, self.info = ensure_judge(self.dataset, self.data_dir, self.download, progress=self.progress)
        return self.judge.predict(images)  # (B,)
