"""Command line: parses arguments, then calls the library. Nothing runs at import.

Each subcommand is a pair: `_add_<name>(subparsers)` declares its options and
`_run_<name>(args)` calls the functions that do the work. COMMANDS lists them;
the sweep command's pair lives in sweep_cli.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable

from .config import ConfigError, preset_dict, preset_names, resolve_config
from .constants import NUM_CLASSES
from .datasets import DATASETS
from .errors import DEBUG_ENV, USAGE_ERROR, UsageError, run_command
from .sweep_cli import add_sweep, run_sweep_command


# ---- shared options ----------------------------------------------------------------------


def add_config_options(p: argparse.ArgumentParser) -> None:
    """--preset, --config, --set: how every command that builds a Config takes one."""
    p.add_argument("--preset", help=f"start from a named preset: {', '.join(preset_names())}")
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file setting any config field (see `latentcraft config`)")
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


def _finite(text: str) -> float:
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
        value = _finite(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {text}")
        return value
    return parse


# ---- train -------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model into a run folder",
        description="Train a model from a preset, a config file and --set overrides (applied in that order). "
        "Writes config.json, model.safetensors, metrics.jsonl, summary.json and a resumable checkpoint.",
    )
    add_config_options(p)
    p.add_argument("--run-dir", metavar="DIR", help="output folder (default: runs/<config name>)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, the cache, OS packages)")
    p.add_argument("--dataset", choices=list(DATASETS), help="dataset to train on (default: mnist)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is not found (checksummed)")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--seed", type=int, help="shortcut for --set train.seed=N (first seed with --seeds)")
    p.add_argument("--seeds", type=at_least(1), default=1, metavar="N", help="train N seeds and keep the best (default: 1)")
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
    if args.download:
        overrides.append("data.download=true")
    if args.resume and args.run_dir and not (args.preset or args.config):
        # Resuming by folder: its own config, with any flags (e.g. --epochs) on top.
        from .checkpoint import CONFIG_FILE, load_config

        saved = Path(args.run_dir) / CONFIG_FILE
        if not saved.is_file():
            raise ConfigError(f"nothing to resume in {args.run_dir}: it has no {CONFIG_FILE}; start it with --preset or --config")
        load_config(Path(args.run_dir))  # a damaged file is named as such, apart from bad flags
        return resolve_config(config_file=saved, overrides=overrides)
    return resolve_config(args.preset, args.config, overrides)


def _run_train(args: argparse.Namespace) -> None:
    from .seeds import train_seeds
    from .trainer import train

    config = _train_config(args)
    run_dir = Path(args.run_dir or Path("runs") / config.name)
    progress = not args.no_progress
    if args.seeds > 1:  # a sweep over seeds (re-running resumes it), the best copied to run_dir
        record = train_seeds(config, run_dir, args.seeds, args.select_metric, progress)
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
    p = sub.add_parser("config", help="print a full config (every field with its value) as JSON")
    add_config_options(p)


def _run_config(args: argparse.Namespace) -> None:
    print(json.dumps(resolve_config(args.preset, args.config, args.overrides).to_dict(), indent=2))


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="locate (or --download) a dataset and verify its checksums")
    p.add_argument("--dataset", default="mnist", choices=list(DATASETS))
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--download", action="store_true")


def _run_data(args: argparse.Namespace) -> None:
    from .data import locate, verify

    folder = locate(args.dataset, args.data_dir, args.download)
    verify(args.dataset, folder)
    print(f"{args.dataset}: all files present and checksums match in {folder}")


# ---- evaluate, plot, report --------------------------------------------------------------


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure a trained run: reconstruction, ELBO, accuracy, probes, DCI, selectivity -> eval.json",
        description="Evaluate the model in RUN_DIR on the test split and write RUN_DIR/eval.json. Probes and DCI "
        "trees are fitted on codes of training images and scored on the test codes.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--samples", type=at_least(0), default=0, metavar="K",
                   help="also estimate log p(x) by importance sampling with K samples per image (default: skip)")
    p.add_argument("--fit-limit", type=at_least(1), default=10_000, metavar="N",
                   help="training images whose codes fit the probes and DCI trees (default: 10000)")
    p.add_argument("--test-limit", type=at_least(1), metavar="N", help="evaluate on the first N test images (default: the run's)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_evaluate(args: argparse.Namespace) -> None:
    from .evaluation import EVAL_FILE, evaluate_run, format_table

    try:
        record = evaluate_run(args.run_dir, args.samples, args.fit_limit, args.test_limit, args.data_dir,
                              progress=not args.no_progress)
    except ConfigError:
        raise  # a usage error (exit 2), such as a --test-limit too small to hold every class
    except ValueError as err:
        raise SystemExit(f"latentcraft evaluate: error: {err}")
    print(format_table(record))
    print(f"wrote {Path(args.run_dir) / EVAL_FILE}")


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="write the figures of a trained run (PNG, and the interpolation GIF for routed models)",
        description="Reconstructions, a traversal row, traversal grids for two test images, unit-vector decodes; "
        "for 2-D latents the scatter, decoded grid and (with a classifier head) decision regions; for routed "
        "models the 0->9 interpolation GIF and the style-transfer grid (each test image's style, every digit).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/figures)")
    p.add_argument("--images", type=int, nargs=2, default=[0, 1], metavar=("A", "B"),
                   help="test images for the traversal grids; A also for the single row (default: 0 1)")
    p.add_argument("--coordinate", type=int, default=0, help="latent coordinate of the single traversal row (default: 0)")
    p.add_argument("--range", type=_finite, nargs=2, default=[-3.0, 3.0], metavar=("LOW", "HIGH"),
                   help="traversal values (default: -3 3)")
    p.add_argument("--unit-value", type=_finite, default=2.0, help="scale of e_k in the unit-vector decodes (default: 2)")
    p.add_argument("--grid-range", nargs="+", metavar="LOW HIGH | data", default=["-3", "3"],
                   help="2-D decoded grid range, or 'data' for the test means' 1-99%% range (default: -3 3)")
    p.add_argument("--label", type=int, choices=range(NUM_CLASSES), metavar="K", default=0,
                   help="label (0-9) for a conditional decoder where no image gives one")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files")


def _run_plot(args: argparse.Namespace) -> None:
    from .checkpoint import load_model
    from .data import load_config_data
    from .plots import PlotOptions, make_figures

    model = load_model(args.run_dir)
    test = load_config_data(model.config, "test", args.data_dir)
    if args.grid_range == ["data"]:
        grid = None
    else:
        try:
            grid = tuple(_finite(value) for value in args.grid_range)
        except argparse.ArgumentTypeError as err:
            raise UsageError(f"--grid-range: {err}") from None
        if len(grid) != 2:
            raise UsageError(f"--grid-range takes LOW HIGH or 'data', got {' '.join(args.grid_range)}")
    options = PlotOptions(images=tuple(args.images), coordinate=args.coordinate, low=args.range[0],
                          high=args.range[1], unit_value=args.unit_value, grid_range=grid, label=args.label)
    out = Path(args.out) if args.out else Path(args.run_dir) / "figures"
    try:
        written = make_figures(model, test, out, options)
    except ValueError as err:
        raise SystemExit(f"latentcraft plot: error: {err}")
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
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", default="report.html", metavar="FILE", help="HTML file to write (default: report.html)")
    p.add_argument("--samples", type=at_least(0), default=0, metavar="K",
                   help="importance samples for runs evaluated now (default: skip log p(x))")
    p.add_argument("--fit-limit", type=at_least(1), default=10_000, metavar="N",
                   help="training images fitting probes and DCI trees, for runs evaluated now (default: 10000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_report(args: argparse.Namespace) -> None:
    from .report import write_report

    try:
        html_path, md_path = write_report(args.run_dirs, args.out, args.samples, args.fit_limit,
                                          progress=not args.no_progress)
    except ValueError as err:
        raise SystemExit(f"latentcraft report: error: {err}")
    print(f"wrote {html_path} and {md_path}")


# ---- export, serve, demo (the in-browser explorer) ----------------------------------------


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the in-browser explorer for one or more runs: ONNX graphs, manifest, test digits, pages",
        description="Export RUN_DIR as a static site that works offline and from any static host: encoder/decoder "
        "(and classifier) ONNX graphs checked against torch, manifest.json, up to 1,000 test digits with their "
        "latent means, the pages and the onnxruntime-web runtime (from npm; never a CDN). Several RUN_DIRs make "
        "one site with a model picker, an overview of their metrics and a compare view (--out required).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a trained run folder (several: one site)")
    p.add_argument("--out", metavar="SITE_DIR", help="output folder (default for one run: RUN_DIR/site)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files (else the run's config, "
                   "$LATENTCRAFT_DATA_DIR, the cache, OS packages)")
    p.add_argument("--force", action="store_true", help="replace SITE_DIR even if it is not a site latentcraft "
                   "exported (everything in it is deleted); without it such a non-empty folder is refused")


def _run_export(args: argparse.Namespace) -> None:
    from .explorer import MANIFEST_FILE, export_site, export_sites
    from .serve import SITE_SUBDIR

    if len(args.run_dirs) > 1 and not args.out:
        raise UsageError("several runs make one site: say where with --out SITE_DIR")
    out = Path(args.out or Path(args.run_dirs[0]) / SITE_SUBDIR)
    if len(args.run_dirs) == 1:
        models = [export_site(args.run_dirs[0], out, data_dir=args.data_dir, force=args.force)]
    else:
        root = export_sites(args.run_dirs, out, data_dir=args.data_dir, force=args.force)
        models = [json.loads((out / m["dir"] / MANIFEST_FILE).read_text()) for m in root["models"]]
    for manifest in models:
        pages = [f for f, on in manifest["features"].items() if on and f in ("sliders", "plane", "traversal")]
        print(f"exported {manifest['name']}: {manifest['kind']} model, {manifest['latent_dim']} latent coordinates; "
              f"pages: {', '.join(pages)}; max |onnxruntime - torch|: "
              + ", ".join(f"{k} {v:.1e}" for k, v in manifest["check"]["max_abs_error"].items()))
    print(f"site: {out}{' (model picker and compare view)' if len(models) > 1 else ''}")
    print(f"serve it with:  latentcraft serve {out}   (or any static server, e.g. python -m http.server -d {out})")


def _port(text: str) -> int:
    """--port: 1-65535, or 0 for any free port."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535, or 0 for any free port)")
    return int(text)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a run's explorer on 127.0.0.1 (exporting it first if needed)",
        description="Serve an exported site, or a run folder (exported to RUN_DIR/site first when missing or older "
        "than the weights), on 127.0.0.1 only, and print the URL to open.",
    )
    p.add_argument("path", metavar="RUN_DIR|SITE_DIR", help="a run folder or an exported site folder")
    p.add_argument("--port", type=_port, default=8000, help="port on 127.0.0.1 (default: 8000; 0 = any free port)")
    p.add_argument("--quiet", action="store_true", help="do not log requests")


