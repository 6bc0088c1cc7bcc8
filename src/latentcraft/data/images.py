"""The in-memory image set every part of latentcraft passes around, whatever the data came from.

The whole dataset lives in memory as a uint8 tensor (MNIST's 60,000 × 28 × 28 is
47 MB); batches are drawn by index with no per-sample Python and become floats
on their device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.training.devices import to_device


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
