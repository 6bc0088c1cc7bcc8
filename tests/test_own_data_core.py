"""The core of training on your own data: shapes and class counts reach the model, the run records them,
the likelihood fits the colour, and an epoch budget means the same on 1,500 images as on 60,000."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentcraft.config.run_config import Config, record_data, resolve_config
from latentcraft.data.batches import batch_indices
from latentcraft.data.formats.labelled_images import DatasetError
from latentcraft.data.shape import MNIST_SHAPE, ImageShape, image_shape
from latentcraft.data.source import load_config_data
from latentcraft.data.synthetic import colour_blobs, save_npz
from latentcraft.errors import ConfigError
from latentcraft.model.bodies import BODIES
from latentcraft.model.objective import calibrated_gaussian_nll
from latentcraft.techniques.registry import build_model
from latentcraft.training.trainer import passes_per_epoch, train

FOUR = tuple("abcd")


@pytest.mark.parametrize("body", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [ImageShape(8, 8, 1, FOUR), ImageShape(30, 20, 3, FOUR), ImageShape(64, 64, 1, FOUR)])
def test_bodies_read_and_write_images_of_the_data_shape(body, shape):
    encoder_cls, decoder_cls = BODIES[body]
    encoder = encoder_cls([16], [4, 8], shape)
    decoder = decoder_cls(5, [16], [4, 8], shape)
    x = torch.rand(3, shape.features)
    assert encoder(x).shape == (3, 16)
    assert decoder(torch.randn(3, 5)).shape == (3, shape.features)


def test_mnist_bodies_keep_their_parameter_shapes():
    """An MNIST run's weights must load into the same modules as before the shape became a parameter."""
    encoder_cls, decoder_cls = BODIES["conv"]
    shapes = {k: tuple(v.shape) for k, v in decoder_cls(10, [64], [32, 64], MNIST_SHAPE).state_dict().items()}
    assert shapes["head.2.weight"] == (64 * 7 * 7, 64)
    assert shapes["deconv.2.weight"] == (32, 1, 4, 4)
    assert tuple(encoder_cls([64], [32, 64], MNIST_SHAPE).head[0].weight.shape) == (64, 64 * 7 * 7)


def test_recording_fits_a_ten_class_preset_to_four_colour_classes():
    config = record_data(resolve_config("routed-style"), ImageShape(32, 32, 3, FOUR))
    assert config.data.image_shape == [32, 32, 3] and config.data.class_names == list(FOUR)
    assert config.model.latent_dim == 4 + 10  # one routed coordinate per class, the 10 style coordinates kept
    assert config.routing.free == list(range(4, 14))
    assert config.objective.reconstruction == "calibrated"  # "auto" on colour
    model = build_model(config)
    assert model.techniques["routing"].routes == [[k] for k in range(4)]
    assert model.decode(torch.zeros(2, 14)).shape == (2, 3 * 32 * 32)


def test_recording_leaves_an_mnist_run_as_it_was():
    before = resolve_config("routed10")
    config = record_data(before, MNIST_SHAPE)
    assert config.model.latent_dim == 10 and config.objective.reconstruction == "bce"
    assert config.data.image_shape == [28, 28, 1]
    assert record_data(config, ImageShape(8, 8, 1, FOUR)) is config  # recorded once, never refitted


def test_explicit_routes_that_do_not_fit_the_class_count_are_refused():
    config = resolve_config(overrides=["routing.enabled=true", "routing.routes=[[0],[1],[2]]", "model.latent_dim=3",
                                       "data.path=/nowhere/yet"])  # the class count is known when data is read
    with pytest.raises(ConfigError, match=r"routing.routes: needs one entry per class \(4\), got 3"):
        record_data(config, ImageShape(8, 8, 1, FOUR))


