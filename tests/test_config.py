"""config.py: strict keys, type checks, cross-field validation, presets and overrides."""

import json

import pytest

from latentcraft.config.run_config import Config, resolve_config
from latentcraft.config.sources import parse_override, parse_value, preset_dict, preset_names
from latentcraft.errors import ConfigError


def test_defaults_round_trip_through_json(tmp_path):
    config = resolve_config(overrides=["routing.enabled=true", "routing.free=[10, 11]", "model.latent_dim=12"])
    path = tmp_path / "config.json"
    config.save(path)
    assert Config.load(path) == config
    assert Config.from_dict(json.loads(path.read_text())).to_dict() == config.to_dict()


@pytest.mark.parametrize("raw, key", [
    ({"trian": {"epochs": 1}}, "trian"),
    ({"train": {"epoch": 1}}, "train.epoch"),
    ({"model": {"latent": 3}}, "model.latent"),
])
def test_unknown_keys_are_an_error_that_names_the_key(raw, key):
    with pytest.raises(ConfigError, match=f"unknown config key {key}"):
        Config.from_dict(raw)


@pytest.mark.parametrize("raw, message", [
    ({"train": {"epochs": "5"}}, "train.epochs: expected int"),
    ({"train": {"epochs": 2.5}}, "train.epochs: expected int"),
    ({"train": {"epochs": True}}, "train.epochs: expected int"),
    ({"model": {"encoder_hidden": [64, "x"]}}, r"model.encoder_hidden\[1\]: expected int"),
    ({"model": {"relu_latent": 1}}, "model.relu_latent: expected bool"),
    ({"data": {"dataset": None}}, "data.dataset: must not be null"),
    ({"train": 3}, "train: expected a table"),
])
def test_wrong_types_are_rejected(raw, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(raw)


def test_ints_are_accepted_for_floats():
    config = Config.from_dict({"train": {"lr": 1}, "objective": {"beta": 4}})
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert isinstance(config.objective.beta, float)


@pytest.mark.parametrize("overrides, message", [
    (["data.dataset=cifar"], "data.dataset"),
    (["objective.kind=mse"], "objective.kind"),
    (["model.body=resnet"], "model.body"),
    (["train.epochs=0"], "train.epochs"),
    (["model.latent_dim=0"], "model.latent_dim"),
    (["train.lr=0"], "train.lr"),
    (["data.labelled_fraction=1.5"], "data.labelled_fraction"),
    (["data.train_limit=-5"], "data.train_limit"),
    (["data.test_limit=-1"], "data.test_limit"),
    (["train.threads=-1"], "train.threads"),
    (["train.lr_decay=0"], "train.lr_decay"),
    (["objective.beta=-1"], "objective.beta"),
    (["objective.kl_warmup_epochs=-2"], "objective.kl_warmup_epochs"),
    (["model.encoder_hidden=[64, 0]"], "model.encoder_hidden"),
    (["model.decoder_hidden=[-3]"], "model.decoder_hidden"),
    (["model.body=conv", "model.conv_channels=[8, 8, 8]"], "model.conv_channels"),
    (["model.body=conv", "model.conv_channels=[8, 0]"], "model.conv_channels"),
    (["model.deterministic=true", "objective.kind=reference"], "objective.kind"),
    (["routing.enabled=true", "model.latent_dim=5"], r"routing.routes\[5\]"),
    (["routing.enabled=true", "routing.routes=[[0], [1]]"], "one entry per class"),
    (["routing.enabled=true", f"routing.routes={[[]] + [[k] for k in range(1, 10)]}"], r"routing.routes\[0\]"),
    (["routing.enabled=true", "model.latent_dim=12", "routing.free=[9]"], "also owned"),
    (["routing.enabled=true", "model.latent_dim=12", "routing.free=[12]"], "outside the latent"),
    (["routing.enabled=true", "model.latent_dim=12", "routing.free=[10, 10]"], "routing.free"),
    (["routing.unlabelled=some"], "routing.unlabelled"),
])
def test_invalid_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(overrides=overrides)


def test_general_routing_map_is_accepted():
    """Two coordinates per digit plus two free style dims (experiments.md §1, general routing)."""
    routes = [[2 * k, 2 * k + 1] for k in range(10)]
    config = resolve_config(overrides=[
        "routing.enabled=true", "model.latent_dim=22", f"routing.routes={json.dumps(routes)}", "routing.free=[20, 21]",
    ])
    assert config.routing.route_map(10) == routes
    assert resolve_config().routing.route_map(10) == [[k] for k in range(10)]


def test_every_preset_resolves_and_names_itself():
    assert "routed10-original" in preset_names()
    for name in preset_names():
        config = resolve_config(name)
        assert config.name == name
        assert preset_dict(name).get("description"), f"preset {name} has no description"


def test_routed10_original_matches_the_spec():
    c = resolve_config("routed10-original")
    assert c.model.encoder_hidden == [2048, 512, 10] and c.model.decoder_hidden == [512, 2048]
    assert c.model.latent_dim == 10 and c.model.relu_latent and c.routing.enabled
    assert c.objective.kind == "reference" and c.objective.reference_recon_weight == 0.3
    assert (c.train.epochs, c.train.batch_size, c.train.lr, c.train.lr_decay) == (100, 128, 1e-3, 0.95)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="routed10-original"):
        resolve_config("no-such-preset")


