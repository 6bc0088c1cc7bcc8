"""A config.json edited after training never yields a silently wrong eval.json.

Weights record the config fields that say what they mean (checkpoint.bound_config); a run
folder whose config.json no longer holds them is refused by load and by evaluate before any
work, with one line naming config.json and the field, and its eval.json stays as it was. An
untouched folder evaluates as before, and folders saved before the record existed still load.
"""

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import latentcraft
from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.evaluation import evaluate as evaluate_module
from latentcraft.evaluation.evaluate import EVAL_FILE, evaluate_run
from latentcraft.explorer.pretrained import pack, pretrained_run
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt

SMALL = ["model.encoder_hidden=[32]", "model.decoder_hidden=[32]"]
LIMITS = {"fit_limit": 200, "test_limit": 200}
FIELDS_THAT_CHANGE_THE_MEANING = [  # each keeps the tensor names and shapes, so only the record catches it
    ("model.relu_latent", False), ("objective.beta", 2.0), ("objective.kind", "reference"),
    ("routing.routes", [[1], [0], [2], [3], [4], [5], [6], [7], [8], [9]]), ("routing.label_weight", 1.0),
    ("style.joint", False), ("style.start_epoch", 0), ("model.deterministic", True), ("train.seed", 3),
    ("data.labelled_fraction", 0.5),
]
FIELDS_THAT_DO_NOT = [("name", "renamed"), ("description", "mine"), ("data.data_dir", "/elsewhere"),
                      ("data.download", True), ("data.test_limit", 100), ("train.threads", 2),
                      ("train.epochs", 50), ("train.lr", 0.01), ("train.device", "cpu")]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, mnist_dir):
    """An (untrained, small) routed-style run folder with its eval.json."""
    run = tmp_path_factory.mktemp("eval-safety") / "run"
    torch.manual_seed(0)
    ckpt.save_model(build_model(resolve_config("routed-style", overrides=SMALL)), run)
    evaluate_run(run, progress=False, **LIMITS)
    return run


