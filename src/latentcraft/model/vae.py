"""The VAE: encode -> (μ, log σ²), reparameterize, decode -> logits.

One class serves every variant: the config picks the bodies, the objective
(objective.OBJECTIVES) and the techniques (techniques/, built by
techniques.registry.build_model) that hook into the forward pass; the model
only loops over their hooks (techniques/base.py) and never asks for one. The
trainer reads `ModelOutput.loss` and knows nothing about variants. Building a
model reads no file: what techniques derive from data is computed by `fit` before training and saved with the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from latentcraft.config.sections import RunSpec
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import image_shape
from latentcraft.model.bodies import BODIES
from latentcraft.model.objective import make_objective


@dataclass
class ModelOutput:
    loss: torch.Tensor  # scalar the optimiser minimises
    parts: dict[str, torch.Tensor]  # named scalar terms ("recon", "kl", ...), for logging
    mu: torch.Tensor  # (B, D) encoder mean, before any ReLU
    logvar: torch.Tensor  # (B, D) log σ² (the raw variance head "s" for the reference objective)
    z: torch.Tensor  # (B, D) the code the decoder saw
    logits: torch.Tensor  # (B, C·H·W) decoder logits (MNIST: 784)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # technique outputs, e.g. class logits
    # Two views of a batch in training (else None): `guide`, the (B, D) μ of the clean images without gradient,
    # which label-free choices read (a routing mask, a consistency target); `view_mu`, the μ of the augmented
    # images with gradient, which learns what its clean view says. One of them is `mu`, the reconstructed view's.
    guide: torch.Tensor | None = None
    view_mu: torch.Tensor | None = None


class LatentModel(nn.Module):
    """The VAE. `build_techniques(config)` makes its techniques (an nn.ModuleDict, name -> technique), whose own
    encoders add `encoded_dims` of the config's model.latent_dim coordinates (the main encoder makes the rest).

    They are built between the encoder and the decoder, so the weights a seed
    draws come in the same order whatever the techniques.
    """

    def __init__(self, config: RunSpec, build_techniques: Callable[[RunSpec], nn.ModuleDict], encoded_dims: int = 0):
        super().__init__()
        self.config = config
        m = config.model
        self.shape = image_shape(config)  # the images it reads and writes: (B, C·H·W) flattened channel-first
        encoder_cls, decoder_cls = BODIES[m.body]
        main_dims = m.latent_dim - encoded_dims
        self.main_dims = main_dims  # coordinates from the main encoder; the rest come from techniques' encoders
        self.encoder, self.mean_head, self.var_head = gaussian_encoder(
            encoder_cls(m.encoder_hidden, m.conv_channels, self.shape), main_dims, m.deterministic)
        self.techniques = build_techniques(config)
        extra = sum(t.decoder_extra_features for t in self.hooks())
        self.decoder = decoder_cls(m.latent_dim + extra, m.decoder_hidden, m.conv_channels, self.shape)
        self.objective = make_objective(config, self.shape.grey)

    def hooks(self) -> list[Any]:
        """The techniques in forward-pass order (typed loosely here: techniques/base.py types their hooks)."""
        return list(self.techniques.values())

    def named_hooks(self) -> dict[str, Any]:
        """The techniques by their config section's name."""
        return dict(self.techniques.items())

    def content_encoder(self) -> list[nn.Module]:
        """The modules of the main encoder (the coordinates before any technique's own)."""
        return [m for m in (self.encoder, self.mean_head, self.var_head) if m is not None]

    def start_epoch(self, epoch: int) -> None:
        """Freeze what the techniques freeze in this epoch: no gradient at all, so Adam leaves it exactly as is."""
        frozen = {id(p) for t in self.hooks() for module in t.frozen_modules(self, epoch)
                  for p in module.parameters()}
        for p in self.parameters():
            p.requires_grad_(id(p) not in frozen)

    def fit(self, train: ImageSet) -> None:
        """Compute what the techniques derive from the training set; once, before training (not on resume)."""
        for technique in self.hooks():
            technique.fit(train)

    # ---- the three stages, usable on their own (plots, export) ----------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C·H·W) images -> μ, log σ² (each (B, D)); log σ² is zeros for a deterministic model."""
        mu, logvar = gaussian_heads(x, self.encoder, self.mean_head, self.var_head)
        for technique in self.hooks():
            extra = technique.extra_coordinates(x)
            if extra is not None:
                mu, logvar = torch.cat([mu, extra[0]], dim=1), torch.cat([logvar, extra[1]], dim=1)
        return mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return self.objective.sample(mu, logvar)

    def latent_activation(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, D) -> what the decoder reads: the ReLU, then what each technique makes of the code."""
        if self.config.model.relu_latent:  # on the main encoder's coordinates: a technique's own stay signed
            z = torch.cat([torch.relu(z[:, :self.main_dims]), z[:, self.main_dims:]], dim=1)
        for technique in self.hooks():
            z = technique.decoder_view(z)
        return z

    def elbo_kl(self, mu: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        """Per-example KL(q || prior) of the ELBO, None if the objective has none.  # (B,)

        Coordinates the decoder reads only through their argmax form a categorical latent
        with a uniform prior and a one-point q: they cost log(categories), not a Gaussian KL.
        """
        gaussian = self.gaussian_coordinates()
        kl = self.objective.elbo_kl(mu[:, gaussian], v[:, gaussian])
        if kl is None:
            return None
        return kl + sum(math.log(n) for _, n in self.categorical_blocks())

    def categorical_blocks(self) -> list[tuple[list[int], int]]:
        return [block for t in self.hooks() if (block := t.categorical_block()) is not None]

    def gaussian_coordinates(self) -> list[int]:
        categorical = {c for coords, _ in self.categorical_blocks() for c in coords}
        return [c for c in range(self.config.model.latent_dim) if c not in categorical]

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) codes (after any ReLU) -> (B, C·H·W) logits; y feeds conditional decoders."""
        extras = [t.decoder_inputs(y, z.shape[0]) for t in self.hooks()]
        code = torch.cat([z, *[e for e in extras if e is not None]], dim=1)
        return self.decoder(code).float()

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images decoded from their encoder mean, in [0, 1]."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(self.latent_activation(mu), y))

    # ---- training forward -------------------------------------------------------
    def views_read(self) -> frozenset[str]:
        """Which views of an augmented batch its techniques read in training (Technique.views_read): "guide"
        asks for `forward(clean=...)` beside an augmented x, "view_mu" for `forward(augmented=...)` beside a clean
        one."""
        hooks = self.named_hooks().items()
        return frozenset().union(*(technique.views_read(self.config.section(name)) for name, technique in hooks))

    def _views(self, mu: torch.Tensor, clean: torch.Tensor | None,
               augmented: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(guide, view_mu) of ModelOutput: x is the augmented view beside `clean`, or the clean one beside
        `augmented`; (None, None) with one view or outside training."""
        if not self.training:
            return None, None
        if clean is not None:
            with torch.no_grad():
                return self.encode(clean)[0], mu
        if augmented is not None:
            return mu.detach(), self.encode(augmented)[0]
        return None, None

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, kl_scale: float = 1.0, epoch: float | None = None,
        clean: torch.Tensor | None = None, augmented: torch.Tensor | None = None,
    ) -> ModelOutput:
        """kl_scale multiplies the KL term (β and its warm-up); epoch is the training progress in epochs.
        A second view of the batch, for label-free terms: `clean`, x before augmentation, or `augmented`, x
        augmented (x is then reconstructed as it is); see ModelOutput.guide and view_mu."""
        mu, logvar = self.encode(x)
        guide, view_mu = self._views(mu, clean, augmented)
        sample = self.reparameterize(mu, logvar) if self.training else mu
        z = sample
        for technique in self.hooks():
            z = technique.route(z, sample, y, mu, epoch, guide)
        z = self.latent_activation(z)
        logits = self.decode(z, y)
        out = ModelOutput(loss=torch.zeros(()), parts={}, mu=mu, logvar=logvar, z=z, logits=logits, guide=guide,
                          view_mu=view_mu)

        shifts = [t.kl_target(x, y) for t in self.hooks()]
        shifts = [s for s in shifts if s is not None]
        target = torch.stack(shifts).sum(0) if shifts else None
        recon, kl = self.objective.loss(x, logits, mu, logvar, target)
        out.parts = {"recon": recon, "kl": kl}
        for technique in self.hooks():
            out.extras.update(technique.outputs(out))
        loss = recon + kl_scale * kl
        training_epoch = epoch if self.training else None  # techniques add their training-only terms only then
        for technique in self.hooks():
            for name, term in technique.losses(self, x, out, y, training_epoch).items():
                out.parts[name] = term
                loss = loss + term
        out.loss = loss
        return out


def gaussian_encoder(body: nn.Module, dim: int, deterministic: bool) -> tuple[nn.Module, nn.Linear, nn.Linear | None]:
    """A body with its μ head and log σ² head; a deterministic autoencoder has no variance head at all."""
    features = int(body.out_features)  # type: ignore[arg-type]  # every body in bodies.BODIES sets this int
    return body, nn.Linear(features, dim), None if deterministic else nn.Linear(features, dim)


def gaussian_heads(x: torch.Tensor, body: nn.Module, mean_head: nn.Module,
                    var_head: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    h = body(x)
    mu = mean_head(h).float()
    return mu, torch.zeros_like(mu) if var_head is None else var_head(h).float()
