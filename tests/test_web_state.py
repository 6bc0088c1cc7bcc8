"""Shareable state: each page keeps its view in the URL, and opening that URL in a new tab
reproduces it exactly (same vector, same input, same pixels); "Copy link" copies it."""

from latentcraft.explorer.serve import url_for

from browser import Page, canvas_pixels, draw_stroke

SETTLE_MS = 300  # longer than the pages' hash-write delay


def view(page, *selectors):
    """What a reader sees: the decoded vector, captions, prediction, staleness, the canvases."""
    return {
        "vector": page.js("Array.from(window.lc.lastVector)"),
        "text": page.js("Array.from(document.querySelectorAll('figcaption, .prediction, h2, .row-label, .columns'),"
                        " e => e.textContent)"),
        "stale": page.js("window.lc.inputStale ?? null"),
        "pressed": page.js("Array.from(document.querySelectorAll('[aria-pressed=true]'), b => b.textContent)"),
        "pixels": [canvas_pixels(page, s) for s in selectors],
    }


def reopen(browser, page):
    """The page's URL, opened in a new tab once the page has written it."""
    page.page.wait_for_timeout(SETTLE_MS)
    url = page.js("location.href")
    assert "#" in url
    return Page(browser, url, tab_of=page)


# A checksum of the drawing pad's pixels, computed in the page (280x280x4 values are slow to ship).
PAD_CHECKSUM = """(() => {
    const data = document.querySelector('#pad').getContext('2d').getImageData(0, 0, 280, 280).data;
    let hash = 2166136261;
    for (const v of data) hash = Math.imul(hash ^ v, 16777619) >>> 0;
    return [hash, data.reduce((a, b) => a + b, 0)];
})()"""


def test_sliders_state_survives_a_new_tab(routed, browser):
    _, server = routed
    page = Page(browser, url_for(server, "sliders.html"))
    page.js("window.lc.showDigit(17)")
    page.wait("window.lc.lastDigit === 17 && window.lc.inputStale === false")
    page.page.focus("#z2")
    for _ in range(7):
        page.page.keyboard.press("ArrowRight")
    page.page.click("#swap-buttons button:nth-child(4)")  # the same style as a 3
    page.wait("window.lc.inputStale === true")
    page.page.wait_for_timeout(100)
    before = view(page, "#input", "#output")
    assert before["pressed"] == ["3"] and before["text"][0].startswith("test digit #17")

    again = reopen(browser, page)
    again.wait("window.lc.lastDigit === 17")
    assert view(again, "#input", "#output") == before
    again.close()
    page.close()


def test_a_drawing_survives_a_new_tab(routed, browser):
    _, server = routed
    page = Page(browser, url_for(server, "sliders.html"))
    draw_stroke(page, [(90, 60), (150, 50), (190, 90), (120, 170), (90, 230), (200, 225)])
    draw_stroke(page, [(60, 140), (220, 140)])
    page.wait("window.lc.drawCount === 2")
    page.page.wait_for_timeout(100)
    before = view(page, "#input", "#output")
    pad = page.js(PAD_CHECKSUM)
    assert pad[1] > 0  # ink on the pad

    again = reopen(browser, page)
    again.wait("window.lc.drawCount === 1")
    assert view(again, "#input", "#output") == before
    assert again.js(PAD_CHECKSUM) == pad
    assert again.js("window.lc.inputStale") is False
    again.close()
    page.close()


def test_plane_and_traversal_state_survive_a_new_tab(conditional, routed, browser):
    _, server = conditional
    page = Page(browser, url_for(server, "plane.html"))
    box = page.page.locator("#plane").bounding_box()
    page.page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.35)
    page.page.select_option("#label", "7")
    page.page.check("#tens")
    page.wait("window.lc.lastDecoded.length === 7840")
    page.page.wait_for_timeout(100)
    point = page.js("window.lc.lastPoint")
    before = view(page, "#output")
    again = reopen(browser, page)
    again.wait("window.lc.lastDecoded.length === 7840")
    again.page.wait_for_timeout(100)
    assert again.js("window.lc.lastPoint") == point
    assert again.js("[document.querySelector('#label').value, document.querySelector('#tens').checked]") == ["7", True]
    assert view(again, "#output") == before
    again.close()
    page.close()

    _, server = routed
    page = Page(browser, url_for(server, "traversal.html"))
    page.page.fill("#index", "42")
    page.page.select_option("#coordinate", "all")
    page.wait("window.lc.lastRows.length === 10")
    before = page.js("[document.querySelector('#index').value, Array.from(window.lc.lastDecoded)]")
    again = reopen(browser, page)
    again.wait("window.lc.lastRows.length === 10")
    assert again.js("[document.querySelector('#index').value, Array.from(window.lc.lastDecoded)]") == before
    again.close()
    page.close()


def test_copy_link_copies_the_current_view(routed, browser):
    _, server = routed
    page = Page(browser, url_for(server, "sliders.html"), permissions=["clipboard-read", "clipboard-write"])
    page.js("window.lc.showDigit(5)")
    page.wait("window.lc.lastDigit === 5")
    page.page.click("#copy-link")
    page.wait("window.lc.copiedLink")
    copied = page.js("navigator.clipboard.readText()")
    assert copied == page.js("location.href") and "input=5" in copied and "z=" in copied
    page.assert_clean()
    page.close()
