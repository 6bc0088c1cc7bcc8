"""The Technique base class: the hooks a latent-shaping technique may override.

A technique is a small part the one VAE switches on by config. It declares its
config section (`settings_class`, a dataclass) and checks it
(`check_settings`); every hook defaults to doing nothing, so a technique
overrides only what it changes. The forward pass, in the order the model calls
them:

    extra_coordinates(x)  -> (μ, log σ²) | None   coordinates from the technique's own encoder, appended to z
    route(code, sample, y, mu, epoch) -> code   how gradient flows through the sample; `code` is what earlier
                                                techniques made of `sample`
    decoder_view(code)    -> code               what the decoder reads of a code, everywhere (e.g. a one-hot)
    decoder_inputs(y, B)  -> (B, k) | None      extra decoder inputs appended to the code
    kl_target(x, y)       -> (B, D) | None      shift of the KL target mean (summed over techniques)
    outputs(out)          -> dict               named tensors for ModelOutput.extras, in training and evaluation
    losses(model, x, out, y, epoch) -> dict     named terms added to the loss; epoch is None outside training,
                                                so terms of training only (a schedule, a second decode) check it
    frozen_modules(model, epoch) -> list        modules that get no gradient in this epoch (a schedule)
    fit(train)                                  what it derives from the training set, once before training

A technique also owns its read-outs, so metrics, figures and the explorer loop
over techniques and never ask for one by name: `predict`, `prediction_metric`,
`metrics`, `evaluate_codes`, `evaluate_model`, `report_lines`, `figures`,
`coordinate_labels`, `slider_ranges`, `manifest_entries`, `head_graph`.

Every technique that reads labels accepts UNLABELLED (-1) examples: they get
no label input, the N(0, I) target, or no loss term, as each class says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from latentcraft.config.sections import RunSpec, TechniqueSettings
from latentcraft.data.constants import UNLABELLED
from latentcraft.data.images import ImageSet
from latentcraft.evaluation.registry import Metric, register, register_prediction
from latentcraft.evaluation.robustness import register_robustness
from latentcraft.model.vae import LatentModel, ModelOutput
from latentcraft.techniques.style.readouts import Reader

Losses = dict[str, torch.Tensor]


@dataclass(frozen=True)
class HeadGraph:
    """`predict` exported as an ONNX graph μ (B, D) -> class scores (B, 10) that the explorer runs.

    Its argmax also colours the explorer's 2-D plane. `name` is the manifest
    flag and files key (the file is <name>.onnx); `output` is the output name the pages read.
    """

    name: str
    output: str


class Technique(nn.Module):
    settings_class: ClassVar[type[TechniqueSettings]] = TechniqueSettings  # its config section's dataclass
    legacy_keys: ClassVar[dict[str, str]] = {}  # "section.key" of older run folders -> the key in its own section
    legacy_weights: ClassVar[dict[str, str]] = {}  # weight-name prefix in older run folders -> its name now
    decoder_extra_features = 0  # width of what decoder_inputs appends
    kind: ClassVar[str | None] = None  # what the explorer calls a model with this technique; the first one's wins
    metrics: ClassVar[dict[str, Metric]] = {}  # the metrics it adds, registered in evaluation.registry with the class
    prediction_metric: ClassVar[str | None] = None  # per-split name of the accuracy of `predict`
    head_graph: ClassVar[HeadGraph | None] = None  # `predict` as an explorer graph, if the pages run it
    absent_manifest: ClassVar[dict[str, Any]] = {}  # manifest entries of a model without this technique

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, metric in cls.metrics.items():
            register(name, metric)
        if cls.prediction_metric:  # logged every epoch; `evaluate` also scores it on transformed test digits
            register_prediction(cls.prediction_metric)
            register_robustness(cls.prediction_metric, cls.metrics)

    # ---- its config section -----------------------------------------------------------------
    @classmethod
    def check_settings(cls, settings: Any, config: RunSpec) -> None:
        """ConfigError naming the field if its section is invalid, alone or with the rest of the config."""

    @classmethod
    def encoded_dims(cls, settings: Any) -> int:
        """How many coordinates of z its own encoder makes (extra_coordinates), known before it is built."""
        return 0

    @classmethod
    def adapt_to_classes(cls, settings: Any, config: RunSpec, classes: int) -> dict[str, Any]:
        """Config changes ("section.key" -> value) that fit its section, written for 10 classes, to data with
        `classes` classes; asked once, when a run records its data. Most techniques size themselves from the data."""
        return {}

    @classmethod
    def upgrade_legacy_section(cls, section: dict[str, Any]) -> None:
        """Complete, in place, a section whose keys older run folders kept elsewhere (legacy_keys)."""

    @classmethod
    def from_config(cls, settings: Any, config: RunSpec) -> Technique:
        raise NotImplementedError

    @classmethod
    def check_files(cls, settings: Any) -> None:
        """Read the files its config section names; ConfigError naming the field if one is bad."""

    def attach(self, techniques: Mapping[str, Technique]) -> None:
        """Called once every enabled technique is built, in registry order (a technique may build on another)."""

    # ---- the forward pass ----------------------------------------------------------------
    def extra_coordinates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        return None

    def route(self, code: torch.Tensor, sample: torch.Tensor, y: torch.Tensor | None, mu: torch.Tensor,
              epoch: float | None, guide: torch.Tensor | None = None) -> torch.Tensor:
        """The code the decoder reads in training; guide: the clean view's μ (ModelOutput.guide) or None."""
        return code

    @classmethod
    def views_read(cls, settings: Any) -> frozenset[str]:
        """Which of ModelOutput's two views ("guide": the clean batch's μ, "view_mu": the augmented batch's)
        its training reads, enabled with these settings; the trainer encodes only the views read."""
        return frozenset()

    def decoder_view(self, code: torch.Tensor) -> torch.Tensor:
        return code

    def categorical_block(self) -> tuple[list[int], int] | None:
        """(coordinates, categories) if decoder_view reads those coordinates only through which
        of `categories` wins: a categorical latent, which the ELBO counts as such."""
        return None

    def decoder_inputs(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        return None

    def kl_target(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def outputs(self, out: ModelOutput) -> dict[str, torch.Tensor]:
        return {}

    def losses(self, model: LatentModel, x: torch.Tensor, out: ModelOutput, y: torch.Tensor | None,
               epoch: float | None) -> Losses:
        return {}

    def frozen_modules(self, model: LatentModel, epoch: int) -> list[nn.Module]:
        return []

    def fit(self, train: ImageSet) -> None:
        """Compute what this technique derives from the training set (once, before training)."""

    # ---- read-outs ------------------------------------------------------------------------
    def predict(self, mu: torch.Tensor) -> torch.Tensor | None:
        """Class scores read from the codes μ (argmax = the predicted class).  # (B, C)"""
        return None

    def evaluate_codes(self, mu: torch.Tensor, labels: torch.Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics, other eval.json entries) from the test codes μ and their labels."""
        return {}, {}

    def evaluate_model(self, model: LatentModel, fit: ImageSet, test: ImageSet,
                       judge: Reader) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics, eval.json entries) that need the model; judge: images -> digits, trained on first use."""
        return {}, {}

    @classmethod
    def report_lines(cls, record: dict[str, Any]) -> list[str]:
        """Lines of the printed `evaluate` summary about the eval.json entries this technique wrote."""
        return []

    def figures(self, model: LatentModel, data: ImageSet, out_dir: Path) -> list[Path]:
        """Figures only this technique can draw, written into out_dir."""
        return []

    def coordinate_labels(self, class_names: list[str]) -> list[str] | None:
        """What each latent coordinate means, for the explorer's sliders; None = no claim."""
        return None

    def slider_ranges(self, mu: np.ndarray) -> list[dict[str, float]] | None:
        """Explorer slider {min, max, step} per coordinate, given the codes of test digits; None = no claim."""
        return None

    def manifest_entries(self, model: LatentModel, test: ImageSet,
                         training: Callable[[], ImageSet]) -> dict[str, Any]:
        """Top-level manifest entries the pages read (keys of `absent_manifest`); training() reads the training
        slice."""
        return {}

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for manifests and reports."""
        return {}


def labelled(y: torch.Tensor) -> torch.Tensor:
    """Which examples carry a label (the others are UNLABELLED).  # (B,) bool"""
    return y != UNLABELLED
