"""Run folders on disk: weights (safetensors) + config JSON, and resumable training state.

Nothing is pickled: a model is rebuilt as `LatentModel(Config.from_dict(json))`
and its tensors loaded from safetensors. Every file is written to a temp file
in the same folder and renamed into place, so a crash never leaves a corrupt one.

The weights file also records, in its metadata, the config fields that say what
the weights mean (`bound_config`); a config.json edited since no longer loads
them, since names and shapes alone miss edits like `model.relu_latent` or the
routes. Folders saved before that record existed load as before.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from latentcraft.config.run_config import Config
from latentcraft.config.sections import RunSpec
from latentcraft.data.source import relocate
from latentcraft.errors import ConfigError, LatentcraftError
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model, upgrade_legacy_weights
from latentcraft.training.devices import accelerator_rng_state, module_device, resolve_device, restore_accelerator_rng

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
EVAL_FILE = "eval.json"  # written by `latentcraft evaluate`
TEMP_SUFFIX = ".tmp"  # atomic_write's temp files: ".<name>.<random>.tmp" beside their target
BOUND_CONFIG_KEY = "latentcraft.config"  # weights metadata: JSON of the bound config fields, {dotted key: value}
# Config fields a run folder may change after training without changing what its weights mean: the
# labels, where the data is, how evaluation and logging run, and what `train --resume` may change
# (epochs, rate, precision: trainer.py's rule). Every other field is bound to the weights.
UNBOUND_FIELDS = frozenset({
    "name", "description", "data.data_dir", "data.path", "data.download", "data.test_limit", "train.epochs", "train.lr",
    "train.precision", "train.threads", "train.device", "train.tensorboard", "train.eval_batch_size",
    "train.select_metric",
})


class RunError(LatentcraftError, RuntimeError):
    """A run folder is missing something or holds something unreadable."""


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(tmp_path), then rename tmp over `path` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete the temp files a kill in the middle of atomic_write left in `folder`.

    Call it only while holding the folder's lock: another writer's temp file
    would otherwise be pulled from under it.
    """
    leftovers = [p for p in folder.glob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def _state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # CPU copies: the file holds no device, so a GPU-trained run loads anywhere.
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        out.update(_flatten(value, f"{dotted}.") if isinstance(value, dict) else {dotted: value})
    return out


def bound_config(config: RunSpec) -> dict[str, Any]:
    """The config fields the weights are bound to, {dotted key: JSON value}: all but UNBOUND_FIELDS."""
    flat = json.loads(json.dumps(_flatten(config.to_dict())))  # tuples become lists, as they read back
    return {key: value for key, value in flat.items() if key not in UNBOUND_FIELDS}


def weights_metadata(config: RunSpec) -> dict[str, str]:
    """The metadata a weights file of `config` carries (save_model's; pretrained.pack keeps it)."""
    return {BOUND_CONFIG_KEY: json.dumps(bound_config(config), sort_keys=True)}


def save_model(model: LatentModel, run_dir: Path) -> None:
    write_json(run_dir / CONFIG_FILE, model.config.to_dict())
    metadata = weights_metadata(model.config)
    atomic_write(run_dir / WEIGHTS_FILE, lambda tmp: save_file(_state_tensors(model), str(tmp), metadata=metadata))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, each checked to hold only finite numbers."""
    if not path.is_file():
        raise RunError(f"{path} does not exist")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise RunError(f"{path} is not a readable safetensors file ({err})") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise RunError(f"{path}: tensor {name!r} holds NaN or infinite values; these weights are unusable "
                           "(retrain, or resume from a checkpoint written before the loss diverged)")
    return tensors


def load_config(run_dir: Path) -> Config:
    """The config a run folder was trained with; a damaged one is a RunError naming the file."""
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise RunError(f"{run_dir} is not a run folder: {CONFIG_FILE} is missing")
    try:
        return Config.load(config_path)
    except ConfigError as err:
        message = str(err)
        raise RunError(message if str(config_path) in message else f"{config_path}: {message}") from None


def _load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    tensors = upgrade_legacy_weights(tensors)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    wrong_shape = [f"{k} is {tuple(tensors[k].shape)}, the config needs {tuple(v.shape)}"
                   for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        details = "; ".join(filter(None, [
            f"missing {', '.join(missing[:3])}" if missing else "",
            f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
            "; ".join(wrong_shape[:3]),
        ]))
        raise RunError(f"{path} does not match its config in {CONFIG_FILE} ({details}); "
                       "were they copied from different runs?")
    model.load_state_dict(tensors)


def _recorded_fields(recorded: dict[str, Any]) -> dict[str, Any]:
    """A weights file's record read as this version reads config.json (legacy keys upgraded, new fields at
    their defaults), so a renamed field is still compared; as it stands if this version cannot read it."""
    nested: dict[str, Any] = {}
    for key, value in recorded.items():
        *sections, name = key.split(".")
        table = nested
        for section in sections:
            table = table.setdefault(section, {})
            if not isinstance(table, dict):
                return recorded
        table[name] = value
    try:
        return bound_config(Config.from_dict(nested))
    except ConfigError:
        return recorded


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def check_bound_config(config: RunSpec, run_dir: Path) -> None:
    """RunError unless config.json holds the bound fields the weights were saved with (if they recorded them).

    The record is read through the same upgrade as config.json: a renamed field is still compared,
    and a field added since the weights were saved counts at its default, as config.json's would.
    """
    path = run_dir / WEIGHTS_FILE
    try:
        with safe_open(str(path), framework="pt") as f:
            text = (f.metadata() or {}).get(BOUND_CONFIG_KEY)
    except (SafetensorError, OSError) as err:
        raise RunError(f"{path} is not a readable safetensors file ({err})") from None
    if text is None:
        return  # saved before weights recorded their config: nothing to compare against
    try:
        recorded = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        recorded = None
    if not isinstance(recorded, dict):
        raise RunError(f"{path}: its record of the config it was trained with ({BOUND_CONFIG_KEY} metadata) is "
                       "damaged; retrain, or copy the weights from an intact run folder")
    current, recorded = bound_config(config), _recorded_fields(recorded)
    differing = [key for key in sorted(recorded) if key in current and current[key] != recorded[key]]
    if differing:
        first = differing[0]
        more = f" (and {len(differing) - 1} more: {', '.join(differing[1:4])})" if len(differing) > 1 else ""
        raise RunError(
            f"{run_dir / CONFIG_FILE} does not describe the weights in {WEIGHTS_FILE}: {first} is "
            f"{_shown(current[first])} there but they were trained with {_shown(recorded[first])}{more}; "
            "put back the value they were trained with (or take config.json and weights from the same run)"
        )


def load_model(run_dir: str | Path, device: str | torch.device = "cpu",
               data_path: str | Path | None = None) -> LatentModel:
    """Rebuild a trained model from a run folder, in eval mode, on `device` (whatever it was trained on).

    Weights that do not match config.json are refused: other tensor names or shapes, or (for
    weights that record it) a bound config field that has changed since they were saved.
    data_path: where the run's data lives now, if it moved (checked against the run's shape and classes).
    """
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    model = build_model(config)
    tensors = _load_tensors(run_dir / WEIGHTS_FILE)
    check_bound_config(config, run_dir)  # first: a changed field says more than the tensor shapes it changed
    _load_weights(model, tensors, run_dir / WEIGHTS_FILE)
    if data_path is not None:
        relocate(model.config, data_path)
    return model.to(resolve_device(device)).eval()


# ---- resumable training state ------------------------------------------------------
# One safetensors file holds the model, Adam's moment tensors and the torch RNG
# state; scalars (epoch, Adam's param groups) go in its string metadata.


def save_checkpoint(run_dir: Path, model: LatentModel, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    tensors = {f"model.{k}": v for k, v in _state_tensors(model).items()}
    opt_state = optimizer.state_dict()
    for index, state in opt_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = value.detach().to("cpu", copy=True).reshape(value.shape)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors.update(accelerator_rng_state(module_device(model)))
    metadata = {"epoch": str(epoch), "param_groups": json.dumps(opt_state["param_groups"])}
    atomic_write(run_dir / CHECKPOINT_FILE, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_checkpoint(run_dir: Path, model: LatentModel, optimizer: torch.optim.Optimizer) -> int:
    """Restore model, optimizer and RNG from the last checkpoint; returns the epochs completed."""
    path = run_dir / CHECKPOINT_FILE
    tensors = _load_tensors(path)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    _load_weights(model, {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}, path)
    try:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
        torch.set_rng_state(tensors["rng.torch"])
        restore_accelerator_rng(module_device(model), tensors)
        epoch = int(metadata["epoch"])
    except (KeyError, ValueError, TypeError, RuntimeError, RecursionError) as err:  # json's error is a ValueError
        raise RunError(f"{path} is damaged ({type(err).__name__}: {str(err)[:80]}); it cannot be resumed, "
                       "so train into a new --run-dir") from None
    parameters = sum(len(group["params"]) for group in optimizer.param_groups)
    # After an epoch Adam holds moments; none at all, or for parameters that do not exist, means damage.
    if epoch < 0 or (epoch > 0 and not state) or any(not 0 <= index < parameters for index in state):
        raise RunError(f"{path} is damaged (epoch {epoch}, optimizer state for {len(state)} of {parameters} "
                       "parameters); it cannot be resumed, so train into a new --run-dir")
    return epoch


def read_json(path: Path, remedy: str) -> Any:
    """A JSON file latentcraft wrote; a missing or damaged one is a RunError naming it and saying `remedy`."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path} does not exist; {remedy}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise RunError(f"{path} is damaged: not valid JSON ({str(err)[:80]}); {remedy}") from None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """One dict per logged epoch; a torn last line (killed mid-append) is dropped, a torn middle one is an error."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    damaged = "the run's log is damaged; remove that line (its epoch's numbers are lost) or train into a new --run-dir"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}: is not UTF-8 text; {damaged}") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    records = []
    for number, line in lines:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if number == lines[-1][0]:
                break  # that epoch's checkpoint was never written either, so resuming redoes it
            raise RunError(f"{path}: line {number} is not valid JSON; {damaged}") from None
        if not isinstance(record, dict) or type(record.get("epoch")) is not int:
            raise RunError(f"{path}: line {number} is not an epoch record; {damaged}")
        records.append(record)
    return records


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        raise RunError(f"{path} does not exist: the run has not finished (resume it with --resume)")
    remedy = "delete it and resume the run (--resume) to write it again"
    summary = read_json(path, remedy)
    final = summary.get("final") if isinstance(summary, dict) else None
    if not isinstance(final, dict) or not all(type(v) in (int, float, type(None)) for v in final.values()):
        raise RunError(f"{path} is damaged: it has no 'final' table of metric values; {remedy}")
    return summary


