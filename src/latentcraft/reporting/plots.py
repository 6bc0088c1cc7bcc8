"""Figures of a trained model: reconstructions, traversals, unit-vector decodes,
2-D scatter / decoded grid, and the figures techniques draw with the helpers
here (decision regions of a head, the routed interpolation GIF).

Every figure decodes from μ (never a sample). Image figures have a fixed size
per grid shape (`grid_figure_size`), so their pixel size is known in advance;
the matplotlib backend is Agg, so nothing needs a display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from latentcraft.data.constants import CLASS_NAMES, IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.mnist import ImageSet
from latentcraft.evaluation.metrics import encode_split
from latentcraft.evaluation.readouts import central_range, decision_regions
from latentcraft.model.vae import LatentModel

DPI = 100  # figure inches -> pixels
TILE_INCHES = 0.6  # one decoded 28x28 image in a grid figure (60 px at DPI)
TILE_GAP = 2  # pixels between tiles in a mosaic
GAP_INK = 0.15  # ink level of the gap: drawn light grey once the mosaic is inverted
MARGIN_INCHES = (0.9, 0.2, 0.5, 0.6)  # left, right, top, bottom: room for row/column labels and a title
PLOT_SIZE = (7.0, 6.0)  # inches of scatter and decision-region figures
TRAVERSAL_STEPS = 10  # values per traversal row (experiments.md §2)
GRID_STEPS_2D = 15  # decoded images per side of the 2-D latent grid
SCATTER_POINTS = 5000  # at most this many test means drawn (more only hides the colours)
CLASS_COLOURS: Any = plt.get_cmap("tab10").colors[:NUM_CLASSES]  # type: ignore[attr-defined]  # tab10 is listed


@dataclass
class PlotOptions:
    images: tuple[int, int] = (0, 1)  # test images for the traversal grids (the first also for the row)
    coordinate: int = 0  # latent coordinate of the single traversal row
    low: float = -3.0  # traversal range, low end
    high: float = 3.0  # traversal range, high end
    unit_value: float = 2.0  # scale of e_k in the unit-vector decodes
    grid_range: tuple[float, float] | None = (-3.0, 3.0)  # 2-D decoded grid range; None = the data's 1-99% range
    label: int = 0  # label fed to a conditional decoder where no image supplies one


# ---- decoding helpers ---------------------------------------------------------------------------


def needs_label(model: LatentModel) -> bool:
    """True when the decoder takes a label next to z (a conditional decoder)."""
    return any(t.decoder_extra_features > 0 for t in model.hooks())


@torch.no_grad()
def decode_images(model: LatentModel, codes: torch.Tensor, labels: torch.Tensor | int | None = None) -> np.ndarray:
    """μ-space codes (B, D) -> images (B, 28, 28) in [0, 1]; labels feed conditional decoders."""
    model.eval()
    y = None
    if needs_label(model):
        if labels is None:
            raise ValueError("this model's decoder takes a class label beside the code: pass one to decode with")
        y = torch.full((codes.shape[0],), labels, dtype=torch.long) if isinstance(labels, int) else labels.long()
    logits = model.decode(model.latent_activation(codes.float()), y)
    return torch.sigmoid(logits).view(-1, IMAGE_SIDE, IMAGE_SIDE).numpy()


def _encode(model: LatentModel, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        model.eval()
        return model.encode(x)[0]


def _check_image(data: ImageSet, index: int) -> None:
    if not 0 <= index < len(data):
        raise ValueError(f"image index {index} is outside the test set (0..{len(data) - 1})")


def _check_coordinate(model: LatentModel, coordinate: int) -> None:
    d = model.config.model.latent_dim
    if not 0 <= coordinate < d:
        raise ValueError(f"coordinate {coordinate} is outside the latent (0..{d - 1})")


# ---- image grids -----------------------------------------------------------------------------------


def grid_figure_size(rows: int, cols: int) -> tuple[float, float]:
    """Inches of an image-grid figure with rows × cols tiles (pixels = inches × DPI)."""
    left, right, top, bottom = MARGIN_INCHES
    return cols * TILE_INCHES + left + right, rows * TILE_INCHES + top + bottom


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """(rows, cols, 28, 28) images -> one (H, W) array with TILE_GAP pixels of GAP_INK between tiles."""
    rows, cols = tiles.shape[:2]
    step = IMAGE_SIDE + TILE_GAP
    out = np.full((rows * step - TILE_GAP, cols * step - TILE_GAP), GAP_INK)
    for r in range(rows):
        for c in range(cols):
            out[r * step:r * step + IMAGE_SIDE, c * step:c * step + IMAGE_SIDE] = tiles[r, c]
    return out


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)  # no bbox_inches="tight": the pixel size stays the figure size
    plt.close(fig)
    return path


def image_grid_figure(
    tiles: np.ndarray, path: Path, title: str, row_labels: list[str] | None = None,
    col_labels: list[str] | None = None, xlabel: str = "", ylabel: str = "",
) -> Path:
    """Draw (rows, cols, 28, 28) images as dark-on-light tiles with labelled rows and columns."""
    rows, cols = tiles.shape[:2]
    width, height = grid_figure_size(rows, cols)
    left, right, top, bottom = MARGIN_INCHES
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((left / width, bottom / height, cols * TILE_INCHES / width, rows * TILE_INCHES / height))
    # Inverted grey: ink is dark on white, as digits are usually shown on paper.
    ax.imshow(1.0 - mosaic(tiles), cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    step = IMAGE_SIDE + TILE_GAP
    centres = lambda n: [i * step + IMAGE_SIDE / 2 for i in range(n)]  # noqa: E731
    ax.set_xticks(centres(cols), col_labels or [""] * cols, fontsize=7)
    ax.set_yticks(centres(rows), row_labels or [""] * rows, fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title, fontsize=9, y=1 - 0.1 / height, va="top")
    return _save(fig, path)


def first_of_each_class(data: ImageSet) -> list[int]:
    return [int((data.labels == k).nonzero()[0]) for k in range(NUM_CLASSES) if (data.labels == k).any()]


def plot_reconstructions(model: LatentModel, data: ImageSet, path: Path) -> Path:
    """Top row: the first test image of each class; bottom row: its reconstruction from μ."""
    index = first_of_each_class(data)
    x, y = data.floats(torch.tensor(index)), data.labels[index]
    recon = decode_images(model, _encode(model, x), y)
    tiles = np.stack([x.view(-1, IMAGE_SIDE, IMAGE_SIDE).numpy(), recon])  # (2, n, 28, 28)
    return image_grid_figure(tiles, path, "reconstructions (from μ)", row_labels=["input", "recon."],
                             col_labels=[str(int(k)) for k in y])


def traversal_values(low: float, high: float, steps: int = TRAVERSAL_STEPS) -> torch.Tensor:
    return torch.linspace(low, high, steps)


def traversal_tiles(model: LatentModel, data: ImageSet, image: int, coordinates: list[int],
                    values: torch.Tensor) -> np.ndarray:
    """Encode one image, set each coordinate to each value, decode.  # (len(coordinates), len(values), 28, 28)"""
    _check_image(data, image)
    mu = _encode(model, data.floats(slice(image, image + 1)))  # (1, D)
    codes = mu.repeat(len(coordinates) * len(values), 1)  # (R*V, D)
    rows = torch.tensor(coordinates).repeat_interleave(len(values))
    codes[torch.arange(len(codes)), rows] = values.repeat(len(coordinates))
    label = int(data.labels[image])
    images = decode_images(model, codes, label)
    return images.reshape(len(coordinates), len(values), IMAGE_SIDE, IMAGE_SIDE)


