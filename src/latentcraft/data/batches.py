"""Training batches: hidden labels, the labelled share of a batch, shuffled epochs, augmentation.

Every draw comes from a CPU torch.Generator, so a seed gives the same batches on every device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from latentcraft.data.constants import UNLABELLED
from latentcraft.data.shape import MNIST_SHAPE, ImageShape
from latentcraft.data.strokes import dilate, erode


def hide_labels(labels: torch.Tensor, labelled_fraction: float, seed: int, per_class: int = 0) -> torch.Tensor:
    """Keep the labels of a seeded random `per_class` examples of each class, or else of round(labelled_fraction ×
    its size), so every class keeps its share exactly; the rest become UNLABELLED."""
    if labelled_fraction >= 1.0 and not per_class:
        return labels
    generator = torch.Generator().manual_seed(seed + 7919)
    order = torch.randperm(len(labels), generator=generator)
    keep = torch.zeros(len(labels), dtype=torch.bool)
    for k in labels.unique():
        members = order[labels[order] == k]
        keep[members[:per_class or round(labelled_fraction * len(members))]] = True
    return torch.where(keep, labels, torch.full_like(labels, UNLABELLED))


def mix_in_labelled(batches: list[torch.Tensor], labels: torch.Tensor, share: float,
                    generator: torch.Generator) -> list[torch.Tensor]:
    """Each batch with its first ceil(`share` × size) replaced by labelled examples, balanced over the classes.

    With few labels a plain shuffle shows a labelled example about once per epoch; semi-supervised
    training instead keeps a fixed labelled share in every batch. The draws take the classes in turn (each
    round in a seeded order), so over an epoch every class is drawn equally often, to within one, and within a
    class every example in turn before any repeats. Unchanged if nothing or everything is labelled.
    """
    labelled = (labels != UNLABELLED).nonzero().squeeze(1)
    if not share or len(labelled) in (0, len(labels)):
        return batches
    counts = [math.ceil(share * len(batch)) for batch in batches]
    drawn = _balanced_draws(labelled, labels[labelled], sum(counts), generator).split(counts)
    return [torch.cat([draw, batch[count:]]) for draw, batch, count in zip(drawn, batches, counts)]


def _balanced_draws(examples: torch.Tensor, classes: torch.Tensor, total: int,
                    generator: torch.Generator) -> torch.Tensor:
    """`total` of `examples`, the classes in turn, each class's examples in reshuffled cycles.  # (total,)"""
    members = [examples[classes == k] for k in classes.unique()]
    rounds = math.ceil(total / len(members))
    turns = torch.cat([torch.randperm(len(members), generator=generator) for _ in range(rounds)])[:total]
    picks: list[torch.Tensor] = []
    for k, own in enumerate(members):
        wanted = int((turns == k).sum())
        cycles = math.ceil(wanted / len(own))
        picks.append(torch.cat([own[torch.randperm(len(own), generator=generator)] for _ in range(cycles)])[:wanted])
    drawn = torch.empty(total, dtype=examples.dtype)
    for k, chosen in enumerate(picks):
        drawn[turns == k] = chosen
    return drawn


def batch_indices(n: int, batch_size: int, generator: torch.Generator, passes: int = 1) -> list[torch.Tensor]:
    """A shuffled epoch as index tensors, `passes` shuffles of the n examples back to back; the last short batch
    is kept."""
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(passes)])
    return list(order.split(batch_size))


def augment(x: torch.Tensor, generator: torch.Generator, max_shift: float, max_degrees: float,
            stroke: float = 0.0, shape: ImageShape = MNIST_SHAPE) -> torch.Tensor:
    """Random shift and rotation of a (B, C·H·W) batch, as one affine resampling; then, for a `stroke`
    share of the images, strokes one pixel thicker or thinner (half each), as pens and drawings differ.

    The draws come from the CPU `generator` whatever x's device: a seed means the same augmentation everywhere.
    """
    batch = x.shape[0]
    channels, height, width = shape.chw
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(max_degrees)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / width across and 2 / height down.
    shift = (torch.rand(batch, 2, generator=generator) * 2 - 1) * max_shift * 2 / torch.tensor([width, height])
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), [batch, channels, height, width], align_corners=False)  # (B, H, W, 2)
    images = F.grid_sample(x.view(batch, channels, height, width), grid, align_corners=False, padding_mode="zeros")
    if stroke:
        draw = torch.rand(batch, generator=generator).to(x.device)  # (B,)
        thicker = (draw < stroke / 2).view(-1, 1, 1, 1)
        thinner = ((draw >= stroke / 2) & (draw < stroke)).view(-1, 1, 1, 1)
        planes = images.reshape(batch * channels, height, width)
        thick = dilate(planes).view_as(images)
        thin = erode(planes).view_as(images)
        images = torch.where(thicker, thick, torch.where(thinner, thin, images))
    return images.reshape(batch, shape.features)
