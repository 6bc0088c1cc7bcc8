"""style_labels.py: pixel-moment properties and the labels of a hand-built decoder with known style axes."""

import torch

from latentcraft.data.constants import IMAGE_PIXELS, IMAGE_SIDE
from latentcraft.techniques.style.labels import LITTLE_EFFECT, PROPERTIES, image_properties, name_effects, style_labels

CENTRE = (IMAGE_SIDE - 1) / 2


def ring(shear: torch.Tensor, thickness: torch.Tensor, half_width: torch.Tensor) -> torch.Tensor:
    """An upright elliptic ring (half-height 8 px), sheared, with a stroke `thickness` px wide.  # (B, 784)"""
    y = torch.arange(IMAGE_SIDE, dtype=torch.float32)[:, None] - CENTRE  # (28, 1) rows, downwards
    x = torch.arange(IMAGE_SIDE, dtype=torch.float32)[None, :] - CENTRE
    rows = []
    for s, t, a in zip(shear.tolist(), thickness.tolist(), half_width.tolist()):
        upright_x = x + s * y  # a right lean: the top (y < 0) sits to the right
        rho = ((upright_x / a) ** 2 + (y / 8.0) ** 2).sqrt()
        distance = (rho - 1).abs() * (a + 8.0) / 2  # about the distance to the ring, in px
        rows.append((t / 2 + 0.5 - distance).clamp(0, 1).flatten())
    return torch.stack(rows)


def ring_decoder(codes: torch.Tensor, digit=None) -> torch.Tensor:
    """z0 shears, z1 thickens the stroke, z2 widens, z3 does nothing, z4 shears and widens at once."""
    return ring(0.12 * codes[:, 0] + 0.12 * codes[:, 4], 2.0 + 0.4 * codes[:, 1],
                5.0 + 0.6 * codes[:, 2] + 0.5 * codes[:, 4])


def test_image_properties_of_a_ring_follow_its_shape():
    one = torch.zeros(1)
    upright, leaning = ring(one, one + 2, one + 5), ring(one + 0.3, one + 2, one + 5)
    wide, bold = ring(one, one + 2, one + 7), ring(one, one + 4, one + 5)
    slant, width, height, ink = (image_properties(torch.cat([upright, leaning, wide, bold])).T)
    assert abs(slant[0]) < 1e-3 and abs(slant[1] - 0.3) < 0.03  # the shear comes back as the slant
    assert abs(width[1] - width[0]) < 0.05 * width[0]  # a lean does not widen (slant removed)
    assert width[2] > 1.3 * width[0] and abs(height[2] - height[0]) < 0.05 * height[0]
    assert ink[3] > 1.7 * ink[0] and abs(width[3] - width[0]) < 0.1 * width[0]
    assert image_properties(torch.zeros(1, IMAGE_PIXELS)).isfinite().all()  # a blank image is no error


def test_labels_of_a_hand_built_decoder_name_each_axis_and_its_direction():
    codes = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    labels = style_labels(ring_decoder, codes, None, [0, 1, 2, 3, 4])
    assert [label.label for label in labels][:4] == ["slant →", "bolder", "wider", LITTLE_EFFECT]
    assert labels[4].label.startswith("mixed (")
    assert set(labels[4].label[7:-1].split(", ")) == {"slant", "width"}
    assert set(labels[0].effects) == set(PROPERTIES)
    flipped = style_labels(lambda z, digit: ring_decoder(-z), codes, None, [0, 2])
    assert [label.label for label in flipped] == ["slant ←", "narrower"]


def test_labels_pool_spread_within_digits_and_render_each_digit_with_its_own():
    seen = []

    def decoder(codes, digit):
        seen.append(digit)
        return ring_decoder(codes)

    codes = torch.randn(60, 5, generator=torch.Generator().manual_seed(1))
    digits = torch.arange(60) % 3
    labels = style_labels(decoder, codes, digits, [1])
    assert labels[0].label == "bolder" and set(seen) == {0, 1, 2}


def test_the_label_rule():
    assert name_effects({"slant": 0.1, "width": -0.2, "height": 0.0, "stroke weight": 0.3}) == LITTLE_EFFECT
    assert name_effects({"slant": 0.0, "width": -3.0, "height": 2.5, "stroke weight": 0.3}) == "mixed (width, height)"
    assert name_effects({"slant": 0.0, "width": 0.1, "height": -2.0, "stroke weight": 0.3}) == "shorter"
