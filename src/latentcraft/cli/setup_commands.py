"""The commands that set a run up without training: presets, config, data (options, then the library calls)."""

from __future__ import annotations

import argparse
import json

from latentcraft.cli.options import add_config_options, add_data_options, path_text, shortcut_overrides
from latentcraft.config.run_config import Config, resolve_config
from latentcraft.config.sources import preset_dict, preset_names
from latentcraft.data.procedural import PROCEDURAL


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
        help="check a dataset: your own (--data PATH) or a built-in one (locate or --download, verify checksums)",
        description="With --data PATH: read your labelled images as `train --data PATH` would and print their "
        "format, image size and colour, classes with their counts per split, factors and what was converted; "
        "or every problem that stops them from being used (exit code 1). With --dataset shapes or blobs: describe "
        "the generated set. Otherwise find a dataset's IDX files (--data-dir, else $LATENTCRAFT_DATA_DIR, the "
        "cache, OS packages), or download them with --download, and check every file against its MD5 checksum. "
        "--set data.test_fraction=F and data.split_seed=N shape the held-out split as in training.",
    )
    add_data_options(p, "check")
    add_config_options(p)
    p.add_argument("--data-dir", metavar="DIR", type=path_text,
                   help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, the cache, OS packages)")
    p.add_argument("--download", action="store_true",
                   help="download the files that are missing from the standard mirrors (checksummed)")


def run_data(args: argparse.Namespace) -> None:
    config = resolve_config(args.preset, args.config, shortcut_overrides(args))
    if config.data.path:
        print(_own_data_report(config))
    elif config.data.dataset in PROCEDURAL:
        print(_generated_report(config.data.dataset))
    else:
        from latentcraft.data.mnist import locate, verify

        folder = locate(config.data.dataset, config.data.data_dir, config.data.download)
        verify(config.data.dataset, folder)
        print(f"{config.data.dataset}: all files present and checksums match in {folder}")


def _own_data_report(config: Config) -> str:
    """What `train --data PATH` would read, described; a DatasetError listing everything it would refuse."""
    from latentcraft.data.formats.labelled_images import DatasetError
    from latentcraft.data.formats.report import describe, problems
    from latentcraft.data.source import read_own_data

    d = config.data
    assert d.path is not None
    try:
        images = read_own_data(config)
    except DatasetError as refused:
        # The reader stops at the first problem; list them all (an image folder's every bad file) before failing.
        found = problems(d.path, d.test_fraction, d.split_seed, d.image_column, d.label_column) or [str(refused)]
        if len(found) > 1:  # the error line repeats the first
            print(f"{len(found)} problems stop this data from being used:", *(f"  - {line}" for line in found),
                  sep="\n")
        raise DatasetError(found[0] + (f" (and {len(found) - 1} more, listed above)" if len(found) > 1 else "")) \
            from None
    return f"{describe(images)}\n\nok: train on it with  latentcraft train --data {d.path}"


def _generated_report(dataset: str) -> str:
    from latentcraft.data.formats.labelled_images import LabelledImages
    from latentcraft.data.formats.report import describe
    from latentcraft.data.procedural import generate

    spec, train, test = PROCEDURAL[dataset], generate(dataset, "train"), generate(dataset, "test")
    images = LabelledImages(train.images, train.labels, test.images, test.labels, list(spec.class_names),
                            f"--dataset {dataset} (generated, no files)", "fixed seeds: train 0, test 1",
                            train.factors, test.factors, list(train.factor_names), spec.about)
    return describe(images.check())
