"""Name a model's style coordinates by what they do to the decoded digit, as far as pixel moments can tell.

For each style coordinate, every measured code is decoded twice, with that
coordinate moved to TRAVERSAL_SPAN standard deviations below and above its
median over the codes (the other coordinates keep their values), and four
properties of the two images are compared (`image_properties`, from the
intensity-weighted first and second moments):

    slant          horizontal shift per row going up (shear); > 0 leans right
    width          horizontal spread with the slant removed (std of x given y)
    height         vertical spread (std of y)
    stroke weight  total ink (sum of intensities)

A property's effect is its mean change between the two ends, in units of how
much it varies among the model's own renderings of the same digit (the pooled
within-digit standard deviation), so "one unit" means as much as the writings
of one digit differ. A property that hardly varies (MNIST's digits are all
scaled to the same height) would make any flicker look large, so the unit is
at least NOTICEABLE: a slant of 0.05 (1 px over 20 rows), 5% of a size or of the ink.
The rule that turns effects into a label:

    the largest |effect| below MIN_EFFECT           -> "little effect"
    the largest not DOMINANCE times the second one  -> "mixed (first, second)"
    otherwise                                       -> the property and its direction, e.g. "slant →", "wider"

Only what moments see is named: loops, open tops and the like are "mixed" or
"little effect" here even when the eye sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from latentcraft.data.shape import MNIST_SHAPE, ImageShape

# (B, D) codes, the digit they show (for decoders that take one; None: none) -> (B, 784) images in [0, 1]
Renderer = Callable[[torch.Tensor, "int | None"], torch.Tensor]

PROPERTIES = ("slant", "width", "height", "stroke weight")
DIRECTIONS = {  # what moving the slider to the right does, when the property grows / shrinks
    "slant": ("slant →", "slant ←"),
    "width": ("wider", "narrower"),
    "height": ("taller", "shorter"),
    "stroke weight": ("bolder", "thinner"),
}
TRAVERSAL_SPAN = 2.0  # each coordinate moves from median − 2 std to median + 2 std of its codes
MIN_EFFECT = 0.5  # a property moving less than half a within-digit std over the traversal is not named
DOMINANCE = 1.5  # the strongest property names the coordinate only when 1.5× the runner-up
NOTICEABLE_SLANT = 0.05  # the smallest unit of slant: 1 px of shift over 20 rows
NOTICEABLE_SHARE = 0.05  # the smallest unit of width, height and ink: 5% of its mean
LABEL_IMAGES = 300  # codes of the first N test images are traversed
LITTLE_EFFECT = "little effect"


def image_properties(images: torch.Tensor, shape: ImageShape = MNIST_SHAPE) -> torch.Tensor:
    """Slant, width, height and stroke weight of each (B, C·H·W) image, from its pixel moments.  # (B, 4)

    Colour images are measured on their mean over channels (brightness).
    """
    grid = images.reshape(-1, *shape.chw).double().mean(1)  # (B, H, W) rows top to bottom
    ink = grid.sum((1, 2))
    weights = grid / ink.clamp_min(1e-9)[:, None, None]
    rows = torch.arange(shape.height, dtype=torch.float64)
    columns = torch.arange(shape.width, dtype=torch.float64)
    by_row, by_col = weights.sum(2), weights.sum(1)  # (B, H), (B, W)
    dy = rows - (by_row * rows).sum(1, keepdim=True)  # (B, H) row offsets from the centre of mass
    dx = columns - (by_col * columns).sum(1, keepdim=True)
    var_y = (by_row * dy**2).sum(1).clamp_min(1e-9)
    var_x = (by_col * dx**2).sum(1)
    cov = (weights * dy[:, :, None] * dx[:, None, :]).sum((1, 2))
    slant = -cov / var_y  # rows grow downwards: a right lean has x falling as y grows
    width = (var_x - cov**2 / var_y).clamp_min(0).sqrt()
    return torch.stack([slant, width, var_y.sqrt(), ink], 1).float()


@dataclass
class StyleLabel:
    coordinate: int
    label: str  # what the slider does, e.g. "slant →", "mixed (width, stroke weight)", "little effect"
    effects: dict[str, float]  # property -> signed change over the traversal, in within-digit stds


def name_effects(effects: dict[str, float]) -> str:
    """The label rule of the module docstring."""
    ranked = sorted(effects, key=lambda p: abs(effects[p]), reverse=True)
    first, second = ranked[0], ranked[1]
    if abs(effects[first]) < MIN_EFFECT:
        return LITTLE_EFFECT
    if abs(effects[first]) < DOMINANCE * abs(effects[second]):
        return f"mixed ({first}, {second})"
    grows, shrinks = DIRECTIONS[first]
    return grows if effects[first] > 0 else shrinks


def style_labels(render: Renderer, codes: torch.Tensor, digits: torch.Tensor | None,
                 coordinates: list[int], span: float = TRAVERSAL_SPAN,
                 shape: ImageShape = MNIST_SHAPE) -> list[StyleLabel]:
    """Measure and name each of `coordinates` by traversing it in `codes` (N, D), rendered by `render`.

    digits: what each code shows (None: one group); the spread of a property is
    pooled within these groups, and each group is rendered with its digit.
    """
    groups: list[tuple[int | None, torch.Tensor]] = [(None, torch.arange(len(codes)))] if digits is None else \
        [(int(k), (digits == k).nonzero().flatten()) for k in digits.unique()]
    groups = [(k, rows) for k, rows in groups if len(rows) > 1]

    def properties(batch: torch.Tensor) -> list[torch.Tensor]:
        return [image_properties(render(batch[rows], k), shape) for k, rows in groups]

    base = properties(codes)
    residuals = torch.cat([p - p.mean(0) for p in base])
    spread = (residuals.pow(2).sum(0) / max(len(residuals) - len(base), 1)).sqrt()  # (4,)
    noticeable = NOTICEABLE_SHARE * torch.cat(base).mean(0).abs()
    noticeable[PROPERTIES.index("slant")] = NOTICEABLE_SLANT
    unit = torch.maximum(spread, noticeable).clamp_min(1e-6)
    labels = []
    for c in coordinates:
        centre, scale = codes[:, c].median(), codes[:, c].std()
        ends = []
        for sign in (-1, 1):
            moved = codes.clone()
            moved[:, c] = centre + sign * span * scale
            ends.append(torch.cat(properties(moved)))
        change = (ends[1] - ends[0]).mean(0) / unit  # (4,)
        effects = {p: round(float(v), 3) for p, v in zip(PROPERTIES, change)}
        labels.append(StyleLabel(c, name_effects(effects), effects))
    return labels


def labels_record(labels: list[StyleLabel]) -> list[dict]:
    """JSON-able labels for a manifest or eval.json."""
    return [asdict(label) for label in labels]