def test_layering_preset_then_file_then_overrides(tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text('name = "mine"\n[train]\nepochs = 7\nbatch_size = 64\n')
    config = resolve_config("routed10-original", file, ["train.epochs=3", "data.dataset=fashion-mnist"])
    assert (config.name, config.train.epochs, config.train.batch_size) == ("mine", 3, 64)
    assert config.data.dataset == "fashion-mnist"  # a bare word is read as a string
    assert config.objective.kind == "reference"  # untouched preset value survives the merge
    assert config.model.encoder_hidden == [2048, 512, 10]


@pytest.mark.parametrize("text, value", [
    ("1e-3", 0.001), ("5", 5), ("[64,32]", [64, 32]), ("true", True), ("null", None),
    ("fashion-mnist", "fashion-mnist"), ('"3"', "3"), ("[64", "[64"),
])
def test_command_line_values_are_json_else_plain_strings(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)
    assert parse_override(f"train.x={text}") == (["train", "x"], value)  # --set and --grid read values alike


@pytest.mark.parametrize("text, message", [
    ("train.epochs", "expected key=value"),
    ("train.epochs.x=1", "not a section"),
    ("train.nope=1", "unknown config key train.nope"),
])
def test_bad_overrides(text, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(overrides=["train.epochs=2", text] if "epochs.x" in text else [text])


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(config_file=tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(config_file=broken)
    broken_json = tmp_path / "broken.json"
    broken_json.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        resolve_config(config_file=broken_json)


@pytest.mark.parametrize("override", ["train.lr=NaN", "train.lr=Infinity", "objective.beta=-Infinity",
                                      "train.lr_decay=1e999", "data.augment_rotate=NaN", "classifier.weight=NaN",
                                      "prior.points=[[0, NaN]]", "train.lr=1" + "0" * 400])
def test_nan_and_infinity_are_rejected_in_every_float_field_from_set(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{key}(\[0\]\[1\])?: must be a finite number"):
        resolve_config(overrides=[override])


@pytest.mark.parametrize("name, text", [
    ("run.toml", "[train]\nlr = nan\n"),
    ("run.toml", "[objective]\nbeta = inf\n"),
    ("run.toml", "[anchors]\nrate = -inf\n"),
    ("run.json", '{"train": {"lr": NaN}}'),
    ("run.json", '{"objective": {"beta": Infinity}}'),
    ("run.json", '{"prior": {"radius": -Infinity}}'),
])
def test_nan_and_infinity_are_rejected_from_toml_and_json(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=r"^\w+\.\w+: must be a finite number"):
        resolve_config(config_file=tmp_path / name)


def test_config_files_that_are_not_text_or_not_a_table(tmp_path):
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.toml is not UTF-8 text"):
        resolve_config(config_file=tmp_path / "latin1.toml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="list.json must hold a table of fields, not a list"):
        resolve_config(config_file=tmp_path / "list.json")


# ---- names and bounds: a name is one folder name; every whole number has a ceiling ------------


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "a\\b", ".hidden", "..", "", "a\x01b", "tab\there",
                                  "-rf", "ends.", "ends ", "a..b", "x" * 101, "naïve/"])
def test_names_that_could_leave_the_runs_folder_are_refused(name):
    with pytest.raises(ConfigError, match=r"^name: .* is not a valid name; use 1-100 characters: letters, digits"):
        Config.from_dict({"name": name})


@pytest.mark.parametrize("name", ["routed10", "my run 2", "routed10 lr=0.001 beta=0.5", "h=[64,32]", "x" * 100])
def test_ordinary_names_are_accepted(name):
    assert Config.from_dict({"name": name}).name == name


def test_every_preset_name_is_valid():
    for preset in preset_names():
        assert resolve_config(preset).name == preset


def _int_fields():
    """(dotted key, a huge value of its type) for every whole-number field of every section."""
    import dataclasses
    import typing

    from latentcraft.config.run_config import CORE_SECTIONS
    from latentcraft.techniques.registry import TECHNIQUES

    sections = {**CORE_SECTIONS, **{name: t.settings_class for name, t in TECHNIQUES.items()}}
    for section, cls in sections.items():
        for f in dataclasses.fields(cls):
            hint = str(typing.get_type_hints(cls)[f.name])
            huge = {"<class 'int'>": 10**12, "list[int]": [10**12], "list[int] | None": [10**12],
                    "list[list[int]] | None": [[10**12]]}.get(hint)
            if huge is not None:
                yield f"{section}.{f.name}", huge


@pytest.mark.parametrize("key, huge", list(_int_fields()))
def test_every_whole_number_field_has_an_upper_bound_named_in_its_message(key, huge):
    section, field = key.split(".")
    with pytest.raises(ConfigError, match=rf"^{key}(\[\d+\])?: must be at most [\d,]+, got"):
        Config.from_dict({section: {field: huge}})


@pytest.mark.parametrize("override", ["train.epochs=100000", "train.batch_size=1000000", "data.train_limit=60000",
                                      "objective.kl_warmup_epochs=100000", "train.seed=4294967295",
                                      "prior.grid_columns=10", "train.eval_batch_size=1000000"])
def test_the_bounds_leave_room_for_any_real_use(override):
    resolve_config(overrides=[override])


@pytest.mark.parametrize("texts, message", [
    (["=3"], "the key before '=' must be a field path"),
    (["train.epochs="], "no value after '='"),
    (["name=  "], "no value after '='"),
    (["train..epochs=3"], "the key before '=' must be a field path"),
])
def test_empty_keys_and_values_are_refused(texts, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(overrides=texts)


def test_an_empty_text_is_written_out():
    assert resolve_config(overrides=['description=""']).description == ""


def test_one_command_sets_a_key_once_while_the_api_lets_a_later_override_win():
    from latentcraft.config.sources import check_once

    assert resolve_config(overrides=["train.epochs=3", "train.epochs=4"]).train.epochs == 4
    with pytest.raises(ConfigError, match=r"^train.epochs is set twice \(--set train.epochs=3, then --epochs 4\)"):
        check_once(["train.epochs=3", "train.epochs=4"], ["--set train.epochs=3", "--epochs 4"])
    with pytest.raises(ConfigError, match="train overlaps train.epochs"):
        check_once(["train.epochs=3", 'train={"epochs": 4}'])
    check_once(["train.epochs=3", "train.lr=0.1", "data.train_limit=5"])
