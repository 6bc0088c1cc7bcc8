"""Gradient routing (Cloud et al. 2024): one latent axis per digit, plus optional style coordinates.

A technique of shaping.py, in its own file for its size: masks, the two-phase
style schedule, and its read-outs (argmax prediction, selectivity, style metrics).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentcraft.config.run_config import Config, RoutingConfig
from latentcraft.data.constants import UNLABELLED
from latentcraft.data.mnist import ImageSet
from latentcraft.evaluation.registry import DIAGNOSTIC, PREDICTION, TRAINING, Metric
from latentcraft.evaluation.metrics import confusion_matrix, routed_scores, routing_selectivity
from latentcraft.evaluation.readouts import central_range
from latentcraft.techniques.style.readouts import STYLE_METRICS, Reader, evaluate_style, style_entries
from latentcraft.model.objective import gaussian_kl, reconstruction_error
from latentcraft.techniques.style.independence import StyleAdversary, style_dependence, style_mmd
from latentcraft.techniques.base import Technique, labelled

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel


HEIGHT_MOMENTUM = 0.99  # joint schedule: running mean of the digit code's height over about 100 batches
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
    `frozen_mean` then feeds the decoder the routed μ instead of a sample, and
    `onehot_code` makes the decoder read only which digit wins: a categorical
    digit latent (uniform prior, log 10 nats in the ELBO) beside Gaussian style.
    `joint` trains both at once instead: every batch is decoded twice, once from
    the routed sample with the style at 0 (routed10's path, the only one that
    reaches the routed coordinates) and once from the one-hot of the routed
    argmax beside the style sample (the model's own decode), so the style
    encoder learns for the whole budget rather than its second half.
    `style_independence`, `style_mmd` and `style_adversary` keep digit identity
    out of the style coordinates, comparing them across the digits the routed
    code predicts (its argmax, never the label): style_independence.py.
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

    def __init__(self, settings: RoutingConfig, routes: list[list[int]], latent_dim: int, relu_latent: bool):
        super().__init__()
        self.settings = settings
        self.routes, self.free = routes, settings.free
        self.latent_dim, self.relu_latent = latent_dim, relu_latent
        free = settings.free
        adversary = settings.style_adversary
        self.adversary = StyleAdversary(len(free), len(routes), adversary) if adversary and free else None
        masks = torch.zeros(len(routes) + 1, latent_dim)  # last row: the unlabelled example's mask
        for label, coords in enumerate(routes):
            masks[label, coords] = 1.0
            masks[label, free] = 1.0
        masks[-1] = {"all": 1.0, "free": 0.0, "none": 0.0, "predicted": 0.0}[settings.unlabelled]
        if settings.unlabelled == "free":
            masks[-1, free] = 1.0
        self.register_buffer("masks", masks, persistent=False)
        content = torch.ones(latent_dim)
        content[free] = 0.0
        self.register_buffer("content", content, persistent=False)  # (D,) 0 on the free coordinates
        owners = torch.zeros(len(routes), latent_dim)  # (10, D) each label's coordinates
        for label, coords in enumerate(routes):
            owners[label, coords] = 1.0
        self.register_buffer("owners", owners, persistent=False)
        if settings.onehot_code:
            # The height of the one-hot code: the mean winning routed μ when phase 2 starts (tracked
            # throughout with the joint schedule), so the decoder reads codes of the size it knows.
            # 0 until then (code unchanged); saved with the weights, so a loaded model reads codes alike.
            self.register_buffer("digit_height", torch.zeros(()))

    def in_first_phase(self, epoch: float | None) -> bool:
        return self.settings.style_epoch > 0 and epoch is not None and epoch < self.settings.style_epoch

    def mask(self, y: torch.Tensor, mu: torch.Tensor, epoch: float | None) -> torch.Tensor:
        """Each example's routing mask: its label's row; an unlabelled example's as routing.unlabelled says."""
        fallback = torch.full_like(y, len(self.routes))  # the unlabelled row
        if self.settings.unlabelled == "predicted" and epoch is not None and epoch >= self.settings.predicted_from:
            # Self-training: after some epochs on the labelled examples, each unlabelled one trains the digit it reads as.
            scores = self.predict(F.relu(mu.detach().float()))
            top = scores.topk(2, dim=1).values  # (B, 2)
            sure = top[:, 1] <= (1 - self.settings.predicted_margin) * top[:, 0]  # the runner-up is this far behind
            fallback = torch.where(sure, scores.argmax(1), fallback)
        return self.masks[torch.where(y == UNLABELLED, fallback, y)]  # (B, D)

    def routed_code(self, z: torch.Tensor, y: torch.Tensor, mu: torch.Tensor, epoch: float | None) -> torch.Tensor:
        """The routed sample: z' = m * z + (1 - m) * stopgrad(z), with the example's mask m.  # (B, D)"""
        m = self.mask(y, mu, epoch).to(z.dtype)
        # Early in training, detached coordinates carry their mean, not a sample.
        # Otherwise every coordinate is pure noise for the 90% of examples it is
        # not routed to, the decoder learns to ignore it, and a digit can settle
        # on the "all off" code below the ReLU and never get gradient again.
        detached = mu if epoch is not None and epoch < self.settings.detached_mean_epochs else z
        return m * z + (1 - m) * detached.detach()

    def route(self, z: torch.Tensor, y: torch.Tensor | None, mu: torch.Tensor, epoch: float | None) -> torch.Tensor:
        if y is None or not self.training:
            return z
        if self.in_first_phase(epoch):
            return self.routed_code(z, y, mu, epoch) * self.content
        if self.settings.joint:
            # The style path: the decoder reads the digit the routed code names and the style sample.
            self._track_digit_height(mu)
            return self.content * mu.detach() + (1 - self.content) * z
        z = self.routed_code(z, y, mu, epoch)
        if self.settings.onehot_code and self.digit_height <= 0:
            self.digit_height.fill_(self._winning_height(mu))
        if self.settings.frozen_mean and self.settings.style_epoch > 0:
            # A noiseless digit code: the decoder can trust it, so digit identity in the style coordinates is pure KL cost.
            return self.content * mu.detach() + (1 - self.content) * z
        return z

    def training_losses(self, model: LatentModel, x: torch.Tensor, out, y: torch.Tensor | None,
                        epoch: float) -> dict[str, torch.Tensor]:
        """Once the style path trains: the terms that keep digit identity out of the style codes, and with
        the joint schedule the routed path, the same batch decoded from its routed sample with the style
        at 0, exactly as routed10 trains. It is the only reconstruction that reaches the routed
        coordinates (the style path reads them detached, through their argmax)."""
        if self.in_first_phase(epoch):
            return {}
        losses = self.identity_losses(out)
        if self.settings.joint and y is not None:
            code = self.routed_code(model.reparameterize(out.mu, out.logvar), y, out.mu, epoch) * self.content
            if self.relu_latent:
                code = F.relu(code)
            recon = reconstruction_error(model.decode(code, y), x, model.config.objective.reconstruction)
            losses["recon_routed"] = recon.mean()
        return losses

    def identity_losses(self, out) -> dict[str, torch.Tensor]:
        """The style identity terms, each comparing style μ across the digits the routed code predicts."""
        if not self.free:
            return {}
        losses = {}
        style, digit = out.mu[:, self.free].float(), self.predict(out.mu.detach()).argmax(1)
        digits = len(self.routes)
        if self.settings.style_independence:
            losses["style_independence"] = self.settings.style_independence * style_dependence(style, digit, digits)
        if self.settings.style_mmd:
            losses["style_mmd"] = self.settings.style_mmd * style_mmd(style, digit, digits)
        if self.adversary is not None:
            losses["style_adversary"] = self.adversary(style, digit)
        return losses

    def _winning_height(self, mu: torch.Tensor) -> float:
        return self.predict(F.relu(mu.detach().float())).max(1).values.mean().item()

    def _track_digit_height(self, mu: torch.Tensor) -> None:
        """A running mean of the winning routed μ, the height of the code the style path decodes."""
        height = self._winning_height(mu)
        if self.digit_height <= 0:
            self.digit_height.fill_(height)
        else:
            self.digit_height.mul_(HEIGHT_MOMENTUM).add_((1 - HEIGHT_MOMENTUM) * height)

    def decoder_view(self, code: torch.Tensor) -> torch.Tensor:
        if not self.settings.onehot_code or self.digit_height <= 0:
            return code
        winner = F.one_hot(self.predict(code).argmax(1), len(self.routes)).to(code.dtype)  # (B, 10)
        routed = self.owners.sum(0).clamp(max=1).to(code.dtype)  # (D,)
        return code * (1 - routed) + self.digit_height.to(code.dtype) * (winner @ self.owners.to(code.dtype))

    def categorical_block(self) -> tuple[list[int], int] | None:
        if not self.settings.onehot_code or self.digit_height <= 0:
            return None
        return self.routed_coordinates, len(self.routes)

    def frozen_modules(self, model: LatentModel, epoch: int) -> list[nn.Module]:
        if self.settings.style_epoch <= 0:
            return []  # one phase: everything trains throughout
        # Phase 1 would train the unused style encoder on KL alone, collapsing it before it is needed.
        style = model.style_modules() + ([self.adversary] if self.adversary is not None else [])
        if epoch < self.settings.style_epoch:
            return style
        return [] if self.settings.joint else model.content_encoder()

    def extra_losses(self, out, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        losses = {}
        if self.settings.style_beta != 1.0 and self.free:
            # The objective already counts the style coordinates' KL once; add the rest of their weight.
            # No label is read: the style coordinates are the same for every example.
            style_kl = gaussian_kl(out.mu[:, self.free], out.logvar[:, self.free]).mean()
            losses["style_kl"] = (self.settings.style_beta - 1.0) * style_kl
        if not self.settings.label_weight or y is None:
            return losses
        keep = labelled(y)
        scores = self.predict(out.mu)
        if not keep.any():
            return {**losses, "routed_ce": scores.sum() * 0.0}  # keeps the graph; a batch with no labels adds nothing
        return {**losses, "routed_ce": self.settings.label_weight * F.cross_entropy(scores[keep], y[keep])}

    @classmethod
    def from_config(cls, c: Config) -> GradientRouting:
        return cls(c.routing, c.route_map(), c.model.latent_dim, c.model.relu_latent)

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
        from latentcraft.reporting.plots import interpolation_gif, plot_style_transfer  # late import: matplotlib is slow to import

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
        return {"routes": self.routes, "free": self.free, "style_epoch": self.settings.style_epoch,
                "joint": self.settings.joint, "label_weight": self.settings.label_weight,
                "onehot_code": self.settings.onehot_code, "style_adversary": self.settings.style_adversary}

