"""ONNX graphs and the static explorer site for one trained run.

`export_site(run_dir, out_dir)` writes a folder that works offline and from any
static host (SPEC §1, §3 demos):

    index.html sliders.html plane.html traversal.html *.js style.css   the pages (web/)
    encoder.onnx      x (B, 784) in [0,1] -> mu, logvar (B, D)
    decoder.onnx      z (B, D) [, label (B, 10) one-hot] -> image (B, 784) in [0,1]
                      (latent ReLU and sigmoid inside, so a slider vector decodes
                      exactly as the model decodes it)
    classifier.onnx   z (B, D) -> class_logits (B, 10), when the model has a head
    manifest.json     what the pages need to know about the model
    digits.u8 labels.u8 means.f32   up to 1,000 test digits, labels, encoder means
    regions.u8        decision-region raster of the head, for 2-D models
    vendor/           the onnxruntime-web runtime (from npm, never a CDN)

Every graph is checked against torch on a batch of real inputs; a difference
above CHECK_TOLERANCE fails the export with a message naming the graph.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .checkpoint import RunError, load_model
from .constants import CLASS_NAMES, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES
from .data import DataError, load_split
from .metrics import encode_split
from .model import LatentModel

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1  # bump when the pages need a different manifest layout
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
CLASSIFIER_FILE = "classifier.onnx"
DIGITS_FILE = "digits.u8"  # (N, 784) uint8 pixels, row-major
LABELS_FILE = "labels.u8"  # (N,) uint8 labels
MEANS_FILE = "means.f32"  # (N, D) float32 little-endian encoder means
REGIONS_FILE = "regions.u8"  # (R, R) uint8 argmax of the head, row 0 = top of the plane

MAX_DIGITS = 1000  # test digits shipped with the site (784 bytes each)
ONNX_OPSET = 17  # supported by onnxruntime-web's wasm backend
CHECK_TOLERANCE = 1e-5  # max |onnxruntime - torch| accepted for any output
CHECK_BATCH = 64  # inputs per self-check
SLIDER_PERCENTILES = (1.0, 99.0)  # data range of a slider: these percentiles of μ
SLIDER_STEPS = 100  # a data-range slider moves in (max - min) / SLIDER_STEPS
ROUTED_SLIDER = {"min": 0.0, "max": 3.0, "step": 0.1}  # routed ReLU models (SPEC §1)
PRIOR_RANGE = 3.0  # the prior-sample grid covers [-3, 3]^2 (SPEC §4)
PRIOR_GRID_STEPS = 15  # decodes per side of that grid
PLANE_PADDING = 0.05  # fraction of the extent added around the plane's contents
REGION_RESOLUTION = 128  # cells per side of the decision-region raster

ORT_PACKAGE = "onnxruntime-web"
# The wasm-only ES-module build with its Emscripten glue bundled in needs just
# these two files; the threaded wasm runs single-threaded when the page is not
# cross-origin isolated (static hosts rarely are), which is what we ask for.
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
VENDOR_DIR = "vendor"
WEB_DIR = "web"
REPO_ROOT = Path(__file__).resolve().parents[2]  # meaningful only in a source checkout


class ExportError(RuntimeError):
    """The export cannot be written or does not reproduce the torch model."""


# ---- the graphs ----------------------------------------------------------------------------


class EncoderGraph(nn.Module):
    """x (B, 784) -> μ, log σ² (B, D), exactly `LatentModel.encode`."""

    def __init__(self, model: LatentModel):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.encode(x)


def label_table(model: LatentModel) -> torch.Tensor | None:
    """What the techniques append to z for each label, as a (10, k) table; None if nothing.

    A conditional decoder's extra inputs depend on the label alone, so
    `one_hot(y) @ table` reproduces them exactly inside the graph with a plain
    MatMul, whatever encoding of the label a technique chooses.
    """
    labels = torch.arange(NUM_CLASSES)
    parts = [t.decoder_inputs(labels, NUM_CLASSES) for t in model.techniques.values()]
    parts = [p.float() for p in parts if p is not None]
    return torch.cat(parts, dim=1) if parts else None  # (10, k)


class DecoderGraph(nn.Module):
    """z (B, D) [, one-hot label (B, 10)] -> image (B, 784) in [0, 1], latent ReLU included."""

    def __init__(self, model: LatentModel, table: torch.Tensor | None):
        super().__init__()
        self.model = model
        self.table = None if table is None else nn.Parameter(table, requires_grad=False)

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        code = self.model.latent_activation(z)
        if self.table is not None:
            code = torch.cat([code, label @ self.table], dim=1)  # (B, D + k)
        return torch.sigmoid(self.model.decoder(code).float())


class ClassifierGraph(nn.Module):
    """μ (B, D) -> class logits (B, 10) from the classifier head technique.

    The head reads μ itself (shaping.ClassifierHead), not the ReLU'd code: the
    plane's points and decision regions are in μ coordinates.
    """

    def __init__(self, model: LatentModel, head: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z).float()


def classifier_head(model: LatentModel) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The head mapping μ to class logits, if a technique provides one.

    A technique exposes it as a `class_logits(z)` method or a `head` module; the
    self-check compares it with the `class_logits` the model's forward returns,
    so a technique that computes its logits some other way fails loudly.
    """
    for technique in model.techniques.values():
        if callable(getattr(technique, "class_logits", None)):
            return technique.class_logits
        if isinstance(getattr(technique, "head", None), nn.Module):
            return technique.head
    return None


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
                tolerance: float = CHECK_TOLERANCE) -> float:
    """Run `path` in onnxruntime and compare each output with torch's; returns the max error.

    Raises ExportError naming the graph and output when they differ by more than `tolerance`.
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
        error = float(np.max(np.abs(g - w))) if g.size else 0.0
        if not error <= tolerance:  # also catches NaN
            raise ExportError(
                f"{path.name}: onnxruntime and torch disagree on output {name!r} by {error:.3g} "
                f"(tolerance {tolerance:g}); the exported graph does not reproduce the model"
            )
        worst = max(worst, error)
    return worst


# ---- the onnxruntime-web runtime ------------------------------------------------------------


def runtime_sources() -> list[Path]:
    """Where the runtime files may be: the installed package's web/vendor, then ./node_modules."""
    package_vendor = Path(str(resources.files("latentcraft") / WEB_DIR / VENDOR_DIR))
    return [package_vendor, REPO_ROOT / "node_modules" / ORT_PACKAGE / "dist"]


