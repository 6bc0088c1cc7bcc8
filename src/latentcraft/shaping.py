"""Latent-shaping techniques: small parts the one VAE switches on by config.

Each technique may hook into four places of the forward pass; the defaults do
nothing, so a technique overrides only what it changes:

    route(z, y, mu, epoch) -> z           reshape how gradient flows through the sample
    decoder_inputs(y)    -> (B, k) | None extra decoder inputs appended to z
    kl_target(x, y)      -> (B, D) | None shift of the KL target mean (summed over techniques)
    outputs(out)         -> dict          named tensors for ModelOutput.extras (e.g. class logits)
    extra_losses(out, y) -> dict          named loss terms added to the total

Every technique that reads labels accepts UNLABELLED (-1) examples: they get
no label input, the N(0, I) target, or no loss term, as each class says.

`TECHNIQUES` lists (name, is-enabled test, constructor); `build_techniques`
instantiates the enabled ones in that order.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config, ConfigError, PriorConfig
from .constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from .data import ImageSet
from .nets import mlp
from .templates import BUILT_IN, TemplateError, resolve_template


class Technique(nn.Module):
    decoder_extra_features = 0  # width of what decoder_inputs appends

    def fit(self, train: ImageSet) -> None:
        """Compute what this technique derives from the training set (once, before training)."""

    def route(self, z: torch.Tensor, y: torch.Tensor, mu: torch.Tensor, epoch: float | None) -> torch.Tensor:
        return z

    def decoder_inputs(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        return None

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def outputs(self, out) -> dict[str, torch.Tensor]:
        return {}

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

    def __init__(self, routes: list[list[int]], free: list[int], latent_dim: int, unlabelled: str,
                 detached_mean_epochs: float = 0):
        super().__init__()
        self.detached_mean_epochs = detached_mean_epochs
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

    def route(self, z: torch.Tensor, y: torch.Tensor | None, mu: torch.Tensor, epoch: float | None) -> torch.Tensor:
        if y is None or not self.training:
            return z
        m = self.mask(y).to(z.dtype)
        # Early in training, detached coordinates carry their mean, not a sample.
        # Otherwise every coordinate is pure noise for the 90% of examples it is
        # not routed to, the decoder learns to ignore it, and a digit can settle
        # on the "all off" code below the ReLU and never get gradient again.
        detached = mu if epoch is not None and epoch < self.detached_mean_epochs else z
        return m * z + (1 - m) * detached.detach()

    def describe(self) -> dict:
        return {"routes": self.routes, "free": self.free}


def _labelled(y: torch.Tensor) -> torch.Tensor:
    return y != UNLABELLED  # (B,) bool


class ConditionalDecoder(Technique):
    """The one-hot label is concatenated to z before decoding (SPEC §3).

    The code is then free to hold label-free style. At generation time the
    label is an input; an unlabelled example gets an all-zero label vector.
    """

    decoder_extra_features = NUM_CLASSES

    def decoder_inputs(self, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        if y is None:
            raise ValueError("this model has a conditional decoder (conditional.enabled): decode needs a label per code")
        if y.shape != (batch,):
            raise ValueError(f"conditional decoder: expected {batch} labels, got shape {tuple(y.shape)}")
        safe = torch.where(_labelled(y), y, torch.zeros_like(y))
        return F.one_hot(safe, NUM_CLASSES).float() * _labelled(y).unsqueeze(1).float()  # (B, 10)


def class_means(prior: PriorConfig) -> torch.Tensor:
    """The placement's target point per class, in the coordinates `prior.dims`.  # (10, len(dims))"""
    k = torch.arange(NUM_CLASSES, dtype=torch.float64)
    if prior.placement == "circle":
        angle = 2 * math.pi * k / NUM_CLASSES
        points = prior.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    elif prior.placement == "grid":
        cols = prior.grid_columns
        rows = math.ceil(NUM_CLASSES / cols)
        col, row = k % cols, torch.div(k, cols, rounding_mode="floor")
        points = prior.spacing * torch.stack([col - (cols - 1) / 2, (rows - 1) / 2 - row], dim=1)
    else:
        points = torch.tensor(prior.points, dtype=torch.float64)
    return points.float()