def _run_serve(args: argparse.Namespace) -> None:
    from .explorer import ExportError
    from .serve import ServeError, make_server, serve_forever, site_for

    try:
        site = site_for(args.path)
        server = make_server(site, args.port, args.quiet)
    except (ExportError, ServeError) as err:
        raise SystemExit(f"latentcraft serve: error: {err}") from None
    serve_forever(server, "index.html")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="one command: serve the explorer for the small routed model shipped in the package, print what to open",
        description="Export the explorer for the pretrained routed model shipped in the package (once, into "
        "~/.cache/latentcraft/demo-sites) and serve it on 127.0.0.1; nothing trains. --train trains a quick "
        "routed model instead (cached in ~/.cache/latentcraft/demo-run); --run-dir shows an existing run.",
    )
    p.add_argument("--run-dir", metavar="DIR", help="show this trained run instead of the shipped model")
    p.add_argument("--train", action="store_true", help="train a quick routed model (once, cached) instead of "
                   "showing the shipped one")
    p.add_argument("--epochs", type=at_least(1), help="epochs for --train (default: 5)")
    p.add_argument("--port", type=_port, default=8000, help="port on 127.0.0.1 (default: 8000; 0 = any free port)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, ...)")
    p.add_argument("--download", action="store_true", help="download MNIST if it is not found (checksummed)")
    p.add_argument("--no-serve", action="store_true", help="export only, then print the site folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_demo(args: argparse.Namespace) -> None:
    from .checkpoint import RunError
    from .demo import DEMO_EPOCHS, DEMO_PAGE, demo_run, demo_site
    from .explorer import ExportError
    from .serve import ServeError, make_server, serve_forever

    if args.epochs is not None and not args.train:
        raise UsageError("--epochs applies to --train only")
    overrides = []
    if args.data_dir:
        overrides.append(f"data.data_dir={json.dumps(args.data_dir)}")
    if args.download:
        overrides.append("data.download=true")
    try:
        run_dir = demo_run(Path(args.run_dir) if args.run_dir else None, args.train, args.epochs or DEMO_EPOCHS,
                           overrides, progress=not args.no_progress)
        site = demo_site(run_dir, args.data_dir, args.download)
        if args.no_serve:
            print(f"site folder: {site}")
            return
        server = make_server(site, args.port, quiet=True)
    except (ExportError, RunError, ServeError) as err:
        raise SystemExit(f"latentcraft demo: error: {err}") from None
    print("Move the sliders, press 'Random digit', or draw a digit on the black pad.")
    serve_forever(server, DEMO_PAGE)


COMMANDS: list[tuple[Callable, Callable]] = [
    (_add_train, _run_train),
    (add_sweep, run_sweep_command),
    (_add_presets, _run_presets),
    (_add_config, _run_config),
    (_add_data, _run_data),
    (_add_evaluate, _run_evaluate),
    (_add_plot, _run_plot),
    (_add_report, _run_report),
    (_add_export, _run_export),
    (_add_serve, _run_serve),
    (_add_demo, _run_demo),
]


DEBUG_HELP = f"on an error, show the Python traceback (also: {DEBUG_ENV}=1)"


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error, pointing to --help instead of printing the usage."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
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
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code: 0 done, 1 the work failed, 2 a usage error, 130 Ctrl+C."""
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return USAGE_ERROR
    resumable = args.command in ("train", "sweep")
    return run_command(f"latentcraft {args.command}", lambda: runners[args.command](args), args.debug,
                       "interrupted; continue with the same command plus --resume" if resumable else "interrupted")


if __name__ == "__main__":
    sys.exit(main())
