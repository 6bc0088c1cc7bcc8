"""The explorer on a user's own data: a 4-class RGB .npz of 32×24 images (colour blobs, cropped so height and
width differ) is trained for one epoch by the CLI, exported and served, and opened in Chromium. The site keeps
the run's shape and class names; the page's encode and decode equal onnxruntime's in Python, its canvases show
the test images pixel for pixel, and its text names the classes, not digits."""

import json
import shutil

import numpy as np
import pytest
import torch

from latentcraft.cli.main import main
from latentcraft.config.run_config import record_data, resolve_config
from latentcraft.data.source import load_config_data
from latentcraft.data.synthetic import colour_blobs
from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import SITE_SUBDIR, url_for
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt

from browser import BROWSER_TOLERANCE, Page, canvas_pixels, draw_stroke, move_slider, ort_session, serve

HEIGHT, WIDTH, CHANNELS = 32, 24, 3  # not square: a page or file that swaps height and width cannot pass
CLASSES = 4
FEATURES = CHANNELS * HEIGHT * WIDTH
TINY = ["--set", "model.encoder_hidden=[32]", "--set", "model.decoder_hidden=[32]", "--set", "train.threads=1",
        "--set", "train.epoch_images=3000",  # 10 passes over the 300 images, not the 200 that make a 60,000-image epoch
        "--epochs", "1", "--no-progress"]


def write_blobs(path):
    """300 training and 60 test images, 4 classes, cropped from 32×32 to 32 high × 24 wide."""
    train, test = colour_blobs(300, 32, CLASSES, seed=0), colour_blobs(60, 32, CLASSES, seed=1)
    crop = slice(4, 4 + WIDTH)
    np.savez_compressed(path, x_train=train.images[:, :, crop], y_train=train.labels, x_test=test.images[:, :, crop],
                        y_test=test.labels, class_names=np.array(train.class_names))
    return test.images[:, :, crop], test.labels, list(train.class_names)


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """(data .npz, test images (N, H, W, 3), test labels, class names, run folder, site folder, server)."""
    folder = tmp_path_factory.mktemp("own-data")
    data = folder / "blobs.npz"
    images, labels, names = write_blobs(data)
    run, site = folder / "run", folder / "site"
    assert main(["train", "--preset", "routed10", "--set", f"data.path={data}", *TINY, "--run-dir", str(run)]) == 0
    assert main(["evaluate", str(run), "--no-progress"]) == 0  # the whole chain: train, evaluate, export, page
    assert main(["export", str(run), "--out", str(site)]) == 0
    server = serve(site)
    yield data, images, labels, names, run, site, server
    server.shutdown()


