"""Strict building of config sections from JSON/TOML tables.

Every section is a plain dataclass. Unknown keys are an error that names the
key (as flax's `lock_config` does), so a typo never silently falls back to a
default, and every value is checked against its field's type.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, get_args, get_origin, get_type_hints

from latentcraft.errors import ConfigError


def build_section(cls: type, raw: Any, prefix: str) -> Any:
    """The dataclass `cls` from a table; nested dataclass fields are built the same way."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table of fields, got {raw!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s}; valid keys here: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[name] = build_section(hint, value, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def coerce(value: Any, hint: Any, key: str) -> Any:
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
                return [coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
            continue
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            # NaN and ±inf pass every `<` check and only blow up inside torch (1e300: float() would overflow).
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


def check_choice(key: str, value: str, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")


def check_at_least(values: dict[str, float], minimum: float) -> None:
    """Each named value is at least `minimum` ("must not be negative" for 0)."""
    for key, value in values.items():
        if value < minimum:
            rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise ConfigError(f"{key}: {rule}, got {value}")


def check_within(key: str, value: float, low: float, high: float, high_open: bool = False) -> None:
    if not (low <= value < high if high_open else low <= value <= high):
        raise ConfigError(f"{key}: must be in [{low}, {high}{')' if high_open else ']'}, got {value}")


def check_coordinates(key: str, coords: list[int], latent: int) -> None:
    """Coordinates inside a latent of size `latent`, none repeated."""
    for c in coords:
        if not 0 <= c < latent:
            raise ConfigError(f"{key}: coordinate {c} is outside the latent (model.latent_dim = {latent})")
    if len(set(coords)) != len(coords):
        raise ConfigError(f"{key}: coordinates repeat: {coords}")
