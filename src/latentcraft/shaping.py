"""Latent-shaping techniques: small parts the one VAE switches on by config.

Each technique may hook into the forward pass; the defaults do nothing, so a
technique overrides only what it changes:

    route(z, y, mu, epoch) -> z           reshape how gradient flows through the sample
    decoder_inputs(y)    -> (B, k) | None extra decoder inputs appended to z
    kl_target(x, y)      -> (B, D) | None shift of the KL target mean (summed over techniques)
    outputs(out)         -> dict          named tensors for ModelOutput.extras (e.g. class logits)
    extra_losses(out, y) -> dict          named loss terms added to the total
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

`TECHNIQUES` maps a config section to its technique class; `build_techniques`
instantiates those whose section is enabled, in that order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import Config, ConfigError, PriorConfig
from .constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from .data import ImageSet
from .metric_registry import DIAGNOSTIC, PREDICTION, TRAINING, Metric, register
from .metrics import confusion_matrix, routed_scores, routing_selectivity
from .nets import mlp
from .readouts import central_range
from .robustness import register_robustness
from .style_metrics import STYLE_METRICS, Reader, evaluate_style, style_entries
from .templates import BUILT_IN, TemplateError, is_file_spec, resolve_template

if TYPE_CHECKING:
    from .model import LatentModel


@dataclass(frozen=True)
class HeadGraph:
    """`predict` exported as an ONNX graph μ (B, D) -> class scores (B, 10) that the explorer runs.

    Its argmax also colours the explorer's 2-D plane. `name` is the manifest
    flag and files key (the file is <name>.onnx); `output` is the output name the pages read.
    """

    name: str
    output: str


class Technique(nn.Module):
    decoder_extra_features = 0  # width of what decoder_inputs appends
    kind: str | None = None  # what the explorer calls a model with this technique; the first technique's wins
    metrics: dict[str, Metric] = {}  # the metrics it adds, registered in metric_registry with the class
    prediction_metric: str | None = None  # per-split name of the accuracy of `predict`, e.g. "argmax_accuracy"
    head_graph: HeadGraph | None = None  # `predict` as an explorer graph, if the pages run it
    absent_manifest: dict[str, Any] = {}  # manifest entries of a model without this technique

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, metric in cls.metrics.items():
            register(name, metric)
        if cls.prediction_metric:  # `evaluate` also scores every prediction on transformed test digits
            register_robustness(cls.prediction_metric, cls.metrics)

    @classmethod
    def from_config(cls, config: Config) -> Technique:
        raise NotImplementedError

    @classmethod
    def check_files(cls, config: Config) -> None:
        """Read the files its config section names; ConfigError naming the field if one is bad."""

    # ---- the forward pass ----------------------------------------------------------------
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

    def frozen_modules(self, model: LatentModel, epoch: int) -> list[nn.Module]:
        return []

    def fit(self, train: ImageSet) -> None:
        """Compute what this technique derives from the training set (once, before training)."""

    # ---- read-outs ------------------------------------------------------------------------
    def predict(self, mu: torch.Tensor) -> torch.Tensor | None:
        """Class scores read from the codes μ (argmax = the predicted class).  # (B, 10)"""
        return None

    def evaluate_codes(self, mu: torch.Tensor, labels: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics, other eval.json entries) from the test codes μ and their labels."""
        return {}, {}

    def evaluate_model(self, model: LatentModel, fit: ImageSet, test: ImageSet,
                       judge: Reader) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics, eval.json entries) that need the model; judge: images -> digits, trained on first use."""
        return {}, {}

    def figures(self, model: LatentModel, data: ImageSet, out_dir: Path) -> list[Path]:
        """Figures only this technique can draw, written into out_dir."""
        return []

    def coordinate_labels(self, class_names: list[str]) -> list[str] | None:
        """What each latent coordinate means, for the explorer's sliders; None = no claim."""
        return None

    def slider_ranges(self, mu: np.ndarray) -> list[dict[str, float]] | None:
        """Explorer slider {min, max, step} per coordinate, given the codes of test digits; None = no claim."""
        return None

    def manifest_entries(self, model: LatentModel, test: ImageSet, training: Callable[[], ImageSet]) -> dict[str, Any]:
        """Top-level manifest entries the pages read (keys of `absent_manifest`); training() reads the training slice."""
        return {}

    def describe(self) -> dict:
        """JSON-able facts for manifests and reports."""
        return {}


ROUTED_SLIDER = {"min": 0.0, "max": 3.0, "step": 0.1}  # explorer sliders of routed ReLU codes (SPEC §1)