def plot_traversal_row(model: LatentModel, data: ImageSet, path: Path, coordinate: int, image: int,
                       low: float = -3.0, high: float = 3.0) -> Path:
    _check_coordinate(model, coordinate)
    values = traversal_values(low, high)
    tiles = traversal_tiles(model, data, image, [coordinate], values)
    title = f"traversal of z{coordinate}, test image {image} (digit {int(data.labels[image])})"
    return image_grid_figure(tiles, path, title,
                             row_labels=[f"z{coordinate}"], col_labels=[f"{v:.2g}" for v in values.tolist()])


def plot_traversal_grid(model: LatentModel, data: ImageSet, path: Path, image: int,
                        low: float = -3.0, high: float = 3.0) -> Path:
    """All latent rows × TRAVERSAL_STEPS values for one image (experiments.md §2)."""
    values = traversal_values(low, high)
    coords = list(range(model.config.model.latent_dim))
    tiles = traversal_tiles(model, data, image, coords, values)
    return image_grid_figure(tiles, path, f"traversals, test image {image} (digit {int(data.labels[image])})",
                             row_labels=[f"z{c}" for c in coords], col_labels=[f"{v:.2g}" for v in values.tolist()],
                             xlabel="value set on the coordinate")


def plot_unit_vectors(model: LatentModel, path: Path, value: float = 2.0, label: int = 0) -> Path:
    """Decode value·e_k for each coordinate k; for a routed model e_k should decode to digit k (experiments.md §1)."""
    d = model.config.model.latent_dim
    tiles = decode_images(model, value * torch.eye(d), label)[None]  # (1, D, 28, 28)
    return image_grid_figure(tiles, path, f"unit-vector decodes ({value:g}·e_k)", row_labels=[""],
                             col_labels=[f"e{k}" for k in range(d)])


