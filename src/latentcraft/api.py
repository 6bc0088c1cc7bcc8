"""latentcraft from Python: what the commands do, as functions.

    import latentcraft

    summary = latentcraft.train("routed10", "runs/routed10", overrides={"train.epochs": 3})
    model = latentcraft.load("runs/routed10")        # a TrainedModel (trained.py), eval mode, on the CPU
    mu = model.encode(images)                         # (B, D) encoder means
    pictures = model.decode(mu)                       # (B, 28, 28) in [0, 1]; (B, H, W, 3) for colour data
    latentcraft.train("routed10", "runs/mine", overrides={"data.path": "my_images/"})  # your own labelled images
    metrics = latentcraft.evaluate("runs/routed10")   # the numbers of `latentcraft evaluate`
    latentcraft.export("runs/routed10", "site")       # the browser explorer
    latentcraft.sweep("routed10", "sweeps/lr", seeds=3, grid={"train.lr": [1e-3, 3e-3]})

A config is given as a preset name, a TOML/JSON file, a dict of config fields
(as in config.json) or a `Config`; `overrides` maps dotted keys to values on
top of it ({"train.epochs": 1, "model.latent_dim": 16}). A relative data.path
is made absolute, as on the command line. `evaluate` and `export` take
`data=PATH` to read a run's data from elsewhere (same shape and classes).

Errors, each a one-line message naming what is wrong:
  ArgumentError  (latentcraft.errors; a UsageError, so also a ValueError) for
                 an argument of the wrong type, shape or value: a path that is
                 not str/PathLike, a bool or float where a count is expected,
                 seeds < 1, NaN or infinity in images or codes, a grid axis
                 that is not a non-empty list of distinct values, labels for a
                 model whose decoder takes none, codes of the wrong width, ...
  ConfigError    for what `--set`, `--preset` and `--grid` refuse on the
                 command line: an unknown preset, an unknown or invalid config
                 key or value (NaN included), an unknown grid key or metric;
  DatasetError   for your own data (data.path, data=) that cannot be used, or
                 that differs from a run's image shape or classes: the
                 message names the file, class or array;
  DataError, RunError, ... for work that fails (missing data, a damaged or
                 locked run folder), as the commands report them.
All of them are LatentcraftError. A refused call writes nothing: every
argument is checked before a folder is touched.
Modules are imported on first call, so `import latentcraft` stays light.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latentcraft.errors import ArgumentError, check_flag, shown

if TYPE_CHECKING:  # annotations only: importing these pulls in torch
    from latentcraft.config.run_config import Config
    from latentcraft.trained import TrainedModel

    ConfigSource = str | Path | dict[str, Any] | Config  # a preset name, a .toml/.json file, fields, a Config

EXECUTORS = ("auto", "ray", "sequential")

# ---- argument checks (shared with trained.py): each returns the value in the form the work wants ----


def _kind(value: Any) -> str:
    return type(value).__name__


def check_count(value: Any, name: str, minimum: int) -> int:
    """A whole number (int or numpy integer, never a bool or a float) no smaller than `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{name}: must be a whole number >= {minimum}, got {_kind(value)} {shown(value)}")
    if value < minimum:
        raise ArgumentError(f"{name}: must be at least {minimum}, got {value}")
    return int(value)


def check_optional_count(value: Any, name: str, minimum: int) -> int | None:
    return None if value is None else check_count(value, name, minimum)


def check_path(value: Any, name: str, folder: bool = False) -> Path:
    """A str or os.PathLike path, not empty (that would be the current folder); `folder`: not an existing file."""
    if isinstance(value, os.PathLike) and not isinstance(value, str):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ArgumentError(f"{name}: must be a path (str or os.PathLike), got {_kind(value)}")
    if not value.strip() or "\0" in value:
        raise ArgumentError(f"{name}: must be a non-empty path without NUL characters, got {shown(value)}")
    path = Path(value)
    if folder and path.exists() and not path.is_dir():
        raise ArgumentError(f"{name}: {value} is a file; give a folder")
    return path


def check_optional_path(value: Any, name: str) -> str | None:
    return None if value is None else str(check_path(value, name))


def check_text(value: Any, name: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError(f"{name}: must be a non-empty string, got {shown(value)}")
    if choices is not None and value not in choices:
        raise ArgumentError(f"{name}: must be one of {', '.join(choices)}, got {shown(value)}")
    return value


def json_copy(value: Any, name: str) -> Any:
    """A deep copy through JSON: what a config holds is what config.json can hold, and never the caller's object."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError, RecursionError) as err:  # ValueError: a circular reference
        raise ArgumentError(f"{name}: expected JSON-like values (str, int, float, bool, None, lists, dicts); "
                            f"{str(err) or 'nested too deeply'}") from None


def _check_seed_span(config: Config, seeds: int) -> None:
    # Seeds run train.seed .. train.seed + seeds - 1: refused before a trial config is built for each.
    from latentcraft.config.sections import MAX_SEED

    if config.train.seed + seeds - 1 > MAX_SEED:
        raise ArgumentError(f"seeds: train.seed + seeds - 1 must be at most {MAX_SEED}, got "
                            f"{config.train.seed} + {seeds} - 1")


# ---- configs --------------------------------------------------------------------------------


def _config_fields(source: Any) -> dict[str, Any]:
    """The raw fields of a config source, as a new dict (the caller's objects are never modified)."""
    from latentcraft.config.run_config import Config
    from latentcraft.config.sources import preset_dict, preset_names, read_config_file
    from latentcraft.errors import ConfigError

    if isinstance(source, Config):
        return source.to_dict()
    if isinstance(source, Mapping):
        return json_copy(dict(source), "config")
    if isinstance(source, str):
        path = check_path(source, "config")
        if path.suffix in (".toml", ".json") or path.is_file():
            return read_config_file(path)
        if source not in preset_names():  # a name only: no path reaches outside the presets folder
            raise ConfigError(f"unknown preset {source!r}; available: {', '.join(preset_names())}")
        return preset_dict(source)
    if isinstance(source, os.PathLike):  # a Path is always a file, never a preset name
        return read_config_file(check_path(source, "config"))
    raise ArgumentError(f"config: expected a preset name, a file path, a dict or a Config, got {_kind(source)}")


def _checked_overrides(overrides: Any) -> list[tuple[list[str], Any]]:
    """(key path, value) per override; a key the command line's --set would refuse is refused the same way."""
    from latentcraft.errors import ConfigError

    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        raise ArgumentError(f"overrides: expected a dict of 'section.key': value, got {_kind(overrides)}")
    out = []
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ArgumentError(f"overrides: keys must be dotted field paths such as 'train.epochs', got {shown(key)}")
        if not all(part.strip() for part in key.split(".")):
            raise ConfigError(f"overrides[{key!r}]: the key must be a field path such as train.epochs")
        out.append((key.strip().split("."), json_copy(value, f"overrides[{key!r}]")))
    return out


def make_config(source: ConfigSource, overrides: dict[str, Any] | None = None) -> Config:
    """A preset name, a .toml/.json file, a dict of fields or a Config, with dotted `overrides` applied."""
    from latentcraft.config.run_config import Config
    from latentcraft.config.sources import apply_override
    from latentcraft.data.source import absolute_path

    checked = _checked_overrides(overrides)  # before reading any file: a wrong type is the caller's slip
    raw = _config_fields(source)
    for path, value in checked:
        apply_override(raw, path, value)
    config = Config.from_dict(raw)
    config.data.path = absolute_path(config.data.path)  # as resolve_config does: the run names its data wherever read
    return config


# ---- the five verbs -------------------------------------------------------------------------


def train(config: ConfigSource, run_dir: str | Path, overrides: dict[str, Any] | None = None,
          seeds: int = 1, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train into `run_dir` (as `latentcraft train`); returns the summary (summary.json).

    seeds > 1 trains seeds seed..seed+N-1 into run_dir/seed-K and keeps the best
    (by train.select_metric) in run_dir; the summary is the best seed's, with the
    per-seed record under "seeds" (re-running such a folder always resumes it).
    """
    from latentcraft.data.source import read_own_data
    from latentcraft.sweeps.seeds import train_seeds
    from latentcraft.training.checkpoint import read_summary
    from latentcraft.training.trainer import train as train_run

    folder = check_path(run_dir, "run_dir", folder=True)
    seeds = check_count(seeds, "seeds", 1)
    resume, progress = check_flag(resume, "resume"), check_flag(progress, "progress")
    resolved = make_config(config, overrides)
    _check_seed_span(resolved, seeds)
    if resolved.data.path:
        read_own_data(resolved)  # a DatasetError before the run folder is made; training reuses what it read
    if seeds == 1:
        return train_run(resolved, folder, resume=resume, progress=progress)
    record = train_seeds(resolved, folder, seeds, progress=progress)
    return {**read_summary(folder), "seeds": record}


def load(run_dir: str | Path, device: str = "cpu") -> TrainedModel:
    """The trained model of `run_dir`, in eval mode, on `device` ("cpu", "auto", "cuda", ...) whatever it trained on."""
    from latentcraft.trained import TrainedModel, check_device
    from latentcraft.training.checkpoint import load_model

    folder = check_path(run_dir, "run_dir")
    return TrainedModel(load_model(folder, check_device(device, "device")))


def evaluate(run_dir: str | Path, samples: int = 0, fit_limit: int | None = None, test_limit: int | None = None,
             data_dir: str | None = None, device: str = "cpu", progress: bool = True,
             data: str | Path | None = None) -> dict[str, float]:
    """Every metric of `latentcraft evaluate` by name; the full record (confusion matrix, DCI
    importances, selectivity) is written to run_dir/eval.json as the command does.

    samples: importance samples for log p(x) (0 = skip; a deterministic model has
    none to estimate); fit_limit: training images fitting the probes and DCI
    trees (None = the command's default, 10,000); test_limit: None = the run's own;
    data: read the run's data from this path instead (it must have the run's image shape and classes).
    """
    from latentcraft.evaluation.evaluate import DEFAULT_FIT_LIMIT, evaluate_run
    from latentcraft.trained import check_device
    from latentcraft.training.checkpoint import load_config

    folder = check_path(run_dir, "run_dir")
    samples = check_count(samples, "samples", 0)
    fit_limit = check_optional_count(fit_limit, "fit_limit", 1)
    test_limit = check_optional_count(test_limit, "test_limit", 1)
    data_dir = check_optional_path(data_dir, "data_dir")
    data_path = check_optional_path(data, "data")
    where = check_device(device, "device")
    progress = check_flag(progress, "progress")
    if samples and load_config(folder).model.deterministic:  # evaluate_run would skip them without a word
        raise ArgumentError("samples: this model is deterministic (model.deterministic = true), so it has no "
                            "log-likelihood to estimate; use samples=0")
    record = evaluate_run(folder, samples, DEFAULT_FIT_LIMIT if fit_limit is None else fit_limit, test_limit,
                          data_dir, progress=progress, device=str(where), data_path=data_path)
    return record["metrics"]


def export(run_dirs: str | Path | Iterable[str | Path], out: str | Path, data_dir: str | None = None,
           force: bool = False, data: str | Path | None = None) -> dict[str, Any]:
    """Build the browser explorer for the run(s) in `out` (as `latentcraft export`); returns its manifest.

    One folder gives a one-model site; several (a list or tuple) give one site
    with a model picker and a compare view (the root manifest is returned). The
    site replaces `out` only once complete; a non-empty `out` that is not a site
    an export wrote is refused unless `force`. data: as for `evaluate`.
    """
    from latentcraft.explorer.export import export_site, export_sites

    if isinstance(run_dirs, (str, os.PathLike)):
        runs = [check_path(run_dirs, "run_dirs")]
    elif isinstance(run_dirs, (Mapping, set, frozenset, bytes)) or not isinstance(run_dirs, Iterable):
        # A set has no order, and the order names the models (-2, -3, ...) and sets the picker.
        raise ArgumentError(f"run_dirs: expected a run folder or a list of run folders, got {_kind(run_dirs)}")
    else:
        runs = [check_path(run, f"run_dirs[{i}]") for i, run in enumerate(run_dirs)]
    if not runs:
        raise ArgumentError("run_dirs: no run folder given; pass one or a list of several")
    target = check_path(out, "out")
    folder = check_optional_path(data_dir, "data_dir")
    data_path = check_optional_path(data, "data")
    force = check_flag(force, "force")
    if len(runs) == 1:
        return export_site(runs[0], target, data_dir=folder, force=force, data_path=data_path)
    return export_sites(list(runs), target, data_dir=folder, force=force, data_path=data_path)


def _grid_axes(grid: Any) -> list[tuple[str, list[Any]]]:
    """(key, values) per axis of a grid dict, every key as --grid resolves it and every value JSON-like."""
    from latentcraft.data.source import absolute_path
    from latentcraft.sweeps.definition import resolve_key

    if grid is None:
        return []
    if not isinstance(grid, Mapping):
        raise ArgumentError(f"grid: expected a dict of config key -> list of values, got {_kind(grid)}")
    axes = []
    for key, values in grid.items():
        if not isinstance(key, str) or not key.strip():
            raise ArgumentError(f"grid: keys must be config paths such as 'train.lr', got {shown(key)}")
        full = resolve_key(key.strip())  # an unknown or ambiguous key: the ConfigError --grid gives
        if not isinstance(values, (list, tuple)) or not values:
            raise ArgumentError(f"grid[{key!r}]: expected a non-empty list of values to try, got {shown(values)}")
        values = json_copy(list(values), f"grid[{key!r}]")
        if full == "data.path":  # as --grid makes them, so the two spellings are one sweep
            values = [absolute_path(value) for value in values]
        for i, value in enumerate(values):
            if any(value == earlier for earlier in values[:i]):  # ==, so 1 and 1.0 are one setting
                raise ArgumentError(f"grid[{key!r}]: values must be distinct, {shown(value)} is given twice")
        axes.append((key.strip(), values))
    return axes


def sweep(config: ConfigSource, out: str | Path, seeds: int = 1,
          grid: dict[str, list[Any]] | None = None, overrides: dict[str, Any] | None = None,
          metrics: list[str] | None = None, select_metric: str | None = None, executor: str = "auto",
          address: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Every combination of `grid` values × `seeds` seeds (as `latentcraft sweep`); returns the summary.

    grid maps a config path (or an unambiguous field name) to a non-empty list of
    distinct values to try, e.g. {"train.lr": [1e-3, 3e-3], "beta": [0.5, 1.0]}.
    executor: "auto" (Ray when installed), "ray" or "sequential"; address: a Ray
    cluster's HOST:PORT (needs Ray).
    """
    from latentcraft.sweeps.definition import define_sweep, parse_grid
    from latentcraft.sweeps.execution import RAY_HINT, check_own_data, ray_available, run_sweep, unfinished
    from latentcraft.sweeps.summary import sweep_metric

    folder = check_path(out, "out", folder=True)
    seeds = check_count(seeds, "seeds", 1)
    axes = _grid_axes(grid)
    if metrics is not None:
        if not isinstance(metrics, (list, tuple)) or not metrics:
            raise ArgumentError(f"metrics: expected a non-empty list of metric names (or None), got {shown(metrics)}")
        metrics = [sweep_metric(check_text(m, f"metrics[{i}]"), "metrics") for i, m in enumerate(metrics)]
    if select_metric is not None:
        select_metric = sweep_metric(check_text(select_metric, "select_metric"), "select_metric")
    executor = check_text(executor, "executor", EXECUTORS)
    if address is not None:
        check_text(address, "address")
        if executor == "sequential":
            raise ArgumentError("address: a cluster address needs the Ray executor; use executor='ray' or 'auto'")
    if (executor == "ray" or address) and not ray_available():  # else refused only after sweep.json is written
        raise ArgumentError(f"executor: Ray is needed for {'address' if address else 'executor=ray'}; {RAY_HINT}")
    progress = check_flag(progress, "progress")
    resolved = make_config(config, overrides)
    _check_seed_span(resolved, seeds)
    # Each axis as the command's --grid text, so both go through one parser and one set of checks.
    texts = [f"{key}={','.join(json.dumps(v) for v in values)}" for key, values in axes]
    for (key, values), text in zip(axes, texts):
        if parse_grid(text).values != values:  # a string the --grid text cannot carry (quotes and commas)
            raise ArgumentError(f"grid[{key!r}]: these values cannot be written as a grid axis: {shown(values)}")
    definition = define_sweep(resolved, texts, seeds)
    check_own_data(unfinished(definition.trials(), folder))  # before the sweep folder is made
    return run_sweep(definition, folder, metrics, select_metric, executor, address, progress)
