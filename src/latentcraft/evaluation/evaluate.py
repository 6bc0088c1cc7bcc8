"""The `evaluate` command: every metric of a trained run, written to RUN_DIR/eval.json.

What is measured (all on the test split, using μ, never a sample, for codes):
reconstruction (BCE and squared error per image), the model's loss, a
one-sample ELBO and optionally an importance-sampled log p(x); the accuracy of
each technique's prediction and whatever else a technique reads from the codes
(routing: confusion matrix and selectivity per coordinate); the accuracy of
each prediction on shifted, rotated, thickened and thinned test images (put
through the drawing preprocessing on MNIST-format data, robustness.py); on
MNIST digit runs, the accuracy on real handwriting from elsewhere
(handwriting.py); what a technique measures with the model itself (routing:
style probe and style transfer read by the judge, a CNN trained once on the
run's own data and cached, judge.py); linear and k-NN probes on μ; DCI
(Eastwood & Williams 2018) on the classes one-vs-rest and the write-up's
single-factor shortcut; and, for data that carries its ground-truth factors,
MIG, SAP and DCI against them (factors.py). Probes and DCI trees are fitted on
codes of training images and scored on the test codes (held out). Image size,
colour and class count are the run's (data/shape.py). Metric names, labels and
directions are in registry.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from latentcraft.config.sections import RunSpec
from latentcraft.data.images import ImageSet
from latentcraft.data.shape import image_shape
from latentcraft.data.source import load_config_data, mnist_format
from latentcraft.errors import ConfigError
from latentcraft.evaluation.dci import dci, dci_shortcut, one_vs_rest
from latentcraft.evaluation.factors import factor_scores
from latentcraft.evaluation.handwriting import handwriting_metrics
from latentcraft.evaluation.judge import TRUSTED_ACCURACY, LazyJudge, trusted
from latentcraft.evaluation.metrics import encode_split, evaluate_split, importance_log_likelihood, probe_accuracies
from latentcraft.evaluation.registry import METRICS, format_value, metric_label
from latentcraft.evaluation.robustness import robustness_table, technique_classifier, transformed_sets
from latentcraft.techniques.registry import TECHNIQUES
from latentcraft.training import checkpoint as ckpt

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel
    from latentcraft.techniques.style.readouts import Reader

EVAL_FILE = ckpt.EVAL_FILE
read_eval = ckpt.read_eval  # a run's eval.json, checked (report and pretrained read it from here)
DEFAULT_FIT_LIMIT = 10_000  # training images whose codes fit the probes and DCI trees
# Fewest images of each class evaluate accepts, among the fitting and the test images: the k-NN
# probe votes among 5 neighbours, so a class with fewer than 3 fitting images can never win a vote.
MIN_IMAGES_PER_CLASS = 3

STAGES = ["load data", "reconstruction and ELBO", "encode", "robustness", "technique read-outs", "handwriting",
          "probes", "DCI", "DCI shortcut", "true factors"]


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
    data_path: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate the model in `run_dir`; returns (and by default writes) the eval.json record.

    samples: k for the importance-sampled log-likelihood (0 = skip it).
    test_limit: None = the run's own data.test_limit (0 = all 10,000).
    device: where the model runs ("cpu", "auto", "cuda", ...), whatever it was trained on.
    data_path: where the run's own data lives now, if it moved (checked against its shape and classes first).
    """
    run_dir = Path(run_dir)
    # First, before any work: weights that config.json no longer describes are refused here, and an
    # existing eval.json is replaced only at the end, atomically, by a record computed in full.
    model = ckpt.load_model(run_dir, device, data_path)
    config = model.config
    stages = _Stages(progress)
    test = load_config_data(config, "test", data_dir, test_limit)
    fit = load_config_data(config, "train", data_dir, fit_limit)
    check_class_counts(config, test, "test", "--test-limit", data_dir)
    check_class_counts(config, fit, "train", "--fit-limit", data_dir)
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

    for technique in model.hooks():  # e.g. routing's confusion matrix and selectivity
        extra_metrics, extra_record = technique.evaluate_codes(mu_test, test.labels)
        metrics.update(extra_metrics)
        record.update(extra_record)

    predictors = [t for t in model.hooks() if t.prediction_metric]
    drawing = mnist_format(config)  # the drawing preprocessing only for MNIST-format data (robustness.py)
    if predictors:
        sets = transformed_sets(test, drawing=drawing)  # model-independent: prepared once for every prediction
        for technique in predictors:
            table = robustness_table(technique_classifier(model, technique, config.train.eval_batch_size), sets)
            metrics.update({f"{technique.prediction_metric}_{key}": value for key, value in table.items()})
        record["robustness"] = {"drawing_preprocessing": drawing, "transforms": list(sets)}
    stages.done("robustness")

    # MNIST-format data: the judge's cache of the dataset's name; any other data: one keyed by its pixels.
    source = config.data.dataset if drawing else config
    judge = LazyJudge(source, data_dir or config.data.data_dir, config.data.download, progress)
    for technique in model.hooks():  # e.g. routing's style probe and style transfer
        extra_metrics, extra_record = technique.evaluate_model(model, fit, test, judge)
        metrics.update(extra_metrics)
        record.update(extra_record)
    stages.done("technique read-outs")

    if predictors and handwritten_digits(config):
        metrics.update(handwriting(model, predictors[0], judge if judge.info is not None else None))
        record["handwriting"] = {"prediction": predictors[0].prediction_metric}
    if judge.info is not None:
        record["judge"] = {k: judge.info.get(k) for k in ("test_accuracy", "n_train", "train_checksum", "version")}
        record["judge"]["trusted"] = trusted(judge.info)
    stages.done("handwriting")

    metrics.update(probe_accuracies(mu_fit, fit.labels, mu_test, test.labels))
    stages.done("probes")

    classes = image_shape(config).classes
    result = dci(mu_fit.numpy(), one_vs_rest(fit.labels.numpy(), classes),
                 mu_test.numpy(), one_vs_rest(test.labels.numpy(), classes), seed=seed, progress=progress)
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

    if fit.factors is not None and test.factors is not None:
        factor_metrics, record["factors"] = factor_scores(
            mu_fit.numpy(), fit.factors.numpy(), mu_test.numpy(), test.factors.numpy(), list(test.factor_names),
            seed=seed, progress=progress)
        metrics.update(factor_metrics)
    stages.done("true factors")

    record["metrics"] = {name: metrics[name] for name in [*METRICS, *sorted(metrics)] if name in metrics}
    record["seconds"] = stages.seconds
    if write:
        ckpt.write_json(run_dir / EVAL_FILE, record)
    return record


