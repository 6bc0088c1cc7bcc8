"""checkpoint.py: save -> load gives identical weights and outputs; broken run folders are clear errors."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from latentcraft.config.run_config import resolve_config
from latentcraft.data.constants import IMAGE_PIXELS
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt

SMALL = ["model.encoder_hidden=[32]", "model.decoder_hidden=[32]", "model.conv_channels=[4, 8]"]


def _model(*overrides: str) -> LatentModel:
    torch.manual_seed(0)
    return build_model(resolve_config(overrides=[*SMALL, *overrides]))


@pytest.mark.parametrize("overrides", [
    ["model.body=mlp", "routing.enabled=true", "objective.kind=reference", "model.relu_latent=true"],
    ["model.body=conv", "model.deterministic=true"],
])
def test_save_then_load_gives_identical_weights_and_outputs(tmp_path, overrides):
    model = _model(*overrides).eval()
    ckpt.save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CONFIG_FILE, ckpt.WEIGHTS_FILE]  # no temp files left
    loaded = ckpt.load_model(tmp_path)
    assert not loaded.training
    assert loaded.config == model.config
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    x = torch.rand(5, IMAGE_PIXELS)
    assert torch.equal(model(x).logits, loaded(x).logits)


def test_weights_file_holds_only_tensors(tmp_path):
    model = _model()
    ckpt.save_model(model, tmp_path)
    assert set(load_file(str(tmp_path / ckpt.WEIGHTS_FILE))) == set(model.state_dict())


def test_broken_run_folders_are_clear_errors(tmp_path):
    with pytest.raises(ckpt.RunError, match="not a run folder"):
        ckpt.load_model(tmp_path)
    ckpt.save_model(_model(), tmp_path)
    (tmp_path / ckpt.WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ckpt.RunError, match="not a readable safetensors file"):
        ckpt.load_model(tmp_path)
    (tmp_path / ckpt.WEIGHTS_FILE).unlink()
    with pytest.raises(ckpt.RunError, match="does not exist"):
        ckpt.load_model(tmp_path)


def _forget_config_record(path):
    """Rewrite a weights file as run folders saved before weights recorded their config were."""
    save_file(load_file(str(path)), str(path))


def test_weights_that_do_not_match_the_config_are_rejected(tmp_path):
    ckpt.save_model(_model(), tmp_path)
    ckpt.save_model(_model("model.deterministic=true"), tmp_path / "other")
    (tmp_path / "other" / ckpt.WEIGHTS_FILE).replace(tmp_path / ckpt.WEIGHTS_FILE)  # weights lack var_head
    with pytest.raises(ckpt.RunError, match=rf"{ckpt.CONFIG_FILE} does not describe the weights in "
                       rf"{ckpt.WEIGHTS_FILE}: model.deterministic is false there but they were trained with true"):
        ckpt.load_model(tmp_path)
    _forget_config_record(tmp_path / ckpt.WEIGHTS_FILE)  # an older folder: the names and shapes still tell
    with pytest.raises(ckpt.RunError, match="does not match its config"):
        ckpt.load_model(tmp_path)


def test_training_checkpoint_restores_model_optimizer_and_rng(tmp_path):
    model = _model("routing.enabled=true")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    x, y = torch.rand(8, IMAGE_PIXELS), torch.arange(8)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        model(x, y).loss.backward()
        optimizer.step()
    torch.manual_seed(123)
    ckpt.save_checkpoint(tmp_path, model, optimizer, epoch=4)
    expected_noise = torch.randn(3)

    fresh = _model("routing.enabled=true")
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=1.0)
    torch.manual_seed(999)
    assert ckpt.load_checkpoint(tmp_path, fresh, fresh_optimizer) == 4
    assert torch.equal(torch.randn(3), expected_noise)  # the noise RNG continues where it stopped
    assert fresh_optimizer.param_groups[0]["lr"] == 3e-4
    # The next step is identical for the original and the restored pair.
    for m, opt in ((model, optimizer), (fresh, fresh_optimizer)):
        opt.zero_grad()
        torch.manual_seed(5)
        m(x, y).loss.backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_weights_holding_nan_or_inf_are_refused_naming_file_and_tensor(tmp_path, bad):
    ckpt.save_model(_model(), tmp_path)
    tensors = load_file(str(tmp_path / ckpt.WEIGHTS_FILE))
    name = sorted(tensors)[0]
    tensors[name].view(-1)[0] = bad
    save_file(tensors, str(tmp_path / ckpt.WEIGHTS_FILE))
    with pytest.raises(ckpt.RunError, match=rf"{ckpt.WEIGHTS_FILE}: tensor '{name}' holds NaN or infinite values"):
        ckpt.load_model(tmp_path)


def test_weights_of_another_shape_name_the_tensor_not_a_torch_traceback(tmp_path):
    ckpt.save_model(_model(), tmp_path)
    ckpt.save_model(_model("model.latent_dim=4"), tmp_path / "other")
    (tmp_path / "other" / ckpt.WEIGHTS_FILE).replace(tmp_path / ckpt.WEIGHTS_FILE)
    with pytest.raises(ckpt.RunError, match="model.latent_dim is 10 there but they were trained with 4"):
        ckpt.load_model(tmp_path)
    _forget_config_record(tmp_path / ckpt.WEIGHTS_FILE)
    with pytest.raises(ckpt.RunError, match=r"does not match its config.*is \(4, 32\), the config needs \(10, 32\)"):
        ckpt.load_model(tmp_path)


def test_a_damaged_config_json_names_the_file(tmp_path):
    ckpt.save_model(_model(), tmp_path)
    (tmp_path / ckpt.CONFIG_FILE).write_text('{"train": {"epochs": "many"}}')
    with pytest.raises(ckpt.RunError, match=rf"{ckpt.CONFIG_FILE}: train.epochs: expected int"):
        ckpt.load_model(tmp_path)


def test_a_damaged_training_checkpoint_is_a_clear_error(tmp_path):
    model = _model()
    optimizer = torch.optim.Adam(model.parameters())
    ckpt.save_checkpoint(tmp_path, model, optimizer, epoch=1)
    tensors = load_file(str(tmp_path / ckpt.CHECKPOINT_FILE))
    save_file(tensors, str(tmp_path / ckpt.CHECKPOINT_FILE), metadata={"epoch": "1"})  # param_groups lost
    with pytest.raises(ckpt.RunError, match=r"checkpoint.safetensors is damaged \(KeyError: 'param_groups'\)"):
        ckpt.load_checkpoint(tmp_path, model, optimizer)
