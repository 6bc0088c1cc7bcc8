"""Command line: parses arguments, then calls the library. Nothing runs at import.

Each subcommand is a pair: `_add_<name>(subparsers)` declares its options and
`_run_<name>(args)` calls the functions that do the work. COMMANDS lists them;
the sweep command's pair lives in sweep_command.py, the explorer's (export, serve,
demo) in explorer_commands.py, presets/config/data in setup_commands.py, and the
options they share in options.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from latentcraft.cli.explorer_commands import add_demo, add_export, add_serve, run_demo, run_export, run_serve
from latentcraft.cli.options import (
    RUN_DATA_HELP,
    RUNS_DATA_HELP,
    add_config_options,
    add_data_options,
    at_least,
    check_out_folder,
    finite,
    path_text,
    shortcut_overrides,
)
from latentcraft.cli.setup_commands import add_config, add_data, add_presets, run_config, run_data, run_presets
from latentcraft.cli.sweep_command import MAX_SEEDS, add_sweep, run_sweep_command
from latentcraft.config.run_config import resolve_config
from latentcraft.config.sections import MAX_IMAGES
from latentcraft.data.formats.labelled_images import MAX_CLASSES
from latentcraft.errors import DEBUG_ENV, USAGE_ERROR, ConfigError, LatentcraftError, UsageError, run_command

MAX_SAMPLES = 100_000  # --samples: importance samples per image

# ---- train -------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model into a run folder",
        description="Train a model from a preset, a config file and --set overrides (applied in that order). "
        "Writes config.json, model.safetensors, metrics.jsonl, summary.json and a resumable checkpoint.",
    )
    add_config_options(p)
    p.add_argument("--run-dir", metavar="DIR", type=path_text, help="output folder (default: runs/<config name>)")
    p.add_argument("--data-dir", metavar="DIR", type=path_text,
                   help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, the cache, OS packages)")
    add_data_options(p, "train on")
    p.add_argument("--download", action="store_true", help="download the dataset if it is not found (checksummed)")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--seed", type=int, help="shortcut for --set train.seed=N (first seed with --seeds)")
    p.add_argument("--seeds", type=at_least(1, MAX_SEEDS), default=1, metavar="N",
                   help=f"train N seeds and keep the best (default: 1; at most {MAX_SEEDS})")
    p.add_argument("--select-metric", metavar="METRIC",
                   help="metric that picks the best seed (default: train.select_metric, test_argmax_accuracy)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its last checkpoint (with --run-dir alone: the folder's "
                   "own config; --epochs N extends a run)")
    p.add_argument("--device", help="shortcut for --set train.device=DEVICE: auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--tensorboard", action="store_true",
                   help="log each epoch's metrics and images to RUN_DIR/tensorboard/ (--set train.tensorboard=true)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _train_config(args: argparse.Namespace):
    overrides = shortcut_overrides(args)
    if args.resume and args.run_dir and not (args.preset or args.config):
        # Resuming by folder: its own config, with any flags (e.g. --epochs) on top.
        from latentcraft.training.checkpoint import CONFIG_FILE, load_config

        saved = Path(args.run_dir) / CONFIG_FILE
        if not saved.is_file():
            raise ConfigError(f"nothing to resume in {args.run_dir}: it has no {CONFIG_FILE}; "
                              "start it with --preset or --config")
        load_config(Path(args.run_dir))  # a damaged file is named as such, apart from bad flags
        return resolve_config(config_file=saved, overrides=overrides)
    return resolve_config(args.preset, args.config, overrides)


def _run_train(args: argparse.Namespace) -> None:
    from latentcraft.data.source import read_own_data
    from latentcraft.sweeps.seeds import train_seeds
    from latentcraft.training.trainer import train

    config = _train_config(args)
    run_dir = Path(args.run_dir or Path("runs") / config.name)
    check_out_folder("--run-dir", run_dir)
    if config.data.path:
        read_own_data(config)  # refused before the run folder is made; the trainer reuses what it read
    progress = not args.no_progress
    if args.seeds > 1:  # a sweep over seeds (re-running resumes it), the best copied to run_dir
        record = train_seeds(config, run_dir, args.seeds, args.select_metric, progress)
        for r in record["runs"]:
            print(f"seed {r['seed']}: {record['metric']} = {r[record['metric']]:.4f}  ({r['run_dir']})")
        best = f"seed {record['best_seed']} ({record['metric']} = {record['best_value']:.4f})"
        print(f"best: {best}, copied to {run_dir}")
    else:
        summary = train(config, run_dir, args.resume, progress)
        print(json.dumps(summary["final"], indent=2))
    print(f"run folder: {run_dir}")


# ---- evaluate, plot, report --------------------------------------------------------------


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure a trained run: reconstruction, ELBO, accuracy, probes, DCI, selectivity -> eval.json",
        description="Evaluate the model in RUN_DIR on the test split and write RUN_DIR/eval.json. Probes and DCI "
        "trees are fitted on codes of training images and scored on the test codes.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", type=path_text, help="a trained run folder")
    p.add_argument("--samples", type=at_least(0, MAX_SAMPLES), default=0, metavar="K",
                   help="also estimate log p(x) by importance sampling with K samples per image (default: skip)")
    p.add_argument("--fit-limit", type=at_least(1, MAX_IMAGES), default=10_000, metavar="N",
                   help="training images whose codes fit the probes and DCI trees (default: 10000)")
    p.add_argument("--test-limit", type=at_least(1, MAX_IMAGES), metavar="N",
                   help="evaluate on the first N test images (default: the run's)")
    p.add_argument("--data-dir", metavar="DIR", type=path_text, help="folder with the IDX files")
    p.add_argument("--data", metavar="PATH", type=path_text, help=RUN_DATA_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_evaluate(args: argparse.Namespace) -> None:
    from latentcraft.evaluation.evaluate import EVAL_FILE, evaluate_run, format_table

    try:
        record = evaluate_run(args.run_dir, args.samples, args.fit_limit, args.test_limit, args.data_dir,
                              progress=not args.no_progress, data_path=args.data)
    except LatentcraftError:
        raise  # one line with its own exit code: a usage error such as a --test-limit too small, data refused
    except ValueError as err:
        raise SystemExit(f"latentcraft evaluate: error: {err}") from None
    print(format_table(record))
    print(f"wrote {Path(args.run_dir) / EVAL_FILE}")


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="write the figures of a trained run (PNG, and the interpolation GIF for routed models)",
        description="Reconstructions, a traversal row, traversal grids for two test images, unit-vector decodes; "
        "for 2-D latents the scatter, decoded grid and (with a classifier head) decision regions; for routed "
        "models the class-to-class interpolation GIF and the style-transfer grid (each test image's style, every "
        "class). Images are shown at the run's size, colour images in colour, classes by the run's names.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", type=path_text, help="a trained run folder")
    p.add_argument("--out", metavar="DIR", type=path_text, help="output folder (default: RUN_DIR/figures)")
    p.add_argument("--images", type=int, nargs=2, default=[0, 1], metavar=("A", "B"),
                   help="test images for the traversal grids; A also for the single row (default: 0 1)")
    p.add_argument("--coordinate", type=int, default=0,
                   help="latent coordinate of the single traversal row (default: 0)")
    p.add_argument("--range", type=finite, nargs=2, default=[-3.0, 3.0], metavar=("LOW", "HIGH"),
                   help="traversal values (default: -3 3)")
    p.add_argument("--unit-value", type=finite, default=2.0,
                   help="scale of e_k in the unit-vector decodes (default: 2)")
    p.add_argument("--grid-range", nargs="+", metavar="LOW HIGH | data", default=["-3", "3"],
                   help="2-D decoded grid range, or 'data' for the test means' 1-99%% range (default: -3 3)")
    p.add_argument("--label", type=at_least(0, MAX_CLASSES - 1), metavar="K", default=0,
                   help="class index (0 to the run's classes - 1) for a conditional decoder where no image gives one")
    p.add_argument("--data-dir", metavar="DIR", type=path_text, help="folder with the IDX files")
    p.add_argument("--data", metavar="PATH", type=path_text, help=RUN_DATA_HELP)


def _run_plot(args: argparse.Namespace) -> None:
    from latentcraft.data.source import load_config_data
    from latentcraft.reporting.plots import PlotOptions, make_figures
    from latentcraft.training.checkpoint import load_model

    out = Path(args.out) if args.out else Path(args.run_dir) / "figures"
    check_out_folder("--out", out)
    model = load_model(args.run_dir, data_path=args.data)
    if args.label >= model.shape.classes:
        raise UsageError(f"--label {args.label}: this run has {model.shape.classes} classes, "
                         f"0..{model.shape.classes - 1}")
    test = load_config_data(model.config, "test", args.data_dir)
    grid: tuple[float, float] | None = None  # 'data': the test means' range
    if args.grid_range != ["data"]:
        try:
            values = [finite(value) for value in args.grid_range]
        except argparse.ArgumentTypeError as err:
            raise UsageError(f"--grid-range: {err}") from None
        if len(values) != 2:
            raise UsageError(f"--grid-range takes LOW HIGH or 'data', got {' '.join(args.grid_range)}")
        grid = (values[0], values[1])
    options = PlotOptions(images=tuple(args.images), coordinate=args.coordinate, low=args.range[0],
                          high=args.range[1], unit_value=args.unit_value, grid_range=grid, label=args.label)
    try:
        written = make_figures(model, test, out, options)
    except LatentcraftError:
        raise
    except ValueError as err:
        raise SystemExit(f"latentcraft plot: error: {err}") from None
    for path in written:
        print(path)
    print(f"wrote {len(written)} figures to {out}")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="compare runs side by side in one self-contained HTML page (and report.md)",
        description="Reads each run's eval.json and figures folder (evaluating and plotting those missing) and "
        "writes one HTML page with the figures embedded, plus a Markdown twin beside it.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", type=path_text,
                   help="a run folder or a sweep folder (several: side by side)")
    p.add_argument("--out", default="report.html", metavar="FILE", type=path_text,
                   help="HTML file to write, ending in .html; report.md goes beside it (default: report.html)")
    p.add_argument("--samples", type=at_least(0, MAX_SAMPLES), default=0, metavar="K",
                   help="importance samples for runs evaluated now (default: skip log p(x))")
    p.add_argument("--fit-limit", type=at_least(1, MAX_IMAGES), default=10_000, metavar="N",
                   help="training images fitting probes and DCI trees, for runs evaluated now (default: 10000)")
    p.add_argument("--data", metavar="PATH", type=path_text, help=RUNS_DATA_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_report(args: argparse.Namespace) -> None:
    from latentcraft.reporting.report import write_report

    try:
        html_path, md_path = write_report(args.run_dirs, args.out, args.samples, args.fit_limit,
                                          progress=not args.no_progress, data_path=args.data)
    except LatentcraftError:
        raise  # one line with its own exit code: an --out the report cannot be written to, data refused
    except ValueError as err:
        raise SystemExit(f"latentcraft report: error: {err}") from None
    print(f"wrote {html_path} and {md_path}")


COMMANDS: list[tuple[Callable, Callable]] = [
    (_add_train, _run_train),
    (add_sweep, run_sweep_command),
    (add_presets, run_presets),
    (add_config, run_config),
    (add_data, run_data),
    (_add_evaluate, _run_evaluate),
    (_add_plot, _run_plot),
    (_add_report, _run_report),
    (add_export, run_export),
    (add_serve, run_serve),
    (add_demo, run_demo),
]


DEBUG_HELP = f"on an error, show the Python traceback (also: {DEBUG_ENV}=1)"


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error, pointing to --help instead of printing the usage."""

    commands: dict[str, argparse.ArgumentParser] = {}  # the subcommands' parsers, by name (top level only)

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> tuple[_Parser, dict[str, Callable]]:
    parser = _Parser(
        prog="latentcraft",
        description="Train VAEs whose latent space means what you chose, measure them, explore them in a browser.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners = {}
    for add, run in COMMANDS:
        before = set(sub.choices)
        add(sub)
        (name,) = set(sub.choices) - before
        # Also accepted after the command; SUPPRESS keeps it from resetting a --debug given before.
        sub.choices[name].add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        runners[name] = run
    parser.commands = dict(sub.choices)
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code: 0 done, 1 the work failed, 2 a usage error, 130 Ctrl+C."""
    parser, runners = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse would blame the top-level parser; the options belong to the command's
        parser.commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not args.command:
        parser.print_help()
        return USAGE_ERROR
    resumable = args.command in ("train", "sweep")
    return run_command(f"latentcraft {args.command}", lambda: runners[args.command](args), args.debug,
                       "interrupted; continue with the same command plus --resume" if resumable else "interrupted")


if __name__ == "__main__":
    sys.exit(main())
