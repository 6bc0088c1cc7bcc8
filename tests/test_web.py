"""The real explorer pages in headless Chromium (Python Playwright), checked against onnxruntime in Python."""

import json

import numpy as np

from latentcraft.data.preprocess import preprocess_drawing
from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import url_for

from browser import BROWSER_TOLERANCE, Page, canvas_pixels, draw_stroke, move_slider, ort_session, serve, site_digits


def test_sliders_random_digit_and_live_decode_match_onnxruntime(routed, browser):
    site, server = routed
    page = Page(browser, url_for(server, "sliders.html"))
    page.page.click("#random")
    page.wait("window.lc.lastMu && window.lc.decodeCount >= 2")
    page.wait("window.lc.lastVector[0] === window.lc.lastMu[0]")

    # The sliders hold the encoding of the shown test digit, computed as Python computes it.
    index = page.js("window.lc.lastDigit")
    digits = site_digits(site)
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": digits[index:index + 1] / np.float32(255)})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
    sliders = page.js("Array.from(document.querySelectorAll('#slider-groups input'), s => Number(s.value))")
    assert len(sliders) == 10
    np.testing.assert_allclose(sliders, np.clip(np.round(mu[0] / 0.1) * 0.1, 0, 3), atol=1e-6)

    # Moving a slider (keyboard) re-decodes, changes the canvas, and matches onnxruntime for that vector.
    before = canvas_pixels(page, "#output")
    vector = move_slider(page, 3, 15)
    decoded = np.array(page.js("Array.from(window.lc.lastDecoded)"), np.float32)
    (want,) = ort_session(site, explorer.DECODER_FILE).run(None, {"z": vector[None]})
    np.testing.assert_allclose(decoded, want[0], atol=BROWSER_TOLERANCE)
    assert canvas_pixels(page, "#output") != before

    page.page.click("#reset")
    page.wait("Array.from(window.lc.lastVector).every(v => v === 0)")
    assert page.js("document.querySelector('#vector').textContent").startswith("z = [0.00")
    page.assert_clean()
    page.close()


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
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": digit.reshape(1, -1)})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
    # The sliders now hold that encoding, and the page names the routed prediction (argmax of μ).
    page.wait("window.lc.lastVector && window.lc.lastVector[0] === window.lc.lastMu[0]")
    assert page.js("document.querySelector('#prediction').textContent") == str(int(np.argmax(mu[0])))
    page.assert_clean()
    page.close()


def test_plane_hover_decodes_and_label_picker_changes_the_output(conditional, browser):
    site, server = conditional
    page = Page(browser, url_for(server, "plane.html"))
    decoder = ort_session(site, explorer.DECODER_FILE)

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
    # Facts read from the run and the runtime, not the preset's prose ("100 epochs", "experiments.md §1").
    cells = [index.js(f"Array.from(document.querySelectorAll('#facts {t}'), e => e.textContent)") for t in ("dt", "dd")]
    facts = dict(zip(*cells))
    assert "for 1 epoch " in facts["about"] and "experiments.md" not in " ".join(facts.values())
    version = json.loads((site / explorer.MANIFEST_FILE).read_text())["runtime"]["version"]
    assert version and facts["runtime"] == f"onnxruntime-web {version}"
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
