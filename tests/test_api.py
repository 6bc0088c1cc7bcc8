"""The Python API (api.py, trained.py): one-epoch runs on 2000 real MNIST digits."""

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import latentcraft
from latentcraft.data.mnist import load_split
from latentcraft.errors import ArgumentError, ConfigError
from latentcraft.trained import TrainedModel
from latentcraft.training import checkpoint as ckpt

QUICK = {"data.train_limit": 2000, "data.test_limit": 500, "train.epochs": 1, "train.eval_batch_size": 500}


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist_dir):
    run_dir = tmp_path_factory.mktemp("api") / "routed10"
    summary = latentcraft.train("routed10", run_dir, overrides=QUICK, progress=False)
    return run_dir, summary


@pytest.fixture(scope="module")
def digits(run):
    return load_split("mnist", "test", limit=6)


def test_train_returns_the_summary_it_writes(run):
    run_dir, summary = run
    assert summary == ckpt.read_summary(run_dir)
    assert summary["epochs"] == 1 and summary["name"] == "routed10"
    assert 0.1 < summary["final"]["test_argmax_accuracy"] <= 1.0
    config = json.loads((run_dir / ckpt.CONFIG_FILE).read_text())
    assert config["data"]["train_limit"] == 2000 and config["model"]["relu_latent"] is True  # preset + overrides


def test_a_config_may_be_a_preset_a_file_a_dict_or_a_config(tmp_path):
    from latentcraft.api import make_config

    toml = tmp_path / "mine.toml"
    toml.write_text('name = "mine"\n[model]\nlatent_dim = 12\n[train]\nepochs = 3\n')
    from_file = make_config(toml, {"train.epochs": 1})
    assert (from_file.name, from_file.model.latent_dim, from_file.train.epochs) == ("mine", 12, 1)
    raw = {"name": "mine", "model": {"latent_dim": 12}}
    from_dict = make_config(raw, {"train.lr": 0.01})
    assert raw == {"name": "mine", "model": {"latent_dim": 12}}  # the caller's dict is left alone
    assert from_dict.train.lr == 0.01 and from_dict.model.latent_dim == 12
    preset = make_config("routed10")
    assert make_config(preset, {"train.seed": 3}).train.seed == 3 and preset.train.seed == 0
    with pytest.raises(ConfigError, match="unknown preset 'routed11'"):
        make_config("routed11")
    with pytest.raises(ConfigError, match="unknown config key model.latent"):
        make_config("routed10", {"model.latent": 3})
    with pytest.raises(ArgumentError, match="expected a preset name, a file path, a dict or a Config, got int"):
        make_config(7)


def test_several_seeds_keep_the_best(tmp_path, mnist_dir):
    tiny = {**QUICK, "data.train_limit": 500, "model.encoder_hidden": [32], "model.decoder_hidden": [32]}
    summary = latentcraft.train("routed10", tmp_path, overrides=tiny, seeds=2, progress=False)
    record = summary["seeds"]
    assert [r["seed"] for r in record["runs"]] == [0, 1]
    assert summary["seed"] == record["best_seed"]
    assert summary["final"]["test_argmax_accuracy"] == max(r["test_argmax_accuracy"] for r in record["runs"])
    with pytest.raises(ArgumentError, match="seeds: must be at least 1"):
        latentcraft.train("routed10", tmp_path / "none", seeds=0)


def test_load_gives_an_eval_mode_model_on_the_cpu(run):
    model = latentcraft.load(run[0])
    assert isinstance(model, TrainedModel) and not model.model.training
    assert model.device == torch.device("cpu") and model.latent_dim == 10
    assert "routing" in repr(model)


def test_encode_accepts_every_image_layout_and_dtype(run, digits):
    model = latentcraft.load(run[0])
    pixels = digits.images  # (6, 28, 28) uint8
    mu = model.encode(pixels)
    assert mu.shape == (6, 10)
    expected, _ = model.model.encode(digits.floats())
    assert torch.allclose(mu, expected)
    for layout in (pixels.reshape(6, 784), pixels[:, None], pixels.float() / 255, pixels.numpy(),
                   (pixels.numpy() / 255).astype(np.float64)):
        assert torch.allclose(model.encode(layout), mu, atol=1e-6)
    mu_again, logvar = model.encode(pixels, with_logvar=True)
    assert torch.equal(mu_again, mu) and logvar.shape == (6, 10)


