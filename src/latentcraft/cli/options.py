"""What several commands' options share: --preset/--config/--set, the shortcut flags, and
argparse types that refuse bad numbers with a one-line usage error."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable

from latentcraft.config.sources import preset_names


def add_config_options(p: argparse.ArgumentParser) -> None:
    """--preset, --config, --set: how every command that builds a Config takes one."""
    p.add_argument("--preset", help=f"start from a named preset: {', '.join(preset_names())}")
    p.add_argument("--config", metavar="FILE",
                   help="TOML or JSON file setting any config field (see `latentcraft config`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field, e.g. --set train.epochs=5 --set model.latent_dim=16 (repeatable)")


# Flags that are short for one --set each; a command offers some of them.
SHORTCUTS = {"epochs": "train.epochs", "seed": "train.seed", "data_dir": "data.data_dir", "dataset": "data.dataset",
             "device": "train.device"}


def shortcut_overrides(args: argparse.Namespace) -> list[str]:
    """The --set texts, then one per shortcut flag given (--epochs 5 -> train.epochs=5), so flags win."""
    overrides = list(args.overrides)
    for flag, key in SHORTCUTS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if getattr(args, "tensorboard", False):
        overrides.append("train.tensorboard=true")
    return overrides


def at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number no smaller than `minimum`."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


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
