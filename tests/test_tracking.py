"""tracking.py: TensorBoard logs of real one-epoch runs, read back with TensorBoard's own reader."""

import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.errors import ConfigError
from latentcraft.sweeps.definition import define_sweep
from latentcraft.sweeps.execution import run_sweep
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.tracking import TENSORBOARD_DIR, image_grid, scalar_tag
from latentcraft.training.trainer import load_data, train

SLICE = ["data.train_limit=1000", "data.test_limit=200", "train.batch_size=100", "train.eval_batch_size=200",
         "model.encoder_hidden=[32]", "model.decoder_hidden=[32]", "train.epochs=1", "train.tensorboard=true"]


def _config(*overrides, preset="routed10"):
    return resolve_config(preset, overrides=[*SLICE, *overrides])


@pytest.fixture(scope="module")
def data(mnist_dir):
    return load_data(_config())


def _events(run_dir) -> EventAccumulator:
    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def test_a_run_logs_every_metric_and_both_pictures_each_epoch(tmp_path, data):
    train(_config(), tmp_path, progress=False, data=data)
    (record,) = ckpt.read_metrics(tmp_path)
    events = _events(tmp_path)
    tags = events.Tags()
    expected = {scalar_tag(k) for k in record if k != "epoch"}
    assert {"train/loss", "train/kl", "test/recon_bce", "test/argmax_accuracy", "lr", "elapsed_s"} <= expected
    assert set(tags["scalars"]) == expected
    for key, value in record.items():
        if key != "epoch":
            (logged,) = events.Scalars(scalar_tag(key))
            assert logged.step == 1 and logged.value == pytest.approx(value, rel=1e-6)
    assert set(tags["images"]) == {"images/reconstructions", "images/unit_vectors"}
    (recon,) = events.Images("images/reconstructions")
    assert (recon.step, recon.width, recon.height) == (1, 8 * 28, 2 * 28)  # 8 test digits over their reconstructions
    (units,) = events.Images("images/unit_vectors")
    assert (units.width, units.height) == (10 * 28, 28)  # one decode per latent coordinate


def test_wide_latents_show_their_first_16_unit_vectors_and_a_resumed_run_appends(tmp_path, data):
    config = _config("model.latent_dim=20", "train.epochs=1", preset="vae2d")
    train(config, tmp_path, progress=False, data=data)
    longer = _config("model.latent_dim=20", "train.epochs=2", preset="vae2d")
    train(longer, tmp_path, resume=True, progress=False, data=data)
    events = _events(tmp_path)
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert [e.width for e in events.Images("images/unit_vectors")] == [16 * 28, 16 * 28]


def test_off_by_default(tmp_path, data):
    train(_config("train.tensorboard=false"), tmp_path, progress=False, data=data)
    assert not (tmp_path / TENSORBOARD_DIR).exists()


def test_without_the_package_the_flag_is_one_clear_error_and_blocks_no_rerun(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # what a missing package looks like to import
    args = ["train", "--preset", "routed10", "--run-dir", str(tmp_path / "run"), "--tensorboard", "--no-progress",
            *[f"--set={o}" for o in SLICE[:2]]]
    assert main(args) == 2  # a ConfigError: exit code 2, like every config value that cannot be used
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "train.tensorboard: the tensorboard package is not installed; pip install 'latentcraft[tensorboard]'" in err
    assert not (tmp_path / "run" / ckpt.CONFIG_FILE).exists()  # the same command works once it is installed
    with pytest.raises(ConfigError, match="not installed"):
        train(_config(), tmp_path / "direct", progress=False)


def test_every_sweep_trial_gets_its_own_log(tmp_path, data):
    definition = define_sweep(_config(), ["lr=1e-3,2e-3"], seeds=1)
    summary = run_sweep(definition, tmp_path, executor="sequential", progress=False, log=lambda line: None)
    assert not summary["failed"]
    trials = sorted((tmp_path / "trials").glob("*/seed-0"))
    assert len(trials) == 2
    for trial in trials:
        assert "train/loss" in _events(trial).Tags()["scalars"]


def test_image_grid_lays_rows_out_top_to_bottom():
    rows = torch.arange(6, dtype=torch.float32).view(2, 3, 1).expand(2, 3, 784)  # image (r, c) is all r*3+c
    grid = image_grid(rows)
    assert grid.shape == (1, 56, 84)
    tile_values = grid[0, ::28, ::28]  # the top-left pixel of each tile
    assert torch.equal(tile_values, torch.tensor([[0.0, 1, 2], [3, 4, 5]]))


def test_scalar_tags_group_by_split():
    assert scalar_tag("train_loss") == "train/loss"
    assert scalar_tag("test_argmax_accuracy") == "test/argmax_accuracy"
    assert scalar_tag("lr") == "lr"