def handwritten_digits(config: RunSpec) -> bool:
    """Whether real handwriting of the digits 0-9 (handwriting.py) is a fair test: MNIST-format, 10-class MNIST."""
    return mnist_format(config) and config.data.dataset == "mnist" and image_shape(config).classes == 10


def handwriting(model: LatentModel, technique: Any, judge: Reader | None) -> dict[str, float]:
    """Accuracy of `technique`'s prediction (and of the judge, if given) on real handwriting, preprocessed."""
    return handwriting_metrics(technique_classifier(model, technique, model.config.train.eval_batch_size), judge)


def check_class_counts(config: RunSpec, images: ImageSet, split: str, option: str, data_dir: str | None) -> None:
    """ConfigError unless `images` hold MIN_IMAGES_PER_CLASS of every class, naming the smallest limit that does."""
    names = image_shape(config).class_names
    counts = torch.bincount(images.labels, minlength=len(names))
    if counts.min() >= MIN_IMAGES_PER_CLASS:
        return
    short = ", ".join(f"{names[k]} ({counts[k]})" for k in range(len(names)) if counts[k] < MIN_IMAGES_PER_CLASS)
    # The first N images are used: how far into the whole split until every class has enough?
    labels = load_config_data(config, split, data_dir, limit=0).labels
    seen = torch.nn.functional.one_hot(labels.long(), len(names)).cumsum(0).min(1).values  # (N,) fewest so far
    enough = torch.nonzero(seen >= MIN_IMAGES_PER_CLASS)
    remedy = (f"use {option} {int(enough[0]) + 1} or more" if len(enough) else
              f"the whole {split} split has too few images of some class")
    raise ConfigError(f"the first {len(images)} {'test' if split == 'test' else 'training'} images have fewer than "
                      f"{MIN_IMAGES_PER_CLASS} of class {short}; the probes and DCI need at least "
                      f"{MIN_IMAGES_PER_CLASS} images of every class: {remedy}")


def format_table(record: dict[str, Any]) -> str:
    """The printed summary: metrics, then what each technique says about its own entries (techniques.base)."""
    rows = [(metric_label(k), format_value(v)) for k, v in record["metrics"].items()]
    width = max(len(r[0]) for r in rows)
    lines = [f"{record['name']}  ({record['run_dir']}, {record['n_test']} test images)"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    for name in record.get("techniques", []):
        if name in TECHNIQUES:
            lines += TECHNIQUES[name].report_lines(record)
    if "factors" in record:
        lines.append(f"  true factors: {', '.join(record['factors']['names'])}")
    judge = record.get("judge", {})
    if judge.get("trusted") is False:
        lines.append(f"  warning: the judge reads only {judge['test_accuracy']:.1%} of the test images (trusted from "
                     f"{TRUSTED_ACCURACY:.0%}); the metrics it judges (style transfer) are unreliable")
    total = sum(record.get("seconds", {}).values())
    lines.append(f"  evaluated in {total:.1f} s")
    return "\n".join(lines)
