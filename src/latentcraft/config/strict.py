"""Strict building of config sections from JSON/TOML tables.

Every section is a plain dataclass. Unknown keys are an error that names the
key (as flax's `lock_config` does), so a typo never silently falls back to a
default, and every value is checked against its field's type.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, get_args, get_origin, get_type_hints

from latentcraft.errors import ConfigError

MAX_INT = 2**63 - 1  # past it torch and numpy overflow; each field also has its own, smaller bound
MAX_NAME = 100  # characters in a config name
# A name is one folder name on every OS (runs/<name>, sweeps/<name>): no separators, no leading dot or '-'.
NAME_RULE = (f"use 1-{MAX_NAME} characters: letters, digits, spaces and - _ . , = + ( ) [ ] @, starting with a "
             "letter or digit, not ending with a space or '.', and no '..'")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.,=+()\[\]@-]*")


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


def check_at_least(values: Mapping[str, float | list[int]], minimum: float) -> None:
    """Each named value (or every number of a named list) is at least `minimum` ("must not be negative" for 0)."""
    for key, value in values.items():
        low = min(value, default=minimum) if isinstance(value, list) else value
        if low < minimum:
            rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise ConfigError(f"{key}: {rule}, got {value}")


def check_at_most(values: Mapping[str, float | list[int]], maximum: float) -> None:
    """Each named value (or every number of a named list) is at most `maximum`, which the message names."""
    for key, value in values.items():
        high = max(value, default=maximum) if isinstance(value, list) else value
        if high > maximum:
            raise ConfigError(f"{key}: must be at most {maximum:,}, got {value}")


def check_int_sizes(raw: Any, key: str = "") -> None:
    """Every whole number in a config table fits 64 bits: a net under each field's own bound (JSON has no limit)."""
    if isinstance(raw, dict):
        for name, value in raw.items():
            check_int_sizes(value, f"{key}.{name}" if key else name)
    elif isinstance(raw, list):
        for value in raw:
            check_int_sizes(value, key)
    elif isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) > MAX_INT:
        raise ConfigError(f"{key}: must be at most {MAX_INT:,} in size, got {raw}")


def check_name(key: str, value: str) -> None:
    """A name that becomes a folder name: refuses separators, '..', leading dots, control characters."""
    if len(value) > MAX_NAME or not _NAME.fullmatch(value) or ".." in value or value[-1] in " .":
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ConfigError(f"{key}: {shown!r} is not a valid name; {NAME_RULE}")


def safe_name(text: str) -> str:
    """`text` made into a valid name (disallowed characters become '-'), for names built from values."""
    text = re.sub(r"[^A-Za-z0-9 _.,=+()\[\]@-]+", "-", text).replace("..", "-")[:MAX_NAME].rstrip(" .")
    return text if text and text[0].isalnum() else f"x{text}"[:MAX_NAME].rstrip(" .")


def check_within(key: str, value: float, low: float, high: float, high_open: bool = False,
                 low_open: bool = False) -> None:
    above = low < value if low_open else low <= value
    below = value < high if high_open else value <= high
    if not (above and below):
        raise ConfigError(f"{key}: must be in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, "
                          f"got {value}")


def check_coordinates(key: str, coords: list[int], latent: int) -> None:
    """Coordinates inside a latent of size `latent`, none repeated."""
    for c in coords:
        if not 0 <= c < latent:
            raise ConfigError(f"{key}: coordinate {c} is outside the latent (model.latent_dim = {latent})")
    if len(set(coords)) != len(coords):
        raise ConfigError(f"{key}: coordinates repeat: {coords}")
