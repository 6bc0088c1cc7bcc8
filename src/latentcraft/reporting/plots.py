"""Figures of a trained model: reconstructions, traversals, unit-vector decodes,
2-D scatter / decoded grid, and the figures techniques draw with the helpers
here (decision regions of a head, the routed interpolation GIF).

Every figure decodes from μ (never a sample) and shows the run's own images
(`model.shape`): any size, grey ones dark on light as digits are printed,
colour ones in colour, classes by the run's names. Image figures have a fixed
size per grid shape and image size (`grid_figure_size`, `tile_inches`), so
their pixel size is known in advance; wide grids are capped or wrapped
(MAX_COLUMNS, MAX_ROWS) so that a 100-class run still gives a legible figure.
The matplotlib backend is Agg, so nothing needs a display.
"""

from __future__ import annotations

import math
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

from latentcraft.data.images import ImageSet
from latentcraft.data.shape import ImageShape
from latentcraft.evaluation.metrics import encode_split
from latentcraft.evaluation.readouts import central_range, decision_regions
from latentcraft.model.vae import LatentModel

DPI = 100  # figure inches -> pixels
TILE_INCHES = 0.6  # the long side of one decoded image in a grid figure (60 px at DPI), unless it has more pixels
TILE_GAP = 2  # pixels between tiles in a mosaic
GAP_INK = 0.15  # ink level of the gap: drawn light grey once a grey mosaic is inverted (colour: 1 - GAP_INK)
MARGIN_INCHES = (0.9, 0.2, 0.5, 0.6)  # left, right, top, bottom: room for row/column labels and a title
PLOT_SIZE = (7.0, 6.0)  # inches of scatter and decision-region figures (widened for a many-column legend)
TRAVERSAL_STEPS = 10  # values per traversal row (experiments.md §2)
GRID_STEPS_2D = 15  # decoded images per side of the 2-D latent grid
SCATTER_POINTS = 5000  # at most this many test means drawn (more only hides the colours)
MAX_COLUMNS = 20  # classes shown in a reconstruction figure; unit vectors wrap to new rows after this many
MAX_ROWS = 32  # latent coordinates in a traversal grid (a wider latent shows its first ones)
MAX_UNIT_VECTORS = 100  # unit vectors decoded in one figure
LABEL_CHARS = 9  # class names longer than this are shortened under a tile
LEGEND_ROWS = 34  # class names per legend column beyond 20 classes (set at LEGEND_SMALL_FONT)
LEGEND_COLUMN_INCHES = 1.2  # width each further legend column adds to the figure
LEGEND_SMALL_FONT = 6


def class_colours(classes: int) -> list[Any]:
    """One distinct colour per class: tab10, then tab20, then evenly spaced along turbo (up to 100 classes)."""
    if classes <= 20:
        return list(plt.get_cmap("tab10" if classes <= 10 else "tab20").colors[:classes])  # type: ignore[attr-defined]
    return [tuple(c) for c in plt.get_cmap("turbo")(np.linspace(0.03, 0.97, classes))]


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
    """μ-space codes (B, D) -> images (B, H, W) grey or (B, H, W, 3) colour in [0, 1]; labels feed conditional
    decoders."""
    model.eval()
    y = None
    if needs_label(model):
        if labels is None:
            raise ValueError("this model's decoder takes a class label beside the code: pass one to decode with")
        y = torch.full((codes.shape[0],), labels, dtype=torch.long) if isinstance(labels, int) else labels.long()
    logits = model.decode(model.latent_activation(codes.float()), y)
    return as_images(model.shape, torch.sigmoid(logits))


def as_images(shape: ImageShape, flat: torch.Tensor) -> np.ndarray:
    """Flattened (B, C·H·W) values -> displayable (B, H, W) or (B, H, W, 3) numpy images."""
    return np.ascontiguousarray(shape.images(flat.float().cpu()).numpy())


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


def class_names(model: LatentModel) -> list[str]:
    """The run's class names, index = label."""
    return list(model.shape.class_names)


def short_name(name: str, chars: int = LABEL_CHARS) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "…"


# ---- image grids -----------------------------------------------------------------------------------


def tile_inches(height: int, width: int) -> tuple[float, float]:
    """(width, height) inches of one image in a grid: TILE_INCHES on its long side, or one screen pixel per image
    pixel when it has more, the short side in proportion."""
    long_side = max(TILE_INCHES, max(height, width) / DPI)
    scale = long_side / max(height, width)
    return width * scale, height * scale


def grid_figure_size(rows: int, cols: int,
                     tile: tuple[float, float] = (TILE_INCHES, TILE_INCHES)) -> tuple[float, float]:
    """Inches of an image-grid figure with rows × cols tiles of `tile` (width, height) inches (pixels = × DPI)."""
    left, right, top, bottom = MARGIN_INCHES
    return cols * tile[0] + left + right, rows * tile[1] + top + bottom


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """(rows, cols, H, W) or (rows, cols, H, W, 3) images -> one (H', W') or (H', W', 3) array with TILE_GAP
    pixels of gap between tiles (GAP_INK of ink on grey; its light-grey equivalent on colour)."""
    rows, cols, height, width = tiles.shape[:4]
    gap = GAP_INK if tiles.ndim == 4 else 1.0 - GAP_INK
    out = np.full((rows * (height + TILE_GAP) - TILE_GAP, cols * (width + TILE_GAP) - TILE_GAP, *tiles.shape[4:]), gap)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + TILE_GAP), c * (width + TILE_GAP)
            out[top:top + height, left:left + width] = tiles[r, c]
    return out


