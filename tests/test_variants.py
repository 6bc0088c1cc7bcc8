"""Every technique combination through the one model: shapes, a training step, save -> load.

VARIANTS is the list of small configs the toolkit promises to combine (docs/experiments.md,
"Cross-cutting needs"); each test below runs on all of them.
"""

import pytest
import torch

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.config.sources import preset_names
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from latentcraft.data.mnist import load_split
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import load_model, save_model

SMALL = {"encoder_hidden": [32], "decoder_hidden": [32]}
SMALL_CONV = {"body": "conv", "encoder_hidden": [32], "decoder_hidden": [32], "conv_channels": [4, 8]}

VARIANTS = {
    "plain-vae": {"model": {**SMALL, "latent_dim": 2}},
    "routing": {"model": {**SMALL, "latent_dim": 10, "relu_latent": True}, "routing": {"enabled": True}},
    "routing+free+conditional": {
        "model": {**SMALL, "latent_dim": 12},
        "routing": {"enabled": True, "free": [10, 11], "unlabelled": "free"},
        "conditional": {"enabled": True},
    },
    "routing+prior-means": {
        "model": {**SMALL, "latent_dim": 10},
        "routing": {"enabled": True},
        "prior": {"enabled": True, "placement": "grid", "dims": [0, 1]},
    },
    "routing-reference+prior": {
        "model": {**SMALL, "latent_dim": 10},
        "routing": {"enabled": True},
        "objective": {"kind": "reference"},
        "prior": {"enabled": True, "placement": "circle", "dims": [3, 7]},
    },
    "conditional": {"model": {**SMALL, "latent_dim": 2}, "conditional": {"enabled": True}},
    "prior-points": {
        "model": {**SMALL, "latent_dim": 3},
        "prior": {"enabled": True, "placement": "points", "dims": [0, 2],
                  "points": [[k, -k] for k in range(NUM_CLASSES)]},
    },
    "classifier-mlp": {"model": {**SMALL, "latent_dim": 2}, "classifier": {"enabled": True, "hidden": [16]}},
    "deterministic+classifier": {
        "model": {**SMALL, "latent_dim": 16, "deterministic": True},
        "classifier": {"enabled": True},
    },
    "anchors": {"model": {**SMALL, "latent_dim": 2}, "anchors": {"enabled": True, "rate": 3.0}},
    "anchors-class-means+prior+classifier": {
        "model": {**SMALL, "latent_dim": 4},
        "data": {"train_limit": 300},
        "anchors": {"enabled": True, "templates": ["class-mean:0", "class-mean:1"], "weights": [1.0, -1.0],
                    "dims": [2, 3]},
        "prior": {"enabled": True},
        "classifier": {"enabled": True, "weight": 2.0},
    },
    "conv+routing+conditional": {
        "model": {**SMALL_CONV, "latent_dim": 10},
        "routing": {"enabled": True},
        "conditional": {"enabled": True},
    },
    "conv+anchors+classifier": {
        "model": {**SMALL_CONV, "latent_dim": 2},
        "anchors": {"enabled": True},
        "classifier": {"enabled": True},
    },
    "conv+deterministic+classifier": {
        "model": {**SMALL_CONV, "latent_dim": 16, "deterministic": True},
        "classifier": {"enabled": True},
    },
}
TECHNIQUE_SECTIONS = ("routing", "conditional", "prior", "anchors", "classifier")


@pytest.fixture(scope="module")
def train_slice(mnist_dir):  # class-mean anchors are fitted on training images
    return load_split("mnist", "train", limit=300)


@pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
def variant(request, train_slice):
    torch.manual_seed(0)
    config = Config.from_dict(VARIANTS[request.param])
    model = build_model(config)
    model.fit(train_slice)
    return config, model


def _batch(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, IMAGE_PIXELS, generator=g)
    y = torch.arange(n) % NUM_CLASSES
    y[-2:] = UNLABELLED  # every label-reading technique must accept hidden labels
    return x, y


def test_every_technique_section_appears_in_some_variant():
    used = {section for raw in VARIANTS.values() for section in raw if section in TECHNIQUE_SECTIONS}
    assert used == set(TECHNIQUE_SECTIONS)


def test_output_shapes_and_keys(variant):
    config, model = variant
    x, y = _batch()
    out = model.train()(x, y)
    d = config.model.latent_dim
    assert out.mu.shape == out.logvar.shape == out.z.shape == (len(x), d)
    assert out.logits.shape == (len(x), IMAGE_PIXELS)
    assert out.loss.shape == () and torch.isfinite(out.loss)
    expected_parts = {"recon", "kl"} | ({"class_ce"} if config.classifier.enabled else set())
    assert set(out.parts) == expected_parts
    assert set(out.extras) == ({"class_logits"} if config.classifier.enabled else set())
    if config.classifier.enabled:
        assert out.extras["class_logits"].shape == (len(x), NUM_CLASSES)
    enabled = {s for s in TECHNIQUE_SECTIONS if getattr(config, s).enabled}
    assert set(model.techniques) == enabled
    total = sum(out.parts.values())
    if not config.model.deterministic:  # with β = 1 the loss is exactly the sum of its parts
        torch.testing.assert_close(out.loss, total)


def test_all_unlabelled_batch_trains(variant):
    _, model = variant
    x, _ = _batch()
    out = model.train()(x, torch.full((len(x),), UNLABELLED))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    if "class_ce" in out.parts:
        assert out.parts["class_ce"].item() == 0.0


def test_one_optimizer_step_changes_the_weights(variant):
    _, model = variant
    x, y = _batch()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()(x, y).loss.backward()
    optimizer.step()
    after = dict(model.named_parameters())
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    for part in ("encoder.", "mean_head.", "decoder.", "techniques.classifier."):
        names = [k for k in before if k.startswith(part)]
        if names:
            assert any(k in changed for k in names), f"no {part}* weight changed"
    assert len(changed) >= 0.9 * len(before)


def test_save_then_load_gives_identical_outputs(variant, tmp_path):
    _, model = variant
    x, y = _batch()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    model.eval()
    with torch.no_grad():
        a, b = model(x, y), loaded(x, y)
    for name in ("mu", "logvar", "z", "logits", "loss"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)
    assert set(a.extras) == set(b.extras)
    for key in a.extras:
        torch.testing.assert_close(a.extras[key], b.extras[key], rtol=0, atol=0)
    for key in model.state_dict():
        assert torch.equal(model.state_dict()[key], loaded.state_dict()[key])


NEW_PRESETS = ("aeclf16", "vae2d", "cvae2d", "prior2d", "clf2d", "anchor2d")


@pytest.mark.parametrize("name", NEW_PRESETS)
def test_presets_build_and_say_what_they_reproduce(name):
    assert name in preset_names()
    config = resolve_config(name)
    assert "experiments.md §" in config.description
    assert "label" in config.description  # each says whether labels enter a loss
    model = build_model(config)
    x, y = _batch()
    out = model.train()(x, y)
    assert torch.isfinite(out.loss)
    if name != "aeclf16":
        assert config.model.latent_dim == 2
