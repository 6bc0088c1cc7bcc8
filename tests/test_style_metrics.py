"""style_metrics.py: the routed-part swap, the per-digit code table, the style probe and the transfer score."""

import pytest
import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.data.constants import IMAGE_PIXELS, NUM_CLASSES
from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import load_split
from latentcraft.techniques.registry import build_model
from latentcraft.techniques.style.readouts import (
    NO_STYLE,
    code_functions,
    digit_codes,
    replace_routed,
    restyle,
    style_probe_accuracy,
    style_transfer,
)

ROUTED = list(range(NUM_CLASSES))
STYLE = [10, 11]


def test_replace_routed_sets_only_the_routed_coordinates_and_leaves_its_input_alone():
    codes = torch.arange(8.0).reshape(2, 4)
    out = replace_routed(codes, [0, 2], torch.tensor([-1.0, -2.0]))
    assert torch.equal(out, torch.tensor([[-1.0, 1.0, -2.0, 3.0], [-1.0, 5.0, -2.0, 7.0]]))
    assert torch.equal(codes, torch.arange(8.0).reshape(2, 4))
    per_row = replace_routed(codes, [3], torch.tensor([[10.0], [20.0]]))
    assert per_row[:, 3].tolist() == [10.0, 20.0]


def test_restyle_on_a_linear_model_keeps_the_style_part_and_swaps_the_routed_part():
    # encode = x E, decode = z M: the result is x E[:, style] M[style] + c M[routed], computed by hand.
    torch.manual_seed(0)
    pixels, dim, routed, style = 6, 4, [0, 1], [2, 3]
    E, M = torch.randn(pixels, dim), torch.randn(dim, pixels)
    x, c = torch.randn(3, pixels), torch.tensor([0.5, -1.5])
    out = restyle(lambda images: images @ E, lambda z, digit: z @ M, x, routed, c)
    expected = (x @ E)[:, style] @ M[style] + c @ M[routed]
    assert torch.allclose(out, expected.expand(3, pixels), atol=1e-5)


def test_digit_codes_are_per_digit_means_of_the_routed_part():
    labels = torch.tensor([k for k in range(NUM_CLASSES) for _ in range(2)])  # two images per digit
    codes = torch.zeros(len(labels), 12)
    codes[torch.arange(len(labels)), labels] = torch.tensor([1.0, 3.0] * NUM_CLASSES)  # digit k fires k at 1 or 3
    codes[:, 11] = 7.0  # a style coordinate the table must not include
    table = digit_codes(codes, labels, ROUTED, NUM_CLASSES)
    assert table.shape == (NUM_CLASSES, len(ROUTED))
    assert torch.equal(table, 2.0 * torch.eye(NUM_CLASSES))
    assert digit_codes(codes[:2], labels[:2], ROUTED, NUM_CLASSES)[1].isnan().all()  # no example of digit 1


def test_style_probe_reads_label_carrying_coordinates_and_not_noise():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(600) % NUM_CLASSES
    codes = torch.randn(600, 12, generator=generator)
    codes[:, 10] = labels.float() + 0.05 * torch.randn(600, generator=generator)  # style 10 leaks the digit
    fit, test = slice(0, 400), slice(400, 600)
    leaky = style_probe_accuracy(codes[fit], labels[fit], codes[test], labels[test], [10])
    clean = style_probe_accuracy(codes[fit], labels[fit], codes[test], labels[test], [11])
    assert leaky == 1.0
    assert clean < 0.3
    assert style_probe_accuracy(codes[fit], labels[fit], codes[test], labels[test], []) is None


def _identity_model_images(labels: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """'Images' that are their own codes: digit k's one-hot (scaled 2) followed by style values."""
    table = 2.0 * torch.eye(NUM_CLASSES)
    return torch.cat([table[labels], style], 1), table


def test_style_transfer_scores_what_the_reader_sees_and_keeps_the_style():
    labels = torch.tensor([0, 3, 7, 9])
    images, table = _identity_model_images(labels, torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]]))
    def identity(t, digit=None):
        return t

    result = style_transfer(identity, identity, images, labels, ROUTED, table, lambda x: x[:, :NUM_CLASSES].argmax(1))
    assert result.accuracy == 1.0 and result.per_digit == [1.0] * NUM_CLASSES
    assert result.own_digit_sq_error == 0.0
    assert result.images.shape == (4, NUM_CLASSES, images.shape[1])
    assert torch.equal(result.images[:, 5, STYLE], images[:, STYLE])  # every render keeps its row's style
    assert torch.equal(result.images[2, 5, :NUM_CLASSES], table[5])

    always_three = style_transfer(identity, identity, images, labels, ROUTED, table,
                                  lambda x: torch.full((len(x),), 3))
    assert always_three.accuracy == pytest.approx(0.1)
    assert always_three.per_digit == [float(k == 3) for k in range(NUM_CLASSES)]


