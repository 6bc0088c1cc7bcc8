"""Style codes: coordinates from a separate style encoder, appended to z, with a schedule and identity terms.

Composable with gradient routing: the routed coordinates name the class, the
style coordinates (the last `style.dim` of z, never ReLU'd) hold the rest. The
style encoder trains apart from the main one, so a schedule can start it late
or freeze the main encoder. With a routed partner:

- `start_epoch` > 0: before it the style coordinates feed the decoder 0, so the
  model trains exactly like routed10; from it on (two phases, `joint` off) the
  main encoder is frozen and only the style encoder and the decoder learn.
- `joint`: from `start_epoch` on every batch is decoded twice, once from the
  routed sample with the style at 0 (the only reconstruction that reaches the
  routed coordinates) and once from the routed argmax beside the style sample
  (the model's own decode), so the style encoder learns for the whole budget.
- `onehot_code`: the decoder reads the routed code only through which class
  wins, a categorical latent (uniform prior, log C nats in the ELBO).
- `independence`, `mmd`, `adversary`: keep class identity out of the style
  coordinates, comparing them across the classes the routed code predicts
  (its argmax, never the label): independence.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from latentcraft.config.sections import MAX_EPOCHS, MAX_LAYER_SIZE, RunSpec, TechniqueSettings
from latentcraft.config.strict import check_at_least, check_at_most
from latentcraft.data.shape import image_shape
from latentcraft.errors import ConfigError
from latentcraft.model.bodies import BODIES
from latentcraft.model.objective import gaussian_kl, reconstruction_error
from latentcraft.model.vae import LatentModel, ModelOutput, gaussian_encoder, gaussian_heads
from latentcraft.techniques.base import Losses, Technique
from latentcraft.techniques.style.independence import StyleAdversary, style_dependence, style_mmd

HEIGHT_MOMENTUM = 0.99  # joint schedule: running mean of the class code's height over about 100 batches


@dataclass
class StyleSettings(TechniqueSettings):
    enabled: bool = False  # the last `dim` coordinates of z come from a separate style encoder, never ReLU'd
    dim: int = 10  # style coordinates (counted in model.latent_dim)
    hidden_sizes: list[int] = field(default_factory=lambda: [256])  # hidden layer sizes of the style encoder's body
    kl_weight: float = 1.0  # KL weight of the style coordinates, times β; > 1 keeps class identity out of them
    start_epoch: int = 0  # > 0: the style coordinates feed the decoder 0 before this epoch (the style path starts)
    joint: bool = False  # from start_epoch on, the routed path (style at 0) keeps training beside the style path
    frozen_mean: bool = False  # two phases: from start_epoch on, the frozen routed coordinates feed μ, not a sample
    onehot_code: bool = False  # from start_epoch on, the decoder reads the routed code as the one-hot of its argmax
    # joint: the style path's one-hot passes the gradient of a softmax of the routed scores back to the routed
    # coordinates (straight-through), so decoding any image, labelled or not, trains which class its code names
    straight_through: bool = False
    independence: float = 0.0  # weight of a penalty on style μ statistics that differ between predicted classes
    mmd: float = 0.0  # weight of a kernel MMD between each predicted class's style μ and the batch's
    adversary: float = 0.0  # > 0: a probe learns the routed argmax from style μ; the style encoder learns to defeat it


@runtime_checkable
class ClassCode(Protocol):
    """What style needs of its routed partner: class scores from codes, and its routed sample."""

    routes: list[list[int]]

    def predict(self, mu: torch.Tensor) -> torch.Tensor: ...

    def routed_code(self, z: torch.Tensor, y: torch.Tensor, mu: torch.Tensor, epoch: float | None,
                    guide: torch.Tensor | None = None) -> torch.Tensor: ...


def _needs_partner(s: StyleSettings) -> list[str]:
    """The settings that read the routed partner's predictions."""
    names = {"start_epoch": s.start_epoch > 0, "joint": s.joint, "onehot_code": s.onehot_code,
             "frozen_mean": s.frozen_mean, "independence": s.independence > 0, "mmd": s.mmd > 0,
             "adversary": s.adversary > 0}
    return [name for name, used in names.items() if used]


