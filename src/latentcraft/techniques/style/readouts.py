"""Style metrics for models whose latent is split into routed (class) and free (style) coordinates.

Written for MNIST's digits, they hold for any classes: "digit k" below is class
k of the run's data, and images are (B, C·H·W) of the run's shape.
Two questions, each a plain function of tensors and encode/decode functions:

- Do the style coordinates hold class identity? A k-NN probe (k = 15) reads the
  label from the style coordinates of μ alone (fitted on training codes, scored
  on test codes). Chance is 1 / classes (10% on MNIST); a good style space scores low.
- Does "same style, other digit" work? Encode a test image, replace its routed
  part by the code of digit k, decode, and ask the separately trained judge
  (judge.py, trained on the run's own data) whether it reads a k.

"The code of digit k" is the mean routed part of the decoder-input codes of the
training images of digit k (`digit_codes`): the model's own typical code for
that digit, leakage into other digits' coordinates included, so swapping it in
moves an image to where real k's sit rather than to an unvisited one-hot corner.
It is a (classes, n_routed) table, small enough to ship in an export manifest so the
explorer does the same swap (`replace_routed`) as these metrics.

Codes are swapped in decoder-input space, i.e. after the model's latent
activation (ReLU for routed presets), which is what the explorer's sliders set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import load_split
from latentcraft.data.source import load_config_data
from latentcraft.evaluation.registry import Metric
from latentcraft.techniques.style.labels import LABEL_IMAGES, StyleLabel, labels_record, style_labels

if TYPE_CHECKING:
    from latentcraft.model.vae import LatentModel

Encoder = Callable[[torch.Tensor], torch.Tensor]  # (B, C·H·W) images in [0, 1] -> (B, D) decoder-input codes
# (B, D) decoder-input codes, the class they should show (fed to a conditional decoder; None: no label)
# -> (B, C·H·W) images in [0, 1]
Decoder = Callable[[torch.Tensor, "int | None"], torch.Tensor]
Reader = Callable[[torch.Tensor], torch.Tensor]  # (B, C·H·W) images -> (B,) classes, e.g. DigitJudge.predict

STYLE_NEIGHBOURS = 15  # k of the style probe
TRANSFER_IMAGES = 1000  # test images re-rendered as every digit (MNIST: 10,000 renders)
TRANSFER_RENDERS = 10_000  # with more than 10 classes, fewer images, so renders stay at most this many
DIGIT_CODE_IMAGES = 10_000  # the first N training images define each digit's routed code
NO_STYLE = "no style coordinates"  # the probe's entry for a model without free coordinates

STYLE_METRICS = {  # registered by the technique that owns routed and free coordinates
    "style_probe_accuracy": Metric(f"k-NN (k={STYLE_NEIGHBOURS}) digit probe on the style coordinates", False),
    "style_transfer_accuracy": Metric("style transfer: digit judge reads the digit asked for", True),
    "style_transfer_own_digit_sq_error": Metric("style transfer: squared error / image, own digit re-rendered", False),
}


def code_functions(model) -> tuple[Encoder, Decoder]:
    """A LatentModel's encode and decode in decoder-input space: μ after the latent activation, sigmoid images.

    decode applies the latent activation again, as the exported decoder graph does: it leaves codes
    `encode` made unchanged, and reads a code set by hand (a swapped-in digit row) the way the model
    does (the one-hot of its routed argmax, for a one-hot model).
    """

    @torch.no_grad()
    def encode(images: torch.Tensor) -> torch.Tensor:
        model.eval()
        mu, _ = model.encode(images)
        return model.latent_activation(mu)

    @torch.no_grad()
    def decode(codes: torch.Tensor, digit: int | None = None) -> torch.Tensor:
        model.eval()
        labels = None if digit is None else torch.full((len(codes),), digit, dtype=torch.long)
        return torch.sigmoid(model.decode(model.latent_activation(codes), labels))

    return encode, decode


def training_codes_slice(model: LatentModel, like: ImageSet) -> ImageSet:
    """The training images that define the digit codes, read from where `like` (a split) was read."""
    if like.folder is not None:
        return load_split(model.config.data.dataset, "train", like.folder, False, DIGIT_CODE_IMAGES)
    return load_config_data(model.config, "train", limit=DIGIT_CODE_IMAGES)


def digit_code_table(encode: Encoder, train: ImageSet, routed: list[int]) -> torch.Tensor:
    """Each class's routed code, from the first DIGIT_CODE_IMAGES of `train`: the table the explorer ships.

    Returns (classes, n_routed), one row per class of `train`'s shape.
    """
    images = train.floats(slice(0, DIGIT_CODE_IMAGES))
    codes = torch.cat([encode(batch) for batch in images.split(2000)])
    return digit_codes(codes, train.labels[:DIGIT_CODE_IMAGES], routed, train.shape.classes)


def replace_routed(codes: torch.Tensor, routed: list[int], routed_codes: torch.Tensor) -> torch.Tensor:
    """`codes` with coordinates `routed` set to `routed_codes` ((n_routed,) or (B, n_routed)); a new tensor."""
    out = codes.clone()  # (B, D)
    out[:, routed] = routed_codes.to(out.dtype).expand(len(out), len(routed))
    return out


def restyle(encode: Encoder, decode: Decoder, images: torch.Tensor, routed: list[int],
            routed_codes: torch.Tensor, digit: int | None = None) -> torch.Tensor:
    """Encode, replace the routed part, decode: each image's style with another routed code.  # (B, C·H·W)

    digit: the digit the new routed code stands for, for decoders that also take a label.
    """
    return decode(replace_routed(encode(images), routed, routed_codes), digit)


def digit_codes(codes: torch.Tensor, labels: torch.Tensor, routed: list[int], classes: int) -> torch.Tensor:
    """Mean routed part of the codes of each class: the table `restyle` takes rows of.  # (classes, n_routed)

    A class with no example (a tiny slice) gets a row of NaN, which no caller should mistake for a code.
    """
    part = codes[:, routed]  # (N, n_routed)
    rows = [part[labels == k].mean(0) for k in range(classes)]
    return torch.stack(rows)


def measure_style_labels(model: LatentModel, style: list[int], test: ImageSet) -> list[StyleLabel]:
    """What each style coordinate does to the decoded digit (style_labels.py), traversed in μ, the space
    the explorer's sliders set, over the codes of the first LABEL_IMAGES test images."""
    if not style:
        return []
    from latentcraft.evaluation.metrics import encode_split

    shown = test.subset(slice(0, LABEL_IMAGES))
    mu = encode_split(model, shown)[0]
    _, decode = code_functions(model)
    return style_labels(decode, mu, shown.labels, style, shape=model.shape)


