"""Export trained runs as a static explorer site that works offline and from any static host
(the demos of experiments.md §1 and §3).

`export_site(run_dir, out_dir)` writes one model's site, in six steps:

    data       up to 1,000 test images (the run's site sample, if it has one) and their encoder means
    graphs     encoder.onnx, decoder.onnx and any head graph, each checked against torch (onnx_graphs.py)
    binaries   digits.u8 labels.u8 means.f32, and regions.u8 for a 2-D model with a head (site_bundle.py)
    runtime    vendor/: the onnxruntime-web runtime, from npm, never a CDN
    pages      every page of site_bundle.PAGES (web/chrome.html around web/pages/<name>.html), their scripts, style.css
    manifest   manifest.json: what the pages need to know about the model, written last

`export_sites([run_a, run_b, ...], out_dir)` writes a site of several models:
each model's data, graphs, binaries and manifest in models/<name>/, the
runtime and pages once, and a root manifest.json listing the models with
their key metrics (the pages' model picker, overview and compare view).

Both build the site in a fresh folder beside `out_dir` and rename it into
place (site_folder.py): a failed export changes nothing, and a folder that is
not a site an export wrote is replaced only with `force=True`.

A run folder may carry its site sample (`SAMPLE_FILE`, written by
`write_site_sample`; every shipped model has one): the test images its site
shows and the technique entries measured from the data (digit codes from
training images, style labels), tied to its weights by their SHA-256. Such a
run always exports from its sample, so the site is the same on every machine
and needs no dataset; any other run reads its images from its data.

Image size, channels and classes are the run's own (`model.shape`, recorded
when it trained): MNIST digits and a user's 32×32 RGB photos export alike.

The names below are this package's export interface (the CLI, the server, setup scripts).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentcraft.data.images import ImageSet
from latentcraft.data.mnist import DataError
from latentcraft.data.source import load_config_data
from latentcraft.evaluation.metrics import encode_split
from latentcraft.explorer.images import item_noun
from latentcraft.explorer.onnx_graphs import (
    CHECK_ATOL,
    CHECK_RTOL,
    DECODER_FILE,
    ENCODER_FILE,
    ExportError,
    check_graph,
    export_graphs,
)
from latentcraft.explorer.site_bundle import (
    DIGITS_FILE,
    LABELS_FILE,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    MEANS_FILE,
    ORT_FILES,
    VENDOR_DIR,
    build_manifest,
    find_runtime,
    run_facts,
    site_entries,
    technique_entries,
    vendor_runtime,
    write_digits,
    write_manifest,
    write_plane,
)
from latentcraft.explorer.site_folder import SiteFolderTaken, building_site, is_site, site_target
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.style.readouts import training_codes_slice
from latentcraft.training.checkpoint import WEIGHTS_FILE, RunError, atomic_write, load_model

MAX_DIGITS = 1000  # test images shipped with the site (C·H·W bytes each: 784 for MNIST)
MODELS_DIR = "models"  # a several-model site keeps each model in models/<name>/
# What the root manifest repeats of each model.
MODEL_SUMMARY_KEYS = ("kind", "latent_dim", "image", "features", "metrics", "metrics_source", "metric_columns")


SAMPLE_FILE = "site_sample.npz"  # in a run folder: the images its site shows and what was measured from the data
SAMPLE_FORMAT = 1  # bump when the sample's layout changes
SAMPLE_REMEDY = ("write it again (scripts/build_pretrained.sh --sample-only RUN_DIR, with MNIST at hand), "
                 "or delete it to export from the dataset")


@dataclass(frozen=True)
class SiteSample:
    """A run folder's site sample: the test images its site shows and its precomputed technique entries."""

    test: ImageSet
    entries: dict[str, Any]


def _load_test(model: LatentModel, max_digits: int, data_dir: str | Path | None) -> ImageSet:
    try:
        return load_config_data(model.config, "test", data_dir, limit=max_digits)
    except DataError as err:
        raise ExportError(f"the test {item_noun(model.shape)}s the site shows could not be loaded: {err}") from None


