"""Keeping digit identity out of the style codes: the moment and MMD penalties and the adversarial probe.

Each compares style codes across the digits the routed code predicts; none reads a label."""

import pytest
import torch

from latentcraft.config.run_config import Config
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from latentcraft.errors import ConfigError
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model
from latentcraft.techniques.style.independence import StyleAdversary, reverse_gradient, style_dependence, style_mmd
from latentcraft.training.checkpoint import load_model, save_model

STYLE = [10, 11]
TINY = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 12, "relu_latent": True},
        "routing": {"enabled": True, "free": STYLE},
        "style": {"enabled": True, "dim": 2, "hidden_sizes": [16], "start_epoch": 1, "frozen_mean": True,
                  "onehot_code": True, "adversary": 3.0}}


def _model(**style) -> LatentModel:
    torch.manual_seed(0)
    return build_model(Config.from_dict({**TINY, "style": {**TINY["style"], **style}})).train()


def _batch():
    x = torch.rand(6, IMAGE_PIXELS, generator=torch.Generator().manual_seed(0))
    return x, torch.tensor([0, 3, 9, 1, 1, UNLABELLED])


def test_reverse_gradient_is_the_identity_forward_and_minus_weight_times_the_gradient_backward():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = reverse_gradient(x, 2.5)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([1.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-2.5, -7.5]))


def test_the_adversary_trains_to_read_the_digit_while_the_style_gets_the_opposite_push():
    adversary = StyleAdversary(2, 10, weight=4.0)
    style = torch.randn(8, 2, requires_grad=True)
    digit = torch.arange(8) % 10
    adversary(style, digit).backward()
    reversed_grad = style.grad.clone()
    style.grad = None
    torch.nn.functional.cross_entropy(adversary.probe(style), digit).backward()
    torch.testing.assert_close(reversed_grad, -4.0 * style.grad)  # the encoder climbs what the probe descends
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adversary.parameters())


@pytest.mark.parametrize("term, key, weight", [("style_independence", "independence", 2.0), ("style_mmd", "mmd", 5.0),
                                               ("style_adversary", "adversary", 3.0)])
def test_each_identity_term_reads_the_routed_prediction_not_the_label(term, key, weight):
    model = _model(**{key: weight})
    model.start_epoch(1)
    x, y = _batch()
    torch.manual_seed(1)
    labelled = model(x, y, epoch=1.5).parts[term]
    torch.manual_seed(1)
    hidden = model(x, torch.full_like(y, UNLABELLED), epoch=1.5).parts[term]
    torch.testing.assert_close(labelled, hidden)
    if term == "style_independence":
        out = model(x, y, epoch=1.5)
        expected = weight * style_dependence(out.mu[:, STYLE], out.mu[:, :10].argmax(1), NUM_CLASSES)
        torch.testing.assert_close(out.parts[term], expected)


def test_phase_one_freezes_the_adversary_with_the_style_encoder_and_phase_two_trains_it_not_the_routed_encoder():
    model = _model()
    style = model.techniques["style"]
    adversary = style.adversary
    x, y = _batch()
    model.start_epoch(0)
    model(x, y, epoch=0.5).loss.backward()
    assert all(p.grad is None for p in adversary.parameters())
    model.zero_grad(set_to_none=True)
    model.start_epoch(1)
    out = model(x, y, epoch=1.5)
    out.parts["style_adversary"].backward()
    assert all(p.grad is None for p in model.content_encoder()[0].parameters())  # the routed code stays frozen
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in style.encoder.parameters())
    assert all(p.grad is not None for p in adversary.parameters())


def test_the_adversary_is_saved_with_the_weights_and_refuses_a_negative_weight(tmp_path):
    model = _model()
    assert any(k.startswith("techniques.style.adversary.") for k in model.state_dict())
    assert model.techniques["style"].adversary in model.techniques["style"].own_modules()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    for key, value in model.state_dict().items():
        if key.startswith("techniques.style.adversary."):
            assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(ConfigError, match="style.adversary: must not be negative"):
        Config.from_dict({**TINY, "style": {**TINY["style"], "adversary": -1.0}})


# ---- the moment and kernel MMD penalties ----------------------------------------------------------------------


def test_style_dependence_is_zero_when_every_digit_has_the_same_style_statistics():
    style = torch.tensor([[1.0, 0.0], [-1.0, 2.0]]).repeat(3, 1)  # each digit below gets one of each row
    digit = torch.tensor([0, 0, 1, 1, 2, 2])
    assert style_dependence(style, digit, NUM_CLASSES).item() == pytest.approx(0.0, abs=1e-6)


def test_style_dependence_measures_how_far_each_digit_mean_and_spread_sit_from_the_whole_batch():
    style = torch.tensor([[0.0], [0.0], [2.0], [2.0]])  # digit 0 all at 0, digit 1 all at 2
    digit = torch.tensor([0, 0, 1, 1])
    overall_std = style.std(0, correction=0).item()  # the batch's own spread (1); each digit's is 0
    expected = 0.5 * (1.0 + overall_std ** 2) * 2  # two digits, each half the batch: mean gap 1, spread gap
    # rel: spreads are floored at 1e-3
    assert style_dependence(style, digit, NUM_CLASSES).item() == pytest.approx(expected, rel=2e-3)
    single = torch.tensor([0, 0, 1, 2])  # digits 1 and 2 have one example each: not counted
    assert style_dependence(style, single, NUM_CLASSES).item() == pytest.approx(0.5 * (1.0 + overall_std ** 2),
                                                                               rel=2e-3)




def test_style_mmd_is_zero_when_every_digit_holds_the_same_codes_and_grows_as_one_digit_moves_away():
    rows = torch.tensor([[1.0, 0.0], [-1.0, 2.0], [0.5, -0.5]])
    style = rows.repeat(3, 1)  # digits 0, 1, 2 below each get the same three codes
    digit = torch.tensor([0, 1, 2]).repeat_interleave(3)
    assert style_mmd(style, digit, 10).item() == pytest.approx(0.0, abs=1e-6)
    gaps = []
    for offset in (0.5, 2.0, 8.0):
        moved = style.clone()
        moved[digit == 2] += offset
        gaps.append(style_mmd(moved, digit, 10).item())
    assert 0 < gaps[0] < gaps[1] < gaps[2]


def test_style_mmd_sees_what_mean_and_spread_miss():
    """Two groups with equal mean and spread but different shapes: the moment penalty is blind, the MMD is not."""
    bimodal = torch.tensor([[-1.0], [1.0]]).repeat(8, 1)  # mean 0, std 1
    uniform = torch.linspace(-1, 1, 16).unsqueeze(1)
    uniform = (uniform - uniform.mean()) / uniform.std(correction=0)  # mean 0, std 1
    style = torch.cat([bimodal, uniform])
    digit = torch.tensor([0] * 16 + [1] * 16)
    assert style_dependence(style, digit, 10).item() == pytest.approx(0.0, abs=1e-5)
    assert style_mmd(style, digit, 10).item() > 0.01


def test_style_mmd_under_bf16_autocast_is_the_float32_value():
    """Training autocasts to bf16; the MMD's small differences of kernel means must not become rounding noise."""
    g = torch.Generator().manual_seed(0)
    style, digit = torch.randn(128, 10, generator=g), torch.randint(0, 10, (128,), generator=g)
    exact = style_mmd(style, digit, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = style_mmd(style, digit, 10)
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, exact)
