"""Charts of numbers rather than images: the DCI importance matrix of an evaluated run, and a sweep
metric's spread over seeds. The report draws them; plots.py draws a model's image figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from latentcraft.reporting.plots import PLOT_SIZE, save_figure

# ---- DCI importance matrix ------------------------------------------------------------------------------


def plot_dci_importance(importance: list[list[float]], path: Path, title: str = "") -> Path:
    """Heat map of the DCI importance matrix R (codes × one-vs-rest class factors, Eastwood & Williams 2018).

    A disentangled, complete code shows one bright cell per row and per column.
    """
    R = np.asarray(importance, dtype=float)  # (codes, factors)
    fig, ax = plt.subplots(figsize=PLOT_SIZE)
    fig.subplots_adjust(left=0.12, right=0.88, top=0.9, bottom=0.1)
    shown = ax.imshow(R, cmap="viridis", aspect="auto", vmin=0)
    fig.colorbar(shown, ax=ax, fraction=0.05, label="importance")
    # At most ~30 labels an axis: a 100-class run labels every 4th factor, a wide latent every k-th code.
    ax.set_xticks(range(0, R.shape[1], math.ceil(R.shape[1] / 30)))
    rows = range(0, R.shape[0], math.ceil(R.shape[0] / 30))
    ax.set_yticks(rows, [f"z{i}" for i in rows], fontsize=7)
    ax.set_xlabel("factor (class k vs rest)")
    ax.set_ylabel("code")
    ax.set_title(f"DCI importance matrix {title}".strip(), fontsize=9)
    return save_figure(fig, path)


# ---- sweeps: one metric's spread over seeds --------------------------------------------------------------

SPREAD_DPI = 120  # spread figures are small charts, not image grids: a little sharper than DPI


def plot_spread(summary: dict, metric: str, path: Path) -> Path:
    """Box plot per sweep setting with every seed's value as a jittered point on top (strip plot).

    summary: a sweep's sweep_summary.json; metric: one of its recorded names, e.g. "test_recon_bce".
    """
    settings = summary["settings"]
    values = [[r["final"][metric] for r in s["runs"] if r["status"] == "done" and metric in r["final"]]
              for s in settings]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(settings) + 1.5), 3.6))
    positions = list(range(1, len(settings) + 1))
    ax.boxplot([v if v else [np.nan] for v in values], positions=positions, widths=0.5, showfliers=False)
    jitter = np.random.default_rng(0)  # fixed: the figure is reproducible
    for pos, vals in zip(positions, values):
        ax.scatter(pos + jitter.uniform(-0.12, 0.12, len(vals)), vals, s=18, alpha=0.8, zorder=3)
    crowded = len(settings) > 3
    ax.set_xticks(positions, [s["label"] for s in settings], rotation=30 if crowded else 0,
                  ha="right" if crowded else "center", fontsize=8)
    ax.set_ylabel(metric.removeprefix("test_"))
    ax.set_title(f"{summary['name']}: spread over {len(summary['seeds'])} seeds", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=SPREAD_DPI)
    plt.close(fig)
    return path