def test_decode_and_reconstruct_give_images_in_the_unit_interval(run, digits):
    model = latentcraft.load(run[0])
    mu = model.encode(digits.images)
    images = model.decode(mu)
    assert images.shape == (6, 28, 28) and 0.0 <= images.min() and images.max() <= 1.0
    assert torch.equal(model.reconstruct(digits.images), images)
    # The latent activation comes first: a routed model's negative coordinates decode as zero.
    assert torch.equal(model.decode(torch.full((1, 10), -5.0)), model.decode(torch.zeros(1, 10)))
    # A routed unit vector decodes to its digit: brighter where that digit's mean image is bright.
    assert model.decode(3.0 * torch.eye(10)).shape == (10, 28, 28)


def test_bad_inputs_are_clear_errors(run):
    model = latentcraft.load(run[0])
    with pytest.raises(ValueError, match=r"expected shape \(B, 784\), \(B, 28, 28\) or \(B, 1, 28, 28\), got \(28,"):
        model.encode(torch.zeros(28, 28))
    with pytest.raises(ValueError, match=r"float pixels must lie in \[0, 1\], got 0..255; divide by 255 or pass uint8"):
        model.encode(torch.full((1, 784), 255.0).index_fill_(1, torch.tensor([0]), 0.0))
    with pytest.raises(ValueError, match="expected uint8 or floating-point pixels, got torch.int64"):
        model.encode(torch.zeros(1, 784, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"codes: expected shape \(B, 10\), got \(3, 2\)"):
        model.decode(torch.zeros(3, 2))


def test_a_conditional_decoder_takes_labels(tmp_path, mnist_dir):
    run_dir = tmp_path / "cvae"
    latentcraft.train("cvae2d", run_dir, overrides={**QUICK, "data.train_limit": 500}, progress=False)
    model = latentcraft.load(run_dir)
    z = torch.zeros(3, 2)
    as_int, as_list = model.decode(z, labels=7), model.decode(z, labels=[7, 7, 7])
    assert torch.equal(as_int, as_list) and not torch.equal(as_int, model.decode(z, labels=1))
    with pytest.raises(ValueError, match="decode needs a label per code"):
        model.decode(z)


def test_evaluate_returns_the_metrics_and_writes_eval_json(run):
    run_dir = run[0]
    metrics = latentcraft.evaluate(run_dir, fit_limit=300, test_limit=200, progress=False)
    assert metrics == json.loads((run_dir / "eval.json").read_text())["metrics"]
    assert 0.1 < metrics["test_argmax_accuracy"] <= 1.0
    assert 0.0 <= metrics["dci_disentanglement"] <= 1.0 and 0.0 < metrics["linear_probe_accuracy"] <= 1.0


def test_export_builds_a_site_of_one_run_or_a_picker_of_several(run, tmp_path):
    manifest = latentcraft.export([run[0]], tmp_path / "site")
    assert manifest["latent_dim"] == 10 and (tmp_path / "site" / "manifest.json").is_file()
    root = latentcraft.export([run[0], run[0]], tmp_path / "two")
    assert [m["dir"] for m in root["models"]] == ["models/routed10", "models/routed10-2"]
    with pytest.raises(ValueError, match="no run folder"):
        latentcraft.export([], tmp_path / "none")


def test_sweep_runs_every_grid_value(tmp_path, mnist_dir):
    tiny = {**QUICK, "data.train_limit": 500, "model.encoder_hidden": [32], "model.decoder_hidden": [32]}
    summary = latentcraft.sweep("routed10", tmp_path, grid={"train.lr": [1e-3, 2e-3]}, overrides=tiny,
                                executor="sequential", progress=False)
    assert [s["label"] for s in summary["settings"]] == ["lr=0.001", "lr=0.002"]
    assert not summary["failed"]
    with pytest.raises(ArgumentError, match=r"grid\['train.lr'\]: expected a non-empty list of values to try, got 0.0"):
        latentcraft.sweep("routed10", tmp_path / "bad", grid={"train.lr": 1e-3})


def test_the_verbs_are_the_api_functions_at_the_top_of_the_package():
    from latentcraft import api

    for verb in ("train", "load", "evaluate", "export", "sweep"):
        assert getattr(latentcraft, verb) is getattr(api, verb)
        assert getattr(latentcraft, verb).__doc__, f"latentcraft.{verb} has no docstring for help()"
    importlib.import_module("latentcraft.training.trainer")  # importing a submodule must not rebind a verb
    assert latentcraft.train is api.train


def test_importing_the_package_loads_no_torch():
    code = "import sys, latentcraft; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
