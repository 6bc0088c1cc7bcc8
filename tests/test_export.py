"""ONNX export and the site bundle: graphs equal torch, manifest facts, self-check, preprocessing."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.config.sources import preset_names
from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.mnist import load_split
from latentcraft.data.preprocess import FIT_SIDE, preprocess_drawing
from latentcraft.explorer import export as explorer
from latentcraft.explorer import onnx_graphs, site_bundle
from latentcraft.training.checkpoint import load_model
from latentcraft.training.trainer import train

TRAIN_IMAGES = 2000
SITE_DIGITS = 300


def quick_run(folder, preset, *overrides):
    """One epoch on TRAIN_IMAGES real digits: enough for graphs with real weights."""
    config = resolve_config(preset, overrides=["train.epochs=1", f"data.train_limit={TRAIN_IMAGES}",
                                               "data.test_limit=500", "train.threads=1", *overrides])
    train(config, folder, progress=False)
    return folder


@pytest.fixture(scope="session")
def routed_site(tmp_path_factory, mnist_dir):
    run = quick_run(tmp_path_factory.mktemp("routed"), "routed10-original")
    site = run / "site"
    return run, site, explorer.export_site(run, site, max_digits=SITE_DIGITS)


@pytest.fixture(scope="session")
def classifier_site(tmp_path_factory, mnist_dir):
    run = quick_run(tmp_path_factory.mktemp("clf"), "clf2d")
    site = run / "site"
    return run, site, explorer.export_site(run, site, max_digits=SITE_DIGITS)


@pytest.fixture(scope="session")
def conditional_site(tmp_path_factory, mnist_dir):
    run = quick_run(tmp_path_factory.mktemp("cvae"), "cvae2d")
    site = run / "site"
    return run, site, explorer.export_site(run, site, max_digits=SITE_DIGITS)


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_routed_manifest_describes_the_model(routed_site):
    run, site, manifest = routed_site
    on_disk = json.loads((site / explorer.MANIFEST_FILE).read_text())
    assert on_disk == manifest
    assert manifest["kind"] == "routed" and manifest["latent_dim"] == 10
    assert manifest["routes"] == [[k] for k in range(NUM_CLASSES)]
    assert manifest["coordinate_labels"] == [str(k) for k in range(NUM_CLASSES)]
    for slider in manifest["sliders"]:  # experiments.md §1: 0-3 step 0.1, stretched where codes reach further
        assert slider["min"] == 0.0 and slider["step"] == 0.1 and slider["max"] >= 3.0
    assert manifest["features"] == {"sliders": True, "drawing": True, "traversal": True, "plane": False}
    assert manifest["label_input"] is False and manifest["files"]["classifier"] is None
    assert manifest["image"] == {"height": IMAGE_SIDE, "width": IMAGE_SIDE, "channels": 1}
    assert manifest["class_names"] == [str(k) for k in range(NUM_CLASSES)] and manifest["item"] == "digit"
    assert "routing" in manifest["techniques"]
    assert set(manifest["check"]["max_abs_error"]) == {"encoder", "decoder"}
    assert all(0 <= err <= 1e-4 for err in manifest["check"]["max_abs_error"].values())
    for name in explorer.ORT_FILES:
        assert (site / explorer.VENDOR_DIR / name).stat().st_size > 0
    for page in ("index.html", "sliders.html", "plane.html", "traversal.html", "compare.html", "404.html", "style.css",
                 "pages/sliders.js", "lib/page.js", "lib/model.js", "lib/preprocess.js", "lib/boot.js"):
        assert (site / page).is_file(), page
    assert not (site / "chrome.html").exists() and not list((site / "pages").glob("*.html"))  # made into the pages


def test_digits_and_means_match_torch(routed_site):
    run, site, manifest = routed_site
    model = load_model(run)
    test = load_split("mnist", "test", limit=SITE_DIGITS)
    digits = np.frombuffer((site / explorer.DIGITS_FILE).read_bytes(), np.uint8).reshape(-1, IMAGE_PIXELS)
    labels = np.frombuffer((site / explorer.LABELS_FILE).read_bytes(), np.uint8)
    means = np.frombuffer((site / explorer.MEANS_FILE).read_bytes(), "<f4").reshape(-1, 10)
    assert manifest["digits"] == len(digits) == len(labels) == len(means) == SITE_DIGITS
    np.testing.assert_array_equal(digits, test.images.reshape(-1, IMAGE_PIXELS).numpy())
    np.testing.assert_array_equal(labels, test.labels.numpy())
    with torch.no_grad():
        mu, _ = model.encode(test.floats())
    np.testing.assert_allclose(means, mu.numpy(), atol=1e-5)


def test_encoder_and_decoder_graphs_equal_torch(routed_site):
    run, site, _ = routed_site
    model = load_model(run)
    x = load_split("mnist", "test", limit=32).floats()
    mu, logvar = session(site / explorer.ENCODER_FILE).run(None, {"x": x.numpy()})
    z = torch.randn(32, 10, generator=torch.Generator().manual_seed(1)) * 2
    (image,) = session(site / explorer.DECODER_FILE).run(None, {"z": z.numpy()})
    with torch.no_grad():
        want_mu, want_logvar = model.encode(x)
        want_image = torch.sigmoid(model.decode(model.latent_activation(z)))
    np.testing.assert_allclose(mu, want_mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(logvar, want_logvar.numpy(), atol=1e-5)
    np.testing.assert_allclose(image, want_image.numpy(), atol=1e-5)
    assert image.min() >= 0 and image.max() <= 1


def test_decoder_graph_applies_the_latent_relu(routed_site):
    _, site, _ = routed_site
    decoder = session(site / explorer.DECODER_FILE)
    z = np.array([[0.5, -2.0, 1.0, -0.1, 0, 0, -3.0, 0, 0, 0.2]], np.float32)
    (with_negatives,) = decoder.run(None, {"z": z})
    (clipped,) = decoder.run(None, {"z": np.maximum(z, 0)})
    np.testing.assert_array_equal(with_negatives, clipped)


def test_conditional_decoder_takes_a_label(conditional_site):
    run, site, manifest = conditional_site
    assert manifest["label_input"] is True and manifest["kind"] == "conditional"
    decoder = session(site / explorer.DECODER_FILE)
    assert [i.name for i in decoder.get_inputs()] == ["z", "label"]
    model = load_model(run)
    z = np.tile(np.array([[0.3, -0.7]], np.float32), (NUM_CLASSES, 1))
    (images,) = decoder.run(None, {"z": z, "label": np.eye(NUM_CLASSES, dtype=np.float32)})
    with torch.no_grad():
        want = torch.sigmoid(model.decode(torch.from_numpy(z), torch.arange(NUM_CLASSES))).numpy()
    np.testing.assert_allclose(images, want, atol=1e-5)
    assert np.abs(images[3] - images[7]).max() > 1e-3  # the label changes the output
    assert manifest["plane"]["regions"] is None and manifest["features"]["plane"] is True


def test_classifier_graph_and_decision_regions(classifier_site):
    run, site, manifest = classifier_site
    assert manifest["classifier"] is True
    assert set(manifest["check"]["max_abs_error"]) == {"encoder", "decoder", "classifier"}
    model = load_model(run)
    x = load_split("mnist", "test", limit=16).floats()
    with torch.no_grad():
        mu, _ = model.encode(x)
        want = model(x).extras["class_logits"]
    (logits,) = session(site / manifest["files"]["classifier"]).run(None, {"z": mu.numpy()})
    np.testing.assert_allclose(logits, want.numpy(), atol=1e-5)

    regions = manifest["plane"]["regions"]
    n = regions["resolution"]
    raster = np.frombuffer((site / regions["file"]).read_bytes(), np.uint8).reshape(n, n)
    x0, x1, y0, y1 = manifest["plane"]["extent"]
    head = model.techniques["classifier"].predict
    for row, col in [(0, 0), (n - 1, n - 1), (n // 3, 2 * n // 3), (n // 2, n // 5)]:
        point = torch.tensor([[x0 + (col + 0.5) / n * (x1 - x0), y1 - (row + 0.5) / n * (y1 - y0)]])
        with torch.no_grad():
            assert raster[row, col] == head(point).argmax().item()


def test_self_check_catches_a_mismatched_graph(routed_site, tmp_path, monkeypatch):
    run, _, _ = routed_site
    real_export = onnx_graphs.onnx_export

    def export_a_perturbed_copy(module, args, path, inputs, outputs):
        import copy

        twin = copy.deepcopy(module)
        with torch.no_grad():
            for p in twin.parameters():
                p.add_(1e-3)
        real_export(twin, args, path, inputs, outputs)

    monkeypatch.setattr(onnx_graphs, "onnx_export", export_a_perturbed_copy)
    with pytest.raises(explorer.ExportError, match="disagree on output"):
        explorer.export_site(run, tmp_path / "site", max_digits=64)


def test_check_graph_names_the_graph_and_output(routed_site):
    run, site, _ = routed_site
    model = load_model(run)
    x = load_split("mnist", "test", limit=8).floats().numpy()
    assert explorer.check_graph(site / explorer.ENCODER_FILE, model.encode, {"x": x}) <= explorer.CHECK_ATOL
    shifted = lambda t: tuple(v + 1e-3 for v in model.encode(t))  # noqa: E731
    with pytest.raises(explorer.ExportError, match=r"encoder.onnx.*'mu'"):
        explorer.check_graph(site / explorer.ENCODER_FILE, shifted, {"x": x})


def test_missing_runtime_is_a_clear_error(routed_site, tmp_path, monkeypatch):
    monkeypatch.setattr(site_bundle, "runtime_sources", lambda: [tmp_path / "nowhere"])
    with pytest.raises(explorer.ExportError, match="scripts/setup.sh"):
        explorer.find_runtime()


# ---- MNIST-style preprocessing (the reference for web/preprocess.js) -------------------------------


def stroke(height=280, width=280, rows=(40, 240), cols=(120, 150)):
    ink = np.zeros((height, width))
    ink[rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return ink


def test_preprocess_fits_the_ink_into_20_pixels_and_centres_its_mass():
    digit = preprocess_drawing(stroke())
    assert digit.shape == (IMAGE_SIDE, IMAGE_SIDE) and digit.dtype == np.float32
    rows = np.flatnonzero(digit.sum(1) > 0)
    cols = np.flatnonzero(digit.sum(0) > 0)
    assert rows[-1] - rows[0] + 1 == FIT_SIDE  # the long side is scaled to 20
    assert cols[-1] - cols[0] + 1 == 3  # aspect kept: 30/200 of 20
    ys, xs = np.indices(digit.shape)
    com = ((ys * digit).sum() / digit.sum(), (xs * digit).sum() / digit.sum())
    assert abs(com[0] - 13.5) <= 0.5 and abs(com[1] - 13.5) <= 0.5
    assert digit.max() == pytest.approx(1.0)


def test_preprocess_ignores_where_on_the_pad_the_digit_was_drawn():
    here = preprocess_drawing(stroke(rows=(10, 150), cols=(10, 60)))
    there = preprocess_drawing(stroke(rows=(120, 260), cols=(200, 250)))
    np.testing.assert_array_equal(here, there)


def test_preprocess_refuses_an_empty_drawing():
    with pytest.raises(ValueError, match="empty"):
        preprocess_drawing(np.zeros((280, 280)))


def test_routed_sliders_stretch_to_codes_past_three(routed_site):
    run, _, _ = routed_site
    model = load_model(run)
    mu = np.zeros((200, 10), dtype=np.float32)
    mu[:, 3] = np.linspace(0.0, 4.2, 200)  # one coordinate's codes reach 4.2
    ranges = site_bundle.slider_ranges(model, mu)
    assert ranges[3]["max"] == 4.5 and ranges[0]["max"] == 3.0
    assert all(r["min"] == 0.0 and r["step"] == 0.1 for r in ranges)


# ---- the self-check's tolerance, and every preset through export ------------------------------------


def test_check_graph_tolerance_is_relative_for_large_outputs(tmp_path):
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32) * 1000  # outputs of order 1000
    onnx_graphs.onnx_export(layer, (torch.from_numpy(x),), tmp_path / "big.onnx", ["x"], ["y"])
    # A float32 rounding-sized relative difference passes although it is far above CHECK_ATOL in absolute terms ...
    nudged = lambda t: (layer(t) * (1 + 3 * onnx_graphs.CHECK_RTOL / 10),)  # noqa: E731
    assert onnx_graphs.check_graph(tmp_path / "big.onnx", nudged, {"x": x}) > 10 * onnx_graphs.CHECK_ATOL
    # ... and a real disagreement fails, naming graph and output.
    wrong = lambda t: (layer(t) * (1 + 10 * onnx_graphs.CHECK_RTOL),)  # noqa: E731
    with pytest.raises(explorer.ExportError, match=r"big.onnx.*output 'y'"):
        onnx_graphs.check_graph(tmp_path / "big.onnx", wrong, {"x": x})


@pytest.fixture(scope="module")
def tiny_data(mnist_dir):
    return load_split("mnist", "train", limit=256), load_split("mnist", "test", limit=200)


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_exports_after_a_short_training(preset, tiny_data, tmp_path):
    config = resolve_config(preset, overrides=["train.epochs=1", "train.threads=1", "data.train_limit=256",
                                               "data.test_limit=200"])
    train(config, tmp_path / "run", progress=False, data=tiny_data)
    manifest = explorer.export_site(tmp_path / "run", tmp_path / "site", max_digits=100)
    assert manifest["name"] == preset and manifest["digits"] == 100
    graphs = {"encoder", "decoder"} | ({"classifier"} if config.classifier.enabled else set())
    assert set(manifest["check"]["max_abs_error"]) == graphs
    for name in graphs:
        assert (tmp_path / "site" / f"{name}.onnx").stat().st_size > 0
