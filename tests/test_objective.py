"""objective.py: the closed-form KL, the reconstruction terms, the reference loss, β warm-up and the registry."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from latentcraft.config.run_config import Config
from latentcraft.config.sections import ObjectiveConfig
from latentcraft.data.constants import IMAGE_PIXELS
from latentcraft.errors import ConfigError
from latentcraft.model.objective import (
    ELBO,
    OBJECTIVES,
    Autoencoder,
    Reference,
    gaussian_kl,
    kl_weight,
    make_objective,
    reconstruction_error,
    reference_loss,
)


def _diag_normal(mu: torch.Tensor, std: torch.Tensor) -> Independent:
    return Independent(Normal(mu, std), 1)


@pytest.mark.parametrize("shifted", [False, True])
def test_gaussian_kl_equals_torch_distributions(shifted):
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(16, 10, generator=g), torch.randn(16, 10, generator=g)
    target = torch.randn(16, 10, generator=g) * 2 if shifted else None
    expected = kl_divergence(
        _diag_normal(mu, torch.exp(0.5 * logvar)),
        _diag_normal(torch.zeros_like(mu) if target is None else target, torch.ones_like(mu)),
    )
    got = gaussian_kl(mu, logvar, target)
    assert got.shape == (16,)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_gaussian_kl_is_zero_exactly_at_the_target():
    target = torch.tensor([[1.5, -2.0, 0.0]])
    assert gaussian_kl(target.clone(), torch.zeros(1, 3), target).item() == 0.0
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


def test_bce_reconstruction_matches_the_bernoulli_log_likelihood():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, IMAGE_PIXELS, generator=g) * 3
    x = torch.rand(4, IMAGE_PIXELS, generator=g)
    p = torch.sigmoid(logits.double())
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    torch.testing.assert_close(reconstruction_error(logits, x, "bce").double(), expected, rtol=1e-4, atol=1e-3)


def test_bce_reconstruction_is_finite_for_saturated_logits():
    logits = torch.full((2, IMAGE_PIXELS), 200.0)
    x = torch.zeros(2, IMAGE_PIXELS)
    error = reconstruction_error(logits, x, "bce")
    assert torch.isfinite(error).all()
    torch.testing.assert_close(error, torch.full((2,), 200.0 * IMAGE_PIXELS))


def test_gaussian_reconstruction_is_half_the_squared_error_of_the_image():
    logits = torch.zeros(3, IMAGE_PIXELS)  # sigmoid(0) = 0.5 everywhere
    x = torch.ones(3, IMAGE_PIXELS)
    torch.testing.assert_close(reconstruction_error(logits, x, "gaussian"), torch.full((3,), 0.5 * 0.25 * IMAGE_PIXELS))


def test_reference_loss_transcribes_the_original_formula():
    """0.3 · mean_i ||x_i − x̂_i||² + mean_{i,d}(μ² + e^s − s), computed by hand on a tiny case."""
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logits = torch.zeros(2, 2)  # x̂ = 0.5
    mu = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    s = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    recon, kl = reference_loss(x, logits, mu, s, 0.3, None)
    assert recon.item() == pytest.approx(0.3 * (0.5 + 0.5) / 2)  # per-image sums 0.5 and 0.5
    by_hand = [1 + 1 - 0, 4 + math.e - 1, 0 + math.exp(-1) + 1, 1 + 1 - 0]
    assert kl.item() == pytest.approx(sum(by_hand) / 4)
    _, shifted = reference_loss(x, logits, mu, s, 0.3, mu)  # target = μ removes the μ² part
    assert shifted.item() == pytest.approx((1 + (math.e - 1) + (math.exp(-1) + 1) + 1) / 4)


def test_kl_weight_ramps_linearly_then_holds():
    assert kl_weight(ObjectiveConfig(beta=2.0), 0.0) == 2.0
    ramp = ObjectiveConfig(beta=2.0, kl_warmup_epochs=4)
    assert [kl_weight(ramp, e) for e in (0, 1, 2, 4, 9)] == [0.0, 0.5, 1.0, 2.0, 2.0]


# ---- the objective registry: each objective owns its sampling and its loss ------------------------------


def test_each_objective_samples_with_its_own_reading_of_the_variance_head():
    mu, v = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[-0.4, 0.3, -2.0]])
    config = Config.from_dict({}).objective
    for objective, std in ((ELBO(config), torch.exp(0.5 * v)), (Reference(config), v)):
        torch.manual_seed(0)
        sample = objective.sample(mu, v)
        torch.manual_seed(0)
        torch.testing.assert_close(sample, mu + std * torch.randn_like(mu))
        torch.testing.assert_close(objective.posterior_std(v), std.abs())  # the reference quirk: v is σ, sign aside
    assert torch.equal(Autoencoder(config).sample(mu, v), mu)


def test_make_objective_follows_the_config():
    assert type(make_objective(Config.from_dict({}))) is ELBO
    assert type(make_objective(Config.from_dict({"objective": {"kind": "reference"}}))) is Reference
    assert type(make_objective(Config.from_dict({"model": {"deterministic": True}}))) is Autoencoder
    assert set(OBJECTIVES) == {"elbo", "reference"}
    with pytest.raises(ConfigError, match="objective.kind: 'iwae' is not one of elbo, reference"):
        Config.from_dict({"objective": {"kind": "iwae"}})


def test_only_the_elbo_reports_a_gaussian_kl():
    config = Config.from_dict({}).objective
    mu, v = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(ELBO(config).elbo_kl(mu, v), gaussian_kl(mu, v))
    assert Reference(config).elbo_kl(mu, v) is None and Autoencoder(config).elbo_kl(mu, v) is None
    x, logits = torch.rand(4, IMAGE_PIXELS), torch.randn(4, IMAGE_PIXELS)
    recon, kl = Autoencoder(config).loss(x, logits, mu, v, None)
    assert kl.item() == 0.0 and recon.item() == pytest.approx(reconstruction_error(logits, x, "bce").mean().item())
    with pytest.raises(ValueError, match="deterministic"):
        Autoencoder(config).posterior_std(v)
