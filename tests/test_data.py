"""data.py: IDX parsing, locating and (faked) downloading, real MNIST splits, labels, batches, augmentation."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.data.batches import augment, batch_indices, hide_labels
from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, UNLABELLED
from latentcraft.data.datasets import DATASETS
from latentcraft.data.mnist import (
    DATA_DIR_ENV,
    DataError,
    fetch,
    load_split,
    locate,
    parse_idx,
    read_idx,
    verify,
    write_idx,
)
from latentcraft.data.source import load_config_data

# Label counts of the original MNIST files (shared/data/mnist/README.md).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IMAGE_FILES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
LABEL_FILES = ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")


# ---- IDX ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, size=(5, IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    path = tmp_path / "images"
    write_idx(path, images, compress=compress)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if compress else b"\x00\x00")
    np.testing.assert_array_equal(read_idx(path, ndim=3), images)


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes() + array.tobytes()


@pytest.mark.parametrize("raw, ndim, message", [
    (b"\x00\x00", 1, "too short"),
    (b"\x00\x00\x0d\x01" + b"\x00" * 8, 1, "wrong magic number"),  # 0x0d = float IDX
    (b"PK\x03\x04" + b"\x00" * 8, 1, "wrong magic number"),
    (_idx(np.zeros(4, np.uint8)), 3, "has 1 dimensions, expected 3"),
    (_idx(np.zeros((2, 3, 3), np.uint8))[:10], 3, "truncated inside the header"),
    (_idx(np.zeros((2, 3, 3), np.uint8))[:-1], 3, "truncated"),
    (_idx(np.zeros((2, 3, 3), np.uint8)) + b"\x00\x00", 3, "2 unexpected bytes"),
])
def test_malformed_idx_is_a_clear_error(raw, ndim, message):
    with pytest.raises(DataError, match=message):
        parse_idx(raw, "somefile", ndim)


def test_corrupt_gzip_names_the_file(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(_idx(np.zeros(100, np.uint8)))[:-12])
    with pytest.raises(DataError, match=f"{path}: corrupt gzip"):
        read_idx(path, ndim=1)


# ---- real MNIST --------------------------------------------------------------------------


def test_mnist_splits_are_the_original_files(mnist_dir):
    train, test = load_split("mnist", "train"), load_split("mnist", "test")
    assert train.images.shape == (60_000, IMAGE_SIDE, IMAGE_SIDE) and train.images.dtype == torch.uint8
    assert test.images.shape == (10_000, IMAGE_SIDE, IMAGE_SIDE) and test.labels.dtype == torch.int64
    assert torch.bincount(train.labels, minlength=NUM_CLASSES).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(test.labels, minlength=NUM_CLASSES).tolist() == MNIST_TEST_COUNTS
    verify("mnist", mnist_dir)


def test_floats_are_flat_and_scaled(mnist_dir):
    test = load_split("mnist", "test", limit=300)
    assert len(test) == 300 and test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    x = test.floats(torch.tensor([0, 5, 7]))
    assert x.shape == (3, IMAGE_PIXELS) and x.dtype == torch.float32
    assert x.min() == 0.0 and x.max() == 1.0
    torch.testing.assert_close(x[1], test.images[5].flatten().float() / 255)
    assert test.images.max() == 255  # scaling worked on a copy, not in place


def test_a_config_names_its_data(mnist_dir):
    config = resolve_config(overrides=["data.train_limit=120", "data.test_limit=40", "data.labelled_fraction=0.5"])
    # The limits are the config's unless given.
    train = load_config_data(config, "train", data_dir=mnist_dir)
    test = load_config_data(config, "test", data_dir=mnist_dir)
    assert len(train) == 120 and len(test) == 40
    assert (train.labels != UNLABELLED).all()  # hiding labels is the trainer's business
    assert torch.equal(test.images, load_split("mnist", "test", limit=40).images)
    assert len(load_config_data(config, "test", data_dir=mnist_dir, limit=0)) == 10_000


def test_locate_prefers_the_explicit_folder_and_accepts_a_dataset_subfolder(tmp_path, mnist_dir, monkeypatch):
    sub = tmp_path / "mnist"
    sub.mkdir()
    for name in (*IMAGE_FILES, *LABEL_FILES):
        (sub / f"{name}.gz").symlink_to(mnist_dir / f"{name}.gz")
    assert locate("mnist", tmp_path) == sub
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert locate("mnist") == sub


def test_missing_dataset_says_where_it_looked_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(DATASETS, "mnist", DATASETS["mnist"].__class__(
        files=DATASETS["mnist"].files, md5=DATASETS["mnist"].md5, mirrors=(), system_dirs=()))
    with pytest.raises(DataError) as err:
        locate("mnist")
    text = str(err.value)
    for folder in ("env", "cache"):
        assert str(tmp_path / folder) in text
    assert "--download" in text and DATA_DIR_ENV in text and "\n" not in text


def test_a_given_data_dir_is_the_only_place_looked_in(tmp_path, mnist_dir, monkeypatch):
    """A typo in --data-dir must not silently fall back to $LATENTCRAFT_DATA_DIR's copy."""
    monkeypatch.setenv(DATA_DIR_ENV, str(mnist_dir))
    with pytest.raises(DataError, match=r"data folder .*nonexistent \(--data-dir or data.data_dir\) does not exist"):
        locate("mnist", tmp_path / "nonexistent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=rf"mnist not found: .* in {empty}, {empty / 'mnist'}\."):
        locate("mnist", empty)
    with pytest.raises(DataError, match="unknown dataset"):
        locate("cifar10")


def test_mismatched_image_and_label_files_are_rejected(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, IMAGE_SIDE, IMAGE_SIDE), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, IMAGE_SIDE, IMAGE_SIDE), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([3, 11], np.uint8))
    with pytest.raises(DataError, match="3 images but .* 4 labels"):
        load_split("mnist", "train", tmp_path)
    with pytest.raises(DataError, match="label 11 is outside"):
        load_split("mnist", "test", tmp_path)


