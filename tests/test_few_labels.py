"""The few-label split and the labelled share of every batch are exact: counts per class, seeded."""

import math

import torch

from latentcraft.data.batches import batch_indices, hide_labels, mix_in_labelled
from latentcraft.data.constants import NUM_CLASSES, UNLABELLED

# Unequal classes, as MNIST's are (5,421 fives, 6,742 ones): class k has 500 + 37 k examples.
LABELS = torch.cat([torch.full((500 + 37 * k,), k) for k in range(NUM_CLASSES)])
LABELS = LABELS[torch.randperm(len(LABELS), generator=torch.Generator().manual_seed(5))]


def _per_class(labels: torch.Tensor) -> list[int]:
    return [int((labels == k).sum()) for k in range(NUM_CLASSES)]


def test_labels_per_class_keeps_exactly_that_many_of_each_class_seeded():
    kept = hide_labels(LABELS, 1.0, seed=3, per_class=10)
    assert _per_class(kept) == [10] * NUM_CLASSES
    assert int((kept == UNLABELLED).sum()) == len(LABELS) - 100
    assert torch.equal(kept[kept != UNLABELLED], LABELS[kept != UNLABELLED])  # kept labels are the true ones
    assert torch.equal(kept, hide_labels(LABELS, 1.0, seed=3, per_class=10))
    assert not torch.equal(kept, hide_labels(LABELS, 1.0, seed=4, per_class=10))


def test_a_labelled_fraction_keeps_that_share_of_every_class_exactly():
    kept = hide_labels(LABELS, 0.01, seed=0)
    assert _per_class(kept) == [round(0.01 * (500 + 37 * k)) for k in range(NUM_CLASSES)]
    assert torch.equal(kept, hide_labels(LABELS, 0.01, seed=0))


def test_the_labelled_share_draws_every_class_equally_and_every_example_in_turn():
    kept = hide_labels(LABELS, 1.0, seed=1, per_class=3)  # 30 labelled examples, 3 of each class
    generator = torch.Generator().manual_seed(2)
    batches = batch_indices(len(LABELS), 128, generator)
    mixed = mix_in_labelled(batches, kept, 0.25, generator)
    drawn = torch.cat([m[:math.ceil(0.25 * len(b))] for m, b in zip(mixed, batches)])
    assert len(drawn) == sum(math.ceil(0.25 * len(b)) for b in batches)
    assert (kept[drawn] != UNLABELLED).all()
    per_class = _per_class(kept[drawn])
    assert max(per_class) - min(per_class) <= 1  # every class equally often, to within one draw
    for k in range(NUM_CLASSES):
        times = torch.bincount(drawn[kept[drawn] == k], minlength=len(LABELS))
        times = times[(kept == k).nonzero().squeeze(1)]
        assert int(times.max() - times.min()) <= 1  # each example of a class in turn before any repeats
    for m, b in zip(mixed, batches):
        count = math.ceil(0.25 * len(b))
        assert len(m) == len(b) and torch.equal(m[count:], b[count:])  # the rest of each batch is as shuffled
    again = mix_in_labelled(batches, kept, 0.25, torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(again, mix_in_labelled(batches, kept, 0.25,
                                                                        torch.Generator().manual_seed(7))))
    assert not all(torch.equal(a, b) for a, b in zip(again, mixed))
