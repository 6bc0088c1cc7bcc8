"""style.joint: the routed path keeps training beside the style path; how the gradient is split between them."""

import pytest
import torch

from latentcraft.config.run_config import Config
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES
from latentcraft.errors import ConfigError
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model
from latentcraft.techniques.style.technique import HEIGHT_MOMENTUM

STYLE = [10, 11]
JOINT = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 12, "relu_latent": True},
         "routing": {"enabled": True, "free": STYLE},
         "style": {"enabled": True, "dim": 2, "hidden_sizes": [16], "joint": True, "onehot_code": True}}


def _model(relu: bool = True, **style) -> LatentModel:
    torch.manual_seed(0)
    raw = {**JOINT, "model": {**JOINT["model"], "relu_latent": relu}, "style": {**JOINT["style"], **style}}
    return build_model(Config.from_dict(raw)).train()


def _batch():
    x = torch.rand(4, IMAGE_PIXELS, generator=torch.Generator().manual_seed(0))
    return x, torch.tensor([0, 3, 9, 5])


def _mu_grad(model: LatentModel, part: str) -> torch.Tensor:
    """d(part)/dμ for the batch, with the noise seeded so every call sees the same samples."""
    x, y = _batch()
    torch.manual_seed(1)
    out = model(x, y, epoch=0.5)
    out.mu.retain_grad()
    out.parts[part].backward()
    return out.mu.grad


def test_the_style_path_reaches_only_the_style_coordinates():
    grad = _mu_grad(_model(), "recon")  # the model's own decode: one-hot of the routed argmax + style sample
    assert torch.all(grad[:, :10] == 0)
    assert torch.all(grad[:, STYLE] != 0)


def test_the_routed_path_reaches_only_each_examples_own_digit_coordinate():
    # Style at 0; each label owns its coordinate (no ReLU to zero it).
    grad = _mu_grad(_model(relu=False), "recon_routed")
    allowed = torch.zeros(4, 12, dtype=torch.bool)
    allowed[[0, 1, 2, 3], [0, 3, 9, 5]] = True
    assert torch.all(grad[~allowed] == 0)
    assert torch.all(grad[allowed] != 0)


def test_the_routed_path_is_trained_only_while_training_and_only_from_start_epoch_on():
    x, y = _batch()
    model = _model(start_epoch=1)
    style = model.techniques["style"]
    model.start_epoch(0)
    early = model(x, y, epoch=0.5)
    assert "recon_routed" not in early.parts and torch.all(early.z[:, STYLE] == 0)  # phase 1 is routed10
    assert all(p.grad is None and not p.requires_grad for p in style.encoder.parameters())
    model.start_epoch(1)
    assert all(p.requires_grad for p in model.parameters())  # nothing is frozen once both paths run
    assert "recon_routed" in model(x, y, epoch=1.5).parts
    assert "recon_routed" not in model.eval()(x, y).parts


def test_the_digit_height_follows_a_running_mean_of_the_winning_routed_code():
    model = _model()
    style = model.techniques["style"]
    x, y = _batch()
    out = model(x, y, epoch=0.1)
    first = torch.relu(out.mu[:, :10]).max(1).values.mean()
    torch.testing.assert_close(style.digit_height, first.detach())
    out = model(x * 0.5, y, epoch=0.2)
    second = torch.relu(out.mu[:, :10]).max(1).values.mean()
    expected = HEIGHT_MOMENTUM * first + (1 - HEIGHT_MOMENTUM) * second
    torch.testing.assert_close(style.digit_height, expected.detach())
    assert model.categorical_blocks() == [(list(range(10)), NUM_CLASSES)]


def test_joint_needs_the_one_hot_code_and_the_style_encoder_coordinates():
    with pytest.raises(ConfigError, match=r"style.joint.*style.onehot_code = true"):
        Config.from_dict({**JOINT, "style": {**JOINT["style"], "onehot_code": False}})
    free = r"style.joint: .*routing.free must be exactly the style coordinates \[10, 11\], got \[11\]"
    with pytest.raises(ConfigError, match=free):
        Config.from_dict({**JOINT, "routing": {**JOINT["routing"], "free": [11]}})
    with pytest.raises(ConfigError, match=r"style.joint: reads the routed code's predictions; set routing.enabled"):
        Config.from_dict({**JOINT, "routing": {"enabled": False}})


def test_straight_through_lets_the_style_path_train_the_routed_scores_without_reading_a_label():
    grad = _mu_grad(_model(relu=False, straight_through=True), "recon")
    assert torch.all(grad[:, STYLE] != 0)
    assert (grad[:, :10] != 0).sum(1).min() >= 2  # every routed coordinate's score, not only the label's
    x, _ = _batch()
    for labels in (torch.tensor([1, 1, 1, 1]), torch.tensor([9, 8, 7, 6])):  # the style path reads no label
        model = _model(relu=False, straight_through=True)
        torch.manual_seed(1)
        out = model(x, labels, epoch=0.5)
        out.mu.retain_grad()
        out.parts["recon"].backward()
        torch.testing.assert_close(out.mu.grad, grad, rtol=0, atol=0)
    torch.manual_seed(1)
    model = _model(relu=False, straight_through=True).eval()
    torch.testing.assert_close(model(x).logits, _model(relu=False).eval()(x).logits)  # the forward is the one-hot's
    # ... in training too, where the style path decodes the one-hot of the routed argmax (digit height set).
    trained = []
    for straight in (True, False):
        model = _model(relu=False, straight_through=straight)
        torch.manual_seed(1)
        trained.append(model(x, labels, epoch=0.5).logits)
        assert model.techniques["style"].digit_height > 0
    torch.testing.assert_close(trained[0], trained[1], rtol=0, atol=0)
    with pytest.raises(ConfigError, match="style.straight_through"):
        Config.from_dict({**JOINT, "style": {**JOINT["style"], "joint": False, "start_epoch": 1,
                                             "straight_through": True}})
