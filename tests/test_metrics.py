"""metrics.py: routed argmax on known codes, and evaluate_split against a direct computation."""

import pytest
import torch
import torch.nn.functional as F

from latentcraft.config.run_config import resolve_config
from latentcraft.data.mnist import load_split
from latentcraft.evaluation.metrics import (
    accuracy,
    confusion_matrix,
    encode_split,
    evaluate_split,
    importance_log_likelihood,
    logged_metrics,
    probe_accuracies,
)
from latentcraft.evaluation.robustness import TRANSFORMS
from latentcraft.model.objective import gaussian_kl
from latentcraft.techniques.registry import build_model
from latentcraft.techniques.routing import routed_predictions, routing_selectivity
from latentcraft.techniques.style.readouts import NO_STYLE


def test_routed_predictions_default_map_is_argmax():
    mu = torch.tensor([[0.1, 2.0, -1.0] + [0.0] * 7, [-5.0] * 9 + [-0.5]])
    assert routed_predictions(mu, [[k] for k in range(10)]).tolist() == [1, 9]


def test_routed_predictions_general_map_takes_the_best_owned_coordinate():
    routes = [[2 * k, 2 * k + 1] for k in range(10)]
    mu = torch.zeros(2, 22)
    mu[0, 7] = 3.0  # coordinate 7 belongs to label 3
    mu[1, 20] = 9.0  # a free coordinate never predicts
    mu[1, 12] = 1.0  # label 6
    assert routed_predictions(mu, routes).tolist() == [3, 6]


def test_accuracy():
    assert accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == 0.75


@pytest.fixture(scope="module")
def small_test_set(mnist_dir):
    return load_split("mnist", "test", limit=150)


@pytest.mark.parametrize("overrides", [
    ["routing.enabled=true", "model.relu_latent=true"],
    ["routing.enabled=true", "objective.kind=reference"],
    ["model.deterministic=true"],
])
def test_evaluate_split_matches_a_direct_computation(small_test_set, overrides):
    torch.manual_seed(0)
    small = ["model.encoder_hidden=[32]", "model.decoder_hidden=[32]"]
    model = build_model(resolve_config(overrides=[*small, *overrides]))
    metrics = evaluate_split(model, small_test_set, batch_size=40)  # 150 = 3 full batches + 1 short one
    x, y = small_test_set.floats(), small_test_set.labels
    with torch.no_grad():
        mu, logvar = model.encode(x)
        logits = model.decode(model.latent_activation(mu))
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    assert metrics["test_recon_bce"] == pytest.approx(recon.mean().item(), rel=1e-5)
    assert metrics["test_recon_sq"] == pytest.approx((torch.sigmoid(logits) - x).pow(2).sum(1).mean().item(), rel=1e-5)
    if model.config.routing.enabled:
        expected = (mu.argmax(1) == y).float().mean().item()
        assert metrics["test_argmax_accuracy"] == pytest.approx(expected)
    else:
        assert "test_argmax_accuracy" not in metrics
    if model.objective.elbo_kl(mu, logvar) is not None:
        kl = gaussian_kl(mu, logvar).mean().item()
        assert metrics["test_kl"] == pytest.approx(kl, rel=1e-5)
        assert metrics["test_elbo"] == pytest.approx(-(recon.mean().item() + kl), rel=1e-5)
    assert metrics == pytest.approx(evaluate_split(model, small_test_set, batch_size=2000), rel=1e-5)
    assert set(metrics) <= set(logged_metrics())  # what sweeps accept in --metrics
    torch.testing.assert_close(encode_split(model, small_test_set, batch_size=64)[0], mu)


# ---- fuller evaluation: confusion, selectivity, probes, log-likelihood, evaluate_run -----------------

ONE_PER_DIGIT = [[k] for k in range(10)]


def test_argmax_accuracy_and_confusion_on_hand_built_codes():
    labels = torch.tensor([0, 1, 2, 2])
    mu = torch.zeros(4, 10)
    mu[0, 0], mu[1, 1], mu[2, 2], mu[3, 5] = 1.0, 2.0, 0.5, 3.0  # the last 2 is read as a 5
    predicted = routed_predictions(mu, ONE_PER_DIGIT)
    assert accuracy(predicted, labels) == 0.75
    counts = confusion_matrix(predicted, labels, 10)
    assert counts[2][2] == 1 and counts[2][5] == 1 and counts[0][0] == 1 and counts[1][1] == 1
    assert sum(map(sum, counts)) == 4


def test_selectivity_is_the_own_class_share_of_positive_mass():
    labels = torch.tensor([0, 0, 1, 1])
    mu = torch.zeros(4, 12)
    mu[:, 0] = torch.tensor([1.0, 2.0, 3.0, -5.0])  # positive mass 6, of which label 0 gives 3; the −5 is ignored
    mu[:, 1] = torch.tensor([0.0, 0.0, 4.0, 4.0])  # fires only for its own digit
    mu[:, 11] = 1.0  # a free coordinate: no owner
    shares = routing_selectivity(mu, labels, ONE_PER_DIGIT)
    assert shares[0] == pytest.approx(0.5)
    assert shares[1] == pytest.approx(1.0)
    assert shares[2] is None  # never fires
    assert shares[11] is None
    # A coordinate owned by two labels counts both.
    two_owners = [[0], [0]] + [[k] for k in range(2, 10)]
    assert routing_selectivity(mu, labels, two_owners)[0] == pytest.approx(1.0)


