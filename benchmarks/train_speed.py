"""One training epoch: latentcraft's trainer against the original's data pipeline.

Both sides train the same architecture (SPEC §1: MLP 784-2048-512-10, two
10->10 heads, decoder 10-512-2048-784), the same reference loss and batch 128,
in the same process, so the ratio is meaningful on a noisy shared machine.

- baseline: the original's pipeline, a Python list of per-sample tensors
  through torch.utils.data.DataLoader (shuffle, default collate), fp32.
- latentcraft: `train_one_epoch` on the in-memory uint8 tensor, batches drawn
  by index, fused Adam; once in fp32 (equal arithmetic) and once in bf16
  autocast (the default).

    export LATENTCRAFT_DATA_DIR=../shared/data/mnist
    .venv/bin/python benchmarks/train_speed.py              # full epochs (~1.5 min)
    .venv/bin/python benchmarks/train_speed.py --limit 12800  # quick, projected to 60,000
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from latentcraft.config.run_config import resolve_config
from latentcraft.data.constants import IMAGE_PIXELS
from latentcraft.data.mnist import load_split
from latentcraft.techniques.registry import build_model
from latentcraft.training.trainer import make_optimizer, train_one_epoch

TRAIN_IMAGES = 60_000


def baseline_epoch(config, images: list[torch.Tensor], labels: list[int]) -> float:
    """The original's loop: per-sample tensors, DataLoader batches, model forward, Adam."""
    torch.manual_seed(0)
    model = build_model(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    loader = DataLoader(list(zip(images, labels)), batch_size=config.train.batch_size, shuffle=True)
    start = time.perf_counter()
    for x, y in loader:
        loss = model(x, y).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def latentcraft_epoch(config, train_set) -> float:
    torch.manual_seed(0)
    model = build_model(config)
    optimizer = make_optimizer(model, config)
    start = time.perf_counter()
    train_one_epoch(model, optimizer, train_set, config, epoch=0, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images and project to 60,000")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    train_set = load_split("mnist", "train", limit=args.limit)
    n = len(train_set)
    scale = TRAIN_IMAGES / n
    fp32 = resolve_config("routed10-original", overrides=["train.precision=fp32"])
    bf16 = resolve_config("routed10-original", overrides=["train.precision=bf16"])
    images = [img.reshape(IMAGE_PIXELS).float() / 255.0 for img in train_set.images]  # the original's list
    labels = train_set.labels.tolist()

    base = baseline_epoch(fp32, images, labels) * scale
    ours32 = latentcraft_epoch(fp32, train_set) * scale
    ours16 = latentcraft_epoch(bf16, train_set) * scale
    print(f"threads: {torch.get_num_threads()}, images timed: {n} (projected to {TRAIN_IMAGES})")
    print("| pipeline | s / epoch | speed-up vs baseline |")
    print("|---|---|---|")
    print(f"| baseline: DataLoader over per-sample tensors, fp32 | {base:.1f} | 1.00x |")
    print(f"| latentcraft trainer, fp32 | {ours32:.1f} | {base / ours32:.2f}x |")
    print(f"| latentcraft trainer, bf16 autocast (default) | {ours16:.1f} | {base / ours16:.2f}x |")


if __name__ == "__main__":
    main()
