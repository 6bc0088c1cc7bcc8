"""The real explorer pages in headless Chromium (Python Playwright), checked against onnxruntime in Python."""

import http.server
import os
import threading
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import onnxruntime as ort
import pytest

from latentcraft import export
from latentcraft.config import resolve_config
from latentcraft.preprocess import preprocess_drawing
from latentcraft.serve import make_server, url_for
from latentcraft.train import train

CHROMIUM = os.environ.get("LATENTCRAFT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITE_DIGITS = 200
PAGE_TIMEOUT_MS = 30_000
BROWSER_TOLERANCE = 1e-4  # browser (wasm) vs onnxruntime (CPU) on the same vector

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (set LATENTCRAFT_CHROMIUM)", allow_module_level=True)


def quick_site(folder: Path, preset: str) -> Path:
    config = resolve_config(preset, overrides=["train.epochs=1", "data.train_limit=2000", "data.test_limit=500",
                                               "train.threads=1"])
    train(config, folder, progress=False)
    export.export_site(folder, folder / "site", max_digits=SITE_DIGITS)
    return folder / "site"


def serve(site: Path, plain: bool = False):
    """latentcraft's server, or (plain=True) the standard library's, as `python -m http.server` runs it."""
    if plain:
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
        handler.log_message = lambda *a: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    else:
        server = make_server(site, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def routed(tmp_path_factory, mnist_dir):
    site = quick_site(tmp_path_factory.mktemp("web-routed"), "routed10-original")
    server = serve(site)
    yield site, server
    server.shutdown()


@pytest.fixture(scope="session")
def conditional(tmp_path_factory, mnist_dir):
    site = quick_site(tmp_path_factory.mktemp("web-cvae"), "cvae2d")
    server = serve(site)
    yield site, server
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page plus what it logged: console errors, page errors and every request's host."""

    def __init__(self, browser, url, viewport=(1100, 900)):
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors, self.hosts = [], set()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).hostname))
        self.page.goto(url)
        self.wait("window.lc && window.lc.ready")

    def js(self, expression):
        return self.page.evaluate(expression)

    def wait(self, expression, timeout_ms=PAGE_TIMEOUT_MS):
        # Polls with evaluate: the pages' CSP forbids the eval that wait_for_function uses.
        for _ in range(timeout_ms // 20):
            if self.js(f"!!({expression})"):
                return
            self.page.wait_for_timeout(20)
        raise AssertionError(f"timed out waiting for {expression}; page errors: {self.errors}")

    def assert_clean(self):
        assert self.errors == [] and self.js("window.lc.errors || []") == []
        assert self.hosts <= {"127.0.0.1"}, f"requests left 127.0.0.1: {self.hosts}"

    def close(self):
        self.page.close()


def ort_session(site, name):
    return ort.InferenceSession(str(site / name), providers=["CPUExecutionProvider"])


def canvas_pixels(page, selector):
    return page.js(f"Array.from(document.querySelector('{selector}').getContext('2d')"
                   f".getImageData(0, 0, 28, 28).data)")


def test_sliders_random_digit_and_live_decode_match_onnxruntime(routed, browser):
    site, server = routed
    page = Page(browser, url_for(server, "sliders.html"))
    page.page.click("#random")
    page.wait("window.lc.lastMu && window.lc.decodeCount >= 2")
    page.wait("window.lc.lastVector[0] === window.lc.lastMu[0]")

    # The sliders hold the encoding of the shown test digit, computed as Python computes it.
    index = page.js("window.lc.lastDigit")
    digits = np.frombuffer((site / export.DIGITS_FILE).read_bytes(), np.uint8).reshape(-1, 784)
    (mu, _) = ort_session(site, export.ENCODER_FILE).run(None, {"x": digits[index:index + 1] / np.float32(255)})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
    sliders = page.js("Array.from(document.querySelectorAll('#sliders input'), s => Number(s.value))")
    assert len(sliders) == 10
    np.testing.assert_allclose(sliders, np.clip(np.round(mu[0] / 0.1) * 0.1, 0, 3), atol=1e-6)

    # Moving a slider (keyboard) re-decodes, changes the canvas, and matches onnxruntime for that vector.
    before = canvas_pixels(page, "#output")
    count = page.js("window.lc.decodeCount")
    page.page.focus("#z3")
    for _ in range(15):
        page.page.keyboard.press("ArrowRight")
    page.wait(f"window.lc.decodeCount > {count} && Math.abs(window.lc.lastVector[3] - document.querySelector('#z3').value) < 1e-6")
    page.page.wait_for_timeout(100)  # let queued decodes settle
    vector = np.array(page.js("Array.from(window.lc.lastVector)"), np.float32)
    decoded = np.array(page.js("Array.from(window.lc.lastDecoded)"), np.float32)
    (want,) = ort_session(site, export.DECODER_FILE).run(None, {"z": vector[None]})
    np.testing.assert_allclose(decoded, want[0], atol=BROWSER_TOLERANCE)
    assert canvas_pixels(page, "#output") != before

    page.page.click("#reset")
    page.wait("Array.from(window.lc.lastVector).every(v => v === 0)")
    assert page.js("document.querySelector('#vector').textContent").startswith("z = [0.00")
    page.assert_clean()
    page.close()


def draw_stroke(page, points):
    box = page.page.locator("#pad").bounding_box()
    page.page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.page.mouse.down()
    for x, y in points[1:]:
        page.page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    page.page.mouse.up()


def test_drawing_is_preprocessed_and_encoded_as_in_python(routed, browser):
    site, server = routed
    page = Page(browser, url_for(server, "sliders.html"))
    draw_stroke(page, [(90, 60), (150, 50), (190, 90), (120, 170), (90, 230), (200, 225)])  # a "2"
    page.wait("window.lc.drawCount >= 1")
    height, width = page.js("window.lc.inkShape")
    ink = np.array(page.js("Array.from(window.lc.lastInk)"), np.float32).reshape(height, width)
    assert ink.max() == 1.0 and (ink > 0).mean() < 0.5

    digit = preprocess_drawing(ink)
    browser_digit = np.array(page.js("Array.from(window.lc.lastPreprocessed)"), np.float32)
    np.testing.assert_allclose(browser_digit, digit.reshape(-1), atol=1e-6)
    (mu, _) = ort_session(site, export.ENCODER_FILE).run(None, {"x": digit.reshape(1, -1)})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
    # The sliders now hold that encoding, and the page names the routed prediction (argmax of μ).
    page.wait("window.lc.lastVector && window.lc.lastVector[0] === window.lc.lastMu[0]")
    assert page.js("document.querySelector('#prediction').textContent") == str(int(np.argmax(mu[0])))
    page.assert_clean()
    page.close()


def test_plane_hover_decodes_and_label_picker_changes_the_output(conditional, browser):
    site, server = conditional
    page = Page(browser, url_for(server, "plane.html"))
    decoder = ort_session(site, export.DECODER_FILE)

    def decoded_for(label):
        point = np.array(page.js("window.lc.lastPoint"), np.float32)
        got = np.array(page.js("Array.from(window.lc.lastDecoded)"), np.float32)
        (want,) = decoder.run(None, {"z": point[None], "label": np.eye(10, dtype=np.float32)[[label]]})
        np.testing.assert_allclose(got, want[0], atol=BROWSER_TOLERANCE)
        return got

    box = page.page.locator("#plane").bounding_box()
    count = page.js("window.lc.decodeCount")
    page.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    page.wait(f"window.lc.decodeCount > {count}")
    page.page.wait_for_timeout(100)
    assert page.js("window.lc.lastPoint")[0] < 0  # left of centre on an extent centred near 0
    as_zero = decoded_for(0)

    count = page.js("window.lc.decodeCount")
    page.page.select_option("#label", "7")
    page.wait(f"window.lc.decodeCount > {count}")
    page.page.wait_for_timeout(100)
    as_seven = decoded_for(7)
    assert np.abs(as_zero - as_seven).max() > 1e-3

    # The all-ten view decodes the hovered style under every label at once.
    count = page.js("window.lc.decodeCount")
    page.page.check("#tens")
    page.wait(f"window.lc.decodeCount > {count} && window.lc.lastDecoded.length === 7840")
    # Keyboard: the focused plane moves the point with the arrow keys.
    x_before = page.js("window.lc.lastPoint[0]")
    page.page.focus("#plane")
    page.page.keyboard.press("ArrowRight")
    page.wait(f"window.lc.lastPoint[0] > {x_before}")
    page.page.check("#grid")
    page.page.wait_for_timeout(300)
    page.assert_clean()
    page.close()


def test_traversal_and_index_pages(routed, browser):
    site, server = routed
    page = Page(browser, url_for(server, "traversal.html"))
    page.page.select_option("#coordinate", "4")
    page.wait("window.lc.lastRows && window.lc.lastRows[0] === 4")
    assert len(page.js("Array.from(window.lc.lastDecoded)")) == 10 * 784
    page.page.select_option("#coordinate", "all")
    page.wait("window.lc.lastRows.length === 10")
    page.assert_clean()
    page.close()

    index = Page(browser, url_for(server, "index.html"))
    links = index.js("Array.from(document.querySelectorAll('#pages a'), a => a.getAttribute('href'))")
    assert links == ["sliders.html", "traversal.html"]  # no plane for a 10-D model
    index.assert_clean()
    index.close()


def test_pages_work_from_a_plain_static_server_and_a_narrow_screen(routed, browser):
    site, _ = routed
    server = serve(site, plain=True)
    try:
        page = Page(browser, url_for(server, "sliders.html"), viewport=(360, 740))
        page.page.click("#random")
        page.wait("window.lc.lastMu")
        assert page.js("document.documentElement.scrollWidth") <= 360  # nothing forces sideways scrolling
        page.assert_clean()
        page.close()
    finally:
        server.shutdown()


@pytest.mark.slow
def test_a_vertical_stroke_reads_as_one_with_a_trained_routed_model(tmp_path, browser, mnist_dir):
    from latentcraft.demo import ensure_demo_run

    run = ensure_demo_run(progress=False)  # the demo's fully trained routed model (trains once, cached)
    export.export_site(run, tmp_path / "site")
    server = serve(tmp_path / "site")
    try:
        page = Page(browser, url_for(server, "sliders.html"))
        draw_stroke(page, [(140, 40), (140, 240)])
        page.wait("window.lc.drawCount >= 1")
        assert page.js("window.lc.lastPrediction") == 1
        assert page.js("document.querySelector('#prediction').textContent") == "1"
        page.close()
    finally:
        server.shutdown()