class GradientRouting(Technique):
    """Per-example stop-gradient mask on z (Cloud et al. 2024, "Gradient Routing").

    z' = m * z + (1 - m) * stopgrad(z): the decoder sees all of z, but only the
    coordinates in m (those the example's label owns, plus free coordinates)
    pass gradient back into the encoder. No label is needed at evaluation.

    With `style_epoch` > 0 training has two phases. Before it the free (style)
    coordinates feed the decoder 0, so it trains exactly like routed10. From it
    on the main encoder, which computes the routed coordinates, is frozen and only
    the separate style encoder and the decoder learn: the routed code already
    names the digit, so putting identity into the style coordinates only costs KL.
    `frozen_mean` then feeds the decoder the routed μ instead of a sample.
    """

    kind = "routed"
    metrics = {
        "test_argmax_accuracy": Metric("argmax accuracy of μ (routed)", True, PREDICTION),
        "mean_selectivity": Metric("mean routing selectivity", True, DIAGNOSTIC),
        "train_routed_ce": Metric("training cross-entropy of the routed scores (× routing.label_weight)", False,
                                  TRAINING),
        **STYLE_METRICS,
    }
    prediction_metric = "argmax_accuracy"
    absent_manifest = {"routes": None, "digit_codes": None, "style_labels": None}

    def __init__(self, routes: list[list[int]], free: list[int], latent_dim: int, unlabelled: str,
                 detached_mean_epochs: float = 0, relu_latent: bool = False, style_epoch: int = 0,
                 label_weight: float = 0.0, frozen_mean: bool = False):
        super().__init__()
        self.frozen_mean = frozen_mean
        self.detached_mean_epochs = detached_mean_epochs
        self.style_epoch, self.label_weight = style_epoch, label_weight
        self.latent_dim, self.relu_latent = latent_dim, relu_latent
        masks = torch.zeros(len(routes) + 1, latent_dim)  # last row: the unlabelled example's mask
        for label, coords in enumerate(routes):
            masks[label, coords] = 1.0
            masks[label, free] = 1.0
        masks[-1] = {"all": 1.0, "free": 0.0, "none": 0.0}[unlabelled]
        if unlabelled == "free":
            masks[-1, free] = 1.0
        self.register_buffer("masks", masks, persistent=False)
        content = torch.ones(latent_dim)
        content[free] = 0.0
        self.register_buffer("content", content, persistent=False)  # (D,) 0 on the free coordinates
        self.routes, self.free = routes, free

    def in_first_phase(self, epoch: float | None) -> bool:
        return self.style_epoch > 0 and epoch is not None and epoch < self.style_epoch

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
        z = m * z + (1 - m) * detached.detach()
        if self.in_first_phase(epoch):
            return z * self.content
        if self.frozen_mean and self.style_epoch > 0:
            # A noiseless digit code: the decoder can trust it, so digit identity in the style coordinates is pure KL cost.
            return self.content * mu.detach() + (1 - self.content) * z
        return z

    def frozen_modules(self, model: LatentModel, epoch: int) -> list[nn.Module]:
        return model.content_encoder() if self.style_epoch > 0 and epoch >= self.style_epoch else []

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if not self.label_weight or y is None:
            return {}
        keep = _labelled(y)
        scores = self.predict(out.mu)
        if not keep.any():
            return {"routed_ce": scores.sum() * 0.0}  # keeps the graph; a batch with no labels adds nothing
        return {"routed_ce": self.label_weight * F.cross_entropy(scores[keep], y[keep])}

    @classmethod
    def from_config(cls, c: Config) -> GradientRouting:
        return cls(c.route_map(), c.routing.free, c.model.latent_dim, c.routing.unlabelled,
                   c.routing.detached_mean_epochs, c.model.relu_latent, c.routing.style_epoch,
                   c.routing.label_weight, c.routing.frozen_mean)

    def predict(self, mu: torch.Tensor) -> torch.Tensor:
        return routed_scores(mu, self.routes)  # (B, 10): each label's largest routed coordinate

    def evaluate_codes(self, mu: torch.Tensor, labels: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        shares = routing_selectivity(mu, labels, self.routes)
        owned = [s for s in shares if s is not None]
        metrics = {"mean_selectivity": sum(owned) / len(owned)} if owned else {}
        return metrics, {"confusion_matrix": confusion_matrix(self.predict(mu).argmax(1), labels), "selectivity": shares}

    @property
    def routed_coordinates(self) -> list[int]:
        return sorted({c for coords in self.routes for c in coords})

    def evaluate_model(self, model: LatentModel, fit: ImageSet, test: ImageSet,
                       judge: Reader) -> tuple[dict[str, float], dict[str, Any]]:
        return evaluate_style(model, self.routed_coordinates, self.free, fit, test, judge)

    def figures(self, model: LatentModel, data: ImageSet, out_dir: Path) -> list[Path]:
        from .plots import interpolation_gif, plot_style_transfer  # late import: matplotlib is slow to import

        return [interpolation_gif(model, self.routes, out_dir / "interpolation.gif"),
                plot_style_transfer(model, data, self.routed_coordinates, out_dir / "style_transfer.png")]

    def coordinate_labels(self, class_names: list[str]) -> list[str]:
        labels = ["free"] * self.latent_dim
        for label, coords in enumerate(self.routes):
            for c in coords:
                labels[c] = class_names[label]
        return labels

    def slider_ranges(self, mu: np.ndarray) -> list[dict[str, float]] | None:
        """0-3 step 0.1 for ReLU codes (SPEC §1); a coordinate whose codes reach past 3 (the
        ELBO-trained routed10's do, to about 4) is stretched to its 99th percentile, rounded up to 0.5."""
        if not self.relu_latent:
            return None
        _, high = central_range(mu, axis=0)
        return [{**ROUTED_SLIDER, "max": max(ROUTED_SLIDER["max"], math.ceil(h * 2) / 2)} for h in high.tolist()]

    def manifest_entries(self, model: LatentModel, test: ImageSet, training: Callable[[], ImageSet]) -> dict[str, Any]:
        return {"routes": self.routes, **style_entries(model, self.routed_coordinates, self.free, test, training())}

    def describe(self) -> dict:
        return {"routes": self.routes, "free": self.free, "style_epoch": self.style_epoch,
                "label_weight": self.label_weight}


def _labelled(y: torch.Tensor) -> torch.Tensor:
    return y != UNLABELLED  # (B,) bool


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

    @classmethod
    def from_config(cls, c: Config) -> ClassPriorMeans:
        return cls(c.prior, c.model.latent_dim)

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
        from .plots import plot_decision_regions  # late import: matplotlib is slow to import

        return [plot_decision_regions(model, data, out_dir / "decision_regions.png", self.predict,
                                      "classifier head decision regions, test means on top")]

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if y is None:
            return {}
        logits = out.extras["class_logits"]
        keep = _labelled(y)
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
