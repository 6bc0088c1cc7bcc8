"""routed-style's phase 2: the one-hot digit code and its ELBO accounting, and the semi-supervised options
(labels per class, labelled share, predicted routing)."""

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.data.batches import hide_labels, mix_in_labelled
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from latentcraft.data.mnist import load_split
from latentcraft.errors import ConfigError
from latentcraft.evaluation.metrics import evaluate_split, importance_log_likelihood
from latentcraft.explorer import export as explorer
from latentcraft.model.objective import gaussian_kl
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import load_model
from latentcraft.training.trainer import train

STYLE = [10, 11]
TINY = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 12, "relu_latent": True},
        "routing": {"enabled": True, "free": STYLE},
        "style": {"enabled": True, "dim": 2, "hidden_sizes": [16], "start_epoch": 1, "frozen_mean": True,
                  "onehot_code": True}}


def _tiny(raw: dict = TINY) -> LatentModel:
    torch.manual_seed(0)
    return build_model(Config.from_dict(raw)).train()


def _batch():
    x = torch.rand(4, IMAGE_PIXELS, generator=torch.Generator().manual_seed(0))
    return x, torch.tensor([0, 3, 9, UNLABELLED])


def test_the_decoder_reads_the_routed_code_as_it_is_until_phase_two_sets_the_digit_height():
    model = _tiny()
    style = model.techniques["style"]
    code = torch.tensor([[0.2, 1.5, 0.0, 0.3, 0, 0, 0, 0, 0, 0, -0.7, 0.4]])
    assert torch.equal(model.latent_activation(code), code)
    assert model.categorical_blocks() == []
    x, y = _batch()
    model(x, y, epoch=0.5)  # phase 1 leaves it unset
    assert style.digit_height == 0
    out = model(x, y, epoch=1.5)
    winners = torch.relu(out.mu[:, :10]).max(1).values
    torch.testing.assert_close(style.digit_height, winners.mean())
    height = style.digit_height.item()
    expected = torch.tensor([[0, height, 0, 0, 0, 0, 0, 0, 0, 0, -0.7, 0.4]])
    torch.testing.assert_close(model.latent_activation(code), expected)
    torch.testing.assert_close(out.z[:, :10].sum(1), torch.full((4,), height))  # training decodes the one-hot too
    assert model.categorical_blocks() == [(list(range(10)), NUM_CLASSES)]


def test_the_digit_height_is_saved_with_the_weights_so_a_loaded_model_decodes_alike():
    model = _tiny()
    x, y = _batch()
    model(x, y, epoch=1.5)
    again = build_model(model.config)
    again.load_state_dict(model.state_dict())
    assert "techniques.style.digit_height" in model.state_dict()
    assert again.techniques["style"].digit_height == model.techniques["style"].digit_height > 0


def test_the_elbo_counts_the_categorical_digit_as_log_10_nats_and_the_style_as_gaussian():
    model = _tiny()
    x, y = _batch()
    model(x, y, epoch=1.5)
    mu, logvar = torch.randn(3, 12), torch.randn(3, 12)
    expected = gaussian_kl(mu[:, STYLE], logvar[:, STYLE]) + math.log(10)
    torch.testing.assert_close(model.elbo_kl(mu, logvar), expected)


def test_importance_sampling_keeps_the_digit_at_the_argmax_and_charges_log_10(mnist_dir):
    model = _tiny().eval()
    data = load_split("mnist", "test", limit=50)
    before = importance_log_likelihood(model, data, samples=1)
    model.techniques["style"].digit_height.fill_(1.0)
    after = importance_log_likelihood(model, data, samples=1)
    # With a one-point q on the digit, the one-sample ELBO is the reconstruction at the one-hot code minus log 10
    # minus the style's Gaussian KL, estimated with one style sample: check it against that computation.
    x, _ = data.batch(slice(0, 50), torch.device("cpu"))
    mu, logvar = model.encode(x)
    generator = torch.Generator().manual_seed(0)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator)
    z[:, :10] = mu[:, :10]
    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
        model.decode(model.latent_activation(z)), x, reduction="none").sum(1)
    std = (0.5 * logvar[:, STYLE]).exp()
    s = z[:, STYLE]
    log_ratio = (-0.5 * s ** 2 + 0.5 * ((s - mu[:, STYLE]) / std) ** 2 + std.log()).sum(1)
    assert after["elbo"] == pytest.approx((log_px + log_ratio).mean().item() - math.log(10), rel=1e-4)
    assert after["elbo"] != before["elbo"]
    assert evaluate_split(model, data)["test_elbo"] == pytest.approx(
        -(evaluate_split(model, data)["test_recon_bce"] + model.elbo_kl(mu, logvar).mean().item()), rel=1e-5)


def test_phase_one_freezes_the_unused_style_encoder_and_phase_two_the_routed_one():
    model = _tiny()
    model.start_epoch(0)
    style = model.techniques["style"].own_modules()
    assert not any(p.requires_grad for m in style for p in m.parameters())
    assert all(p.requires_grad for m in model.content_encoder() for p in m.parameters())
    model.start_epoch(1)
    assert all(p.requires_grad for m in style for p in m.parameters())
    assert not any(p.requires_grad for m in model.content_encoder() for p in m.parameters())