def _eval_shape_problem(record: Any) -> str | None:
    """What keeps `record` from being an eval.json record the report can read; None if nothing."""
    if not isinstance(record, dict):
        return f"it holds a JSON {type(record).__name__}, not an object"
    if not isinstance(record.get("name"), str):
        return "it has no 'name' text"
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        return "it has no 'metrics' table"
    wrong = [k for k, v in metrics.items() if type(v) not in (int, float, type(None))]
    if wrong:
        return f"metric {wrong[0]!r} is not a number"
    importance = record["dci"].get("importance") if isinstance(record.get("dci"), dict) else None
    if "dci" in record and not (isinstance(importance, list) and importance and
                                all(isinstance(row, list) and len(row) == len(importance[0]) and row and
                                    all(type(v) in (int, float) for v in row) for row in importance)):
        return "its 'dci' entry has no importance matrix of numbers"
    return None


def read_eval(run_dir: str | Path) -> dict[str, Any] | None:
    """A run's eval.json record, None if it has none; a damaged one is a RunError naming the file."""
    path = Path(run_dir) / EVAL_FILE
    if not path.is_file():
        return None
    remedy = f"delete it and run `latentcraft evaluate {run_dir}` to write it again"
    record = read_json(path, remedy)
    problem = _eval_shape_problem(record)
    if problem:
        raise RunError(f"{path} is damaged: {problem}; {remedy}")
    return record
