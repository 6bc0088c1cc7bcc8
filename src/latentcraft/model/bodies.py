"""Encoder and decoder bodies shared by every variant.

An encoder body maps (B, C·H·W) images, flattened channel-first, to (B, F)
features; the model puts the Gaussian heads on top. A decoder body maps (B, D)
codes (z, possibly with a label appended) to (B, C·H·W) logits. Both are sized
for the run's ImageShape (MNIST: 784 = 1·28·28). Bodies are looked up by name in BODIES.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from latentcraft.data.shape import MNIST_SHAPE, ImageShape


def mlp(sizes: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """C·H·W -> hidden[0] -> ... -> hidden[-1], ReLU after each layer."""

    def __init__(self, hidden: list[int], channels: list[int], shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.net = mlp([shape.features, *hidden], last_activation=True)
        self.out_features = hidden[-1] if hidden else shape.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """in -> hidden[0] -> ... -> C·H·W logits, ReLU between layers."""

    def __init__(self, in_features: int, hidden: list[int], channels: list[int], shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.net = mlp([in_features, *hidden, shape.features], last_activation=False)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


def conv_map_size(shape: ImageShape) -> tuple[int, int]:
    """The feature map after two stride-2 stages: each side a quarter, rounded up (28 -> 7, 8 -> 2, 30 -> 8)."""
    return math.ceil(shape.height / 4), math.ceil(shape.width / 4)


class ConvEncoder(nn.Module):
    """Two stride-2 conv stages (28 -> 14 -> 7 on MNIST), then an MLP over the flattened map.

    A side that is not a multiple of 4 is zero-padded at the bottom and right to the next one.
    """

    def __init__(self, hidden: list[int], channels: list[int], shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        c1, c2 = channels
        self.shape = shape
        self.conv = nn.Sequential(
            nn.Conv2d(shape.channels, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c1, H/2, W/2)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),  # (B, c2, H/4, W/4)
        )
        rows, cols = conv_map_size(shape)
        flat = c2 * rows * cols
        self.head = mlp([flat, *hidden], last_activation=True)
        self.out_features = hidden[-1] if hidden else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, height, width = self.shape.chw
        images = x.view(-1, channels, height, width)
        rows, cols = conv_map_size(self.shape)
        if (rows * 4, cols * 4) != (height, width):
            images = nn.functional.pad(images, (0, cols * 4 - width, 0, rows * 4 - height))
        return self.head(self.conv(images).flatten(1))


class ConvDecoder(nn.Module):
    """An MLP up to a quarter-size map, then two stride-2 transposed convs (7 -> 14 -> 28 on MNIST) to logits,
    cropped to the image when a side is not a multiple of 4."""

    def __init__(self, in_features: int, hidden: list[int], channels: list[int], shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        c1, c2 = channels
        self.c2, self.shape = c2, shape
        rows, cols = conv_map_size(shape)
        self.head = mlp([in_features, *hidden, c2 * rows * cols], last_activation=True)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c1, H/2, W/2)
            nn.ConvTranspose2d(c1, shape.channels, 4, stride=2, padding=1),  # (B, C, H, W)
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        rows, cols = conv_map_size(self.shape)
        maps = self.deconv(self.head(code).view(-1, self.c2, rows, cols))
        return maps[:, :, :self.shape.height, :self.shape.width].flatten(1)  # (B, C·H·W)


BODIES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "mlp": (MLPEncoder, MLPDecoder),
    "conv": (ConvEncoder, ConvDecoder),
}
