"""Export trained runs as a static explorer site that works offline and from any static host
(the demos of experiments.md §1 and §3).

`export_site(run_dir, out_dir)` writes one model's site, in six steps:

    data       up to 1,000 test digits and their encoder means
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

The names below are this package's export interface (the CLI, the server, setup scripts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentcraft.data.mnist import DataError, ImageSet, load_config_data
from latentcraft.evaluation.metrics import encode_split
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
    vendor_runtime,
    write_digits,
    write_manifest,
    write_plane,
)
from latentcraft.explorer.site_folder import SiteFolderTaken, building_site, is_site, site_target
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.style.readouts import training_codes_slice
from latentcraft.training.checkpoint import WEIGHTS_FILE, RunError, load_model

MAX_DIGITS = 1000  # test digits shipped with the site (784 bytes each)
MODELS_DIR = "models"  # a several-model site keeps each model in models/<name>/
# What the root manifest repeats of each model.
MODEL_SUMMARY_KEYS = ("kind", "latent_dim", "features", "metrics", "metrics_source", "metric_columns")


def site_data(model: LatentModel, max_digits: int, data_dir: str | Path | None) -> tuple[ImageSet, torch.Tensor]:
    """The test digits the site shows and their encoder means (N, D)."""
    try:
        test = load_config_data(model.config, "test", data_dir, limit=max_digits)
    except DataError as err:
        raise ExportError(f"the test digits the site shows could not be loaded: {err}") from None
    mu, _ = encode_split(model, test)
    return test, mu


def export_model(model: LatentModel, run_dir: Path, out_dir: Path, max_digits: int = MAX_DIGITS,
                 data_dir: str | Path | None = None) -> dict:
    """Write one run's data, graphs and binaries into `out_dir`; returns its manifest (not yet written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    test, mu = site_data(model, max_digits, data_dir)
    errors = export_graphs(model, out_dir, test.floats(), mu)
    means = mu.numpy().astype(np.float32)
    write_digits(out_dir, test, means)
    plane = write_plane(out_dir, model, means)

    def training() -> ImageSet:
        try:
            return training_codes_slice(model, test)
        except DataError as err:
            raise ExportError(f"the training digits that define each digit's code could not be loaded: {err}") from None

    return {**build_manifest(model, test, training, means, plane, errors), **run_facts(run_dir)}


def export_site(run_dir: str | Path, out_dir: str | Path, max_digits: int = MAX_DIGITS,
                data_dir: str | Path | None = None, force: bool = False) -> dict:
    """Export the run in `run_dir` as a static explorer site in `out_dir`; returns the manifest.

    force: replace `out_dir` even if it is not a site an export wrote (its contents are deleted).
    """
    run_dir = Path(run_dir)
    target = site_target(out_dir, [run_dir], force)
    model = load_model(run_dir).float()
    with building_site(target) as build:
        manifest = export_model(model, run_dir, build, max_digits, data_dir)
        manifest.update(site_entries(build))
        write_manifest(build, manifest)
    return manifest


def export_sites(run_dirs: list[str | Path], out_dir: str | Path, max_digits: int = MAX_DIGITS,
                 data_dir: str | Path | None = None, force: bool = False) -> dict:
    """Export several runs as one site with a model picker and a compare view; returns the root manifest.

    Models are named by their configs, with -2, -3, ... for a name already taken.
    force: as for `export_site`.
    """
    run_dirs = [Path(run_dir) for run_dir in run_dirs]
    target = site_target(out_dir, run_dirs, force)
    models = [load_model(run_dir).float() for run_dir in run_dirs]  # every run is checked before anything is built
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
    """True if the site is missing or older than the run's weights."""
    manifest = site / MANIFEST_FILE
    weights = run_dir / WEIGHTS_FILE
    if not manifest.is_file():
        return True
    return weights.is_file() and weights.stat().st_mtime > manifest.stat().st_mtime


__all__ = [
    "ExportError", "RunError", "SiteFolderTaken", "export_site", "export_sites", "export_model", "check_graph",
    "vendor_runtime", "find_runtime", "is_site", "is_stale",
    "CHECK_ATOL", "CHECK_RTOL", "MANIFEST_FILE", "ENCODER_FILE", "DECODER_FILE", "DIGITS_FILE", "LABELS_FILE",
    "MEANS_FILE", "ORT_FILES", "VENDOR_DIR", "MAX_DIGITS",
]
