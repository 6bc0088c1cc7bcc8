"""MIG and SAP: two scores of how well single code dimensions capture single ground-truth factors.

Together with DCI (dci.py) these are disentanglement_lib's supervised scores
(Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning
of Disentangled Representations", ICML 2019), and the settings here are that
library's, so the numbers are comparable with published ones.

MIG — Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in
Variational Autoencoders", NeurIPS 2018. Each code dimension z_j is cut into
MIG_BINS = 20 equal-width bins spanning its own range (disentanglement_lib's
`histogram_discretize`); factors are treated as discrete (a continuous factor is
binned the same way). Then

    I_jk = I(bin(z_j); v_k)                  (sklearn mutual_info_score, nats)
    gap_k = (largest_j I_jk − second largest_j I_jk) / H(v_k)
    MIG  = mean_k gap_k

MIG asks, per factor, whether one dim stands out; it does not see one dim holding
two factors (z0 = v0 + 4·v1 scores 1). SAP and DCI's disentanglement D do.

SAP — Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", ICLR 2018. A score matrix S
(code dims × factors) holds how well z_j alone predicts v_k; then

    SAP = mean_k (largest_j S_jk − second largest_j S_jk)

with S_jk, as in disentanglement_lib:
  * discrete v_k: accuracy on the *test* codes of LinearSVC(C=0.01,
    class_weight="balanced") fitted on the *train* codes' z_j alone (raw, not
    standardised: C=0.01 assumes unit-scale codes, as a VAE's posterior means are);
  * continuous v_k: R² of the 1-D least-squares fit of v_k on z_j over the
    *train* codes, i.e. the squared Pearson correlation (0 for a constant z_j).

Plain accuracy has a chance floor: the second-best dimension of a perfect code
still scores about 1/K on a balanced K-valued factor, so a perfect code gets
SAP ≈ 1 − 1/K, not 1. `sap(..., chance_adjusted=True)` instead scores balanced
accuracy rescaled so chance is 0 and perfect is 1 (sklearn's
balanced_accuracy_score(adjusted=True), clipped at 0); a perfect code then
scores SAP ≈ 1.
A second limit, also disentanglement_lib's and kept for comparability: a 1-D
one-vs-rest linear classifier cannot always carve out the middle values of a
factor with more than 2 values (and its intercept is penalised by C), so even a
perfect code of a 4-valued factor may score about 0.75 accuracy, not 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import balanced_accuracy_score, mutual_info_score
from sklearn.svm import LinearSVC

MIG_BINS = 20  # equal-width bins per code dimension (disentanglement_lib's discretizer_fn default)
SAP_SVC_C = 0.01  # LinearSVC regularisation in disentanglement_lib's SAP
SAP_SEED = 0  # liblinear's coordinate-descent shuffling; one seed for every pair keeps SAP order-free


@dataclass
class MIGResult:
    score: float  # MIG, mean of the per-factor gaps (over non-constant factors)
    factor_gaps: list[float]  # gap_k per factor, already divided by H(v_k); 0 for a constant factor
    mutual_info: list[list[float]]  # I(bin(z_j); v_k) in nats, code dims × factors
    factor_entropy: list[float]  # H(v_k) in nats per factor
    bins: int  # bins per code dimension

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SAPResult:
    score: float  # SAP, mean of the per-factor gaps (over non-constant factors)
    factor_gaps: list[float]  # best − second best score per factor; 0 for a constant factor
    score_matrix: list[list[float]]  # S_jk, code dims × factors
    chance_adjusted: bool  # whether discrete scores are chance-adjusted balanced accuracies

    def to_dict(self) -> dict:
        return asdict(self)


# --- input checks ---------------------------------------------------------------------------------------------


def _codes(codes: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N samples, D code dims), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(float)
    if array.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got {array.shape[0]}")
    if array.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 code dims (both scores compare the best two), got {array.shape[1]}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _factors(factors: np.ndarray, n_rows: int, name: str, codes_name: str) -> np.ndarray:
    array = np.asarray(factors)
    if array.ndim == 1:
        array = array[:, None]  # one factor
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 1-D or 2-D array (N samples, F factors), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers (integers for discrete factors), got dtype {array.dtype}")
    if array.shape[0] != n_rows:
        raise ValueError(f"{name} has {array.shape[0]} rows but {codes_name} has {n_rows}")
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no factors (shape {array.shape})")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _continuous_mask(continuous: bool | Sequence[bool], n_factors: int) -> np.ndarray:
    if isinstance(continuous, bool | np.bool_):
        return np.full(n_factors, bool(continuous))
    mask = np.asarray(continuous)
    if mask.shape != (n_factors,) or mask.dtype != bool:
        raise ValueError(f"continuous must be a bool or {n_factors} bools (one per factor), got {continuous!r}")
    return mask


def _check_discrete(factors: np.ndarray, mask: np.ndarray, name: str) -> None:
    """Discrete factors must be integer-valued: a float factor passed as discrete is almost always a mistake."""
    for k in np.flatnonzero(~mask):
        column = factors[:, k]
        if not np.array_equal(column, np.round(column)):
            raise ValueError(
                f"{name}[:, {k}] is not integer-valued; pass integer codes of its values "
                f"(np.unique(..., return_inverse=True)) or mark it continuous"
            )


# --- MIG ------------------------------------------------------------------------------------------------------


def discretize(values: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """Bin index (1..bins) of each value, in `bins` equal-width bins over the column's range; per column of (N, D).

    disentanglement_lib's histogram_discretize: np.digitize against the left bin
    edges of np.histogram, so the maximum falls in the last bin, not past it.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        edges = np.histogram(values[:, j], bins)[1]
        out[:, j] = np.digitize(values[:, j], edges[:-1])
    return out


