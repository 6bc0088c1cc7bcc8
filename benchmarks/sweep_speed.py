"""Benchmark (not a test): a 4-trial sweep on a local Ray instance vs the sequential fallback.

Both run the same `latentcraft sweep` command line in a fresh process into a fresh folder, so
the times include what a user waits for: imports, data loading and, for Ray, starting the
local instance. Both give each trial one torch thread (train.threads = 0 means 1 per trial, so
both executors write the same numbers); Ray runs as many trials at once as there are cores.

    python benchmarks/sweep_speed.py                 # 2 lr x 2 seeds, 5k images, 1 epoch
    python benchmarks/sweep_speed.py --epochs 2 --train-limit 10000   # longer trials
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep_command(out: Path, args: argparse.Namespace, sequential: bool) -> list[str]:
    cli = Path(sys.executable).with_name("latentcraft")
    command = [str(cli), "sweep", "--preset", args.preset, "--grid", "lr=1e-3,3e-3", "--seeds", "2",
               "--epochs", str(args.epochs), "--set", f"data.train_limit={args.train_limit}",
               "--set", f"data.test_limit={args.test_limit}", "--out", str(out), "--no-progress"]
    return command + (["--sequential"] if sequential else [])


def timed(command: list[str]) -> tuple[float, str]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="routed10-original")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=5_000)
    parser.add_argument("--test-limit", type=int, default=2_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        ray_s, ray_log = timed(sweep_command(tmp / "ray", args, sequential=False))
        seq_s, seq_log = timed(sweep_command(tmp / "seq", args, sequential=True))
        ray_summary = json.loads((tmp / "ray" / "sweep_summary.json").read_text())
        seq_summary = json.loads((tmp / "seq" / "sweep_summary.json").read_text())
        ray_trial = [r["seconds"] for s in ray_summary["settings"] for r in s["runs"]]
        seq_trial = [r["seconds"] for s in seq_summary["settings"] for r in s["runs"]]
        same = all(a["final"] == b["final"] for s, t in zip(ray_summary["settings"], seq_summary["settings"])
                   for a, b in zip(s["runs"], t["runs"]))

    print(f"machine: {os.cpu_count()} cores; 4 trials ({args.preset}, {args.train_limit} train images, "
          f"{args.epochs} epochs, lr 1e-3/3e-3 x seeds 0/1)")
    print(f"ray (local instance, 1 thread per trial): {ray_s:7.1f} s   (trials {sum(ray_trial):.1f} s of work)")
    print(f"sequential (in-process, 1 thread per trial): {seq_s:7.1f} s   (trials {sum(seq_trial):.1f} s)")
    print(f"ratio sequential / ray: {seq_s / ray_s:.2f}x  (>1 means Ray is faster)")
    print(f"identical final metrics in both: {same}")


if __name__ == "__main__":
    main()
