"""Plain dataclass configs, their checks, and load/save with strict keys.

A run is fully described by one `Config`; it is saved as JSON next to the
weights and rebuilt with `Config.from_dict(json)`. Unknown keys are an error
that names the key (as flax's `lock_config` does), so a typo never silently
falls back to a default. `resolve_config` builds one from a preset, a file
and --set overrides (read by config_sources.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

# Where a config's values come from (files, presets, --set) lives in config_sources.py; its names
# and ConfigError are part of this module's interface too (`from latentcraft.config import ...`).
from latentcraft.config.sources import apply_override, differences, merge, parse_override, parse_value, preset_dict, preset_names, read_config_file
from latentcraft.data.constants import NUM_CLASSES
from latentcraft.data.datasets import DATASETS
from latentcraft.errors import ConfigError


# Upper bounds: past them a typo (latent_dim=100000000) would exhaust memory or threads, not train.
MAX_LAYER_SIZE, MAX_THREADS, MAX_SEED = 8192, 256, 2**32 - 1


@dataclass
class DataConfig:
    dataset: str = "mnist"  # a key of datasets.DATASETS: "mnist" or "fashion-mnist"
    data_dir: str | None = None  # folder with the IDX files; None = search the usual places
    download: bool = False  # fetch missing files from the standard mirrors (checksummed)
    train_limit: int = 0  # use only the first N training images (0 = all 60,000)
    test_limit: int = 0  # use only the first N test images (0 = all 10,000)
    labelled_fraction: float = 1.0  # share of training examples that keep their label (rest: -1)
    labels_per_class: int = 0  # > 0: exactly this many training examples of each class keep their label
    labelled_share: float = 0.0  # with hidden labels: this share of every batch is drawn from the labelled examples
    augment: bool = False  # random small shifts/rotations of training batches
    augment_shift: float = 2.0  # max shift, pixels
    augment_rotate: float = 10.0  # max rotation, degrees
    augment_stroke: float = 0.0  # share of augmented images drawn one pixel thicker or thinner (half each)


@dataclass
class ModelConfig:
    body: str = "mlp"  # encoder/decoder body, a key of nets.BODIES ("mlp", "conv")
    encoder_hidden: list[int] = field(default_factory=lambda: [512, 256])  # MLP hidden sizes, input side first
    decoder_hidden: list[int] = field(default_factory=lambda: [256, 512])  # MLP hidden sizes, latent side first
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv body channels per stride-2 stage
    latent_dim: int = 10  # size of z
    relu_latent: bool = False  # ReLU on the sample, so "more of k" is the positive direction (SPEC §1)
    deterministic: bool = False  # plain autoencoder: z = μ, no sampling, no KL (SPEC §2)
    style_dim: int = 0  # the last style_dim coordinates of z come from a separate style encoder, never ReLU'd
    style_encoder_hidden: list[int] = field(default_factory=lambda: [256])  # hidden sizes of that style encoder


@dataclass
class RoutingConfig:
    enabled: bool = False  # gradient routing (Cloud et al. 2024): per-example stop-gradient mask on z
    routes: list[list[int]] | None = None  # label k -> latent coordinates it owns; None = k -> [k]
    free: list[int] = field(default_factory=list)  # coordinates no label owns; every example trains them
    unlabelled: str = "all"  # what an unlabelled example routes: "all", "free" (only free coords), "none", or
    # "predicted": after routing.predicted_from epochs (before: "none"), the coordinates of the digit its routed code reads
    predicted_from: float = 1.0  # "predicted": epochs of labelled examples alone before self-training starts
    predicted_margin: float = 0.0  # "predicted" routes only codes whose runner-up score is ≤ (1 − this) × the top one
    detached_mean_epochs: float = 0.0  # for this many first epochs, detached coordinates carry μ instead of a sample
    style_epoch: int = 0  # two phases: before this epoch free coords feed the decoder 0; from it on, the routed code is frozen
    frozen_mean: bool = False  # from style_epoch on, the frozen routed coordinates feed the decoder μ, not a sample
    style_beta: float = 1.0  # KL weight of the free (style) coordinates, times β; > 1 keeps digit identity out of them
    joint: bool = False  # from style_epoch on, the routed path (style at 0) keeps training beside the style path
    onehot_code: bool = False  # from style_epoch on, the decoder reads the routed code as the one-hot of its argmax
    style_independence: float = 0.0  # weight of a penalty on style μ statistics that differ between predicted digits
    style_mmd: float = 0.0  # weight of a kernel MMD between each predicted digit's style μ and the batch's
    style_adversary: float = 0.0  # > 0: a probe learns the routed argmax from style μ; the style encoder is pushed to defeat it
    label_weight: float = 0.0  # > 0 adds label_weight × cross-entropy of the routed scores (labels then enter a loss)


@dataclass
class ConditionalConfig:
    enabled: bool = False  # append the one-hot label to z before decoding (SPEC §3); unlabelled -> all zeros


@dataclass
class PriorConfig:
    enabled: bool = False  # per-class KL target N(μ_c, I) (SPEC §3); unlabelled examples keep N(0, I)
    placement: str = "circle"  # where the class means μ_c sit: "circle", "grid" or "points"
    radius: float = 3.0  # "circle": distance of every μ_c from the origin, latent units
    spacing: float = 3.0  # "grid": distance between neighbouring μ_c, latent units
    grid_columns: int = 5  # "grid": class means per row (rows fill top to bottom)
    points: list[list[float]] | None = None  # "points": one μ_c per class, each with len(dims) numbers
    dims: list[int] = field(default_factory=lambda: [0, 1])  # latent coordinates μ_c lives in; the rest keep 0


@dataclass
class ClassifierConfig:
    enabled: bool = False  # a head from μ to class logits, cross-entropy added to the loss (SPEC §2, §3)
    hidden: list[int] = field(default_factory=list)  # hidden sizes of the head; empty = linear
    weight: float = 1.0  # multiplier on the mean cross-entropy (nats per labelled example)


@dataclass
class AnchorConfig:
    enabled: bool = False  # template scores shift the KL target mean: μ + a·s(x) replaces μ (SPEC §4)
    rate: float = 1.0  # a: latent units per unit of template score s(x)
    templates: list[str] = field(default_factory=lambda: ["donut", "stick"])  # "donut", "stick", "class-mean:K", or a .npy/image path (28x28)
    weights: list[float] = field(default_factory=lambda: [1.0, -1.0])  # s(x) = Σ_k weights[k]·<x, T_k>/Σx
    dims: list[int] | None = None  # latent coordinates the shift applies to; None = all of them


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
    precision: str = "bf16"  # "bf16" (autocast where native: CPUs, Ampere+ GPUs; ~1.7x on AVX512-BF16) or "fp32"
    eval_batch_size: int = 2000  # examples per step when evaluating
    select_metric: str = "test_argmax_accuracy"  # metric that picks the best of several seeds
    threads: int = 0  # torch intra-op threads (0 = torch's default)
    device: str = "auto"  # "auto" (CUDA, else Apple MPS, else CPU), "cpu", "cuda", "cuda:N" or "mps"
    tensorboard: bool = False  # also log each epoch to RUN_DIR/tensorboard/ (needs latentcraft[tensorboard])


@dataclass
class Config:
    name: str = "custom"  # a label for this run, shown in reports
    description: str = ""  # one line on what this config reproduces or tries
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    conditional: ConditionalConfig = field(default_factory=ConditionalConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
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
            # NaN and ±inf pass every `<` check below and only blow up inside torch (1e300: float() would overflow).
            if abs(value) > 1e300 or not math.isfinite(value):
                raise ConfigError(f"{key}: must be a finite number, got {value!r}")
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
        "data.dataset": (config.data.dataset, tuple(DATASETS)),
        "objective.reconstruction": (config.objective.reconstruction, ("bce", "gaussian")),
        "routing.unlabelled": (config.routing.unlabelled, ("all", "free", "none", "predicted")),
        "train.precision": (config.train.precision, ("bf16", "fp32")),
        "prior.placement": (config.prior.placement, ("circle", "grid", "points")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    from latentcraft.training.devices import check_device_name  # late imports: these import torch
    from latentcraft.model.bodies import BODIES
    from latentcraft.model.objective import OBJECTIVES

    check_device_name(config.train.device)

    for key, value, registry in (("model.body", config.model.body, BODIES),
                                 ("objective.kind", config.objective.kind, OBJECTIVES)):
        if value not in registry:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(registry)}")
    positive = {
        "model.latent_dim": config.model.latent_dim,
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
        "train.eval_batch_size": config.train.eval_batch_size,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key}: must be at least 1, got {value}")
    # A negative limit would silently slice from the end (images[:-5]); a
    # negative thread count or β has no meaning.
    non_negative = {
        "data.train_limit": config.data.train_limit,
        "data.test_limit": config.data.test_limit,
        "train.threads": config.train.threads,
        "data.labels_per_class": config.data.labels_per_class,
        "train.seed": config.train.seed,
        "objective.beta": config.objective.beta,
        "objective.kl_warmup_epochs": config.objective.kl_warmup_epochs,
        "data.augment_shift": config.data.augment_shift,
        "data.augment_rotate": config.data.augment_rotate,
        "model.style_dim": config.model.style_dim,
        "routing.style_epoch": config.routing.style_epoch,
        "routing.label_weight": config.routing.label_weight,
        "routing.style_beta": config.routing.style_beta,
        "routing.style_independence": config.routing.style_independence,
        "routing.style_adversary": config.routing.style_adversary,
        "routing.style_mmd": config.routing.style_mmd,
        "routing.predicted_from": config.routing.predicted_from,
    }
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
    if config.model.style_dim >= config.model.latent_dim:
        raise ConfigError(f"model.style_dim: must be below model.latent_dim ({config.model.latent_dim}), "
                          f"got {config.model.style_dim}")
    for key in ("encoder_hidden", "decoder_hidden", "conv_channels", "style_encoder_hidden"):
        sizes = getattr(config.model, key)
        if any(size < 1 for size in sizes):
            raise ConfigError(f"model.{key}: every layer size must be at least 1, got {sizes}")
    layers = {"model.latent_dim": [config.model.latent_dim], "classifier.hidden": config.classifier.hidden,
              **{f"model.{k}": getattr(config.model, k) for k in ("encoder_hidden", "decoder_hidden", "conv_channels", "style_encoder_hidden")}}
    at_most = [*((k, v, MAX_LAYER_SIZE) for k, v in layers.items()),
               ("train.threads", [config.train.threads], MAX_THREADS), ("train.seed", [config.train.seed], MAX_SEED)]
    for key, values, limit in at_most:
        if any(value > limit for value in values):
            raise ConfigError(f"{key}: must be at most {limit}, got {max(values)}")
    if config.model.body == "conv" and len(config.model.conv_channels) != 2:
        raise ConfigError(
            f"model.conv_channels: the conv body has exactly 2 stride-2 stages (28 -> 14 -> 7), "
            f"so it needs 2 channel counts, got {config.model.conv_channels}"
        )
    from latentcraft.evaluation.registry import registered

    if config.train.select_metric not in registered():
        raise ConfigError(f"train.select_metric: {config.train.select_metric!r} is not a metric; "
                          f"choose one of {', '.join(registered())}")
    if not 0.0 <= config.data.labelled_fraction <= 1.0:
        raise ConfigError(f"data.labelled_fraction: must be in [0, 1], got {config.data.labelled_fraction}")
    if not 0.0 <= config.routing.predicted_margin <= 1.0:
        raise ConfigError(f"routing.predicted_margin: must be in [0, 1], got {config.routing.predicted_margin}")
    if not 0.0 <= config.data.augment_stroke <= 1.0:
        raise ConfigError(f"data.augment_stroke: must be in [0, 1], got {config.data.augment_stroke}")
    if not 0.0 <= config.data.labelled_share < 1.0:
        raise ConfigError(f"data.labelled_share: must be in [0, 1), got {config.data.labelled_share}")
    if config.data.labels_per_class and config.data.labelled_fraction < 1.0:
        raise ConfigError("data.labels_per_class: set it or data.labelled_fraction, not both "
                          f"(got {config.data.labels_per_class} and {config.data.labelled_fraction})")
    if config.train.lr <= 0:
        raise ConfigError(f"train.lr: must be positive, got {config.train.lr}")
    if config.train.lr_decay <= 0:
        raise ConfigError(f"train.lr_decay: must be positive (1.0 = constant rate), got {config.train.lr_decay}")
    if config.routing.enabled:
        _validate_routes(config)
    if config.model.deterministic and config.objective.kind == "reference":
        raise ConfigError("objective.kind: 'reference' needs a stochastic model (model.deterministic = false)")
    if config.prior.enabled:
        _validate_prior(config)
    if config.classifier.enabled:
        _validate_classifier(config)
    if config.anchors.enabled:
        _validate_anchors(config)


def _check_coords(key: str, coords: list[int], latent: int) -> None:
    for c in coords:
        if not 0 <= c < latent:
            raise ConfigError(f"{key}: coordinate {c} is outside the latent (model.latent_dim = {latent})")
    if len(set(coords)) != len(coords):
        raise ConfigError(f"{key}: coordinates repeat: {coords}")


def _needs_kl(config: Config, section: str) -> None:
    # The technique moves the KL target; a deterministic autoencoder has no KL term to move.
    if config.model.deterministic:
        raise ConfigError(f"{section}.enabled: shapes the KL target, but model.deterministic = true has no KL")


def _validate_prior(config: Config) -> None:
    p = config.prior
    _needs_kl(config, "prior")
    if not p.dims:
        raise ConfigError("prior.dims: needs at least one latent coordinate")
    _check_coords("prior.dims", p.dims, config.model.latent_dim)
    if p.placement in ("circle", "grid") and len(p.dims) != 2:
        raise ConfigError(f"prior.dims: placement {p.placement!r} is 2-D, so dims needs 2 coordinates, got {p.dims}")
    if p.placement == "grid" and p.grid_columns < 1:
        raise ConfigError(f"prior.grid_columns: must be at least 1, got {p.grid_columns}")
    if p.placement == "points":
        if p.points is None or len(p.points) != NUM_CLASSES:
            count = "none" if p.points is None else len(p.points)
            raise ConfigError(f"prior.points: placement 'points' needs one point per class ({NUM_CLASSES}), got {count}")
        for k, point in enumerate(p.points):
            if len(point) != len(p.dims):
                raise ConfigError(
                    f"prior.points[{k}]: has {len(point)} numbers, but prior.dims names {len(p.dims)} coordinates"
                )


def _validate_classifier(config: Config) -> None:
    c = config.classifier
    if any(h < 1 for h in c.hidden):
        raise ConfigError(f"classifier.hidden: sizes must be at least 1, got {c.hidden}")
    if c.weight < 0:
        raise ConfigError(f"classifier.weight: must not be negative, got {c.weight}")


def _validate_anchors(config: Config) -> None:
    from latentcraft.techniques.templates import TemplateError, check_name  # late import: templates imports torch

    a = config.anchors
    _needs_kl(config, "anchors")
    if not a.templates:
        raise ConfigError("anchors.templates: needs at least one template")
    if len(a.weights) != len(a.templates):
        raise ConfigError(
            f"anchors.weights: needs one weight per template ({len(a.templates)}), got {len(a.weights)}"
        )
    for i, spec in enumerate(a.templates):
        try:
            check_name(spec)
        except TemplateError as err:
            raise ConfigError(f"anchors.templates[{i}]: {err}") from None
    if a.dims is not None:
        if not a.dims:
            raise ConfigError("anchors.dims: needs at least one latent coordinate (or leave it unset for all)")
        _check_coords("anchors.dims", a.dims, config.model.latent_dim)


def _validate_routes(config: Config) -> None:
    latent = config.model.latent_dim
    routes = config.route_map()
    if len(routes) != NUM_CLASSES:
        raise ConfigError(f"routing.routes: needs one entry per class ({NUM_CLASSES}), got {len(routes)}")
    for label, coords in enumerate(routes):
        if not coords:
            # Routed argmax (metrics.routed_predictions) needs at least one coordinate per label.
            raise ConfigError(f"routing.routes[{label}]: is empty; every label must own at least one coordinate")
        for c in coords:
            if not 0 <= c < latent:
                raise ConfigError(
                    f"routing.routes[{label}]: coordinate {c} is outside the latent (model.latent_dim = {latent})"
                )
    owned = {c for coords in routes for c in coords}
    if len(set(config.routing.free)) != len(config.routing.free):
        raise ConfigError(f"routing.free: lists a coordinate twice: {config.routing.free}")
    for c in config.routing.free:
        if not 0 <= c < latent:
            raise ConfigError(f"routing.free: coordinate {c} is outside the latent (model.latent_dim = {latent})")
        if c in owned:
            raise ConfigError(f"routing.free: coordinate {c} is also owned by a label in routing.routes")
    schedule = "routing.style_epoch" if config.routing.style_epoch > 0 else "routing.joint"
    if config.routing.joint and not config.routing.onehot_code:
        raise ConfigError("routing.joint: its style path decodes the routed argmax; set routing.onehot_code = true")
    if config.routing.style_epoch > 0 or config.routing.joint:
        style = list(range(latent - config.model.style_dim, latent))
        if not style or sorted(config.routing.free) != style:
            raise ConfigError(f"{schedule}: the style schedule trains the style encoder apart from the main one, so "
                              f"routing.free must be exactly the style encoder's coordinates {style} "
                              f"(set model.style_dim), got {config.routing.free}")
    elif config.routing.onehot_code:
        raise ConfigError("routing.onehot_code: needs a style schedule (routing.style_epoch > 0 or routing.joint), "
                          "so the routed code is learned before or beside the decoder that reads only its argmax")


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
