"""Reconstruction + KL: the principled ELBO and the original's reference loss.

All per-example terms are summed over pixels / latent dims and averaged over
the batch, except `reference_loss`, which transcribes SPEC §1 exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import ObjectiveConfig


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, target_mu: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(μ, σ²) || N(μ_c, I)) per example: ½ Σ_d (σ² + (μ − μ_c)² − 1 − log σ²).  # (B,)"""
    centred = mu if target_mu is None else mu - target_mu
    return 0.5 * (logvar.exp() + centred.pow(2) - 1.0 - logvar).sum(dim=1)


def reconstruction_error(logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Negative log-likelihood of x under the decoder, per example (up to a constant).  # (B,)

    "bce": Bernoulli likelihood, computed from logits for stability.
    "gaussian": unit-variance Gaussian on the sigmoid image, ½‖x − x̂‖².
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return 0.5 * (torch.sigmoid(logits) - x).pow(2).sum(dim=1)


def reference_loss(
    x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, s: torch.Tensor, recon_weight: float,
    target_mu: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original routed VAE's loss, quirk included (SPEC §1).

    0.3 · mean_i ‖x_i − x̂_i‖²  +  mean_{i,d}(μ² + e^s − s), where s is the
    variance head's output: used as a *standard deviation* when sampling but as
    a *log-variance* here (without the ½ and the −1). Returns (recon, kl) terms.
    """
    recon = recon_weight * (x - torch.sigmoid(logits)).pow(2).sum(dim=1).mean()
    centred = mu if target_mu is None else mu - target_mu
    kl = (centred.pow(2) + s.exp() - s).mean()
    return recon, kl


def kl_weight(objective: ObjectiveConfig, epoch_progress: float) -> float:
    """β, ramped linearly from 0 over `kl_warmup_epochs` (epoch_progress counts epochs, fractional)."""
    if objective.kl_warmup_epochs <= 0:
        return objective.beta
    return objective.beta * min(1.0, epoch_progress / objective.kl_warmup_epochs)
