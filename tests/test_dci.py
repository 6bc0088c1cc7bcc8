"""dci.py: Eastwood & Williams DCI on synthetic codes with known answers, and the experiments.md §2 shortcut."""

import numpy as np
import pytest

from latentcraft.evaluation.dci import dci, dci_from_importance, dci_shortcut, one_vs_rest, shortcut_from_importance

N_TRAIN, N_TEST = 600, 300
LEVELS = 4  # values per synthetic factor


def _factors(n: int, count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, LEVELS, size=(n, count))  # (n, count)


def _noise(shape, seed: int, scale: float = 0.05) -> np.ndarray:
    return scale * np.random.default_rng(seed).normal(size=shape)


def _run(make_codes, count: int):
    train_f, test_f = _factors(N_TRAIN, count, 1), _factors(N_TEST, count, 2)
    return dci(make_codes(train_f, 3), train_f, make_codes(test_f, 4), test_f, progress=False)


def test_importance_formula_on_hand_computed_matrices():
    assert dci_from_importance(np.eye(3))[:2] == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((3, 3)))[:2] == pytest.approx((0.0, 0.0), abs=1e-12)
    # Row 0 serves factor 0 only (D_0 = 1); row 1 splits evenly (D_1 = 0); ρ = (1/3, 2/3) -> D = 1/3.
    # Column 0 splits evenly over two codes (C_0 = 0); column 1 uses code 1 only (C_1 = 1); w = (2/3, 1/3) -> C = 1/3.
    d, c, code_d, factor_c = dci_from_importance(np.array([[1.0, 0.0], [1.0, 1.0]]))
    assert (d, c) == pytest.approx((1 / 3, 1 / 3))
    assert code_d.tolist() == pytest.approx([1.0, 0.0])
    assert factor_c.tolist() == pytest.approx([0.0, 1.0])
    assert dci_from_importance(np.zeros((2, 2)))[:2] == (0.0, 0.0)


def test_codes_copying_the_factors_one_to_one_are_disentangled_and_complete():
    result = _run(lambda f, s: f + _noise(f.shape, s), count=3)
    assert result.disentanglement > 0.9
    assert result.completeness > 0.9
    assert result.informativeness > 0.95
    R = np.array(result.importance)
    assert (R.argmax(axis=0) == np.arange(3)).all()  # code j matters most for factor j


def test_codes_independent_of_the_factors_inform_at_chance():
    result = _run(lambda f, s: np.random.default_rng(s).normal(size=(len(f), 3)), count=3)
    chance = 1 / LEVELS
    assert result.informativeness < chance + 0.1
    assert np.mean(result.chance_accuracy) < chance + 0.1


def test_one_code_shared_by_two_factors_lowers_disentanglement():
    one_to_one = _run(lambda f, s: f[:, :2] + _noise((len(f), 2), s), count=2)
    # Code 0 holds both factors (a 16-level mixture); code 1 is noise.
    shared = _run(lambda f, s: np.stack([f[:, 0] + LEVELS * f[:, 1], _noise(len(f), s, 1.0)], 1), count=2)
    assert shared.disentanglement < 0.5
    assert shared.disentanglement < one_to_one.disentanglement - 0.4
    assert shared.informativeness > 0.95  # the information is all there, just entangled


def test_two_codes_per_factor_lower_completeness():
    one_to_one = _run(lambda f, s: f + _noise(f.shape, s), count=2)
    doubled = _run(lambda f, s: np.concatenate([f + _noise(f.shape, s), f + _noise(f.shape, s + 10)], 1), count=2)
    assert doubled.completeness < one_to_one.completeness - 0.2
    assert doubled.disentanglement > 0.8  # each code still serves one factor


def test_shortcut_formula_on_hand_computed_importances():
    assert shortcut_from_importance([0.5, 0.3, 0.2]) == pytest.approx((0.25 + 0.09 + 0.04, 0.5))
    assert shortcut_from_importance([5, 3, 2]) == pytest.approx((0.38, 0.5))  # normalised first
    assert shortcut_from_importance([0.25] * 4) == pytest.approx((0.25, 0.25))
    assert shortcut_from_importance([0, 0]) == (0.0, 0.0)


def test_shortcut_fits_and_scores_the_same_codes():
    labels = np.random.default_rng(0).integers(0, 3, 300)
    codes = np.stack([labels + _noise(300, 1), _noise(300, 2, 1.0), _noise(300, 3, 1.0)], 1)
    result = dci_shortcut(codes, labels)
    assert result["I"] > 0.99
    assert result["C"] > 0.9 and result["D"] > 0.8  # nearly all importance on code 0


def test_one_vs_rest():
    assert one_vs_rest(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_mismatched_shapes_are_an_error():
    with pytest.raises(ValueError, match="dims"):
        dci(np.zeros((4, 2)), np.zeros((4, 1)), np.zeros((4, 3)), np.zeros((4, 1)), progress=False)
