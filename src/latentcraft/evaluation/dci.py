"""DCI: disentanglement, completeness, informativeness of a code.

Eastwood & Williams, "A Framework for the Quantitative Evaluation of
Disentangled Representations", ICLR 2018. One regressor per factor predicts
the factor from the code; its feature importances fill column j of an
importance matrix R (codes × factors). Then

    P_ij = R_ij / Σ_k R_ik                (row i normalised: which factors code i serves)
    D_i  = 1 − H_K(P_i·)                  (entropy with log base K = number of factors)
    D    = Σ_i ρ_i D_i,  ρ_i = Σ_j R_ij / Σ_ij R_ij   (weighted by relative code importance)
    P̃_ij = R_ij / Σ_k R_kj                (column j normalised: which codes serve factor j)
    C_j  = 1 − H_D(P̃_·j)                  (entropy with log base D = number of codes)
    C    = Σ_j w_j C_j,  w_j = Σ_i R_ij / Σ_ij R_ij   (weighted by relative factor importance)
    I    = mean held-out accuracy of the per-factor predictors.

The regressors are gradient-boosted trees, as in the paper's tree variant;
A run's single class label becomes one one-vs-rest binary factor per class (experiments.md §2);
against ground-truth factors, when the data has them, see factors.py.

`dci_shortcut` is the write-up's single-factor shortcut, kept for comparison:
p = importances normalised to sum 1, D = Σ p², C = max p, fitted and scored on
the same codes. It is *not* the Eastwood & Williams metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from tqdm.auto import tqdm

# Boosting settings: half-sample stochastic boosting with 50 depth-3 stages
# gives the same held-out accuracy as sklearn's 100-stage default on 10-d
# codes at a quarter of the time (10 one-vs-rest fits must fit in seconds).
TREE_STAGES = 50
TREE_DEPTH = 3
TREE_SUBSAMPLE = 0.5


@dataclass
class DCIResult:
    disentanglement: float  # D, importance-weighted mean of per-code D_i
    completeness: float  # C, importance-weighted mean of per-factor C_j
    informativeness: float  # I, mean held-out accuracy over factors
    importance: list[list[float]]  # R, codes × factors
    code_disentanglement: list[float]  # D_i per code
    factor_completeness: list[float]  # C_j per factor
    factor_accuracy: list[float]  # held-out accuracy per factor
    chance_accuracy: list[float]  # majority-class accuracy per factor on the held-out codes

    def to_dict(self) -> dict:
        return asdict(self)


def _entropy(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    """Shannon entropy of the distributions along `axis`, in log base `base` (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=axis) / np.log(base)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(D, C, D_i per code, C_j per factor) from an importance matrix R of shape (codes, factors)."""
    R = np.abs(np.asarray(importance, dtype=float))
    if R.ndim != 2:
        raise ValueError(f"importance matrix must be 2-D (codes × factors), got shape {R.shape}")
    n_codes, n_factors = R.shape
    total = R.sum()
    if total <= 0:
        # No code predicts anything: nothing is disentangled or complete.
        return 0.0, 0.0, np.zeros(n_codes), np.zeros(n_factors)
    row_sums, col_sums = R.sum(axis=1), R.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.where(row_sums[:, None] > 0, R / row_sums[:, None], 0.0)
        cols = np.where(col_sums[None, :] > 0, R / col_sums[None, :], 0.0)
    # With one factor (or one code) the entropy base is 1: every code trivially serves one factor.
    code_d = 1.0 - _entropy(rows, n_factors, axis=1) if n_factors > 1 else np.ones(n_codes)
    factor_c = 1.0 - _entropy(cols, n_codes, axis=0) if n_codes > 1 else np.ones(n_factors)
    code_d = np.where(row_sums > 0, code_d, 0.0)
    d = float((code_d * row_sums / total).sum())
    c = float((factor_c * col_sums / total).sum())
    return d, c, code_d, factor_c


def one_vs_rest(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) class labels -> (N, n_classes) binary factors, column k = [label == k]."""
    labels = np.asarray(labels)
    return (labels[:, None] == np.arange(n_classes)[None, :]).astype(int)


def _trees(seed: int) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(
        n_estimators=TREE_STAGES, max_depth=TREE_DEPTH, subsample=TREE_SUBSAMPLE, random_state=seed
    )


def dci(
    train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray, test_factors: np.ndarray,
    seed: int = 0, progress: bool = True,
) -> DCIResult:
    """Eastwood & Williams DCI with gradient-boosted trees, one classifier per discrete factor.

    Codes (N, D); factors (N, K) with discrete values. Trees are fitted on the
    train codes; I is accuracy on the held-out test codes.
    """
    train_codes, test_codes = np.asarray(train_codes, float), np.asarray(test_codes, float)
    train_factors = np.atleast_2d(np.asarray(train_factors).T).T
    test_factors = np.atleast_2d(np.asarray(test_factors).T).T
    if train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(f"train codes have {train_codes.shape[1]} dims, test codes {test_codes.shape[1]}")
    if len(train_codes) != len(train_factors) or len(test_codes) != len(test_factors):
        raise ValueError("codes and factors must have the same number of rows")
    n_codes, n_factors = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((n_codes, n_factors))
    accuracy, chance = [], []
    for j in tqdm(range(n_factors), desc="DCI trees", leave=False, disable=not progress):
        target, held_out = train_factors[:, j], test_factors[:, j]
        values, counts = np.unique(held_out, return_counts=True)
        chance.append(float(counts.max() / counts.sum()))
        if len(np.unique(target)) < 2:
            # A constant factor: no code can matter; predict the constant.
            accuracy.append(float(np.mean(held_out == target[0])))
            continue
        model = _trees(seed + j).fit(train_codes, target)
        importance[:, j] = np.abs(model.feature_importances_)
        accuracy.append(float(model.score(test_codes, held_out)))
    d, c, code_d, factor_c = dci_from_importance(importance)
    return DCIResult(
        disentanglement=d, completeness=c, informativeness=float(np.mean(accuracy)),
        importance=importance.tolist(), code_disentanglement=code_d.tolist(),
        factor_completeness=factor_c.tolist(), factor_accuracy=accuracy, chance_accuracy=chance,
    )


def shortcut_from_importance(importances: np.ndarray) -> tuple[float, float]:
    """The write-up's single-factor shortcut: p = importances / Σ, D = Σ p², C = max p."""
    p = np.abs(np.asarray(importances, dtype=float))
    if p.sum() <= 0:
        return 0.0, 0.0
    p = p / p.sum()
    return float((p**2).sum()), float(p.max())


def dci_shortcut(codes: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Single-factor shortcut of experiments.md §2: one multi-class tree ensemble, fitted and scored on the same codes.

    Not the Eastwood & Williams metric: D = Σ p² is a concentration index, not
    1 − entropy, and I is training accuracy, not held-out accuracy.
    """
    model = _trees(seed).fit(np.asarray(codes, float), np.asarray(labels))
    d, c = shortcut_from_importance(model.feature_importances_)
    return {"D": d, "C": c, "I": float(model.score(np.asarray(codes, float), np.asarray(labels))),
            "importance": model.feature_importances_.tolist()}
