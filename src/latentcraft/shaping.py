"""Latent-shaping techniques: small parts the one VAE switches on by config.

Each technique may hook into four places of the forward pass; the defaults do
nothing, so a technique overrides only what it changes:

    route(z, y)          -> z             reshape how gradient flows through the sample
    decoder_inputs(y)    -> (B, k) | None extra decoder inputs appended to z
    kl_target(x, y)      -> (B, D) | None shift of the KL target mean (summed over techniques)
    extra_losses(out, y) -> dict          named loss terms added to the total

`TECHNIQUES` lists (name, is-enabled test, constructor); `build_techniques`
instantiates the enabled ones in that order.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .config import Config
from .constants import UNLABELLED


class Technique(nn.Module):
    decoder_extra_features = 0  # width of what decoder_inputs appends

    def route(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return z

    def decoder_inputs(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        return None

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {}

    def describe(self) -> dict:
        """JSON-able facts for manifests and reports."""
        return {}


class GradientRouting(Technique):
    """Per-example stop-gradient mask on z (Cloud et al. 2024, "Gradient Routing").

    z' = m * z + (1 - m) * stopgrad(z): the decoder sees all of z, but only the
    coordinates in m (those the example's label owns, plus free coordinates)
    pass gradient back into the encoder. No label is needed at evaluation.
    """

    def __init__(self, routes: list[list[int]], free: list[int], latent_dim: int, unlabelled: str):
        super().__init__()
        masks = torch.zeros(len(routes) + 1, latent_dim)  # last row: the unlabelled example's mask
        for label, coords in enumerate(routes):
            masks[label, coords] = 1.0
            masks[label, free] = 1.0
        masks[-1] = {"all": 1.0, "free": 0.0, "none": 0.0}[unlabelled]
        if unlabelled == "free":
            masks[-1, free] = 1.0
        self.register_buffer("masks", masks, persistent=False)
        self.routes, self.free = routes, free

    def mask(self, y: torch.Tensor) -> torch.Tensor:
        rows = torch.where(y == UNLABELLED, torch.full_like(y, len(self.routes)), y)
        return self.masks[rows]  # (B, D)

    def route(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None or not self.training:
            return z
        m = self.mask(y).to(z.dtype)
        return m * z + (1 - m) * z.detach()

    def describe(self) -> dict:
        return {"routes": self.routes, "free": self.free}


TechniqueEntry = tuple[str, Callable[[Config], bool], Callable[[Config], Technique]]

TECHNIQUES: list[TechniqueEntry] = [
    (
        "routing",
        lambda c: c.routing.enabled,
        lambda c: GradientRouting(c.route_map(), c.routing.free, c.model.latent_dim, c.routing.unlabelled),
    ),
]


def build_techniques(config: Config) -> nn.ModuleDict:
    return nn.ModuleDict({name: make(config) for name, enabled, make in TECHNIQUES if enabled(config)})
