"""robustness.py: each transform does what its name says, and the table scores known cases exactly."""

import pytest
import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES
from latentcraft.data.images import ImageSet
from latentcraft.data.preprocess import preprocess_drawing
from latentcraft.data.strokes import dilate, erode
from latentcraft.evaluation.registry import registered
from latentcraft.evaluation.robustness import (
    TRANSFORMS,
    preprocess_batch,
    robustness_table,
    rotate,
    shift,
    technique_classifier,
    transformed_sets,
)
from latentcraft.techniques.registry import build_model


def _field() -> torch.Tensor:
    return torch.zeros(1, IMAGE_SIDE, IMAGE_SIDE)


def _ring() -> torch.Tensor:
    """A hollow 10x8 box drawn with 2-px strokes, already MNIST-style (preprocessed)."""
    ink = torch.zeros(IMAGE_SIDE, IMAGE_SIDE)
    ink[6:22, 8:20] = 1.0
    ink[8:20, 10:18] = 0.0
    return torch.from_numpy(preprocess_drawing(ink.numpy()))


def test_shift_moves_content_and_drops_what_leaves_the_field():
    image = _field()
    image[0, 10, 10] = 1.0
    image[0, 0, 27] = 0.5  # leaves the field when moved right
    moved = shift(image, dx=2, dy=0)
    assert moved[0, 10, 12] == 1.0 and moved.sum() == 1.0
    assert shift(image, dx=0, dy=-2)[0, 8, 10] == 1.0
    assert torch.equal(shift(shift(image, 0, 2), 0, -2)[0, 10], image[0, 10])


@pytest.mark.parametrize("dx, dy", [(2, 0), (-2, 0), (0, 2), (0, -2), (2, -2)])
def test_a_shift_of_two_pixels_is_undone_by_the_preprocessing(dx, dy):
    centred = _ring().unsqueeze(0)
    prepared, empty = preprocess_batch(shift(centred, dx, dy))
    assert not empty.any()
    assert torch.equal(prepared.reshape(IMAGE_SIDE, IMAGE_SIDE), centred[0])


def test_rotation_turns_counter_clockwise_about_the_centre():
    image = _field()
    image[0, 13:15, 20:22] = 1.0  # a 2x2 block right of the centre (13.5, 13.5)
    turned = rotate(image, 90.0)
    assert torch.allclose(turned[0, 6:8, 13:15], torch.ones(2, 2), atol=1e-5)  # now above the centre
    assert turned.sum().item() == pytest.approx(4.0, abs=1e-4)
    assert torch.allclose(rotate(image, 0.0), image, atol=1e-6)


def test_dilation_thickens_a_line_by_one_pixel_and_erosion_undoes_it():
    line = _field()
    line[0, 5:20, 12] = 0.5  # vertical, 1 px wide, 15 long, half ink
    thick = dilate(line)
    assert torch.equal(thick[0, 10, 10:15], torch.tensor([0.0, 0.0, 0.5, 0.5, 0.0]))  # 2 px wide
    assert (thick[0] > 0).sum().item() == 2 * 16  # and one pixel longer
    assert torch.equal(erode(thick), line)
    assert erode(line).sum().item() == 0.0  # a 1-px line is thinner than the window: erosion removes it


def test_a_three_pixel_window_grows_a_line_one_pixel_on_each_side():
    line = _field()
    line[0, 5:20, 12] = 1.0
    thick = dilate(line, kernel=3)
    assert torch.equal(thick[0, 10, 10:15], torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))
    assert (thick[0] > 0).sum().item() == 3 * 17
    assert torch.equal(erode(thick, kernel=3), line)


def _variance(mass: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    total = mass.sum(1)
    mean = (mass * axis).sum(1) / total
    return (mass * axis.pow(2)).sum(1) / total - mean.pow(2)


def test_the_table_scores_known_cases_and_counts_emptied_images_as_wrong():
    # Horizontal bars are 0, vertical bars 1; the classifier compares the ink's spread along each axis.
    bars = torch.zeros(4, IMAGE_SIDE, IMAGE_SIDE)
    bars[0, 14, 6:22] = bars[1, 10, 8:20] = 1.0
    bars[2, 6:22, 14] = bars[3, 8:20, 10] = 1.0
    labels = torch.tensor([0, 0, 1, 1])
    axis = torch.arange(IMAGE_SIDE, dtype=torch.float32)

    def by_spread(x):
        ink = x.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
        rows, cols = ink.sum(2), ink.sum(1)
        return (_variance(rows, axis) > _variance(cols, axis)).long()  # tall ink -> 1

    sets = transformed_sets(ImageSet((bars * 255).to(torch.uint8), labels))
    table = robustness_table(by_spread, sets)
    assert list(table) == list(TRANSFORMS)
    assert table.pop("thinner") == 0.0  # 1-px bars vanish under erosion, and an empty image is never right
    assert set(table.values()) == {1.0}
    flipped = robustness_table(lambda x: 1 - by_spread(x), {"preprocessed": sets["preprocessed"]})
    assert flipped == {"preprocessed": 0.0}


def test_every_prediction_has_a_registered_robustness_metric_per_transform():
    names = registered()
    for key, transform in TRANSFORMS.items():
        assert names[f"argmax_accuracy_{key}"].label.endswith(transform.label)
        assert names[f"classifier_accuracy_{key}"].higher_is_better


def test_a_technique_classifier_reads_its_predict_in_batches():
    torch.manual_seed(0)
    small = ["model.encoder_hidden=[16]", "model.decoder_hidden=[16]"]
    model = build_model(resolve_config("routed10", overrides=small))
    routing = model.techniques["routing"]
    x = torch.rand(7, IMAGE_PIXELS)
    expected = model.encode(x)[0][:, :NUM_CLASSES].argmax(1)  # routed10: argmax of μ
    assert torch.equal(technique_classifier(model, routing, batch_size=3)(x), expected)