def style_entries(model: LatentModel, routed: list[int], style: list[int], test: ImageSet,
                  train: ImageSet) -> dict[str, Any]:
    """The explorer's manifest entries for "same style, another digit" and the style sliders' labels.

    digit_codes: the `digit_code_table` rows (null for a digit the slice lacks) and the coordinates
    they fill, so the page does `replace_routed` with the table `evaluate` uses (at its default --fit-limit).
    """
    encode, _ = code_functions(model)
    table = digit_code_table(encode, train, routed)
    rows = [None if row.isnan().any() else row.tolist() for row in table]
    return {"digit_codes": {"coordinates": routed, "codes": rows},
            "style_labels": labels_record(measure_style_labels(model, style, test))}


def style_probe_accuracy(train_codes: torch.Tensor, train_labels: torch.Tensor, test_codes: torch.Tensor,
                         test_labels: torch.Tensor, style: list[int],
                         neighbours: int = STYLE_NEIGHBOURS) -> float | None:
    """Held-out k-NN accuracy of the label from the `style` coordinates of μ; None when there are none.

    Standardised with the training codes' statistics, as the whole-code k-NN probe of the evaluation is.
    """
    if not style:
        return None
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbours))
    probe.fit(train_codes[:, style].numpy(), train_labels.numpy())
    return float(probe.score(test_codes[:, style].numpy(), test_labels.numpy()))


@dataclass
class StyleTransfer:
    accuracy: float  # share of (image, digit) pairs the reader reads as the digit asked for
    per_digit: list[float]  # the same share per target class 0..classes - 1
    own_digit_sq_error: float  # squared error / image between each image and its own digit re-rendered in its style
    images: torch.Tensor  # (N, classes, C·H·W) image i re-rendered as class k, in [0, 1]
    read: torch.Tensor  # (N, classes) the class the reader saw in each


def style_transfer(encode: Encoder, decode: Decoder, images: torch.Tensor, labels: torch.Tensor,
                   routed: list[int], table: torch.Tensor, read: Reader) -> StyleTransfer:
    """Re-render every image as every class (rows of `table`) and let `read` say what it sees.

    own_digit_sq_error tells how much of the writing survives the swap: it is the
    reconstruction error when the routed part carries none of the style, and grows
    with the style the routed part held (for routed10, which has no style
    coordinates, every row of a column is the same prototype).
    """
    classes = len(table)
    rendered = torch.stack([restyle(encode, decode, images, routed, table[k], k) for k in range(classes)], 1)
    seen = read(rendered.reshape(-1, images.shape[1])).reshape(len(images), classes)  # (N, classes)
    hits = (seen == torch.arange(classes)).float()  # (N, classes)
    own = rendered[torch.arange(len(images)), labels]  # (N, C·H·W)
    return StyleTransfer(
        accuracy=hits.mean().item(), per_digit=hits.mean(0).tolist(),
        own_digit_sq_error=(own - images).pow(2).sum(1).mean().item(), images=rendered, read=seen,
    )


def evaluate_style(model: LatentModel, routed: list[int], style: list[int], fit: ImageSet, test: ImageSet,
                   judge: Reader) -> tuple[dict[str, float], dict[str, Any]]:
    """(metrics, eval.json "style" entry): the style probe and style transfer of a routed model.

    fit: training images (probe fit, digit codes); test: the first TRANSFER_IMAGES are re-rendered
    (fewer with more than 10 classes: TRANSFER_RENDERS renders in all).
    """
    from latentcraft.evaluation.metrics import encode_split

    encode, decode = code_functions(model)
    table = digit_code_table(encode, fit, routed)
    mu_fit, mu_test = encode_split(model, fit)[0], encode_split(model, test)[0]
    probe = style_probe_accuracy(mu_fit, fit.labels, mu_test, test.labels, style)
    shown = slice(0, min(TRANSFER_IMAGES, max(1, TRANSFER_RENDERS // len(table))))
    transfer = style_transfer(encode, decode, test.floats(shown), test.labels[shown], routed, table, judge)
    metrics = {"style_transfer_accuracy": transfer.accuracy,
               "style_transfer_own_digit_sq_error": transfer.own_digit_sq_error}
    if probe is not None:
        metrics["style_probe_accuracy"] = probe
    record = {
        "routed": routed, "style": style, "probe": NO_STYLE if probe is None else probe,
        "transfer_images": len(transfer.read), "transfer_per_digit": transfer.per_digit,
        "digit_codes": table.tolist(), "labels": labels_record(measure_style_labels(model, style, test)),
    }
    return metrics, {"style": record}
