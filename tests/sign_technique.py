"""A toy technique in one file, as a contributor would add one: its own section, check, prediction and figure.

Reads class 0 when μ₀ is above `sign.threshold`, else class 1. tests/test_new_technique.py
registers it under "sign" (the one registry line) and checks it is seen everywhere.
"""

from dataclasses import dataclass

import torch

from latentcraft.config.sections import TechniqueSettings
from latentcraft.data.constants import NUM_CLASSES
from latentcraft.errors import ConfigError
from latentcraft.evaluation.registry import PREDICTION, Metric
from latentcraft.techniques.base import Technique


@dataclass
class SignSettings(TechniqueSettings):
    enabled: bool = False  # switch the toy on
    threshold: float = 0.0  # μ₀ above it reads as class 0
    coordinate: int = 0  # which coordinate of μ is read


class SignOfFirstCode(Technique):
    settings_class = SignSettings
    metrics = {"test_sign_accuracy": Metric("sign-of-μ₀ accuracy", True, PREDICTION)}
    prediction_metric = "sign_accuracy"

    def __init__(self, settings: SignSettings):
        super().__init__()
        self.settings = settings

    @classmethod
    def check_settings(cls, settings, config):
        if settings.enabled and not 0 <= settings.coordinate < config.model.latent_dim:
            raise ConfigError(f"sign.coordinate: {settings.coordinate} is outside the latent")

    @classmethod
    def from_config(cls, settings, config):
        return cls(settings)

    def predict(self, mu):
        code = mu[:, self.settings.coordinate] - self.settings.threshold
        scores = torch.full((len(mu), NUM_CLASSES), -1e9)
        scores[:, 0], scores[:, 1] = code, -code
        return scores

    def figures(self, model, data, out_dir):
        path = out_dir / "sign.txt"
        path.write_text(str(len(data)))
        return [path]
