"""routing.joint: the routed path keeps training beside the style path; how the gradient is split between them."""

import pytest
import torch

from latentcraft.config.run_config import Config
from latentcraft.errors import ConfigError
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.routing import HEIGHT_MOMENTUM

STYLE = [10, 11]
JOINT = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "style_encoder_hidden": [16], "latent_dim": 12,
                   "style_dim": 2, "relu_latent": True},
         "routing": {"enabled": True, "free": STYLE, "joint": True, "onehot_code": True}}


def _model(relu: bool = True, **routing) -> LatentModel:
    torch.manual_seed(0)
    raw = {"model": {**JOINT["model"], "relu_latent": relu}, "routing": {**JOINT["routing"], **routing}}
    return LatentModel(Config.from_dict(raw)).train()


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
    grad = _mu_grad(_model(relu=False), "recon_routed")  # style at 0; each label owns its coordinate (no ReLU to zero it)
    allowed = torch.zeros(4, 12, dtype=torch.bool)
    allowed[[0, 1, 2, 3], [0, 3, 9, 5]] = True
    assert torch.all(grad[~allowed] == 0)
    assert torch.all(grad[allowed] != 0)


def test_the_routed_path_is_trained_only_while_training_and_only_from_style_epoch_on():
    x, y = _batch()
    model = _model(style_epoch=1)
    model.start_epoch(0)
    early = model(x, y, epoch=0.5)
    assert "recon_routed" not in early.parts and torch.all(early.z[:, STYLE] == 0)  # phase 1 is routed10
    assert all(p.grad is None and not p.requires_grad for p in model.style_encoder.parameters())
    model.start_epoch(1)
    assert all(p.requires_grad for p in model.parameters())  # nothing is frozen once both paths run
    assert "recon_routed" in model(x, y, epoch=1.5).parts
    assert "recon_routed" not in model.eval()(x, y).parts


def test_the_digit_height_follows_a_running_mean_of_the_winning_routed_code():
    model = _model()
    routing = model.techniques["routing"]
    x, y = _batch()
    out = model(x, y, epoch=0.1)
    first = torch.relu(out.mu[:, :10]).max(1).values.mean()
    torch.testing.assert_close(routing.digit_height, first.detach())
    out = model(x * 0.5, y, epoch=0.2)
    second = torch.relu(out.mu[:, :10]).max(1).values.mean()
    expected = HEIGHT_MOMENTUM * first + (1 - HEIGHT_MOMENTUM) * second
    torch.testing.assert_close(routing.digit_height, expected.detach())
    assert model.categorical_blocks() == [(list(range(10)), NUM_CLASSES)]


def test_joint_needs_the_one_hot_code_and_the_style_encoder_coordinates():
    with pytest.raises(ConfigError, match="routing.joint.*onehot_code"):
        Config.from_dict({**JOINT, "routing": {**JOINT["routing"], "onehot_code": False}})
    with pytest.raises(ConfigError, match="routing.joint.*routing.free"):
        Config.from_dict({**JOINT, "routing": {**JOINT["routing"], "free": [11]}})
