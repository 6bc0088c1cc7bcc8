"""A new technique is one file plus one registry line: its section, checks, metric, prediction and figure reach
config loading, training logs, evaluation, the progress bar and the figures with no other edit."""

import importlib

import pytest
import torch

from latentcraft.config.run_config import Config
from latentcraft.data.mnist import load_split
from latentcraft.errors import ConfigError
from latentcraft.evaluation import registry as metric_registry
from latentcraft.evaluation.metrics import evaluate_split, logged_metrics
from latentcraft.reporting.plots import make_figures
from latentcraft.techniques import registry
from latentcraft.techniques.registry import build_model
from latentcraft.training.trainer import headline_keys

SMALL = {"encoder_hidden": [32], "decoder_hidden": [32], "latent_dim": 3}


@pytest.fixture
def sign(monkeypatch):
    saved, predictions = dict(metric_registry.METRICS), list(metric_registry.PREDICTIONS)
    import sign_technique

    technique = importlib.reload(sign_technique).SignOfFirstCode  # defining the class registers its metric
    monkeypatch.setitem(registry.TECHNIQUES, "sign", technique)  # the registry line
    yield technique
    metric_registry.METRICS.clear()
    metric_registry.METRICS.update(saved)
    metric_registry.PREDICTIONS[:] = predictions


def test_its_section_is_part_of_the_config_and_checked_by_the_technique(sign):
    config = Config.from_dict({"model": SMALL, "sign": {"enabled": True, "threshold": 0.5}})
    assert config.sign.threshold == 0.5 and config.section("sign") is config.sign
    assert Config.from_dict(config.to_dict()) == config
    assert Config().sign.enabled is False  # a default section like every other
    with pytest.raises(ConfigError, match="sign.coordinate: 7 is outside"):
        Config.from_dict({"model": SMALL, "sign": {"enabled": True, "coordinate": 7}})
    with pytest.raises(ConfigError, match="unknown config key sign.treshold"):
        Config.from_dict({"sign": {"treshold": 1.0}})


def test_its_prediction_is_logged_scored_and_drawn(sign, tmp_path, mnist_dir):
    assert metric_registry.registered()["test_sign_accuracy"].label == "sign-of-μ₀ accuracy"
    assert "test_sign_accuracy" in logged_metrics()  # what sweeps accept in --metrics
    torch.manual_seed(0)
    model = build_model(Config.from_dict({"model": SMALL, "sign": {"enabled": True}}))
    assert "test_sign_accuracy" in headline_keys(model)
    test = load_split("mnist", "test", limit=60)
    with torch.no_grad():
        mu, _ = model.eval().encode(test.floats())
    expected = (torch.where(mu[:, 0] > 0, 0, 1) == test.labels).float().mean().item()
    assert evaluate_split(model, test)["test_sign_accuracy"] == pytest.approx(expected)
    written = make_figures(model, test, tmp_path, None)
    assert tmp_path / "sign.txt" in written and (tmp_path / "sign.txt").read_text() == "60"
