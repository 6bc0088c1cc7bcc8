"""Latent-shaping techniques: small parts the one VAE switches on by config.

Each technique may hook into the forward pass; the defaults do nothing, so a
technique overrides only what it changes:

    route(z, y, mu, epoch) -> z           reshape how gradient flows through the sample
    decoder_inputs(y)    -> (B, k) | None extra decoder inputs appended to z
    kl_target(x, y)      -> (B, D) | None shift of the KL target mean (summed over techniques)
    outputs(out)         -> dict          named tensors for ModelOutput.extras (e.g. class logits)
    extra_losses(out, y) -> dict          named loss terms added to the total
    training_losses(model, x, out, y, epoch) -> dict  terms of training only (by epoch; may decode again)
    decoder_view(code)   -> code          what the decoder reads of a code, everywhere (e.g. a one-hot)
    frozen_modules(model, epoch) -> list  modules that get no gradient in this epoch (a schedule)
    fit(train)                            what it derives from the training set, once before training

A technique also owns its read-outs, so metrics, figures and the explorer loop
over techniques and never ask for one by name:

    predict(mu)          -> (B, 10) | None class scores read from μ; `prediction_metric` names their accuracy
    evaluate_codes(mu, labels)            extra metrics and record entries of the `evaluate` command
    evaluate_model(model, fit, test, judge)  the same, for read-outs that decode or re-encode images
    figures(model, data, out_dir)         extra figures of the `plot` command
    coordinate_labels, slider_ranges, manifest_entries, head_graph: what the explorer shows
    metrics                               registry entries (metric_registry) of the metrics it adds

Every technique that reads labels accepts UNLABELLED (-1) examples: they get
no label input, the N(0, I) target, or no loss term, as each class says.

The base class is in technique.py, gradient routing in routing.py.
`TECHNIQUES` maps a config section to its technique class; `build_techniques`
instantiates those whose section is enabled, in that order.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from latentcraft.config.run_config import Config, PriorConfig
from latentcraft.errors import ConfigError
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES
from latentcraft.data.mnist import ImageSet
from latentcraft.evaluation.registry import PREDICTION, TRAINING, Metric
from latentcraft.model.bodies import mlp
from latentcraft.techniques.routing import GradientRouting
from latentcraft.techniques.templates import BUILT_IN, TemplateError, is_file_spec, resolve_template
from latentcraft.techniques.base import HeadGraph, Technique, labelled

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel


class ConditionalDecoder(Technique):
    """The one-hot label is concatenated to z before decoding (SPEC §3).

    The code is then free to hold label-free style. At generation time the
    label is an input; an unlabelled example gets an all-zero label vector.
    """

    decoder_extra_features = NUM_CLASSES
    kind = "conditional"

    @classmethod
    def from_config(cls, c: Config) -> ConditionalDecoder:
        return cls()

    def decoder_inputs(self, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        if y is None:
            raise ValueError("this model has a conditional decoder (conditional.enabled): decode needs a label per code")
        if y.shape != (batch,):
            raise ValueError(f"conditional decoder: expected {batch} labels, got shape {tuple(y.shape)}")
        safe = torch.where(labelled(y), y, torch.zeros_like(y))
        return F.one_hot(safe, NUM_CLASSES).float() * labelled(y).unsqueeze(1).float()  # (B, 10)


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

    @classmethod
    def from_config(cls, c: Config) -> ClassPriorMeans:
        return cls(c.prior, c.model.latent_dim)

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        if y is None:
            return None
        rows = torch.where(labelled(y), y, torch.full_like(y, NUM_CLASSES))
        return self.means[rows]  # (B, D)

    def describe(self) -> dict:
        return {"class_means": self.means[:NUM_CLASSES].tolist()}


class ClassifierHead(Technique):
    """A linear (or small MLP) head from μ to class logits; weighted cross-entropy (SPEC §2, §3).

    The head reads μ, not a sample (STYLE: use μ for classification), so its
    accuracy at test time is that of the code itself. Unlabelled examples add
    no cross-entropy.
    """

    metrics = {
        "test_classifier_accuracy": Metric("classifier head accuracy", True, PREDICTION),
        "train_class_ce": Metric("training cross-entropy of the head (× classifier.weight)", False, TRAINING),
    }
    prediction_metric = "classifier_accuracy"
    head_graph = HeadGraph("classifier", "class_logits")

    def __init__(self, latent_dim: int, hidden: list[int], weight: float):
        super().__init__()
        self.head = mlp([latent_dim, *hidden, NUM_CLASSES], last_activation=False)
        self.weight = weight
        self.latent_dim = latent_dim

    @classmethod
    def from_config(cls, c: Config) -> ClassifierHead:
        return cls(c.model.latent_dim, c.classifier.hidden, c.classifier.weight)

    def predict(self, mu: torch.Tensor) -> torch.Tensor:
        return self.head(mu).float()  # (B, 10) logits

    def outputs(self, out) -> dict[str, torch.Tensor]:
        return {"class_logits": self.predict(out.mu)}

    def figures(self, model: LatentModel, data: ImageSet, out_dir: Path) -> list[Path]:
        if self.latent_dim != 2:
            return []
        from latentcraft.reporting.plots import plot_decision_regions  # late import: matplotlib is slow to import

        return [plot_decision_regions(model, data, out_dir / "decision_regions.png", self.predict,
                                      "classifier head decision regions, test means on top")]

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if y is None:
            return {}
        logits = out.extras["class_logits"]
        keep = labelled(y)
        if not keep.any():
            return {"class_ce": logits.sum() * 0.0}  # keeps the graph; a batch with no labels adds nothing
        return {"class_ce": self.weight * F.cross_entropy(logits[keep], y[keep])}


def _template(index: int, spec: str, training: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    try:
        return resolve_template(spec, training)
    except TemplateError as err:
        raise ConfigError(f"anchors.templates[{index}]: {err}") from None


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

    @classmethod
    def from_config(cls, c: Config) -> Anchors:
        dims = c.anchors.dims if c.anchors.dims is not None else list(range(c.model.latent_dim))
        return cls(c.anchors.templates, c.anchors.weights, c.anchors.rate, dims, c.model.latent_dim)

    @classmethod
    def check_files(cls, config: Config) -> None:
        for i, spec in enumerate(config.anchors.templates):
            if is_file_spec(spec):
                _template(i, spec)

    def fit(self, train: ImageSet) -> None:
        """Class-mean templates from the (possibly partly unlabelled) training set; file templates read now."""
        for i, spec in enumerate(self.specs):
            if spec not in BUILT_IN:
                self.templates[i] = _template(i, spec, (train.images, train.labels))

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


TECHNIQUES: dict[str, type[Technique]] = {  # config section -> technique, in forward-pass order
    "routing": GradientRouting,
    "conditional": ConditionalDecoder,
    "prior": ClassPriorMeans,
    "anchors": Anchors,
    "classifier": ClassifierHead,
}


def _enabled(config: Config) -> dict[str, type[Technique]]:
    return {name: cls for name, cls in TECHNIQUES.items() if getattr(config, name).enabled}


def build_techniques(config: Config) -> nn.ModuleDict:
    return nn.ModuleDict({name: cls.from_config(config) for name, cls in _enabled(config).items()})


def check_files(config: Config) -> None:
    """Read every file the enabled techniques name (anchor templates); ConfigError naming the field if one is bad.

    Run when training starts, not when a config is parsed: a saved run's config
    must load from any working directory, and what it read is in its weights.
    """
    for cls in _enabled(config).values():
        cls.check_files(config)
