"""Phones and tablets: real touch strokes in a 390x844 touch viewport land on the pad, the
page neither scrolls nor shifts under the finger, and the shipped model reads a drawn 1."""

from browser import PHONE, Page, touch_stroke

from latentcraft.serve import url_for

SETTLE_MS = 150  # let the prediction, captions and sliders update after a stroke


def layout(page):
    """Where the pad and both digit figures are on screen, and how far the page is scrolled."""
    return page.js("""(() => {
        const box = (s) => { const r = document.querySelector(s).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
        return { pad: box('#pad'), input: box('#input'), output: box('#output'), scroll: window.scrollY };
    })()""")


def test_two_touch_strokes_at_one_spot_land_on_a_still_pad_and_read_as_one(pretrained, browser):
    _, server = pretrained
    page = Page(browser, url_for(server, "sliders.html"), viewport=PHONE, touch=True)
    page.page.locator("#pad").scroll_into_view_if_needed()
    before = layout(page)
    x, top, _, height = before["pad"]
    x += before["pad"][2] / 2  # a vertical stroke down the middle of the pad: a "1"
    stroke = [(x, top + 0.15 * height), (x + 2, top + 0.5 * height), (x + 4, top + 0.85 * height)]
    cdp = page.context.new_cdp_session(page.page)

    touch_stroke(cdp, stroke)
    page.wait("window.lc.drawCount === 1")
    page.page.wait_for_timeout(SETTLE_MS)
    after_first = layout(page)
    touch_stroke(cdp, stroke)  # the same screen positions again
    page.wait("window.lc.drawCount === 2")
    page.page.wait_for_timeout(SETTLE_MS)

    # Both strokes reached the pad as touch input, and nothing moved or scrolled.
    strokes = page.js("window.lc.pad.strokes.map((s) => s.length / 2)")
    assert len(strokes) == 2 and min(strokes) >= 5
    assert after_first == before and layout(page) == before
    assert page.js("window.lc.lastPrediction") == 1
    assert page.js("document.querySelector('#prediction').textContent") == "1"
    assert page.js("window.innerWidth") == page.js("document.documentElement.scrollWidth") == PHONE[0]
    page.assert_clean()
    page.close()