def _training_reader(model: LatentModel, test: ImageSet) -> Callable[[], ImageSet]:
    def training() -> ImageSet:
        try:
            return training_codes_slice(model, test)
        except DataError as err:
            raise ExportError(f"the training images that define each class's code could not be loaded: {err}") from None

    return training


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_site_sample(run_dir: str | Path, data_dir: str | Path | None = None, max_digits: int = MAX_DIGITS) -> Path:
    """Write RUN_DIR/SAMPLE_FILE from the dataset, so the run exports with none: the first `max_digits`
    test images (uint8 as the data holds them: (N, H, W) grey, (N, H, W, 3) RGB) and labels, and the
    technique entries measured as an export from the data would."""
    run_dir = Path(run_dir)
    model = load_model(run_dir).float()
    test = _load_test(model, max_digits, data_dir)
    entries = technique_entries(model, test, _training_reader(model, test))
    facts = {"format": SAMPLE_FORMAT, "dataset": model.config.data.dataset, "split": "test",
             "weights_sha256": _sha256(run_dir / WEIGHTS_FILE), "technique_entries": entries}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as file:  # a file object: given a name, numpy would append ".npz" to it
            np.savez_compressed(file, images=test.images.numpy().astype(np.uint8),
                                labels=test.labels.numpy().astype(np.uint8), facts=np.array(json.dumps(facts)))
        tmp.chmod(0o644)  # package data: readable by every user of an installed package, unlike a temp file

    atomic_write(run_dir / SAMPLE_FILE, write)
    return run_dir / SAMPLE_FILE


