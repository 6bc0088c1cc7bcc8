"""Metrics: reconstruction, ELBO, log-likelihood, accuracy, probes and routing selectivity.

`evaluate_split` is what the trainer reports every epoch; the fuller
evaluation of the `evaluate` command (evaluation.py) builds on `encode_split`
and the functions below. DCI lives in dci.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from latentcraft.data.images import ImageSet
from latentcraft.evaluation.registry import PREDICTIONS, higher_is_better
from latentcraft.model.objective import evaluation_nll
from latentcraft.training.devices import module_device

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel


def lower_is_better(metric: str) -> bool:
    return not higher_is_better(metric)


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return (predicted == labels).float().mean().item()


@torch.no_grad()
def encode_split(model: LatentModel, data: ImageSet, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """μ and log σ² of every image, in eval mode, computed on the model's device.  # (N, D) each, on the CPU"""
    model.eval()
    device = module_device(model)
    mus, logvars = [], []
    for start in range(0, len(data), batch_size):
        mu, logvar = model.encode(data.floats(slice(start, start + batch_size), device))
        mus.append(mu)
        logvars.append(logvar)
    return torch.cat(mus).cpu(), torch.cat(logvars).cpu()


# What evaluate_split measures on every model (kl and elbo: on models with an ELBO), besides each
# technique's prediction accuracy; per epoch, training logs them with "test_" in front.
SPLIT_METRICS = ("recon_bce", "recon_sq", "loss", "kl", "elbo")


def logged_metrics() -> list[str]:
    """Every test metric a training run can log each epoch, and so hold in summary.json's "final"."""
    return [f"test_{name}" for name in (*SPLIT_METRICS, *PREDICTIONS)]


@torch.no_grad()
def evaluate_split(model: LatentModel, data: ImageSet, batch_size: int = 2000,
                   prefix: str = "test_") -> dict[str, float]:
    """Per-image reconstruction errors, KL, loss, and the accuracy of each technique's prediction from μ."""
    model.eval()
    device = module_device(model)
    totals: dict[str, float] = {}
    predictors = {t.prediction_metric: t for t in model.hooks() if t.prediction_metric}
    predictions: dict[str, list[torch.Tensor]] = {name: [] for name in predictors}
    for start in range(0, len(data), batch_size):
        x, y = data.batch(slice(start, start + batch_size), device)
        out = model(x, y)
        batch = {
            "recon_bce": F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").sum(1).sum().item(),
            "recon_sq": (torch.sigmoid(out.logits) - x).pow(2).sum(1).sum().item(),
            "loss": out.loss.item() * len(x),
            "recon_nll": evaluation_nll(out.logits, x, model.objective.likelihood).sum().item(),
        }
        kl = model.elbo_kl(out.mu, out.logvar)
        if kl is not None:
            batch["kl"] = kl.sum().item()
        for name, value in batch.items():
            totals[name] = totals.get(name, 0.0) + value
        for name, technique in predictors.items():
            predictions[name].append(technique.predict(out.mu).argmax(1).cpu())
    n = len(data)
    metrics = {f"{prefix}{name}": value / n for name, value in totals.items()}
    if "kl" in totals:
        metrics[f"{prefix}elbo"] = -(totals["recon_nll"] + totals["kl"]) / n
    metrics.pop(f"{prefix}recon_nll")  # equal to recon_bce on Bernoulli runs; the ELBO carries it otherwise
    for name, chunks in predictions.items():
        metrics[f"{prefix}{name}"] = accuracy(torch.cat(chunks), data.labels)
    return metrics


# ---- fuller evaluation (the `evaluate` command) ---------------------------------------------


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int) -> list[list[int]]:
    """Counts[true][predicted], as nested lists (JSON-ready)."""
    counts = torch.zeros(n_classes, n_classes, dtype=torch.long)
    counts.index_put_((labels.long(), predicted.long()), torch.ones_like(labels, dtype=torch.long), accumulate=True)
    return counts.tolist()


def probe_accuracies(
    train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor, test_labels: torch.Tensor,
    neighbours: int = 5,
) -> dict[str, float]:
    """Held-out accuracy of a linear probe (logistic regression) and a k-NN probe on μ.

    Codes are standardised with the train codes' statistics so both probes see
    coordinates on a common scale (k-NN distances otherwise follow the widest one).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, ytr, xte, yte = train_codes.numpy(), train_labels.numpy(), test_codes.numpy(), test_labels.numpy()
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(xtr, ytr)
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbours)).fit(xtr, ytr)
    return {"linear_probe_accuracy": float(linear.score(xte, yte)), "knn_probe_accuracy": float(knn.score(xte, yte))}


def _log_normal(z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag std²), summed over the last dim."""
    return (-0.5 * ((z - mean) / std).pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def importance_log_likelihood(
    model: LatentModel, data: ImageSet, samples: int, batch_size: int = 500, seed: int = 0, progress: bool = False,
) -> dict[str, float]:
    """Per-image ELBO (one sample) and the importance-sampled log p(x) with k samples (Burda et al. 2016).

    log p(x) ≈ log (1/k) Σ_s p(x|z_s) p(z_s) / q(z_s|x), z_s ~ q(z|x), with a
    Bernoulli decoder and the N(0, I) prior for every model (so numbers compare
    across models; for class-prior or anchor models this is the marginal under
    N(0, I), not their training target). Conditional decoders get the true
    label, so theirs is log p(x|y). A categorical block (coordinates the decoder reads only
    through their argmax) has a uniform prior and q at the argmax of μ. Nats per image; higher is better.
    """
    if model.var_head is None:
        raise ValueError("a deterministic autoencoder has no posterior: ELBO and log-likelihood are undefined")
    model.eval()
    device = module_device(model)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    gaussian = model.gaussian_coordinates()
    categorical = [c for coords, _ in model.categorical_blocks() for c in coords]
    log_categories = sum(math.log(n) for _, n in model.categorical_blocks())  # uniform prior, one-point q
    elbo_sum, ll_sum = 0.0, 0.0
    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc=f"log p(x), k={samples}", leave=False, disable=not progress):
        x, y = data.batch(slice(start, start + batch_size), device)
        mu, logvar = model.encode(x)
        std = model.objective.posterior_std(logvar).clamp(min=1e-6)
        eps = torch.randn((samples, *mu.shape), generator=generator).to(device)  # (k, B, D)
        z = mu + std * eps
        z[..., categorical] = mu[:, categorical]  # q is one point there: the argmax of μ
        flat = model.latent_activation(z.reshape(-1, mu.shape[1]))
        logits = model.decode(flat, y.repeat(samples)).view(samples, *x.shape)  # (k, B, 784)
        log_px_z = -evaluation_nll(logits, x.expand_as(logits), model.objective.likelihood)  # (k, B)
        z, mu, std = z[..., gaussian], mu[:, gaussian], std[:, gaussian]
        log_w = (log_px_z + _log_normal(z, torch.zeros_like(z), torch.ones_like(z)) - _log_normal(z, mu, std)
                 - log_categories)  # (k, B)
        elbo_sum += log_w[0].sum().item()
        ll_sum += (torch.logsumexp(log_w, dim=0) - math.log(samples)).sum().item()
    n = len(data)
    return {"elbo": elbo_sum / n, "log_likelihood": ll_sum / n}