def _copy(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _edit(run, key, value):
    config = json.loads((run / ckpt.CONFIG_FILE).read_text())
    *sections, name = key.split(".")
    table = config
    for section in sections:
        table = table[section]
    table[name] = value
    (run / ckpt.CONFIG_FILE).write_text(json.dumps(config, indent=2))


@pytest.mark.parametrize("key, value", FIELDS_THAT_CHANGE_THE_MEANING,
                         ids=[k for k, _ in FIELDS_THAT_CHANGE_THE_MEANING])
def test_an_edit_that_changes_what_the_weights_mean_is_refused_and_eval_json_is_kept(evaluated, tmp_path, capsys,
                                                                                     key, value):
    run = _copy(evaluated, tmp_path)
    before = (run / EVAL_FILE).read_bytes()
    _edit(run, key, value)
    message = rf"{ckpt.CONFIG_FILE} does not describe the weights in {ckpt.WEIGHTS_FILE}: {key} is "
    with pytest.raises(ckpt.RunError, match=message):
        ckpt.load_model(run)
    with pytest.raises(ckpt.RunError, match=message):
        latentcraft.load(run)
    assert main(["evaluate", str(run), "--test-limit", "200", "--fit-limit", "200", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run / ckpt.CONFIG_FILE) in err and f" {key} is " in err, err
    assert "Traceback" not in err
    assert (run / EVAL_FILE).read_bytes() == before  # byte for byte
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in evaluated.iterdir())  # no temp file


def test_evaluate_refuses_before_any_work(evaluated, tmp_path, monkeypatch):
    run = _copy(evaluated, tmp_path)
    _edit(run, "model.relu_latent", False)

    def no_work(*args, **kwargs):
        raise AssertionError("evaluate read data before checking the weights against config.json")

    monkeypatch.setattr(evaluate_module, "load_config_data", no_work)
    with pytest.raises(ckpt.RunError, match="model.relu_latent"):
        evaluate_run(run, progress=False, **LIMITS)


@pytest.mark.parametrize("key, value", FIELDS_THAT_DO_NOT, ids=[k for k, _ in FIELDS_THAT_DO_NOT])
def test_an_edit_that_leaves_the_meaning_alone_still_loads(evaluated, tmp_path, key, value):
    run = _copy(evaluated, tmp_path)
    _edit(run, key, value)
    ckpt.load_model(run)


def test_an_unchanged_folder_evaluates_as_before(evaluated, tmp_path):
    run = _copy(evaluated, tmp_path)
    before = json.loads((run / EVAL_FILE).read_text())
    after = evaluate_run(run, progress=False, **LIMITS)
    assert after["metrics"] == before["metrics"]
    assert json.loads((run / EVAL_FILE).read_text())["metrics"] == before["metrics"]


def test_a_failing_evaluation_leaves_the_old_eval_json(evaluated, tmp_path, monkeypatch):
    run = _copy(evaluated, tmp_path)
    before = (run / EVAL_FILE).read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl+C in the last stages would

    monkeypatch.setattr(evaluate_module, "dci_shortcut", fail)
    with pytest.raises(KeyboardInterrupt):
        evaluate_run(run, progress=False, **LIMITS)
    assert (run / EVAL_FILE).read_bytes() == before
    assert not list(run.glob(f".*{ckpt.TEMP_SUFFIX}"))


def test_old_folders_without_the_record_still_load(evaluated, tmp_path):
    run = _copy(evaluated, tmp_path)
    path = run / ckpt.WEIGHTS_FILE
    save_file(load_file(str(path)), str(path))  # as saved before weights recorded their config
    _edit(run, "model.relu_latent", False)  # nothing to compare it against: loads as it always did
    ckpt.load_model(run)


def test_the_shipped_model_records_the_config_its_weights_were_trained_with():
    with safe_open(str(pretrained_run() / ckpt.WEIGHTS_FILE), framework="pt") as f:
        assert ckpt.BOUND_CONFIG_KEY in (f.metadata() or {})
    ckpt.load_model(pretrained_run())  # the record matches its config.json


def test_a_damaged_record_names_the_weights_file(evaluated, tmp_path):
    run = _copy(evaluated, tmp_path)
    path = run / ckpt.WEIGHTS_FILE
    save_file(load_file(str(path)), str(path), metadata={ckpt.BOUND_CONFIG_KEY: "{not json"})
    with pytest.raises(ckpt.RunError, match=rf"{ckpt.WEIGHTS_FILE}: its record of the config .* is damaged"):
        ckpt.load_model(run)


def test_pack_keeps_the_record_with_the_float16_weights(evaluated, tmp_path):
    run = _copy(evaluated, tmp_path)
    ckpt.write_json(run / ckpt.SUMMARY_FILE, {"name": "routed-style", "epochs": 0})
    pack(run, tmp_path / "shipped", evaluate=False)
    with safe_open(str(tmp_path / "shipped" / ckpt.WEIGHTS_FILE), framework="pt") as f:
        recorded = json.loads(f.metadata()[ckpt.BOUND_CONFIG_KEY])
    assert recorded == ckpt.bound_config(ckpt.load_config(run))
    _edit(tmp_path / "shipped", "style.joint", False)
    with pytest.raises(ckpt.RunError, match="style.joint is false there"):
        ckpt.load_model(tmp_path / "shipped")


def test_a_record_in_an_older_layout_is_read_as_config_json_is(evaluated, tmp_path):
    """A field renamed since the weights were saved is still compared (here: style.start_epoch,
    once routing.style_epoch), through the same upgrade that reads an old config.json."""
    run = _copy(evaluated, tmp_path)
    path = run / ckpt.WEIGHTS_FILE
    with safe_open(str(path), framework="pt") as f:
        record = json.loads(f.metadata()[ckpt.BOUND_CONFIG_KEY])
    record["routing.style_epoch"] = record.pop("style.start_epoch")
    save_file(load_file(str(path)), str(path), metadata={ckpt.BOUND_CONFIG_KEY: json.dumps(record)})
    ckpt.load_model(run)
    _edit(run, "style.start_epoch", 0)
    with pytest.raises(ckpt.RunError, match="style.start_epoch is 0 there but they were trained with 2"):
        ckpt.load_model(run)