def test_recorded_shapes_and_class_names_are_checked():
    with pytest.raises(ConfigError, match="data.image_shape"):
        resolve_config(overrides=["data.image_shape=[28, 28, 2]"])
    with pytest.raises(ConfigError, match="data.class_names"):
        resolve_config(overrides=['data.class_names=["a"]'])
    with pytest.raises(ConfigError, match="data.test_fraction"):
        resolve_config(overrides=["data.test_fraction=1"])


def test_an_epoch_of_a_small_dataset_passes_over_it_until_it_holds_epoch_images():
    config = resolve_config("routed10")
    assert passes_per_epoch(config, 60_000) == 1
    assert passes_per_epoch(config, 1_500) == 40
    assert passes_per_epoch(config, 100_000) == 1
    limited = resolve_config("routed10", overrides=["data.train_limit=1500"])
    assert passes_per_epoch(limited, 1_500) == 1  # a limited run is a quick look: passes as asked


def test_one_pass_draws_the_same_order_as_a_plain_shuffle():
    plain = torch.randperm(1000, generator=torch.Generator().manual_seed(3)).split(128)
    ours = batch_indices(1000, 128, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(plain, ours))
    doubled = torch.cat(batch_indices(1000, 128, torch.Generator().manual_seed(3), passes=2))
    assert len(doubled) == 2000 and torch.equal(doubled[:1000].sort().values, torch.arange(1000))


def test_calibrated_likelihood_is_the_gaussian_density_at_the_batch_rms_error():
    x = torch.rand(4, 12)
    logits = torch.randn(4, 12)
    mean = torch.sigmoid(logits)
    variance = (mean - x).pow(2).mean()
    expected = -torch.distributions.Normal(mean, variance.sqrt()).log_prob(x).sum(1)
    torch.testing.assert_close(calibrated_gaussian_nll(logits, x), expected)
    perfect = calibrated_gaussian_nll(torch.logit(x.clamp(0.01, 0.99)), x.clamp(0.01, 0.99))
    assert torch.isfinite(perfect).all()  # σ stops shrinking at MIN_CALIBRATED_SIGMA


@pytest.fixture(scope="module")
def blobs_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    save_npz(path, colour_blobs(240, 32, 4, seed=0), colour_blobs(80, 32, 4, seed=1))
    return path


def test_a_run_on_colour_data_records_its_shape_and_reads_its_data_back(blobs_npz, tmp_path):
    config = resolve_config("routed10", overrides=[
        f"data.path={blobs_npz}", "train.epochs=1", "model.encoder_hidden=[32]", "model.decoder_hidden=[32]",
        "train.threads=1", "train.epoch_images=480"])
    summary = train(config, tmp_path / "run", progress=False)
    saved = Config.load(tmp_path / "run" / "config.json")
    assert saved.data.image_shape == [32, 32, 3] and len(saved.data.class_names) == 4
    assert saved.model.latent_dim == 4 and saved.objective.reconstruction == "calibrated"
    assert math.isfinite(summary["final"]["test_elbo"]) and 0 <= summary["final"]["test_argmax_accuracy"] <= 1
    test = load_config_data(saved, "test")
    assert test.shape == image_shape(saved) and test.floats().shape == (80, 3 * 32 * 32)
    assert test.factors is not None and test.factors.shape == (80, 5)


def test_data_that_no_longer_matches_a_run_is_refused(blobs_npz, tmp_path):
    config = record_data(resolve_config(overrides=[f"data.path={blobs_npz}"]), ImageShape(28, 28, 3, FOUR))
    with pytest.raises(DatasetError, match="this run was trained on 28×28 RGB"):
        load_config_data(config, "test")


def test_generated_datasets_carry_their_factors():
    config = resolve_config(overrides=["data.dataset=shapes", "data.test_limit=50"])
    test = load_config_data(config, "test")
    assert test.shape.chw == (1, 64, 64) and test.shape.class_names == ("square", "ellipse", "triangle", "heart")
    assert len(test) == 50 and test.factors is not None and test.factor_names[0] == "shape"
    assert np.array_equal(test.factors[:, 0].long().numpy(), test.labels.numpy())
