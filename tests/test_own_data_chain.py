"""Your own data through every step: `latentcraft data`, train, plot, report, the Python API and a sweep.

Two small datasets stand in for a user's: a 4-class 32×32 RGB .npz (synthetic.colour_blobs) and a
3-class grey image-folder tree with train/ and test/ of 32-high × 24-wide PNGs. Each is trained once
(one tiny epoch) and shared by the tests below.
"""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import latentcraft as lc
from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.data.formats.labelled_images import DatasetError
from latentcraft.data.shape import ImageShape
from latentcraft.data.synthetic import colour_blobs, save_npz, shapes
from latentcraft.errors import ArgumentError
from latentcraft.reporting import plots
from latentcraft.sweeps import execution
from latentcraft.sweeps.definition import define_sweep
from latentcraft.training.tracking import image_grid, reconstruction_grid

QUICK = ["--epochs", "1", "--set", "train.threads=1", "--set", "train.epoch_images=0", "--set",
         "model.encoder_hidden=[32]", "--set", "model.decoder_hidden=[32]", "--no-progress"]
BLOBS = ("disc", "square", "triangle", "cross")
TREE_CLASSES = ("square", "ellipse", "triangle")


def _write_tree(root, images, labels, split):
    for k, name in enumerate(TREE_CLASSES):
        (root / split / name).mkdir(parents=True)
        for i in np.flatnonzero(labels == k):
            Image.fromarray(images[i, :, 4:28, 0]).save(root / split / name / f"{i}.png")  # 32 high, 24 wide


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-data")
    save_npz(root / "blobs.npz", colour_blobs(240, 32, 4, seed=0), colour_blobs(80, 32, 4, seed=1))
    for split, seed, n in (("train", 0, 150), ("test", 1, 60)):
        made = shapes(n, 32, seed)
        keep = made.labels < len(TREE_CLASSES)
        _write_tree(root / "tree", made.images[keep], made.labels[keep], split)
    return root


@pytest.fixture(scope="module")
def runs(datasets, tmp_path_factory):
    """The npz trained with a 2-D latent and a classifier head; the tree with a conditional decoder. Both are
    given --data as a path relative to the working folder, as a user types it."""
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(datasets)
        assert main(["train", "--data", "blobs.npz", "--run-dir", str(folder / "blobs"), *QUICK,
                     "--set", "model.latent_dim=2", "--set", "classifier.enabled=true"]) == 0
        assert main(["train", "--data", "tree", "--run-dir", str(folder / "tree"), *QUICK,
                     "--set", "model.latent_dim=3", "--set", "conditional.enabled=true"]) == 0
    return folder / "blobs", folder / "tree"


def _colourful(path) -> float:
    """Share of strongly saturated pixels: colour tiles have many, grey ones none."""
    hsv = np.asarray(Image.open(path).convert("RGB").convert("HSV"))
    return float((hsv[..., 1] > 100).mean())


# ---- latentcraft data --------------------------------------------------------------------------------


def test_data_describes_an_npz_and_a_folder_tree(datasets, capsys):
    assert main(["data", "--data", str(datasets / "blobs.npz")]) == 0
    out = capsys.readouterr().out
    assert "32 × 32 px (height × width), RGB; 240 train, 80 test" in out and "classes: 4" in out
    assert all(name in out for name in BLOBS) and "factors: 5" in out
    assert main(["data", "--data", str(datasets / "tree"), "--set", "data.test_fraction=0.5"]) == 0
    out = capsys.readouterr().out
    assert "32 × 24 px (height × width), grey" in out and "classes: 3" in out
    assert all(name in out for name in TREE_CLASSES) and "latentcraft train --data" in out


