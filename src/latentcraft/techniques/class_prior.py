"""Class priors: each class's codes are pulled to a fixed point μ_c of the latent."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from latentcraft.config.sections import MAX_LAYER_SIZE, RunSpec, TechniqueSettings
from latentcraft.config.strict import check_at_least, check_at_most, check_choice, check_coordinates
from latentcraft.data.shape import classes_known, image_shape
from latentcraft.errors import ConfigError
from latentcraft.techniques.base import Technique, labelled


@dataclass
class PriorSettings(TechniqueSettings):
    enabled: bool = False  # per-class KL target N(μ_c, I); unlabelled examples keep N(0, I)
    placement: str = "circle"  # where the class means μ_c sit: "circle", "grid" or "points"
    radius: float = 3.0  # "circle": distance of every μ_c from the origin, latent units
    spacing: float = 3.0  # "grid": distance between neighbouring μ_c, latent units
    grid_columns: int = 5  # "grid": class means per row (rows fill top to bottom), 1..classes
    points: list[list[float]] | None = None  # "points": one μ_c per class, each with len(dims) numbers
    dims: list[int] = field(default_factory=lambda: [0, 1])  # latent coordinates μ_c lives in; the rest keep 0


def needs_kl(config: RunSpec, section: str) -> None:
    """A technique that moves the KL target needs one: a deterministic autoencoder has no KL term to move."""
    if config.model.deterministic:
        raise ConfigError(f"{section}.enabled: shapes the KL target, but model.deterministic = true has no KL")


def class_means(prior: PriorSettings, classes: int) -> torch.Tensor:
    """The placement's target point per class, in the coordinates `prior.dims`.  # (C, len(dims))"""
    k = torch.arange(classes, dtype=torch.float64)
    if prior.placement == "circle":
        angle = 2 * math.pi * k / classes
        points = prior.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    elif prior.placement == "grid":
        cols = prior.grid_columns
        rows = math.ceil(classes / cols)
        col, row = k % cols, torch.div(k, cols, rounding_mode="floor")
        points = prior.spacing * torch.stack([col - (cols - 1) / 2, (rows - 1) / 2 - row], dim=1)
    else:
        points = torch.tensor(prior.points, dtype=torch.float64)
    return points.float()


class ClassPriorMeans(Technique):
    """KL target N(μ_c, I) with a fixed point μ_c per class.

    KL = ½ Σ (σ² + (μ − μ_c)² − 1 − log σ²); unlabelled examples keep μ_c = 0.
    """

    settings_class = PriorSettings
    means: torch.Tensor  # buffers, declared for the type checker

    def __init__(self, prior: PriorSettings, latent_dim: int, classes: int):
        super().__init__()
        self.classes = classes
        means = torch.zeros(classes + 1, latent_dim)  # last row: the unlabelled example's target
        means[:classes, prior.dims] = class_means(prior, classes)
        self.register_buffer("means", means, persistent=False)

    @classmethod
    def check_settings(cls, p: PriorSettings, config: RunSpec) -> None:
        check_choice("prior.placement", p.placement, ("circle", "grid", "points"))
        classes = image_shape(config).classes
        check_at_most({"prior.grid_columns": p.grid_columns}, max(classes, 5))  # more would only add empty columns
        check_at_least({"prior.grid_columns": p.grid_columns}, 1)
        check_at_least({"prior.dims": p.dims}, 0)
        check_at_most({"prior.dims": p.dims}, MAX_LAYER_SIZE - 1)
        if not p.enabled:
            return
        needs_kl(config, "prior")
        if not p.dims:
            raise ConfigError("prior.dims: needs at least one latent coordinate")
        check_coordinates("prior.dims", p.dims, config.model.latent_dim)
        if p.placement in ("circle", "grid") and len(p.dims) != 2:
            raise ConfigError(f"prior.dims: placement {p.placement!r} is 2-D, so dims needs 2 coordinates, "
                              f"got {p.dims}")
        if p.placement == "grid" and p.grid_columns < 1:
            raise ConfigError(f"prior.grid_columns: must be at least 1, got {p.grid_columns}")
        if p.placement == "points":
            if p.points is None or (len(p.points) != classes and classes_known(config)):
                count = "none" if p.points is None else len(p.points)
                raise ConfigError(f"prior.points: placement 'points' needs one point per class ({classes}), "
                                  f"got {count}")
            for k, point in enumerate(p.points):
                if len(point) != len(p.dims):
                    raise ConfigError(
                        f"prior.points[{k}]: has {len(point)} numbers, but prior.dims names {len(p.dims)} coordinates"
                    )

    @classmethod
    def from_config(cls, settings: PriorSettings, config: RunSpec) -> ClassPriorMeans:
        return cls(settings, config.model.latent_dim, image_shape(config).classes)

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        if y is None:
            return None
        rows = torch.where(labelled(y), y, torch.full_like(y, self.classes))
        return self.means[rows]  # (B, D)

    def describe(self) -> dict[str, Any]:
        return {"class_means": self.means[:self.classes].tolist()}
