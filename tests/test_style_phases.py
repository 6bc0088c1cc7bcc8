"""The two-phase routed-style schedule: style coordinates off, then the routed encoder frozen; its config checks."""

import pytest
import torch
import torch.nn.functional as F

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from latentcraft.errors import ConfigError
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.trainer import load_data, train

ROUTES = [[k] for k in range(NUM_CLASSES)]
STYLE = [10, 11]
TINY = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 12},
        "routing": {"enabled": True, "free": STYLE},
        "style": {"enabled": True, "dim": 2, "hidden_sizes": [16], "start_epoch": 1}}
SLICE = ["data.train_limit=500", "data.test_limit=200", "train.batch_size=100", "train.eval_batch_size=200",
         "model.encoder_hidden=[48]", "model.decoder_hidden=[48]", "style.hidden_sizes=[16]",
         "train.threads=1", "style.start_epoch=2"]


def _tiny(raw: dict = TINY) -> LatentModel:
    torch.manual_seed(0)
    return build_model(Config.from_dict(raw)).train()


def _batch():
    x = torch.rand(4, IMAGE_PIXELS, generator=torch.Generator().manual_seed(0))
    return x, torch.tensor([0, 3, 9, UNLABELLED])


def _grads(modules) -> list[torch.Tensor | None]:
    return [p.grad for m in modules for p in m.parameters()]


def test_phase_one_routes_each_label_to_its_coordinate_and_feeds_the_style_coordinates_zero():
    model = _tiny()
    model.start_epoch(0)
    x, y = _batch()
    out = model(x, y, epoch=0.5)
    assert torch.all(out.z[:, STYLE] == 0)
    out.mu.retain_grad()
    out.parts["recon"].backward()  # the KL is not routed; reconstruction is
    allowed = torch.zeros(4, 12, dtype=torch.bool)
    allowed[[0, 1, 2], [0, 3, 9]] = True
    allowed[3, :10] = True  # routing.unlabelled = "all" routes every coordinate but the (switched off) style ones
    assert torch.all(out.mu.grad[~allowed] == 0)
    assert torch.all(out.mu.grad[allowed] != 0)


def test_phase_two_gives_the_routed_encoder_no_gradient_and_trains_the_style_encoder():
    model = _tiny()
    model.start_epoch(1)
    x, y = _batch()
    out = model(x, y, epoch=1.5)
    out.mu.retain_grad()
    out.loss.backward()
    assert all(g is None for g in _grads(model.content_encoder()))
    style = model.techniques["style"]
    assert all(g is not None and g.abs().sum() > 0 for g in _grads([style.encoder, style.mean_head]))
    assert torch.all(out.mu.grad[:, STYLE] != 0)
    model.start_epoch(0)  # the schedule is a function of the epoch: back in phase 1 all but the style encoder trains
    own = {id(p) for m in style.own_modules() for p in m.parameters()}
    assert all(p.requires_grad != (id(p) in own) for p in model.parameters())


def test_style_coordinates_skip_the_relu_and_come_from_their_own_encoder():
    model = _tiny({**TINY, "model": {**TINY["model"], "relu_latent": True}}).eval()
    x, _ = _batch()
    mu, _ = model.encode(x)
    style = model.techniques["style"]
    style_mu = style.mean_head(style.encoder(x)).float()
    torch.testing.assert_close(mu[:, STYLE], style_mu)
    code = torch.full((1, 12), -1.0)
    assert torch.equal(model.latent_activation(code), torch.tensor([[0.0] * 10 + [-1.0, -1.0]]))


def test_label_weight_adds_the_cross_entropy_of_the_routed_coordinates_for_labelled_examples_only():
    model = _tiny({**TINY, "routing": {**TINY["routing"], "label_weight": 2.0}})
    x, y = _batch()
    out = model(x, y, epoch=0.0)
    expected = 2.0 * F.cross_entropy(out.mu[:3, :10], y[:3])
    torch.testing.assert_close(out.parts["routed_ce"], expected)
    assert "routed_ce" not in _tiny()(x, y, epoch=0.0).parts  # routed-style itself puts no label in a loss


@pytest.fixture(scope="module")
def data(mnist_dir):
    return load_data(resolve_config("routed-style", overrides=SLICE))


