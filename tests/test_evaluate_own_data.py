"""`evaluate` on any labelled images: the run's shape and classes everywhere, MIG/SAP/DCI against the data's
true factors, the judge trained on the run's own data (cached per dataset, trusted or not), robustness as
robustness.py decides, and MNIST's record unchanged but for additions."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentcraft.config.run_config import resolve_config
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.data.source import load_config_data, mnist_format
from latentcraft.data.synthetic import colour_blobs, save_npz, shapes
from latentcraft.evaluation import judge as judge_module
from latentcraft.evaluation.evaluate import EVAL_FILE, evaluate_run, format_table, handwritten_digits
from latentcraft.evaluation.factors import MAX_DISCRETE_VALUES, continuous_factors, factor_scores
from latentcraft.evaluation.judge import INFO_FILE, DigitJudge, JudgeRecipe, ensure_judge, trusted
from latentcraft.evaluation.registry import registered
from latentcraft.evaluation.robustness import TRANSFORMS, applicable, shift, transformed_sets
from latentcraft.techniques import routing_figures
from latentcraft.training.checkpoint import load_model
from latentcraft.training.trainer import train

FACTORS = ["factor_mig", "factor_sap", "factor_dci_disentanglement", "factor_dci_completeness",
           "factor_dci_informativeness"]
SMALL = ["train.epochs=1", "model.encoder_hidden=[32]", "model.decoder_hidden=[32]", "train.threads=1",
         "train.epoch_images=600"]


def _trained(folder, train_set, test_set, preset="routed10", extra=()):
    save_npz(folder / "data.npz", train_set, test_set)
    config = resolve_config(preset, overrides=[f"data.path={folder / 'data.npz'}", *SMALL, *extra])
    train(config, folder / "run", progress=False)
    return folder / "run"


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """routed10 after one epoch on 300 grey 32x32 dSprites-like images: 4 classes, 5 true factors."""
    return _trained(tmp_path_factory.mktemp("shapes"), shapes(300, 32, 0), shapes(120, 32, 1))


@pytest.fixture(scope="module")
def blobs_run(tmp_path_factory):
    """routed-style after one epoch on 300 RGB 32x32 blobs of 3 classes."""
    return _trained(tmp_path_factory.mktemp("blobs"), colour_blobs(300, 32, 3, 0), colour_blobs(120, 32, 3, 1),
                    "routed-style", ["style.hidden_sizes=[16]", "style.start_epoch=0"])


def test_a_grey_run_with_true_factors_is_scored_against_them(shapes_run):
    record = evaluate_run(shapes_run, fit_limit=300, progress=False)
    m, names = record["metrics"], ["shape", "scale", "orientation", "x", "y"]
    for name in FACTORS:
        assert 0.0 <= m[name] <= 1.0 and name in registered(), name
    factors = record["factors"]
    assert factors["names"] == names and factors["continuous"] == [False] * 5
    assert list(factors["per_factor"]) == names and set(factors["per_factor"]["x"]) == {
        "dci_completeness", "dci_accuracy", "mig_gap", "sap_gap"}
    assert np.array(factors["dci"]["importance"]).shape == (4, 5)  # routed10 on 4 classes: a 4-d code
    # The class-based read-outs are sized by the run's 4 classes, not MNIST's 10.
    assert np.array(record["confusion_matrix"]).shape == (4, 4) and len(record["selectivity"]) == 4
    assert np.array(record["dci"]["importance"]).shape == (4, 4)
    assert len(record["style"]["digit_codes"]) == 4 and len(record["style"]["transfer_per_digit"]) == 4
    # Robustness: no drawing preprocessing for data that is not MNIST-format; strokes kept for grey data.
    expected = [k for k in TRANSFORMS if k != "preprocessed"]
    assert record["robustness"] == {"drawing_preprocessing": False, "transforms": expected}
    assert "argmax_accuracy_preprocessed" not in m and "argmax_accuracy_thicker" in m
    assert "handwriting_accuracy" not in m  # handwritten digits mean nothing to shapes
    assert record["judge"]["n_train"] == 300 and isinstance(record["judge"]["trusted"], bool)
    assert json.loads((shapes_run / EVAL_FILE).read_text())["factors"]["names"] == names
    assert "true factors: shape, scale, orientation, x, y" in format_table(record)


def test_a_colour_run_is_evaluated_in_its_own_shape(blobs_run):
    record = evaluate_run(blobs_run, fit_limit=300, progress=False)
    m = record["metrics"]
    assert record["robustness"]["transforms"] == ["shift_right", "shift_left", "shift_down", "shift_up",
                                                  "rotate_ccw", "rotate_cw"]  # no strokes on colour
    assert np.array(record["confusion_matrix"]).shape == (3, 3)
    assert 0 <= m["style_transfer_accuracy"] <= 1 and len(record["style"]["transfer_per_digit"]) == 3
    assert 0 <= m["style_probe_accuracy"] <= 1 and record["factors"]["names"][1] == "colour"


def test_the_style_transfer_grid_and_the_morph_keep_colour(blobs_run, tmp_path):
    model = load_model(blobs_run)
    test = load_config_data(model.config, "test")
    routing = model.techniques["routing"]
    tiles, rows, columns = routing_figures.style_transfer_tiles(model, test, routing.routed_coordinates)
    assert tiles.shape == (3, 4, 32, 32, 3) and columns == ["input", "disc", "square", "triangle"]
    assert rows == ["disc", "square", "triangle"]
    np.testing.assert_allclose(tiles[:, 0], test.shape.images(test.floats(torch.tensor(
        [int((test.labels == k).nonzero()[0]) for k in range(3)]))).numpy())  # the input column is the input
    gif = Image.open(routing_figures.interpolation_gif(model, routing.routes, tmp_path / "morph.gif"))
    assert gif.size == (128, 128)  # 4 GIF pixels per pixel, as MNIST's (PIL merges repeated frames: no count)
    red = np.zeros((2, 2, 3))
    red[..., 0] = 1.0
    frame = routing_figures.gif_frame(red, ImageShape(2, 2, 3, ("a", "b")))
    assert frame.mode == "RGB" and frame.getpixel((0, 0)) == (255, 0, 0)  # colour as is, not inverted grey
    ink = routing_figures.gif_frame(np.ones((28, 28)), MNIST_SHAPE)
    assert ink.mode == "L" and ink.size == (112, 112) and ink.getpixel((5, 5)) == 0  # grey ink is dark


# ---- true factors: known answers ----------------------------------------------------------------------


def test_codes_that_are_the_factors_score_near_one_and_a_mixture_scores_low():
    data = shapes(1500, 32, 0)
    factors = data.factors.astype(float)
    rng = np.random.default_rng(0)
    split = slice(0, 1000), slice(1000, None)
    perfect = factors + 0.01 * rng.normal(size=factors.shape)  # code k is factor k
    metrics, record = factor_scores(perfect[split[0]], factors[split[0]], perfect[split[1]], factors[split[1]],
                                    list(data.factor_names))
    assert metrics["factor_mig"] > 0.8 and metrics["factor_dci_disentanglement"] > 0.9
    assert metrics["factor_dci_completeness"] > 0.9 and metrics["factor_dci_informativeness"] > 0.9
    assert metrics["factor_sap"] > 0.3  # plain accuracy gaps: a 16-valued factor is hard for a 1-D linear SVM
    mixed = factors @ rng.normal(size=(5, 5))  # every code a blend of every factor
    blended, _ = factor_scores(mixed[split[0]], factors[split[0]], mixed[split[1]], factors[split[1]],
                               list(data.factor_names))
    for name in ("factor_mig", "factor_dci_disentanglement", "factor_dci_completeness"):
        assert blended[name] < metrics[name] - 0.3, name


def test_continuous_factors_are_binned_and_a_one_dimensional_code_gets_dci_only():
    rng = np.random.default_rng(1)
    n = 600
    many = rng.integers(0, MAX_DISCRETE_VALUES + 10, n)  # integers, but too many values to be classes
    angle = rng.uniform(0, 360, n)
    coin = rng.integers(0, 2, n)
    factors = np.stack([many, angle, coin], 1).astype(float)
    assert continuous_factors(factors).tolist() == [True, True, False]
    codes = np.stack([angle / 100, coin + 0.01 * rng.normal(size=n), rng.normal(size=n)], 1)
    metrics, record = factor_scores(codes[:400], factors[:400], codes[400:], factors[400:], ["n", "angle", "coin"])
    assert record["continuous"] == [True, True, False]
    assert record["per_factor"]["angle"]["mig_gap"] > 0.5 and record["per_factor"]["coin"]["mig_gap"] > 0.5
    assert record["sap"]["score_matrix"][0][1] == pytest.approx(1.0)  # R² of angle on the code that is it
    metrics, record = factor_scores(codes[:400, :1], factors[:400], codes[400:, :1], factors[400:], ["n", "a", "c"])
    assert "factor_mig" not in metrics and "factor_dci_informativeness" in metrics
    assert record["mig"] == "needs 2 or more code coordinates"


# ---- the judge ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [ImageShape(8, 8, 1, tuple("ab")), ImageShape(30, 20, 3, tuple("abcde")),
                                   ImageShape(64, 64, 1, tuple("abcd")), MNIST_SHAPE])
def test_the_judge_reads_images_of_any_shape_into_its_classes(shape):
    judge = DigitJudge(shape)
    assert judge(torch.rand(3, shape.features)).shape == (3, shape.classes)
    assert judge.predict(torch.rand(5, shape.features)).shape == (5,)


def test_the_mnist_judge_keeps_the_weights_of_its_cached_version():
    shapes_of = {name: tuple(t.shape) for name, t in DigitJudge().state_dict().items()}
    assert shapes_of == {"features.0.weight": (32, 1, 3, 3), "features.0.bias": (32,),
                         "features.3.weight": (64, 32, 3, 3), "features.3.bias": (64,),
                         "classifier.1.weight": (128, 1600), "classifier.1.bias": (128,),
                         "classifier.3.weight": (10, 128), "classifier.3.bias": (10,)}


def test_each_dataset_gets_its_own_judge_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    recipe = JudgeRecipe(epochs=1, batch_size=32)
    folders = {}
    for name, (a, b) in {"one": (colour_blobs(90, 32, 3, 0), colour_blobs(30, 32, 3, 1)),
                         "two": (colour_blobs(90, 32, 3, 2), colour_blobs(30, 32, 3, 3))}.items():
        save_npz(tmp_path / f"{name}.npz", a, b)
        config = resolve_config(overrides=[f"data.path={tmp_path / name}.npz"])
        _, info = ensure_judge(config, train_limit=60, test_limit=30, recipe=recipe, progress=False)
        (folders[name],) = [p for p in (tmp_path / "cache" / "latentcraft" / "judge").iterdir()
                            if p.name.startswith(f"{name}.npz-")]
        assert folders[name].name == f"{name}.npz-{info['train_checksum'][:16]}"
        assert info["image_shape"] == [32, 32, 3] and info["classes"] == 3 and "passes" not in info
        assert json.loads((folders[name] / INFO_FILE).read_text()) == info

        def must_not_train(*args, **kwargs):
            raise AssertionError("a valid cache was retrained")

        with monkeypatch.context() as patch:
            patch.setattr(judge_module, "train_judge", must_not_train)
            assert ensure_judge(config, train_limit=60, test_limit=30, recipe=recipe, progress=False)[1] == info
    assert folders["one"] != folders["two"]


def test_a_judge_below_the_trusted_accuracy_is_flagged_and_evaluate_prints_one_warning_line():
    assert trusted({"test_accuracy": judge_module.TRUSTED_ACCURACY}) and not trusted({"test_accuracy": 0.5})
    record = {"name": "x", "run_dir": "r", "n_test": 3, "metrics": {"test_recon_sq": 1.0},
              "judge": {"test_accuracy": 0.5, "trusted": False}}
    warnings = [line for line in format_table(record).splitlines() if "warning" in line]
    assert len(warnings) == 1 and "50.0%" in warnings[0] and "unreliable" in warnings[0]
    record["judge"] = {"test_accuracy": 0.99, "trusted": True}
    assert "warning" not in format_table(record)


# ---- robustness: which rows for which data --------------------------------------------------------


def test_robustness_rows_follow_the_data():
    assert list(applicable(drawing=True, grey=True)) == list(TRANSFORMS)
    assert "preprocessed" not in applicable(drawing=False, grey=True)
    assert set(applicable(drawing=False, grey=False)) == set(TRANSFORMS) - {"preprocessed", "thicker", "thinner"}
    assert mnist_format(resolve_config()) and mnist_format(resolve_config(overrides=["data.dataset=fashion-mnist"]))
    assert not mnist_format(resolve_config(overrides=["data.dataset=shapes"]))
    assert handwritten_digits(resolve_config()) and not handwritten_digits(
        resolve_config(overrides=["data.dataset=fashion-mnist"]))


def test_colour_images_are_shifted_channel_by_channel_without_the_drawing_preprocessing():
    images = torch.zeros(2, 6, 8, 3, dtype=torch.uint8)
    images[0, 2, 3] = torch.tensor([255, 0, 0], dtype=torch.uint8)  # one red pixel at row 2, column 3
    images[1, 4, 1] = torch.tensor([0, 0, 255], dtype=torch.uint8)
    data = ImageSet(images, torch.tensor([0, 1]), shape=ImageShape(6, 8, 3, ("r", "b")))
    sets = transformed_sets(data, drawing=False)
    assert list(sets) == ["shift_right", "shift_left", "shift_down", "shift_up", "rotate_ccw", "rotate_cw"]
    moved = data.shape.images(sets["shift_right"].images)  # (2, 6, 8, 3)
    assert moved[0, 2, 5].tolist() == [1.0, 0.0, 0.0] and moved[1, 4, 3].tolist() == [0.0, 0.0, 1.0]
    assert moved.sum() == 2.0 and not sets["shift_right"].empty.any()
    assert torch.equal(shift(torch.ones(1, 6, 8), 0, 2)[0, :2], torch.zeros(2, 8))  # non-square fields
    with pytest.raises(ValueError, match="drawing preprocessing is for 28×28 grey digits"):
        transformed_sets(data, drawing=True)


# ---- MNIST: the record as before, plus the additions ------------------------------------------------


def test_an_mnist_run_keeps_its_record_and_adds_handwriting(tmp_path, mnist_dir):
    from latentcraft.techniques.registry import build_model
    from latentcraft.training.checkpoint import save_model

    config = resolve_config("routed10", overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]",
                                                   "data.test_limit=200"])
    torch.manual_seed(0)
    save_model(build_model(config), tmp_path)
    record = evaluate_run(tmp_path, fit_limit=300, progress=False)
    m = record["metrics"]
    assert "factors" not in record and not any(name in m for name in FACTORS)  # MNIST has no true factors
    assert record["robustness"] == {"drawing_preprocessing": True, "transforms": list(TRANSFORMS)}
    assert 0 <= m["handwriting_accuracy"] <= 1 and 0 <= m["handwriting_judge_accuracy"] <= 1
    assert record["handwriting"] == {"prediction": "argmax_accuracy"}
    assert set(record["judge"]) == {"test_accuracy", "n_train", "train_checksum", "version", "trusted"}
    assert np.array(record["confusion_matrix"]).shape == (10, 10) and len(record["style"]["digit_codes"]) == 10
