"""The `sweep` command: its options, then define_sweep and run_sweep. main.py lists it with the others."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentcraft.cli.options import (
    add_config_options,
    add_data_options,
    at_least,
    check_out_folder,
    finite_at_least,
    path_text,
    shortcut_overrides,
)
from latentcraft.errors import UsageError

MAX_SEEDS = 1000  # --seeds per setting; settings × seeds is capped too (sweeps.definition.MAX_TRIALS)


def add_sweep(sub: argparse._SubParsersAction) -> None:

    p = sub.add_parser(
        "sweep",
        help="run every grid setting x seed (on Ray when installed) and summarise mean/std/min/max",
        description="Run every combination of --grid values for --seeds seeds; each trial is an ordinary run "
        "folder under OUT/trials/. Writes OUT/sweep.json (the definition), OUT/sweep_summary.json and a Markdown "
        "table OUT/sweep_summary.md. Re-running the same command skips finished trials and resumes interrupted "
        "ones. Trials run on a local Ray instance (or --address HOST:PORT of a cluster started with "
        "`ray start --head`); without Ray, or with --sequential, one after another in this process. With --data, "
        "the data is checked once before any trial starts; on a cluster, small data travels to the workers "
        "through Ray's object store, larger data must sit at the same absolute path on every node.",
    )
    add_config_options(p)
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a grid axis, e.g. --grid lr=1e-3,3e-3 --grid beta=0.5,1; KEY is a config path "
                   "(train.lr) or an unambiguous field name (lr) (repeatable)")
    p.add_argument("--seeds", type=at_least(1, MAX_SEEDS), default=1, metavar="N",
                   help=f"seeds per setting (default: 1; at most {MAX_SEEDS})")
    p.add_argument("--seed", type=int, help="first seed (default: train.seed); seeds are SEED..SEED+N-1")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--data-dir", metavar="DIR", type=path_text,
                   help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, ...)")
    add_data_options(p, "sweep on")
    p.add_argument("--out", metavar="DIR", type=path_text, help="sweep folder (default: sweeps/<config name>)")
    p.add_argument("--metrics", metavar="M1,M2",
                   help="metrics to summarise, of those training logs: recon_bce, recon_sq, loss, kl, elbo and each "
                   "technique's accuracy (argmax_accuracy, classifier_accuracy) (default: the select metric and "
                   "recon_bce)")
    p.add_argument("--select-metric", metavar="METRIC",
                   help="metric that names the best run (default: train.select_metric)")
    p.add_argument("--address", metavar="HOST:PORT", help="connect to an existing Ray cluster (`ray start --head`)")
    p.add_argument("--sequential", action="store_true", help="run trials one after another in this process, no Ray")
    # The default is sweep_run.NODE_WAIT_S, not imported here: building the parser must not import torch.
    p.add_argument("--node-wait", type=finite_at_least(0), metavar="SECONDS",
                   help="on Ray: how long to wait while no node can run a trial (all workers lost, or none joined "
                   "yet) before recording the unfinished trials as failed (default: 300)")
    p.add_argument("--resume", action="store_true",
                   help="accepted for symmetry with train: re-running a sweep always skips finished trials "
                   "and resumes interrupted ones")
    p.add_argument("--tensorboard", action="store_true",
                   help="log every trial to its own RUN_DIR/tensorboard/ (--set train.tensorboard=true)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (sequential runs)")


def _metric_names(text: str | None) -> list[str] | None:
    """--metrics M1,M2 as a list; an empty or repeated name is refused like a bad grid value."""
    if text is None:
        return None
    names = [m.strip() for m in text.split(",")]
    if "" in names:
        raise UsageError(f"--metrics {text!r}: a name is empty; list names with single commas, e.g. loss,kl")
    repeated = sorted({m for m in names if names.count(m) > 1})
    if repeated:
        raise UsageError(f"--metrics {text!r}: {repeated[0]} is listed twice; list each metric once")
    return names


def run_sweep_command(args: argparse.Namespace) -> None:
    from latentcraft.config.run_config import resolve_config
    from latentcraft.sweeps.definition import define_sweep
    from latentcraft.sweeps.execution import NODE_WAIT_S, check_own_data, run_sweep, unfinished
    from latentcraft.sweeps.summary import TABLE_FILE, markdown_table
    from latentcraft.training.checkpoint import RunError

    config = resolve_config(args.preset, args.config, shortcut_overrides(args))
    definition = define_sweep(config, args.grid, args.seeds)
    out = Path(args.out or Path("sweeps") / config.name)
    check_out_folder("--out", out)
    metrics = _metric_names(args.metrics)
    check_own_data(unfinished(definition.trials(), out))  # refused before the sweep folder is made
    summary = run_sweep(definition, out, metrics, args.select_metric, "sequential" if args.sequential else "auto",
                        args.address, not args.no_progress,
                        node_wait=NODE_WAIT_S if args.node_wait is None else args.node_wait)
    print()
    print(markdown_table(summary))
    print(f"sweep folder: {out} (table in {out / TABLE_FILE})")
    if summary["failed"]:
        raise RunError(f"{len(summary['failed'])} of {sum(s['runs_total'] for s in summary['settings'])} trials "
                       "failed (listed above); re-run the same command to retry them")
