"""The explorer's ONNX graphs and their self-check against torch.

    encoder.onnx   x (B, C·H·W) in [0,1] -> mu, logvar (B, D)
    decoder.onnx   z (B, D) [, label (B, K) one-hot] -> image (B, C·H·W) in [0,1]
                   (latent ReLU and sigmoid inside, so a slider vector decodes
                   exactly as the model decodes it)
    <head>.onnx    z (B, D) -> class scores (B, K), for each technique with a
                   head graph (shaping.HeadGraph; the classifier head's is classifier.onnx)

Images are flattened channel-first as the models read them (MNIST: 784 values)
and K is the run's class count; both come from `model.shape`, the run's record.

Every graph is run in onnxruntime on a batch of real inputs and compared with
torch: each output must agree within CHECK_ATOL + CHECK_RTOL·|torch| (numpy's
allclose rule: float32 graphs of large codes differ by a relative amount), else
the export fails with a message naming the graph and the output.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from latentcraft.errors import LatentcraftError
from latentcraft.evaluation.readouts import central_range
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.base import Technique

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
ONNX_OPSET = 17  # supported by onnxruntime-web's wasm backend
CHECK_RTOL = 1e-4  # accepted |onnxruntime - torch| relative to |torch| ...
CHECK_ATOL = 1e-5  # ... plus this much absolute
CHECK_BATCH = 64  # inputs per self-check


class ExportError(LatentcraftError, RuntimeError):
    """The export cannot be written or does not reproduce the torch model."""


class EncoderGraph(nn.Module):
    """x (B, C·H·W) -> μ, log σ² (B, D), exactly `LatentModel.encode`."""

    def __init__(self, model: LatentModel):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(x)


def techniques_of(model: LatentModel) -> list[Technique]:
    """The model's techniques (an nn.ModuleDict, which types its values as plain Modules)."""
    return [cast(Technique, t) for t in model.techniques.values()]


def label_table(model: LatentModel) -> torch.Tensor | None:
    """What the techniques append to z for each of the run's K labels, as a (K, k) table; None if nothing.

    A conditional decoder's extra inputs depend on the label alone, so
    `one_hot(y) @ table` reproduces them exactly inside the graph with a plain
    MatMul, whatever encoding of the label a technique chooses.
    """
    labels = torch.arange(model.shape.classes)
    inputs = [t.decoder_inputs(labels, len(labels)) for t in techniques_of(model)]
    parts = [p.float() for p in inputs if p is not None]
    return torch.cat(parts, dim=1) if parts else None  # (K, k)


class DecoderGraph(nn.Module):
    """z (B, D) [, one-hot label (B, K)] -> image (B, C·H·W) in [0, 1], latent ReLU included."""

    def __init__(self, model: LatentModel, table: torch.Tensor | None):
        super().__init__()
        self.model = model
        self.table = None if table is None else nn.Parameter(table, requires_grad=False)

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        code = self.model.latent_activation(z)
        if self.table is not None:
            if label is None:
                raise ExportError("this decoder graph takes a class label beside the code: pass the one-hot label")
            code = torch.cat([code, label @ self.table], dim=1)  # (B, D + k)
        return torch.sigmoid(self.model.decoder(code).float())


class PredictionGraph(nn.Module):
    """μ (B, D) -> class scores (B, K): a technique's `predict`, which reads μ itself (not the ReLU'd
    code), so the plane's points and decision regions are in μ coordinates."""

    def __init__(self, technique: Technique):
        super().__init__()
        self.technique = technique

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return predict_scores(self.technique, z)


def predict_scores(technique: Technique, z: torch.Tensor) -> torch.Tensor:
    """`technique.predict(z)` of a technique with a head graph (whose predict gives scores, not None)."""
    scores = technique.predict(z)
    if scores is None:
        raise ExportError(f"technique {type(technique).__name__} has a head graph but predicts nothing")
    return scores


def onnx_export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str]) -> None:
    """Write one self-contained ONNX file with a dynamic batch axis.

    The TorchScript exporter (dynamo=False) gives plain Gemm/Relu/Sigmoid graphs
    with the weights inside the file, which onnxruntime-web runs as they are.
    """
    axes = {name: {0: "batch"} for name in [*inputs, *outputs]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module.eval(), args, str(path), input_names=inputs, output_names=outputs,
            dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False,
        )