def _top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column: largest minus second-largest entry."""
    ordered = np.sort(matrix, axis=0)
    return ordered[-1] - ordered[-2]


def _mean_over(gaps: np.ndarray, keep: np.ndarray) -> float:
    # Constant factors carry nothing to capture; counting them as 0 would penalise every code alike.
    return float(gaps[keep].mean()) if keep.any() else 0.0


def mig(
    codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS, continuous: bool | Sequence[bool] = False,
) -> MIGResult:
    """Mutual Information Gap (Chen et al. 2018) with disentanglement_lib's settings.

    codes: (N, D) floats, e.g. posterior means. factors: (N, F) or (N,) ground
    truth, integers for discrete factors; factors marked `continuous` are binned
    into `bins` equal-width bins like the codes. Each code dim is binned into
    `bins` (20) equal-width bins of its own range; I(z_j; v_k) is
    sklearn.metrics.mutual_info_score on the bin indices (nats); each factor's
    gap between its two most informative dims is divided by its entropy H(v_k).
    MIG is the mean gap over factors that are not constant (a constant factor has
    H = 0; its gap is reported as 0). disentanglement_lib computes MIG on its
    10,000 training codes; any single set of codes will do.
    """
    codes = _codes(codes, "codes")
    factors = _factors(factors, len(codes), "factors", "codes")
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise ValueError(f"bins must be an integer ≥ 2, got {bins!r}")
    mask = _continuous_mask(continuous, factors.shape[1])
    _check_discrete(factors, mask, "factors")
    binned_codes = discretize(codes, int(bins))
    labels = factors.copy()
    if mask.any():
        labels[:, mask] = discretize(factors[:, mask], int(bins))
    n_codes, n_factors = codes.shape[1], factors.shape[1]
    info = np.array([[mutual_info_score(labels[:, k], binned_codes[:, j]) for k in range(n_factors)]
                     for j in range(n_codes)])
    entropy = np.array([mutual_info_score(labels[:, k], labels[:, k]) for k in range(n_factors)])
    keep = entropy > 0
    gaps = np.zeros(n_factors)
    gaps[keep] = _top_two_gap(info)[keep] / entropy[keep]
    return MIGResult(
        score=_mean_over(gaps, keep), factor_gaps=gaps.tolist(), mutual_info=info.tolist(),
        factor_entropy=entropy.tolist(), bins=int(bins),
    )


# --- SAP ------------------------------------------------------------------------------------------------------


def _squared_correlation(z: np.ndarray, v: np.ndarray) -> float:
    """R² of the least-squares line v ≈ a z + b: cov(z, v)² / (var z · var v); 0 if either is constant."""
    cov = np.cov(z, v, ddof=1)
    if cov[0, 0] <= 1e-12 or cov[1, 1] <= 1e-12:
        return 0.0
    return float(cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]))


def _classification_score(
    z_train: np.ndarray, v_train: np.ndarray, z_test: np.ndarray, v_test: np.ndarray, chance_adjusted: bool,
) -> float:
    """Held-out score of a 1-D LinearSVC predicting v from z alone (disentanglement_lib's SAP classifier)."""
    classifier = LinearSVC(C=SAP_SVC_C, class_weight="balanced", random_state=SAP_SEED)
    predicted = classifier.fit(z_train[:, None], v_train).predict(z_test[:, None])
    if chance_adjusted:
        # Balanced accuracy rescaled so a constant or random prediction scores 0 and a perfect one 1;
        # below-chance values are sampling noise, clipped so that no gap exceeds 1.
        return max(0.0, float(balanced_accuracy_score(v_test, predicted, adjusted=True)))
    return float(np.mean(predicted == v_test))


def sap_score_matrix(
    train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray, test_factors: np.ndarray,
    continuous: bool | Sequence[bool] = False, chance_adjusted: bool = False,
) -> np.ndarray:
    """S_jk (code dims × factors): how well code dim j alone predicts factor k. Inputs checked as in `sap`."""
    train_codes, test_codes = _codes(train_codes, "train_codes"), _codes(test_codes, "test_codes")
    if train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(f"train_codes have {train_codes.shape[1]} dims but test_codes {test_codes.shape[1]}")
    train_factors = _factors(train_factors, len(train_codes), "train_factors", "train_codes")
    test_factors = _factors(test_factors, len(test_codes), "test_factors", "test_codes")
    if train_factors.shape[1] != test_factors.shape[1]:
        raise ValueError(f"train_factors have {train_factors.shape[1]} factors but test_factors "
                         f"{test_factors.shape[1]}")
    mask = _continuous_mask(continuous, train_factors.shape[1])
    _check_discrete(train_factors, mask, "train_factors")
    _check_discrete(test_factors, mask, "test_factors")
    n_codes, n_factors = train_codes.shape[1], train_factors.shape[1]
    matrix = np.zeros((n_codes, n_factors))
    for k in range(n_factors):
        v_train, v_test = train_factors[:, k], test_factors[:, k]
        if np.ptp(v_train) == 0:
            continue  # constant factor: no classifier can be fitted, no dim can matter; its column stays 0
        if not mask[k]:
            v_train, v_test = v_train.astype(np.int64), v_test.astype(np.int64)
        for j in range(n_codes):
            if mask[k]:
                matrix[j, k] = _squared_correlation(train_codes[:, j], v_train)
            else:
                matrix[j, k] = _classification_score(
                    train_codes[:, j], v_train, test_codes[:, j], v_test, chance_adjusted
                )
    return matrix


def sap(
    train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray, test_factors: np.ndarray,
    continuous: bool | Sequence[bool] = False, chance_adjusted: bool = False,
) -> SAPResult:
    """Separated Attribute Predictability (Kumar et al. 2018) with disentanglement_lib's settings.

    Codes (N, D) floats; factors (N, F) or (N,), integers for discrete factors.
    `continuous`: one bool for all factors or one per factor. For a discrete
    factor, S_jk is the test-code accuracy of LinearSVC(C=0.01,
    class_weight="balanced") fitted on train code dim j alone; for a continuous
    one, the R² of a 1-D linear fit on the train codes (squared correlation; the
    test codes are not used). SAP is the mean over non-constant factors of the
    gap between the two best dims. With chance_adjusted=True, discrete scores are
    balanced accuracies rescaled so chance is 0 (see the module docstring).
    """
    matrix = sap_score_matrix(train_codes, train_factors, test_codes, test_factors, continuous, chance_adjusted)
    keep = np.ptp(np.atleast_2d(np.asarray(train_factors).T).T, axis=0) > 0
    gaps = np.where(keep, _top_two_gap(matrix), 0.0)
    return SAPResult(
        score=_mean_over(gaps, keep), factor_gaps=gaps.tolist(), score_matrix=matrix.tolist(),
        chance_adjusted=chance_adjusted,
    )
