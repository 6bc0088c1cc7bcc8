"""judge.py: the digit judge is cached without pickle, damaged caches are one-line errors and get retrained."""

import json

import pytest
import torch

from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES
from latentcraft.evaluation import judge as judge_module
from latentcraft.evaluation.judge import (
    INFO_FILE,
    JUDGE_MIN_ACCURACY,
    WEIGHTS_FILE,
    DigitJudge,
    JudgeError,
    JudgeRecipe,
    LazyJudge,
    ensure_judge,
    load_judge,
    save_judge,
)

TINY = JudgeRecipe(epochs=2, batch_size=32)
SLICE = 600  # training images of the tiny judge
SCORED = 1000  # test images it is scored on
LIMITS = {"train_limit": SLICE, "test_limit": SCORED, "recipe": TINY, "progress": False}


def _saved_judge(folder):
    torch.manual_seed(0)
    judge = DigitJudge().eval()
    save_judge(judge, {"version": judge_module.JUDGE_VERSION, "test_accuracy": 0.5}, folder)
    return judge


def test_save_then_load_gives_the_same_predictions(tmp_path):
    judge = _saved_judge(tmp_path)
    loaded, info = load_judge(tmp_path)
    x = torch.rand(7, IMAGE_PIXELS)
    assert info["test_accuracy"] == 0.5
    assert torch.equal(loaded.predict(x), judge.predict(x))
    assert loaded.predict(x).shape == (7,) and judge(x).shape == (7, NUM_CLASSES)


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / WEIGHTS_FILE).write_bytes(b"not safetensors"), "is not a readable safetensors file"),
    (lambda f: (f / WEIGHTS_FILE).unlink(), "does not exist"),
    (lambda f: (f / INFO_FILE).write_text("{truncated"), "is not valid JSON"),
    (lambda f: (f / INFO_FILE).write_text(json.dumps({"version": 0})), "judge version 0"),
])
def test_a_damaged_cache_is_a_one_line_error_naming_the_file(tmp_path, damage, message):
    _saved_judge(tmp_path)
    damage(tmp_path)
    with pytest.raises(JudgeError, match=message) as err:
        load_judge(tmp_path)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_weights_of_another_network_are_rejected(tmp_path):
    _saved_judge(tmp_path)
    from safetensors.torch import save_file

    save_file({"features.0.weight": torch.zeros(3, 1, 3, 3)}, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(JudgeError, match="do not match the judge's network"):
        load_judge(tmp_path)


def test_ensure_judge_trains_once_then_reuses_and_retrains_a_damaged_cache(tmp_path, mnist_dir, monkeypatch):
    judge, info = ensure_judge("mnist", folder=tmp_path, **LIMITS)
    assert {p.name for p in tmp_path.iterdir()} == {INFO_FILE, WEIGHTS_FILE}
    assert info["n_train"] == SLICE and info["n_test"] == SCORED and info["dataset"] == "mnist"
    assert 0.5 < info["test_accuracy"] < 1.0  # 600 images, two epochs: well above chance, a real score

    def must_not_train(*args, **kwargs):
        raise AssertionError("a valid cache was retrained")

    with monkeypatch.context() as patch:
        patch.setattr(judge_module, "train_judge", must_not_train)
        again, cached = ensure_judge("mnist", folder=tmp_path, **LIMITS)
    assert cached == json.loads((tmp_path / INFO_FILE).read_text())
    x = torch.rand(4, IMAGE_PIXELS)
    assert torch.equal(again.predict(x), judge.predict(x))

    # Other data (a different slice) or damaged weights: trained again.
    calls = []
    real_train = judge_module.train_judge
    monkeypatch.setattr(judge_module, "train_judge", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    ensure_judge("mnist", folder=tmp_path, **{**LIMITS, "train_limit": SLICE // 2})
    (tmp_path / WEIGHTS_FILE).write_bytes(b"junk")
    ensure_judge("mnist", folder=tmp_path, **{**LIMITS, "train_limit": SLICE // 2})
    assert len(calls) == 2
    load_judge(tmp_path)  # the retrained cache is whole again


@pytest.mark.slow
def test_the_full_judge_reads_mnist_well(tmp_path, mnist_dir):
    _, info = ensure_judge("mnist", folder=tmp_path, progress=False)
    assert info["test_accuracy"] >= JUDGE_MIN_ACCURACY


def test_the_lazy_judge_loads_only_when_first_asked_to_read(monkeypatch):
    calls = []
    torch.manual_seed(0)
    network = DigitJudge().eval()
    monkeypatch.setattr(judge_module, "ensure_judge",
                        lambda *args, **kwargs: calls.append(args) or (network, {"test_accuracy": 0.99}))
    lazy = LazyJudge("mnist", "/nowhere", progress=False)
    assert calls == [] and lazy.info is None
    x = torch.rand(3, IMAGE_PIXELS)
    assert torch.equal(lazy(x), network.predict(x))
    lazy(x)
    assert calls == [("mnist", "/nowhere", False)] and lazy.info == {"test_accuracy": 0.99}
