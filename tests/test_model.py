"""model.py + nets.py + shaping.py: every body/objective/technique combination behaves, routing routes."""

import math

import pytest
import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES, UNLABELLED
from latentcraft.model.bodies import BODIES
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import build_model

SMALL = ["model.encoder_hidden=[48, 24]", "model.decoder_hidden=[24, 48]", "model.conv_channels=[4, 8]"]

# One entry per meaningful combination of the foundation's switches.
VARIANTS = {
    "elbo-bce": [],
    "elbo-gaussian": ["objective.reconstruction=gaussian", "objective.beta=0.5"],
    "deterministic": ["model.deterministic=true"],
    "reference": ["objective.kind=reference"],
    "routed": ["routing.enabled=true", "model.relu_latent=true"],
    "routed-reference": ["routing.enabled=true", "model.relu_latent=true", "objective.kind=reference"],
    "routed-general": [
        "routing.enabled=true", "model.latent_dim=24", "routing.free=[20, 21, 22, 23]",
        "routing.routes=" + str([[2 * k, 2 * k + 1] for k in range(NUM_CLASSES)]),
    ],
    "routed-deterministic": ["routing.enabled=true", "model.deterministic=true"],
}
CASES = [(body, name) for body in BODIES for name in VARIANTS]


def make(body: str, variant: list[str], seed: int = 0) -> LatentModel:
    torch.manual_seed(seed)
    return build_model(resolve_config(overrides=[f"model.body={body}", *SMALL, *variant]))


def batch(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, IMAGE_PIXELS, generator=g), torch.arange(n) % NUM_CLASSES


@pytest.mark.parametrize("body, variant", CASES)
def test_forward_shapes_and_parts(body, variant):
    model = make(body, VARIANTS[variant])
    d = model.config.model.latent_dim
    x, y = batch()
    for training in (True, False):
        model.train(training)
        out = model(x, y)
        assert out.loss.shape == () and torch.isfinite(out.loss)
        assert set(out.parts) >= {"recon", "kl"}
        assert out.mu.shape == out.logvar.shape == out.z.shape == (12, d)
        assert out.logits.shape == (12, IMAGE_PIXELS)
        torch.testing.assert_close(out.loss, sum(out.parts.values()))
    mu, logvar = model.encode(x)
    assert model.decode(mu).shape == (12, IMAGE_PIXELS)
    image = model.reconstruct(x)
    assert image.min() >= 0 and image.max() <= 1


@pytest.mark.parametrize("body, variant", CASES)
def test_one_optimizer_step_changes_every_weight(body, variant):
    model = make(body, VARIANTS[variant])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = batch()
    model.train()
    model(x, y).loss.backward()
    optimizer.step()
    unchanged = [k for k, v in model.state_dict().items() if torch.equal(v, before[k])]
    assert unchanged == []


@pytest.mark.parametrize("body, variant", CASES)
def test_eval_uses_the_mean_and_is_deterministic(body, variant):
    model = make(body, VARIANTS[variant]).eval()
    x, y = batch()
    a, b = model(x, y), model(x, None)
    torch.testing.assert_close(a.z, model.latent_activation(a.mu))
    torch.testing.assert_close(a.logits, b.logits)  # no label needed at evaluation


def test_deterministic_model_has_no_variance_head_and_no_kl():
    model = make("mlp", ["model.deterministic=true"]).train()
    out = model(*batch())
    assert model.var_head is None
    assert out.parts["kl"].item() == 0.0
    torch.testing.assert_close(out.z, out.mu)


@pytest.mark.parametrize("reference, expected_std", [(False, 2.0), (True, math.log(4.0))])
def test_reparameterize_spread(reference, expected_std):
    """ELBO: σ = exp(½ log σ²); reference objective's quirk: the head's output *is* σ (experiments.md §1)."""
    model = make("mlp", ["objective.kind=reference"] if reference else [])
    torch.manual_seed(0)
    mu, logvar = torch.full((20_000, 10), 3.0), torch.full((20_000, 10), math.log(4.0))
    z = model.reparameterize(mu, logvar)
    assert z.mean().item() == pytest.approx(3.0, abs=0.01)
    assert z.std().item() == pytest.approx(expected_std, rel=0.01)


