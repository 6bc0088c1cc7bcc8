"""What a sweep is: grid axes × seeds over a base config, each trial an ordinary run folder.

Latent-shaping results swing from seed to seed, so a number worth publishing is
a mean ± spread over seeds. A sweep folder holds:

    sweep.json                   the definition: base config, grid axes, seeds (re-runs must keep base and grid)
    trials/<setting>/seed-<k>/   one ordinary run folder per trial (evaluate/plot/export work on it)
    trials/.../failed.json       in a trial folder whose last attempt raised: the error (sweep_run.py)
    sweep_summary.json           per setting: mean, std, min, max of the chosen metrics; the best run
    sweep_summary.md             the same as a Markdown table, ready to paste into a README (sweep_summary.py)

`train --seeds N` is a sweep with no grid whose trials sit at the top of the
folder (seed-<k>/), beside the copy of the best one (seeds.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, get_type_hints

from latentcraft.config.run_config import Config
from latentcraft.config.sources import apply_override, differences, parse_value
from latentcraft.config.strict import safe_name
from latentcraft.data.source import absolute_path
from latentcraft.errors import ConfigError
from latentcraft.techniques.registry import TECHNIQUES
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.locking import LOCK_FILE

SWEEP_FILE = "sweep.json"
TRIALS_DIR = "trials"
FORMAT_VERSION = 1
MAX_TRIALS = 10_000  # settings × seeds; more is a typo, not a sweep
MAX_SLUG = 200  # characters of a setting's folder name after its index (file systems allow 255 bytes)


# ---- grid keys: full config paths or unambiguous short aliases ---------------------------


def config_fields(cls: type = Config, prefix: str = "") -> list[str]:
    """Every leaf field of a (nested) config dataclass as a dotted path, e.g. 'train.lr'."""
    out = []
    hints = get_type_hints(cls)
    if cls is Config:  # technique sections are known through the registry, not as dataclass fields
        for name, technique in TECHNIQUES.items():
            out += config_fields(technique.settings_class, f"{prefix}{name}.")
    for f in dataclasses.fields(cls):
        if f.name == "sections" and cls is Config:
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            out += config_fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def resolve_key(key: str, cls: type = Config) -> str:
    """'train.lr' stays; 'lr' becomes the one field named lr. Unknown or ambiguous keys are errors."""
    paths = config_fields(cls)
    if key in paths:
        return key
    matches = [p for p in paths if p.split(".")[-1] == key or p.endswith(f".{key}")]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"grid key {key!r} is ambiguous: it could be {', '.join(matches)}; write the full path")
    raise ConfigError(f"unknown grid key {key!r}; use a config path such as train.lr or objective.beta")


def short_key(key: str, cls: type = Config) -> str:
    """The shortest name for a full path that still resolves to it ('train.lr' -> 'lr')."""
    leaf = key.split(".")[-1]
    try:
        return leaf if resolve_key(leaf, cls) == key else key
    except ConfigError:
        return key


def split_values(text: str) -> list[str]:
    """'1e-3,3e-3' -> ['1e-3', '3e-3']; commas inside [] or quotes do not split ('[64],[128,64]')."""
    parts, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p.strip() for p in parts]


@dataclass
class GridAxis:
    key: str  # full config path, e.g. "train.lr"
    values: list[Any]  # the values to try, in the order given


def parse_grid(text: str) -> GridAxis:
    """'lr=1e-3,3e-3' -> GridAxis('train.lr', [0.001, 0.003]); values are read as --set reads them."""
    if "=" not in text:
        raise ConfigError(f"--grid {text!r}: expected key=value1,value2,..., e.g. lr=1e-3,3e-3")
    key, raw = (part.strip() for part in text.split("=", 1))
    if not key:
        raise ConfigError(f"--grid {text!r}: the key before '=' must be a config field such as lr or train.lr")
    full = resolve_key(key)
    if full == "train.seed":
        raise ConfigError("--grid train.seed: seeds are not a grid axis; use --seeds N (and --seed for the first)")
    if full == "name":
        raise ConfigError("--grid name: each trial's name is made from its grid values; set the sweep's with "
                          "--set name=NAME")
    if not raw:
        raise ConfigError(f"--grid {key}: no values given; list them after '=', e.g. {key}=1,2")
    texts = split_values(raw)
    if "" in texts:
        raise ConfigError(f"--grid {key}={raw}: value {texts.index('') + 1} is empty; remove the extra comma")
    values = [parse_value(v) for v in texts]
    if full == "data.path":  # absolute, as resolve_config makes a base config's: workers elsewhere read the same data
        values = [absolute_path(v) for v in values]
    for i, value in enumerate(values):
        # 1e-3 and 0.001 (or 1 and 1.0) are the same setting: both would train the same trials twice.
        if value in values[:i]:
            raise ConfigError(f"--grid {key}={raw}: {texts[i]} repeats {texts[values.index(value)]}; "
                              "list each value once")
    return GridAxis(full, values)


def format_setting(value: Any) -> str:
    """A config value as trial names and folders show it: 0.001, 1e+30, relu, [64,32]."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


# ---- the sweep definition ----------------------------------------------------------------


@dataclass
class Trial:
    setting: int  # index into SweepDefinition.settings()
    seed: int  # train.seed of this trial
    run_dir: str  # the trial's run folder, relative to the sweep folder
    config: dict[str, Any]  # the full config of the trial (Config.to_dict())


