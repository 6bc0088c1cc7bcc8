"""The sliders page on the shipped 20-coordinate model, as a user test found it: two labelled readings
(what the input was read as, what the decoded image reads as now), Reset leaving no stale reading, a
tie shown as no class, and every text and the Clear button in view on a desktop and on a phone."""

import json

import numpy as np
import pytest

from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import url_for

from browser import BROWSER_TOLERANCE, PHONE, Page, clipped_text, on_screen_while_in_view, ort_session, site_digits

VIEWPORTS = {"desktop": {"viewport": (1100, 900)}, "phone": {"viewport": PHONE, "touch": True}}
SETTLE_MS = 150


def text(page, selector):
    return page.js(f"document.querySelector('{selector}').textContent")


def routed_reading(manifest, mu):
    """The routed argmax as the page reads it: the largest mean on each digit's routed coordinates."""
    scores = [max(mu[c] for c in coords) for coords in manifest["routes"]]
    return int(np.argmax(scores))


def decoded_reading(site, manifest, z):
    """What the decode of z reads as: decoder.onnx, then encoder.onnx on that image, then the routed argmax."""
    (image,) = ort_session(site, explorer.DECODER_FILE).run(None, {"z": np.asarray(z, np.float32)[None]})
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": image.reshape(1, -1)})
    return routed_reading(manifest, mu[0])


def settled(page):
    """Waits until the decoded reading belongs to the vector the sliders hold now."""
    page.wait("window.lc.decodedReadFor && window.lc.lastVector && Array.from(window.lc.lastVector)"
              ".every((v, k) => v === window.lc.decodedReadFor[k])")
    page.page.wait_for_timeout(SETTLE_MS)
    page.wait("Array.from(window.lc.lastVector).every((v, k) => v === window.lc.decodedReadFor[k])")


def test_the_input_and_the_decoded_image_get_their_own_labelled_readings(pretrained, browser):
    site, server = pretrained
    page = Page(browser, url_for(server, "sliders.html"))
    manifest = page.js("window.lc.manifest")
    page.js("window.lc.showDigit(17)")
    page.wait("window.lc.lastDigit === 17 && window.lc.inputStale === false")
    settled(page)
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": site_digits(site)[17:18] / np.float32(255)})
    assert text(page, "#reading-label") == "Test digit #17 was read as"
    assert text(page, "#prediction") == str(routed_reading(manifest, mu[0]))
    assert "decoded image reads as" in text(page, "#decoded-reading .reading-label")
    vector = np.array(page.js("Array.from(window.lc.lastVector)"), np.float32)
    assert page.js("window.lc.decodedPrediction") == decoded_reading(site, manifest, vector)

    # Sliders moved far from the input: the input's reading stays its own, the decoded one follows.
    own = routed_reading(manifest, mu[0])
    other = (own + 3) % 10
    page.page.focus(f"#z{own}")
    page.page.keyboard.press("Home")  # the input's own digit coordinate off ...
    page.page.focus(f"#z{other}")
    page.page.keyboard.press("End")  # ... another digit's all the way up
    page.wait(f"window.lc.lastVector[{other}] > 3 && window.lc.lastVector[{own}] === 0")
    settled(page)
    vector = np.array(page.js("Array.from(window.lc.lastVector)"), np.float32)
    want = decoded_reading(site, manifest, vector)
    assert want == other  # the decode now shows the other digit ...
    assert page.js("window.lc.decodedPrediction") == want
    assert text(page, "#decoded-prediction") == str(want)
    assert text(page, "#prediction") == str(own)  # ... while the input was read as its own
    assert text(page, "#reading-label") == "Test digit #17 was read as"
    page.assert_clean()
    page.close()


def test_reset_leaves_no_reading_of_an_earlier_input(pretrained, browser):
    site, server = pretrained
    page = Page(browser, url_for(server, "sliders.html"))
    manifest = page.js("window.lc.manifest")
    page.js("window.lc.showDigit(5)")
    page.wait("window.lc.lastDigit === 5 && window.lc.inputStale === false")
    settled(page)
    page.page.click("#reset")
    page.wait("Array.from(window.lc.lastVector).every(v => v === 0)")
    settled(page)
    assert text(page, "#prediction") == "–" and text(page, "#reading-label") == "The input was read as"
    assert page.js("window.lc.lastPrediction") is None
    assert page.js("document.querySelectorAll('#reading .score.chosen').length") == 0
    assert text(page, "#input-caption").startswith("input: press Random digit")
    assert page.js("window.lc.decodedPrediction") == decoded_reading(site, manifest, np.zeros(20))
    page.page.wait_for_timeout(300)
    assert "input=" not in page.js("location.hash")

    # A drawing too: Reset clears the pad, the input and its reading.
    box = page.page.locator("#pad").bounding_box()
    page.page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.page.mouse.down()
    page.page.mouse.move(box["x"] + 140, box["y"] + 240, steps=6)
    page.page.mouse.up()
    page.wait("window.lc.drawCount === 1 && window.lc.inputStale === false")
    assert text(page, "#reading-label") == "Your drawing was read as" and text(page, "#prediction") != "–"
    page.page.click("#reset")
    page.wait("window.lc.pad.strokes.length === 0 && document.querySelector('#prediction').textContent === '–'")
    settled(page)
    assert text(page, "#input-caption").startswith("input: press Random digit")
    page.assert_clean()
    page.close()


