"""A routed model with style coordinates in the browser: digit and style slider groups, the measured
style labels, and "same style, another digit" computed as style_metrics.restyle computes it."""

import json

import numpy as np
import torch

from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import url_for
from latentcraft.techniques.style.readouts import code_functions, restyle
from latentcraft.training.checkpoint import load_model

from browser import BROWSER_TOLERANCE, Page, draw_stroke, ort_session, site_digits

DIGIT = 17  # a shipped test digit


def manifest_of(site):
    return json.loads((site / explorer.MANIFEST_FILE).read_text())


def restyled_in_the_page(page, k):
    """Press digit k under "same style, another digit" and return (vector, decoded image) once decoded."""
    page.page.click(f"#swap-buttons button:nth-child({k + 1})")
    page.wait(f"window.lc.inputStale === true && window.lc.lastVector "
              f"&& document.querySelector('#swap-buttons button:nth-child({k + 1})').ariaPressed === 'true'")
    page.page.wait_for_timeout(100)  # let queued decodes settle
    return (np.array(page.js("Array.from(window.lc.lastVector)"), np.float32),
            np.array(page.js("Array.from(window.lc.lastDecoded)"), np.float32))


def check_restyle(site, image, k, vector, decoded):
    """The page's result equals encoder.onnx -> routed part := the manifest's row k -> decoder.onnx,
    and the torch reference (style_metrics.restyle) on the same image."""
    table = manifest_of(site)["digit_codes"]
    routed, row = table["coordinates"], np.array(table["codes"][k], np.float32)
    (mu, _) = ort_session(site, explorer.ENCODER_FILE).run(None, {"x": image[None]})
    code = mu.copy()
    code[:, routed] = row
    np.testing.assert_allclose(vector, code[0], atol=BROWSER_TOLERANCE)  # style part kept, routed part replaced
    (want,) = ort_session(site, explorer.DECODER_FILE).run(None, {"z": code})
    np.testing.assert_allclose(decoded, want[0], atol=BROWSER_TOLERANCE)

    encode, decode = code_functions(load_model(site.parent).float())
    reference = restyle(encode, decode, torch.from_numpy(image[None]), routed, torch.from_numpy(row), k)
    np.testing.assert_allclose(decoded, reference[0].numpy(), atol=BROWSER_TOLERANCE)


def test_same_style_other_digit_matches_onnxruntime_and_the_python_reference(routed_style, browser):
    site, server = routed_style
    page = Page(browser, url_for(server, "sliders.html"))
    page.js(f"window.lc.showDigit({DIGIT})")
    page.wait(f"window.lc.lastDigit === {DIGIT} && window.lc.inputStale === false")
    image = site_digits(site)[DIGIT] / np.float32(255)
    label = int(np.frombuffer((site / explorer.LABELS_FILE).read_bytes(), np.uint8)[DIGIT])
    for k in ((label + 1) % 10, (label + 5) % 10):
        check_restyle(site, image, k, *restyled_in_the_page(page, k))
    page.assert_clean()
    page.close()


def test_a_drawing_is_re_rendered_as_another_digit_in_its_style(routed_style, browser):
    site, server = routed_style
    page = Page(browser, url_for(server, "sliders.html"))
    draw_stroke(page, [(140, 40), (120, 140), (100, 240)])  # a slanted 1
    page.wait("window.lc.drawCount === 1 && window.lc.inputStale === false")
    image = np.array(page.js("Array.from(window.lc.lastPreprocessed)"), np.float32)
    check_restyle(site, image, 8, *restyled_in_the_page(page, 8))
    page.assert_clean()
    page.close()


def test_digit_and_style_groups_carry_the_measured_labels(routed_style, browser):
    site, server = routed_style
    manifest = manifest_of(site)
    page = Page(browser, url_for(server, "sliders.html"))
    groups = page.js("Array.from(document.querySelectorAll('#slider-groups fieldset'), f => "
                     "[f.className, Array.from(f.querySelectorAll('label'), l => [l.textContent, l.title])])")
    assert [name for name, _ in groups] == ["group group-digit", "group group-style"]
    digit_labels, style_labels = groups[0][1], groups[1][1]
    assert [text for text, _ in digit_labels] == [f"z{k} · digit {k}" for k in range(10)]
    assert [label["coordinate"] for label in manifest["style_labels"]] == list(range(10, 20))
    assert [text for text, _ in style_labels] == [f"z{s['coordinate']} · style: {s['label']}"
                                                  for s in manifest["style_labels"]]
    assert all("slant" in title and "within-digit" in title for _, title in style_labels)
    page.assert_clean()
    page.close()

