"""Time `latentcraft evaluate` on a routed10 run: 10-d latent, all 10,000 test images, MLP 784-2048-512-10.

    python benchmarks/evaluate_speed.py [RUN_DIR] [--samples K] [--threads N]

With no RUN_DIR it times an untrained routed10-original model saved to a
temporary folder (the work is the same; only the metric values are
meaningless). Target: under a minute of wall time on a 2-core CPU. Prints
wall and CPU seconds and the time of each stage. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.evaluation.evaluate import evaluate_run, format_table
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import save_model

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", help="a trained routed10 run (default: an untrained one)")
    parser.add_argument("--samples", type=int, default=0, help="importance samples for log p(x) (default: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1; the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run_dir) if args.run_dir else Path(tmp)
        if not args.run_dir:
            save_model(build_model(resolve_config("routed10-original")), run_dir)
        wall, cpu = time.perf_counter(), time.process_time()
        record = evaluate_run(run_dir, samples=args.samples, test_limit=0, write=bool(args.run_dir), progress=True)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(format_table(record))
    print("stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in record["seconds"].items()))
    verdict = "within" if wall < TARGET_SECONDS else "OVER"
    print(f"evaluate: {wall:.1f} s wall, {cpu:.1f} s CPU on {record['n_test']} test images, "
          f"{torch.get_num_threads()} torch thread(s); {verdict} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()
