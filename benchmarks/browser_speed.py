"""Explorer speed in headless Chromium: decode per slider move, and page ready to first decode.

    .venv/bin/python benchmarks/browser_speed.py [--run-dir RUN] [--moves 300]

Without --run-dir it exports an untrained model of the routed10 size (MLP
784-2048-512-10 encoder, 10-512-2048-784 decoder): speed does not depend on
the weights. Targets (issue 5): median decode under 1 ms; ready under 2 s cold.
Not a timed test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
from pathlib import Path

import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.explorer.export import export_site
from latentcraft.explorer.serve import make_server, url_for
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import save_model

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIZE_PRESET = "routed10-original"  # the routed10 architecture
WARMUP_MOVES = 20  # first runs of a wasm session allocate; not what a user feels while dragging
COLD_LOADS = 3  # page loads, each in a fresh browser context (empty cache)

# One slider move = one decoder run on a 10-vector, timed inside the page.
DECODE_LOOP = """async ([moves, warmup]) => {
  const model = window.lc.model, times = [];
  const z = new Float32Array(model.latent);
  for (let i = 0; i < moves + warmup; i++) {
    z[i % model.latent] = (i % 30) / 10;
    const t0 = performance.now();
    const pixels = await model.decode(z);
    if (i >= warmup) times.push(performance.now() - t0);
    if (pixels.length !== 784) throw new Error('bad decode');
  }
  return times;
}"""

# The same through the page: set a slider, fire its input event, wait for the canvas update.
SLIDER_LOOP = """async ([moves]) => {
  const slider = document.querySelector('#z2'), times = [];
  // Yield through a MessageChannel: setTimeout(0) is clamped to 4 ms when nested.
  const tick = () => new Promise((r) => {
    const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0);
  });
  for (let i = 0; i < moves; i++) {
    const before = window.lc.decodeCount;
    const t0 = performance.now();
    slider.value = String((i % 30) / 10);
    slider.dispatchEvent(new Event('input'));
    while (window.lc.decodeCount === before) await tick();
    times.push(performance.now() - t0);
  }
  return times;
}"""


def make_run(folder: Path) -> Path:
    config = resolve_config(SIZE_PRESET)
    torch.manual_seed(0)
    save_model(build_model(config).eval(), folder)
    return folder


def wait_ready(page) -> None:
    while not page.evaluate("!!(window.lc && window.lc.ready)"):
        page.wait_for_timeout(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a trained run (default: an untrained routed10-sized model)")
    parser.add_argument("--moves", type=int, default=300, help="slider moves to time")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run_dir or make_run(Path(tmp) / "run")
        site = Path(tmp) / "site"
        export_site(run, site)
        server = make_server(site, 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = url_for(server, "sliders.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ready = []
            for _ in range(COLD_LOADS):
                context = browser.new_context()  # fresh profile state: nothing cached
                page = context.new_page()
                page.goto(url)
                wait_ready(page)
                ready.append(page.evaluate("window.lc.readyAt") / 1000)  # ms since navigation start
                context.close()
            page = browser.new_page()
            page.goto(url)
            wait_ready(page)
            decode = page.evaluate(DECODE_LOOP, [args.moves, WARMUP_MOVES])
            slider = page.evaluate(SLIDER_LOOP, [args.moves])
            browser.close()
        server.shutdown()
    print(f"model: {'untrained routed10-sized' if not args.run_dir else args.run_dir}")
    print(f"decode per slider move (model.decode, median of {args.moves}): {statistics.median(decode):.3f} ms "
          f"(p90 {sorted(decode)[int(0.9 * len(decode))]:.3f} ms)   target < 1 ms")
    print(f"slider input event -> decoded (median): {statistics.median(slider):.3f} ms")
    print(f"page ready to first decode, cold cache (median of {COLD_LOADS}): {statistics.median(ready):.2f} s "
          f"(all: {', '.join(f'{r:.2f}' for r in ready)})   target < 2 s")


if __name__ == "__main__":
    main()
