"""metric_registry.py: one table of metric names, directions and labels, techniques' entries included."""

import pytest

from latentcraft.config.run_config import resolve_config
from latentcraft.errors import ConfigError
from latentcraft.evaluation.registry import (
    FIT,
    PREDICTION,
    Metric,
    best_by,
    format_value,
    metric_info,
    metric_key,
    metric_label,
    register,
    registered,
)
from latentcraft.techniques.registry import TECHNIQUES


def test_techniques_register_what_they_add_and_the_table_keeps_its_sections():
    table = registered()
    for technique in TECHNIQUES.values():
        for name, metric in technique.metrics.items():
            assert table[name] == metric
        if technique.prediction_metric:
            assert metric_key(technique.prediction_metric) in table
    groups = [m.group for m in table.values()]
    assert groups == sorted(groups)  # eval.json and report tables follow this order
    names = list(table)
    assert names.index("test_elbo") < names.index("test_argmax_accuracy") < names.index("linear_probe_accuracy")


def test_best_by_follows_the_registered_direction():
    values = {"a": 0.2, "b": 0.9, "c": 0.5}
    assert best_by("test_argmax_accuracy", values, values.get) == "b"
    assert best_by("test_recon_bce", values, values.get) == "a"
    # A run's own loss is not comparable across runs (no best in reports) but is still minimised.
    assert metric_info("test_loss").higher_is_better is None
    assert best_by("test_loss", values, values.get) == "a"
    with pytest.raises(ValueError, match="unknown metric 'test_nonsense'"):
        best_by("test_nonsense", values, values.get)


def test_names_labels_and_formatting():
    assert metric_key("argmax_accuracy") == "test_argmax_accuracy"
    assert metric_key("dci_completeness") == "dci_completeness"  # only the evaluate command measures it
    assert metric_key("train_loss") == "train_loss"
    assert metric_label("test_classifier_accuracy") == "classifier head accuracy"
    assert metric_label("something_else") == "something_else"
    assert format_value(None) == "—" and format_value(0.97071) == "0.9707" and format_value(-153.278) == "-153.28"


def test_a_name_cannot_change_meaning():
    register("test_recon_bce", registered()["test_recon_bce"])  # the same entry again is harmless
    with pytest.raises(ValueError, match="twice"):
        register("test_recon_bce", Metric("something else", True, FIT))
    assert registered()["test_argmax_accuracy"].group == PREDICTION


def test_select_metric_must_be_a_metric():
    with pytest.raises(ConfigError, match="train.select_metric: 'test_acuracy' is not a metric"):
        resolve_config(overrides=["train.select_metric=test_acuracy"])
