"""The instant demo: a pretrained routed model ships in the package, and `latentcraft demo`
with an empty cache serves it and prints its URL within seconds, training nothing."""

import json
import os
import re
import sys
import urllib.request

import pytest
import torch

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.data.mnist import load_split
from latentcraft.evaluation.evaluate import EVAL_FILE
from latentcraft.explorer.pretrained import DEFAULT_MODEL, SHIPPED_DTYPE, pack, pretrained_run
from latentcraft.techniques.registry import build_model
from latentcraft.techniques.routing import routed_predictions
from latentcraft.training import checkpoint as ckpt

from demo_process import running_demo

SHIPPED_BYTES = 8_000_000  # the whole shipped folder


def test_demo_with_an_empty_cache_serves_the_shipped_model_without_training(tmp_path, mnist_dir):
    # How fast is measured by benchmarks/demo_speed.py (timings are noisy here, so no timed test).
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with running_demo([sys.executable, "-m", "latentcraft.cli", "demo", "--port", "0"], env) as lines:
        assert not any("training" in line for line in lines)
        assert not list((tmp_path / "cache").rglob("checkpoint.safetensors")), "the demo trained a model"
        url = lines[-1].split()[1]
        with urllib.request.urlopen(url.replace("sliders.html", "manifest.json"), timeout=10) as response:
            assert json.load(response)["name"] == DEFAULT_MODEL


def test_the_shipped_model_is_small_and_its_eval_describes_its_weights(mnist_dir):
    run = pretrained_run()
    assert sum(f.stat().st_size for f in run.iterdir()) < SHIPPED_BYTES
    model = ckpt.load_model(run)
    test = load_split("mnist", "test")
    with torch.no_grad():
        mu, _ = model.encode(test.floats())
    accuracy = (routed_predictions(mu, model.config.routing.route_map(10)) == test.labels).float().mean().item()
    shipped = json.loads((run / EVAL_FILE).read_text())["metrics"]
    assert accuracy == pytest.approx(shipped["test_argmax_accuracy"], abs=1e-6)
    assert accuracy > 0.95


def test_the_shipped_models_site_says_how_it_was_trained_and_which_runtime_runs_it(pretrained):
    site, _ = pretrained
    manifest = json.loads((site / "manifest.json").read_text())
    shipped = json.loads((pretrained_run() / EVAL_FILE).read_text())["metrics"]
    assert manifest["training"]["epochs"] == ckpt.load_config(pretrained_run()).train.epochs
    assert manifest["metrics"] == shipped
    assert manifest["metrics_source"] == EVAL_FILE
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", manifest["runtime"]["version"])


def test_pack_ships_float16_weights_that_load_as_the_run(tmp_path):
    config = resolve_config("routed10", overrides=["model.encoder_hidden=[32]", "model.decoder_hidden=[32]"])
    torch.manual_seed(0)
    model = build_model(config).eval()
    ckpt.save_model(model, tmp_path / "run")
    ckpt.write_json(tmp_path / "run" / ckpt.SUMMARY_FILE, {"name": config.name, "epochs": 0})
    pack(tmp_path / "run", tmp_path / "shipped", evaluate=False)

    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(tmp_path / "shipped" / ckpt.WEIGHTS_FILE)).values()} == {SHIPPED_DTYPE}
    shipped = ckpt.load_model(tmp_path / "shipped")
    x = torch.rand(8, 784, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        (mu, _), (mu16, _) = model.encode(x), shipped.encode(x)
    torch.testing.assert_close(mu16, mu, atol=5e-3, rtol=5e-3)  # float16 rounding of the weights only
    assert not torch.equal(mu16, mu)


def test_epochs_without_train_is_a_clear_error(capsys):
    assert main(["demo", "--epochs", "3", "--no-serve"]) == 2  # a usage error, in one line
    assert capsys.readouterr().err.strip() == "latentcraft demo: error: --epochs applies to --train only"