# ---- 2-D latents -------------------------------------------------------------------------------------------


def class_names(model: LatentModel) -> list[str]:
    return CLASS_NAMES.get(model.config.data.dataset, [str(k) for k in range(NUM_CLASSES)])


def _require_2d(model: LatentModel, what: str) -> None:
    if model.config.model.latent_dim != 2:
        raise ValueError(f"{what} needs a 2-D latent; this model has {model.config.model.latent_dim}")


def _sample_points(n: int) -> np.ndarray:
    return np.random.default_rng(0).permutation(n)[:SCATTER_POINTS]


def _legend(ax: plt.Axes, names: list[str]) -> None:
    handles = [Patch(color=CLASS_COLOURS[k], label=names[k]) for k in range(NUM_CLASSES)]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def plot_scatter(model: LatentModel, data: ImageSet, path: Path) -> Path:
    """Every test image's μ as a point coloured by its label (experiments.md §3)."""
    _require_2d(model, "the latent scatter")
    mu = encode_split(model, data)[0].numpy()
    labels = data.labels.numpy()
    keep = _sample_points(len(mu))
    fig, ax = plt.subplots(figsize=PLOT_SIZE)
    fig.subplots_adjust(left=0.1, right=0.8, top=0.92, bottom=0.1)
    ax.scatter(mu[keep, 0], mu[keep, 1], c=[CLASS_COLOURS[k] for k in labels[keep]], s=3, alpha=0.7, linewidths=0)
    _legend(ax, class_names(model))
    ax.set_xlabel("μ₁")
    ax.set_ylabel("μ₂")
    ax.set_title(f"test means ({len(keep)} of {len(mu)}), coloured by label", fontsize=9)
    return _save(fig, path)


def data_range(model: LatentModel, data: ImageSet) -> tuple[float, float]:
    """A square range holding the central 98% of the test means on both axes."""
    low, high = central_range(encode_split(model, data)[0].numpy())
    return float(low), float(high)