def read_site_sample(run_dir: Path, model: LatentModel) -> SiteSample | None:
    """The run folder's site sample, None if it has none; ExportError naming the file if it is damaged,
    made for other weights or another dataset, or lacks an entry the model's techniques now give."""
    path = run_dir / SAMPLE_FILE
    if not path.is_file():
        return None
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("not an .npz archive")
        with np.load(path, allow_pickle=False) as archive:  # never a pickle
            images, labels, facts = archive["images"], archive["labels"], json.loads(str(archive["facts"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, RecursionError) as err:
        raise ExportError(f"{path} is damaged ({type(err).__name__}: {str(err)[:60]}); {SAMPLE_REMEDY}") from None
    problem = _sample_problem(images, labels, facts, model, run_dir)
    if problem:
        raise ExportError(f"{path} {problem}; {SAMPLE_REMEDY}")
    test = ImageSet(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), shape=model.shape)
    return SiteSample(test, facts["technique_entries"])


def _sample_problem(images: np.ndarray, labels: np.ndarray, facts: Any, model: LatentModel,
                    run_dir: Path) -> str | None:
    """Why a site sample cannot stand in for the dataset; None if it can."""
    shape = model.shape
    wanted = (shape.height, shape.width) if shape.grey else (shape.height, shape.width, shape.channels)
    if images.dtype != np.uint8 or images.shape[1:] != wanted or not len(images):
        return f"holds no uint8 images of the run's shape ({shape.describe()}: N × {' × '.join(map(str, wanted))})"
    if labels.dtype != np.uint8 or labels.shape != (len(images),) or labels.max() >= shape.classes:
        return f"holds no label in 0..{shape.classes - 1} for each of its {len(images)} images"
    if not isinstance(facts, dict) or facts.get("format") != SAMPLE_FORMAT or \
            not isinstance(facts.get("technique_entries"), dict):
        return f"is not a format-{SAMPLE_FORMAT} site sample"
    if facts.get("dataset") != model.config.data.dataset:
        return f"holds {facts.get('dataset')} images, but the run reads {model.config.data.dataset}"
    if facts.get("weights_sha256") != _sha256(run_dir / WEIGHTS_FILE):
        return f"was measured with other weights than those in {WEIGHTS_FILE}"
    missing = sorted({key for t in model.hooks() for key in t.absent_manifest} - set(facts["technique_entries"]))
    if missing:
        return f"lacks the manifest entry {missing[0]!r}, which this version's techniques give"
    return None


def export_model(model: LatentModel, run_dir: Path, out_dir: Path, max_digits: int = MAX_DIGITS,
                 data_dir: str | Path | None = None) -> dict:
    """Write one run's data, graphs and binaries into `out_dir`; returns its manifest (not yet written).

    A run with a site sample shows its first `max_digits` images and reads no dataset.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = read_site_sample(run_dir, model)
    if sample is not None:
        test = sample.test.subset(slice(0, max_digits))
    else:
        test = _load_test(model, max_digits, data_dir)
    mu, _ = encode_split(model, test)
    errors = export_graphs(model, out_dir, test.floats(), mu)
    means = mu.numpy().astype(np.float32)
    write_digits(out_dir, test, means)
    plane = write_plane(out_dir, model, means)
    manifest = build_manifest(model, test, _training_reader(model, test), means, plane, errors,
                              sample.entries if sample is not None else None)
    return {**manifest, **run_facts(run_dir)}


def export_site(run_dir: str | Path, out_dir: str | Path, max_digits: int = MAX_DIGITS,
                data_dir: str | Path | None = None, force: bool = False, data_path: str | Path | None = None) -> dict:
    """Export the run in `run_dir` as a static explorer site in `out_dir`; returns the manifest.

    force: replace `out_dir` even if it is not a site an export wrote (its contents are deleted).
    data_path: where the run's own data lives now, if it moved.
    """
    run_dir = Path(run_dir)
    target = site_target(out_dir, [run_dir], force)
    model = load_model(run_dir, data_path=data_path).float()
    with building_site(target) as build:
        manifest = export_model(model, run_dir, build, max_digits, data_dir)
        manifest.update(site_entries(build))
        write_manifest(build, manifest)
    return manifest


def export_sites(run_dirs: list[str | Path], out_dir: str | Path, max_digits: int = MAX_DIGITS,
                 data_dir: str | Path | None = None, force: bool = False, data_path: str | Path | None = None) -> dict:
    """Export several runs as one site with a model picker and a compare view; returns the root manifest.

    Models are named by their configs, with -2, -3, ... for a name already taken.
    force, data_path: as for `export_site` (one data_path serves runs trained on the same data).
    """
    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    target = site_target(out_dir, run_dirs, force)
    # Every run (and its data) is checked before anything is built.
    models = [load_model(run_dir, data_path=data_path).float() for run_dir in run_dirs]
    entries: list[dict] = []
    with building_site(target) as build:
        for run_dir, model in zip(run_dirs, models):
            name, n = model.config.name, 2
            while name in [e["name"] for e in entries]:
                name, n = f"{model.config.name}-{n}", n + 1
            folder = f"{MODELS_DIR}/{name}"
            manifest = {**export_model(model, Path(run_dir), build / folder, max_digits, data_dir), "name": name}
            write_manifest(build / folder, manifest)
            entries.append({"name": name, "dir": folder, **{key: manifest[key] for key in MODEL_SUMMARY_KEYS}})
        root = {"format": MANIFEST_FORMAT, "models": entries, **site_entries(build)}
        write_manifest(build, root)
    return root


def is_stale(site: Path, run_dir: Path) -> bool:
    """True if the site is missing or older than the run's weights or site sample."""
    manifest = site / MANIFEST_FILE
    if not manifest.is_file():
        return True
    sources = [run_dir / WEIGHTS_FILE, run_dir / SAMPLE_FILE]
    return any(p.is_file() and p.stat().st_mtime > manifest.stat().st_mtime for p in sources)


__all__ = [
    "ExportError", "RunError", "SiteFolderTaken", "export_site", "export_sites", "export_model", "check_graph",
    "vendor_runtime", "find_runtime", "is_site", "is_stale", "write_site_sample", "read_site_sample", "SAMPLE_FILE",
    "CHECK_ATOL", "CHECK_RTOL", "MANIFEST_FILE", "ENCODER_FILE", "DECODER_FILE", "DIGITS_FILE", "LABELS_FILE",
    "MEANS_FILE", "ORT_FILES", "VENDOR_DIR", "MAX_DIGITS",
]