def test_relu_latent_makes_codes_non_negative():
    model = make("mlp", ["model.relu_latent=true"]).train()
    out = model(*batch(64))
    assert (out.z >= 0).all() and (out.mu < 0).any()  # μ itself keeps its sign (argmax uses it)


def test_bf16_autocast_keeps_outputs_in_float32():
    model = make("mlp", VARIANTS["routed"]).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*batch())
    assert out.mu.dtype == out.logvar.dtype == out.logits.dtype == torch.float32
    assert torch.isfinite(out.loss)


# ---- gradient routing: check .grad directly -----------------------------------------------


def _head_rows_with_grad(model: LatentModel, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[int]]:
    """Backpropagate the reconstruction term only; which rows of the μ/σ heads received gradient?

    The KL term reaches the heads directly (not through z), so it is left out to see the route.
    """
    model.zero_grad(set_to_none=True)
    model(x, y).parts["recon"].backward()
    rows = {}
    for name in ("mean_head", "var_head"):
        head = getattr(model, name)
        if head is not None:
            grad = torch.zeros_like(head.weight) if head.weight.grad is None else head.weight.grad
            rows[name] = grad.abs().sum(1).nonzero().flatten().tolist()
    encoder_grad = sum(p.grad.abs().sum().item() for p in model.encoder.parameters() if p.grad is not None)
    rows["encoder"] = encoder_grad > 0
    return rows


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("label", [0, 3, 9])
def test_only_the_labels_coordinate_passes_gradient_to_the_encoder(body, label):
    model = make(body, ["routing.enabled=true"]).train()
    x, _ = batch(4)
    rows = _head_rows_with_grad(model, x, torch.full((4,), label))
    assert rows == {"mean_head": [label], "var_head": [label], "encoder": True}
    # ... while the decoder still sees (and gets gradient from) every coordinate of z.
    first = next(m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear))
    assert (first.weight.grad.abs().sum(0) > 0).all()


def test_mixed_batch_routes_each_example_to_its_own_coordinate():
    model = make("mlp", ["routing.enabled=true"]).train()
    x, _ = batch(4)
    rows = _head_rows_with_grad(model, x, torch.tensor([2, 5, 5, 7]))
    assert rows["mean_head"] == [2, 5, 7]
    # Per example: a batch of one example shows only its own row, so masks are not shared across the batch.
    assert _head_rows_with_grad(model, x[:1], torch.tensor([2]))["mean_head"] == [2]


def test_general_routes_and_free_coordinates():
    model = make("mlp", VARIANTS["routed-general"]).train()
    x, _ = batch(2)
    assert _head_rows_with_grad(model, x, torch.tensor([4, 4]))["mean_head"] == [8, 9, 20, 21, 22, 23]


@pytest.mark.parametrize("unlabelled, expected", [
    ("all", list(range(12))), ("free", [10, 11]), ("none", []),
])
def test_unlabelled_examples(unlabelled, expected):
    model = make("mlp", ["routing.enabled=true", "model.latent_dim=12", "routing.free=[10, 11]",
                         f"routing.unlabelled={unlabelled}"]).train()
    x, _ = batch(3)
    rows = _head_rows_with_grad(model, x, torch.full((3,), UNLABELLED))
    assert rows["mean_head"] == expected
    assert rows["encoder"] == bool(expected)


def test_routing_is_off_at_evaluation_and_without_labels():
    model = make("mlp", ["routing.enabled=true"])
    x, y = batch(2)
    model.eval()
    assert _head_rows_with_grad(model, x, torch.tensor([1, 1]))["mean_head"] == list(range(10))
    model.train()
    assert _head_rows_with_grad(model, x, None)["mean_head"] == list(range(10))


def test_routing_does_not_change_the_forward_values():
    """z' = m·z + (1−m)·stopgrad(z) equals z: routing shapes gradients only."""
    routed, plain = make("mlp", ["routing.enabled=true"], seed=1), make("mlp", [], seed=1)
    plain.load_state_dict(routed.state_dict())
    x, y = batch()
    torch.manual_seed(7)
    a = routed.train()(x, y)
    torch.manual_seed(7)
    b = plain.train()(x, y)
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.loss, b.loss)