@dataclass
class SweepDefinition:
    base: dict[str, Any]  # the full resolved config every trial starts from (Config.to_dict())
    grid: list[GridAxis] = field(default_factory=list)  # axes; every combination is a setting
    seeds: list[int] = field(default_factory=lambda: [0])  # train.seed values run for every setting
    trials_at_top: bool = False  # trials in seed-<k>/ instead of trials/<setting>/seed-<k>/ (no grid only)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SweepDefinition:
        return cls(base=raw["base"], grid=[GridAxis(**a) for a in raw["grid"]], seeds=list(raw["seeds"]),
                   trials_at_top=raw.get("trials_at_top", False))

    def settings(self) -> list[dict[str, Any]]:
        """Every combination of grid values, first axis varying slowest: [{'train.lr': 0.001, ...}, ...]."""
        combos: list[dict[str, Any]] = [{}]
        for axis in self.grid:
            combos = [{**c, axis.key: v} for c in combos for v in axis.values]
        return combos

    def label(self, setting: dict[str, Any]) -> str:
        """Human label of a setting, e.g. 'lr=0.001 beta=0.5' ('base' with no grid)."""
        return " ".join(f"{short_key(k)}={format_setting(v)}" for k, v in setting.items()) or "base"

    def folder(self, index: int, setting: dict[str, Any]) -> str:
        """The setting's folder relative to the sweep folder, e.g. 'trials/00_lr=0.001' ('.' at the top)."""
        if self.trials_at_top:
            return "."
        # The index keeps folders unique and in grid order even if two labels sanitise alike.
        # Grid values may hold '/', '..' or anything: only safe characters reach the path, within one folder name.
        slug = "_".join(f"{short_key(k)}={format_setting(v)}" for k, v in setting.items()) or "base"
        return f"{TRIALS_DIR}/{index:02d}_" + re.sub(r"[^A-Za-z0-9=.,+_\-]+", "-", slug)[:MAX_SLUG]

    def trials(self) -> list[Trial]:
        out = []
        for index, setting in enumerate(self.settings()):
            for seed in self.seeds:
                raw = json.loads(json.dumps(self.base))
                for key, value in setting.items():
                    apply_override(raw, key.split("."), value)
                raw["train"]["seed"] = seed
                if setting:  # a valid name whatever the values hold (the folder is made apart, in folder())
                    raw["name"] = safe_name(f"{self.base['name']} {self.label(setting)}")
                config = Config.from_dict(raw)  # validates: a bad grid value fails before any trial runs
                run_dir = (PurePosixPath(self.folder(index, setting)) / f"seed-{seed}").as_posix()
                out.append(Trial(index, seed, run_dir, config.to_dict()))
        return out


def define_sweep(base: Config, grid: list[str], seeds: int, trials_at_top: bool = False) -> SweepDefinition:
    """Seeds run base.train.seed .. base.train.seed + seeds - 1; `grid` holds --grid texts."""
    if seeds < 1:
        raise ConfigError(f"--seeds: must be at least 1, got {seeds}")
    axes = [parse_grid(text) for text in grid]
    if trials_at_top and axes:
        raise ValueError("trials_at_top needs a sweep without grid axes: settings would share one folder")
    keys = [a.key for a in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
    count = seeds
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_TRIALS:
        raise ConfigError(f"--grid/--seeds: {count:,} trials (settings × seeds); at most {MAX_TRIALS:,} are allowed, "
                          "so split the sweep")
    first = base.train.seed
    definition = SweepDefinition(base.to_dict(), axes, list(range(first, first + seeds)), trials_at_top)
    definition.trials()  # build every trial config once so invalid values are reported now
    return definition


def _comparable(definition: SweepDefinition) -> dict[str, Any]:
    # Seeds are left out: a trial's folder names its seed, so more (or other) seeds reuse the finished ones.
    return {"base": definition.base, "trials_at_top": definition.trials_at_top,
            "grid": {a.key: a.values for a in definition.grid}}


def prepare_sweep_dir(sweep_dir: Path, definition: SweepDefinition) -> None:
    """Write sweep.json, after checking that the one already there (if any) has the same base and grid."""
    path = sweep_dir / SWEEP_FILE
    if path.is_file():
        remedy = "restore it from a backup, or choose another output folder"
        try:
            saved = SweepDefinition.from_dict(ckpt.read_json(path, remedy))
        except (KeyError, TypeError, AttributeError):
            raise ckpt.RunError(f"{path} is damaged: it does not define a sweep; {remedy}") from None
        differing = [f"{key}: {format_setting(a)} in the folder, {format_setting(b)} now"
                     for key, a, b in differences(_comparable(saved), _comparable(definition))]
        if differing:
            raise ckpt.RunError(
                f"{sweep_dir} holds a different sweep; it differs in " + "; ".join(differing)
                + ". Re-run with the same definition, or choose another output folder."
            )
        if saved.seeds == definition.seeds:
            return
    elif sweep_dir.exists() and any(p.name != LOCK_FILE for p in sweep_dir.iterdir()):
        raise ckpt.RunError(f"{sweep_dir} exists and is not a sweep folder (no {SWEEP_FILE}); "
                            "choose another output folder")
    ckpt.write_json(path, definition.to_dict())


def is_sweep_dir(path: str | Path) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()
