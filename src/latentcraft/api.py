"""latentcraft from Python: what the commands do, as functions.

    import latentcraft

    summary = latentcraft.train("routed10", "runs/routed10", overrides={"train.epochs": 3})
    model = latentcraft.load("runs/routed10")        # a TrainedModel (trained.py), eval mode, on the CPU
    mu = model.encode(images)                         # (B, D) encoder means
    pictures = model.decode(mu)                       # (B, 28, 28) in [0, 1]
    metrics = latentcraft.evaluate("runs/routed10")   # the numbers of `latentcraft evaluate`
    latentcraft.export("runs/routed10", "site")       # the browser explorer
    latentcraft.sweep("routed10", "sweeps/lr", seeds=3, grid={"train.lr": [1e-3, 3e-3]})

A config is given as a preset name, a TOML/JSON file, a dict of config fields
(as in config.json) or a `Config`; `overrides` maps dotted keys to values on
top of it ({"train.epochs": 1, "model.latent_dim": 16}). Errors are the
commands' own: ConfigError, DataError, RunError (each a one-line message).
Modules are imported on first call, so `import latentcraft` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing these pulls in torch
    from latentcraft.config.run_config import Config
    from latentcraft.trained import TrainedModel

    ConfigSource = str | Path | dict[str, Any] | Config  # a preset name, a .toml/.json file, fields, a Config


def make_config(source: ConfigSource, overrides: dict[str, Any] | None = None) -> Config:
    """A preset name, a .toml/.json file, a dict of fields or a Config, with dotted `overrides` applied."""
    from latentcraft.config.run_config import Config
    from latentcraft.config.sources import apply_override, preset_dict, read_config_file
    from latentcraft.errors import ConfigError

    if isinstance(source, Config):
        raw = source.to_dict()
    elif isinstance(source, dict):
        raw = json.loads(json.dumps(source))  # a deep copy: overrides never touch the caller's dict
    elif isinstance(source, (str, Path)):
        path = Path(source)
        is_file = path.suffix in (".toml", ".json") or path.is_file()
        raw = read_config_file(path) if is_file else preset_dict(str(source))
    else:
        kind = type(source).__name__
        raise ConfigError(f"config: expected a preset name, a file path, a dict or a Config, got {kind}")
    for key, value in (overrides or {}).items():
        apply_override(raw, key.split("."), value)
    return Config.from_dict(raw)


def train(config: ConfigSource, run_dir: str | Path, overrides: dict[str, Any] | None = None,
          seeds: int = 1, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train into `run_dir` (as `latentcraft train`); returns the summary (summary.json).

    seeds > 1 trains seeds seed..seed+N-1 into run_dir/seed-K and keeps the best
    (by train.select_metric) in run_dir; the summary is the best seed's, with the
    per-seed record under "seeds".
    """
    from latentcraft.errors import ConfigError
    from latentcraft.sweeps.seeds import train_seeds
    from latentcraft.training.checkpoint import read_summary
    from latentcraft.training.trainer import train as train_run

    resolved = make_config(config, overrides)
    if seeds < 1:
        raise ConfigError(f"seeds: must be at least 1, got {seeds}")
    if seeds == 1:
        return train_run(resolved, run_dir, resume=resume, progress=progress)
    record = train_seeds(resolved, run_dir, seeds, progress=progress)  # re-running always resumes
    return {**read_summary(Path(run_dir)), "seeds": record}


def load(run_dir: str | Path, device: str = "cpu") -> TrainedModel:
    """The trained model of `run_dir`, in eval mode, on `device` ("cpu", "auto", "cuda", ...) whatever it trained on."""
    from latentcraft.trained import TrainedModel
    from latentcraft.training.checkpoint import load_model

    return TrainedModel(load_model(run_dir, device))


def evaluate(run_dir: str | Path, samples: int = 0, fit_limit: int | None = None, test_limit: int | None = None,
             data_dir: str | None = None, device: str = "cpu", progress: bool = True) -> dict[str, float]:
    """Every metric of `latentcraft evaluate` by name; the full record (confusion matrix, DCI
    importances, selectivity) is written to run_dir/eval.json as the command does.

    samples: importance samples for log p(x) (0 = skip); fit_limit: training images
    fitting the probes and DCI trees (None = the command's default, 10,000).
    """
    from latentcraft.evaluation.evaluate import DEFAULT_FIT_LIMIT, evaluate_run

    record = evaluate_run(run_dir, samples, DEFAULT_FIT_LIMIT if fit_limit is None else fit_limit, test_limit,
                          data_dir, progress=progress, device=device)
    return record["metrics"]


def export(run_dirs: str | Path | Iterable[str | Path], out: str | Path, data_dir: str | None = None,
           force: bool = False) -> dict[str, Any]:
    """Build the browser explorer for the run(s) in `out` (as `latentcraft export`); returns its manifest.

    One folder gives a one-model site; several give one site with a model picker
    and a compare view (the root manifest is returned). The site replaces `out`
    only once complete; a non-empty `out` that is not a site an export wrote is
    refused unless `force`.
    """
    from latentcraft.explorer.export import export_site, export_sites

    runs = [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)
    if not runs:
        raise ValueError("export: no run folder given")
    if len(runs) == 1:
        return export_site(runs[0], out, data_dir=data_dir, force=force)
    return export_sites(runs, out, data_dir=data_dir, force=force)


def sweep(config: ConfigSource, out: str | Path, seeds: int = 1,
          grid: dict[str, list[Any]] | None = None, overrides: dict[str, Any] | None = None,
          metrics: list[str] | None = None, select_metric: str | None = None, executor: str = "auto",
          address: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Every combination of `grid` values × `seeds` seeds (as `latentcraft sweep`); returns the summary.

    grid maps a config path (or an unambiguous field name) to the values to try,
    e.g. {"train.lr": [1e-3, 3e-3], "beta": [0.5, 1.0]}. executor: "auto" (Ray
    when installed), "ray" or "sequential".
    """
    from latentcraft.errors import ConfigError
    from latentcraft.sweeps.definition import define_sweep
    from latentcraft.sweeps.execution import run_sweep

    for key, values in (grid or {}).items():
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"grid[{key!r}]: expected a list of values to try, got {values!r}")
    # Each axis as the command's --grid text, so both go through one parser and one set of checks.
    axes = [f"{key}={','.join(json.dumps(v) for v in values)}" for key, values in (grid or {}).items()]
    definition = define_sweep(make_config(config, overrides), axes, seeds)
    return run_sweep(definition, out, metrics, select_metric, executor, address, progress)
