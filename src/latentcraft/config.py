"""Plain dataclass configs, presets, and load/save with strict keys.

A run is fully described by one `Config`; it is saved as JSON next to the
weights and rebuilt with `Config.from_dict(json)`. Unknown keys are an error
that names the key (as flax's `lock_config` does), so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from .constants import NUM_CLASSES


class ConfigError(ValueError):
    """A configuration problem; the message names the offending field."""


@dataclass
class DataConfig:
    dataset: str = "mnist"  # "mnist" or "fashion-mnist"
    data_dir: str | None = None  # folder with the IDX files; None = search the usual places
    download: bool = False  # fetch missing files from the standard mirrors (checksummed)
    train_limit: int = 0  # use only the first N training images (0 = all 60,000)
    test_limit: int = 0  # use only the first N test images (0 = all 10,000)
    labelled_fraction: float = 1.0  # share of training examples that keep their label (rest: -1)
    augment: bool = False  # random small shifts/rotations of training batches
    augment_shift: float = 2.0  # max shift, pixels
    augment_rotate: float = 10.0  # max rotation, degrees


@dataclass
class ModelConfig:
    body: str = "mlp"  # encoder/decoder body, a key of nets.BODIES ("mlp", "conv")
    encoder_hidden: list[int] = field(default_factory=lambda: [512, 256])  # MLP hidden sizes, input side first
    decoder_hidden: list[int] = field(default_factory=lambda: [256, 512])  # MLP hidden sizes, latent side first
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv body channels per stride-2 stage
    latent_dim: int = 10  # size of z
    relu_latent: bool = False  # ReLU on the sample, so "more of k" is the positive direction (SPEC §1)
    deterministic: bool = False  # plain autoencoder: z = μ, no sampling, no KL (SPEC §2)


@dataclass
class RoutingConfig:
    enabled: bool = False  # gradient routing (Cloud et al. 2024): per-example stop-gradient mask on z
    routes: list[list[int]] | None = None  # label k -> latent coordinates it owns; None = k -> [k]
    free: list[int] = field(default_factory=list)  # coordinates no label owns; every example trains them
    unlabelled: str = "all"  # what an unlabelled example routes: "all", "free" (only free coords) or "none"


@dataclass
class ObjectiveConfig:
    kind: str = "elbo"  # "elbo" (principled) or "reference" (the original's loss and quirk, SPEC §1)
    reconstruction: str = "bce"  # "bce" (Bernoulli, logits) or "gaussian" (summed squared error / 2)
    beta: float = 1.0  # weight of the KL term
    kl_warmup_epochs: int = 0  # ramp beta linearly from 0 over this many epochs
    reference_recon_weight: float = 0.3  # the original's weight on mean squared error per image


@dataclass
class TrainConfig:
    epochs: int = 20  # passes over the training set
    batch_size: int = 128  # examples per step
    lr: float = 1e-3  # Adam learning rate at epoch 0
    lr_decay: float = 0.95  # multiply the learning rate by this after every epoch
    seed: int = 0  # seeds weights, shuffling, noise and the labelled subset
    precision: str = "bf16"  # "bf16" (autocast matmuls, ~1.7x faster on AVX512-BF16 CPUs) or "fp32"
    eval_batch_size: int = 2000  # examples per step when evaluating
    select_metric: str = "test_argmax_accuracy"  # metric that picks the best of several seeds
    threads: int = 0  # torch intra-op threads (0 = torch's default)


@dataclass
class Config:
    name: str = "custom"  # a label for this run, shown in reports
    description: str = ""  # one line on what this config reproduces or tries
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ---- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Config":
        config = _build(cls, raw, prefix="")
        validate(config)
        return config

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        return cls.from_dict(read_config_file(path))

    # ---- derived facts ------------------------------------------------------
    def route_map(self) -> list[list[int]]:
        """Label -> owned latent coordinates (the default routes digit k to coordinate k)."""
        if self.routing.routes is not None:
            return [list(r) for r in self.routing.routes]
        return [[k] for k in range(NUM_CLASSES)]


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table of fields, got {raw!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}; valid keys here: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check a JSON/TOML value against the field's type; ints are accepted for floats."""
    options = get_args(hint) if get_origin(hint) in (type(int | None),) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{key}: must not be null")
    for option in options:
        if option is type(None):
            continue
        origin = get_origin(option)
        if origin is list:
            if isinstance(value, (list, tuple)):
                (inner,) = get_args(option)
                return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
            continue
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is bool and isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            return value
    raise ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def validate(config: Config) -> None:
    """Cross-field checks that a dataclass type cannot express; messages name the field."""
    choices = {
        "data.dataset": (config.data.dataset, ("mnist", "fashion-mnist")),
        "objective.kind": (config.objective.kind, ("elbo", "reference")),
        "objective.reconstruction": (config.objective.reconstruction, ("bce", "gaussian")),
        "routing.unlabelled": (config.routing.unlabelled, ("all", "free", "none")),
        "train.precision": (config.train.precision, ("bf16", "fp32")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    from .nets import BODIES  # late import: nets imports torch

    if config.model.body not in BODIES:
        raise ConfigError(f"model.body: {config.model.body!r} is not one of {', '.join(BODIES)}")
    positive = {
        "model.latent_dim": config.model.latent_dim,
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
        "train.eval_batch_size": config.train.eval_batch_size,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key}: must be at least 1, got {value}")
    if not 0.0 <= config.data.labelled_fraction <= 1.0:
        raise ConfigError(f"data.labelled_fraction: must be in [0, 1], got {config.data.labelled_fraction}")
    if config.train.lr <= 0:
        raise ConfigError(f"train.lr: must be positive, got {config.train.lr}")
    if config.routing.enabled:
        _validate_routes(config)
    if config.model.deterministic and config.objective.kind == "reference":
        raise ConfigError("objective.kind: 'reference' needs a stochastic model (model.deterministic = false)")


def _validate_routes(config: Config) -> None:
    latent = config.model.latent_dim
    routes = config.route_map()
    if len(routes) != NUM_CLASSES:
        raise ConfigError(f"routing.routes: needs one entry per class ({NUM_CLASSES}), got {len(routes)}")
    for label, coords in enumerate(routes):
        for c in coords:
            if not 0 <= c < latent:
                raise ConfigError(
                    f"routing.routes[{label}]: coordinate {c} is outside the latent (model.latent_dim = {latent})"
                )
    owned = {c for coords in routes for c in coords}
    for c in config.routing.free:
        if not 0 <= c < latent:
            raise ConfigError(f"routing.free: coordinate {c} is outside the latent (model.latent_dim = {latent})")
        if c in owned:
            raise ConfigError(f"routing.free: coordinate {c} is also owned by a label in routing.routes")


# ---- files, presets, overrides ---------------------------------------------


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {err}") from None


def preset_names() -> list[str]:
    folder = resources.files("latentcraft") / "presets"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_dict(name: str) -> dict[str, Any]:
    path = resources.files("latentcraft") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    raw = tomllib.loads(path.read_text())
    raw.setdefault("name", name)
    return raw


def parse_override(text: str) -> tuple[list[str], Any]:
    """`section.key=value` -> (["section", "key"], value); the value is read as JSON, else as a string."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.epochs=5")
    key, raw_value = text.split("=", 1)
    try:
        value = json.loads(raw_value)
    except json.JSONDecodeError:
        value = raw_value
    return key.strip().split("."), value


def apply_override(raw: dict[str, Any], path: list[str], value: Any) -> None:
    """Set raw[a][b]... = value, creating tables; key validity is checked when the Config is built."""
    node = raw
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part} is not a section")
    node[path[-1]] = value


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` into a copy of `base` (tables merge, values replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_config(
    preset: str | None = None, config_file: str | Path | None = None, overrides: list[str] = ()
) -> Config:
    """Preset, then config file, then --set overrides, each replacing what came before."""
    raw: dict[str, Any] = preset_dict(preset) if preset else {}
    if config_file:
        raw = merge(raw, read_config_file(config_file))
    for text in overrides:
        path, value = parse_override(text)
        apply_override(raw, path, value)
    return Config.from_dict(raw)