def test_a_tie_reads_as_no_class_on_the_sliders_page(pretrained, browser):
    _, server = pretrained
    page = Page(browser, url_for(server, "sliders.html"))
    tie = page.js("window.lc.model.predict(new Float32Array(20)).then(p => [p.predicted, p.values])")
    assert tie == [None, [0] * 10]  # an all-zero routed code ties every class
    # Every reading of this page made from a zero code: both readings show the tie as no class.
    page.js("(() => { const model = window.lc.model, predict = model.predict.bind(model);"
            " model.predict = (mu) => predict(new Float32Array(mu.length)); })()")
    page.js("window.lc.showDigit(3)")
    page.wait("window.lc.lastDigit === 3 && window.lc.inputStale === false")
    settled(page)
    for reading, prediction in (("#reading", "#prediction"), ("#decoded-reading", "#decoded-prediction")):
        assert text(page, prediction) == "no class (a tie)"
        assert page.js(f"document.querySelectorAll('{reading} .score.chosen').length") == 0
    assert page.js("window.lc.lastPrediction") is None and page.js("window.lc.decodedPrediction") is None
    assert clipped_text(page) == []
    page.assert_clean()
    page.close()


@pytest.mark.parametrize("device", VIEWPORTS)
def test_the_hint_the_readings_and_the_whole_vector_show_in_full(pretrained, browser, device):
    _, server = pretrained
    negative = ",".join(["-1.25"] * 20)  # the longest usual vector text: every value negative
    page = Page(browser, url_for(server, f"sliders.html#z={negative}"), **VIEWPORTS[device])
    page.page.wait_for_timeout(SETTLE_MS)
    assert text(page, "#input-caption") == "input: press Random digit or draw one"
    assert text(page, "#vector").count("-1.25") == 20
    assert clipped_text(page) == []  # the hint, the readings, and every line of the vector box
    for i in (0, 17, 42):
        page.js(f"window.lc.showDigit({i})")
        page.wait(f"window.lc.lastDigit === {i} && window.lc.inputStale === false")
        page.page.wait_for_timeout(SETTLE_MS)
        assert clipped_text(page) == [], i
    page.assert_clean()
    page.close()


@pytest.mark.parametrize("device", VIEWPORTS)
def test_clear_drawing_is_on_screen_whenever_the_pad_is(pretrained, browser, device):
    _, server = pretrained
    page = Page(browser, url_for(server, "sliders.html"), **VIEWPORTS[device])
    found = on_screen_while_in_view(page, "#pad", "#clear")
    assert found["seen"] > 0 and found["misses"] == [], found
    width, height = page.js("(() => { const r = document.querySelector('#pad').getBoundingClientRect();"
                            " return [r.width, r.height]; })()")
    assert abs(width - height) < 1  # the pad stays square when it shrinks to make room
    assert page.js("document.documentElement.scrollWidth") <= page.js("window.innerWidth")
    page.assert_clean()
    page.close()


def test_the_classifier_heads_reading_of_a_decode_matches_onnxruntime(classifier, browser):
    site, server = classifier
    head_file = json.loads((site / explorer.MANIFEST_FILE).read_text())["files"]["classifier"]
    page = Page(browser, url_for(server, "sliders.html#z=1.5,-0.5"))
    settled(page)
    (image,) = ort_session(site, explorer.DECODER_FILE).run(None, {"z": np.array([[1.5, -0.5]], np.float32)})
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": image.reshape(1, -1)})
    (logits,) = ort_session(site, head_file).run(None, {"z": mu})
    probabilities = np.exp(logits[0] - logits[0].max()) / np.exp(logits[0] - logits[0].max()).sum()
    np.testing.assert_allclose(page.js("window.lc.decodedScores"), probabilities, atol=BROWSER_TOLERANCE)
    assert page.js("window.lc.decodedPrediction") == int(probabilities.argmax())
    page.assert_clean()
    page.close()
