"""The full run config: the core sections plus one section per registered technique.

A run is fully described by one `Config`; it is saved as JSON next to the
weights and rebuilt with `Config.from_dict(json)`. Sections are known only
through the technique registry: each technique declares its section's
dataclass and checks it. `resolve_config` builds a config from a preset, a
file and --set overrides (read by sources.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentcraft.config.sections import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_IMAGES,
    MAX_LAYER_SIZE,
    MAX_SEED,
    MAX_THREADS,
    DataConfig,
    ModelConfig,
    ObjectiveConfig,
    TechniqueSettings,
    TrainConfig,
)
from latentcraft.config.sources import apply_override, merge, parse_override, preset_dict, read_config_file
from latentcraft.config.strict import (
    build_section,
    check_at_least,
    check_at_most,
    check_choice,
    check_int_sizes,
    check_name,
    check_within,
)
from latentcraft.data.datasets import DATASETS
from latentcraft.data.formats.labelled_images import MAX_CLASSES, MAX_SIDE, MIN_CLASSES, MIN_SIDE, side_problem
from latentcraft.data.procedural import PROCEDURAL
from latentcraft.data.shape import ImageShape
from latentcraft.data.source import absolute_path
from latentcraft.errors import ConfigError
from latentcraft.evaluation.registry import registered
from latentcraft.model.bodies import BODIES
from latentcraft.model.objective import OBJECTIVES, RECONSTRUCTIONS, likelihood_kind
from latentcraft.techniques.registry import TECHNIQUES, upgrade_legacy_keys
from latentcraft.training.devices import check_device_name

CORE_SECTIONS = {"data": DataConfig, "model": ModelConfig, "objective": ObjectiveConfig, "train": TrainConfig}


def _default_sections() -> dict[str, TechniqueSettings]:
    return {name: technique.settings_class() for name, technique in TECHNIQUES.items()}


@dataclass
class Config:
    name: str = "custom"  # a label for this run, shown in reports; also the default folder (strict.NAME_RULE)
    description: str = ""  # one line on what this config reproduces or tries
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sections: dict[str, TechniqueSettings] = field(default_factory=_default_sections)  # registry name -> settings

    def __getattr__(self, name: str) -> Any:
        # config.routing, config.prior, ...: a technique's section reads like a core one.
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"Config has no section or field {name!r}")

    def section(self, name: str) -> Any:
        return self.sections[name]

    # ---- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        out.update({key: dataclasses.asdict(getattr(self, key)) for key in ("data", "model")})
        out.update({name: dataclasses.asdict(settings) for name, settings in self.sections.items()})
        out.update({key: dataclasses.asdict(getattr(self, key)) for key in ("objective", "train")})
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        if not isinstance(raw, dict):
            raise ConfigError(f"config: expected a table of fields, got {raw!r}")
        raw = upgrade_legacy_keys(raw)
        known = {"name", "description", *CORE_SECTIONS, *TECHNIQUES}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]}; valid keys here: {', '.join(sorted(known))}")
        for key in ("name", "description"):
            if key in raw and not isinstance(raw[key], str):
                raise ConfigError(f"{key}: expected str, got {raw[key]!r}")
        core = {key: build_section(section, raw.get(key, {}), f"{key}.") for key, section in CORE_SECTIONS.items()}
        sections = {name: build_section(technique.settings_class, raw.get(name, {}), f"{name}.")
                    for name, technique in TECHNIQUES.items()}
        config = cls(name=raw.get("name", "custom"), description=raw.get("description", ""), sections=sections, **core)
        validate(config)
        return config

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls.from_dict(read_config_file(path))


def validate(config: Config) -> None:
    """Checks that a dataclass type cannot express; messages name the field. Each technique checks its own section."""
    check_name("name", config.name)  # it names the default run and sweep folders: runs/<name>
    check_choice("data.dataset", config.data.dataset, (*DATASETS, *PROCEDURAL))
    check_choice("objective.reconstruction", config.objective.reconstruction, RECONSTRUCTIONS)
    check_choice("train.precision", config.train.precision, ("bf16", "fp32"))
    check_device_name(config.train.device)
    check_choice("model.body", config.model.body, tuple(BODIES))
    check_choice("objective.kind", config.objective.kind, tuple(OBJECTIVES))
    check_at_least({"model.latent_dim": config.model.latent_dim, "train.epochs": config.train.epochs,
                    "train.batch_size": config.train.batch_size,
                    "train.eval_batch_size": config.train.eval_batch_size}, 1)
    # A negative limit would silently slice from the end (images[:-5]); a negative thread count or β has no meaning.
    check_at_least({"data.train_limit": config.data.train_limit, "data.test_limit": config.data.test_limit,
                    "train.threads": config.train.threads, "data.labels_per_class": config.data.labels_per_class,
                    "train.seed": config.train.seed, "objective.beta": config.objective.beta,
                    "objective.kl_warmup_epochs": config.objective.kl_warmup_epochs,
                    "data.augment_shift": config.data.augment_shift,
                    "data.augment_rotate": config.data.augment_rotate}, 0)
    for key in ("encoder_hidden", "decoder_hidden", "conv_channels"):
        sizes = getattr(config.model, key)
        if any(size < 1 for size in sizes):
            raise ConfigError(f"model.{key}: every layer size must be at least 1, got {sizes}")
    layers = {"model.latent_dim": [config.model.latent_dim],
              **{f"model.{k}": getattr(config.model, k) for k in ("encoder_hidden", "decoder_hidden", "conv_channels")}}
    at_most = [*((k, v, MAX_LAYER_SIZE) for k, v in layers.items()),
               ("train.threads", [config.train.threads], MAX_THREADS), ("train.seed", [config.train.seed], MAX_SEED)]
    for key, values, limit in at_most:
        if any(value > limit for value in values):
            raise ConfigError(f"{key}: must be at most {limit}, got {max(values)}")
    check_at_most({"train.epochs": config.train.epochs,
                   "objective.kl_warmup_epochs": config.objective.kl_warmup_epochs}, MAX_EPOCHS)
    check_at_most({"train.batch_size": config.train.batch_size,
                   "train.eval_batch_size": config.train.eval_batch_size}, MAX_BATCH)
    check_at_most({"data.train_limit": config.data.train_limit, "data.test_limit": config.data.test_limit,
                   "data.labels_per_class": config.data.labels_per_class}, MAX_IMAGES)
    if config.model.body == "conv" and len(config.model.conv_channels) != 2:
        raise ConfigError(
            f"model.conv_channels: the conv body has exactly 2 stride-2 stages (28 -> 14 -> 7), "
            f"so it needs 2 channel counts, got {config.model.conv_channels}"
        )
    if config.train.select_metric not in registered():
        raise ConfigError(f"train.select_metric: {config.train.select_metric!r} is not a metric; "
                          f"choose one of {', '.join(registered())}")
    check_within("data.labelled_fraction", config.data.labelled_fraction, 0, 1)
    check_within("data.augment_stroke", config.data.augment_stroke, 0, 1)
    check_within("data.labelled_share", config.data.labelled_share, 0, 1, high_open=True)
    if config.data.labels_per_class and config.data.labelled_fraction < 1.0:
        raise ConfigError("data.labels_per_class: set it or data.labelled_fraction, not both "
                          f"(got {config.data.labels_per_class} and {config.data.labelled_fraction})")
    _check_data_record(config)
    if config.train.lr <= 0:
        raise ConfigError(f"train.lr: must be positive, got {config.train.lr}")
    if config.train.lr_decay <= 0:
        raise ConfigError(f"train.lr_decay: must be positive (1.0 = constant rate), got {config.train.lr_decay}")
    if config.model.deterministic and config.objective.kind == "reference":
        raise ConfigError("objective.kind: 'reference' needs a stochastic model (model.deterministic = false)")
    for name, technique in TECHNIQUES.items():
        technique.check_settings(config.sections[name], config)
    if config.data.augment and not config.data.reconstruct_augmented and not any(
            "view_mu" in technique.views_read(config.sections[name]) for name, technique in TECHNIQUES.items()):
        raise ConfigError("data.reconstruct_augmented: false leaves the augmented view only to terms that compare "
                          "views, and none is on (routing.consistency); set it true, or turn such a term on")
    check_int_sizes(config.to_dict())  # last: each field's own bound gives the better message


def _check_data_record(config: Config) -> None:
    """data.path, test_fraction and what a run recorded of its data must describe data latentcraft can use."""
    d = config.data
    check_within("data.test_fraction", d.test_fraction, 0, 1, low_open=True, high_open=True)
    check_at_least({"data.split_seed": d.split_seed, "train.epoch_images": config.train.epoch_images}, 0)
    check_at_most({"train.epoch_images": config.train.epoch_images}, MAX_IMAGES)
    check_at_most({"data.split_seed": d.split_seed}, MAX_SEED)
    check_at_most({"data.image_shape": d.image_shape}, MAX_SIDE)
    if d.path is not None and not d.path.strip():
        raise ConfigError("data.path: is empty; give the folder or .npz of your data, or leave it out for data.dataset")
    if d.image_shape:
        height, width, channels = (d.image_shape + [0, 0, 0])[:3]
        if len(d.image_shape) != 3 or channels not in (1, 3) or side_problem(height, width):
            raise ConfigError(f"data.image_shape: expected [height, width, channels] with sides {MIN_SIDE} to "
                              f"{MAX_SIDE} and 1 or 3 channels, got {d.image_shape}")
    if d.class_names and not (MIN_CLASSES <= len(d.class_names) <= MAX_CLASSES
                              and len(set(d.class_names)) == len(d.class_names) and all(d.class_names)):
        raise ConfigError(f"data.class_names: expected {MIN_CLASSES} to {MAX_CLASSES} distinct non-empty names, "
                          f"got {len(d.class_names)}")


def record_data(config: Config, shape: ImageShape) -> Config:
    """`config` with what it takes from its data recorded, checked again: the image shape and class names,
    the likelihood "auto" picks for them, and every technique fitted to the class count (presets are written
    for 10 classes, the number a config that records none has). A config that recorded them is returned as is."""
    if config.data.image_shape:
        return config
    changes: dict[str, Any] = {"data.image_shape": [shape.height, shape.width, shape.channels],
                               "data.class_names": list(shape.class_names),
                               "objective.reconstruction": likelihood_kind(config.objective.reconstruction, shape.grey)}
    for name, technique in TECHNIQUES.items():
        changes.update(technique.adapt_to_classes(config.sections[name], config, shape.classes))
    raw = config.to_dict()
    for key, value in changes.items():
        section, field_name = key.split(".")
        raw[section][field_name] = value
    return Config.from_dict(raw)


def resolve_config(
    preset: str | None = None, config_file: str | Path | None = None, overrides: Sequence[str] = ()
) -> Config:
    """Preset, then config file, then --set overrides, each replacing what came before."""
    raw: dict[str, Any] = preset_dict(preset) if preset else {}
    if config_file:
        raw = merge(raw, read_config_file(config_file))
    for text in overrides:  # a later one wins; the command line refuses a key twice (sources.check_once)
        path, value = parse_override(text)
        apply_override(raw, path, value)
    config = Config.from_dict(raw)
    config.data.path = absolute_path(config.data.path)
    return config