def find_runtime() -> Path:
    for folder in runtime_sources():
        if all((folder / name).is_file() for name in ORT_FILES):
            return folder
    searched = "\n  ".join(str(p) for p in runtime_sources())
    raise ExportError(
        f"the {ORT_PACKAGE} runtime files ({', '.join(ORT_FILES)}) were not found in:\n  {searched}\n"
        "In a source checkout run scripts/setup.sh (it runs `npm ci`); a built wheel carries them."
    )


def vendor_runtime() -> Path:
    """Copy the runtime from node_modules into the package (src/latentcraft/web/vendor).

    Run before building a wheel (scripts/setup.sh does it) so that the wheel
    carries the files and pip users need no Node.js. The folder is gitignored.
    """
    source = REPO_ROOT / "node_modules" / ORT_PACKAGE / "dist"
    target = Path(__file__).resolve().parent / WEB_DIR / VENDOR_DIR
    missing = [name for name in ORT_FILES if not (source / name).is_file()]
    if missing:
        raise ExportError(f"{source} lacks {', '.join(missing)}; run `npm ci` in {REPO_ROOT} first")
    target.mkdir(parents=True, exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(source / name, target / name)
    return target


def runtime_version(folder: Path) -> str | None:
    package_json = folder.parent / "package.json"  # present for node_modules, absent in the wheel
    if package_json.is_file():
        return json.loads(package_json.read_text()).get("version")
    return None


# ---- the data the pages show ------------------------------------------------------------------


def model_kind(model: LatentModel) -> str:
    if "routing" in model.techniques:
        return "routed"
    if label_table(model) is not None:
        return "conditional"
    return "autoencoder" if model.config.model.deterministic else "vae"


def coordinate_labels(model: LatentModel) -> list[str]:
    """Name of the class that owns each latent coordinate ("free" for none; "z<i>" without routing)."""
    config = model.config
    if "routing" not in model.techniques:
        return [f"z{i}" for i in range(config.model.latent_dim)]
    names = CLASS_NAMES[config.data.dataset]
    labels = ["free"] * config.model.latent_dim
    for label, coords in enumerate(config.route_map()):
        for c in coords:
            labels[c] = names[label]
    return labels


def slider_ranges(model: LatentModel, mu: np.ndarray) -> list[dict[str, float]]:
    """Per coordinate: 0-3 step 0.1 for routed ReLU models (SPEC §1), else the 1st-99th percentile of μ.

    A routed coordinate whose codes reach past 3 (the ELBO-trained routed10's do,
    to about 4) gets its slider stretched to the 99th percentile, rounded up.
    """
    low, high = np.percentile(mu, SLIDER_PERCENTILES, axis=0)
    if "routing" in model.techniques and model.config.model.relu_latent:
        tops = [max(ROUTED_SLIDER["max"], math.ceil(hi * 2) / 2) for hi in high.tolist()]
        return [{**ROUTED_SLIDER, "max": top} for top in tops]
    ranges = []
    for lo, hi in zip(low.tolist(), high.tolist()):
        if hi - lo < 1e-6:  # a dead coordinate: still give the slider some room
            lo, hi = lo - 1.0, hi + 1.0
        ranges.append({"min": round(lo, 4), "max": round(hi, 4), "step": float(f"{(hi - lo) / SLIDER_STEPS:.3g}")})
    return ranges


def plane_extent(model: LatentModel, mu: np.ndarray) -> list[float]:
    """A square [x0, x1, y0, y1] holding every mean (and the prior grid for a VAE), padded."""
    low, high = mu.min(axis=0), mu.max(axis=0)
    if not model.config.model.deterministic:
        low, high = np.minimum(low, -PRIOR_RANGE), np.maximum(high, PRIOR_RANGE)
    centre, half = (low + high) / 2, float((high - low).max()) / 2 * (1 + PLANE_PADDING)
    return [float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half)]


