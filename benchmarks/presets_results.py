"""Check what each latent-shaping preset must show, on the MNIST test set.

    python benchmarks/presets_results.py [RUNS_ROOT]      # default: runs/

expects RUNS_ROOT/<preset> for aeclf16, vae2d, cvae2d, prior2d, clf2d, anchor2d
(train each with `latentcraft train --preset NAME --run-dir RUNS_ROOT/NAME`).
Missing runs are reported and skipped. Probes use scikit-learn, fitted on
training codes and scored on test codes. Prints one line per check with
PASS/FAIL, and writes RUNS_ROOT/presets_results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from latentcraft.data.constants import NUM_CLASSES
from latentcraft.data.mnist import load_split
from latentcraft.evaluation.metrics import encode_split, evaluate_split
from latentcraft.techniques.class_prior import class_means
from latentcraft.training.checkpoint import load_model, read_summary

PROBE_TRAIN = 20_000  # training codes the probes are fitted on
KNN_NEIGHBOURS = 15  # k of the k-NN probe
PRIOR_MIN_CLASSES = 9  # prior2d: classes whose mean code is nearest its own target
CLF2D_MIN_ACCURACY = 0.90
AECLF16_MIN_ACCURACY = 0.97
ANCHOR_MIN_ABS_R = 0.7
PROBE_MIN_DROP = 0.20  # cvae2d's probe must score at least this much (accuracy) below vae2d's
ANCHOR_MIN_GAIN = 0.30  # anchor2d's |r| must exceed vae2d's by at least this much


class Run:
    """A trained preset with its test codes and metrics, computed once."""

    def __init__(self, folder: Path, train, test):
        self.folder = folder
        self.model = load_model(folder)
        self.config = self.model.config
        self.mu = encode_split(self.model, test)[0].numpy()  # (N, D) test codes
        self.train_mu = encode_split(self.model, train)[0].numpy()
        self.metrics = evaluate_split(self.model, test)
        self.train_time = read_summary(folder)["wall_time_s"]


def centroids(mu: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([mu[labels == k].mean(0) for k in range(NUM_CLASSES)])  # (10, D)


def mean_centroid_distance(mu: np.ndarray, labels: np.ndarray) -> float:
    c = centroids(mu, labels)
    d = np.linalg.norm(c[:, None] - c[None], axis=-1)
    return float(d[np.triu_indices(NUM_CLASSES, 1)].mean())


def probes(run: Run, train_labels: np.ndarray, test_labels: np.ndarray) -> dict[str, float]:
    x, y = run.train_mu[:PROBE_TRAIN], train_labels[:PROBE_TRAIN]
    knn = KNeighborsClassifier(KNN_NEIGHBOURS).fit(x, y)
    logistic = LogisticRegression(max_iter=2000).fit(x, y)
    return {"knn": float(knn.score(run.mu, test_labels)), "logistic": float(logistic.score(run.mu, test_labels))}


def anchor_scores(run: Run, test) -> np.ndarray:
    anchors = run.model.techniques["anchors"]
    with torch.no_grad():
        return anchors.score(test.floats()).numpy()  # (N,)


def pearson_per_coordinate(score: np.ndarray, mu: np.ndarray) -> list[float]:
    return [float(np.corrcoef(score, mu[:, d])[0, 1]) for d in range(mu.shape[1])]


def multiple_r(score: np.ndarray, mu: np.ndarray) -> float:
    """Correlation of s(x) with its best linear prediction from the code (any direction)."""
    return float(np.sqrt(max(LinearRegression().fit(mu, score).score(mu, score), 0.0)))


def report(check: str, passed: bool, detail: str, results: dict) -> None:
    print(f"[{'PASS' if passed else 'FAIL'}] {check}: {detail}")
    results[check] = {"passed": bool(passed), "detail": detail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_root", nargs="?", default="runs", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    train, test = load_split("mnist", "train"), load_split("mnist", "test")
    train_labels, test_labels = train.labels.numpy(), test.labels.numpy()
    runs: dict[str, Run] = {}
    for name in ("vae2d", "cvae2d", "prior2d", "clf2d", "anchor2d", "aeclf16"):
        folder = args.runs_root / name
        if (folder / "model.safetensors").is_file():
            runs[name] = Run(folder, train, test)
        else:
            print(f"[SKIP] {name}: no trained run in {folder}")
    results: dict = {"train_time_s": {n: r.train_time for n, r in runs.items()},
                     "test_recon_bce": {n: r.metrics["test_recon_bce"] for n, r in runs.items()}}
    vae = runs.get("vae2d")

    if "prior2d" in runs:
        run = runs["prior2d"]
        dims = run.config.prior.dims
        targets = class_means(run.config.prior).numpy()  # (10, len(dims))
        means = centroids(run.mu[:, dims], test_labels)
        distances = np.linalg.norm(means[:, None] - targets[None], axis=-1)  # (class, target)
        nearest_own = int((distances.argmin(1) == np.arange(NUM_CLASSES)).sum())
        own = np.diag(distances)
        report("prior2d: class mean nearest its own target", nearest_own >= PRIOR_MIN_CLASSES,
               f"{nearest_own}/10 classes (need >= {PRIOR_MIN_CLASSES}); distance to own target "
               f"mean {own.mean():.2f}, max {own.max():.2f}", results)

    if "clf2d" in runs:
        run = runs["clf2d"]
        accuracy = run.metrics["test_classifier_accuracy"]
        report("clf2d: head accuracy from the 2-D code", accuracy >= CLF2D_MIN_ACCURACY,
               f"{accuracy:.4f} (need >= {CLF2D_MIN_ACCURACY})", results)
        if vae:
            clf_d, vae_d = mean_centroid_distance(run.mu, test_labels), mean_centroid_distance(vae.mu, test_labels)
            report("clf2d: mean class-centroid distance larger than vae2d", clf_d > vae_d,
                   f"clf2d {clf_d:.2f} vs vae2d {vae_d:.2f}", results)

    if "cvae2d" in runs and vae:
        run = runs["cvae2d"]
        cvae_probe, vae_probe = probes(run, train_labels, test_labels), probes(vae, train_labels, test_labels)
        for kind in ("knn", "logistic"):
            drop = vae_probe[kind] - cvae_probe[kind]
            report(f"cvae2d: {kind} label probe well below vae2d", drop >= PROBE_MIN_DROP,
                   f"cvae2d {cvae_probe[kind]:.4f} vs vae2d {vae_probe[kind]:.4f} (drop {drop:.4f}, need >= "
                   f"{PROBE_MIN_DROP})", results)
        cvae_r, vae_r = run.metrics["test_recon_bce"], vae.metrics["test_recon_bce"]
        report("cvae2d: test reconstruction error below vae2d", cvae_r < vae_r,
               f"BCE per image cvae2d {cvae_r:.2f} vs vae2d {vae_r:.2f}; squared error "
               f"{run.metrics['test_recon_sq']:.2f} vs {vae.metrics['test_recon_sq']:.2f}", results)

    if "anchor2d" in runs:
        run = runs["anchor2d"]
        score = anchor_scores(run, test)
        dims = run.config.anchors.dims or list(range(run.config.model.latent_dim))
        r = [pearson_per_coordinate(score, run.mu)[d] for d in dims]
        # SPEC §4: μ + a·s(x) replaces μ in the KL, so μ is pulled towards −a·s(x): r must be negative.
        passed = all(v <= -ANCHOR_MIN_ABS_R for v in r)
        detail = f"Pearson r(s(x), μ_d) for anchored d={dims}: {', '.join(f'{v:+.3f}' for v in r)}"
        if vae:
            vae_r = pearson_per_coordinate(score, vae.mu)
            gain = min(abs(v) for v in r) - max(abs(v) for v in vae_r)
            passed = passed and gain >= ANCHOR_MIN_GAIN
            detail += f"; vae2d: {', '.join(f'{v:+.3f}' for v in vae_r)} (gain {gain:.3f}, need >= {ANCHOR_MIN_GAIN})"
            # For context, not the check: how well ANY direction of each code tracks s(x).
            detail += (f"; best-direction R: anchor2d {multiple_r(score, run.mu):.3f}, "
                       f"vae2d {multiple_r(score, vae.mu):.3f}")
        report("anchor2d: template score anti-correlated with the code", passed, detail, results)

    if "aeclf16" in runs:
        accuracy = runs["aeclf16"].metrics["test_classifier_accuracy"]
        report("aeclf16: classifier accuracy", accuracy >= AECLF16_MIN_ACCURACY,
               f"{accuracy:.4f} (need >= {AECLF16_MIN_ACCURACY})", results)

    for name, run in runs.items():
        print(f"  {name}: train {run.train_time:.0f} s, test recon BCE {run.metrics['test_recon_bce']:.2f}")
    (args.runs_root / "presets_results.json").write_text(json.dumps(results, indent=2) + "\n")
    failed = [k for k, v in results.items() if isinstance(v, dict) and v.get("passed") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
