"""Time `latentcraft demo` from launch to its printed URL, with an empty cache.

    python benchmarks/demo_speed.py [--runs 5]

Each run starts the demo in a fresh process with an empty cache folder and
stops it once it prints "open http://...". Beside it, in the same loop, it
times a bare `python -c "import torch"`: most of the demo's start is importing
torch, so the ratio says how much the demo adds on top of that, whatever the
machine's load. Target: the demo's median under 5 s. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_SECONDS = 5.0


def time_to_url(cache: str) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    started = time.perf_counter()
    demo = subprocess.Popen([sys.executable, "-m", "latentcraft.cli", "demo", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in demo.stdout:
            if line.startswith("open http://"):
                return time.perf_counter() - started
        raise SystemExit(f"the demo stopped without printing its URL (exit {demo.wait()})")
    finally:
        demo.terminate()
        demo.wait(timeout=10)


def time_torch_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="launches of each (default: 5)")
    args = parser.parse_args()
    demo, torch_only = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            demo.append(time_to_url(cache))
        torch_only.append(time_torch_import())
    median = statistics.median(demo)
    print(f"demo, empty cache -> URL: median {median:.2f} s (min {min(demo):.2f}, max {max(demo):.2f})")
    print(f"python -c 'import torch':  median {statistics.median(torch_only):.2f} s")
    print(f"ratio demo / torch import: {median / statistics.median(torch_only):.2f}x")
    print(f"target {TARGET_SECONDS:.0f} s: {'met' if median <= TARGET_SECONDS else 'MISSED'}")


if __name__ == "__main__":
    main()