@pytest.mark.parametrize("joint", [False, True])
def test_phase_two_and_resuming_at_the_boundary_matches_a_straight_run(tmp_path, data, joint):
    """Two-phase: the routed encoder is frozen from style.start_epoch on. Joint: it keeps training."""
    overrides = [*SLICE, f"style.joint={str(joint).lower()}"]
    config = resolve_config("routed-style", overrides=[*overrides, "train.epochs=3"])
    train(config, tmp_path / "straight", progress=False, data=data)
    train(resolve_config("routed-style", overrides=[*overrides, "train.epochs=2"]), tmp_path / "split",
          progress=False, data=data)
    after_phase_one = ckpt.load_model(tmp_path / "split").state_dict()
    train(config, tmp_path / "split", resume=True, progress=False, data=data)

    straight, resumed = ckpt.load_model(tmp_path / "straight"), ckpt.load_model(tmp_path / "split")
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
        if key.endswith("num_batches_tracked"):
            continue
        frozen = key.startswith(("encoder.", "mean_head.", "var_head.")) and not joint
        assert torch.equal(value, after_phase_one[key]) == frozen, key  # style encoder and decoder did train
    first = build_model(config)
    first.load_state_dict(after_phase_one)
    x, _ = data[1].batch(torch.arange(200), torch.device("cpu"))
    same = torch.equal(first.eval().encode(x)[0][:, :10], straight.eval().encode(x)[0][:, :10])
    assert same == (not joint)


@pytest.mark.parametrize("overrides, message", [
    (["routing.free=[10]"],
     r"style.start_epoch: the schedule trains the style encoder apart from the main one, so "
     r"routing.free must be exactly the style coordinates \[10, 11\], got \[10\]"),
    (["style.dim=0"], r"style.dim: must be at least 1 and below model.latent_dim \(12\), got 0"),
    (["style.dim=12"], r"style.dim: must be at least 1 and below model.latent_dim \(12\), got 12"),
    (["style.joint=false", "style.start_epoch=0"], r"style.onehot_code: needs a schedule \(style.start_epoch > 0"),
    (["routing.enabled=false"], "style.start_epoch: reads the routed code's predictions; set routing.enabled = true"),
    (["routing.label_weight=-1"], "routing.label_weight: must not be negative"),
])
def test_bad_two_phase_settings_name_the_field(overrides, message):
    base = {"model.latent_dim": "12", "style.dim": "2", "routing.free": "[10, 11]"}
    base.update(o.split("=", 1) for o in overrides)  # each key once: --set refuses a key given twice
    with pytest.raises(ConfigError, match=message):
        resolve_config("routed-style", overrides=[f"{k}={v}" for k, v in base.items()])


def test_frozen_mean_feeds_the_decoder_the_routed_mean_in_phase_two_only():
    model = _tiny({**TINY, "style": {**TINY["style"], "frozen_mean": True}})
    x, y = _batch()
    torch.manual_seed(1)
    second = model(x, y, epoch=1.5)
    torch.testing.assert_close(second.z[:, :10], second.mu[:, :10])  # no ReLU in TINY: z is the code itself
    assert not torch.allclose(second.z[:, STYLE], second.mu[:, STYLE])  # style coordinates are still sampled
    first = model(x, y, epoch=0.5)
    assert not torch.allclose(first.z[:, :10], first.mu[:, :10])


def test_style_beta_weights_the_style_coordinates_kl_and_reads_no_label():
    x, y = _batch()
    losses = {}
    for beta in (1.0, 3.0):
        model = _tiny({**TINY, "style": {**TINY["style"], "kl_weight": beta}})
        model.start_epoch(1)
        out = model(x, y, epoch=1.5)
        losses[beta] = out
    style_kl = 0.5 * (losses[1.0].logvar[:, STYLE].exp() + losses[1.0].mu[:, STYLE] ** 2 - 1
                      - losses[1.0].logvar[:, STYLE]).sum(1).mean()
    assert "style_kl" not in losses[1.0].parts
    assert torch.allclose(losses[3.0].parts["style_kl"], 2 * style_kl, rtol=1e-5)
    unlabelled = torch.full_like(y, UNLABELLED)
    again = _tiny({**TINY, "style": {**TINY["style"], "kl_weight": 3.0}})
    again.start_epoch(1)
    assert torch.allclose(again(x, unlabelled, epoch=1.5).parts["style_kl"], losses[3.0].parts["style_kl"])


def test_style_beta_must_not_be_negative():
    with pytest.raises(ConfigError, match="style.kl_weight: must not be negative"):
        Config.from_dict({**TINY, "style": {**TINY["style"], "kl_weight": -1}})


def test_a_schedule_without_a_style_encoder_is_refused():
    """Before the restructuring, model.style_dim = 0 with routing.style_epoch > 0 was refused naming
    routing.style_epoch; the same run folder (style_dim 0 now reads as style.enabled = false) must still be."""
    with pytest.raises(ConfigError, match="style.start_epoch"):
        resolve_config("routed-style", overrides=["model.latent_dim=12", "style.dim=2", "routing.free=[10, 11]",
                                                  "style.enabled=false"])
    with pytest.raises(ConfigError, match="style.start_epoch|routing.style_epoch"):
        Config.from_dict({"model": {"latent_dim": 12, "style_dim": 0},
                          "routing": {"enabled": True, "free": STYLE, "style_epoch": 2}})
