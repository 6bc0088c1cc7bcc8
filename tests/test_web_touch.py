"""Phones and tablets: real touch strokes in a 390x844 touch viewport land on the pad, the
page neither scrolls nor shifts under the finger, and the shipped model reads a drawn 1."""

from latentcraft.explorer.serve import url_for

from browser import PHONE, Page, touch_stroke

SETTLE_MS = 150  # let the prediction, captions and sliders update after a stroke


def layout(page):
    """Where the pad and both digit figures are on screen, and how far the page is scrolled."""
    return page.js("""(() => {
        const box = (s) => {
          const r = document.querySelector(s).getBoundingClientRect(); return [r.x, r.y, r.width, r.height];
        };
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


def test_dragging_a_finger_on_the_plane_decodes_with_the_decode_in_view(conditional, browser):
    _, server = conditional
    page = Page(browser, url_for(server, "plane.html"), viewport=PHONE, touch=True)
    page.page.locator("#plane").scroll_into_view_if_needed()
    x, y, width, height = page.js("(() => { const r = document.querySelector('#plane').getBoundingClientRect(); "
                                  "return [r.x, r.y, r.width, r.height]; })()")
    scroll, count = page.js("window.scrollY"), page.js("window.lc.decodeCount")
    cdp = page.context.new_cdp_session(page.page)
    touch_stroke(cdp, [(x + 0.2 * width, y + 0.3 * height), (x + 0.8 * width, y + 0.7 * height)])
    page.wait(f"window.lc.decodeCount > {count + 3}")
    top, bottom = page.js("(() => { const r = document.querySelector('#output').getBoundingClientRect(); "
                          "return [r.top, r.bottom]; })()")
    assert 0 <= top and bottom <= PHONE[1]  # the decode is on screen while the finger moves
    assert page.js("window.scrollY") == scroll
    x0, x1, _, _ = page.js("window.lc.manifest.plane.extent")
    assert page.js("window.lc.lastPoint")[0] > (x0 + x1) / 2  # the finger ended right of centre
    page.assert_clean()
    page.close()
