"""mig_sap.py: MIG and SAP on synthetic codes whose answer is known, and their input checks."""

import numpy as np
import pytest

from latentcraft.evaluation.mig_sap import MIG_BINS, discretize, mig, sap, sap_score_matrix

N_MIG = 5000  # MIG's plug-in MI estimate is biased up by ≈ (bins−1)(K−1)/(2N) nats; 5000 keeps that under 0.01·H
N_TRAIN, N_TEST = 2000, 1000
LEVELS = 4  # values per factor for MIG (MIG treats any number of values alike)
# SAP's 1-D one-vs-rest LinearSVC (disentanglement_lib's) cannot always isolate the middle values of a
# factor with more than 2 values, so SAP's known-answer codes use binary factors, which it separates exactly.
SAP_LEVELS = 2


def _factors(n: int, count: int, seed: int, levels: int = LEVELS) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, levels, size=(n, count))


def _monotone(f: np.ndarray) -> np.ndarray:
    """One strictly increasing map per factor, chosen so distinct values stay in distinct of 20 equal-width bins."""
    maps = [lambda v: np.tanh(v - 1.5), lambda v: (v + 1.0) ** 2, np.exp]
    return np.stack([maps[k % 3](f[:, k].astype(float)) for k in range(f.shape[1])], axis=1)


def _noise(n: int, dims: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dims))


def _sap(make_codes, count: int = 3, chance_adjusted: bool = False):
    train_f, test_f = _factors(N_TRAIN, count, 1, SAP_LEVELS), _factors(N_TEST, count, 2, SAP_LEVELS)
    return sap(make_codes(train_f, 3), train_f, make_codes(test_f, 4), test_f, chance_adjusted=chance_adjusted)


# --- MIG ---


def test_discretize_matches_disentanglement_lib_equal_width_bins():
    values = np.array([[0.0], [0.04], [0.05], [0.5], [1.0]])
    # 20 bins of width 0.05 over [0, 1]: 0.04 in bin 1, 0.05 starts bin 2, the maximum lands in the last bin.
    assert discretize(values).ravel().tolist() == [1, 1, 2, 11, 20]
    assert len(set(discretize(np.full((3, 1), 7.0)).ravel())) == 1  # a constant dim: one bin, so zero MI


def test_mig_of_a_monotone_copy_of_each_factor_is_one():
    factors = _factors(N_MIG, 3, 0)
    result = mig(_monotone(factors), factors)
    # Not exactly 1: the MI of two independent sampled factors is estimated as ≈ (K−1)²/(2N) > 0 nats, which
    # becomes the second-largest entry (≈ 0.0007 of H here).
    assert result.score == pytest.approx(1.0, abs=0.01)
    assert result.factor_gaps == pytest.approx([1.0] * 3, abs=0.01)
    info = np.array(result.mutual_info)
    assert info.shape == (3, 3)
    assert np.diag(info) == pytest.approx(result.factor_entropy)  # a bijection keeps all of H(v)
    assert result.bins == MIG_BINS


def test_mig_of_every_factor_copied_into_two_dims_is_zero():
    factors = _factors(N_MIG, 2, 0)
    result = mig(np.repeat(factors, 2, axis=1).astype(float), factors)  # z1 = z2 = v1, z3 = z4 = v2
    assert result.score == pytest.approx(0.0, abs=1e-12)


def test_mig_of_random_codes_is_near_zero():
    factors = _factors(N_MIG, 3, 0)
    result = mig(_noise(N_MIG, 5, 1), factors)
    # Each entry is only the estimator's bias, ≈ 19·3/(2·5000) nats ≈ 0.004·H; the top two differ by less.
    assert result.score == pytest.approx(0.0, abs=0.01)


def test_mig_is_unchanged_by_permuting_code_dims():
    factors = _factors(N_MIG, 3, 0)
    codes = np.c_[_monotone(factors), factors[:, :1] + 0.3 * _noise(N_MIG, 1, 2)]
    permuted = codes[:, [2, 0, 3, 1]]
    assert mig(permuted, factors).score == mig(codes, factors).score
    assert mig(permuted, factors).factor_gaps == mig(codes, factors).factor_gaps


def test_mig_is_unchanged_by_a_useless_noise_dim():
    factors = _factors(N_MIG, 3, 0)
    codes = _monotone(factors)
    with_noise = np.c_[codes, _noise(N_MIG, 1, 5)]
    # The noise dim's estimated MI (≈ 0.004·H, bias only) can replace a smaller second-largest entry.
    assert mig(with_noise, factors).score == pytest.approx(mig(codes, factors).score, abs=0.01)
    # Where the second-largest entry is a real one, far above that bias, MIG does not move at all.
    shared = np.c_[codes, factors[:, 0] + 0.5 * _noise(N_MIG, 1, 6)[:, 0]]
    assert mig(np.c_[shared, _noise(N_MIG, 1, 5)], factors).factor_gaps[0] == mig(shared, factors).factor_gaps[0]


def test_mig_does_not_see_one_dim_holding_two_factors():
    # MIG's known blind spot (SAP and DCI's D are not blind to it): it asks, per factor, whether one dim
    # stands out, not whether that dim serves only this factor. z0 = v0 + 4·v1 takes 16 values in 16 of
    # the 20 bins, so it holds all of H(v0) and all of H(v1).
    factors = _factors(N_MIG, 2, 0)
    entangled = np.c_[factors[:, 0] + LEVELS * factors[:, 1], _noise(N_MIG, 1, 1)]
    assert mig(entangled, factors).score == pytest.approx(1.0, abs=0.01)