def test_onehot_code_needs_the_two_phase_schedule():
    schedule = r"style.onehot_code: needs a schedule \(style.start_epoch > 0 or style.joint\)"
    with pytest.raises(ConfigError, match=schedule):
        Config.from_dict({**TINY, "style": {**TINY["style"], "start_epoch": 0}})


# ---- few labels ----------------------------------------------------------------------------------------------


def test_labels_per_class_keeps_exactly_that_many_of_each_class_seeded():
    labels = torch.arange(NUM_CLASSES).repeat(50)
    kept = hide_labels(labels, 1.0, seed=3, per_class=4)
    assert [(kept == k).sum().item() for k in range(NUM_CLASSES)] == [4] * NUM_CLASSES
    assert torch.equal(kept, hide_labels(labels, 1.0, seed=3, per_class=4))
    assert not torch.equal(kept, hide_labels(labels, 1.0, seed=4, per_class=4))
    with pytest.raises(ConfigError, match="data.labels_per_class"):
        resolve_config("routed10", overrides=["data.labels_per_class=10", "data.labelled_fraction=0.5"])


def test_a_labelled_share_of_every_batch_comes_from_the_labelled_examples():
    labels = torch.full((1000,), UNLABELLED)
    labels[:10] = torch.arange(10)
    batches = list(torch.randperm(1000, generator=torch.Generator().manual_seed(0)).split(100))
    mixed = mix_in_labelled(batches, labels, 0.5, torch.Generator().manual_seed(1))
    for before, after in zip(batches, mixed):
        assert len(after) == len(before)
        assert (labels[after] != UNLABELLED).sum() >= 50
        assert torch.equal(after[50:], before[50:])
    assert mix_in_labelled(batches, torch.arange(1000) % 10, 0.5, torch.Generator()) is batches  # all labelled


def test_predicted_routing_sends_an_unlabelled_example_to_the_digit_its_code_reads_as_after_epoch_one():
    model = _tiny({**TINY, "routing": {"enabled": True, "free": STYLE, "unlabelled": "predicted"},
                   "style": {"enabled": True, "dim": 2, "hidden_sizes": [16]}})
    routing = model.techniques["routing"]
    mu = torch.zeros(2, 12)
    mu[0, 4] = mu[1, 7] = 1.0
    y = torch.tensor([2, UNLABELLED])
    early, late = routing.mask(y, mu, 0.5), routing.mask(y, mu, 1.5)
    assert torch.equal(early[0], late[0]) and early[0, [2, 10, 11]].tolist() == [1, 1, 1] and early[0].sum() == 3
    assert early[1].sum() == 0  # before epoch 1: like "none"
    assert late[1, [7, 10, 11]].tolist() == [1, 1, 1] and late[1].sum() == 3


# ---- export ------------------------------------------------------------------------------------------------


def test_a_onehot_routed_style_model_exports_a_decoder_that_reads_the_argmax(mnist_dir, tmp_path):
    data = load_split("mnist", "train", limit=256), load_split("mnist", "test", limit=200)
    config = resolve_config("routed-style", overrides=[
        "train.epochs=2", "style.start_epoch=1", "train.threads=1", "data.train_limit=256", "data.test_limit=200",
        "model.encoder_hidden=[48]", "model.decoder_hidden=[48]", "style.hidden_sizes=[16]"])
    train(config, tmp_path / "run", progress=False, data=data)
    model = load_model(tmp_path / "run")
    height = model.techniques["style"].digit_height.item()
    assert height > 0
    explorer.export_site(tmp_path / "run", tmp_path / "site", max_digits=50)
    session = ort.InferenceSession(str(tmp_path / "site" / "decoder.onnx"), providers=["CPUExecutionProvider"])
    z = np.zeros((2, 20), np.float32)
    z[0, 3], z[0, 5] = 0.4, 2.5  # 5 wins: the decoder reads exactly height × e_5
    z[1, 5] = height
    z[:, 10:] = 0.3
    images = session.run(None, {session.get_inputs()[0].name: z})[0]
    np.testing.assert_allclose(images[0], images[1], atol=1e-6)


def test_predicted_margin_leaves_unsure_unlabelled_examples_unrouted():
    raw = {**TINY, "routing": {"enabled": True, "free": STYLE, "unlabelled": "predicted", "predicted_margin": 0.5},
           "style": {"enabled": True, "dim": 2, "hidden_sizes": [16]}}
    routing = _tiny(raw).techniques["routing"]
    mu = torch.zeros(2, 12)
    mu[0, 4], mu[0, 6] = 2.0, 0.9  # runner-up below half the top: routed to 4
    mu[1, 7], mu[1, 2] = 2.0, 1.5  # too close to call: not routed
    mask = routing.mask(torch.tensor([UNLABELLED, UNLABELLED]), mu, 1.5)
    assert mask[0, [4, 10, 11]].tolist() == [1, 1, 1] and mask[0].sum() == 3
    assert mask[1].sum() == 0
    with pytest.raises(ConfigError, match="routing.predicted_margin"):
        Config.from_dict({**raw, "routing": {**raw["routing"], "predicted_margin": 1.5}})
