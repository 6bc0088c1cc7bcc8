"""Gradient routing (Cloud et al. 2024): one latent axis per class, by a per-example stop-gradient mask.

Its read-outs: the routed argmax as a prediction, selectivity per coordinate,
the confusion matrix, and what swapping the routed part of a code does (the
routed/free split read-outs of style/readouts.py, defined for every routed
model: with no free coordinates only the swap is measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentcraft.config.sections import MAX_EPOCHS, MAX_LAYER_SIZE, RunSpec, TechniqueSettings
from latentcraft.config.strict import check_at_least, check_at_most, check_choice, check_within
from latentcraft.data.constants import NUM_CLASSES, UNLABELLED
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import classes_known, image_shape
from latentcraft.errors import ConfigError
from latentcraft.evaluation.metrics import confusion_matrix
from latentcraft.evaluation.readouts import central_range
from latentcraft.evaluation.registry import DIAGNOSTIC, PREDICTION, TRAINING, Metric, format_value
from latentcraft.model.vae import LatentModel, ModelOutput
from latentcraft.techniques.base import Losses, Technique, labelled
from latentcraft.techniques.style.readouts import STYLE_METRICS, Reader, evaluate_style, style_entries

ROUTED_SLIDER = {"min": 0.0, "max": 3.0, "step": 0.1}  # explorer sliders of routed ReLU codes: 0 (off) to 3 (strong)


@dataclass
class RoutingSettings(TechniqueSettings):
    enabled: bool = False  # gradient routing (Cloud et al. 2024): per-example stop-gradient mask on z
    routes: list[list[int]] | None = None  # label k -> latent coordinates it owns; None = k -> [k]
    free: list[int] = field(default_factory=list)  # coordinates no label owns; every labelled example trains them
    unlabelled: str = "all"  # what an unlabelled example routes: "all", "free" (only free coords), "none", or
    # "predicted": after routing.predicted_from epochs (before: "none"), the coordinates of the class its code reads
    predicted_from: float = 1.0  # epochs before self-training ("predicted") and the consistency term start
    # A routed prediction is confident when its runner-up score is ≤ (1 − this) × the top one; only confident
    # ones route an unlabelled example ("predicted") or set a consistency target
    predicted_margin: float = 0.0
    # > 0, with data.augment: weight of a label-free term, FixMatch-style (Sohn et al. 2020): the cross-entropy of
    # the augmented view's routed scores against its clean view's confident routed argmax, on every example. With
    # "predicted", the clean view's prediction also picks an unlabelled example's mask. No label is read.
    consistency: float = 0.0
    detached_mean_epochs: float = 0.0  # for this many first epochs, detached coordinates carry μ instead of a sample
    label_weight: float = 0.0  # > 0 adds label_weight × cross-entropy of the routed scores (labels then enter a loss)

    def route_map(self, classes: int) -> list[list[int]]:
        """Label -> owned latent coordinates (the default routes class k to coordinate k, for `classes` classes)."""
        if self.routes is not None:
            return [list(r) for r in self.routes]
        return [[k] for k in range(classes)]


def routed_scores(mu: torch.Tensor, routes: list[list[int]]) -> torch.Tensor:
    """Per label, the largest activation among its routed coordinates.  # (B, C)"""
    return torch.stack([mu[:, coords].max(dim=1).values for coords in routes], dim=1)


def routed_predictions(mu: torch.Tensor, routes: list[list[int]]) -> torch.Tensor:
    """The label whose routed coordinates hold the largest activation; one coordinate per class: argmax μ.  # (B,)"""
    return routed_scores(mu, routes).argmax(dim=1)


