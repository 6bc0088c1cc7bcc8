"""Run folders written before style codes became a technique of their own still load, and compute the same.

Before the restructuring the style settings lived in [model] and [routing]
(model.style_dim, routing.style_epoch, ...) and the style encoder's weights at
the top of the model (style_encoder.*), its adversary and digit height under
techniques.routing. The old layout is spelled out here, not read from src, so
these tests say what an old folder holds, independently of the renaming code.
"""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, UNLABELLED
from latentcraft.data.mnist import load_split
from latentcraft.errors import ConfigError
from latentcraft.evaluation.metrics import evaluate_split
from latentcraft.explorer.pretrained import DEFAULT_MODEL, pretrained_run
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    RunError,
    load_checkpoint,
    load_model,
    save_checkpoint,
    save_model,
)

STYLE = [10, 11]
NEW = {"model": {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 12, "relu_latent": True},
       "routing": {"enabled": True, "free": STYLE, "detached_mean_epochs": 1.0},
       "style": {"enabled": True, "dim": 2, "hidden_sizes": [16], "kl_weight": 1.5, "start_epoch": 1, "joint": True,
                 "onehot_code": True, "independence": 0.25, "mmd": 0.5, "adversary": 2.0}}

# Where each [style] key lived before the restructuring.
OLD_KEYS = {"dim": ("model", "style_dim"), "hidden_sizes": ("model", "style_encoder_hidden"),
            "kl_weight": ("routing", "style_beta"), "start_epoch": ("routing", "style_epoch"),
            "joint": ("routing", "joint"), "frozen_mean": ("routing", "frozen_mean"),
            "onehot_code": ("routing", "onehot_code"), "independence": ("routing", "style_independence"),
            "mmd": ("routing", "style_mmd"), "adversary": ("routing", "style_adversary")}
# What the style technique's weights were called then (prefix now -> prefix then).
OLD_WEIGHTS = {"techniques.style.encoder.": "style_encoder.", "techniques.style.mean_head.": "style_mean_head.",
               "techniques.style.var_head.": "style_var_head.",
               "techniques.style.adversary.": "techniques.routing.adversary.",
               "techniques.style.digit_height": "techniques.routing.digit_height"}


def _old_config(new: dict) -> dict:
    """A config table (Config.to_dict) in the layout of before: no [style], its keys in [model] and [routing]."""
    old = json.loads(json.dumps(new))
    style = old.pop("style")
    assert style.pop("enabled") is True
    for key, value in style.items():
        if key not in OLD_KEYS:
            continue  # a setting added since: a folder of before has none, and gets its default
        section, name = OLD_KEYS[key]
        old[section][name] = value
    return old


def _old_name(key: str) -> str:
    for new, old in OLD_WEIGHTS.items():
        if key.startswith(new):
            return old + key[len(new):]
    return key


def _new_name(key: str) -> str:
    for new, old in OLD_WEIGHTS.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def _trained_like() -> torch.nn.Module:
    """A tiny routed-style model whose every tensor, buffers included, is set and none is at its default."""
    torch.manual_seed(0)
    model = build_model(Config.from_dict(NEW)).train()
    x = torch.rand(8, IMAGE_PIXELS, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, UNLABELLED])
    model(x, y, epoch=1.5)  # sets the digit height and the adversary's batch-norm statistics
    style = model.techniques["style"]
    assert style.digit_height > 0 and style.adversary is not None
    return model.eval()


def _write_old_folder(tmp_path) -> tuple[torch.nn.Module, dict]:
    model = _trained_like()
    save_model(model, tmp_path)
    new_config = json.loads((tmp_path / CONFIG_FILE).read_text())
    old_config = _old_config(new_config)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(old_config, indent=2) + "\n")
    tensors = load_file(str(tmp_path / WEIGHTS_FILE))
    old = {_old_name(k): v for k, v in tensors.items()}
    assert len(old) == len(tensors)
    save_file(old, str(tmp_path / WEIGHTS_FILE))
    return model, old_config