def test_mig_bins_a_continuous_factor():
    v = np.random.default_rng(0).uniform(size=(N_MIG, 1))
    result = mig(np.c_[2 * v + 1, _noise(N_MIG, 1, 1)], v, continuous=True)
    assert result.score == pytest.approx(1.0, abs=0.02)


# --- SAP ---


def test_sap_of_a_monotone_copy_of_each_factor_is_one_minus_chance_or_one_adjusted():
    plain = _sap(lambda f, s: _monotone(f))
    adjusted = _sap(lambda f, s: _monotone(f), chance_adjusted=True)
    matrix = np.array(plain.score_matrix)
    assert np.diag(matrix) == pytest.approx([1.0] * 3)
    # disentanglement_lib's plain accuracy: the second-best dim guesses a balanced binary factor at ≈ 0.5.
    assert plain.score == pytest.approx(0.5, abs=0.05)
    # Chance-adjusted: second best ≈ 0 up to sampling noise of 1000 test codes (sd of balanced accuracy ≈ 0.016).
    assert adjusted.score == pytest.approx(1.0, abs=0.05)


def test_sap_of_random_codes_is_near_zero():
    for adjusted in (False, True):
        result = _sap(lambda f, s: _noise(len(f), 5, s), chance_adjusted=adjusted)
        assert result.score == pytest.approx(0.0, abs=0.05)


def test_sap_of_a_dim_holding_two_factors_is_lower():
    disentangled = _sap(lambda f, s: f + 0.0, chance_adjusted=True)
    # z0 = v0 + 2·v1 carries both factors, but one threshold on it reads only v1: v0 is its parity.
    entangled = _sap(lambda f, s: np.c_[f[:, 0] + 2.0 * f[:, 1], f[:, 2], _noise(len(f), 1, s)], chance_adjusted=True)
    assert entangled.score < disentangled.score - 0.2
    assert entangled.factor_gaps[0] < 0.1


def test_sap_is_unchanged_by_permuting_code_dims():
    def codes(f, s):
        return np.c_[_monotone(f), f[:, :1] + 0.7 * _noise(len(f), 1, s)]

    base = _sap(codes)
    permuted = _sap(lambda f, s: codes(f, s)[:, [3, 1, 0, 2]])
    assert permuted.score == base.score
    assert permuted.score_matrix == np.array(base.score_matrix)[[3, 1, 0, 2]].tolist()


def test_sap_of_a_continuous_factor_is_squared_correlation():
    rng = np.random.default_rng(0)
    v = rng.uniform(size=(N_TRAIN, 1))
    codes = np.c_[3 * v - 1, v + rng.normal(scale=0.3, size=v.shape), rng.normal(size=v.shape)]
    matrix = sap_score_matrix(codes, v, codes[:10], v[:10], continuous=True)
    assert matrix[0, 0] == pytest.approx(1.0)
    expected = np.corrcoef(codes[:, 1], v[:, 0])[0, 1] ** 2
    assert matrix[1, 0] == pytest.approx(expected)
    assert matrix[2, 0] < 0.01


def test_a_constant_factor_is_left_out_of_the_mean():
    factors = _factors(N_MIG, 2, 0)
    factors[:, 1] = 3
    result = mig(_monotone(factors), factors)
    assert result.factor_gaps[1] == 0.0
    assert result.score == pytest.approx(result.factor_gaps[0])
    train_f, test_f = _factors(N_TRAIN, 2, 1, SAP_LEVELS), _factors(N_TEST, 2, 2, SAP_LEVELS)
    train_f[:, 1], test_f[:, 1] = 0, 0
    result_sap = sap(train_f + 0.0, train_f, test_f + 0.0, test_f)
    assert result_sap.factor_gaps[1] == 0.0
    assert result_sap.score == pytest.approx(result_sap.factor_gaps[0])


# --- input checks ---


@pytest.mark.parametrize(
    ("codes", "factors", "match"),
    [
        (np.zeros(10), np.zeros((10, 1), int), "codes must be a 2-D"),
        (np.zeros((10, 1)), np.zeros((10, 1), int), "codes needs at least 2 code dims"),
        (np.full((10, 2), np.nan), np.zeros((10, 1), int), "codes contains NaN"),
        (np.zeros((10, 2)), np.zeros((9, 1), int), "factors has 9 rows but codes has 10"),
        (np.zeros((10, 2)), np.zeros((10, 1, 1), int), "factors must be a 1-D or 2-D"),
        (np.zeros((10, 2)), np.full((10, 1), 0.5), r"factors\[:, 0\] is not integer-valued"),
        (np.array([["a", "b"]] * 3), np.zeros(3, int), "codes must hold real numbers"),
    ],
)
def test_mig_rejects_bad_input_naming_the_argument(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        mig(codes, factors)


def test_sap_rejects_bad_input_naming_the_argument():
    codes, factors = np.zeros((10, 3)), np.zeros((10, 2), int)
    with pytest.raises(ValueError, match="train_codes have 3 dims but test_codes 2"):
        sap(codes, factors, codes[:, :2], factors)
    with pytest.raises(ValueError, match="test_factors has 5 rows but test_codes has 10"):
        sap(codes, factors, codes, factors[:5])
    with pytest.raises(ValueError, match="train_factors have 2 factors but test_factors 1"):
        sap(codes, factors, codes, factors[:, :1])
    with pytest.raises(ValueError, match="continuous must be a bool or 2 bools"):
        sap(codes, factors, codes, factors, continuous=[True])
    with pytest.raises(ValueError, match="train_codes must be a 2-D"):
        sap(codes[0], factors, codes, factors)
