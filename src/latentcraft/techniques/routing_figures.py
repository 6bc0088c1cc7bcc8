"""Routing's figures: the 0 -> 1 -> ... -> 9 morph along the routed coordinates (a GIF), and style transfer.

Drawn with the generic helpers of reporting/plots.py; imported only when
figures are drawn (matplotlib is slow to import).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentcraft.data.constants import IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.mnist import ImageSet
from latentcraft.model.vae import LatentModel
from latentcraft.reporting.plots import class_names, decode_images, first_of_each_class, image_grid_figure
from latentcraft.techniques.style.readouts import code_functions, digit_code_table, restyle, training_codes_slice

GIF_SHIFT = 1.5  # units moved from coordinate i to i+1 (experiments.md §1)
GIF_STEPS = 8  # frames per step i -> i+1
GIF_SCALE = 4  # GIF pixels per image pixel
GIF_FRAME_MS = 80  # milliseconds per GIF frame


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


def interpolation_gif(model: LatentModel, routes: list[list[int]], path: Path, shift: float = GIF_SHIFT,
                      steps: int = GIF_STEPS) -> Path:
    """The 0 -> 1 -> ... -> 9 morph along the routed coordinates (label -> coordinates), as a looping GIF."""
    codes, digits = interpolation_codes(routes, model.config.model.latent_dim, shift, steps)
    images = decode_images(model, codes, torch.tensor(digits))
    side = IMAGE_SIDE * GIF_SCALE
    frames = [Image.fromarray(np.uint8(255 * (1 - im))).resize((side, side), Image.Resampling.NEAREST) for im in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hold the first frame of each digit a little longer so the digits can be read.
    durations = [GIF_FRAME_MS * (4 if i % steps == 0 else 1) for i in range(len(frames))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


def plot_style_transfer(model: LatentModel, data: ImageSet, routed: list[int], path: Path) -> Path:
    """Rows: the first test image of each digit; columns: that image, then digits 0-9 in its style.

    Each tile is style.readouts.restyle: the row's code with its routed part set to the column digit's code.
    """
    index = torch.tensor(first_of_each_class(data))
    x = data.floats(index)
    encode, decode = code_functions(model)
    table = digit_code_table(encode, training_codes_slice(model, data), routed)  # (10, n_routed)
    columns = [x] + [restyle(encode, decode, x, routed, table[k], k) for k in range(NUM_CLASSES)]
    tiles = torch.stack(columns, 1).view(len(x), NUM_CLASSES + 1, IMAGE_SIDE, IMAGE_SIDE).numpy()
    return image_grid_figure(tiles, path, "style transfer: each row's style, each column's digit",
                             row_labels=[str(int(k)) for k in data.labels[index]],
                             col_labels=["input", *class_names(model)], ylabel="test image of digit")