class ClassPriorMeans(Technique):
    """KL target N(μ_c, I) with a fixed point μ_c per class (SPEC §3).

    KL = ½ Σ (σ² + (μ − μ_c)² − 1 − log σ²); unlabelled examples keep μ_c = 0.
    """

    def __init__(self, prior: PriorConfig, latent_dim: int):
        super().__init__()
        means = torch.zeros(NUM_CLASSES + 1, latent_dim)  # last row: the unlabelled example's target
        means[:NUM_CLASSES, prior.dims] = class_means(prior)
        self.register_buffer("means", means, persistent=False)

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        if y is None:
            return None
        rows = torch.where(_labelled(y), y, torch.full_like(y, NUM_CLASSES))
        return self.means[rows]  # (B, D)

    def describe(self) -> dict:
        return {"class_means": self.means[:NUM_CLASSES].tolist()}


class ClassifierHead(Technique):
    """A linear (or small MLP) head from μ to class logits; weighted cross-entropy (SPEC §2, §3).

    The head reads μ, not a sample (STYLE: use μ for classification), so its
    accuracy at test time is that of the code itself. Unlabelled examples add
    no cross-entropy.
    """

    def __init__(self, latent_dim: int, hidden: list[int], weight: float):
        super().__init__()
        self.head = mlp([latent_dim, *hidden, NUM_CLASSES], last_activation=False)
        self.weight = weight

    def outputs(self, out) -> dict[str, torch.Tensor]:
        return {"class_logits": self.head(out.mu).float()}  # (B, 10)

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if y is None:
            return {}
        logits = out.extras["class_logits"]
        keep = _labelled(y)
        if not keep.any():
            return {"class_ce": logits.sum() * 0.0}  # keeps the graph; a batch with no labels adds nothing
        return {"class_ce": self.weight * F.cross_entropy(logits[keep], y[keep])}


class Anchors(Technique):
    """Template scores shift the KL target mean (SPEC §4).

    s(x) = Σ_k w_k <x, T_k> / Σx; with (donut, +1), (stick, −1) this is the
    SPEC's <x, donut>/Σx − <x, stick>/Σx. "Use μ + a·s(x) in place of μ in the
    KL" is the same as the target mean −a·s(x) on the anchored coordinates, so
    round digits (s > 0) are pulled to the negative corner and sticks (s < 0)
    to the positive one. No label is read.

    Built-in templates are drawn at construction; class means and files are
    NaN placeholders until `fit` (or loading the saved weights) fills them.
    """

    def __init__(self, specs: list[str], weights: list[float], rate: float, dims: list[int], latent_dim: int):
        super().__init__()
        self.specs = specs
        unknown = torch.full((IMAGE_PIXELS,), math.nan)
        templates = torch.stack([BUILT_IN[spec]() if spec in BUILT_IN else unknown for spec in specs])  # (K, 784)
        self.register_buffer("templates", templates)  # saved: class means depend on the data, files may move
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        direction = torch.zeros(latent_dim)
        direction[dims] = 1.0
        self.register_buffer("direction", direction, persistent=False)  # (D,) which coordinates move
        self.rate = rate

    def fit(self, train: ImageSet) -> None:
        """Class-mean templates from the (possibly partly unlabelled) training set; file templates read now."""
        for i, spec in enumerate(self.specs):
            if spec in BUILT_IN:
                continue
            try:
                self.templates[i] = resolve_template(spec, (train.images, train.labels))
            except TemplateError as err:
                raise ConfigError(f"anchors.templates[{i}]: {err}") from None

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


def build_anchors(config: Config) -> Anchors:
    a = config.anchors
    dims = a.dims if a.dims is not None else list(range(config.model.latent_dim))
    return Anchors(a.templates, a.weights, a.rate, dims, config.model.latent_dim)


TechniqueEntry = tuple[str, Callable[[Config], bool], Callable[[Config], Technique]]

TECHNIQUES: list[TechniqueEntry] = [
    (
        "routing",
        lambda c: c.routing.enabled,
        lambda c: GradientRouting(c.route_map(), c.routing.free, c.model.latent_dim, c.routing.unlabelled,
                                  c.routing.detached_mean_epochs),
    ),
    ("conditional", lambda c: c.conditional.enabled, lambda c: ConditionalDecoder()),
    ("prior", lambda c: c.prior.enabled, lambda c: ClassPriorMeans(c.prior, c.model.latent_dim)),
    ("anchors", lambda c: c.anchors.enabled, build_anchors),
    (
        "classifier",
        lambda c: c.classifier.enabled,
        lambda c: ClassifierHead(c.model.latent_dim, c.classifier.hidden, c.classifier.weight),
    ),
]


def build_techniques(config: Config) -> nn.ModuleDict:
    return nn.ModuleDict({name: make(config) for name, enabled, make in TECHNIQUES if enabled(config)})
