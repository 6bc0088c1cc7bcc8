"""A trained model for use from Python: images in, codes and images out.

`latentcraft.load(run_dir)` returns a `TrainedModel`. It takes images of the
run's own shape (`.shape`: MNIST's 28 × 28 grey, or the size, channels and
classes the run recorded from its data) the way they usually come: flattened
(B, C·H·W), (B, H, W) or (B, 1, H, W) for grey, (B, 3, H, W) or (B, H, W, 3)
for colour, as uint8 pixels (0–255) or floats in [0, 1], torch tensors or
numpy arrays (or nested lists). It returns encoder means μ (B, D) and images
(B, H, W) grey or (B, H, W, 3) colour in [0, 1], on the model's device.
Everything runs in eval mode without gradients. The underlying `LatentModel`
is `.model`, for anything else (its forward pass, its techniques).

Every argument is checked first, and a wrong one is an ArgumentError naming
it and the shape expected (api.py's module docstring lists the rules): NaN or
infinite pixels or codes, codes of the wrong width, labels outside
0..classes−1, of the wrong count, or given to a model whose decoder takes none.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.errors import ArgumentError, ConfigError, check_flag, shown
from latentcraft.model.vae import LatentModel
from latentcraft.training.devices import module_device, resolve_device

_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def check_device(device: Any, name: str) -> torch.device:
    """A device name ("cpu", "auto", "cuda", "cuda:N", "mps") or a torch.device that this machine has."""
    if not isinstance(device, (str, torch.device)):
        raise ArgumentError(f"{name}: expected a device name such as 'cpu', 'cuda' or 'auto', "
                            f"got {type(device).__name__}")
    try:
        return resolve_device(device)
    except ConfigError as err:  # its message names train.device; here the argument is `name`
        raise ArgumentError(f"{name}: {str(err).removeprefix('train.device: ')}") from None


def as_tensor(value: Any, name: str) -> torch.Tensor:
    """A torch tensor, numpy array or nested list of numbers as a dense tensor; anything else is refused."""
    if not isinstance(value, (torch.Tensor, np.ndarray, list, tuple)):
        raise ArgumentError(f"{name}: expected a torch tensor or numpy array, got {type(value).__name__}")
    try:
        x = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:  # ragged lists, strings, object arrays
        reason = " ".join(str(err).split()).split(". ")[0][:100]  # torch's first sentence says which element
        raise ArgumentError(f"{name}: not an array of numbers ({reason})") from None
    if x.layout != torch.strided:
        raise ArgumentError(f"{name}: expected a dense tensor, got layout {x.layout}")
    return x


def _check_finite(x: torch.Tensor, name: str) -> None:
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ArgumentError(f"{name}: must hold finite numbers, got NaN or infinity (or a value beyond float32)")


def image_layouts(shape: ImageShape) -> list[tuple[int, ...]]:
    """The layouts an image batch may take after its batch dimension, channel-first ones first."""
    c, h, w = shape.chw
    if shape.grey:
        return [(shape.features,), (h, w), (1, h, w), (h, w, 1)]
    return [(shape.features,), (c, h, w), (h, w, c)]


def layouts_text(shape: ImageShape) -> str:
    """'(B, 784), (B, 28, 28) or (B, 1, 28, 28)': the accepted batch shapes, as messages quote them."""
    texts = [f"(B, {', '.join(map(str, layout))})" for layout in image_layouts(shape)[:3]]
    return f"{', '.join(texts[:-1])} or {texts[-1]}"


def as_pixels(images: Any, shape: ImageShape = MNIST_SHAPE) -> torch.Tensor:
    """Images of `shape` in any accepted layout and dtype -> (B, C·H·W) float32 in [0, 1], channel-first."""
    x = as_tensor(images, "images")
    if x.dim() < 2 or tuple(x.shape[1:]) not in image_layouts(shape):
        colour = "grey" if shape.grey else "RGB"
        raise ArgumentError(f"images: expected shape {layouts_text(shape)}, got {tuple(x.shape)}; this model reads "
                            f"{shape.width}×{shape.height} {colour} images")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        _check_finite(x, "images")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ArgumentError(f"images: float pixels must lie in [0, 1], got {x.min().item():g}.."
                                f"{x.max().item():g}; divide by 255 or pass uint8")
    else:
        raise ArgumentError(f"images: expected uint8 or floating-point pixels, got {x.dtype}")
    if x.dim() == 4 and x.shape[-1] == shape.channels and x.shape[1] != shape.channels:
        x = x.permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W), the models' layout
    return x.reshape(len(x), shape.features)


class TrainedModel:
    """A `LatentModel` in eval mode behind an image-friendly face."""

    def __init__(self, model: LatentModel):
        if not isinstance(model, LatentModel):
            raise ArgumentError(f"model: expected a LatentModel (latentcraft.load(run_dir) makes one), "
                                f"got {type(model).__name__}")
        self.model = model.eval()

    @property
    def config(self):
        return self.model.config

    @property
    def shape(self) -> ImageShape:
        """The images this model reads and writes: height, width, channels and class names (from its run)."""
        return self.model.shape

    @property
    def latent_dim(self) -> int:
        return self.model.config.model.latent_dim

    @property
    def takes_labels(self) -> bool:
        """Whether the decoder reads a class label beside the code (a conditional decoder): decode needs labels."""
        return sum(t.decoder_extra_features for t in self.model.hooks()) > 0

    @property
    def device(self) -> torch.device:
        return module_device(self.model)

    def to(self, device: str | torch.device) -> TrainedModel:
        """Move to a device ("cpu", "cuda", "auto", ...); returns self."""
        self.model.to(check_device(device, "device"))
        return self

    def _labels(self, labels: int | Any | None, count: int) -> torch.Tensor | None:
        """One label per code for a conditional decoder; a label for any other decoder would be ignored, so refused."""
        if labels is None:
            if self.takes_labels:
                raise ArgumentError("labels: this model has a conditional decoder (conditional.enabled): decode "
                                    f"needs a label per code (an int 0..{self.shape.classes - 1} for all, or one "
                                    "per code)")
            return None
        classes = self.shape.classes
        if not self.takes_labels:
            raise ArgumentError("labels: this model's decoder takes no label (it has no conditional decoder); "
                                "leave labels out")
        if isinstance(labels, (bool, np.bool_)) or not isinstance(
                labels, (numbers.Integral, torch.Tensor, np.ndarray, list, tuple)):
            raise ArgumentError(f"labels: expected an int 0..{classes - 1} for every code, or one per code "
                                f"(a list, tensor or array), got {type(labels).__name__} {shown(labels)}")
        if isinstance(labels, numbers.Integral):
            y = torch.full((count,), int(labels), dtype=torch.long)
        else:
            y = as_tensor(labels, "labels")
            if y.dtype not in _INTEGER_DTYPES:
                raise ArgumentError(f"labels: expected whole numbers (an int, or an integer tensor or array), "
                                    f"got {y.dtype}")
            y = y.long().expand(count) if y.dim() == 0 else y.long()
            if tuple(y.shape) != (count,):
                raise ArgumentError(f"labels: expected {count} labels (one per code), got shape {tuple(y.shape)}")
        if y.numel() and (y.min() < 0 or y.max() >= classes):
            bad = y[(y < 0) | (y >= classes)][0].item()
            raise ArgumentError(f"labels: must be class indices 0..{classes - 1} "
                                f"({', '.join(self.shape.class_names[:3])}, ...), got {bad}")
        return y.to(self.device)

    @torch.no_grad()
    def encode(self, images: Any, with_logvar: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Encoder means μ (B, D); with_logvar=True also returns log σ² (zeros for a deterministic model)."""
        with_logvar = check_flag(with_logvar, "with_logvar")
        mu, logvar = self.model.encode(as_pixels(images, self.shape).to(self.device))
        return (mu, logvar) if with_logvar else mu

    @torch.no_grad()
    def decode(self, codes: Any, labels: int | Any | None = None) -> torch.Tensor:
        """μ-space codes (B, D) -> images (B, H, W) grey or (B, H, W, 3) colour, in [0, 1].

        The model's latent activation (ReLU for routed models) is applied first, as
        in training, so traversing a coordinate of μ shows what the decoder sees.
        labels (a class index for all, or one per code) feed a conditional decoder,
        and only one: see `takes_labels`.
        """
        z = as_tensor(codes, "codes")
        if z.dtype == torch.bool or not (z.is_floating_point() or z.dtype in _INTEGER_DTYPES):
            raise ArgumentError(f"codes: expected real numbers, got {z.dtype}")
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ArgumentError(f"codes: expected shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        z = z.float()
        _check_finite(z, "codes")
        y = self._labels(labels, len(z))
        logits = self.model.decode(self.model.latent_activation(z.to(self.device)), y)
        return self.shape.images(torch.sigmoid(logits)).contiguous()  # (B, H, W) or (B, H, W, 3)

    def reconstruct(self, images: Any, labels: int | Any | None = None) -> torch.Tensor:
        """Images decoded from their own μ, shaped as decode returns them."""
        return self.decode(self.encode(images), labels)

    def __repr__(self) -> str:
        techniques = ", ".join(self.model.techniques) or "none"
        return (f"TrainedModel({self.config.name!r}, {self.shape.describe()}, latent_dim={self.latent_dim}, "
                f"techniques: {techniques}, device={self.device})")
