"""The conditional decoder: the one-hot label is an input of the decoder beside z."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latentcraft.config.sections import RunSpec, TechniqueSettings
from latentcraft.data.shape import image_shape
from latentcraft.techniques.base import Technique, labelled


@dataclass
class ConditionalSettings(TechniqueSettings):
    enabled: bool = False  # append the one-hot label to z before decoding; unlabelled -> all zeros


class ConditionalDecoder(Technique):
    """The one-hot label is concatenated to z before decoding (a CVAE decoder, Sohn et al. 2015).

    The code is then free to hold label-free style. At generation time the
    label is an input; an unlabelled example gets an all-zero label vector.
    """

    settings_class = ConditionalSettings
    kind = "conditional"

    def __init__(self, classes: int):
        super().__init__()
        self.decoder_extra_features = classes  # the one-hot label

    @classmethod
    def from_config(cls, settings: ConditionalSettings, config: RunSpec) -> ConditionalDecoder:
        return cls(image_shape(config).classes)

    def decoder_inputs(self, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        if y is None:
            raise ValueError("this model has a conditional decoder (conditional.enabled): "
                             "decode needs a label per code")
        if y.shape != (batch,):
            raise ValueError(f"conditional decoder: expected {batch} labels, got shape {tuple(y.shape)}")
        safe = torch.where(labelled(y), y, torch.zeros_like(y))
        return F.one_hot(safe, self.decoder_extra_features).float() * labelled(y).unsqueeze(1).float()  # (B, C)