def channel_first(images):
    """(N, H, W, C) uint8 -> (N, C·H·W) floats in [0, 1], as the models read images."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1).astype(np.float32) / np.float32(255)


def test_the_site_carries_the_runs_shape_classes_and_images(own):
    _, images, labels, names, run, site, _ = own
    record = json.loads((run / ckpt.EVAL_FILE).read_text())
    assert record["n_test"] == len(images) and record["confusion_matrix"] and len(record["confusion_matrix"]) == 4
    manifest = json.loads((site / explorer.MANIFEST_FILE).read_text())
    assert manifest["image"] == {"height": HEIGHT, "width": WIDTH, "channels": CHANNELS}
    assert manifest["class_names"] == names and manifest["coordinate_labels"] == names
    assert manifest["dataset"] == "blobs.npz" and manifest["item"] == "image"
    assert manifest["features"]["drawing"] is False  # white ink on black is no colour image
    assert manifest["routes"] == [[k] for k in range(CLASSES)] and manifest["digits"] == len(images)
    # The shipped pixels are channel-first, as the encoder reads them, in the test set's order.
    pixels = np.frombuffer((site / explorer.DIGITS_FILE).read_bytes(), np.uint8).reshape(-1, FEATURES)
    np.testing.assert_array_equal(pixels / np.float32(255), channel_first(images))
    np.testing.assert_array_equal(np.frombuffer((site / explorer.LABELS_FILE).read_bytes(), np.uint8), labels)
    encoder, decoder = ort_session(site, explorer.ENCODER_FILE), ort_session(site, explorer.DECODER_FILE)
    assert encoder.get_inputs()[0].shape == decoder.get_outputs()[0].shape == ["batch", FEATURES]
    (mu, _) = encoder.run(None, {"x": channel_first(images)})
    means = np.frombuffer((site / explorer.MEANS_FILE).read_bytes(), "<f4").reshape(len(images), -1)
    np.testing.assert_allclose(means, mu, atol=1e-5)


def untrained_site(preset, data, folder):
    """`preset` sized for `data` with untrained weights, exported (the export checks its graphs against torch)."""
    config = resolve_config(preset, overrides=[f"data.path={data}", "model.encoder_hidden=[32]",
                                               "model.decoder_hidden=[32]"])
    config = record_data(config, load_config_data(config, "train").shape)
    torch.manual_seed(0)
    ckpt.save_model(build_model(config), folder / "run")
    ckpt.write_json(folder / "run" / ckpt.SUMMARY_FILE, {"name": config.name, "epochs": 0, "final": {}})
    return explorer.export_site(folder / "run", folder / "site", max_digits=20)


def test_a_conditional_decoder_takes_one_hot_labels_of_the_runs_class_count(own, tmp_path):
    manifest = untrained_site("cvae2d", own[0], tmp_path)
    assert manifest["label_input"] is True and manifest["features"]["plane"] is True
    decoder = ort_session(tmp_path / "site", explorer.DECODER_FILE)
    assert {i.name: i.shape for i in decoder.get_inputs()} == {"z": ["batch", 2], "label": ["batch", CLASSES]}
    z = np.zeros((CLASSES, 2), np.float32)
    (images,) = decoder.run(None, {"z": z, "label": np.eye(CLASSES, dtype=np.float32)})
    assert images.shape == (CLASSES, FEATURES) and np.abs(images[0] - images[1:]).max() > 0  # the label matters


def test_a_site_sample_of_colour_images_exports_without_the_data(own, tmp_path):
    data, _, _, _, run, site, _ = own
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(SITE_SUBDIR))
    explorer.write_site_sample(copy)
    moved = data.rename(tmp_path / "elsewhere.npz")  # the export may not read the data now
    try:
        explorer.export_site(copy, tmp_path / "site")
    finally:
        moved.rename(data)
    for name in (explorer.DIGITS_FILE, explorer.LABELS_FILE, explorer.MEANS_FILE):
        assert (tmp_path / "site" / name).read_bytes() == (site / name).read_bytes(), name


def test_demo_exports_a_run_of_own_data(own, tmp_path, capsys):
    run = own[4]
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(SITE_SUBDIR))
    assert main(["demo", "--run-dir", str(copy), "--no-serve"]) == 0
    assert f"site folder: {copy / SITE_SUBDIR}" in capsys.readouterr().out
    assert json.loads((copy / SITE_SUBDIR / explorer.MANIFEST_FILE).read_text())["image"]["width"] == WIDTH


def test_the_page_reads_and_draws_colour_images_as_onnxruntime_and_names_the_classes(own, browser):
    _, images, labels, names, _, site, server = own
    page = Page(browser, url_for(server, "sliders.html"))
    index = 5
    page.js(f"window.lc.showDigit({index})")
    page.wait("window.lc.lastVector && window.lc.lastVector[0] === window.lc.lastMu[0] && window.lc.decodedReadFor")

    # The encoding of the shown image, computed as Python computes it; the input canvas is that image, exactly.
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": channel_first(images[index:index + 1])})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
    assert page.js("[document.querySelector('#input').width, document.querySelector('#input').height]") == \
        [WIDTH, HEIGHT]
    rgba = np.array(canvas_pixels(page, "#input"), np.uint8).reshape(HEIGHT, WIDTH, 4)
    np.testing.assert_array_equal(rgba[..., :3], images[index])
    # Shown large and whole: the box is at least 140 CSS px and scales the image without smoothing or stretching.
    style = page.js("(s => [s.width, s.height, s.objectFit, s.imageRendering])"
                    "(getComputedStyle(document.querySelector('#output')))")
    assert float(style[0][:-2]) >= 140 and float(style[1][:-2]) >= 140 and style[2:] == ["contain", "pixelated"]

    # A slider move decodes as onnxruntime does.
    vector = move_slider(page, 2, 5)
    (want,) = ort_session(site, explorer.DECODER_FILE).run(None, {"z": vector[None]})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastDecoded)"), want[0], atol=BROWSER_TOLERANCE)

    # The text names the classes: caption, reading, slider labels, restyle buttons; no drawing pad for colour.
    text = lambda selector: page.js(f"document.querySelector('{selector}').textContent")  # noqa: E731
    assert text("#input-caption") == f"test image #{index} (label {names[labels[index]]})"
    assert text("#reading-label") == f"Test image #{index} was read as" and text("#prediction") in names
    assert text("#random") == "Random image"
    slider_labels = page.js("Array.from(document.querySelectorAll('#slider-groups label'), e => e.textContent)")
    assert slider_labels == [f"z{k} · class {name}" for k, name in enumerate(names)]
    assert page.js("Array.from(document.querySelectorAll('#swap-buttons button'), b => b.textContent)") == names
    assert page.js("document.querySelector('#draw-panel').hidden") is True
    page.assert_clean()
    page.close()

    overview = Page(browser, url_for(server, "index.html"))
    facts = dict(zip(*(overview.js(f"Array.from(document.querySelectorAll('#facts {t}'), e => e.textContent)")
                       for t in ("dt", "dd"))))
    assert facts["images"] == f"{WIDTH}×{HEIGHT} RGB, {CLASSES} classes: {', '.join(names)}"
    assert "trained on blobs.npz" in facts["about"] and facts["test images shipped"] == str(len(images))
    overview.assert_clean()
    overview.close()


def test_the_traversal_decodes_every_coordinate_as_onnxruntime(own, browser):
    _, images, _, _, _, site, server = own
    page = Page(browser, url_for(server, "traversal.html#i=3&c=all"))
    page.wait(f"window.lc.lastRows && window.lc.lastRows.length === {CLASSES}")
    decoded = np.array(page.js("Array.from(window.lc.lastDecoded)"), np.float32).reshape(CLASSES, 10, FEATURES)
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": channel_first(images[3:4])})
    manifest = json.loads((site / explorer.MANIFEST_FILE).read_text())
    codes = np.repeat(mu, 10, axis=0)
    codes[:, 1] = np.linspace(manifest["sliders"][1]["min"], manifest["sliders"][1]["max"], 10, dtype=np.float32)
    (want,) = ort_session(site, explorer.DECODER_FILE).run(None, {"z": codes})
    np.testing.assert_allclose(decoded[1], want, atol=BROWSER_TOLERANCE)
    assert page.js("document.querySelector('#caption').textContent").startswith("test image #3, label ")
    page.assert_clean()
    page.close()


def test_grey_data_keeps_the_drawing_pad_and_fits_drawings_to_its_images(tmp_path, browser):
    height, width = 20, 16
    blobs = colour_blobs(80, 32, 3, seed=2)
    grey = blobs.images[:, 6:6 + height, 8:8 + width].mean(axis=-1).astype(np.uint8)  # (N, 20, 16)
    np.savez_compressed(tmp_path / "grey.npz", x_train=grey, y_train=blobs.labels,
                        class_names=np.array(blobs.class_names))
    manifest = untrained_site("routed10", tmp_path / "grey.npz", tmp_path)
    fit = manifest["drawing_fit"]
    assert manifest["features"]["drawing"] is True and fit == [14, 11]  # 20/28 of each side, as MNIST's 20 of 28
    server = serve(tmp_path / "site")
    try:
        page = Page(browser, url_for(server, "sliders.html"))
        assert page.js("document.querySelector('#draw-panel h2').textContent") == "Draw an image"
        draw_stroke(page, [(90, 60), (150, 50), (190, 90), (120, 170), (90, 230), (200, 225)])
        page.wait("window.lc.drawCount >= 1 && window.lc.lastMu")
        field = np.array(page.js("Array.from(window.lc.lastPreprocessed)"), np.float32).reshape(height, width)
        rows, cols = np.nonzero(field)
        assert field.max() == 1 and np.ptp(rows) < fit[0] and np.ptp(cols) < fit[1]  # the ink fits the box...
        centre = [(field.sum(axis=1) @ np.arange(height)), (field.sum(axis=0) @ np.arange(width))] / field.sum()
        assert np.abs(centre - [(height - 1) / 2, (width - 1) / 2]).max() <= 0.5  # ...centred by its mass
        (mu, _) = ort_session(tmp_path / "site", explorer.ENCODER_FILE).run(None, {"x": field.reshape(1, -1)})
        np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
        page.assert_clean()
        page.close()
    finally:
        server.shutdown()
