"""A classifier head: class logits read from μ, with their cross-entropy in the loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from latentcraft.config.sections import MAX_LAYER_SIZE, RunSpec, TechniqueSettings
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import image_shape
from latentcraft.errors import ConfigError
from latentcraft.evaluation.registry import PREDICTION, TRAINING, Metric
from latentcraft.model.bodies import mlp
from latentcraft.model.vae import LatentModel, ModelOutput
from latentcraft.techniques.base import HeadGraph, Losses, Technique, labelled


@dataclass
class ClassifierSettings(TechniqueSettings):
    enabled: bool = False  # a head from μ to class logits, cross-entropy added to the loss
    hidden: list[int] = field(default_factory=list)  # hidden sizes of the head; empty = linear
    weight: float = 1.0  # multiplier on the mean cross-entropy (nats per labelled example)


class ClassifierHead(Technique):
    """A linear (or small MLP) head from μ to class logits; weighted cross-entropy .

    The head reads μ, not a sample (STYLE: use μ for classification), so its
    accuracy at test time is that of the code itself. Unlabelled examples add
    no cross-entropy.
    """

    settings_class = ClassifierSettings
    metrics = {
        "test_classifier_accuracy": Metric("classifier head accuracy", True, PREDICTION),
        "train_class_ce": Metric("training cross-entropy of the head (× classifier.weight)", False, TRAINING),
    }
    prediction_metric = "classifier_accuracy"
    head_graph = HeadGraph("classifier", "class_logits")

    def __init__(self, latent_dim: int, hidden: list[int], weight: float, classes: int):
        super().__init__()
        self.head = mlp([latent_dim, *hidden, classes], last_activation=False)
        self.weight = weight
        self.latent_dim = latent_dim

    @classmethod
    def check_settings(cls, c: ClassifierSettings, config: RunSpec) -> None:
        if any(h < 1 for h in c.hidden):
            raise ConfigError(f"classifier.hidden: sizes must be at least 1, got {c.hidden}")
        if any(h > MAX_LAYER_SIZE for h in c.hidden):
            raise ConfigError(f"classifier.hidden: must be at most {MAX_LAYER_SIZE}, got {max(c.hidden)}")
        if c.weight < 0:
            raise ConfigError(f"classifier.weight: must not be negative, got {c.weight}")

    @classmethod
    def from_config(cls, settings: ClassifierSettings, config: RunSpec) -> ClassifierHead:
        return cls(config.model.latent_dim, settings.hidden, settings.weight, image_shape(config).classes)

    def predict(self, mu: torch.Tensor) -> torch.Tensor:
        return self.head(mu).float()  # (B, 10) logits

    def outputs(self, out: ModelOutput) -> dict[str, torch.Tensor]:
        return {"class_logits": self.predict(out.mu)}

    def figures(self, model: LatentModel, data: ImageSet, out_dir: Path) -> list[Path]:
        if self.latent_dim != 2:
            return []
        from latentcraft.reporting.plots import plot_decision_regions  # late import: matplotlib is slow to import

        return [plot_decision_regions(model, data, out_dir / "decision_regions.png", self.predict,
                                      "classifier head decision regions, test means on top")]

    def losses(self, model: LatentModel, x: torch.Tensor, out: ModelOutput, y: torch.Tensor | None,
               epoch: float | None) -> Losses:
        if y is None:
            return {}
        logits = out.extras["class_logits"]
        keep = labelled(y)
        if not keep.any():
            return {"class_ce": logits.sum() * 0.0}  # keeps the graph; a batch with no labels adds nothing
        return {"class_ce": self.weight * F.cross_entropy(logits[keep], y[keep])}