# ---- downloading, against a local file:// mirror (no network) ------------------------------


def _prefill_images(target: Path, mnist_dir: Path) -> None:
    """Put the big image files in place so fetch() only has the two small label files to get."""
    target.mkdir(parents=True, exist_ok=True)
    for name in IMAGE_FILES:
        (target / f"{name}.gz").symlink_to(mnist_dir / f"{name}.gz")


def test_fetch_falls_back_to_the_next_mirror_and_checks_md5(tmp_path, mnist_dir):
    target = tmp_path / "cache"
    _prefill_images(target, mnist_dir)
    dead, good = tmp_path / "dead-mirror", tmp_path / "mirror"
    dead.mkdir(), good.mkdir()
    for name in LABEL_FILES:
        shutil.copyfile(mnist_dir / f"{name}.gz", good / f"{name}.gz")
    fetch("mnist", target, mirrors=(dead.as_uri() + "/", good.as_uri() + "/"))
    verify("mnist", target)
    assert sorted(p.name for p in target.iterdir() if p.name.endswith(".part")) == []


def test_fetch_rejects_a_file_with_the_wrong_checksum_and_leaves_nothing(tmp_path, mnist_dir):
    target = tmp_path / "cache"
    _prefill_images(target, mnist_dir)
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in LABEL_FILES:
        (bad / f"{name}.gz").write_bytes(gzip.compress(_idx(np.zeros(10, np.uint8))))
    with pytest.raises(DataError, match="wrong checksum"):
        fetch("mnist", target, mirrors=(bad.as_uri() + "/",))
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{n}.gz" for n in IMAGE_FILES)


def test_verify_catches_a_tampered_file(tmp_path, mnist_dir):
    _prefill_images(tmp_path, mnist_dir)
    for name in LABEL_FILES:
        labels = read_idx(mnist_dir / f"{name}.gz", ndim=1).copy()
        labels[0] = (labels[0] + 1) % NUM_CLASSES
        write_idx(tmp_path / name, labels)
    with pytest.raises(DataError, match="wrong checksum"):
        verify("mnist", tmp_path)


# ---- labels, batches, augmentation ---------------------------------------------------------


def test_hide_labels_keeps_a_seeded_fraction():
    labels = torch.arange(20_000) % NUM_CLASSES
    kept = hide_labels(labels, 0.25, seed=3)
    visible = kept != UNLABELLED
    assert 0.23 < visible.float().mean().item() < 0.27
    assert torch.equal(kept[visible], labels[visible])  # kept labels are unchanged
    assert torch.equal(kept, hide_labels(labels, 0.25, seed=3))
    assert not torch.equal(kept, hide_labels(labels, 0.25, seed=4))
    assert hide_labels(labels, 1.0, seed=0) is labels
    assert (hide_labels(labels, 0.0, seed=0) == UNLABELLED).all()


def test_batch_indices_cover_the_epoch_once():
    batches = batch_indices(1000, 128, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [128] * 7 + [104]
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(1000))
    again = batch_indices(1000, 128, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_augment_without_shift_or_rotation_is_the_identity(mnist_dir):
    x = load_split("mnist", "test", limit=16).floats()
    out = augment(x, torch.Generator().manual_seed(0), max_shift=0.0, max_degrees=0.0)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-5)


def _centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    images = x.view(-1, IMAGE_SIDE, IMAGE_SIDE)
    grid = torch.arange(IMAGE_SIDE, dtype=x.dtype)
    mass = images.sum((1, 2))
    return torch.stack([(images.sum(1) * grid).sum(1) / mass, (images.sum(2) * grid).sum(1) / mass], 1)  # (B, 2) x, y


def test_augment_shifts_stay_within_the_limit(mnist_dir):
    x = load_split("mnist", "test", limit=64).floats()
    out = augment(x, torch.Generator().manual_seed(0), max_shift=2.0, max_degrees=0.0)
    moved = (_centre_of_mass(out) - _centre_of_mass(x)).abs()
    assert moved.max() <= 2.0 + 0.1
    assert moved.max() > 1.0  # it does move (64 draws from ±2 pixels)
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out.sum(1), x.sum(1), rtol=0.1, atol=0)  # digits stay inside the frame


def test_augment_is_seeded(mnist_dir):
    x = load_split("mnist", "test", limit=8).floats()
    a = augment(x, torch.Generator().manual_seed(5), 2.0, 10.0)
    b = augment(x, torch.Generator().manual_seed(5), 2.0, 10.0)
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_augment_stroke_thickens_or_thins_about_that_share_of_the_digits(mnist_dir):
    x = load_split("mnist", "test", limit=400).floats()
    out = augment(x, torch.Generator().manual_seed(0), max_shift=0.0, max_degrees=0.0, stroke=0.5)
    ratio = out.sum(1) / x.sum(1)  # (N,) ink kept
    thicker, thinner = (ratio > 1.2).float().mean().item(), (ratio < 0.8).float().mean().item()
    assert 0.18 < thicker < 0.32 and 0.18 < thinner < 0.32  # a quarter each
    assert ((ratio - 1).abs() < 0.01).float().mean().item() > 0.4  # the other half untouched
    assert out.min() >= 0 and out.max() <= 1
