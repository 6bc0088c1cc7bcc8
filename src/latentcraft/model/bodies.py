"""Encoder and decoder bodies shared by every variant.

An encoder body maps (B, 784) images to (B, F) features; the model puts the
Gaussian heads on top. A decoder body maps (B, D) codes (z, possibly with a
label appended) to (B, 784) logits. Bodies are looked up by name in BODIES.
"""

from __future__ import annotations

import torch
from torch import nn

from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE


def mlp(sizes: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """784 -> hidden[0] -> ... -> hidden[-1], ReLU after each layer."""

    def __init__(self, hidden: list[int], channels: list[int]):
        super().__init__()
        self.net = mlp([IMAGE_PIXELS, *hidden], last_activation=True)
        self.out_features = hidden[-1] if hidden else IMAGE_PIXELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """in -> hidden[0] -> ... -> 784 logits, ReLU between layers."""

    def __init__(self, in_features: int, hidden: list[int], channels: list[int]):
        super().__init__()
        self.net = mlp([in_features, *hidden, IMAGE_PIXELS], last_activation=False)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


_CONV_SIDE = IMAGE_SIDE // 4  # two stride-2 stages: 28 -> 14 -> 7


class ConvEncoder(nn.Module):
    """Two stride-2 conv stages (28 -> 14 -> 7), then an MLP over the flattened map."""

    def __init__(self, hidden: list[int], channels: list[int]):
        super().__init__()
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),  # (B, c2, 7, 7)
        )
        flat = c2 * _CONV_SIDE * _CONV_SIDE
        self.head = mlp([flat, *hidden], last_activation=True)
        self.out_features = hidden[-1] if hidden else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.conv(x.view(-1, 1, IMAGE_SIDE, IMAGE_SIDE))
        return self.head(maps.flatten(1))


class ConvDecoder(nn.Module):
    """An MLP up to a 7x7 map, then two stride-2 transposed convs (7 -> 14 -> 28) to logits."""

    def __init__(self, in_features: int, hidden: list[int], channels: list[int]):
        super().__init__()
        c1, c2 = channels
        self.c2 = c2
        self.head = mlp([in_features, *hidden, c2 * _CONV_SIDE * _CONV_SIDE], last_activation=True)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28)
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        maps = self.head(code).view(-1, self.c2, _CONV_SIDE, _CONV_SIDE)
        return self.deconv(maps).flatten(1)  # (B, 784)


BODIES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "mlp": (MLPEncoder, MLPDecoder),
    "conv": (ConvEncoder, ConvDecoder),
}
