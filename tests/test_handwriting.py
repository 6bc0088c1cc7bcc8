"""handwriting.py: scikit-learn's 8x8 digits become MNIST-style drawings, and the metric scores known cases exactly."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.preprocess import FIT_SIDE, preprocess_drawing
from latentcraft.evaluation import handwriting
from latentcraft.evaluation.handwriting import (
    ACCURACY,
    JUDGE_ACCURACY,
    coverage,
    handwriting_images,
    handwriting_metrics,
)
from latentcraft.evaluation.registry import PREDICTION, registered

N_DIGITS = 1797  # sklearn.datasets.load_digits


def _ink_box(image: torch.Tensor) -> tuple[int, int]:
    """(height, width) of the box around a (H, W) image's ink."""
    rows = image.gt(0).any(1).nonzero().flatten()
    cols = image.gt(0).any(0).nonzero().flatten()
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def test_images_are_the_1797_digits_in_mnist_format():
    images, labels = handwriting_images()
    assert images.shape == (N_DIGITS, IMAGE_PIXELS) and images.dtype == torch.float32
    assert labels.shape == (N_DIGITS,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    counts = torch.bincount(labels, minlength=NUM_CLASSES)
    assert len(counts) == NUM_CLASSES and counts.min() >= 170  # every digit, about 180 of each
    assert (images.amax(1) == 1.0).all()  # the preprocessing normalises each digit's peak


def test_every_digit_is_centred_by_mass_and_fits_the_20px_box():
    images = handwriting_images()[0].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)  # (N, 28, 28)
    position = torch.arange(IMAGE_SIDE, dtype=torch.float32)
    mass = images.sum((1, 2))
    com_y = (images.sum(2) * position).sum(1) / mass
    com_x = (images.sum(1) * position).sum(1) / mass
    centre = (IMAGE_SIDE - 1) / 2  # 13.5
    assert (com_y - centre).abs().max() <= 1.0 and (com_x - centre).abs().max() <= 1.0
    boxes = [_ink_box(image) for image in images]
    assert max(max(box) for box in boxes) <= FIT_SIDE
    assert all(max(box) == FIT_SIDE for box in boxes)  # the longer side is scaled to the box, none clipped


def test_images_are_deterministic_and_callers_get_copies():
    images, labels = handwriting_images()
    images[:] = 0.0  # a caller's change ...
    labels[:] = -1
    again, again_labels = handwriting_images()
    assert again.sum() > 0 and (again_labels >= 0).all()  # ... does not reach the cache
    handwriting._prepared.cache_clear()
    rebuilt, rebuilt_labels = handwriting_images()  # built afresh: bit for bit the same
    assert torch.equal(rebuilt, again) and torch.equal(rebuilt_labels, again_labels)


def test_the_images_are_the_digits_ink_coverage_through_the_drawing_preprocessing():
    grids = load_digits().images  # (1797, 8, 8), values 0..16
    images = handwriting_images()[0]
    for i in (0, 1, 1000, N_DIGITS - 1):
        assert torch.equal(images[i], torch.from_numpy(preprocess_drawing(coverage(grids[i]))).flatten())
    assert coverage(np.array([0.0, 8.0, 16.0])).tolist() == [0.0, 0.5, 1.0]


def test_the_preprocessing_upsamples_the_grid_as_blocks_like_nearest_x4_to_the_32px_bitmap():
    # What the module docstring promises: no separate upscaling is needed, because feeding the 8x8 grid
    # gives bit for bit what a nearest (box) upscale to the writer's 32x32 grid would give.
    grids = coverage(load_digits().images[:50])
    blocks = grids.repeat(4, axis=1).repeat(4, axis=2)  # (50, 32, 32)
    for grid, bitmap in zip(grids, blocks):
        assert np.array_equal(preprocess_drawing(grid), preprocess_drawing(bitmap))
    # Hence no ink where the writer's bitmap had none: a column of inked blocks stays one block wide.
    grid = np.zeros((8, 8))
    grid[2:6, 3] = 1.0  # a 1-wide bar of 4 blocks
    image = torch.from_numpy(preprocess_drawing(grid))
    assert _ink_box(image) == (FIT_SIDE, FIT_SIDE // 4) and image.max() == 1.0


def test_a_classifier_that_knows_the_labels_scores_1_and_a_constant_one_its_class_share():
    labels = handwriting_images()[1]
    oracle = lambda x: labels[: len(x)]  # noqa: E731 - images arrive in label order, all at once
    assert handwriting_metrics(oracle) == {ACCURACY: 1.0}
    shares = torch.bincount(labels, minlength=NUM_CLASSES).float() / len(labels)
    for digit in (0, 3, 8):
        constant = lambda x, d=digit: torch.full((len(x),), d)  # noqa: E731
        scores = handwriting_metrics(constant, judge_read=oracle)
        assert scores[ACCURACY] == pytest.approx(shares[digit].item())
        assert scores[ACCURACY] == pytest.approx(0.1, abs=0.005)
        assert scores[JUDGE_ACCURACY] == 1.0
    wrong = lambda x: (labels[: len(x)] + 1) % NUM_CLASSES  # noqa: E731
    assert handwriting_metrics(wrong, wrong) == {ACCURACY: 0.0, JUDGE_ACCURACY: 0.0}


def test_both_names_are_registered_accuracies():
    table = registered()
    for name in (ACCURACY, JUDGE_ACCURACY):
        assert table[name].higher_is_better is True and table[name].group == PREDICTION
        assert "8×8" in table[name].label