def save_figure(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)  # no bbox_inches="tight": the pixel size stays the figure size
    plt.close(fig)
    return path


def image_grid_figure(
    tiles: np.ndarray, path: Path, title: str, row_labels: list[str] | None = None,
    col_labels: list[str] | None = None, xlabel: str = "", ylabel: str = "",
) -> Path:
    """Draw (rows, cols, H, W) grey or (rows, cols, H, W, 3) colour images as a labelled grid: grey ink dark on
    light, colour as it is."""
    rows, cols, height, width = tiles.shape[:4]
    tile = tile_inches(height, width)
    fig_width, fig_height = grid_figure_size(rows, cols, tile)
    left, right, top, bottom = MARGIN_INCHES
    fig = plt.figure(figsize=(fig_width, fig_height))
    ax = fig.add_axes((left / fig_width, bottom / fig_height, cols * tile[0] / fig_width, rows * tile[1] / fig_height))
    picture = mosaic(tiles)
    if tiles.ndim == 4:  # inverted grey: ink is dark on white, as digits are usually shown on paper
        ax.imshow(1.0 - picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    else:
        ax.imshow(np.clip(picture, 0, 1), interpolation="nearest", aspect="auto")
    ax.set_xticks([c * (width + TILE_GAP) + width / 2 for c in range(cols)], col_labels or [""] * cols, fontsize=7)
    ax.set_yticks([r * (height + TILE_GAP) + height / 2 for r in range(rows)], row_labels or [""] * rows, fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    fig.suptitle(title, fontsize=9, y=1 - 0.1 / fig_height, va="top")
    return save_figure(fig, path)


def first_of_each_class(data: ImageSet) -> list[int]:
    """The index of the first image of each class present, in class order."""
    return [int((data.labels == k).nonzero()[0]) for k in range(data.shape.classes) if (data.labels == k).any()]


def _shown_classes(total: int, shown: int) -> str:
    return f" (first {shown} of {total} classes)" if shown < total else ""


def plot_reconstructions(model: LatentModel, data: ImageSet, path: Path) -> Path:
    """Top row: the first test image of each class (up to MAX_COLUMNS); bottom row: its reconstruction from μ."""
    index = first_of_each_class(data)
    shown = index[:MAX_COLUMNS]
    x, y = data.floats(torch.tensor(shown)), data.labels[shown]
    recon = decode_images(model, _encode(model, x), y)
    tiles = np.stack([as_images(model.shape, x), recon])  # (2, n, H, W[, 3])
    names = class_names(model)
    return image_grid_figure(tiles, path, "reconstructions (from μ)" + _shown_classes(len(index), len(shown)),
                             row_labels=["input", "recon."], col_labels=[short_name(names[int(k)]) for k in y])


def traversal_values(low: float, high: float, steps: int = TRAVERSAL_STEPS) -> torch.Tensor:
    return torch.linspace(low, high, steps)


def traversal_tiles(model: LatentModel, data: ImageSet, image: int, coordinates: list[int],
                    values: torch.Tensor) -> np.ndarray:
    """Encode one image, set each coordinate to each value, decode.  # (len(coordinates), len(values), H, W[, 3])"""
    _check_image(data, image)
    mu = _encode(model, data.floats(slice(image, image + 1)))  # (1, D)
    codes = mu.repeat(len(coordinates) * len(values), 1)  # (R*V, D)
    rows = torch.tensor(coordinates).repeat_interleave(len(values))
    codes[torch.arange(len(codes)), rows] = values.repeat(len(coordinates))
    label = int(data.labels[image])
    images = decode_images(model, codes, label)
    return images.reshape(len(coordinates), len(values), *images.shape[1:])


def _image_title(model: LatentModel, data: ImageSet, image: int) -> str:
    return f"test image {image} ({class_names(model)[int(data.labels[image])]})"


def plot_traversal_row(model: LatentModel, data: ImageSet, path: Path, coordinate: int, image: int,
                       low: float = -3.0, high: float = 3.0) -> Path:
    _check_coordinate(model, coordinate)
    values = traversal_values(low, high)
    tiles = traversal_tiles(model, data, image, [coordinate], values)
    return image_grid_figure(tiles, path, f"traversal of z{coordinate}, {_image_title(model, data, image)}",
                             row_labels=[f"z{coordinate}"], col_labels=[f"{v:.2g}" for v in values.tolist()])


def plot_traversal_grid(model: LatentModel, data: ImageSet, path: Path, image: int,
                        low: float = -3.0, high: float = 3.0) -> Path:
    """The first MAX_ROWS latent coordinates × TRAVERSAL_STEPS values for one image (experiments.md §2)."""
    values = traversal_values(low, high)
    latent = model.config.model.latent_dim
    coords = list(range(min(latent, MAX_ROWS)))
    tiles = traversal_tiles(model, data, image, coords, values)
    capped = f" (first {len(coords)} of {latent} coordinates)" if len(coords) < latent else ""
    return image_grid_figure(tiles, path, f"traversals, {_image_title(model, data, image)}{capped}",
                             row_labels=[f"z{c}" for c in coords], col_labels=[f"{v:.2g}" for v in values.tolist()],
                             xlabel="value set on the coordinate")


def plot_unit_vectors(model: LatentModel, path: Path, value: float = 2.0, label: int = 0) -> Path:
    """Decode value·e_k for each coordinate k (up to MAX_UNIT_VECTORS), MAX_COLUMNS a row; for a routed model e_k
    should decode to class k (experiments.md §1)."""
    latent = model.config.model.latent_dim
    count = min(latent, MAX_UNIT_VECTORS)
    images = decode_images(model, value * torch.eye(count, latent), label)  # (K, H, W[, 3])
    cols = min(count, MAX_COLUMNS)
    rows = math.ceil(count / cols)
    blank = np.full((rows * cols - count, *images.shape[1:]), GAP_INK if images.ndim == 3 else 1.0 - GAP_INK)
    tiles = np.concatenate([images, blank]).reshape(rows, cols, *images.shape[1:])
    title = f"unit-vector decodes ({value:g}·e_k)" + (f", first {count} of {latent}" if count < latent else "")
    if rows == 1:
        return image_grid_figure(tiles, path, title, row_labels=[""], col_labels=[f"e{k}" for k in range(count)])
    return image_grid_figure(tiles, path, title, row_labels=[f"e{r * cols}+" for r in range(rows)],
                             col_labels=[f"+{c}" for c in range(cols)])


# ---- 2-D latents -------------------------------------------------------------------------------------------


def _require_2d(model: LatentModel, what: str) -> None:
    if model.config.model.latent_dim != 2:
        raise ValueError(f"{what} needs a 2-D latent; this model has {model.config.model.latent_dim}")


def _sample_points(n: int) -> np.ndarray:
    return np.random.default_rng(0).permutation(n)[:SCATTER_POINTS]


def _class_figure(classes: int) -> tuple[plt.Figure, plt.Axes]:
    """A PLOT_SIZE figure whose axes leave room on the right for a legend of `classes` names (in columns)."""
    columns = 1 if classes <= 20 else math.ceil(classes / LEGEND_ROWS)
    width = PLOT_SIZE[0] + LEGEND_COLUMN_INCHES * (columns - 1)
    fig, ax = plt.subplots(figsize=(width, PLOT_SIZE[1]))
    fig.subplots_adjust(left=0.7 / width, right=0.8 * PLOT_SIZE[0] / width, top=0.92, bottom=0.1)
    return fig, ax


def _legend(ax: plt.Axes, names: list[str]) -> None:
    colours = class_colours(len(names))
    handles = [Patch(color=colours[k], label=short_name(name, 16)) for k, name in enumerate(names)]
    many = len(names) > 20
    ax.legend(handles=handles, fontsize=LEGEND_SMALL_FONT if many else 7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, ncol=math.ceil(len(names) / LEGEND_ROWS) if many else 1,
              handlelength=1.0, columnspacing=0.8)


def plot_scatter(model: LatentModel, data: ImageSet, path: Path) -> Path:
    """Every test image's μ as a point coloured by its label (experiments.md §3)."""
    _require_2d(model, "the latent scatter")
    mu = encode_split(model, data)[0].numpy()
    labels = data.labels.numpy()
    keep = _sample_points(len(mu))
    names = class_names(model)
    colours = class_colours(len(names))
    fig, ax = _class_figure(len(names))
    ax.scatter(mu[keep, 0], mu[keep, 1], c=[colours[k] for k in labels[keep]], s=3, alpha=0.7, linewidths=0)
    _legend(ax, names)
    ax.set_xlabel("μ₁")
    ax.set_ylabel("μ₂")
    ax.set_title(f"test means ({len(keep)} of {len(mu)}), coloured by label", fontsize=9)
    return save_figure(fig, path)


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
    images = decode_images(model, codes, label)
    tiles = images.reshape(GRID_STEPS_2D, GRID_STEPS_2D, *images.shape[1:])
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
    names = class_names(model)
    colours = class_colours(len(names))
    fig, ax = _class_figure(len(names))
    ax.imshow(regions, origin="upper", extent=(x0, x1, y0, y1), cmap=ListedColormap(colours),
              vmin=-0.5, vmax=len(names) - 0.5, alpha=0.35, aspect="auto", interpolation="nearest")
    keep = _sample_points(len(mu))
    ax.scatter(mu[keep, 0], mu[keep, 1], c=[colours[k] for k in labels[keep]], s=3, linewidths=0.2,
               edgecolors="k")
    _legend(ax, names)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("μ₁")
    ax.set_ylabel("μ₂")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


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
