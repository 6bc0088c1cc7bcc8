"""Experiment tracking: each epoch's numbers and pictures in TensorBoard (optional).

With `train.tensorboard = true` (or `latentcraft train --tensorboard`) a run
folder gets tensorboard/ with, per epoch (the step is the epoch number):

    train/<name>, test/<name>, lr, elapsed_s   every value of that epoch's metrics.jsonl line
    images/reconstructions                     the first RECON_IMAGES test images (top row) and
                                               their reconstructions from μ (bottom row)
    images/unit_vectors                        UNIT_VALUE·e_k decoded after the latent activation,
                                               for the first MAX_UNIT_VECTORS coordinates

Pictures are the run's own images (`model.shape`): any size, colour in colour.

Watch it with `tensorboard --logdir RUN_DIR` (or a sweep folder: one run per
trial). A resumed run appends to the same folder; epochs logged after its last
checkpoint are purged, so every step appears once. The trainer sees only
`open_tracker(...)` and `Tracker.log_epoch(...)`; with tracking off the tracker
does nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from latentcraft.config.run_config import Config
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.errors import ConfigError
from latentcraft.training.devices import module_device

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel

TENSORBOARD_DIR = "tensorboard"
RECON_IMAGES = 8  # test images shown with their reconstructions (the first ones: fixed across epochs and runs)
MAX_UNIT_VECTORS = 16  # unit vectors decoded (coordinates 0..15 of wider latents)
UNIT_VALUE = 2.0  # scale of e_k, as in `latentcraft plot`
UNIT_LABEL = 0  # label a conditional decoder gets for the unit vectors, as in `latentcraft plot`
MIN_TILE_PIXELS = 28  # smaller images are enlarged by a whole factor to at least this many pixels a side
INSTALL_HINT = "pip install 'latentcraft[tensorboard]'"


class Tracker:
    """The trainer's hook; this base class does nothing (tracking off)."""

    def log_epoch(self, model: LatentModel, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scalar_tag(key: str) -> str:
    """A metrics.jsonl key as a TensorBoard tag: 'train_loss' -> 'train/loss' (grouped by split)."""
    for split in ("train", "test"):
        if key.startswith(f"{split}_"):
            return f"{split}/{key.removeprefix(f'{split}_')}"
    return key


def image_grid(rows: torch.Tensor, shape: ImageShape = MNIST_SHAPE) -> torch.Tensor:
    """(R, C, C·H·W) flattened channel-first images -> one (channels, R*H, C*W) picture, row-major (CHW, as
    SummaryWriter.add_image takes it)."""
    r, c = rows.shape[:2]
    channels, height, width = shape.chw
    tiles = rows.reshape(r, c, channels, height, width)
    scale = -(-MIN_TILE_PIXELS // max(height, width))  # whole pixels, so small images stay sharp
    if scale > 1:
        tiles = tiles.repeat_interleave(scale, dim=3).repeat_interleave(scale, dim=4)
        height, width = height * scale, width * scale
    return tiles.permute(2, 0, 3, 1, 4).reshape(channels, r * height, c * width)


@torch.no_grad()
def reconstruction_grid(model: LatentModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Originals above their reconstructions from μ, as one picture.  # (C, 2H, B*W)"""
    model.eval()
    device = module_device(model)
    recon = model.reconstruct(x.to(device), y.to(device)).float().cpu()  # (B, C·H·W)
    return image_grid(torch.stack([x, recon]), model.shape)


@torch.no_grad()
def unit_vector_grid(model: LatentModel) -> torch.Tensor:
    """UNIT_VALUE·e_k for the first MAX_UNIT_VECTORS coordinates, decoded in one row.  # (C, H, K*W)"""
    model.eval()
    device = module_device(model)
    latent = model.config.model.latent_dim
    count = min(latent, MAX_UNIT_VECTORS)
    codes = UNIT_VALUE * torch.eye(count, latent, device=device)  # (K, D)
    labels = torch.full((count,), UNIT_LABEL, dtype=torch.long, device=device)
    images = torch.sigmoid(model.decode(model.latent_activation(codes), labels)).float().cpu()
    return image_grid(images[None], model.shape)


class TensorBoardTracker(Tracker):
    def __init__(self, writer: Any, test: ImageSet):
        self.writer = writer
        count = min(RECON_IMAGES, len(test))
        self.images, self.labels = test.batch(slice(0, count))  # CPU copies; moved to the model each epoch

    def log_epoch(self, model: LatentModel, record: dict[str, Any]) -> None:
        step = record["epoch"]
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(scalar_tag(key), value, step)
        if len(self.images):
            self.writer.add_image("images/reconstructions", reconstruction_grid(model, self.images, self.labels), step)
        self.writer.add_image("images/unit_vectors", unit_vector_grid(model), step)
        self.writer.flush()  # an epoch shows up now, not after the writer's 2-minute interval

    def close(self) -> None:
        self.writer.close()


def summary_writer_class() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"train.tensorboard: the tensorboard package is not installed; {INSTALL_HINT}, "
                          "or train without --tensorboard") from None
    return SummaryWriter


def open_tracker(config: Config, run_dir: Path, test: ImageSet, first_epoch: int = 0) -> Tracker:
    """The tracker `config` asks for; `first_epoch` epochs are done already (a resumed run)."""
    if not config.train.tensorboard:
        return Tracker()
    writer_class = summary_writer_class()
    # purge_step hides events a killed run logged after its last checkpoint (they are trained again).
    writer = writer_class(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=first_epoch + 1 if first_epoch else None)
    if not first_epoch:
        writer.add_text("config", f"```\n{json.dumps(config.to_dict(), indent=2)}\n```", 0)
    return TensorBoardTracker(writer, test)
