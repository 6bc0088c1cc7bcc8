"""Several models in one site: the overview lists each with its metrics, every page has a
model picker, and the compare view decodes the same input or vector with two models, each
equal to onnxruntime in Python."""

import json

import numpy as np
import pytest

from latentcraft.evaluation.registry import metric_label
from latentcraft.explorer import export as explorer
from latentcraft.explorer.pretrained import DEFAULT_MODEL, pretrained_run
from latentcraft.explorer.serve import url_for

from browser import (
    BROWSER_TOLERANCE,
    PHONE,
    Page,
    clipped_text,
    on_screen_while_in_view,
    ort_session,
    serve,
    site_digits,
)

SITE_DIGITS = 100


@pytest.fixture(scope="session")
def several(routed, classifier, conditional, tmp_path_factory):
    """The shipped model, a quick routed10-original, clf2d and cvae2d, exported into one site."""
    runs = [pretrained_run(), routed[0].parent, classifier[0].parent, conditional[0].parent]
    site = tmp_path_factory.mktemp("web-several") / "site"
    manifest = explorer.export_sites(runs, site, max_digits=SITE_DIGITS)
    server = serve(site)
    yield site, server, manifest
    server.shutdown()


def model_dir(site, manifest, name):
    return site / next(m["dir"] for m in manifest["models"] if m["name"] == name)


def test_several_models_share_one_runtime_and_list_their_metrics(several, browser):
    site, server, manifest = several
    assert [m["name"] for m in manifest["models"]] == [DEFAULT_MODEL, "routed10-original", "clf2d", "cvae2d"]
    assert json.loads((site / explorer.MANIFEST_FILE).read_text()) == manifest
    assert all((model_dir(site, manifest, m["name"]) / explorer.ENCODER_FILE).is_file() for m in manifest["models"])
    assert not (site / explorer.ENCODER_FILE).exists() and (site / explorer.VENDOR_DIR).is_dir()
    shipped = json.loads((pretrained_run() / "eval.json").read_text())["metrics"]
    assert manifest["models"][0]["metrics"]["test_argmax_accuracy"] == shipped["test_argmax_accuracy"]

    page = Page(browser, url_for(server, "index.html"))
    rows = page.js("Array.from(document.querySelectorAll('#models tbody tr'), "
                   "r => Array.from(r.cells, c => c.textContent))")
    assert [r[0] for r in rows] == [DEFAULT_MODEL, "routed10-original", "clf2d", "cvae2d"]
    # The columns are the manifest's, labelled and formatted as the metric registry says.
    header = page.js("Array.from(document.querySelectorAll('#models thead th'), c => c.textContent)")
    accuracy = rows[0][header.index(metric_label("test_argmax_accuracy"))]
    assert accuracy == f"{100 * shipped['test_argmax_accuracy']:.2f}%"  # accuracies read as percentages
    head = rows[2][header.index(metric_label("test_classifier_accuracy"))]  # from clf2d's training summary
    assert head.endswith("%") and 0 < float(head[:-1]) <= 100
    assert rows[0][header.index(metric_label("test_classifier_accuracy"))] == "—"  # no head: no number
    page.assert_clean()
    page.close()


def test_the_model_picker_opens_another_model(several, browser):
    site, server, manifest = several
    page = Page(browser, url_for(server, "sliders.html"))
    assert page.js("window.lc.manifest.name") == DEFAULT_MODEL
    page.page.select_option("#model", "clf2d")  # another model: the page reloads
    page.wait("window.lc && window.lc.ready && window.lc.manifest.name === 'clf2d'")
    assert page.js("location.hash").startswith("#model=clf2d")
    page.js("window.lc.showDigit(4)")
    page.wait("window.lc.lastDigit === 4 && window.lc.inputStale === false")
    folder = model_dir(site, manifest, "clf2d")
    (mu, _) = ort_session(folder, explorer.ENCODER_FILE).run(None, {"x": site_digits(folder)[4:5] / np.float32(255)})
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastMu)"), mu[0], atol=BROWSER_TOLERANCE)
    page.assert_clean()
    page.close()


def test_compare_decodes_one_input_and_one_vector_with_both_models(several, browser):
    site, server, manifest = several
    left, right = "routed10-original", DEFAULT_MODEL  # 10 digit coordinates; the same 10 plus 10 style ones
    page = Page(browser, url_for(server, f"compare.html#a={left}&b={right}"))
    sides = {name: model_dir(site, manifest, name) for name in (left, right)}
    x = site_digits(sides[left])[7:8] / np.float32(255)

    def decoded(side):
        return np.array(page.js(f"Array.from(window.lc.compare.{side}.decoded)"), np.float32)

    def ort_decode(name, z):
        return ort_session(sides[name], explorer.DECODER_FILE).run(None, {"z": np.asarray(z, np.float32)[None]})[0][0]

    # The same test digit: each model encodes it and decodes its own code.
    page.js("window.lc.showDigit(7)")
    page.wait("window.lc.compare.a.decoded && window.lc.hash && window.lc.hash.includes('input=7')")
    for side, name in (("a", left), ("b", right)):
        (mu, _) = ort_session(sides[name], explorer.ENCODER_FILE).run(None, {"x": x})
        np.testing.assert_allclose(decoded(side), ort_decode(name, mu[0]), atol=BROWSER_TOLERANCE)

    # A slider move: both decode the left model's vector (same coordinate names: the same vector).
    page.page.focus("#z3")
    for _ in range(10):
        page.page.keyboard.press("ArrowRight")
    page.wait("window.lc.hash.includes('mode=vector') && "
              "Math.abs(window.lc.compare.a.code[3] - document.querySelector('#z3').value) < 1e-6")
    page.page.wait_for_timeout(200)
    vector = np.array(page.js("Array.from(window.lc.compare.a.code)"), np.float32)
    padded = np.concatenate([vector, np.zeros(10, np.float32)])  # the style coordinates the left lacks are 0
    np.testing.assert_array_equal(page.js("Array.from(window.lc.compare.b.code)"), padded)
    for side, name, code in (("a", left, vector), ("b", right, padded)):
        np.testing.assert_allclose(decoded(side), ort_decode(name, code), atol=BROWSER_TOLERANCE)
    assert np.abs(decoded("a") - decoded("b")).max() > 1e-3  # two different decoders
    page.assert_clean()
    page.close()