def test_data_lists_every_problem_and_fails_in_one_line(datasets, tmp_path, capsys):
    tree = tmp_path / "tree"
    shutil.copytree(datasets / "tree", tree)
    (tree / "train" / "square" / "broken.png").write_text("not an image")
    (tree / "test" / "ellipse" / "also.png").write_bytes(b"\x89PNG")
    assert main(["data", "--data", str(tree)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("2 problems stop this data from being used:")
    assert "broken.png" in captured.out and "also.png" in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("latentcraft data: error: ") and line.endswith("(and 1 more, listed above)")
    bad = dict(np.load(datasets / "blobs.npz"))
    bad["y_test"] = bad["y_test"] + 7
    np.savez(tmp_path / "bad.npz", **bad)
    assert main(["data", "--data", str(tmp_path / "bad.npz")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "y_test" in line and "label" in line and "bad.npz" in line


# ---- train -> plot -> report -> API ---------------------------------------------------------------------


def test_a_run_records_its_absolute_data_path_shape_and_classes(runs, datasets):
    blobs, tree = (json.loads((run / "config.json").read_text())["data"] for run in runs)
    assert blobs["path"] == str(datasets / "blobs.npz") and blobs["image_shape"] == [32, 32, 3]
    assert blobs["class_names"] == list(BLOBS)
    assert tree["path"] == str(datasets / "tree") and tree["image_shape"] == [32, 24, 1]
    assert tree["class_names"] == sorted(TREE_CLASSES)  # folders are read in name order


def test_plot_shows_colour_runs_in_colour_at_their_size(runs, capsys):
    blobs, tree = runs
    assert main(["plot", str(blobs)]) == 0 and main(["plot", str(tree), "--label", "2"]) == 0
    names = {p.name for p in (blobs / "figures").iterdir()}
    assert {"reconstructions.png", "scatter.png", "decision_regions.png", "unit_vectors.png"} <= names
    recon = Image.open(blobs / "figures" / "reconstructions.png")
    width, height = plots.grid_figure_size(2, 4, plots.tile_inches(32, 32))
    assert recon.size == (round(width * plots.DPI), round(height * plots.DPI))
    assert _colourful(blobs / "figures" / "reconstructions.png") > 0.01
    assert _colourful(tree / "figures" / "reconstructions.png") == 0.0
    width, height = plots.grid_figure_size(2, 3, plots.tile_inches(32, 24))  # rectangular tiles
    assert Image.open(tree / "figures" / "reconstructions.png").size == (round(width * plots.DPI),
                                                                         round(height * plots.DPI))
    assert main(["plot", str(tree), "--label", "3", "--out", str(tree / "elsewhere")]) == 2
    assert "--label 3: this run has 3 classes, 0..2" in capsys.readouterr().err


def test_report_of_an_own_data_run_names_its_data(runs, tmp_path, capsys):
    blobs, _ = runs
    out = tmp_path / "report.html"
    assert main(["report", str(blobs), "--out", str(out), "--fit-limit", "100", "--no-progress"]) == 0
    page = out.read_text()
    assert "blobs.npz: 32×32 RGB, 4 classes" in page and "data:image/png;base64," in page
    assert "Data: " in (tmp_path / "report.md").read_text()


def test_the_api_takes_and_gives_images_of_the_runs_shape(runs, datasets):
    blobs, tree = runs
    model = lc.load(blobs)
    pixels = np.load(datasets / "blobs.npz")["x_test"][:5]  # (5, 32, 32, 3) uint8, channel-last
    mu = model.encode(pixels)
    channel_first = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255  # (5, 3, 32, 32)
    for layout in (channel_first, channel_first.reshape(5, -1)):
        torch.testing.assert_close(model.encode(layout), mu)
    images = model.decode(mu)
    assert images.shape == (5, 32, 32, 3) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ArgumentError, match=r"expected shape \(B, 3072\), \(B, 3, 32, 32\) or \(B, 32, 32, 3\), "
                                            r"got \(5, 28, 28\); this model reads 32×32 RGB"):
        model.encode(np.zeros((5, 28, 28), np.uint8))
    grey = lc.load(tree)
    assert grey.reconstruct(np.zeros((2, 32, 24), np.uint8), labels=[0, 2]).shape == (2, 32, 24)
    with pytest.raises(ArgumentError, match=r"labels: must be class indices 0\.\.2 \(ellipse, square, triangle"):
        grey.decode(torch.zeros(1, 3), labels=3)


def test_the_api_trains_on_a_relative_data_path_and_refuses_a_missing_one(datasets, tmp_path, monkeypatch):
    monkeypatch.chdir(datasets)
    tiny = {"train.epochs": 1, "train.threads": 1, "train.epoch_images": 0, "model.encoder_hidden": [16],
            "model.decoder_hidden": [16]}
    summary = lc.train({}, tmp_path / "run", overrides={**tiny, "data.path": "blobs.npz"}, progress=False)
    assert "test_recon_bce" in summary["final"]
    assert lc.load(tmp_path / "run").config.data.path == str(datasets / "blobs.npz")
    with pytest.raises(DatasetError, match="missing.npz: does not exist"):
        lc.train({}, tmp_path / "refused", overrides={**tiny, "data.path": "missing.npz"}, progress=False)
    assert not (tmp_path / "refused").exists()


def test_tensorboard_pictures_keep_colour_and_enlarge_small_images(runs, datasets):
    shape = ImageShape(8, 12, 3, ("a", "b"))
    rows = torch.rand(2, 3, shape.features)  # (R, C, 3·8·12)
    grid = image_grid(rows, shape)
    assert grid.shape == (3, 2 * 8 * 3, 3 * 12 * 3)  # each side ×3: at least 28 px, whole pixels
    tile = rows[1, 2].view(3, 8, 12)  # row 1, column 2, channel-first
    torch.testing.assert_close(grid[:, 8 * 3:16 * 3:3, 24 * 3:36 * 3:3], tile)
    model = lc.load(runs[0]).model
    x = torch.from_numpy(np.load(datasets / "blobs.npz")["x_test"][:4]).permute(0, 3, 1, 2).reshape(4, -1) / 255
    assert reconstruction_grid(model, x, torch.zeros(4, dtype=torch.long)).shape == (3, 64, 4 * 32)


def test_a_run_reads_moved_data_and_refuses_other_data(runs, datasets, tmp_path, capsys):
    blobs, _ = runs
    moved = tmp_path / "moved.npz"
    arrays = dict(np.load(datasets / "blobs.npz"))
    np.savez(moved, **{**arrays, "x_test": 255 - arrays["x_test"]})  # same shape and classes, other pixels
    assert main(["plot", str(blobs), "--data", str(moved), "--out", str(tmp_path / "figures")]) == 0
    assert (tmp_path / "figures" / "reconstructions.png").is_file()
    there, here = (lc.evaluate(blobs, data=data, fit_limit=100, progress=False) for data in (moved, None))
    assert there["test_recon_sq"] != pytest.approx(here["test_recon_sq"], rel=0.05)  # inverted test images read
    save_npz(tmp_path / "six.npz", colour_blobs(60, 32, 6, seed=0), colour_blobs(30, 32, 6, seed=1))
    for command in (["plot", str(blobs)], ["evaluate", str(blobs), "--no-progress"]):
        assert main([*command, "--data", str(tmp_path / "six.npz")]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "six.npz: classes" in line and "differ from the run's" in line
    assert json.loads((blobs / "config.json").read_text())["data"]["path"] == str(datasets / "blobs.npz")


def test_export_reads_moved_data(runs, datasets, tmp_path, capsys):
    blobs, _ = runs
    moved = shutil.copy(datasets / "blobs.npz", tmp_path / "moved.npz")
    assert main(["export", str(blobs), "--data", str(moved), "--out", str(tmp_path / "site")]) == 0
    assert "exported" in capsys.readouterr().out and (tmp_path / "site" / "manifest.json").is_file()


# ---- sweeps ---------------------------------------------------------------------------------------------------


def test_a_sweep_on_own_data_runs_in_process(datasets, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--data", str(datasets / "blobs.npz"), "--sequential", "--out", str(out),
                 "--grid", "latent_dim=2,3", *QUICK]) == 0
    configs = [json.loads(p.read_text()) for p in sorted(out.glob("trials/*/seed-0/config.json"))]
    assert [c["model"]["latent_dim"] for c in configs] == [2, 3]
    assert all(c["data"]["path"] == str(datasets / "blobs.npz") and c["data"]["image_shape"] == [32, 32, 3]
               for c in configs)


def test_workers_get_small_own_data_through_the_object_store(datasets):
    path = f"data.path={json.dumps(str(datasets / 'blobs.npz'))}"
    trials = define_sweep(resolve_config(overrides=[path]), ["lr=1e-3,3e-3"], seeds=2).trials()
    log: list[str] = []
    shipped = execution.own_data_for_workers(trials, log.append)
    assert len(shipped) == 1 and not log  # four trials, one dataset: put once
    train, test = shipped[execution.data_key(trials[0].config)]
    assert train.images.shape == (240, 32, 32, 3) and len(test) == 80
    assert execution.own_data_for_workers(trials, log.append, limit=1000) == {}
    assert len(log) == 1 and "each worker reads it from this path" in log[0]
    hidden = define_sweep(resolve_config(overrides=[path, "data.labelled_fraction=0.5"]), [], seeds=2).trials()
    assert len(execution.own_data_for_workers(hidden, log.append)) == 2  # each seed hides other labels
