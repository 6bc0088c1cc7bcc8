"""What several commands' options share: --preset/--config/--set, --data and --dataset, the shortcut flags,
and argparse types that refuse bad numbers and empty paths with a one-line usage error."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

from latentcraft.config.sources import check_once, preset_names
from latentcraft.data.datasets import DATASETS
from latentcraft.data.procedural import PROCEDURAL
from latentcraft.errors import UsageError

DATASET_CHOICES = [*DATASETS, *PROCEDURAL]  # MNIST-format files found on disk, then the generated sets
DATA_HELP = ("your own labelled images: a folder of class folders, one with train/ and test/, an .npz or a "
             "Hugging Face save_to_disk folder (data.path; check it first with `latentcraft data --data PATH`)")
RUN_DATA_HELP = ("read the run's data from PATH instead of where it was trained from (data.path, for this command "
                 "only); it must have the image shape and classes the run was trained on")
RUNS_DATA_HELP = ("read every run's data from PATH instead of where it was trained from (data.path, for this "
                  "command only); it must have the image shape and classes each run was trained on")


def add_config_options(p: argparse.ArgumentParser) -> None:
    """--preset, --config, --set: how every command that builds a Config takes one."""
    p.add_argument("--preset", help=f"start from a named preset: {', '.join(preset_names())}")
    p.add_argument("--config", metavar="FILE", type=path_text,
                   help="TOML or JSON file setting any config field (see `latentcraft config`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field, e.g. --set train.epochs=5 --set model.latent_dim=16 (repeatable)")


def add_data_options(p: argparse.ArgumentParser, what: str) -> None:
    """--data and --dataset for a command that builds a config; `what` ends "dataset to ...": train on, check."""
    p.add_argument("--data", metavar="PATH", type=path_text, help=DATA_HELP)
    p.add_argument("--dataset", choices=DATASET_CHOICES,
                   help=f"built-in dataset to {what} when --data is not given (default: mnist; shapes and blobs are "
                   "generated, with known factors)")


# Flags that are short for one --set each; a command offers some of them.
SHORTCUTS = {"epochs": "train.epochs", "seed": "train.seed", "data_dir": "data.data_dir", "dataset": "data.dataset",
             "data": "data.path", "device": "train.device"}


def shortcut_overrides(args: argparse.Namespace) -> list[str]:
    """The --set texts, then one per shortcut flag given (--epochs 5 -> train.epochs=5); a key set twice is refused."""
    if getattr(args, "data", None) is not None and getattr(args, "dataset", None) is not None:
        raise UsageError("--data and --dataset: give one; --data reads your own files, --dataset a built-in set")
    overrides = list(args.overrides)
    shown = [f"--set {text}" for text in overrides]  # what the user typed, for the message of a key set twice
    for flag, key in SHORTCUTS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
            shown.append(f"--{flag.replace('_', '-')} {value}")
    for flag, key in (("tensorboard", "train.tensorboard"), ("download", "data.download")):
        if getattr(args, flag, False):
            overrides.append(f"{key}=true")
            shown.append(f"--{flag}")
    check_once(overrides, shown)
    return overrides


def check_out_folder(option: str, folder: Path) -> None:
    """Refuse an output folder that a file is in the way of, before any work (loading data, training)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {folder}: is a file, not a folder; give a folder path (it is created if missing)")
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {folder}: {parent} is a file, not a folder; choose another path")


def at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """argparse type: a whole number no smaller than `minimum` (and, if given, no larger than `maximum`)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value}")
        return value
    return parse


def path_text(text: str) -> str:
    """argparse type: a file or folder path; an empty one would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a file or folder path")
    if any(ord(ch) < 32 for ch in text):
        raise argparse.ArgumentTypeError(f"{text!r} holds a control character; give a plain path")
    return text


def finite(text: str) -> float:
    """argparse type: a number, not NaN or infinity."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite_at_least(minimum: float) -> Callable[[str], float]:
    """argparse type: a finite number no smaller than `minimum`."""
    def parse(text: str) -> float:
        value = finite(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {text}")
        return value
    return parse


def port(text: str) -> int:
    """--port: 1-65535, or 0 for any free port."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535, or 0 for any free port)")
    return int(text)