def test_code_functions_decode_what_the_model_reconstructs():
    config = resolve_config("routed10", overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]"])
    torch.manual_seed(0)
    model = build_model(config).eval()
    encode, decode = code_functions(model)
    x = torch.rand(5, IMAGE_PIXELS)
    codes = encode(x)
    assert codes.shape == (5, config.model.latent_dim) and (codes >= 0).all()  # after the ReLU
    assert torch.allclose(decode(codes), model.reconstruct(x))


def test_a_swapped_in_digit_row_decodes_as_the_one_hot_model_reads_it():
    """A one-hot model decodes a blended digit-code row as the one-hot of its argmax, as its exported graph does."""
    config = resolve_config("routed-style", overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]",
                                                       "style.hidden_sizes=[8]"])
    torch.manual_seed(0)
    model = build_model(config).eval()
    model.techniques["style"].digit_height.fill_(2.0)
    _, decode = code_functions(model)
    codes = torch.zeros(2, config.model.latent_dim)
    codes[:, 10:] = torch.randn(10)
    codes[0, 4], codes[0, 7] = 1.7, 0.2  # a table row: mostly digit 4, a little 7
    codes[1, 4] = 2.0  # what the model itself decodes for a 4
    images = decode(codes)
    torch.testing.assert_close(images[0], images[1])


@pytest.fixture(scope="module")
def splits(mnist_dir):
    return load_split("mnist", "train", limit=300), load_split("mnist", "test", limit=120)


@pytest.mark.parametrize("free", [[], [10, 11]])
def test_routings_read_out_reports_probe_and_transfer_for_its_own_coordinates(splits, free):
    fit, test = splits
    config = resolve_config("routed10", overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]",
                                                   f"model.latent_dim={10 + len(free)}", f"routing.free={free}"])
    torch.manual_seed(0)
    model = build_model(config).eval()
    routing = model.techniques["routing"]
    metrics, record = routing.evaluate_model(model, fit, test, lambda x: torch.full((len(x),), 4))
    style = record["style"]
    assert style["routed"] == ROUTED and style["style"] == free and style["transfer_images"] == len(test)
    assert metrics["style_transfer_accuracy"] == pytest.approx(0.1)  # the stub reader always says 4
    assert style["transfer_per_digit"] == [float(k == 4) for k in range(NUM_CLASSES)]
    encode, _ = code_functions(model)
    expected = digit_codes(encode(fit.floats()), fit.labels, ROUTED, NUM_CLASSES)
    assert torch.allclose(torch.tensor(style["digit_codes"]), expected)
    if free:
        assert 0 <= metrics["style_probe_accuracy"] <= 1 and style["probe"] == metrics["style_probe_accuracy"]
    else:
        assert "style_probe_accuracy" not in metrics and style["probe"] == NO_STYLE
    assert [label["coordinate"] for label in style["labels"]] == free  # one measured label per style coordinate

    # The explorer's manifest ships the same table, and a digit the training slice lacks gets no row.
    entries = routing.manifest_entries(model, test, lambda: fit)
    assert entries["digit_codes"]["coordinates"] == ROUTED
    assert torch.allclose(torch.tensor(entries["digit_codes"]["codes"]), torch.tensor(style["digit_codes"]))
    assert entries["style_labels"] == style["labels"] and entries["routes"] == routing.routes
    no_nines = ImageSet(fit.images[fit.labels != 9], fit.labels[fit.labels != 9])
    assert routing.manifest_entries(model, test, lambda: no_nines)["digit_codes"]["codes"][9] is None


def test_a_conditional_decoder_is_told_the_digit_each_render_should_show(splits):
    fit, test = splits
    config = resolve_config("routed10", overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]",
                                                   "conditional.enabled=true"])
    torch.manual_seed(0)
    model = build_model(config).eval()
    encode, decode = code_functions(model)
    x = test.floats(slice(0, 4))
    table = torch.eye(NUM_CLASSES)
    rendered = restyle(encode, decode, x, ROUTED, table[3], 3)
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(table[3].expand(4, -1), torch.full((4,), 3)))
    assert torch.allclose(rendered, expected)
    metrics, _ = model.techniques["routing"].evaluate_model(model, fit, test, lambda images: torch.zeros(len(images)))
    assert metrics["style_transfer_accuracy"] == pytest.approx(0.1)
