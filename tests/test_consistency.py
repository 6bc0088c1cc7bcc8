"""Two views of a batch: the clean view's confident routed argmax picks an unlabelled example's routing mask and
sets the consistency target of the augmented view; neither reads a label (checked with autograd)."""

import pytest
import torch

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, UNLABELLED
from latentcraft.data.mnist import load_split
from latentcraft.errors import ConfigError
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model
from latentcraft.training.trainer import train

FREE = [10, 11]
RAW = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 12, "relu_latent": True},
       "routing": {"enabled": True, "free": FREE, "unlabelled": "predicted", "predicted_from": 0.0,
                   "consistency": 1.0},
       "data": {"augment": True}}


def _tiny(raw: dict = RAW) -> LatentModel:
    torch.manual_seed(0)
    return build_model(Config.from_dict(raw)).train()


def _views() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(6, IMAGE_PIXELS, generator=generator)
    return clean, (clean + 0.3 * torch.rand(6, IMAGE_PIXELS, generator=generator)).clamp(0, 1)


def _consistency_gradients(model: LatentModel, y: torch.Tensor) -> list[torch.Tensor]:
    clean, augmented = _views()
    out = model(augmented, y, epoch=1.0, clean=clean)
    return _gradients(model, out.parts["consistency"])


def _gradients(model: LatentModel, loss: torch.Tensor) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def test_the_consistency_term_and_its_gradient_read_no_label():
    model = _tiny()
    labelled = _consistency_gradients(model, torch.tensor([0, 3, 9, 5, 1, 2]))
    relabelled = _consistency_gradients(model, torch.tensor([7, 7, 7, 7, 7, 7]))
    hidden = _consistency_gradients(model, torch.full((6,), UNLABELLED))
    assert any(g.abs().sum() > 0 for g in labelled)  # the term trains the encoder
    for a, b, c in zip(labelled, relabelled, hidden):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c, rtol=0, atol=0)


def test_the_consistency_target_is_the_clean_views_confident_argmax():
    routing = _tiny({**RAW, "routing": {**RAW["routing"], "predicted_margin": 0.5}}).techniques["routing"]
    guide = torch.zeros(2, 12)
    guide[0, 7], guide[0, 2] = 2.0, 0.5  # confident: 7
    guide[1, 4], guide[1, 6] = 2.0, 1.8  # too close to call: no target
    mu = torch.zeros(2, 12, requires_grad=True)
    routing.consistency(mu, guide).backward()
    assert mu.grad is not None
    assert mu.grad[0, 7] < 0 and (mu.grad[0, :10].argmin() == 7)  # the clean view's class is pushed up
    assert mu.grad[0, FREE].abs().sum() == 0  # free coordinates take no part
    assert mu.grad[1].abs().sum() == 0  # an unsure clean view sets no target


def test_an_unlabelled_examples_mask_comes_from_its_clean_view_and_a_labelled_ones_from_its_label():
    routing = _tiny().techniques["routing"]
    mu, guide = torch.zeros(3, 12), torch.zeros(3, 12)
    mu[:, 4] = 2.0  # the augmented view reads 4 ...
    guide[:, 7] = 2.0  # ... its clean view 7
    z = torch.randn(3, 12, requires_grad=True)
    y = torch.tensor([UNLABELLED, 2, UNLABELLED])
    routing.routed_code(z, y, mu, 1.0, guide).sum().backward()
    assert z.grad is not None
    trained = (z.grad != 0).int()
    assert trained[0].nonzero().squeeze(1).tolist() == [7, *FREE]
    assert trained[1].nonzero().squeeze(1).tolist() == [2, *FREE]
    assert torch.equal(trained[0], trained[2])  # the same for every unlabelled example, whatever else is labelled


def test_the_model_encodes_the_clean_view_without_gradient_only_in_training():
    model = _tiny()
    clean, augmented = _views()
    out = model(augmented, torch.full((6,), UNLABELLED), epoch=1.0, clean=clean)
    assert out.guide is not None and not out.guide.requires_grad
    torch.testing.assert_close(out.guide, model.encode(clean)[0].detach())
    assert model.eval()(augmented, clean=clean).guide is None
    assert model.views_read() == {"guide", "view_mu"}
    predicted = {"enabled": True, "free": FREE, "unlabelled": "predicted"}
    assert _tiny({**RAW, "routing": predicted}).views_read() == {"guide"}  # a mask from the clean view only
    assert not _tiny({**RAW, "routing": {"enabled": True, "free": FREE}}).views_read()


def test_consistency_without_augmentation_is_refused():
    with pytest.raises(ConfigError, match=r"routing.consistency: .*data.augment = true"):
        Config.from_dict({**RAW, "data": {"augment": False}})
    with pytest.raises(ConfigError, match="routing.consistency"):
        Config.from_dict({**RAW, "routing": {**RAW["routing"], "consistency": -1.0}})


def test_training_with_two_views_logs_the_consistency_term(mnist_dir, tmp_path):
    data = load_split("mnist", "train", limit=256), load_split("mnist", "test", limit=100)
    config = resolve_config("routed10", overrides=[
        "train.epochs=2", "train.threads=1", "data.train_limit=256", "data.test_limit=100", "data.augment=true",
        "routing.consistency=1", "routing.predicted_from=1", "model.encoder_hidden=[48]", "model.decoder_hidden=[48]"])
    summary = train(config, tmp_path / "run", progress=False, data=data)
    history = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert '"train_consistency"' not in history[0]  # epoch 1: before routing.predicted_from
    assert '"train_consistency"' in history[1]
    assert summary["final"]["test_argmax_accuracy"] >= 0


def test_reconstructing_the_clean_batch_the_augmented_view_trains_only_through_the_consistency_term():
    model = _tiny()
    clean, augmented = _views()
    y = torch.full((6,), UNLABELLED)
    torch.manual_seed(1)
    out = model(clean, y, epoch=1.0, augmented=augmented)
    torch.testing.assert_close(out.guide, out.mu.detach())  # the reconstructed clean view is the guide
    torch.testing.assert_close(out.view_mu, model.encode(augmented)[0])
    without_term = out.loss - out.parts["consistency"]
    # The ELBO of the clean batch does not see the augmented images: the same with another augmented view.
    torch.manual_seed(1)  # the same posterior samples
    other = model(clean, y, epoch=1.0, augmented=torch.zeros_like(augmented))
    torch.testing.assert_close(without_term, other.loss - other.parts["consistency"])
    assert any(g.abs().sum() > 0 for g in _gradients(model, out.parts["consistency"]))


def test_a_clean_reconstruction_with_nothing_to_compare_views_is_refused():
    raw = {**RAW, "routing": {"enabled": True, "free": FREE}, "data": {"augment": True,
                                                                     "reconstruct_augmented": False}}
    with pytest.raises(ConfigError, match="data.reconstruct_augmented: false"):
        Config.from_dict(raw)
    # Self-training alone reads only the clean view, which a clean reconstruction already is.
    with pytest.raises(ConfigError, match="data.reconstruct_augmented: false"):
        Config.from_dict({**raw, "routing": {"enabled": True, "free": FREE, "unlabelled": "predicted"}})
    Config.from_dict({**RAW, "data": {"augment": True, "reconstruct_augmented": False}})  # consistency reads it
