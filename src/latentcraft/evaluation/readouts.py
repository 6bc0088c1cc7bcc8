"""Reading codes back as ranges and pictures: shared by figures (plots.py) and the explorer (site_bundle.py).

    central_range(values)        the 1st-99th percentile range of codes (sliders, plot ranges, export checks)
    decision_regions(scores, …)  argmax of a class-score function on a grid over a 2-D plane
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

CENTRAL_PERCENTILES = (1.0, 99.0)  # "the data's range": these percentiles, so a few outliers do not stretch it
REGION_RESOLUTION = 256  # cells per side of a decision-region raster (figures and the explorer's plane)


def central_range(values: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the CENTRAL_PERCENTILES of `values`, over all of them or along `axis`."""
    low, high = np.percentile(values, CENTRAL_PERCENTILES, axis=axis)
    return low, high


@torch.no_grad()
def decision_regions(scores: Callable[[torch.Tensor], torch.Tensor], extent: list[float],
                     resolution: int = REGION_RESOLUTION) -> np.ndarray:
    """argmax of `scores` at the cell centres of a resolution² grid over extent [x0, x1, y0, y1].  # (R, R) uint8

    Row 0 is the top of the plane (largest y), as images are stored.
    """
    x0, x1, y0, y1 = extent
    cells = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    xs = x0 + cells * (x1 - x0)
    ys = y1 - cells * (y1 - y0)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2)  # (R*R, 2) as (x, y)
    return scores(grid).argmax(1).to(torch.uint8).reshape(resolution, resolution).numpy()