@torch.no_grad()
def region_raster(graph: ClassifierGraph, extent: list[float]) -> np.ndarray:
    """argmax of the head on a REGION_RESOLUTION² grid of cell centres; row 0 is the top (largest y)."""
    x0, x1, y0, y1 = extent
    cells = (torch.arange(REGION_RESOLUTION, dtype=torch.float32) + 0.5) / REGION_RESOLUTION
    xs = x0 + cells * (x1 - x0)
    ys = y1 - cells * (y1 - y0)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2)  # (R*R, 2) as (x, y)
    return graph(grid).argmax(1).to(torch.uint8).reshape(REGION_RESOLUTION, REGION_RESOLUTION).numpy()


# ---- the whole site ----------------------------------------------------------------------------


def copy_pages(out_dir: Path) -> list[str]:
    web = resources.files("latentcraft") / WEB_DIR
    pages = []
    for entry in web.iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            (out_dir / entry.name).write_bytes(entry.read_bytes())
            pages.append(entry.name)
    return sorted(pages)


def copy_runtime(out_dir: Path) -> dict[str, str | None]:
    source = find_runtime()
    (out_dir / VENDOR_DIR).mkdir(exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(source / name, out_dir / VENDOR_DIR / name)
    return {"module": f"{VENDOR_DIR}/{ORT_FILES[0]}", "wasm": f"{VENDOR_DIR}/{ORT_FILES[1]}",
            "version": runtime_version(source)}


def export_site(run_dir: str | Path, out_dir: str | Path, max_digits: int = MAX_DIGITS,
                data_dir: str | Path | None = None) -> dict:
    """Export the run in `run_dir` as a static explorer site in `out_dir`; returns the manifest."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model = load_model(run_dir).float()
    config = model.config
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        test = load_split(config.data.dataset, "test", data_dir or config.data.data_dir, limit=max_digits)
    except DataError as err:
        raise ExportError(f"the test digits the site shows could not be loaded: {err}") from None
    images = test.floats()  # (N, 784)
    mu, _ = encode_split(model, test)
    mu_np = mu.numpy().astype(np.float32)
    latent = config.model.latent_dim

    # Self-check inputs: real digits, their codes, codes from across the data range, and every label.
    check_x = images[:CHECK_BATCH]
    spread = torch.from_numpy(np.percentile(mu_np, [1, 99], axis=0).astype(np.float32))
    uniform = torch.rand(CHECK_BATCH, latent, generator=torch.Generator().manual_seed(0))
    check_z = torch.cat([mu[: CHECK_BATCH // 2], spread[0] + uniform[: CHECK_BATCH // 2] * (spread[1] - spread[0])])
    check_y = torch.arange(len(check_z)) % NUM_CLASSES
    errors = {}

    encoder = EncoderGraph(model)
    onnx_export(encoder, (check_x,), out_dir / ENCODER_FILE, ["x"], ["mu", "logvar"])
    errors["encoder"] = check_graph(out_dir / ENCODER_FILE, model.encode, {"x": check_x.numpy()})

    table = label_table(model)
    decoder = DecoderGraph(model, table)
    decoder_feeds = {"z": check_z.numpy()}
    if table is None:
        onnx_export(decoder, (check_z,), out_dir / DECODER_FILE, ["z"], ["image"])
    else:
        one_hot = torch.nn.functional.one_hot(check_y, NUM_CLASSES).float()
        decoder_feeds["label"] = one_hot.numpy()
        onnx_export(decoder, (check_z, one_hot), out_dir / DECODER_FILE, ["z", "label"], ["image"])

    def decode_reference(z: torch.Tensor, label: torch.Tensor | None = None) -> tuple[torch.Tensor]:
        y = None if label is None else label.argmax(1)
        return (torch.sigmoid(model.decode(model.latent_activation(z), y)),)

    errors["decoder"] = check_graph(out_dir / DECODER_FILE, decode_reference, decoder_feeds)

    head = classifier_head(model)
    classifier = None
    if head is not None:
        classifier = ClassifierGraph(model, head)
        onnx_export(classifier, (mu[:CHECK_BATCH],), out_dir / CLASSIFIER_FILE, ["z"], ["class_logits"])

        def forward_logits(z: torch.Tensor) -> tuple[torch.Tensor]:
            # The model's own forward on the matching images: z here is their μ (eval mode uses μ).
            return (model(check_x, check_y).extras["class_logits"],)

        errors["classifier"] = check_graph(out_dir / CLASSIFIER_FILE, forward_logits, {"z": mu[:CHECK_BATCH].numpy()})
    else:
        (out_dir / CLASSIFIER_FILE).unlink(missing_ok=True)

    (out_dir / DIGITS_FILE).write_bytes(test.images.reshape(-1, IMAGE_PIXELS).numpy().astype(np.uint8).tobytes())
    (out_dir / LABELS_FILE).write_bytes(test.labels.numpy().astype(np.uint8).tobytes())
    (out_dir / MEANS_FILE).write_bytes(mu_np.astype("<f4").tobytes())

    plane = None
    if latent == 2:
        extent = plane_extent(model, mu_np)
        plane = {"extent": extent, "regions": None}
        if classifier is not None:
            (out_dir / REGIONS_FILE).write_bytes(region_raster(classifier, extent).tobytes())
            plane["regions"] = {"file": REGIONS_FILE, "resolution": REGION_RESOLUTION}

    routed = "routing" in model.techniques
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": config.name,
        "description": config.description,
        "kind": model_kind(model),
        "dataset": config.data.dataset,
        "class_names": CLASS_NAMES[config.data.dataset],
        "image_side": IMAGE_SIDE,
        "latent_dim": latent,
        "relu_latent": config.model.relu_latent,
        "deterministic": config.model.deterministic,
        "techniques": {name: t.describe() for name, t in model.techniques.items()},
        "routes": config.route_map() if routed else None,
        "coordinate_labels": coordinate_labels(model),
        "sliders": slider_ranges(model, mu_np),
        "conditional": table is not None,
        "classifier": classifier is not None,
        "files": {
            "encoder": ENCODER_FILE, "decoder": DECODER_FILE,
            "classifier": CLASSIFIER_FILE if classifier is not None else None,
            "digits": DIGITS_FILE, "labels": LABELS_FILE, "means": MEANS_FILE,
        },
        "digits": len(test),
        "plane": plane,
        "prior_grid": {"range": PRIOR_RANGE, "steps": PRIOR_GRID_STEPS} if not config.model.deterministic else None,
        "features": {
            "sliders": True,
            "drawing": config.data.dataset == "mnist",
            "traversal": True,
            "plane": latent == 2,
        },
        "runtime": copy_runtime(out_dir),
        "check": {"tolerance": CHECK_TOLERANCE, "max_abs_error": errors},
        "pages": copy_pages(out_dir),
    }
    # A plain write (not checkpoint.write_json's temp file) keeps the usual 0644 mode for web servers.
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def is_site(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST_FILE).is_file()


def is_stale(site: Path, run_dir: Path) -> bool:
    """True if the site is missing or older than the run's weights."""
    from .checkpoint import WEIGHTS_FILE

    manifest = site / MANIFEST_FILE
    weights = run_dir / WEIGHTS_FILE
    if not manifest.is_file():
        return True
    return weights.is_file() and weights.stat().st_mtime > manifest.stat().st_mtime


__all__ = ["ExportError", "RunError", "export_site", "check_graph", "vendor_runtime", "is_site"]