def test_probes_read_separable_codes_and_not_noise():
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (400,), generator=gen)
    separable = torch.nn.functional.one_hot(labels, 10).float() * 3 + 0.1 * torch.randn(400, 10, generator=gen)
    good = probe_accuracies(separable[:300], labels[:300], separable[300:], labels[300:])
    assert good["linear_probe_accuracy"] > 0.97 and good["knn_probe_accuracy"] > 0.97
    noise = torch.randn(400, 10, generator=gen)
    bad = probe_accuracies(noise[:300], labels[:300], noise[300:], labels[300:])
    assert bad["linear_probe_accuracy"] < 0.3 and bad["knn_probe_accuracy"] < 0.3


def _tiny(overrides):
    torch.manual_seed(0)
    return build_model(resolve_config(overrides=["model.encoder_hidden=[32]", "model.decoder_hidden=[32]", *overrides]))


@pytest.mark.parametrize("overrides", [[], ["routing.enabled=true", "objective.kind=reference"]])
def test_importance_sampled_likelihood_bounds_the_elbo(small_test_set, overrides):
    model = _tiny(overrides)
    one = importance_log_likelihood(model, small_test_set, samples=1, batch_size=64)
    assert one["log_likelihood"] == pytest.approx(one["elbo"])  # k = 1 is the ELBO itself
    many = importance_log_likelihood(model, small_test_set, samples=64, batch_size=64)
    assert many["log_likelihood"] > many["elbo"]  # IWAE bound is tighter (Burda et al. 2016)
    assert many["log_likelihood"] < 0


def test_importance_sampling_needs_a_posterior(small_test_set):
    with pytest.raises(ValueError, match="deterministic"):
        importance_log_likelihood(_tiny(["model.deterministic=true"]), small_test_set, samples=2)


def test_evaluate_run_writes_eval_json_and_the_cli_prints_the_table(tmp_path, mnist_dir, capsys):
    import json

    from latentcraft.cli.main import main
    from latentcraft.training.checkpoint import save_model

    model = _tiny(["routing.enabled=true", "model.relu_latent=true", "data.test_limit=200"])
    save_model(model, tmp_path)
    assert main(["evaluate", str(tmp_path), "--fit-limit", "300", "--samples", "3", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    record = json.loads((tmp_path / "eval.json").read_text())
    m = record["metrics"]
    for key in ["test_recon_bce", "test_recon_sq", "test_elbo", "test_log_likelihood", "test_argmax_accuracy",
                "linear_probe_accuracy", "knn_probe_accuracy", "dci_disentanglement", "dci_completeness",
                "dci_informativeness", "shortcut_disentanglement", "shortcut_completeness", "mean_selectivity"]:
        assert key in m, key
    assert record["n_test"] == 200 and record["n_fit"] == 300
    assert sum(map(sum, record["confusion_matrix"])) == 200
    assert len(record["selectivity"]) == 10 and len(record["dci"]["importance"]) == 10
    assert 0 <= m["dci_disentanglement"] <= 1 and 0 <= m["dci_completeness"] <= 1
    assert "DCI disentanglement D" in printed and "confusion matrix" in printed and "eval.json" in printed
    # Robustness of the argmax on every transform, and routing's style read-outs judged by the digit judge.
    for key in TRANSFORMS:
        assert 0 <= m[f"argmax_accuracy_{key}"] <= 1, key
    assert 0 <= m["style_transfer_accuracy"] <= 1 and m["style_transfer_own_digit_sq_error"] > 0
    assert "style_probe_accuracy" not in m and record["style"]["probe"] == NO_STYLE  # every coordinate is routed
    assert len(record["style"]["digit_codes"]) == 10 and record["style"]["transfer_images"] == 200
    assert record["judge"]["n_train"] == 600  # the tests' tiny judge (conftest.py)
    assert "rotated 15° clockwise" in printed and "style probe: no style coordinates" in printed


@pytest.mark.parametrize("limits, option, smallest", [
    (["--test-limit", "1"], "--test-limit", 111),  # a single 7: sklearn's "y contains 1 class" before
    (["--test-limit", "100"], "--test-limit", 111),  # only two 8s among the first 100 test digits
    (["--fit-limit", "30"], "--fit-limit", 42),
])
def test_evaluate_refuses_limits_too_small_for_every_class(tmp_path, mnist_dir, capsys, limits, option, smallest):
    from latentcraft.cli.main import main
    from latentcraft.evaluation.evaluate import MIN_IMAGES_PER_CLASS
    from latentcraft.training.checkpoint import save_model

    save_model(_tiny(["routing.enabled=true"]), tmp_path)
    assert main(["evaluate", str(tmp_path), "--no-progress", "--fit-limit", "300", *limits]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"at least {MIN_IMAGES_PER_CLASS} images of every class" in line and f"{option} {smallest} or more" in line
    assert not (tmp_path / "eval.json").exists()
