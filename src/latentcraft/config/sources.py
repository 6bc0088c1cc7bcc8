"""Where a config's values come from: TOML/JSON files, the presets shipped in the package, and
`--set key=value` overrides, as plain nested dicts; config.resolve_config applies them in that order.

`differences` and `merge` compare and combine such dicts (resuming and sweeps say what changed).
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from latentcraft.errors import ConfigError


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    kind = "TOML" if path.suffix == ".toml" else "JSON"
    try:
        text = path.read_bytes().decode("utf-8")
        raw = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8 {kind}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as err:  # RecursionError: [[[[...
        raise ConfigError(f"config file {path} is not valid {kind}: {str(err) or 'nested too deeply'}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a table of fields, not a {type(raw).__name__}")
    return raw


def preset_names() -> list[str]:
    folder = resources.files("latentcraft.config") / "presets"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_dict(name: str) -> dict[str, Any]:
    path = resources.files("latentcraft.config") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    raw = tomllib.loads(path.read_text())
    raw.setdefault("name", name)
    return raw


def parse_value(text: str) -> Any:
    """A value typed on the command line: JSON if it parses (numbers, lists, booleans), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_override(text: str) -> tuple[list[str], Any]:
    """`section.key=value` -> (["section", "key"], value), the value read by `parse_value`."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.epochs=5")
    key, raw_value = text.split("=", 1)
    if not all(part.strip() for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: the key before '=' must be a field path such as train.epochs")
    return key.strip().split("."), parse_value(raw_value)


def apply_override(raw: dict[str, Any], path: list[str], value: Any) -> None:
    """Set raw[a][b]... = value, creating tables; key validity is checked when the Config is built."""
    node = raw
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part} is not a section")
    node[path[-1]] = value


def differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf where two nested dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if old == new else [(prefix, old, new)]


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` into a copy of `base` (tables merge, values replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
