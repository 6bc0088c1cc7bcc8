"""Anchors: template scores (round vs. stick-like ink) shift the KL target mean, with no label read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from latentcraft.config.sections import MAX_LAYER_SIZE, RunSpec, TechniqueSettings
from latentcraft.config.strict import check_at_least, check_at_most, check_coordinates
from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import image_shape
from latentcraft.errors import ConfigError
from latentcraft.techniques.anchor_templates import (
    BUILT_IN,
    CLASS_MEAN_PREFIX,
    TemplateError,
    check_name,
    is_file_spec,
    resolve_template,
)
from latentcraft.techniques.base import Technique
from latentcraft.techniques.class_prior import needs_kl


@dataclass
class AnchorSettings(TechniqueSettings):
    enabled: bool = False  # template scores shift the KL target mean: μ + a·s(x) replaces μ
    rate: float = 1.0  # a: latent units per unit of template score s(x)
    # "donut", "stick", "class-mean:K", or a .npy/image path (28x28)
    templates: list[str] = field(default_factory=lambda: ["donut", "stick"])
    weights: list[float] = field(default_factory=lambda: [1.0, -1.0])  # s(x) = Σ_k weights[k]·<x, T_k>/Σx
    dims: list[int] | None = None  # latent coordinates the shift applies to; None = all of them


def _template(index: int, spec: str, training: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    try:
        return resolve_template(spec, training)
    except TemplateError as err:
        raise ConfigError(f"anchors.templates[{index}]: {err}") from None


class Anchors(Technique):
    """Template scores shift the KL target mean (the anchored-corners experiment).

    s(x) = Σ_k w_k <x, T_k> / Σx; with (donut, +1), (stick, −1) this is <x, donut>/Σx − <x, stick>/Σx.
    "Use μ + a·s(x) in place of μ in the
    KL" is the same as the target mean −a·s(x) on the anchored coordinates, so
    round digits (s > 0) are pulled to the negative corner and sticks (s < 0)
    to the positive one. No label is read.

    Built-in templates are drawn at construction; class means and files are
    NaN placeholders until `fit` (or loading the saved weights) fills them.
    """

    settings_class = AnchorSettings
    templates: torch.Tensor  # buffers, declared for the type checker
    weights: torch.Tensor
    direction: torch.Tensor

    def __init__(self, specs: list[str], weights: list[float], rate: float, dims: list[int], latent_dim: int,
                 features: int = IMAGE_PIXELS):
        super().__init__()
        self.specs = specs
        unknown = torch.full((features,), math.nan)
        templates = torch.stack([BUILT_IN[spec]() if spec in BUILT_IN else unknown for spec in specs])  # (K, 784)
        self.register_buffer("templates", templates)  # saved: class means depend on the data, files may move
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        direction = torch.zeros(latent_dim)
        direction[dims] = 1.0
        self.register_buffer("direction", direction, persistent=False)  # (D,) which coordinates move
        self.rate = rate

    @classmethod
    def check_settings(cls, a: AnchorSettings, config: RunSpec) -> None:
        check_at_least({"anchors.dims": a.dims or []}, 0)  # off, they must still be possible coordinates
        check_at_most({"anchors.dims": a.dims or []}, MAX_LAYER_SIZE - 1)
        if not a.enabled:
            return
        needs_kl(config, "anchors")
        if not a.templates:
            raise ConfigError("anchors.templates: needs at least one template")
        if len(a.weights) != len(a.templates):
            raise ConfigError(
                f"anchors.weights: needs one weight per template ({len(a.templates)}), got {len(a.weights)}"
            )
        shape = image_shape(config)
        for i, spec in enumerate(a.templates):
            try:
                check_name(spec, shape.classes)
            except TemplateError as err:
                raise ConfigError(f"anchors.templates[{i}]: {err}") from None
            if not spec.startswith(CLASS_MEAN_PREFIX) and shape.chw != (1, IMAGE_SIDE, IMAGE_SIDE):
                raise ConfigError(f"anchors.templates[{i}]: {spec!r} is a 28×28 grey mask and this data is "
                                  f"{shape.describe()}; use '{CLASS_MEAN_PREFIX}K' templates, which fit any data")
        if a.dims is not None:
            if not a.dims:
                raise ConfigError("anchors.dims: needs at least one latent coordinate (or leave it unset for all)")
            check_coordinates("anchors.dims", a.dims, config.model.latent_dim)

    @classmethod
    def from_config(cls, a: AnchorSettings, config: RunSpec) -> Anchors:
        dims = a.dims if a.dims is not None else list(range(config.model.latent_dim))
        return cls(a.templates, a.weights, a.rate, dims, config.model.latent_dim, image_shape(config).features)

    @classmethod
    def check_files(cls, settings: AnchorSettings) -> None:
        for i, spec in enumerate(settings.templates):
            if is_file_spec(spec):
                _template(i, spec)

    def fit(self, train: ImageSet) -> None:
        """Class-mean templates from the (possibly partly unlabelled) training set; file templates read now."""
        for i, spec in enumerate(self.specs):
            if spec not in BUILT_IN:
                self.templates[i] = _template(i, spec, (train.floats(), train.labels))  # as the model reads them

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """s(x) per image.  # (B,)"""
        if torch.isnan(self.templates).any():
            unfitted = [spec for spec, t in zip(self.specs, self.templates) if torch.isnan(t).any()]
            raise RuntimeError(f"anchor templates {unfitted} are not computed yet: call model.fit(training set) "
                               "before training, or load the model from its run folder")
        with torch.autocast(device_type=x.device.type, enabled=False):  # overlaps are ratios; keep fp32
            x = x.float()
            overlaps = x @ self.templates.T / x.sum(1, keepdim=True).clamp_min(1e-6)  # (B, K)
            return overlaps @ self.weights

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return -self.rate * self.score(x).unsqueeze(1) * self.direction  # (B, D)