class StyleCodes(Technique):
    settings_class = StyleSettings
    legacy_keys = {  # before style was a technique of its own, its settings lived in model and routing
        "model.style_dim": "dim", "model.style_encoder_hidden": "hidden_sizes", "routing.style_beta": "kl_weight",
        "routing.style_epoch": "start_epoch", "routing.joint": "joint", "routing.frozen_mean": "frozen_mean",
        "routing.onehot_code": "onehot_code", "routing.style_independence": "independence",
        "routing.style_mmd": "mmd", "routing.style_adversary": "adversary",
    }
    legacy_weights = {"style_encoder.": "techniques.style.encoder.", "style_mean_head.": "techniques.style.mean_head.",
                      "style_var_head.": "techniques.style.var_head.",
                      "techniques.routing.adversary.": "techniques.style.adversary.",
                      "techniques.routing.digit_height": "techniques.style.digit_height"}
    content: torch.Tensor  # buffers, declared for the type checker
    owners: torch.Tensor
    digit_height: torch.Tensor

    def __init__(self, settings: StyleSettings, config: RunSpec):
        super().__init__()
        self.settings = settings
        m = config.model
        latent = m.latent_dim
        self.coordinates = list(range(latent - settings.dim, latent))
        encoder_body, _ = BODIES[m.body]
        self.encoder, self.mean_head, self.var_head = gaussian_encoder(
            encoder_body(settings.hidden_sizes, m.conv_channels, image_shape(config)), settings.dim, m.deterministic)
        classes = image_shape(config).classes
        self.adversary = StyleAdversary(settings.dim, classes, settings.adversary) if settings.adversary else None
        content = torch.ones(latent)
        content[self.coordinates] = 0.0
        self.register_buffer("content", content, persistent=False)  # (D,) 0 on the style coordinates
        self.relu_latent = m.relu_latent
        self.reconstruction = config.objective.reconstruction
        self.partner: ClassCode | None = None
        if settings.onehot_code:
            # The height of the one-hot code: the mean winning routed μ when the style path starts (tracked
            # throughout with the joint schedule), so the decoder reads codes of the size it knows.
            # 0 until then (code unchanged); saved with the weights, so a loaded model reads codes alike.
            self.register_buffer("digit_height", torch.zeros(()))

    @classmethod
    def encoded_dims(cls, settings: StyleSettings) -> int:
        return settings.dim

    @classmethod
    def upgrade_legacy_section(cls, section: dict[str, Any]) -> None:
        if "enabled" not in section and "dim" in section:
            dim = section["dim"]
            section["enabled"] = not isinstance(dim, int) or dim > 0  # style_dim = 0 meant no style encoder
            if section["enabled"] is False:
                section.pop("dim")

    @classmethod
    def check_settings(cls, s: StyleSettings, config: RunSpec) -> None:
        check_at_least({"style.dim": s.dim, "style.start_epoch": s.start_epoch, "style.kl_weight": s.kl_weight,
                        "style.independence": s.independence, "style.mmd": s.mmd, "style.adversary": s.adversary}, 0)
        check_at_most({"style.dim": s.dim}, MAX_LAYER_SIZE)
        check_at_most({"style.start_epoch": s.start_epoch}, MAX_EPOCHS)
        if any(size < 1 for size in s.hidden_sizes):
            raise ConfigError(f"style.hidden_sizes: every layer size must be at least 1, got {s.hidden_sizes}")
        if any(size > MAX_LAYER_SIZE for size in s.hidden_sizes):
            raise ConfigError(f"style.hidden_sizes: must be at most {MAX_LAYER_SIZE}, got {max(s.hidden_sizes)}")
        used = _needs_partner(s)
        if not s.enabled:
            if used or s.kl_weight != 1.0:  # a schedule or an identity term with no style coordinates to act on
                name = used[0] if used else "kl_weight"
                raise ConfigError(f"style.{name}: acts on the style coordinates, but style.enabled = false; "
                                  "set style.enabled = true (and style.dim)")
            return
        latent = config.model.latent_dim
        if not 1 <= s.dim < latent:
            raise ConfigError(f"style.dim: must be at least 1 and below model.latent_dim ({latent}), got {s.dim}")
        routing = config.section("routing")
        if used and not routing.enabled:
            raise ConfigError(f"style.{used[0]}: reads the routed code's predictions; set routing.enabled = true")
        if s.straight_through and not s.joint:
            raise ConfigError("style.straight_through: acts on the joint schedule's style path; set style.joint = true")
        if s.joint and not s.onehot_code:
            raise ConfigError("style.joint: its style path decodes the routed argmax; set style.onehot_code = true")
        if s.onehot_code and not (s.start_epoch > 0 or s.joint):
            raise ConfigError("style.onehot_code: needs a schedule (style.start_epoch > 0 or style.joint), so the "
                              "routed code is learned before or beside the decoder that reads only its argmax")
        style = list(range(latent - s.dim, latent))
        if (s.start_epoch > 0 or s.joint) and sorted(routing.free) != style:
            schedule = "style.start_epoch" if s.start_epoch > 0 else "style.joint"
            raise ConfigError(f"{schedule}: the schedule trains the style encoder apart from the main one, so "
                              f"routing.free must be exactly the style coordinates {style}, got {routing.free}")

    @classmethod
    def from_config(cls, settings: StyleSettings, config: RunSpec) -> StyleCodes:
        return cls(settings, config)

    def attach(self, techniques: Mapping[str, Technique]) -> None:
        partners = [t for t in techniques.values() if isinstance(t, ClassCode)]
        self.partner = partners[0] if partners else None
        if self.partner is not None:
            owners = torch.zeros(len(self.partner.routes), self.content.shape[0])  # (C, D) each class's coordinates
            for label, coords in enumerate(self.partner.routes):
                owners[label, coords] = 1.0
            self.register_buffer("owners", owners, persistent=False)

    def _partner(self) -> ClassCode:
        if self.partner is None:
            raise RuntimeError("style: this setting needs a routed partner (routing.enabled)")
        return self.partner

    def in_first_phase(self, epoch: float | None) -> bool:
        return self.settings.start_epoch > 0 and epoch is not None and epoch < self.settings.start_epoch

    # ---- the forward pass ----------------------------------------------------------------
    def extra_coordinates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return gaussian_heads(x, self.encoder, self.mean_head, self.var_head)

    def own_modules(self) -> list[nn.Module]:
        modules = [self.encoder, self.mean_head, self.var_head, self.adversary]
        return [m for m in modules if m is not None]

    def route(self, code: torch.Tensor, sample: torch.Tensor, y: torch.Tensor | None, mu: torch.Tensor,
              epoch: float | None, guide: torch.Tensor | None = None) -> torch.Tensor:
        if y is None or not self.training:
            return code
        if self.in_first_phase(epoch):
            return code * self.content
        if self.settings.joint:
            # The style path: the decoder reads the class the routed code names and the style sample.
            self._track_digit_height(mu)
            routed = mu if self.settings.straight_through else mu.detach()
            return self.content * routed + (1 - self.content) * sample
        if self.settings.onehot_code and self.digit_height <= 0:
            self.digit_height.fill_(self._winning_height(mu))
        if self.settings.frozen_mean and self.settings.start_epoch > 0:
            # A noiseless class code: the decoder can trust it, so identity in the style coordinates is pure KL cost.
            return self.content * mu.detach() + (1 - self.content) * code
        return code

    def decoder_view(self, code: torch.Tensor) -> torch.Tensor:
        if not self.settings.onehot_code or self.digit_height <= 0:
            return code
        partner = self._partner()
        scores = partner.predict(code)
        winner = F.one_hot(scores.argmax(1), len(partner.routes)).to(code.dtype)  # (B, C)
        if self.training and self.settings.straight_through:
            soft = scores.float().softmax(1).to(code.dtype)
            winner = winner + soft - soft.detach()  # the one-hot forward, the softmax's gradient backward
        routed = self.owners.sum(0).clamp(max=1).to(code.dtype)  # (D,)
        return code * (1 - routed) + self.digit_height.to(code.dtype) * (winner @ self.owners.to(code.dtype))

    def categorical_block(self) -> tuple[list[int], int] | None:
        if not self.settings.onehot_code or self.digit_height <= 0:
            return None
        routed = sorted({c for coords in self._partner().routes for c in coords})
        return routed, len(self._partner().routes)

    def losses(self, model: LatentModel, x: torch.Tensor, out: ModelOutput, y: torch.Tensor | None,
               epoch: float | None) -> Losses:
        """The extra KL weight of the style coordinates; in training, once the style path trains, the identity
        terms and with the joint schedule the routed path: the batch decoded from its routed sample with the style
        at 0, exactly as routed10 trains, the only reconstruction that reaches the routed coordinates."""
        losses = {}
        if self.settings.kl_weight != 1.0:
            # The objective already counts the style coordinates' KL once; add the rest of their weight.
            style_kl = gaussian_kl(out.mu[:, self.coordinates], out.logvar[:, self.coordinates]).mean()
            losses["style_kl"] = (self.settings.kl_weight - 1.0) * style_kl
        if epoch is None or self.in_first_phase(epoch) or self.partner is None:
            return losses
        losses.update(self.identity_losses(out))
        if self.settings.joint and y is not None:
            routed = self.partner.routed_code(model.reparameterize(out.mu, out.logvar), y, out.mu, epoch, out.guide)
            code = routed * self.content
            if self.relu_latent:
                code = F.relu(code)
            recon = reconstruction_error(model.decode(code, y), x, self.reconstruction)
            losses["recon_routed"] = recon.mean()
        return losses

    def identity_losses(self, out: ModelOutput) -> Losses:
        """The identity terms, each comparing style μ across the classes the routed code predicts."""
        partner = self._partner()
        losses = {}
        style, digit = out.mu[:, self.coordinates].float(), partner.predict(out.mu.detach()).argmax(1)
        digits = len(partner.routes)
        if self.settings.independence:
            losses["style_independence"] = self.settings.independence * style_dependence(style, digit, digits)
        if self.settings.mmd:
            losses["style_mmd"] = self.settings.mmd * style_mmd(style, digit, digits)
        if self.adversary is not None:
            losses["style_adversary"] = self.adversary(style, digit)
        return losses

    def _winning_height(self, mu: torch.Tensor) -> float:
        return self._partner().predict(F.relu(mu.detach().float())).max(1).values.mean().item()

    def _track_digit_height(self, mu: torch.Tensor) -> None:
        """A running mean of the winning routed μ, the height of the code the style path decodes."""
        height = self._winning_height(mu)
        if self.digit_height <= 0:
            self.digit_height.fill_(height)
        else:
            self.digit_height.mul_(HEIGHT_MOMENTUM).add_((1 - HEIGHT_MOMENTUM) * height)

    def frozen_modules(self, model: LatentModel, epoch: int) -> list[nn.Module]:
        if self.settings.start_epoch <= 0:
            return []  # no schedule: everything trains throughout
        # Before the style path starts, the unused style encoder would train on KL alone and collapse.
        if epoch < self.settings.start_epoch:
            return self.own_modules()
        return [] if self.settings.joint else model.content_encoder()

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {"coordinates": self.coordinates, "start_epoch": s.start_epoch, "joint": s.joint,
                "onehot_code": s.onehot_code, "adversary": s.adversary}
