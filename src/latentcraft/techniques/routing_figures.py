"""Routing's figures: the 0 -> 1 -> ... -> 9 morph along the routed coordinates (a GIF), and style transfer.

Images have the run's shape: grey ones are drawn as dark ink on white (as
digits are), colour ones in their own colours. The style-transfer grid is
drawn with the generic image grid of reporting/plots.py; this module is
imported only when figures are drawn (matplotlib is slow to import).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentcraft.data.images import ImageSet
from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.model.vae import LatentModel
from latentcraft.reporting.plots import decode_images, image_grid_figure
from latentcraft.techniques.style.readouts import code_functions, digit_code_table, restyle, training_codes_slice

GIF_SHIFT = 1.5  # units moved from coordinate i to i+1 (experiments.md §1)
GIF_STEPS = 8  # frames per step i -> i+1
GIF_SCALE = 4  # GIF pixels per pixel of a 28 px image; other sizes get whole pixels to about the same side
GIF_FRAME_MS = 80  # milliseconds per GIF frame
FIGURE_CLASSES = 20  # the style-transfer grid shows at most the first 20 classes (rows and columns)


def interpolation_codes(routes: list[list[int]], latent_dim: int, shift: float = GIF_SHIFT,
                        steps: int = GIF_STEPS) -> tuple[torch.Tensor, list[int]]:
    """Codes moving `shift` units from digit i's coordinate to digit i+1's, 0 -> 1 -> ... -> 9 (experiments.md §1).

    Returns (frames, D) codes and, per frame, the digit nearest along the path
    (the label a conditional decoder is given).
    """
    coords = [r[0] for r in routes]
    frames, digits = [], []
    for i in range(len(coords) - 1):
        for t in torch.arange(steps) / steps:
            z = torch.zeros(latent_dim)
            z[coords[i]] = shift * (1 - t)
            z[coords[i + 1]] = shift * t
            frames.append(z)
            digits.append(i if t < 0.5 else i + 1)
    last = torch.zeros(latent_dim)
    last[coords[-1]] = shift
    frames.append(last)
    digits.append(len(coords) - 1)
    return torch.stack(frames), digits


def gif_frame(image: np.ndarray, shape: ImageShape) -> Image.Image:
    """One (H, W) or (H, W, 3) image in [0, 1] as an enlarged frame: grey inverted (ink dark), colour as is."""
    scale = max(1, round(GIF_SCALE * MNIST_SHAPE.height / max(shape.height, shape.width)))
    pixels = np.uint8(255 * (1 - image if shape.grey else image))
    return Image.fromarray(pixels, "L" if shape.grey else "RGB").resize(
        (shape.width * scale, shape.height * scale), Image.Resampling.NEAREST)


def interpolation_gif(model: LatentModel, routes: list[list[int]], path: Path, shift: float = GIF_SHIFT,
                      steps: int = GIF_STEPS) -> Path:
    """The 0 -> 1 -> ... -> 9 morph along the routed coordinates (label -> coordinates), as a looping GIF."""
    codes, digits = interpolation_codes(routes, model.config.model.latent_dim, shift, steps)
    images = decode_images(model, codes, torch.tensor(digits))  # (frames, H, W) or (frames, H, W, 3)
    frames = [gif_frame(image, model.shape) for image in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hold the first frame of each digit a little longer so the digits can be read.
    durations = [GIF_FRAME_MS * (4 if i % steps == 0 else 1) for i in range(len(frames))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


def style_transfer_tiles(model: LatentModel, data: ImageSet,
                         routed: list[int]) -> tuple[np.ndarray, list[str], list[str]]:
    """The style-transfer grid: (rows, 1 + classes, H, W[, 3]) tiles in [0, 1], row labels, column labels.

    Rows: the first test image of each class; columns: that image, then every class in its style (each
    tile is style.readouts.restyle). At most FIGURE_CLASSES classes, the first ones.
    """
    names = list(model.shape.class_names[:FIGURE_CLASSES])
    firsts = [(data.labels == k).nonzero().flatten() for k in range(len(names))]
    index = torch.stack([found[0] for found in firsts if len(found)])
    x = data.floats(index)
    encode, decode = code_functions(model)
    table = digit_code_table(encode, training_codes_slice(model, data), routed)  # (classes, n_routed)
    columns = [x] + [restyle(encode, decode, x, routed, table[k], k) for k in range(len(names))]
    flat = torch.stack(columns, 1).reshape(-1, model.shape.features)  # (rows · columns, C·H·W)
    tiles = model.shape.images(flat).numpy()
    tiles = tiles.reshape(len(x), len(columns), *tiles.shape[1:])
    return tiles, [names[int(k)] for k in data.labels[index]], ["input", *names]


def plot_style_transfer(model: LatentModel, data: ImageSet, routed: list[int], path: Path) -> Path:
    """Rows: the first test image of each class; columns: that image, then each class in its style."""
    tiles, rows, columns = style_transfer_tiles(model, data, routed)
    return image_grid_figure(tiles, path, "style transfer: each row's style, each column's class",
                             row_labels=rows, col_labels=columns, ylabel="test image of class")