def test_the_old_folder_really_is_in_the_old_layout(tmp_path):
    _, config = _write_old_folder(tmp_path)
    assert "style" not in config
    assert config["model"]["style_dim"] == 2 and config["model"]["style_encoder_hidden"] == [16]
    assert config["routing"]["style_epoch"] == 1 and config["routing"]["joint"] is True
    assert config["routing"]["onehot_code"] is True and config["routing"]["style_adversary"] == 2.0
    names = set(load_file(str(tmp_path / WEIGHTS_FILE)))
    assert not any(k.startswith("techniques.style") for k in names)
    for old in ("style_encoder.", "style_mean_head.", "style_var_head.", "techniques.routing.adversary."):
        assert any(k.startswith(old) for k in names), old
    assert "techniques.routing.digit_height" in names


def test_an_old_run_folder_loads_with_its_settings_and_every_weight_in_place(tmp_path):
    model, _ = _write_old_folder(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.config.to_dict() == model.config.to_dict()
    assert loaded.config.style == model.config.style
    assert set(loaded.state_dict()) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    style = loaded.techniques["style"]
    assert style.digit_height == model.techniques["style"].digit_height > 0
    assert style.adversary is not None


def test_an_old_run_folder_encodes_decodes_and_evaluates_exactly_as_it_did(tmp_path):
    model, _ = _write_old_folder(tmp_path)
    loaded = load_model(tmp_path)
    x = torch.rand(6, IMAGE_PIXELS, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 3, 9, 1, 1, UNLABELLED])
    with torch.no_grad():
        mu, logvar = model.encode(x)
        again_mu, again_logvar = loaded.encode(x)
        assert torch.equal(mu, again_mu) and torch.equal(logvar, again_logvar)
        code = model.latent_activation(mu)
        assert torch.equal(code, loaded.latent_activation(mu))  # the one-hot digit code at the saved height
        assert torch.equal(model.decode(code), loaded.decode(code))
        assert torch.equal(model.reconstruct(x), loaded.reconstruct(x))
        out, again = model(x, y), loaded(x, y)  # evaluation's forward pass: every loss term
    assert out.parts.keys() == again.parts.keys()
    for name, value in out.parts.items():
        assert torch.equal(value, again.parts[name]), name
    assert torch.equal(out.loss, again.loss) and torch.equal(out.logits, again.logits)
    assert torch.equal(model.elbo_kl(mu, logvar), loaded.elbo_kl(mu, logvar))


def test_an_old_routed10_folder_without_a_style_encoder_loads_with_style_off(tmp_path):
    torch.manual_seed(0)
    model = build_model(Config.from_dict({"model": {"encoder_hidden": [16], "decoder_hidden": [16]},
                                          "routing": {"enabled": True}}))
    save_model(model, tmp_path)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    del config["style"]
    config["model"].update(style_dim=0, style_encoder_hidden=[256])  # what every config of before wrote
    config["routing"].update(style_epoch=0, joint=False, frozen_mean=False, onehot_code=False, style_beta=1.0,
                             style_independence=0.0, style_mmd=0.0, style_adversary=0.0)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    loaded = load_model(tmp_path)
    assert not loaded.config.style.enabled and "style" not in loaded.techniques
    x = torch.rand(3, IMAGE_PIXELS, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(loaded.reconstruct(x), model.eval().reconstruct(x))


@pytest.mark.parametrize("old, new, value", [
    (("routing", "style_epoch"), "start_epoch", 1),
    (("model", "style_dim"), "dim", 2),
    (("routing", "style_adversary"), "adversary", 2.0),
])
def test_a_setting_given_by_both_its_old_and_its_new_name_is_refused_naming_both(old, new, value):
    raw = json.loads(json.dumps(NEW))
    raw[old[0]][old[1]] = value  # even when both agree
    with pytest.raises(ConfigError, match=rf"{old[0]}.{old[1]}: older name of style.{new}; set only style.{new}"):
        Config.from_dict(raw)


def test_an_old_override_on_a_new_preset_is_refused_and_so_is_such_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"routing.style_epoch: .*style.start_epoch"):
        resolve_config("routed-style", overrides=["routing.style_epoch=1"])  # the preset sets style.start_epoch
    model = _trained_like()
    save_model(model, tmp_path)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    config["routing"]["style_epoch"] = config["style"]["start_epoch"]
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(RunError, match=r"config.json: routing.style_epoch: .*style.start_epoch"):
        load_model(tmp_path)


