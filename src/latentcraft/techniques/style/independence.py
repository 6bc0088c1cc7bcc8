"""Three label-free ways to keep digit identity out of the style coordinates.

Each compares style codes across the digits the *routed code* predicts (its
argmax), never across labels, so a preset that uses them still has no label
in any loss term:

- `style_dependence`: a penalty on per-digit differences of the style codes'
  mean and spread (the first two moments only);
- `style_mmd`: a kernel MMD between each digit's style codes and the batch's
  (every moment, at the batch's scale);
- `StyleAdversary`: a small probe learns to read the predicted digit from the
  style codes, and the style encoder receives its gradient reversed (Ganin &
  Lempitsky 2015, "Unsupervised domain adaptation by backpropagation"), so it
  learns codes that no such probe can read: a k-NN probe sees all moments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ADVERSARY_HIDDEN = 128  # width of the probe's two hidden layers
KERNEL_SCALES = (0.25, 1.0, 4.0)  # RBF bandwidths of the MMD, as multiples of the batch's median squared distance


def style_dependence(style: torch.Tensor, digit: torch.Tensor, digits: int) -> torch.Tensor:
    """How much the style codes' per-coordinate mean and spread differ between digit groups.

    Σ_k share_k (‖mean_k − mean‖² + ‖std_k − std‖²) over the groups of `digit` in the
    batch with at least 2 members: 0 when every digit's style codes look alike to the
    first two moments, which is what lets a style be moved to another digit.
    """
    weights = F.one_hot(digit, digits).to(style.dtype)  # (B, K)
    counts = weights.sum(0)  # (K,)
    kept = counts >= 2
    safe = counts.clamp(min=1).unsqueeze(1)
    means = weights.T @ style / safe  # (K, S)
    spreads = (weights.T @ style.pow(2) / safe - means.pow(2)).clamp(min=1e-6).sqrt()
    gaps = (means - style.mean(0)).pow(2).sum(1) + (spreads - style.std(0, correction=0)).pow(2).sum(1)  # (K,)
    return (gaps * kept * counts).sum() / len(style)


def style_mmd(style: torch.Tensor, digit: torch.Tensor, digits: int) -> torch.Tensor:
    """How far each digit group's style codes sit from the whole batch's, as a kernel MMD² (Gretton et al. 2012).

    Σ_k share_k MMD²(codes of group k, all codes), RBF kernels at several bandwidths: 0 when every
    group is distributed like the batch, and unlike mean and spread it sees every moment, as a k-NN probe does.
    Groups with fewer than 2 members are skipped.
    """
    with torch.autocast(style.device.type, enabled=False):  # bf16 distances would make small MMDs noise
        style = style.float()
        distances = torch.cdist(style, style).pow(2)  # (B, B)
        scale = distances.detach().median().clamp(min=1e-6)
        kernel = torch.zeros_like(distances)  # (B, B) the mean of one Gaussian kernel per scale
        for s in KERNEL_SCALES:
            kernel = kernel + torch.exp(-distances / (scale * s))
        kernel = kernel / len(KERNEL_SCALES)
        weights = F.one_hot(digit, digits).float()  # (B, K)
        counts = weights.sum(0)  # (K,)
        kept = counts >= 2
        safe = counts.clamp(min=1)
        within = torch.einsum("ik,ij,jk->k", weights, kernel, weights) / safe.pow(2)  # (K,) mean K(S_k, S_k)
        across = (weights.T @ kernel).mean(1) / safe  # (K,) mean K(S_k, S)
        mmd = within + kernel.mean() - 2 * across  # (K,) ‖mean embedding of group k − the batch's‖² ≥ 0
        return (mmd * kept * counts).sum() / len(style)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by −weight."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float) -> torch.Tensor:
    return _ReverseGradient.apply(x, weight)


class StyleAdversary(nn.Module):
    """An MLP probe style codes -> digit, trained against the style encoder through a gradient reversal.

    Its loss is the probe's cross-entropy: minimising it trains the probe, while the
    reversal makes the same step *raise* it by `weight` × its gradient in the style
    encoder. One loss term, one optimiser, no alternating updates.
    """

    def __init__(self, style_dim: int, digits: int, weight: float):
        super().__init__()
        self.weight = weight
        self.probe = nn.Sequential(
            # Each coordinate scaled to unit variance first, as a k-NN probe on standardised codes sees it:
            # a nearly unused coordinate's small wiggles can still name the digit.
            nn.BatchNorm1d(style_dim, affine=False),
            nn.Linear(style_dim, ADVERSARY_HIDDEN), nn.ReLU(),
            nn.Linear(ADVERSARY_HIDDEN, ADVERSARY_HIDDEN), nn.ReLU(),
            nn.Linear(ADVERSARY_HIDDEN, digits),
        )

    def forward(self, style: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
        """The probe's mean cross-entropy reading `digit` (B,) from `style` (B, S)."""
        logits = self.probe(reverse_gradient(style, self.weight)).float()  # (B, digits)
        return F.cross_entropy(logits, digit)