def check_graph(path: Path, reference: Callable[..., tuple[torch.Tensor, ...]], feeds: dict[str, np.ndarray],
                rtol: float = CHECK_RTOL, atol: float = CHECK_ATOL) -> float:
    """Run `path` in onnxruntime and compare each output with torch's; returns the max absolute error.

    Raises ExportError naming the graph and output where |ort - torch| > atol + rtol·|torch| anywhere.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)
    with torch.no_grad():
        want = [t.detach().float().numpy() for t in reference(*[torch.from_numpy(v) for v in feeds.values()])]
    names = [o.name for o in session.get_outputs()]
    worst = 0.0
    for name, g, w in zip(names, got, want):
        if g.shape != w.shape:
            raise ExportError(f"{path.name}: output {name!r} has shape {g.shape} in onnxruntime but {w.shape} in torch")
        if not g.size:
            continue
        error = np.abs(g - w)
        if not np.all(error <= atol + rtol * np.abs(w)):  # also catches NaN
            at = np.unravel_index(np.argmax(np.nan_to_num(error - rtol * np.abs(w), nan=np.inf)), error.shape)
            raise ExportError(
                f"{path.name}: onnxruntime and torch disagree on output {name!r} by {error[at]:.3g} where torch "
                f"gives {w[at]:.4g} (tolerance {atol:g} + {rtol:g}·|torch|); the exported graph does not "
                "reproduce the model"
            )
        worst = max(worst, float(error.max()))
    return worst


def check_inputs(images: torch.Tensor, mu: torch.Tensor,
                 classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Self-check inputs: real images (B, C·H·W), codes (their μ and codes from across the data range), and a
    label each, cycling through the `classes` so the graph's label table is checked row by row."""
    x = images[:CHECK_BATCH]
    low, high = (torch.from_numpy(np.asarray(v, dtype=np.float32)) for v in central_range(mu.numpy(), axis=0))
    uniform = torch.rand(CHECK_BATCH // 2, mu.shape[1], generator=torch.Generator().manual_seed(0))
    z = torch.cat([mu[: CHECK_BATCH // 2], low + uniform * (high - low)])
    return x, z, torch.arange(len(z)) % classes


def export_encoder(model: LatentModel, out_dir: Path, x: torch.Tensor) -> float:
    onnx_export(EncoderGraph(model), (x,), out_dir / ENCODER_FILE, ["x"], ["mu", "logvar"])
    return check_graph(out_dir / ENCODER_FILE, model.encode, {"x": x.numpy()})


def export_decoder(model: LatentModel, out_dir: Path, z: torch.Tensor, y: torch.Tensor) -> float:
    table = label_table(model)
    decoder, feeds = DecoderGraph(model, table), {"z": z.numpy()}
    if table is None:
        onnx_export(decoder, (z,), out_dir / DECODER_FILE, ["z"], ["image"])
    else:
        one_hot = torch.nn.functional.one_hot(y, model.shape.classes).float()  # (B, K)
        feeds["label"] = one_hot.numpy()
        onnx_export(decoder, (z, one_hot), out_dir / DECODER_FILE, ["z", "label"], ["image"])

    def decode_reference(z: torch.Tensor, label: torch.Tensor | None = None) -> tuple[torch.Tensor]:
        labels = None if label is None else label.argmax(1)
        return (torch.sigmoid(model.decode(model.latent_activation(z), labels)),)

    return check_graph(out_dir / DECODER_FILE, decode_reference, feeds)


def export_head(technique: Technique, out_dir: Path, z: torch.Tensor) -> float:
    """`technique.predict` as <head>.onnx, checked against torch on the codes z."""
    head = technique.head_graph
    if head is None:
        raise ExportError(f"technique {type(technique).__name__} has no head graph to export")
    path = out_dir / f"{head.name}.onnx"
    onnx_export(PredictionGraph(technique), (z,), path, ["z"], [head.output])
    return check_graph(path, lambda codes: (predict_scores(technique, codes),), {"z": z.numpy()})


def export_graphs(model: LatentModel, out_dir: Path, images: torch.Tensor, mu: torch.Tensor) -> dict[str, float]:
    """Write and check every graph of `model`; returns the max |onnxruntime - torch| per graph.

    images: real images (N, C·H·W) and mu: their codes (N, D), the self-check's inputs.
    """
    if images.shape[1] != model.shape.features:
        raise ExportError(f"the self-check images have {images.shape[1]} values each, but the model reads "
                          f"{model.shape.describe()} images ({model.shape.features} values)")
    x, z, y = check_inputs(images, mu, model.shape.classes)
    errors = {"encoder": export_encoder(model, out_dir, x), "decoder": export_decoder(model, out_dir, z, y)}
    for technique in techniques_of(model):
        if technique.head_graph is not None:
            errors[technique.head_graph.name] = export_head(technique, out_dir, z)
    return errors
