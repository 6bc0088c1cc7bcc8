"""Every metric a run records, in one table: what it is called, which way is better, how it prints.

Keys are the names as records hold them: "test_..." / "train_..." for the
per-split numbers of metrics.jsonl and eval.json, bare names for what only the
`evaluate` command measures (probes, DCI). The table's order is the order of
eval.json and of report tables: by `Metric.group`, then by registration.
Techniques register the metrics they add (techniques.base.Technique.metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Table sections, in display order.
FIT, PREDICTION, REPRESENTATION, DIAGNOSTIC, TRAINING = range(5)


@dataclass(frozen=True)
class Metric:
    label: str  # what tables call it
    # True / False: which way is better. None: a run's own training objective, minimised within a run
    # (best epoch, best seed) but on a different scale for each objective, so reports mark no best across runs.
    higher_is_better: bool | None
    group: int = REPRESENTATION  # table section (FIT, PREDICTION, ...)


METRICS: dict[str, Metric] = {}
PREDICTIONS: list[str] = []  # per-split names of the techniques' prediction accuracies, in registration order


def register(name: str, metric: Metric) -> None:
    """Add a metric; the table stays ordered by group. Registering the same entry twice is harmless."""
    if METRICS.get(name, metric) != metric:
        raise ValueError(f"metric {name!r} is registered twice with different meanings")
    entries = {**METRICS, name: metric}
    METRICS.clear()
    # Stable: registration order within a group.
    METRICS.update(sorted(entries.items(), key=lambda entry: entry[1].group))


def registered() -> dict[str, Metric]:
    """The whole table: the core metrics, and those of every technique whose module has been imported
    (config.run_config imports the technique registry, so any loaded config sees them all)."""
    return METRICS


def register_prediction(name: str) -> None:
    """A technique's prediction accuracy, logged per split every epoch ("argmax_accuracy")."""
    if name not in PREDICTIONS:
        PREDICTIONS.append(name)


def metric_key(name: str) -> str:
    """A metric as the run records name it: bare per-split names mean the test split ("argmax_accuracy")."""
    if name in registered() or name.startswith(("test_", "train_")):
        return name
    return f"test_{name}"


def metric_info(name: str) -> Metric:
    if name not in registered():
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}")
    return METRICS[name]


def higher_is_better(name: str) -> bool:
    """The direction best_by optimises; a run's own loss (None in the table) is minimised."""
    return metric_info(name).higher_is_better is True


def best_by(metric: str, items: Iterable[T], value: Callable[[T], float]) -> T:
    """The item whose value is best for `metric` (highest or lowest, as the registry says)."""
    sign = 1 if higher_is_better(metric) else -1
    return max(items, key=lambda item: sign * value(item))


def metric_label(name: str) -> str:
    return registered()[name].label if name in METRICS else name


def format_value(value: Any) -> str:
    """A metric value for tables: 4 decimals below 10, 2 above; "—" for a missing one."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


_CORE = {
    "test_recon_bce": Metric("reconstruction BCE / image (nats)", False, FIT),
    "test_recon_sq": Metric("reconstruction squared error / image", False, FIT),
    "test_loss": Metric("training loss (eval mode, own objective)", None, FIT),
    "test_kl": Metric("KL(q(z|x) ‖ N(0, I)) / image (nats)", False, FIT),
    "test_elbo": Metric("ELBO / image (nats, 1 sample)", True, FIT),
    "test_log_likelihood": Metric("log p(x) / image (importance-sampled)", True, FIT),
    "linear_probe_accuracy": Metric("linear probe accuracy on μ", True),
    "knn_probe_accuracy": Metric("k-NN probe accuracy on μ", True),
    "dci_disentanglement": Metric("DCI disentanglement D", True),
    "dci_completeness": Metric("DCI completeness C", True),
    "dci_informativeness": Metric("DCI informativeness I (held-out, one-vs-rest)", True),
    "shortcut_disentanglement": Metric("shortcut D = Σp² (experiments.md §2, not E&W)", True),
    "shortcut_completeness": Metric("shortcut C = max p (experiments.md §2, not E&W)", True),
    "shortcut_informativeness": Metric("shortcut I (train = test codes)", True),
    # Against the data's ground-truth factors (evaluation/factors.py), only for data that carries them.
    "factor_mig": Metric("MIG against the true factors (Chen et al. 2018)", True),
    "factor_sap": Metric("SAP against the true factors (Kumar et al. 2018)", True),
    "factor_dci_disentanglement": Metric("DCI disentanglement D against the true factors", True),
    "factor_dci_completeness": Metric("DCI completeness C against the true factors", True),
    "factor_dci_informativeness": Metric("DCI informativeness I against the true factors (held-out)", True),
    "handwriting_accuracy": Metric("accuracy on scikit-learn's 8×8 digits, preprocessed like a drawing", True,
                                   PREDICTION),
    "handwriting_judge_accuracy": Metric(
        "judge CNN's accuracy on scikit-learn's 8×8 digits, preprocessed like a drawing", True, PREDICTION),
    "train_loss": Metric("training loss (own objective)", None, TRAINING),
    "train_recon": Metric("training reconstruction term (own objective)", None, TRAINING),
    "train_kl": Metric("training KL term (own objective)", None, TRAINING),
}
for _name, _metric in _CORE.items():
    register(_name, _metric)