def test_the_plane_decodes_the_hovered_point_with_a_second_model(several, browser):
    site, server, manifest = several
    page = Page(browser, url_for(server, "plane.html#model=clf2d&hl=6&vs=cvae2d"))
    page.wait("window.lc.otherDecoded")
    box = page.page.locator("#plane").bounding_box()
    page.page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.7)
    page.wait("window.lc.otherPoint && window.lc.otherPoint[0] === window.lc.lastPoint[0]")
    page.page.wait_for_timeout(100)
    point = np.array(page.js("window.lc.lastPoint"), np.float32)[None]
    (clf,) = ort_session(model_dir(site, manifest, "clf2d"), explorer.DECODER_FILE).run(None, {"z": point})
    (cvae,) = ort_session(model_dir(site, manifest, "cvae2d"), explorer.DECODER_FILE).run(
        None, {"z": point, "label": np.eye(10, dtype=np.float32)[[6]]})  # the highlighted digit
    np.testing.assert_allclose(page.js("Array.from(window.lc.lastDecoded)"), clf[0], atol=BROWSER_TOLERANCE)
    np.testing.assert_allclose(page.js("Array.from(window.lc.otherDecoded)"), cvae[0], atol=BROWSER_TOLERANCE)
    page.assert_clean()
    page.close()


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_compare_shows_ties_as_no_class_full_captions_and_a_labelled_pad(several, browser, device):
    _, server, _ = several
    size = {"viewport": (1100, 900)} if device == "desktop" else {"viewport": PHONE, "touch": True}
    page = Page(browser, url_for(server, f"compare.html#a={DEFAULT_MODEL}&b=routed10-original"), **size)
    # The start: both decode the all-zero vector, which ties every class of a routed model.
    assert page.js("Array.from(document.querySelectorAll('.model-column .prediction'), p => p.textContent)") == [
        "no class (a tie)"] * 2
    assert page.js("document.querySelectorAll('.model-column .score.chosen').length") == 0
    assert page.js("[window.lc.compare.a.prediction, window.lc.compare.b.prediction]") == [None, None]
    # Every caption in full, the right one in the shared-vector mode too.
    assert "matched by coordinate name" in page.js("document.querySelector('#column-b figcaption').textContent")
    assert clipped_text(page) == []
    page.js("window.lc.showDigit(7)")
    page.wait("window.lc.hash && window.lc.hash.includes('input=7')")
    assert clipped_text(page) == []
    # The pad has a visible label above it and an accessible name, and its Clear button stays in view.
    label = page.page.locator("#pad-title")
    assert label.is_visible() and label.text_content() == "Draw a digit"
    assert label.bounding_box()["y"] < page.page.locator("#pad").bounding_box()["y"]
    assert page.page.get_by_label("drawing pad").count() == 1
    found = on_screen_while_in_view(page, "#pad", "#clear")
    assert found["seen"] > 0 and found["misses"] == [], found

    # Reset: the zero vector again, and the input shown before is gone.
    page.page.click("#reset")
    page.wait("window.lc.hash && !window.lc.hash.includes('input=') && window.lc.hash.includes('mode=vector')")
    assert page.js("document.querySelector('#input-caption').textContent") == "input"
    assert page.js("[window.lc.compare.a.prediction, window.lc.compare.b.prediction]") == [None, None]
    page.assert_clean()
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, (2400, 900)])
def test_the_overview_table_says_when_it_scrolls(several, browser, viewport):
    _, server, _ = several
    page = Page(browser, url_for(server, "index.html"), viewport=viewport, touch=viewport == PHONE)
    if viewport != PHONE:  # room for every column: the page at the full width of a wide screen
        page.js("document.querySelector('main').style.maxWidth = 'none'")
        page.page.wait_for_timeout(100)  # the hint follows the box's size (a ResizeObserver)
    box = "document.querySelector('#models-scroll')"
    overflows = page.js(f"{box}.scrollWidth > {box}.clientWidth + 1")
    hint = page.page.locator("#scroll-hint")
    assert overflows == (viewport == PHONE)  # a phone hides columns; a wide screen shows them all
    assert hint.is_visible() == overflows
    if overflows:
        assert "scroll →" in hint.text_content()
        hint_box = hint.bounding_box()
        assert hint_box["x"] >= 0 and hint_box["x"] + hint_box["width"] <= viewport[0]
        assert page.js("getComputedStyle(document.querySelector('#models-scroll')).overflowX") == "auto"
        page.js(f"{box}.scrollLeft = {box}.scrollWidth")  # at the last column there is nothing more to find
        page.wait("document.querySelector('#scroll-hint').hidden")
    assert page.js("document.documentElement.scrollWidth") <= viewport[0]  # only the table scrolls
    page.assert_clean()
    page.close()
