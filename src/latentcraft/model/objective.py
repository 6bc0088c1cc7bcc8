"""Reconstruction + KL: the principled ELBO and the original's reference loss.

All per-example terms are summed over pixels / latent dims and averaged over
the batch, except `reference_loss`, which transcribes experiments.md §1 exactly.

`OBJECTIVES` maps `objective.kind` to the class that owns how a code is sampled
from the encoder's (μ, v) and what a batch's loss is; v is the variance head's
output (a log-variance, except for the reference objective). `make_objective`
picks one for a config (a deterministic model gets `Autoencoder`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from latentcraft.config.sections import ObjectiveConfig, RunSpec


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, target_mu: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(μ, σ²) || N(μ_c, I)) per example: ½ Σ_d (σ² + (μ − μ_c)² − 1 − log σ²).  # (B,)"""
    centred = mu if target_mu is None else mu - target_mu
    return 0.5 * (logvar.exp() + centred.pow(2) - 1.0 - logvar).sum(dim=1)


def reconstruction_error(logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Negative log-likelihood of x under the decoder, per example (up to a constant).  # (B,)

    "bce": Bernoulli likelihood, computed from logits for stability.
    "gaussian": unit-variance Gaussian on the sigmoid image, ½‖x − x̂‖².
    "calibrated": Gaussian whose σ is the batch's RMS error (the optimal σ, Rybkin et al. 2021), a full density.
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)
    if kind == "calibrated":
        return calibrated_gaussian_nll(logits, x)
    return 0.5 * (torch.sigmoid(logits) - x).pow(2).sum(dim=-1)


RECONSTRUCTIONS = ("bce", "gaussian", "calibrated", "auto")  # objective.reconstruction's choices

# Below this RMS error (under 1/4 of an 8-bit grey level) σ stops shrinking: the density would reward memorising.
MIN_CALIBRATED_SIGMA = 1e-3


def calibrated_gaussian_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log N(x; sigmoid(logits), σ²I) per example (summed over the last dim), σ² the mean squared error of
    the whole batch. Unlike a Bernoulli on colour values it is a real density on [0, 1] pixels, and unlike a
    fixed σ it needs no weight to tune: a sharp decoder earns a small σ and a larger reconstruction term."""
    squared = (torch.sigmoid(logits) - x).pow(2)
    variance = squared.mean().clamp(min=MIN_CALIBRATED_SIGMA**2)
    return (0.5 * squared / variance + 0.5 * torch.log(2 * math.pi * variance)).sum(dim=-1)


def likelihood_kind(reconstruction: str, grey: bool) -> str:
    """The likelihood a run trains with: "auto" is Bernoulli on grey images and the calibrated Gaussian on colour."""
    if reconstruction == "auto":
        return "bce" if grey else "calibrated"
    return reconstruction


def evaluation_nll(logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """The −log p(x|z) the ELBO and log-likelihood metrics use: the calibrated density for runs trained with it,
    otherwise the Bernoulli one (the field's convention for MNIST, so those numbers compare across objectives)."""
    return reconstruction_error(logits, x, "calibrated" if kind == "calibrated" else "bce")


def reference_loss(
    x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, s: torch.Tensor, recon_weight: float,
    target_mu: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original routed VAE's loss, quirk included (experiments.md §1).

    0.3 · mean_i ‖x_i − x̂_i‖²  +  mean_{i,d}(μ² + e^s − s), where s is the
    variance head's output: used as a *standard deviation* when sampling but as
    a *log-variance* here (without the ½ and the −1). Returns (recon, kl) terms.
    """
    recon = recon_weight * (x - torch.sigmoid(logits)).pow(2).sum(dim=1).mean()
    centred = mu if target_mu is None else mu - target_mu
    kl = (centred.pow(2) + s.exp() - s).mean()
    return recon, kl


class Objective:
    """How codes are sampled and scored; the model calls these and has no branch on the objective's kind."""

    def __init__(self, config: ObjectiveConfig, grey: bool = True):
        self.config = config
        self.likelihood = likelihood_kind(config.reconstruction, grey)  # "auto" resolved for the data's colour

    def sample(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """One code per example, z ~ q(z|x) (training only; evaluation uses μ).  # (B, D)"""
        raise NotImplementedError

    def posterior_std(self, v: torch.Tensor) -> torch.Tensor:
        """σ of q(z|x), positive, for densities (importance sampling).  # (B, D)"""
        raise NotImplementedError

    def loss(self, x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, v: torch.Tensor,
             target_mu: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, KL) batch terms; target_mu shifts the KL target's mean (techniques)."""
        raise NotImplementedError

    def elbo_kl(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        """Per-example KL(q(z|x) || N(0, I)) when the ELBO metric is defined for this objective, else None.  # (B,)"""
        return None


class ELBO(Objective):
    """The principled objective: reconstruction NLL + KL to N(target, I); v is log σ²."""

    def sample(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return mu + torch.exp(0.5 * v) * torch.randn_like(mu)

    def posterior_std(self, v: torch.Tensor) -> torch.Tensor:
        return torch.exp(0.5 * v)

    def loss(self, x, logits, mu, v, target_mu):
        recon = reconstruction_error(logits, x, self.likelihood).mean()
        return recon, gaussian_kl(mu, v, target_mu).mean()

    def elbo_kl(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        return gaussian_kl(mu, v)


class Autoencoder(ELBO):
    """A deterministic model (model.deterministic): z = μ, reconstruction only, no KL, no posterior."""

    def sample(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return mu

    def posterior_std(self, v: torch.Tensor) -> torch.Tensor:
        raise ValueError("a deterministic autoencoder has no posterior: ELBO and log-likelihood are undefined")

    def loss(self, x, logits, mu, v, target_mu):
        return reconstruction_error(logits, x, self.likelihood).mean(), torch.zeros(())

    def elbo_kl(self, mu: torch.Tensor, v: torch.Tensor) -> None:
        return None


class Reference(Objective):
    """The original routed VAE's loss (experiments.md §1), quirk included: v is a standard deviation when
    sampling but a log-variance inside the KL-like term (`reference_loss`)."""

    def sample(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return mu + v * torch.randn_like(mu)

    def posterior_std(self, v: torch.Tensor) -> torch.Tensor:
        return v.abs()  # the sign of a standard deviation does not change the distribution

    def loss(self, x, logits, mu, v, target_mu):
        return reference_loss(x, logits, mu, v, self.config.reference_recon_weight, target_mu)


OBJECTIVES: dict[str, type[Objective]] = {"elbo": ELBO, "reference": Reference}


def make_objective(config: RunSpec, grey: bool = True) -> Objective:
    """The objective of `config`, for grey or colour images (which "auto" reconstruction depends on)."""
    if config.model.deterministic:  # config validation allows only kind "elbo" here
        return Autoencoder(config.objective, grey)
    return OBJECTIVES[config.objective.kind](config.objective, grey)


def kl_weight(objective: ObjectiveConfig, epoch_progress: float) -> float:
    """β, ramped linearly from 0 over `kl_warmup_epochs` (epoch_progress counts epochs, fractional)."""
    if objective.kl_warmup_epochs <= 0:
        return objective.beta
    return objective.beta * min(1.0, epoch_progress / objective.kl_warmup_epochs)
