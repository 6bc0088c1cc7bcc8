"""The `evaluate` command: every metric of a trained run, written to RUN_DIR/eval.json.

What is measured (all on the test split, using μ, never a sample, for codes):
reconstruction (BCE and squared error per image), the model's loss, a
one-sample ELBO and optionally an importance-sampled log p(x); argmax accuracy
and confusion matrix for routed models; linear and k-NN probes on μ; DCI
(Eastwood & Williams 2018) and the write-up's single-factor shortcut; routing
selectivity per coordinate. Probes and DCI trees are fitted on codes of
training images and scored on the test codes (held out).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .constants import NUM_CLASSES
from .data import load_split
from .dci import dci, dci_shortcut, one_vs_rest
from .metrics import (
    confusion_matrix, encode_split, evaluate_split, importance_log_likelihood, probe_accuracies,
    routed_predictions, routing_selectivity,
)

EVAL_FILE = "eval.json"
DEFAULT_FIT_LIMIT = 10_000  # training images whose codes fit the probes and DCI trees


@dataclass(frozen=True)
class MetricInfo:
    label: str  # what the table calls it
    higher_is_better: bool | None  # which way "best" points in the report; None = not comparable across runs


# Scalar metrics in eval.json's "metrics", in table order.
METRICS: dict[str, MetricInfo] = {
    "test_recon_bce": MetricInfo("reconstruction BCE / image (nats)", False),
    "test_recon_sq": MetricInfo("reconstruction squared error / image", False),
    # Each run's own objective: different objectives give numbers on different scales, so no "best".
    "test_loss": MetricInfo("training loss (eval mode, own objective)", None),
    "test_elbo": MetricInfo("ELBO / image (nats, 1 sample)", True),
    "test_log_likelihood": MetricInfo("log p(x) / image (importance-sampled)", True),
    "test_argmax_accuracy": MetricInfo("argmax accuracy of μ (routed)", True),
    "test_classifier_accuracy": MetricInfo("classifier head accuracy", True),
    "linear_probe_accuracy": MetricInfo("linear probe accuracy on μ", True),
    "knn_probe_accuracy": MetricInfo("k-NN probe accuracy on μ", True),
    "dci_disentanglement": MetricInfo("DCI disentanglement D", True),
    "dci_completeness": MetricInfo("DCI completeness C", True),
    "dci_informativeness": MetricInfo("DCI informativeness I (held-out, one-vs-rest)", True),
    "shortcut_disentanglement": MetricInfo("shortcut D = Σp² (SPEC §2, not E&W)", True),
    "shortcut_completeness": MetricInfo("shortcut C = max p (SPEC §2, not E&W)", True),
    "shortcut_informativeness": MetricInfo("shortcut I (train = test codes)", True),
    "mean_selectivity": MetricInfo("mean routing selectivity", True),
}


STAGES = ["load data", "reconstruction and ELBO", "encode", "probes", "DCI", "DCI shortcut"]


class _Stages:
    """Times each stage and shows which one runs (a stage bar; DCI and log p(x) add their own inner bars)."""

    def __init__(self, progress: bool):
        self.seconds: dict[str, float] = {}
        self.bar = tqdm(total=len(STAGES), desc=STAGES[0], leave=False, disable=not progress)
        self.start = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self.start, 3)
        self.start = now
        self.bar.update(1)
        following = STAGES.index(name) + 1
        if following < len(STAGES):
            self.bar.set_description(STAGES[following])
        else:
            self.bar.close()


def evaluate_run(
    run_dir: str | Path, samples: int = 0, fit_limit: int = DEFAULT_FIT_LIMIT, test_limit: int | None = None,
    data_dir: str | None = None, progress: bool = True, seed: int = 0, write: bool = True, device: str = "cpu",
) -> dict[str, Any]:
    """Evaluate the model in `run_dir`; returns (and by default writes) the eval.json record.

    samples: k for the importance-sampled log-likelihood (0 = skip it).
    test_limit: None = the run's own data.test_limit (0 = all 10,000).
    device: where the model runs ("cpu", "auto", "cuda", ...), whatever it was trained on.
    """
    run_dir = Path(run_dir)
    model = ckpt.load_model(run_dir, device)
    config = model.config
    d = config.data
    limit = d.test_limit if test_limit is None else test_limit
    stages = _Stages(progress)
    test = load_split(d.dataset, "test", data_dir or d.data_dir, d.download, limit)
    fit = load_split(d.dataset, "train", data_dir or d.data_dir, d.download, fit_limit)
    stages.done("load data")

    metrics: dict[str, float] = dict(evaluate_split(model, test, config.train.eval_batch_size))
    metrics.pop("test_elbo", None)  # replaced below by the one-sample ELBO, defined for every stochastic model
    metrics.pop("test_kl", None)
    record: dict[str, Any] = {
        "run_dir": str(run_dir), "name": config.name, "techniques": sorted(model.techniques.keys()),
        "latent_dim": config.model.latent_dim, "n_test": len(test), "n_fit": len(fit),
    }
    if model.var_head is not None:
        ll = importance_log_likelihood(model, test, max(samples, 1), seed=seed, progress=progress)
        metrics["test_elbo"] = ll["elbo"]
        if samples > 0:
            metrics["test_log_likelihood"] = ll["log_likelihood"]
            record["log_likelihood_samples"] = samples
    stages.done("reconstruction and ELBO")

    mu_test, _ = encode_split(model, test, config.train.eval_batch_size)
    mu_fit, _ = encode_split(model, fit, config.train.eval_batch_size)
    stages.done("encode")

    if "routing" in model.techniques:
        routes = config.route_map()
        predicted = routed_predictions(mu_test, routes)  # evaluate_split already gave their accuracy
        record["confusion_matrix"] = confusion_matrix(predicted, test.labels)
        shares = routing_selectivity(mu_test, test.labels, routes)
        record["selectivity"] = shares
        owned = [s for s in shares if s is not None]
        if owned:
            metrics["mean_selectivity"] = sum(owned) / len(owned)

    metrics.update(probe_accuracies(mu_fit, fit.labels, mu_test, test.labels))
    stages.done("probes")

    result = dci(mu_fit.numpy(), one_vs_rest(fit.labels.numpy(), NUM_CLASSES),
                 mu_test.numpy(), one_vs_rest(test.labels.numpy(), NUM_CLASSES), seed=seed, progress=progress)
    metrics["dci_disentanglement"] = result.disentanglement
    metrics["dci_completeness"] = result.completeness
    metrics["dci_informativeness"] = result.informativeness
    record["dci"] = result.to_dict()
    stages.done("DCI")

    shortcut = dci_shortcut(mu_test.numpy(), test.labels.numpy(), seed=seed)
    metrics["shortcut_disentanglement"] = shortcut["D"]
    metrics["shortcut_completeness"] = shortcut["C"]
    metrics["shortcut_informativeness"] = shortcut["I"]
    record["dci_shortcut"] = shortcut
    stages.done("DCI shortcut")

    record["metrics"] = {name: metrics[name] for name in [*METRICS, *sorted(metrics)] if name in metrics}
    record["seconds"] = stages.seconds
    if write:
        ckpt.write_json(run_dir / EVAL_FILE, record)
    return record


def read_eval(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / EVAL_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def metric_label(name: str) -> str:
    return METRICS[name].label if name in METRICS else name


def format_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def format_table(record: dict[str, Any]) -> str:
    """The printed summary: metrics, then selectivity and confusion matrix for routed models."""
    rows = [(metric_label(k), format_value(v)) for k, v in record["metrics"].items()]
    width = max(len(r[0]) for r in rows)
    lines = [f"{record['name']}  ({record['run_dir']}, {record['n_test']} test images)"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    if "selectivity" in record:
        shares = " ".join(format_value(s)[:4] if s is not None else "  — " for s in record["selectivity"])
        lines.append(f"  selectivity per coordinate: {shares}")
    if "confusion_matrix" in record:
        lines.append("  confusion matrix (rows: true digit, columns: argmax of μ):")
        for label, row in enumerate(record["confusion_matrix"]):
            lines.append(f"    {label}: " + " ".join(f"{n:5d}" for n in row))
    total = sum(record.get("seconds", {}).values())
    lines.append(f"  evaluated in {total:.1f} s")
    return "\n".join(lines)
