"""techniques/ and anchor_templates.py: each technique does what experiments.md §3/§4 say; bad configs fail early."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal, kl_divergence

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, UNLABELLED
from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import load_split
from latentcraft.errors import ConfigError
from latentcraft.model.objective import gaussian_kl
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.anchor_templates import TemplateError, donut, read_file, resolve_template, stick
from latentcraft.techniques.class_prior import class_means
from latentcraft.techniques.registry import build_model, check_files
from latentcraft.training.checkpoint import load_model
from latentcraft.training.trainer import train

SMALL = {"encoder_hidden": [32], "decoder_hidden": [32]}


def _model(raw: dict) -> LatentModel:
    torch.manual_seed(0)
    return build_model(Config.from_dict(raw))


def _ring_image() -> torch.Tensor:
    """A hand-drawn '0': a circle of radius 7 px, 2 px thick, independent of the donut template."""
    rows, cols = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE] - (IMAGE_SIDE - 1) / 2
    radius = np.hypot(rows, cols)
    return torch.tensor((np.abs(radius - 7) <= 1).astype(np.float32)).flatten()


def _bar_image() -> torch.Tensor:
    """A hand-drawn '1': a 2 px wide vertical line from row 5 to row 22."""
    image = torch.zeros(IMAGE_SIDE, IMAGE_SIDE)
    image[5:23, 13:15] = 1.0
    return image.flatten()


# ---- class prior means --------------------------------------------------------------


def test_closed_form_kl_against_a_class_mean_equals_torch_distributions():
    model = _model({"model": {**SMALL, "latent_dim": 3},
                    "prior": {"enabled": True, "placement": "circle", "radius": 2.5, "dims": [0, 2]}})
    g = torch.Generator().manual_seed(3)
    x = torch.rand(20, IMAGE_PIXELS, generator=g)
    y = torch.arange(20) % NUM_CLASSES
    out = model.eval()(x, y)
    targets = torch.zeros(20, 3)
    targets[:, [0, 2]] = class_means(model.config.prior, 10)[y]
    expected = kl_divergence(
        Independent(Normal(out.mu, torch.exp(0.5 * out.logvar)), 1), Independent(Normal(targets, torch.ones(20, 3)), 1)
    )
    torch.testing.assert_close(out.parts["kl"], expected.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gaussian_kl(out.mu, out.logvar, targets), expected, rtol=1e-5, atol=1e-5)


def test_unlabelled_examples_keep_the_standard_normal_target():
    model = _model({"model": {**SMALL, "latent_dim": 2}, "prior": {"enabled": True}})
    y = torch.tensor([3, UNLABELLED])
    target = model.techniques["prior"].kl_target(torch.rand(2, IMAGE_PIXELS), y)
    assert torch.equal(target[1], torch.zeros(2))
    torch.testing.assert_close(target[0], class_means(model.config.prior, 10)[3])


def test_circle_placement_puts_distinct_points_at_the_radius():
    points = class_means(resolve_config(overrides=["prior.radius=4"]).prior, 10)
    assert points.shape == (NUM_CLASSES, 2)
    torch.testing.assert_close(points.norm(dim=1), torch.full((NUM_CLASSES,), 4.0))
    gaps = torch.cdist(points, points) + torch.eye(NUM_CLASSES) * 100
    torch.testing.assert_close(gaps.min(), torch.tensor(2 * 4.0 * math.sin(math.pi / NUM_CLASSES)))


def test_grid_placement_is_a_centred_grid_with_the_given_spacing():
    prior = resolve_config(overrides=["prior.placement=grid", "prior.spacing=2", "prior.grid_columns=5"]).prior
    points = class_means(prior, 10)
    assert sorted(set(points[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert sorted(set(points[:, 1].tolist())) == [-1.0, 1.0]
    torch.testing.assert_close(points.mean(0), torch.zeros(2))


def test_points_placement_uses_the_given_coordinates():
    given = [[float(k), 0.5 * k, -k] for k in range(NUM_CLASSES)]
    prior = Config.from_dict({"model": {"latent_dim": 4},
                              "prior": {"enabled": True, "placement": "points", "points": given,
                                        "dims": [0, 1, 3]}}).prior
    assert class_means(prior, 10).tolist() == given


# ---- conditional decoder ----------------------------------------------------------------


def test_conditional_decoder_output_changes_with_the_label_for_a_fixed_code():
    model = _model({"model": {**SMALL, "latent_dim": 2}, "conditional": {"enabled": True}}).eval()
    z = torch.zeros(NUM_CLASSES, 2)
    logits = model.decode(z, torch.arange(NUM_CLASSES))
    for k in range(1, NUM_CLASSES):
        assert not torch.allclose(logits[0], logits[k])
    # the same label gives the same image: only the label differs above
    torch.testing.assert_close(model.decode(z[:2], torch.tensor([4, 4]))[0], logits[4])


def test_conditional_decoder_label_vector():
    model = _model({"model": {**SMALL, "latent_dim": 2}, "conditional": {"enabled": True}})
    technique = model.techniques["conditional"]
    vectors = technique.decoder_inputs(torch.tensor([2, UNLABELLED]), 2)
    assert torch.equal(vectors[0], F.one_hot(torch.tensor(2), NUM_CLASSES).float())
    assert torch.equal(vectors[1], torch.zeros(NUM_CLASSES))  # no label: no label input
    with pytest.raises(ValueError, match="conditional"):
        technique.decoder_inputs(None, 2)


def test_routing_with_free_coords_and_conditional_decoder_routes_reconstruction_gradient():
    routes = [[k] for k in range(NUM_CLASSES)]
    model = _model({"model": {**SMALL, "latent_dim": 12}, "conditional": {"enabled": True},
                    "routing": {"enabled": True, "routes": routes, "free": [10, 11], "unlabelled": "free"}}).train()
    x = torch.rand(4, IMAGE_PIXELS, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3, 9, UNLABELLED])
    out = model(x, y)
    out.mu.retain_grad()
    out.parts["recon"].backward()  # the KL is not routed; reconstruction is
    allowed = torch.zeros(4, 12, dtype=torch.bool)
    for i, label in enumerate([0, 3, 9]):
        allowed[i, label] = True
    allowed[:, [10, 11]] = True
    assert torch.all(out.mu.grad[~allowed] == 0)
    assert torch.all(out.mu.grad[allowed] != 0)


# ---- classifier head ----------------------------------------------------------------------


def test_classifier_cross_entropy_skips_unlabelled_examples_and_is_weighted():
    model = _model({"model": {**SMALL, "latent_dim": 2}, "classifier": {"enabled": True, "weight": 3.0}}).eval()
    x = torch.rand(6, IMAGE_PIXELS, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([1, 2, UNLABELLED, 4, UNLABELLED, 0])
    out = model(x, y)
    logits = out.extras["class_logits"]
    keep = y != UNLABELLED
    torch.testing.assert_close(out.parts["class_ce"], 3.0 * F.cross_entropy(logits[keep], y[keep]))
    # the head reads μ, not a sample
    torch.testing.assert_close(logits, model.techniques["classifier"].head(out.mu))


# ---- anchors -------------------------------------------------------------------------


def test_builtin_templates_are_a_ring_and_a_vertical_bar():
    ring, bar = donut().view(IMAGE_SIDE, IMAGE_SIDE), stick().view(IMAGE_SIDE, IMAGE_SIDE)
    centre = IMAGE_SIDE // 2
    assert ring[centre, centre] == 0 and ring.sum() > 50  # a hole in the middle
    assert bar[centre, centre] == 1 and bar[centre, 0] == 0
    assert bar.sum(0).max() > 3 * bar.sum(1).max()  # taller than wide


def test_anchors_move_the_kl_target_in_the_documented_direction():
    model = _model({"model": {**SMALL, "latent_dim": 2}, "anchors": {"enabled": True, "rate": 2.0}})
    anchors = model.techniques["anchors"]
    x = torch.stack([_ring_image(), _bar_image()])
    score = anchors.score(x)
    assert score[0] > 0.2 and score[1] < -0.2  # round scores positive, a stick negative
    target = anchors.kl_target(x, None)
    # μ + a·s(x) replaces μ in the KL, i.e. the target is −a·s(x): opposite corners
    assert torch.all(target[0] < 0) and torch.all(target[1] > 0)
    torch.testing.assert_close(target, -2.0 * score.unsqueeze(1).expand(2, 2))
    mu, logvar = torch.randn(2, 2), torch.randn(2, 2)
    shifted = mu + 2.0 * score.unsqueeze(1)
    torch.testing.assert_close(
        gaussian_kl(mu, logvar, target), 0.5 * (logvar.exp() + shifted.pow(2) - 1 - logvar).sum(1)
    )


def test_anchor_score_is_the_spec_formula_and_ignores_brightness():
    model = _model({"model": {**SMALL, "latent_dim": 2}, "anchors": {"enabled": True}})
    x = torch.rand(3, IMAGE_PIXELS, generator=torch.Generator().manual_seed(5))
    expected = (x @ donut()) / x.sum(1) - (x @ stick()) / x.sum(1)
    torch.testing.assert_close(model.techniques["anchors"].score(x), expected)
    torch.testing.assert_close(model.techniques["anchors"].score(0.5 * x), expected)


def test_anchor_dims_limit_the_shift():
    model = _model({"model": {**SMALL, "latent_dim": 3}, "anchors": {"enabled": True, "dims": [1]}})
    target = model.techniques["anchors"].kl_target(_ring_image()[None], None)
    assert target[0, 0] == 0 and target[0, 2] == 0 and target[0, 1] < 0


def test_user_templates_from_npy_and_png(tmp_path):
    from PIL import Image

    mask = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    mask[10:18, 4:24] = 1.0
    np.save(tmp_path / "bar.npy", mask)
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "bar.png")
    torch.testing.assert_close(read_file(tmp_path / "bar.npy"), torch.from_numpy(mask).flatten())
    torch.testing.assert_close(read_file(tmp_path / "bar.png"), torch.from_numpy(mask).flatten())
    anchors = {"enabled": True, "templates": [str(tmp_path / "bar.png")], "weights": [1.0]}
    config = Config.from_dict({"anchors": anchors})
    model = build_model(config)
    assert torch.isnan(model.techniques["anchors"].templates[0]).all()  # building reads no file
    model.fit(ImageSet(torch.zeros(1, IMAGE_SIDE, IMAGE_SIDE, dtype=torch.uint8), torch.zeros(1, dtype=torch.long)))
    torch.testing.assert_close(model.techniques["anchors"].templates[0], torch.from_numpy(mask).flatten())


def test_class_mean_template_is_the_mean_labelled_image(mnist_dir):
    from latentcraft.data.mnist import load_split

    train = load_split("mnist", "train", limit=500)
    labels = train.labels.clone()
    labels[:50] = UNLABELLED  # hidden labels are not used
    template = resolve_template("class-mean:7", (train.images, labels))
    chosen = train.images[(labels == 7)].reshape(-1, IMAGE_PIXELS).float() / 255
    torch.testing.assert_close(template, chosen.mean(0))


# ---- bad configurations fail at config time, naming the field --------------------------------


@pytest.mark.parametrize("raw, field", [
    ({"routing": {"enabled": True, "routes": [[k] for k in range(9)] + [[10]]}}, r"routing.routes\[9\]"),
    ({"routing": {"enabled": True, "free": [10]}}, "routing.free"),
    ({"prior": {"enabled": True, "placement": "points", "points": [[0, 0]] * 9}}, "prior.points"),
    ({"prior": {"enabled": True, "placement": "points"}}, "prior.points"),
    ({"prior": {"enabled": True, "placement": "points", "points": [[0, 0]] * 9 + [[1, 2, 3]]}}, r"prior.points\[9\]"),
    ({"prior": {"enabled": True, "placement": "spiral"}}, "prior.placement"),
    ({"prior": {"enabled": True, "dims": [0, 10]}}, "prior.dims"),
    ({"prior": {"enabled": True, "dims": [0, 1, 2]}}, "prior.dims"),
    ({"model": {"deterministic": True}, "prior": {"enabled": True}}, "prior.enabled"),
    ({"model": {"deterministic": True}, "anchors": {"enabled": True}}, "anchors.enabled"),
    ({"anchors": {"enabled": True, "templates": ["donut"], "weights": [1.0, -1.0]}}, "anchors.weights"),
    ({"anchors": {"enabled": True, "templates": ["donut", "class-mean:12"]}}, r"anchors.templates\[1\]"),
    ({"anchors": {"enabled": True, "dims": [10]}}, "anchors.dims"),
    ({"classifier": {"enabled": True, "hidden": [0]}}, "classifier.hidden"),
    ({"classifier": {"enabled": True, "weight": -1}}, "classifier.weight"),
    ({"style": {"enabled": True}}, r"style.dim: must be at least 1 and below model.latent_dim \(10\), got 10"),
    ({"style": {"enabled": True, "dim": 2, "hidden_sizes": [0]}}, "style.hidden_sizes"),
    ({"style": {"enabled": True, "dim": 2, "independence": -1}}, "style.independence: must not be negative"),
    ({"style": {"enabled": True, "dim": 2, "mmd": 1.0}},
     "style.mmd: reads the routed code's predictions; set routing.enabled = true"),
    ({"model": {"style_dim": 2}, "style": {"dim": 2}}, "model.style_dim: older name of style.dim; set only style.dim"),
])
def test_bad_technique_fields_fail_at_config_time(raw, field):
    with pytest.raises(ConfigError, match=field):
        Config.from_dict(raw)


@pytest.mark.parametrize("values, problem", [
    (np.ones((27, 27)), "shape"), (np.ones((28, 28, 3)), "shape"), (np.ones(783), "shape"),
    (np.full((28, 28), np.nan), "NaN"), (None, "no such file"),
])
def test_a_bad_template_file_fails_when_training_starts(tmp_path, values, problem):
    path = tmp_path / "bad.npy"
    if values is not None:
        np.save(path, values.astype(np.float32))
    config_file = tmp_path / "run.toml"
    config_file.write_text(f'[anchors]\nenabled = true\ntemplates = ["donut", "{path}"]\n')
    config = resolve_config(config_file=config_file)  # parsing reads no template file
    with pytest.raises(ConfigError, match=rf"anchors.templates\[1\].*{problem}"):
        check_files(config)
    with pytest.raises(ConfigError, match=rf"anchors.templates\[1\].*{problem}"):
        train(config, tmp_path / "run", progress=False)  # before any data is read or any file written
    assert not (tmp_path / "run").exists()
    if values is not None:
        with pytest.raises(TemplateError, match=problem):
            read_file(path)


def test_unfitted_data_templates_refuse_to_score():
    model = _model({"model": {**SMALL, "latent_dim": 2},
                    "anchors": {"enabled": True, "templates": ["donut", "class-mean:1"]}})
    with pytest.raises(RuntimeError, match=r"class-mean:1.*fit"):
        model.train()(torch.rand(2, IMAGE_PIXELS))


def test_a_saved_run_keeps_its_templates_and_loads_from_anywhere(tmp_path, monkeypatch, mnist_dir):
    mask = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    mask[4:24, 12:16] = 1.0
    np.save(tmp_path / "bar.npy", mask)
    monkeypatch.chdir(tmp_path)
    config = resolve_config(overrides=[
        "model.encoder_hidden=[16]", "model.decoder_hidden=[16]", "model.latent_dim=2", "anchors.enabled=true",
        'anchors.templates=["bar.npy", "class-mean:3"]', "anchors.weights=[1, -1]", "train.epochs=1",
        "data.train_limit=200", "data.test_limit=100", "train.threads=1",
    ])
    train(config, tmp_path / "run", progress=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # "bar.npy" no longer resolves: the weights must carry it
    templates = load_model(tmp_path / "run").techniques["anchors"].templates
    torch.testing.assert_close(templates[0], torch.from_numpy(mask).flatten())
    train_images = load_split("mnist", "train", limit=200)
    threes = train_images.images[train_images.labels == 3].reshape(-1, IMAGE_PIXELS).float() / 255
    torch.testing.assert_close(templates[1], threes.mean(0))


def test_routing_map_past_the_latent_fails_through_resolve_config():
    with pytest.raises(ConfigError, match=r"routing.routes\[4\].*model.latent_dim = 4"):
        resolve_config(overrides=["routing.enabled=true", "model.latent_dim=4"])


# ---- end to end: a short real training run shows the documented direction --------------------


@pytest.mark.slow
def test_anchor2d_preset_learns_codes_anti_correlated_with_the_score(tmp_path, mnist_dir):
    from latentcraft.evaluation.metrics import encode_split
    from latentcraft.training.trainer import load_data, train

    config = resolve_config("anchor2d", overrides=["train.epochs=2", "data.train_limit=6000", "data.test_limit=1000",
                                                   "train.threads=1"])
    train(config, tmp_path, progress=False)
    from latentcraft.training.checkpoint import load_model

    model = load_model(tmp_path)
    _, test = load_data(config)
    mu, _ = encode_split(model, test)
    score = model.techniques["anchors"].score(test.floats())
    zeros, ones = mu[test.labels == 0].mean(0), mu[test.labels == 1].mean(0)
    for d in range(2):
        r = np.corrcoef(score.numpy(), mu[:, d].numpy())[0, 1]
        assert r < -0.25, f"coordinate {d}: r = {r:.3f}"  # the full 20-epoch preset reaches about -0.77
        assert zeros[d] < ones[d]  # round digits in the negative corner, sticks in the positive one


@pytest.mark.parametrize("values, message", [
    (np.where(np.eye(28) > 0, np.inf, 0), "NaN or infinite"),
    (np.full((28, 28), "a"), "values; a template is a 28x28 array of numbers"),
])
def test_a_template_of_infinities_or_non_numbers_fails_when_training_starts(tmp_path, values, message):
    path = tmp_path / "bad.npy"
    np.save(path, values)
    config = Config.from_dict({"anchors": {"enabled": True, "templates": [str(path)], "weights": [1.0]}})
    with pytest.raises(ConfigError, match=rf"anchors.templates\[0\]: .*bad.npy: .*{message}"):
        check_files(config)