def test_the_shipped_demo_model_loads_with_its_settings_and_weights():
    # It was packed in the old layout until it was rebuilt with the consistency term; the old layout
    # is covered by the folders these tests write in it (test_the_old_folder_really_is_in_the_old_layout).
    folder = pretrained_run(DEFAULT_MODEL)
    raw = json.loads((folder / CONFIG_FILE).read_text())
    tensors = load_file(str(folder / WEIGHTS_FILE))
    assert raw["style"]["start_epoch"] == 2 and raw["routing"]["consistency"] == 1.0

    model = load_model(folder)
    style = model.techniques["style"]
    s = model.config.style
    assert (s.enabled, s.dim, s.hidden_sizes, s.start_epoch, s.joint, s.onehot_code, s.adversary) == (
        True, 10, [512, 256], 2, True, True, 1.0)
    assert style.coordinates == list(range(10, 20)) and model.main_dims == 10
    state = model.state_dict()
    assert set(state) == set(tensors)
    for key, value in tensors.items():  # float16 on disk, float32 in the model: the same numbers
        assert torch.equal(state[key], value.to(state[key].dtype)), key
    assert style.digit_height.item() == pytest.approx(3.5488, abs=1e-3)


def test_the_shipped_demo_model_still_scores_what_its_eval_json_says(mnist_dir):
    folder = pretrained_run(DEFAULT_MODEL)
    shipped = json.loads((folder / "eval.json").read_text())["metrics"]
    model = load_model(folder)
    test = load_split("mnist", "test")
    assert len(test) == 10_000
    metrics = evaluate_split(model, test)
    assert metrics["test_argmax_accuracy"] == pytest.approx(shipped["test_argmax_accuracy"], abs=2e-3)
    assert metrics["test_recon_bce"] == pytest.approx(shipped["test_recon_bce"], rel=1e-2)


def test_an_old_checkpoint_resumes_with_its_weights_and_optimizer_state(tmp_path):
    model = _trained_like().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(8, IMAGE_PIXELS, generator=torch.Generator().manual_seed(3))
    model(x, torch.arange(8), epoch=1.5).loss.backward()
    optimizer.step()
    save_checkpoint(tmp_path, model, optimizer, epoch=2)
    path = tmp_path / CHECKPOINT_FILE
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    old = {f"model.{_old_name(k[len('model.'):])}" if k.startswith("model.") else k: v for k, v in tensors.items()}
    assert any(k.startswith("model.style_encoder.") for k in old)
    save_file(old, str(path), metadata=metadata)

    torch.manual_seed(1)
    fresh = build_model(Config.from_dict(NEW))
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    assert load_checkpoint(tmp_path, fresh, fresh_optimizer) == 2
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    for mine, theirs in zip(model.parameters(), fresh.parameters()):
        state, loaded = optimizer.state[mine], fresh_optimizer.state[theirs]
        for moment in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(state[moment], loaded[moment])


def test_the_parameters_keep_the_order_of_before_so_an_old_checkpoints_adam_state_fits():
    """Adam's state in a checkpoint is indexed by parameter order. Before, the model registered its main
    encoder, then its style encoder and heads, then the techniques (the adversary under routing), then the decoder."""
    order = ["encoder.", "mean_head.", "var_head.", "style_encoder.", "style_mean_head.", "style_var_head.",
             "techniques.routing.adversary.", "decoder."]
    names = [_old_name(name) for name, _ in _trained_like().named_parameters()]
    ranks = [next(i for i, prefix in enumerate(order) if name.startswith(prefix)) for name in names]
    assert ranks == sorted(ranks) and set(ranks) == set(range(len(order)))
