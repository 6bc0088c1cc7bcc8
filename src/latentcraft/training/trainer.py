"""One trainer for every variant: batches in, `model(x, y).loss` out.

A run folder gets config.json, model.safetensors, metrics.jsonl (one line per
epoch), summary.json, and checkpoint.safetensors (the resumable state, written
atomically after every epoch). Shuffling is seeded per epoch and the noise RNG
is saved in the checkpoint, so a resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from latentcraft.config.run_config import Config, record_data
from latentcraft.config.sources import differences
from latentcraft.data.batches import augment, batch_indices, hide_labels, mix_in_labelled
from latentcraft.data.images import ImageSet
from latentcraft.data.source import load_config_data
from latentcraft.errors import LatentcraftError
from latentcraft.evaluation.metrics import evaluate_split
from latentcraft.evaluation.registry import best_by
from latentcraft.model.objective import kl_weight
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model, check_files
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.devices import autocast, module_device, resolve_device
from latentcraft.training.locking import holds_folder_lock
from latentcraft.training.tracking import open_tracker


class TrainingDiverged(LatentcraftError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def load_data(config: Config) -> tuple[ImageSet, ImageSet]:
    """The training split (labels hidden as data.labelled_fraction says) and the test split."""
    train, test = load_config_data(config, "train"), load_config_data(config, "test")
    train.labels = hide_labels(train.labels, config.data.labelled_fraction, config.train.seed,
                               config.data.labels_per_class)
    return train, test


def passes_per_epoch(config: Config, images: int) -> int:
    """Shuffled passes over `images` training images in one epoch: enough for train.epoch_images (one at least),
    unless data.train_limit shrank the run on purpose."""
    if config.data.train_limit or not images:
        return 1
    return max(1, config.train.epoch_images // images)


def _epoch_generator(config: Config, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(config.train.seed * 100_003 + epoch)


def train_one_epoch(
    model: LatentModel, optimizer: torch.optim.Optimizer, train: ImageSet, config: Config, epoch: int,
    progress: bool = True,
) -> dict[str, float]:
    model.train()
    model.start_epoch(epoch)
    device = module_device(model)
    generator = _epoch_generator(config, epoch)
    batches = batch_indices(len(train), config.train.batch_size, generator, passes_per_epoch(config, len(train)))
    batches = mix_in_labelled(batches, train.labels, config.data.labelled_share, generator)
    sums: dict[str, float] = {}
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.train.epochs}", leave=False, disable=not progress,
               dynamic_ncols=True)
    data = config.data
    reads_clean_view = data.augment and "guide" in model.views_read()
    for step, index in enumerate(bar):
        x, y = train.batch(index, device)
        views: dict[str, torch.Tensor] = {}
        if data.augment:
            augmented = augment(x, generator, data.augment_shift, data.augment_rotate, data.augment_stroke, train.shape)
            if not data.reconstruct_augmented:  # the config check ensures a technique reads the augmented view
                views["augmented"] = augmented  # x stays the clean batch, the one reconstructed
            else:
                views = {"clean": x} if reads_clean_view else {}
                x = augmented
        scale = kl_weight(config.objective, epoch + step / len(batches))
        with autocast(device, config.train.precision):
            out = model(x, y, kl_scale=scale, epoch=epoch + step / len(batches), **views)
        if not torch.isfinite(out.loss):
            parts = ", ".join(f"{k}={v.item():.4g}" for k, v in out.parts.items())
            raise TrainingDiverged(f"loss became {out.loss.item()} at epoch {epoch + 1}, step {step} ({parts}).")
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        for name, value in {"loss": out.loss, **out.parts}.items():
            sums[name] = sums.get(name, 0.0) + value.item()
        if step % 20 == 0:
            bar.set_postfix({k: f"{v / (step + 1):.3f}" for k, v in sums.items()}, refresh=False)
    return {f"train_{k}": v / len(batches) for k, v in sums.items()}


def make_optimizer(model: LatentModel, config: Config) -> torch.optim.Optimizer:
    # The fused kernel updates every tensor in one pass; the default per-tensor
    # Adam spent about half of each CPU step of the 784-2048-512 MLP.
    return torch.optim.Adam(model.parameters(), lr=config.train.lr, fused=True)


def _set_lr(optimizer: torch.optim.Optimizer, config: Config, epoch: int) -> float:
    lr = config.train.lr * config.train.lr_decay**epoch
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


# Fields a resumed run may change: where the data is, how many threads, how
# many epochs in all (the schedule depends on the epoch index, not the total),
# the device (a run started on a GPU may finish on a CPU: the numbers then
# differ in the last bits, as they would between two GPUs), what is logged, and
# the remedies for a diverged run, learning rate and precision, which metrics.jsonl records.
_RECORDED_CHANGES = {"train.lr", "train.precision"}
_RESUMABLE_CHANGES = {"data.data_dir", "data.download", "train.threads", "train.epochs", "train.device",
                      "train.tensorboard", *_RECORDED_CHANGES}


def _check_resumable(run_dir: Path, config: Config) -> dict[str, Any]:
    """Refuse a resume that changes what is trained; return the recorded changes, {key: new value}."""
    changes = differences(ckpt.load_config(run_dir).to_dict(), config.to_dict())
    differing = [k for k, _, _ in changes if k not in _RESUMABLE_CHANGES]
    if differing:
        raise ckpt.RunError(
            f"cannot resume {run_dir}: its config differs in {', '.join(differing)}. "
            "Resume with the same settings (or none: the run folder's config is used)."
        )
    return {k: new for k, _, new in changes if k in _RECORDED_CHANGES}


def _divergence_remedy(run_dir: Path, config: Config, epoch: int) -> str:
    """What to type after the loss diverged in (0-based) `epoch`: it works whether or not a checkpoint exists."""
    command = (f"latentcraft train --resume --run-dir {shlex.quote(str(run_dir))} "
               f"--set train.lr={config.train.lr / 3:.2g}")
    if config.train.precision == "bf16":
        command += " --set train.precision=fp32"
    if epoch == 0:
        return ("No checkpoint exists yet (the first epoch did not finish); start again with a lower train.lr: "
                + command)
    return f"The checkpoint of epoch {epoch} is kept; continue from it with a lower train.lr: {command}"


@holds_folder_lock("run_dir", "train")
def train(config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
          data: tuple[ImageSet, ImageSet] | None = None) -> dict[str, Any]:
    """Train `config` into `run_dir`; returns the summary (also written to summary.json)."""
    run_dir = Path(run_dir)
    ckpt.remove_partial_writes(run_dir)  # left by a kill mid-write; the lock says no one else is writing
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    has_checkpoint = (run_dir / ckpt.CHECKPOINT_FILE).is_file()
    if not resume and (run_dir / ckpt.CONFIG_FILE).exists():
        raise ckpt.RunError(f"{run_dir} already holds a run; pass --resume to continue it or pick a new --run-dir")
    resuming = resume and has_checkpoint
    if not resuming:
        check_files(config)  # a saved run has its templates in its weights; a new one reads them now
    device = resolve_device(config.train.device)
    # Data first: a run that cannot start must not leave a config.json that blocks rerunning the same command.
    train_set, test_set = data or load_data(config)
    config = record_data(config, train_set.shape)  # image shape, classes, likelihood: the run's own from now on
    run_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(config.train.seed)
    model = build_model(config).to(device)  # before the optimizer, whose state lives beside the weights
    optimizer = make_optimizer(model, config)
    start_epoch = 0
    changed: dict[str, Any] = {}
    if resuming:
        changed = _check_resumable(run_dir, config)
        start_epoch = ckpt.load_checkpoint(run_dir, model, optimizer)
        if start_epoch > config.train.epochs:
            raise ckpt.RunError(
                f"cannot resume {run_dir} with train.epochs = {config.train.epochs}: it has already trained "
                f"{start_epoch} epochs. Resume with --epochs {start_epoch} or more, or train into a new --run-dir."
            )
    else:
        model.fit(train_set)
    # Before config.json: a missing tensorboard package must not block rerunning the command.
    tracker = open_tracker(config, run_dir, test_set, start_epoch)
    config.save(run_dir / ckpt.CONFIG_FILE)
    # Keep only the epochs the checkpoint covers (a kill may land between the two writes).
    history = [m for m in ckpt.read_metrics(run_dir) if m["epoch"] <= start_epoch]
    _rewrite_metrics(run_dir, history)

    started = time.perf_counter()
    elapsed_before = history[-1]["elapsed_s"] if history else 0.0
    headline = headline_keys(model)
    epochs = tqdm(range(start_epoch, config.train.epochs), desc=config.name, disable=not progress,
                  initial=start_epoch, total=config.train.epochs, dynamic_ncols=True)
    with tracker:
        for epoch in epochs:
            lr = _set_lr(optimizer, config, epoch)
            try:
                train_metrics = train_one_epoch(model, optimizer, train_set, config, epoch, progress)
            except TrainingDiverged as err:
                raise TrainingDiverged(f"{err} {_divergence_remedy(run_dir, config, epoch)}") from None
            test_metrics = evaluate_split(model, test_set, config.train.eval_batch_size)
            record = {"epoch": epoch + 1, "lr": lr, **train_metrics, **test_metrics,
                      "elapsed_s": round(elapsed_before + time.perf_counter() - started, 2)}
            if changed:  # the first epoch after a resume that changed the rate or precision says so
                record["resumed_with"], changed = changed, {}
            # Log first, checkpoint second: a kill between the two leaves an extra
            # line that resuming trims, never a checkpointed epoch without its line.
            with open(run_dir / ckpt.METRICS_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")
            ckpt.save_checkpoint(run_dir, model, optimizer, epoch + 1)
            history.append(record)
            tracker.log_epoch(model, record)
            epochs.set_postfix(_headline(record, headline), refresh=True)

    ckpt.save_model(model, run_dir)
    final = history[-1] if history else {}
    summary = {
        "name": config.name,
        "seed": config.train.seed,
        "epochs": config.train.epochs,
        "wall_time_s": final.get("elapsed_s", 0.0),
        "device": str(device),
        "final": {k: v for k, v in final.items() if k.startswith("test_")},
        "best_epoch_by_select_metric": _best_epoch(history, config.train.select_metric),
    }
    ckpt.write_json(run_dir / ckpt.SUMMARY_FILE, summary)
    return summary


def headline_keys(model: LatentModel) -> list[str]:
    """What the progress bar shows each epoch: the loss and its terms, each technique's accuracy, the fit."""
    predictions = [f"test_{t.prediction_metric}" for t in model.hooks() if t.prediction_metric]
    return ["train_loss", "train_recon", "train_kl", *predictions, "test_recon_bce"]


def _headline(record: dict[str, Any], keys: list[str]) -> dict[str, str]:
    return {k.removeprefix("test_").removeprefix("train_"): f"{record[k]:.4g}" for k in keys if k in record}


def _best_epoch(history: list[dict[str, Any]], metric: str) -> int | None:
    scored = [(m[metric], m["epoch"]) for m in history if metric in m]
    if not scored:
        return None
    return best_by(metric, scored, lambda t: t[0])[1]


def _rewrite_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(m) + "\n" for m in history)
    ckpt.atomic_write(run_dir / ckpt.METRICS_FILE, lambda tmp: tmp.write_text(text))

