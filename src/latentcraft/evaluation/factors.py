"""Disentanglement against ground-truth factors: MIG, SAP and DCI, when the data carries its generating factors.

Data with known factors (the generated `shapes` and `blobs` sets, or an .npz
with factors_train / factors_test) lets `evaluate` ask the question the
class-based DCI cannot: does each code coordinate capture one true factor of
variation (shape, scale, orientation, x, y, ...)? Three supervised scores, with
disentanglement_lib's settings (Locatello et al., ICML 2019), on μ:

    factor_mig   MIG (Chen et al. 2018) on the fitting codes, codes binned into MIG_BINS = 20
    factor_sap   SAP (Kumar et al. 2018): fitted on the fitting codes, scored on the test codes
    factor_dci_* DCI (Eastwood & Williams 2018): trees fitted on the fitting codes, I on the test codes

A factor is discrete when it is integer-valued with at most MAX_DISCRETE_VALUES
values (dSprites' largest factor, position, has 32); any other factor is
continuous: MIG bins it into 20 equal-width bins, as disentanglement_lib's
`histogram_discretize` does the codes; SAP scores it by R² of a 1-D linear fit
(disentanglement_lib's continuous SAP); DCI's tree classifiers read it binned
into the same 20 bins, edges from the fitting split, since our DCI
(dci.py) fits classifiers. Factor names come from the data and go to
eval.json's "factors" entry, with each score's per-factor parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from latentcraft.evaluation.dci import dci
from latentcraft.evaluation.mig_sap import MIG_BINS, mig, sap

MAX_DISCRETE_VALUES = 32  # an integer factor with more values is treated as continuous (binned)


def continuous_factors(factors: np.ndarray) -> np.ndarray:
    """(F,) bool: which columns of (N, F) factors are continuous (the module docstring's rule)."""
    integral = np.all(factors == np.round(factors), axis=0)
    few = np.array([len(np.unique(column)) <= MAX_DISCRETE_VALUES for column in factors.T])
    return ~(integral & few)


def bin_like(fit: np.ndarray, other: np.ndarray, bins: int = MIG_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Both columns as 0 .. bins - 1 indices of `bins` equal-width bins over `fit`'s range (values beyond it clip)."""
    edges = np.histogram_bin_edges(fit, bins)[1:-1]  # the inner edges
    return np.digitize(fit, edges), np.digitize(other, edges)


def _per_factor(names: list[str], **columns: list[float]) -> dict[str, dict[str, float]]:
    return {name: {key: values[k] for key, values in columns.items()} for k, name in enumerate(names)}


def factor_scores(fit_codes: np.ndarray, fit_factors: np.ndarray, test_codes: np.ndarray,
                  test_factors: np.ndarray, names: list[str], seed: int = 0,
                  progress: bool = False) -> tuple[dict[str, float], dict[str, Any]]:
    """(metrics, eval.json "factors" entry): MIG, SAP and DCI of the codes against the true factors.

    Codes (N, D) are μ; factors (N, F) floats. MIG and SAP compare a factor's two best
    coordinates, so a 1-D code gets DCI only (the entry says why).
    """
    fit_factors, test_factors = np.asarray(fit_factors, float), np.asarray(test_factors, float)
    continuous = continuous_factors(np.concatenate([fit_factors, test_factors]))
    discrete_fit, discrete_test = fit_factors.copy(), test_factors.copy()
    for k in np.flatnonzero(continuous):
        discrete_fit[:, k], discrete_test[:, k] = bin_like(fit_factors[:, k], test_factors[:, k])
    result = dci(fit_codes, discrete_fit.astype(np.int64), test_codes, discrete_test.astype(np.int64),
                 seed=seed, progress=progress)
    metrics = {"factor_dci_disentanglement": result.disentanglement,
               "factor_dci_completeness": result.completeness,
               "factor_dci_informativeness": result.informativeness}
    record: dict[str, Any] = {"names": names, "continuous": continuous.tolist(), "dci": result.to_dict()}
    parts = {"dci_completeness": result.factor_completeness, "dci_accuracy": result.factor_accuracy}
    if fit_codes.shape[1] < 2:
        record["mig"] = record["sap"] = "needs 2 or more code coordinates"
    else:
        gaps = mig(fit_codes, fit_factors, MIG_BINS, continuous.tolist())
        separated = sap(fit_codes, fit_factors, test_codes, test_factors, continuous.tolist())
        metrics["factor_mig"], metrics["factor_sap"] = gaps.score, separated.score
        record["mig"], record["sap"] = gaps.to_dict(), separated.to_dict()
        parts.update(mig_gap=gaps.factor_gaps, sap_gap=separated.factor_gaps)
    record["per_factor"] = _per_factor(names, **parts)
    return metrics, record
