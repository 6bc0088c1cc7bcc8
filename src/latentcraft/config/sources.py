"""Where a config's values come from: TOML/JSON files, the presets shipped in the package, and
`--set key=value` overrides, as plain nested dicts; config.resolve_config applies them in that order.

`differences` and `merge` compare and combine such dicts (resuming and sweeps say what changed).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from latentcraft.errors import ConfigError


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; --config needs a config file (TOML or JSON), "
                          "such as a run's config.json")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist" if not path.exists()
                          else f"config file {path} is not a regular file; give a TOML or JSON file")
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
    if not raw_value.strip():  # an empty string is written out: key='""'
        raise ConfigError(f"--set {text!r}: no value after '='; give one, e.g. {key.strip()}=5 "
                          f"(an empty text is {key.strip()}='\"\"')")
    return [part.strip() for part in key.split(".")], parse_value(raw_value)


def check_once(texts: Sequence[str], shown: Sequence[str] = ()) -> None:
    """One command's --set texts: a key given twice (or beside a table that holds it) is refused, naming both.

    The command line refuses what the API allows (a later override wins there): in one command, two values
    for one key are a typo or a contradiction, and silently dropping one hides it.
    """
    seen: dict[str, str] = {}
    for i, text in enumerate(texts):
        path, _ = parse_override(text)
        key, text = ".".join(path), shown[i] if i < len(shown) else f"--set {text}"  # as the user typed it
        for other, first in seen.items():
            if key == other:
                raise ConfigError(f"{key} is set twice ({first}, then {text}); give each key once")
            if key.startswith(other + ".") or other.startswith(key + "."):
                raise ConfigError(f"{key} overlaps {other} ({first}, then {text}); give each field once")
        seen[key] = text


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
