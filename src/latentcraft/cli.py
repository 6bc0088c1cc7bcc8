"""Command line: parses arguments, then calls the library. Nothing runs at import.

Each subcommand is a pair: `_add_<name>(subparsers)` declares its options and
`_run_<name>(args)` calls the functions that do the work. COMMANDS lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from .config import ConfigError, preset_dict, preset_names, resolve_config


# ---- train -------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model into a run folder",
        description="Train a model from a preset, a config file and --set overrides (applied in that order). "
        "Writes config.json, model.safetensors, metrics.jsonl, summary.json and a resumable checkpoint.",
    )
    p.add_argument("--preset", help=f"start from a named preset: {', '.join(preset_names())}")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file setting any config field (see `latentcraft config`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field, e.g. --set train.epochs=5 --set model.latent_dim=16 (repeatable)")
    p.add_argument("--run-dir", metavar="DIR", help="output folder (default: runs/<config name>)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, the cache, OS packages)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="dataset to train on (default: mnist)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is not found (checksummed)")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--seed", type=int, help="shortcut for --set train.seed=N (first seed with --seeds)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="train N seeds and keep the best (default: 1)")
    p.add_argument("--select-metric", metavar="METRIC",
                   help="metric that picks the best seed (default: train.select_metric, test_argmax_accuracy)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _train_config(args: argparse.Namespace):
    overrides = list(args.overrides)
    for flag, key in (("epochs", "train.epochs"), ("seed", "train.seed"), ("data_dir", "data.data_dir"),
                      ("dataset", "data.dataset")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if args.download:
        overrides.append("data.download=true")
    if args.resume and args.run_dir and not (args.preset or args.config or overrides):
        from .checkpoint import CONFIG_FILE

        return resolve_config(config_file=Path(args.run_dir) / CONFIG_FILE)
    return resolve_config(args.preset, args.config, overrides)


def _run_train(args: argparse.Namespace) -> None:
    from .train import train, train_seeds

    config = _train_config(args)
    run_dir = Path(args.run_dir or Path("runs") / config.name)
    progress = not args.no_progress
    if args.seeds > 1:
        record = train_seeds(config, run_dir, args.seeds, args.select_metric, args.resume, progress)
        for r in record["runs"]:
            print(f"seed {r['seed']}: {record['metric']} = {r[record['metric']]:.4f}  ({r['run_dir']})")
        print(f"best: seed {record['best_seed']} ({record['metric']} = {record['best_value']:.4f}), copied to {run_dir}")
    else:
        summary = train(config, run_dir, args.resume, progress)
        print(json.dumps(summary["final"], indent=2))
    print(f"run folder: {run_dir}")


# ---- presets, config, data ---------------------------------------------------------------


def _add_presets(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("presets", help="list the presets and what each reproduces")


def _run_presets(args: argparse.Namespace) -> None:
    for name in preset_names():
        print(f"{name:12s} {preset_dict(name).get('description', '')}")


def _add_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print a full config (all fields with their values) as JSON or TOML")
    p.add_argument("--preset", help="start from this preset")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file to merge in")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def _run_config(args: argparse.Namespace) -> None:
    print(json.dumps(resolve_config(args.preset, args.config, args.overrides).to_dict(), indent=2))


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="locate (or --download) a dataset and verify its checksums")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--download", action="store_true")


def _run_data(args: argparse.Namespace) -> None:
    from .data import locate, verify

    folder = locate(args.dataset, args.data_dir, args.download)
    verify(args.dataset, folder)
    print(f"{args.dataset}: all files present and checksums match in {folder}")


COMMANDS: list[tuple[Callable, Callable]] = [
    (_add_train, _run_train),
    (_add_presets, _run_presets),
    (_add_config, _run_config),
    (_add_data, _run_data),
]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
    parser = argparse.ArgumentParser(
        prog="latentcraft",
        description="Train VAEs whose latent space means what you chose, measure them, explore them in a browser.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners = {}
    for add, run in COMMANDS:
        before = set(sub.choices)
        add(sub)
        (name,) = set(sub.choices) - before
        runners[name] = run
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import RunError
    from .data import DataError
    from .train import TrainingDiverged

    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        runners[args.command](args)
    except (ConfigError, DataError, RunError, TrainingDiverged) as err:
        print(f"latentcraft {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with the same command plus --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
