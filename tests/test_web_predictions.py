"""A prediction wherever the model can make one: the classifier head for clf2d-like models,
the argmax of the routed coordinates for routed ones; a per-digit score bar; and the input
panel marked stale once the sliders no longer hold its encoding."""

import json

import numpy as np

from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import url_for

from browser import BROWSER_TOLERANCE, Page, draw_stroke, ort_session, site_digits


def softmax(logits):
    e = np.exp(logits - logits.max())
    return e / e.sum()


def bar_heights(page):
    """The input's score bar (the sliders page has a second one, for the decoded image)."""
    return page.js("Array.from(document.querySelectorAll('#reading .scores .bar'), b => parseFloat(b.style.height))")


def chosen_column(page):
    return page.js("Array.from(document.querySelectorAll('#reading .scores .score'))"
                   ".findIndex(c => c.classList.contains('chosen'))")


def test_classifier_head_reads_test_digits_drawings_and_plane_points(classifier, browser):
    site, server = classifier
    head_file = json.loads((site / explorer.MANIFEST_FILE).read_text())["files"]["classifier"]
    encoder, head = ort_session(site, explorer.ENCODER_FILE), ort_session(site, head_file)

    def head_reading(mu):
        (logits,) = head.run(None, {"z": np.asarray(mu, np.float32)[None]})
        return softmax(logits[0].astype(np.float64))

    page = Page(browser, url_for(server, "sliders.html"))
    for i in (3, 11):
        page.js(f"window.lc.showDigit({i})")
        page.wait(f"window.lc.lastDigit === {i} && window.lc.inputStale === false")
        (mu, _) = encoder.run(None, {"x": site_digits(site)[i:i + 1] / np.float32(255)})
        want = head_reading(mu[0])
        np.testing.assert_allclose(page.js("window.lc.lastScores"), want, atol=BROWSER_TOLERANCE)
        assert page.js("window.lc.lastPrediction") == chosen_column(page) == int(want.argmax())
        assert page.js("document.querySelector('#prediction').textContent") == str(want.argmax())
        np.testing.assert_allclose(bar_heights(page), 100 * want / want.max(), atol=0.06)

    draw_stroke(page, [(140, 40), (140, 240)])
    page.wait("window.lc.drawCount === 1")
    page.wait("window.lc.lastPrediction !== null && window.lc.inputStale === false")
    assert page.js("window.lc.lastPrediction") == int(head_reading(page.js("Array.from(window.lc.lastMu)")).argmax())
    page.assert_clean()
    page.close()

    plane = Page(browser, url_for(server, "plane.html"))
    box = plane.page.locator("#plane").bounding_box()
    for fx, fy in [(0.3, 0.3), (0.7, 0.6)]:
        plane.page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        plane.wait("window.lc.predictedPoint && window.lc.predictedPoint === window.lc.lastPoint")
        point = plane.js("window.lc.lastPoint")
        assert plane.js("window.lc.lastPrediction") == int(head_reading(point).argmax())
    plane.assert_clean()
    plane.close()


def test_routed_prediction_score_bar_and_stale_input(routed, browser):
    site, server = routed
    page = Page(browser, url_for(server, "sliders.html"))
    assert page.js("document.querySelector('#input-figure').classList.contains('stale')") is False
    page.js("window.lc.showDigit(8)")
    page.wait("window.lc.lastDigit === 8 && window.lc.inputStale === false")
    mu = np.array(page.js("Array.from(window.lc.lastMu)"))
    assert page.js("window.lc.lastPrediction") == chosen_column(page) == int(mu.argmax())
    np.testing.assert_allclose(bar_heights(page), 100 * np.maximum(mu, 0) / mu.max(), atol=0.06)

    # A slider move leaves the input panel showing a digit the sliders no longer encode.
    page.page.focus("#z1")
    page.page.keyboard.press("ArrowRight")
    page.wait("window.lc.inputStale === true")
    assert page.js("document.querySelector('#input-figure').classList.contains('stale')")
    assert page.js("getComputedStyle(document.querySelector('.stale-badge')).visibility") == "visible"
    assert page.js("document.querySelector('#reading').classList.contains('stale')")
    page.js("window.lc.showDigit(9)")
    page.wait("window.lc.lastDigit === 9 && window.lc.inputStale === false")
    # Reset drops the input with the vector: nothing is stale, and no reading describes digit 9.
    page.page.click("#reset")
    page.wait("document.querySelector('#prediction').textContent === '–'")
    assert page.js("window.lc.inputStale") is False and chosen_column(page) == -1
    page.assert_clean()
    page.close()