def plot_latent_grid(model: LatentModel, path: Path, low: float = -3.0, high: float = 3.0, label: int = 0) -> Path:
    """Decode a regular GRID_STEPS_2D² grid over [low, high]² (experiments.md §4); top row is the highest z₂."""
    _require_2d(model, "the decoded latent grid")
    values = torch.linspace(low, high, GRID_STEPS_2D)
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")  # rows run from high z₂ down
    codes = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)  # (S², 2)
    tiles = decode_images(model, codes, label).reshape(GRID_STEPS_2D, GRID_STEPS_2D, IMAGE_SIDE, IMAGE_SIDE)
    ticks = [f"{v:.2g}" for v in values.tolist()]
    title = f"decoded grid over [{low:.2g}, {high:.2g}]²" + (f", label {label}" if needs_label(model) else "")
    return image_grid_figure(tiles, path, title, row_labels=ticks[::-1], col_labels=ticks, xlabel="z₁", ylabel="z₂")


def plot_decision_regions(model: LatentModel, data: ImageSet, path: Path,
                          scores: Callable[[torch.Tensor], torch.Tensor], title: str) -> Path:
    """The argmax of `scores` (class scores from μ, e.g. a classifier head) over the plane, test means on top
    (experiments.md §3)."""
    _require_2d(model, "decision regions")
    mu = encode_split(model, data)[0].numpy()
    labels = data.labels.numpy()
    low, high = np.percentile(mu, [0.5, 99.5], axis=0)  # (2,) each
    pad = 0.1 * (high - low)
    (x0, y0), (x1, y1) = low - pad, high + pad
    regions = decision_regions(scores, [x0, x1, y0, y1])  # row 0 = top
    fig, ax = plt.subplots(figsize=PLOT_SIZE)
    fig.subplots_adjust(left=0.1, right=0.8, top=0.92, bottom=0.1)
    ax.imshow(regions, origin="upper", extent=(x0, x1, y0, y1), cmap=ListedColormap(CLASS_COLOURS),
              vmin=-0.5, vmax=NUM_CLASSES - 0.5, alpha=0.35, aspect="auto", interpolation="nearest")
    keep = _sample_points(len(mu))
    ax.scatter(mu[keep, 0], mu[keep, 1], c=[CLASS_COLOURS[k] for k in labels[keep]], s=3, linewidths=0.2,
               edgecolors="k")
    _legend(ax, class_names(model))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("μ₁")
    ax.set_ylabel("μ₂")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


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
    ax.set_xticks(range(R.shape[1]))
    ax.set_yticks(range(R.shape[0]), [f"z{i}" for i in range(R.shape[0])], fontsize=7)
    ax.set_xlabel("factor (class k vs rest)")
    ax.set_ylabel("code")
    ax.set_title(f"DCI importance matrix {title}".strip(), fontsize=9)
    return _save(fig, path)


# ---- everything for one run -----------------------------------------------------------------------------


def make_figures(model: LatentModel, data: ImageSet, out_dir: Path, options: PlotOptions | None = None) -> list[Path]:
    """Every figure that applies to this model, written into out_dir; returns their paths."""
    o = options or PlotOptions()
    out_dir = Path(out_dir)
    a, b = o.images
    _check_image(data, a)
    _check_image(data, b)
    _check_coordinate(model, o.coordinate)
    written = [
        plot_reconstructions(model, data, out_dir / "reconstructions.png"),
        plot_traversal_row(model, data, out_dir / f"traversal_z{o.coordinate}_img{a}.png", o.coordinate, a,
                           o.low, o.high),
        plot_traversal_grid(model, data, out_dir / f"traversal_grid_img{a}.png", a, o.low, o.high),
        plot_traversal_grid(model, data, out_dir / f"traversal_grid_img{b}.png", b, o.low, o.high),
        plot_unit_vectors(model, out_dir / "unit_vectors.png", o.unit_value, o.label),
    ]
    if model.config.model.latent_dim == 2:
        low, high = o.grid_range if o.grid_range is not None else data_range(model, data)
        written.append(plot_scatter(model, data, out_dir / "scatter.png"))
        written.append(plot_latent_grid(model, out_dir / "latent_grid.png", low, high, o.label))
    for technique in model.hooks():  # e.g. a head's decision regions, routing's interpolation GIF
        written += technique.figures(model, data, out_dir)
    return written


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