def confident_predictions(scores: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(argmax, confident) of class scores: confident where the runner-up is ≤ (1 − margin) × the top.  # (B,), (B,)"""
    top = scores.topk(2, dim=1).values  # (B, 2)
    return scores.argmax(1), top[:, 1] <= (1 - margin) * top[:, 0]


def routing_selectivity(mu: torch.Tensor, labels: torch.Tensor, routes: list[list[int]]) -> list[float | None]:
    """Per coordinate: share of its positive activation mass (Σ relu(μ)) coming from the class(es) it is routed to.

    1.0 means the coordinate fires only for its own class; with balanced classes
    an unselective coordinate scores about 1/classes. None for coordinates
    no label owns (free style dims) or that never fire.
    """
    owners: dict[int, list[int]] = {}
    for label, coords in enumerate(routes):
        for c in coords:
            owners.setdefault(c, []).append(label)
    positive = mu.clamp(min=0)  # (N, D)
    shares: list[float | None] = []
    for coord in range(mu.shape[1]):
        total = positive[:, coord].sum().item()
        if coord not in owners or total <= 0:
            shares.append(None)
            continue
        own = torch.isin(labels, torch.tensor(owners[coord], dtype=labels.dtype))
        shares.append(positive[own, coord].sum().item() / total)
    return shares


class GradientRouting(Technique):
    """Per-example stop-gradient mask on z (Cloud et al. 2024, "Gradient Routing").

    z' = m * z + (1 - m) * stopgrad(z): the decoder sees all of z, but only the
    coordinates in m (those the example's label owns, plus free coordinates)
    pass gradient back into the encoder. No label is needed at evaluation.
    Labels only pick masks, unless `label_weight` adds a cross-entropy of the
    routed scores. Unlabelled examples route as `unlabelled` says; "predicted"
    self-trains: each routes the class its own routed code reads.
    """

    settings_class = RoutingSettings
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
    masks: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, settings: RoutingSettings, latent_dim: int, relu_latent: bool, classes: int = NUM_CLASSES):
        super().__init__()
        self.settings = settings
        self.routes, self.free = settings.route_map(classes), settings.free
        self.latent_dim, self.relu_latent = latent_dim, relu_latent
        free = settings.free
        masks = torch.zeros(len(self.routes) + 1, latent_dim)  # last row: the unlabelled example's mask
        for label, coords in enumerate(self.routes):
            masks[label, coords] = 1.0
            masks[label, free] = 1.0
        masks[-1] = {"all": 1.0, "free": 0.0, "none": 0.0, "predicted": 0.0}[settings.unlabelled]
        if settings.unlabelled == "free":
            masks[-1, free] = 1.0
        self.register_buffer("masks", masks, persistent=False)

    @classmethod
    def check_settings(cls, settings: RoutingSettings, config: RunSpec) -> None:
        check_choice("routing.unlabelled", settings.unlabelled, ("all", "free", "none", "predicted"))
        check_at_least({"routing.label_weight": settings.label_weight,
                        "routing.predicted_from": settings.predicted_from,
                        "routing.consistency": settings.consistency}, 0)
        check_within("routing.predicted_margin", settings.predicted_margin, 0, 1)
        check_at_most({"routing.predicted_from": settings.predicted_from,
                       "routing.detached_mean_epochs": settings.detached_mean_epochs}, MAX_EPOCHS)
        # Coordinates are checked against the latent when enabled; off, they must still be possible ones.
        coordinates = {"routing.routes": [c for r in settings.routes or [] for c in r], "routing.free": settings.free}
        check_at_least(coordinates, 0)
        check_at_most(coordinates, MAX_LAYER_SIZE - 1)
        if not settings.enabled:
            return
        if settings.consistency and not config.data.augment:
            raise ConfigError(f"routing.consistency: {settings.consistency} compares each augmented image with its "
                              f"clean view; set data.augment = true, or routing.consistency = 0")
        latent, classes = config.model.latent_dim, image_shape(config).classes
        routes = settings.route_map(classes)
        if len(routes) != classes and classes_known(config):  # else checked again when the data is read
            raise ConfigError(f"routing.routes: needs one entry per class ({classes}), got {len(routes)}")
        for label, coords in enumerate(routes):
            if not coords:
                # The routed argmax needs at least one coordinate per label.
                raise ConfigError(f"routing.routes[{label}]: is empty; every label must own at least one coordinate")
            for c in coords:
                if not 0 <= c < latent:
                    raise ConfigError(
                        f"routing.routes[{label}]: coordinate {c} is outside the latent (model.latent_dim = {latent})"
                    )
        owned = {c for coords in routes for c in coords}
        if len(set(settings.free)) != len(settings.free):
            raise ConfigError(f"routing.free: lists a coordinate twice: {settings.free}")
        for c in settings.free:
            if not 0 <= c < latent:
                raise ConfigError(f"routing.free: coordinate {c} is outside the latent (model.latent_dim = {latent})")
            if c in owned:
                raise ConfigError(f"routing.free: coordinate {c} is also owned by a label in routing.routes")

    @classmethod
    def from_config(cls, settings: RoutingSettings, config: RunSpec) -> GradientRouting:
        return cls(settings, config.model.latent_dim, config.model.relu_latent, image_shape(config).classes)

    @classmethod
    def adapt_to_classes(cls, settings: RoutingSettings, config: RunSpec, classes: int) -> dict[str, Any]:
        """One routed coordinate per class: a preset's latent, written for 10 classes, grows or shrinks by the
        difference, and its free coordinates (after the routed ones) move with it. Explicit routes must fit as given."""
        shift = classes - NUM_CLASSES
        if not settings.enabled or settings.routes is not None or not shift:
            return {}
        if any(c < NUM_CLASSES for c in settings.free):
            raise ConfigError(f"routing.free: {settings.free} includes coordinates below {NUM_CLASSES}, which the "
                              f"default routes give to classes; with {classes} classes give routing.routes explicitly")
        return {"model.latent_dim": config.model.latent_dim + shift,
                "routing.free": [c + shift for c in settings.free]}

    def _self_training(self, epoch: float | None) -> bool:
        return epoch is not None and epoch >= self.settings.predicted_from

    def _confident(self, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(routed argmax, confident) of codes μ, read without gradient.  # (B,), (B,)"""
        return confident_predictions(self.predict(F.relu(mu.detach().float())), self.settings.predicted_margin)

    @classmethod
    def views_read(cls, settings: RoutingSettings) -> frozenset[str]:
        if not settings.enabled:
            return frozenset()
        guide = {"guide"} if settings.unlabelled == "predicted" else set()  # the mask an unlabelled example gets
        return frozenset(guide | ({"guide", "view_mu"} if settings.consistency > 0 else set()))

    def mask(self, y: torch.Tensor, mu: torch.Tensor, epoch: float | None) -> torch.Tensor:
        """Each example's routing mask: its label's row; an unlabelled example's as routing.unlabelled says,
        "predicted" reading the class from `mu` (the clean view's μ when training sees two)."""
        fallback = torch.full_like(y, len(self.routes))  # the unlabelled row
        if self.settings.unlabelled == "predicted" and self._self_training(epoch):
            # Self-training: after some epochs on labelled examples, each unlabelled one trains the class it reads as.
            predicted, sure = self._confident(mu)
            fallback = torch.where(sure, predicted, fallback)
        return self.masks[torch.where(y == UNLABELLED, fallback, y)]  # (B, D)

    def routed_code(self, z: torch.Tensor, y: torch.Tensor, mu: torch.Tensor, epoch: float | None,
                    guide: torch.Tensor | None = None) -> torch.Tensor:
        """The routed sample: z' = m * z + (1 - m) * stopgrad(z), with the example's mask m, chosen from the
        clean view's μ `guide` where there is one.  # (B, D)"""
        m = self.mask(y, mu if guide is None else guide, epoch).to(z.dtype)
        # Early in training, detached coordinates carry their mean, not a sample.
        # Otherwise every coordinate is pure noise for the 90% of examples it is
        # not routed to, the decoder learns to ignore it, and a digit can settle
        # on the "all off" code below the ReLU and never get gradient again.
        detached = mu if epoch is not None and epoch < self.settings.detached_mean_epochs else z
        return m * z + (1 - m) * detached.detach()

    def route(self, code: torch.Tensor, sample: torch.Tensor, y: torch.Tensor | None, mu: torch.Tensor,
              epoch: float | None, guide: torch.Tensor | None = None) -> torch.Tensor:
        if y is None or not self.training:
            return code
        return self.routed_code(code, y, mu, epoch, guide)

    def losses(self, model: LatentModel, x: torch.Tensor, out: ModelOutput, y: torch.Tensor | None,
               epoch: float | None) -> Losses:
        losses = {}
        if self.settings.consistency and out.guide is not None and out.view_mu is not None \
                and self._self_training(epoch):
            losses["consistency"] = self.settings.consistency * self.consistency(out.view_mu, out.guide)
        if not self.settings.label_weight or y is None:
            return losses
        keep = labelled(y)
        scores = self.predict(out.mu)
        if not keep.any():
            losses["routed_ce"] = scores.sum() * 0.0  # keeps the graph; a batch with no labels adds nothing
        else:
            losses["routed_ce"] = self.settings.label_weight * F.cross_entropy(scores[keep], y[keep])
        return losses

    def consistency(self, mu: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the routed scores of μ (the augmented view) against the confident routed argmax of
        `guide` (the clean view), averaged over the batch; unconfident examples add 0. No label is read."""
        target, sure = self._confident(guide)
        per_example = F.cross_entropy(self.predict(mu.float()), target, reduction="none")  # (B,)
        return (per_example * sure).mean()

    def predict(self, mu: torch.Tensor) -> torch.Tensor:
        return routed_scores(mu, self.routes)  # (B, 10): each label's largest routed coordinate

    def evaluate_codes(self, mu: torch.Tensor, labels: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        shares = routing_selectivity(mu, labels, self.routes)
        owned = [s for s in shares if s is not None]
        metrics = {"mean_selectivity": sum(owned) / len(owned)} if owned else {}
        confusion = confusion_matrix(self.predict(mu).argmax(1), labels, len(self.routes))
        return metrics, {"confusion_matrix": confusion, "selectivity": shares}

    @classmethod
    def report_lines(cls, record: dict[str, Any]) -> list[str]:
        """Selectivity per coordinate, what the style coordinates carry and do, and the confusion matrix."""
        lines = []
        if "selectivity" in record:
            shares = " ".join(format_value(s)[:4] if s is not None else "  — " for s in record["selectivity"])
            lines.append(f"  selectivity per coordinate: {shares}")
        if "style" in record and not record["style"]["style"]:
            lines.append(f"  style probe: {record['style']['probe']} (every coordinate is routed)")
        if record.get("style", {}).get("labels"):
            named = ", ".join(f"z{s['coordinate']} {s['label']}" for s in record["style"]["labels"])
            lines.append(f"  style coordinates, by what they do to the digit: {named}")
        if "confusion_matrix" in record:
            lines.append("  confusion matrix (rows: true digit, columns: argmax of μ):")
            for label, row in enumerate(record["confusion_matrix"]):
                lines.append(f"    {label}: " + " ".join(f"{n:5d}" for n in row))
        return lines

    @property
    def routed_coordinates(self) -> list[int]:
        return sorted({c for coords in self.routes for c in coords})

    def evaluate_model(self, model: LatentModel, fit: ImageSet, test: ImageSet,
                       judge: Reader) -> tuple[dict[str, float], dict[str, Any]]:
        return evaluate_style(model, self.routed_coordinates, self.free, fit, test, judge)

    def figures(self, model: LatentModel, data: ImageSet, out_dir: Path) -> list[Path]:
        from latentcraft.techniques.routing_figures import interpolation_gif, plot_style_transfer  # matplotlib: late

        return [interpolation_gif(model, self.routes, out_dir / "interpolation.gif"),
                plot_style_transfer(model, data, self.routed_coordinates, out_dir / "style_transfer.png")]

    def coordinate_labels(self, class_names: list[str]) -> list[str]:
        labels = ["free"] * self.latent_dim
        for label, coords in enumerate(self.routes):
            for c in coords:
                labels[c] = class_names[label]
        return labels

    def slider_ranges(self, mu: np.ndarray) -> list[dict[str, float]] | None:
        """0-3 step 0.1 for ReLU codes; a coordinate whose codes reach past 3 (the
        ELBO-trained routed10's do, to about 4) is stretched to its 99th percentile, rounded up to 0.5."""
        if not self.relu_latent:
            return None
        _, high = central_range(mu, axis=0)
        return [{**ROUTED_SLIDER, "max": max(ROUTED_SLIDER["max"], math.ceil(h * 2) / 2)} for h in high.tolist()]

    def manifest_entries(self, model: LatentModel, test: ImageSet,
                         training: Callable[[], ImageSet]) -> dict[str, Any]:
        return {"routes": self.routes, **style_entries(model, self.routed_coordinates, self.free, test, training())}

    def describe(self) -> dict[str, Any]:
        return {"routes": self.routes, "free": self.free, "label_weight": self.settings.label_weight}

