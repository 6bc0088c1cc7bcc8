"""synthetic.py: shapes and colour_blobs arrays, their factors, determinism, and the .npz layout save_npz writes."""

import itertools

import numpy as np
import pytest

from latentcraft.data.synthetic import (
    BLOB_BACKGROUND,
    SyntheticSet,
    colour_blobs,
    render_blobs,
    render_shapes,
    save_npz,
    shapes,
)

N = 3000  # enough for a uniformity check on 16-valued factors (≈ 190 per value)


@pytest.fixture(scope="module")
def shape_set() -> SyntheticSet:
    return shapes(N, size=32, seed=0)


@pytest.fixture(scope="module")
def blob_set() -> SyntheticSet:
    return colour_blobs(N, size=32, classes=4, seed=0)


def _check_layout(data: SyntheticSet, n: int, size: int, channels: int) -> None:
    assert data.images.shape == (n, size, size, channels) and data.images.dtype == np.uint8
    assert data.labels.shape == (n,) and data.labels.dtype == np.int64
    assert data.factors.shape == (n, len(data.factor_names)) and data.factors.dtype == np.int64
    assert len(data.factor_sizes) == len(data.factor_names)
    assert data.factor_sizes[0] == len(data.class_names)


def _check_factors(data: SyntheticSet) -> None:
    """Each factor in its range, every value present, counts within 30% of uniform, label = factor 0."""
    np.testing.assert_array_equal(data.labels, data.factors[:, 0])
    for k, count in enumerate(data.factor_sizes):
        values = np.bincount(data.factors[:, k], minlength=count)
        assert data.factors[:, k].min() >= 0 and len(values) == count, data.factor_names[k]
        expected = len(data.factors) / count
        assert np.all(np.abs(values - expected) < 0.3 * expected), (data.factor_names[k], values)
    # Independent: no two factors correlate beyond sampling noise (|r| ≈ 1/√N ≈ 0.02).
    corr = np.corrcoef(data.factors.T.astype(float))
    assert np.abs(corr[~np.eye(len(corr), dtype=bool)]).max() < 0.08


def test_shapes_arrays_and_names(shape_set):
    _check_layout(shape_set, N, 32, 1)
    assert shape_set.factor_names == ("shape", "scale", "orientation", "x", "y")
    assert len(shape_set.class_names) >= 3
    assert set(np.unique(shape_set.images)) == {0, 255}  # binary: white shape on black
    assert (shape_set.images.reshape(N, -1) > 0).sum(axis=1).min() > 10  # every image shows a shape
    _check_layout(shapes(5, size=64, seed=0), 5, 64, 1)


def test_shapes_factors_are_in_range_uniform_and_independent(shape_set):
    _check_factors(shape_set)


def test_blobs_arrays_names_and_factors(blob_set):
    _check_layout(blob_set, N, 32, 3)
    assert blob_set.factor_names == ("shape", "colour", "scale", "x", "y")
    assert len(blob_set.class_names) == 4
    _check_factors(blob_set)
    np.testing.assert_array_equal(blob_set.images[:, 0, 0], np.tile(BLOB_BACKGROUND, (N, 1)))  # corners dark
    six = colour_blobs(50, classes=6, seed=1)
    assert len(six.class_names) == 6 and six.factor_sizes[0] == 6


def test_generators_are_deterministic_per_seed():
    for make in (shapes, colour_blobs):
        first, again, other = make(200, seed=3), make(200, seed=3), make(200, seed=4)
        np.testing.assert_array_equal(first.images, again.images)
        np.testing.assert_array_equal(first.factors, again.factors)
        assert not np.array_equal(first.factors, other.factors)


def _single_factor_changes(sizes: tuple[int, ...], seed: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of factor rows that differ by one step of exactly one factor, from random starting rows."""
    rng = np.random.default_rng(seed)
    pairs = []
    for k, size in enumerate(sizes):
        for _ in range(count):
            base = np.array([rng.integers(0, s) for s in sizes])
            step = base.copy()
            step[k] = (base[k] + 1) % size
            pairs.append((base, step))
    return pairs


@pytest.mark.parametrize("size", [32, 64])
def test_changing_any_one_shape_factor_changes_pixels(size):
    sizes = shapes(1).factor_sizes
    pairs = _single_factor_changes(sizes, seed=size, count=40)
    a = render_shapes(np.array([p[0] for p in pairs]), size)
    b = render_shapes(np.array([p[1] for p in pairs]), size)
    assert np.all(np.any(a != b, axis=(1, 2, 3)))
    # Stronger, for the factors without a moving part: all 4·6·8 (shape, scale, orientation) poses at
    # one position are distinct images, so orientation is well defined for every shape and scale.
    poses = np.array([(*pose, 7, 7) for pose in itertools.product(*map(range, sizes[:3]))])
    assert len(np.unique(render_shapes(poses, size).reshape(len(poses), -1), axis=0)) == len(poses)


def test_changing_any_one_blob_factor_changes_pixels():
    sizes = colour_blobs(1, classes=6).factor_sizes
    pairs = _single_factor_changes(sizes, seed=0, count=40)
    a = render_blobs(np.array([p[0] for p in pairs]), 32, classes=6)
    b = render_blobs(np.array([p[1] for p in pairs]), 32, classes=6)
    assert np.all(np.any(a != b, axis=(1, 2, 3)))


def test_render_matches_the_generator(shape_set, blob_set):
    np.testing.assert_array_equal(render_shapes(shape_set.factors[:20]), shape_set.images[:20])
    np.testing.assert_array_equal(render_blobs(blob_set.factors[:20]), blob_set.images[:20])


def test_save_npz_round_trips_without_pickle(tmp_path):
    train, test = shapes(40, seed=0), shapes(10, seed=1)
    path = tmp_path / "shapes32.npz"
    save_npz(path, train, test)
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"x_train", "y_train", "x_test", "y_test", "factors_train", "factors_test",
                                   "class_names", "factor_names"}
        np.testing.assert_array_equal(data["x_train"], train.images)
        np.testing.assert_array_equal(data["y_test"], test.labels)
        np.testing.assert_array_equal(data["factors_test"], test.factors)
        assert data["x_test"].dtype == np.uint8 and data["x_test"].shape == (10, 32, 32, 1)
        assert data["class_names"].dtype.kind == "U" and data["factor_names"].dtype.kind == "U"
        assert data["class_names"].tolist() == list(train.class_names)
        assert data["factor_names"].tolist() == list(train.factor_names)


def test_bad_arguments_raise_naming_them(tmp_path):
    with pytest.raises(ValueError, match="size must be one of"):
        shapes(5, size=28)
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        colour_blobs(-1)
    with pytest.raises(ValueError, match="classes must be an integer from 2 to 6"):
        colour_blobs(5, classes=10)
    with pytest.raises(ValueError, match="factors must have shape"):
        render_shapes(np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="factors must be integers"):
        render_blobs(np.full((1, 5), 9))
    with pytest.raises(ValueError, match="same generator settings"):
        save_npz(tmp_path / "x.npz", shapes(2), colour_blobs(2))
    assert shapes(0).images.shape == (0, 32, 32, 1)
