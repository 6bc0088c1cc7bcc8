"""The Technique base class: the hooks a latent-shaping technique may override.

See shaping.py for the hooks' contract and the registry of techniques.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from latentcraft.config.run_config import Config
from latentcraft.data.constants import UNLABELLED
from latentcraft.data.mnist import ImageSet
from latentcraft.evaluation.registry import Metric, register
from latentcraft.evaluation.robustness import register_robustness
from latentcraft.techniques.style.readouts import Reader

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel


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

    def decoder_view(self, code: torch.Tensor) -> torch.Tensor:
        """What the decoder reads of a code (after the ReLU), everywhere: training, evaluation, export."""
        return code

    def categorical_block(self) -> tuple[list[int], int] | None:
        """(coordinates, categories) if decoder_view reads those coordinates only through which
        of `categories` wins: a categorical latent, which the ELBO counts as such."""
        return None

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def outputs(self, out) -> dict[str, torch.Tensor]:
        return {}

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {}

    def training_losses(self, model: LatentModel, x: torch.Tensor, out, y: torch.Tensor | None,
                        epoch: float) -> dict[str, torch.Tensor]:
        """Loss terms of training only, which may depend on the epoch or decode the batch again (e.g. a second path)."""
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


def labelled(y: torch.Tensor) -> torch.Tensor:
    """Which examples carry a label (the others are UNLABELLED).  # (B,) bool"""
    return y != UNLABELLED
