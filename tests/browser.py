"""Helpers for the browser tests: serving a site, a Playwright page that records its errors
and requests, mouse and real touch strokes, canvas reads. Fixtures live in conftest.py."""

import http.server
import os
import threading
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import onnxruntime as ort
import pytest

from latentcraft.config.run_config import resolve_config
from latentcraft.explorer import export as explorer
from latentcraft.explorer.serve import make_server
from latentcraft.training.trainer import train

PlaywrightError = pytest.importorskip("playwright.sync_api").Error  # no Playwright: the browser tests skip
CHROMIUM = os.environ.get("LATENTCRAFT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITE_DIGITS = 200
PAGE_TIMEOUT_MS = 30_000
BROWSER_TOLERANCE = 1e-4  # browser (wasm) vs onnxruntime (CPU) on the same vector
PHONE = (390, 844)  # a phone's viewport, CSS pixels
TOUCH_DEVICE = {"has_touch": True, "is_mobile": True, "device_scale_factor": 2}


def quick_site(folder: Path, preset: str, overrides: tuple[str, ...] = ()) -> Path:
    """One epoch on 2,000 real digits, exported: real weights in a few seconds."""
    quick = {"train.epochs": "1", "data.train_limit": "2000", "data.test_limit": "500", "train.threads": "1"}
    given = {text.split("=", 1)[0] for text in overrides}  # an override replaces the quick setting (each key once)
    defaults = [f"{key}={value}" for key, value in quick.items() if key not in given]
    config = resolve_config(preset, overrides=[*defaults, *overrides])
    train(config, folder, progress=False)
    explorer.export_site(folder, folder / "site", max_digits=SITE_DIGITS)
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


class Page:
    """A page plus what it logged: console errors, page errors and every request's host."""

    def __init__(self, browser, url, viewport=(1100, 900), touch=False, wait_ready=True, tab_of=None, **context):
        """tab_of: open `url` as a new tab of that Page's browser context (its own context otherwise)."""
        size = {"width": viewport[0], "height": viewport[1]}
        options = {"viewport": size, **(TOUCH_DEVICE if touch else {}), **context}
        self.owns_context = tab_of is None
        self.context = browser.new_context(**options) if tab_of is None else tab_of.context
        self.page = self.context.new_page()
        self.errors, self.hosts = [], set()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlsplit(r.url).hostname))
        self.page.goto(url)
        if wait_ready:
            self.wait("window.lc && window.lc.ready")

    def js(self, expression):
        return self.page.evaluate(expression)

    def wait(self, expression, timeout_ms=PAGE_TIMEOUT_MS):
        # Polls with evaluate: the pages' CSP forbids the eval that wait_for_function uses.
        for _ in range(timeout_ms // 20):
            try:
                if self.js(f"!!({expression})"):
                    return
            except PlaywrightError as err:  # the page is reloading (e.g. another model picked): poll on
                if "context was destroyed" not in str(err):
                    raise
            self.page.wait_for_timeout(20)
        raise AssertionError(f"timed out waiting for {expression}; page errors: {self.errors}")

    def status(self):
        return self.js("document.querySelector('#status').textContent")

    def assert_clean(self):
        assert self.errors == [] and self.js("window.lc.errors || []") == []
        assert self.hosts <= {"127.0.0.1"}, f"requests left 127.0.0.1: {self.hosts}"

    def close(self):
        self.page.close()
        if self.owns_context:
            self.context.close()


def ort_session(site, name):
    return ort.InferenceSession(str(site / name), providers=["CPUExecutionProvider"])


def site_digits(site):
    return np.frombuffer((site / explorer.DIGITS_FILE).read_bytes(), np.uint8).reshape(-1, 784)


def canvas_pixels(page, selector):
    return page.js(f"(c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data))"
                   f"(document.querySelector('{selector}'))")


def move_slider(page, coordinate, presses):
    """Press ArrowRight `presses` times on slider z<coordinate>; the vector the page then decoded (settled)."""
    count = page.js("window.lc.decodeCount")
    page.page.focus(f"#z{coordinate}")
    for _ in range(presses):
        page.page.keyboard.press("ArrowRight")
    page.wait(f"window.lc.decodeCount > {count} && "
              f"Math.abs(window.lc.lastVector[{coordinate}] - document.querySelector('#z{coordinate}').value) < 1e-6")
    page.page.wait_for_timeout(100)  # let queued decodes settle
    return np.array(page.js("Array.from(window.lc.lastVector)"), np.float32)


def draw_stroke(page, points):
    """A mouse stroke through `points`, in CSS pixels from the pad's top-left corner."""
    box = page.page.locator("#pad").bounding_box()
    page.page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.page.mouse.down()
    for x, y in points[1:]:
        page.page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
    page.page.mouse.up()


def touch_stroke(cdp, points, steps=4):
    """A real finger stroke (CDP Input.dispatchTouchEvent) through `points`, in viewport CSS pixels."""
    def send(kind, x, y):
        touch = [] if kind == "touchEnd" else [{"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch})

    send("touchStart", *points[0])
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for s in range(1, steps + 1):
            send("touchMove", x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps)
    send("touchEnd", *points[-1])


# Elements whose text must show in full: their content may not overflow their box (clipped or spilling).
TEXT_BOXES = "figcaption, h2, .note, .reading, .reading-label, .prediction, .vector, #status, .swap, .scroll-hint"

CLIPPED = """(selector) => Array.from(document.querySelectorAll(selector))
    .filter((e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
    .filter((e) => e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1)
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${e.textContent.trim().slice(0, 60)}`
                + ` (${e.scrollWidth}x${e.scrollHeight} in ${e.clientWidth}x${e.clientHeight})`)"""


def clipped_text(page, selector=TEXT_BOXES):
    """The visible text boxes on the page whose content does not fit them (each described)."""
    return page.page.evaluate(CLIPPED, selector)


ON_SCREEN_WHILE_IN_VIEW = """([target, companion]) => {
    const inView = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
    const misses = [];
    let seen = 0;
    for (let y = 0; y <= document.documentElement.scrollHeight; y += 20) {
      window.scrollTo(0, y);
      const a = document.querySelector(target).getBoundingClientRect();
      if (!inView(a)) continue;
      seen += 1;
      if (!inView(document.querySelector(companion).getBoundingClientRect())) misses.push(window.scrollY);
    }
    window.scrollTo(0, 0);
    return { seen, misses };
}"""


def on_screen_while_in_view(page, target, companion):
    """Scrolls the page top to bottom: at how many positions `target` was fully on screen, and
    the scroll positions where it was while `companion` was not."""
    return page.page.evaluate(ON_SCREEN_WHILE_IN_VIEW, [target, companion])
