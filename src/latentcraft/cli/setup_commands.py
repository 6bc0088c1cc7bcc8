"""The commands that set a run up without training: presets, config, data (options, then the library calls)."""

from __future__ import annotations

import argparse
import json

from latentcraft.cli.options import add_config_options, path_text, shortcut_overrides
from latentcraft.config.run_config import resolve_config
from latentcraft.config.sources import preset_dict, preset_names
from latentcraft.data.datasets import DATASETS


def add_presets(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(
        "presets",
        help="list the presets and what each reproduces",
        description="List the presets shipped in the package, one a line: its name (for --preset NAME) and "
        "what it reproduces. `latentcraft config --preset NAME` prints every field of one.",
    )


def run_presets(args: argparse.Namespace) -> None:
    names = preset_names()
    width = max(map(len, names), default=0)  # the descriptions start in one column, however long a name
    for name in names:
        print(f"{name:{width}s}  {preset_dict(name).get('description', '')}".rstrip())


def add_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config",
        help="print a full config (every field with its value) as JSON",
        description="Build a config from a preset, a config file and --set overrides (applied in that order), "
        "check it as train would, and print every field as JSON: a starting point for a --config file.",
    )
    add_config_options(p)


def run_config(args: argparse.Namespace) -> None:
    print(json.dumps(resolve_config(args.preset, args.config, shortcut_overrides(args)).to_dict(), indent=2))


def add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="locate (or --download) a dataset and verify its checksums",
        description="Find a dataset's IDX files (--data-dir, else $LATENTCRAFT_DATA_DIR, the cache, OS packages), "
        "or download them with --download, and check every file against its MD5 checksum.",
    )
    p.add_argument("--dataset", default="mnist", choices=list(DATASETS), help="dataset to check (default: mnist)")
    p.add_argument("--data-dir", metavar="DIR", type=path_text,
                   help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, the cache, OS packages)")
    p.add_argument("--download", action="store_true",
                   help="download the files that are missing from the standard mirrors (checksummed)")


def run_data(args: argparse.Namespace) -> None:
    from latentcraft.data.mnist import locate, verify

    folder = locate(args.dataset, args.data_dir, args.download)
    verify(args.dataset, folder)
    print(f"{args.dataset}: all files present and checksums match in {folder}")
