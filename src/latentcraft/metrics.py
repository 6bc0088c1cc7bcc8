"""Metrics: reconstruction, ELBO parts and routed argmax accuracy.

`evaluate_split` is what the trainer reports every epoch; fuller evaluation
(probes, DCI, selectivity) builds on `encode_split`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import ImageSet
from .model import LatentModel
from .objective import gaussian_kl


def routed_predictions(mu: torch.Tensor, routes: list[list[int]]) -> torch.Tensor:
    """Predict the label whose routed coordinates hold the largest mean activation.  # (B,)

    With the default one-coordinate-per-digit map this is argmax of μ (SPEC §1).
    """
    scores = torch.stack([mu[:, coords].max(dim=1).values for coords in routes], dim=1)  # (B, C)
    return scores.argmax(dim=1)


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return (predicted == labels).float().mean().item()


@torch.no_grad()
def encode_split(model: LatentModel, data: ImageSet, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """μ and log σ² of every image, in eval mode.  # (N, D) each"""
    model.eval()
    mus, logvars = [], []
    for start in range(0, len(data), batch_size):
        mu, logvar = model.encode(data.floats(slice(start, start + batch_size)))
        mus.append(mu)
        logvars.append(logvar)
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def evaluate_split(model: LatentModel, data: ImageSet, batch_size: int = 2000, prefix: str = "test_") -> dict[str, float]:
    """Per-image reconstruction errors, KL, loss and (for routed models) argmax accuracy of μ."""
    model.eval()
    totals: dict[str, float] = {}
    predictions = []
    for start in range(0, len(data), batch_size):
        index = slice(start, start + batch_size)
        x, y = data.floats(index), data.labels[index]
        out = model(x, y)
        batch = {
            "recon_bce": F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").sum(1).sum().item(),
            "recon_sq": (torch.sigmoid(out.logits) - x).pow(2).sum(1).sum().item(),
            "loss": out.loss.item() * len(x),
        }
        if model.var_head is not None and not model.reference:
            batch["kl"] = gaussian_kl(out.mu, out.logvar).sum().item()
        if "class_logits" in out.extras:  # a classifier head (shaping.py)
            batch["classifier_correct"] = (out.extras["class_logits"].argmax(1) == y).sum().item()
        for name, value in batch.items():
            totals[name] = totals.get(name, 0.0) + value
        if "routing" in model.techniques:
            predictions.append(routed_predictions(out.mu, model.config.route_map()))
    n = len(data)
    metrics = {f"{prefix}{name}": value / n for name, value in totals.items()}
    if "classifier_correct" in totals:
        metrics[f"{prefix}classifier_accuracy"] = metrics.pop(f"{prefix}classifier_correct")
    if "kl" in totals:
        metrics[f"{prefix}elbo"] = -(totals["recon_bce"] + totals["kl"]) / n
    if predictions:
        metrics[f"{prefix}argmax_accuracy"] = accuracy(torch.cat(predictions), data.labels)
    return metrics
