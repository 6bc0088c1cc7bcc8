"""Every technique, by the name of its config section; building a model's techniques from a config.

A new technique is one module (its settings dataclass, checks, hooks and
read-outs) plus one line here. The order is the forward pass's: routing
reshapes the sample before style reads it, and techniques with their own
parameters are built in this order (so a seed gives the same weights).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from latentcraft.config.sections import RunSpec
from latentcraft.errors import ConfigError
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.anchors import Anchors
from latentcraft.techniques.base import Technique
from latentcraft.techniques.class_prior import ClassPriorMeans
from latentcraft.techniques.classifier_head import ClassifierHead
from latentcraft.techniques.conditional import ConditionalDecoder
from latentcraft.techniques.routing import GradientRouting
from latentcraft.techniques.style.technique import StyleCodes

TECHNIQUES: dict[str, type[Technique]] = {  # config section -> technique, in forward-pass order
    "routing": GradientRouting,
    "style": StyleCodes,
    "conditional": ConditionalDecoder,
    "prior": ClassPriorMeans,
    "anchors": Anchors,
    "classifier": ClassifierHead,
}


def _enabled(config: RunSpec) -> dict[str, type[Technique]]:
    return {name: cls for name, cls in TECHNIQUES.items() if config.section(name).enabled}


def build_techniques(config: RunSpec) -> nn.ModuleDict:
    techniques = nn.ModuleDict({name: cls.from_config(config.section(name), config)
                                for name, cls in _enabled(config).items()})
    built: dict[str, Technique] = {name: t for name, t in techniques.items() if isinstance(t, Technique)}
    for technique in built.values():
        technique.attach(built)
    return techniques


def build_model(config: RunSpec) -> LatentModel:
    """The VAE of a config with its techniques; reads no file (what techniques derive from data comes from `fit`)."""
    encoded = sum(cls.encoded_dims(config.section(name)) for name, cls in _enabled(config).items())
    return LatentModel(config, build_techniques, encoded)


def check_files(config: RunSpec) -> None:
    """Read every file the enabled techniques name (anchor templates); ConfigError naming the field if one is bad.

    Run when training starts, not when a config is parsed: a saved run's config
    must load from any working directory, and what it read is in its weights.
    """
    for name, cls in _enabled(config).items():
        cls.check_files(config.section(name))


def upgrade_legacy_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """A config table of an older run folder, with keys that moved into a technique's section moved there.

    Each technique lists its old keys (`legacy_keys`); a key given both ways is an error.
    """
    moved = copy.deepcopy(raw)
    for name, cls in TECHNIQUES.items():
        for old, new in cls.legacy_keys.items():
            section, key = old.split(".")
            table = moved.get(section)
            if not isinstance(table, dict) or key not in table:
                continue
            target = moved.setdefault(name, {})
            if not isinstance(target, dict):
                continue  # the strict build names the broken section
            if new in target:
                raise ConfigError(f"{old}: older name of {name}.{new}; set only {name}.{new}")
            target[new] = table.pop(key)
        if isinstance(moved.get(name), dict) and name not in raw:
            cls.upgrade_legacy_section(moved[name])
    return moved


def upgrade_legacy_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of an older run folder, with the tensors of parts that moved into a technique renamed."""
    renames = [(old, new) for cls in TECHNIQUES.values() for old, new in cls.legacy_weights.items()]
    upgraded = {}
    for key, tensor in tensors.items():
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        upgraded[key] = tensor
    return upgraded
