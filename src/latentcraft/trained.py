"""A trained model for use from Python: images in, codes and images out.

`latentcraft.load(run_dir)` returns a `TrainedModel`. It takes images the way
they usually come: (B, 784), (B, 28, 28) or (B, 1, 28, 28), as uint8 pixels
(0–255) or floats in [0, 1], torch tensors or numpy arrays; it returns
encoder means μ (B, D) and images (B, 28, 28) in [0, 1], on the model's device.
Everything runs in eval mode without gradients. The underlying `LatentModel`
is `.model`, for anything else (its forward pass, its techniques).
"""

from __future__ import annotations

from typing import Any

import torch

from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE
from latentcraft.model.vae import LatentModel
from latentcraft.training.devices import module_device, resolve_device

_IMAGE_SHAPES = ((IMAGE_PIXELS,), (IMAGE_SIDE, IMAGE_SIDE), (1, IMAGE_SIDE, IMAGE_SIDE))  # accepted after B


def as_pixels(images: Any) -> torch.Tensor:
    """Images in any accepted layout and dtype -> (B, 784) float32 in [0, 1]."""
    x = torch.as_tensor(images)
    if x.dim() < 2 or tuple(x.shape[1:]) not in _IMAGE_SHAPES:
        raise ValueError(f"images: expected shape (B, 784), (B, 28, 28) or (B, 1, 28, 28), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"images: float pixels must lie in [0, 1], got {x.min().item():g}..{x.max().item():g}; "
                             "divide by 255 or pass uint8")
    else:
        raise ValueError(f"images: expected uint8 or floating-point pixels, got {x.dtype}")
    return x.reshape(len(x), IMAGE_PIXELS)


class TrainedModel:
    """A `LatentModel` in eval mode behind an image-friendly face."""

    def __init__(self, model: LatentModel):
        self.model = model.eval()

    @property
    def config(self):
        return self.model.config

    @property
    def latent_dim(self) -> int:
        return self.model.config.model.latent_dim

    @property
    def device(self) -> torch.device:
        return module_device(self.model)

    def to(self, device: str | torch.device) -> TrainedModel:
        """Move to a device ("cpu", "cuda", "auto", ...); returns self."""
        self.model.to(resolve_device(device))
        return self

    def _labels(self, labels: int | Any | None, count: int) -> torch.Tensor | None:
        if labels is None:
            return None
        if isinstance(labels, int):
            return torch.full((count,), labels, dtype=torch.long, device=self.device)
        return torch.as_tensor(labels, dtype=torch.long).to(self.device)

    @torch.no_grad()
    def encode(self, images: Any, with_logvar: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Encoder means μ (B, D); with_logvar=True also returns log σ² (zeros for a deterministic model)."""
        mu, logvar = self.model.encode(as_pixels(images).to(self.device))
        return (mu, logvar) if with_logvar else mu

    @torch.no_grad()
    def decode(self, codes: Any, labels: int | Any | None = None) -> torch.Tensor:
        """μ-space codes (B, D) -> images (B, 28, 28) in [0, 1].

        The model's latent activation (ReLU for routed models) is applied first, as
        in training, so traversing a coordinate of μ shows what the decoder sees.
        labels (an int for all, or one per code) feed a conditional decoder.
        """
        z = torch.as_tensor(codes, dtype=torch.float32).to(self.device)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"codes: expected shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        logits = self.model.decode(self.model.latent_activation(z), self._labels(labels, len(z)))
        return torch.sigmoid(logits).view(-1, IMAGE_SIDE, IMAGE_SIDE)

    def reconstruct(self, images: Any, labels: int | Any | None = None) -> torch.Tensor:
        """Images decoded from their own μ: (B, 28, 28) in [0, 1]."""
        return self.decode(self.encode(images), labels)

    def __repr__(self) -> str:
        techniques = ", ".join(self.model.techniques) or "none"
        return (f"TrainedModel({self.config.name!r}, latent_dim={self.latent_dim}, techniques: {techniques}, "
                f"device={self.device})")
