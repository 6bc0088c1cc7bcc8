"""The static explorer site around the graphs: data files, manifest, pages and the onnxruntime-web runtime.

    manifest.json                what the pages need to know about the model
    digits.u8 labels.u8 means.f32   test images (digits or not), their labels and encoder means
    regions.u8                   decision-region raster of a head graph, for 2-D models
    *.html                       the pages: web/chrome.html around each web/pages/<name>.html
    pages/*.js lib/*.js style.css   the pages' scripts, the modules they share, the stylesheet (web/)
    vendor/                      the onnxruntime-web runtime (from npm, never a CDN)

`PAGES` is the one list of pages: a new page is web/pages/<name>.html (its
<title>, <h1> and the content of its <main>), web/pages/<name>.js and one line
there. The head (with the Content-Security-Policy), the header and its
navigation are written once, in web/chrome.html.

What a technique adds (routes, slider ranges, coordinate names, head graphs)
comes from its hooks (shaping.Technique); nothing here asks for one by name.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from latentcraft.data.images import ImageSet
from latentcraft.evaluation.readouts import REGION_RESOLUTION, central_range, decision_regions
from latentcraft.evaluation.registry import PREDICTIONS, format_value, metric_label
from latentcraft.explorer.images import channel_first_pixels, dataset_name, drawable, drawing_fit, item_noun
from latentcraft.explorer.onnx_graphs import (
    CHECK_ATOL,
    CHECK_RTOL,
    DECODER_FILE,
    ENCODER_FILE,
    ExportError,
    label_table,
)
from latentcraft.model.vae import LatentModel
from latentcraft.techniques.registry import TECHNIQUES
from latentcraft.training.checkpoint import EVAL_FILE, SUMMARY_FILE, read_eval, read_summary

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 2  # bump when the pages need a different manifest layout (2: "image", "label_input", "pages")
DIGITS_FILE = "digits.u8"  # (N, channels * height * width) uint8 pixels, channel-first as the models read them
LABELS_FILE = "labels.u8"  # (N,) uint8 labels
MEANS_FILE = "means.f32"  # (N, D) float32 little-endian encoder means
REGIONS_FILE = "regions.u8"  # (R, R) uint8 argmax of a head, row 0 = top of the plane

SLIDER_STEPS = 100  # a data-range slider moves in (max - min) / SLIDER_STEPS
PRIOR_RANGE = 3.0  # the prior-sample grid covers [-3, 3]^2 (experiments.md §4)
PRIOR_GRID_STEPS = 15  # decodes per side of that grid
PLANE_PADDING = 0.05  # fraction of the extent added around the plane's contents

ORT_PACKAGE = "onnxruntime-web"
# The wasm-only ES-module build with its Emscripten glue bundled in needs just
# these two files; the threaded wasm runs single-threaded when the page is not
# cross-origin isolated (static hosts rarely are), which is what we ask for.
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
VENDOR_DIR = "vendor"
RUNTIME_BANNER = re.compile(r"ONNX Runtime Web v(\d+\.\d+\.\d+\S*)")  # in the bundle's licence comment
RUNTIME_BANNER_BYTES = 400  # the comment opens the file
WEB_DIR = "web"
CHROME_FILE = "chrome.html"  # the head, header and navigation every page shares
PAGES_DIR = "pages"  # web/pages: each page's content and script
LIB_DIR = "lib"  # web/lib: the modules the pages share, and boot.js
REPO_ROOT = Path(__file__).resolve().parents[3]  # meaningful only in a source checkout


# ---- the onnxruntime-web runtime ----------------------------------------------------------------


def runtime_sources() -> list[Path]:
    """Where the runtime files may be: the installed package's web/vendor, then ./node_modules."""
    package_vendor = Path(str(web_files() / VENDOR_DIR))
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
    """The runtime's version: from npm's package.json, else from the bundle's banner (a wheel has no package.json)."""
    package_json = folder.parent / "package.json"
    if package_json.is_file():
        return json.loads(package_json.read_text()).get("version")
    with open(folder / ORT_FILES[0], encoding="utf-8", errors="replace") as bundle:
        found = RUNTIME_BANNER.search(bundle.read(RUNTIME_BANNER_BYTES))
    return found.group(1) if found else None


def copy_runtime(out_dir: Path) -> dict[str, str | None]:
    source = find_runtime()
    (out_dir / VENDOR_DIR).mkdir(exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(source / name, out_dir / VENDOR_DIR / name)
    return {"module": f"{VENDOR_DIR}/{ORT_FILES[0]}", "wasm": f"{VENDOR_DIR}/{ORT_FILES[1]}",
            "version": runtime_version(source)}


# ---- the pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SitePage:
    """One page: <name>.html in the site, made from web/pages/<name>.html (a <title> line, an <h1>
    line, then the content of its <main>) and, if there is one, web/pages/<name>.js."""

    name: str
    link: str | None  # the navigation's text for it; None: not in the navigation
    feature: str | None = None  # the model's "features" flag the page needs (None: every model)
    models: int = 1  # how many models the site must hold
    about: str = ""  # what it does, for the overview's list of pages ("digit" becomes the model's noun there)
    about_drawing: str = ""  # what it adds for a model with a drawing pad
    unavailable: str = ""  # why a model may lack it, for that list
    root: str = ""  # prefix of its links to site files: "/" for a page served at any address

    @property
    def file(self) -> str:
        return f"{self.name}.html"


# The one list of pages, in navigation order.
PAGES = (
    SitePage("index", "Overview"),
    SitePage("sliders", "Sliders", "sliders",
             about="one slider per latent coordinate, random test digits", about_drawing=", draw your own"),
    SitePage("plane", "Plane", "plane", about="hover the 2-D latent plane to decode any point",
             unavailable="needs a 2-D latent"),
    SitePage("traversal", "Traversal", "traversal", about="sweep one coordinate of an encoded digit across its range"),
    SitePage("compare", "Compare", models=2, about="two models side by side: the same test digit, drawing or slider "
             "vector through both"),
    SitePage("404", None, root="/"),  # the server's answer to an unknown address, at any depth
)
FRAGMENT = re.compile(r"<title>(?P<title>[^<]*)</title>\n<h1>(?P<heading>[^<]*)</h1>\n(?P<main>.*)", re.DOTALL)


def web_files() -> Traversable:
    """The package's web/ folder (in a wheel too)."""
    return resources.files("latentcraft.explorer") / WEB_DIR


def page_entries(pages: Iterable[SitePage] = PAGES) -> list[dict[str, Any]]:
    """The navigable pages, as the manifest gives them to the overview and the navigation."""
    return [{"file": p.file, "link": p.link, "feature": p.feature, "models": p.models, "about": p.about,
             "about_drawing": p.about_drawing, "unavailable": p.unavailable} for p in pages if p.link is not None]


def navigation(page: SitePage, pages: Iterable[SitePage]) -> str:
    """The header's links. Those a model may lack start hidden; lib/page.js shows the ones it has."""
    links = []
    for other in pages:
        if other.link is None:
            continue
        needs = (f' data-feature="{other.feature}"' if other.feature else "") + \
            (f' data-models="{other.models}"' if other.models > 1 else "")
        hidden = " hidden" if needs else ""
        links.append(f'<a href="{page.root}{other.file}"{needs}{hidden}>{html.escape(other.link)}</a>')
    return "".join(links)


def render_page(page: SitePage, chrome: str, fragment: str, has_script: bool, pages: Iterable[SitePage]) -> str:
    """web/chrome.html around one page's fragment: its title, heading and content, and its script."""
    found = FRAGMENT.fullmatch(fragment)
    if found is None:
        raise ExportError(f"{WEB_DIR}/{PAGES_DIR}/{page.file} must start with a <title> line and an <h1> line")
    scripts = (f'<script defer src="{page.root}{LIB_DIR}/boot.js"></script>\n',
               f'<script type="module" src="{page.root}{PAGES_DIR}/{page.name}.js"></script>\n')
    return Template(chrome).substitute(
        name=page.name, root=page.root, title=found["title"], heading=found["heading"], main=found["main"],
        nav=navigation(page, pages), head_scripts=scripts[0] if has_script else "",
        body_scripts=scripts[1] if has_script else "")


def _files(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _files(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry


def copy_pages(out_dir: Path, web: Traversable | None = None, pages: Iterable[SitePage] = PAGES) -> list[str]:
    """Write every page of `pages` and copy the scripts and the stylesheet; returns the files written.

    The page fragments and the chrome are not copied: the pages are made of them.
    """
    web = web if web is not None else web_files()
    pages = tuple(pages)
    chrome = (web / CHROME_FILE).read_text(encoding="utf-8")
    written = []
    for page in pages:
        script = web / PAGES_DIR / f"{page.name}.js"
        fragment = (web / PAGES_DIR / page.file).read_text(encoding="utf-8")
        (out_dir / page.file).write_text(render_page(page, chrome, fragment, script.is_file(), pages), encoding="utf-8")
        written.append(page.file)
    for name, entry in _files(web):
        if name == CHROME_FILE or name.startswith(f"{VENDOR_DIR}/") or name.endswith(".html"):
            continue  # the runtime is copy_runtime's; every .html is a page's fragment or the chrome
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_bytes(entry.read_bytes())
        written.append(name)
    return sorted(written)


# ---- what the pages show ------------------------------------------------------------------------


def write_digits(out_dir: Path, test: ImageSet, mu: np.ndarray) -> None:
    """The test images, their labels and their encoder means as raw little-endian arrays."""
    (out_dir / DIGITS_FILE).write_bytes(channel_first_pixels(test).tobytes())
    (out_dir / LABELS_FILE).write_bytes(test.labels.numpy().astype(np.uint8).tobytes())
    (out_dir / MEANS_FILE).write_bytes(mu.astype("<f4").tobytes())


def model_kind(model: LatentModel) -> str:
    kinds = [t.kind for t in model.hooks() if t.kind]
    if kinds:
        return kinds[0]
    return "autoencoder" if model.config.model.deterministic else "vae"


def coordinate_labels(model: LatentModel) -> list[str]:
    """What each latent coordinate means (e.g. the class that owns it); "z<i>" where no technique says."""
    names = list(model.shape.class_names)
    for technique in model.hooks():
        labels = technique.coordinate_labels(names)
        if labels is not None:
            return labels
    return [f"z{i}" for i in range(model.config.model.latent_dim)]


def slider_ranges(model: LatentModel, mu: np.ndarray) -> list[dict[str, float]]:
    """Per coordinate {min, max, step}: a technique's own ranges (routing: 0-3), else the 1st-99th percentile of μ."""
    for technique in model.hooks():
        ranges = technique.slider_ranges(mu)
        if ranges is not None:
            return ranges
    low, high = central_range(mu, axis=0)
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


def write_plane(out_dir: Path, model: LatentModel, mu: np.ndarray) -> dict[str, Any] | None:
    """For a 2-D latent: the plane's extent and, when a technique has a head graph, its decision regions."""
    if model.config.model.latent_dim != 2:
        return None
    extent = plane_extent(model, mu)
    heads = [t for t in model.hooks() if t.head_graph is not None]
    if not heads:
        return {"extent": extent, "regions": None}
    (out_dir / REGIONS_FILE).write_bytes(decision_regions(heads[0].predict, extent).tobytes())
    return {"extent": extent, "regions": {"file": REGIONS_FILE, "resolution": REGION_RESOLUTION}}


def head_entries(model: LatentModel) -> tuple[dict[str, bool], dict[str, str | None]]:
    """Manifest flag and file of every head graph a technique can have (None for the model's absent heads)."""
    exported = {t.head_graph.name for t in model.hooks() if t.head_graph is not None}
    flags, files = {}, {}
    for head in (cls.head_graph for cls in TECHNIQUES.values() if cls.head_graph is not None):
        flags[head.name] = head.name in exported
        files[head.name] = f"{head.name}.onnx" if head.name in exported else None
    return flags, files


def technique_entries(model: LatentModel, test: ImageSet, training: Callable[[], ImageSet],
                      precomputed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The top-level entries techniques give the pages (e.g. routes), with their values for absent ones.

    precomputed: the model's own entries as measured earlier on the data (a shipped model's site sample),
    used instead of asking its techniques, which may need the training images.
    """
    entries: dict[str, Any] = {}
    for cls in TECHNIQUES.values():
        entries.update(cls.absent_manifest)
    if precomputed is not None:
        return {**entries, **precomputed}
    for technique in model.hooks():
        entries.update(technique.manifest_entries(model, test, training))
    return entries


def build_manifest(model: LatentModel, test: ImageSet, training: Callable[[], ImageSet], mu: np.ndarray,
                   plane: dict[str, Any] | None, errors: dict[str, float],
                   precomputed: dict[str, Any] | None = None) -> dict[str, Any]:
    """One model's manifest; the site adds where the runtime and pages are (`site_entries`).

    test: the images the site shows; training: reads the training slice, for a technique that needs it;
    precomputed: the technique entries measured earlier (see `technique_entries`), so no data is read.
    """
    config = model.config
    flags, head_files = head_entries(model)
    return {
        "format": MANIFEST_FORMAT,
        "name": config.name,
        "description": config.description,
        "kind": model_kind(model),
        "dataset": dataset_name(config),
        "class_names": list(model.shape.class_names),
        "image": {"height": model.shape.height, "width": model.shape.width, "channels": model.shape.channels},
        "item": item_noun(model.shape),
        "drawing_fit": drawing_fit(model.shape),
        "latent_dim": config.model.latent_dim,
        "relu_latent": config.model.relu_latent,
        "deterministic": config.model.deterministic,
        "techniques": {name: t.describe() for name, t in model.named_hooks().items()},
        **technique_entries(model, test, training, precomputed),
        "coordinate_labels": coordinate_labels(model),
        "sliders": slider_ranges(model, mu),
        "label_input": label_table(model) is not None,  # the decoder also takes a class label
        **flags,
        "files": {
            "encoder": ENCODER_FILE, "decoder": DECODER_FILE, **head_files,
            "digits": DIGITS_FILE, "labels": LABELS_FILE, "means": MEANS_FILE,
        },
        "digits": len(test),
        "plane": plane,
        "prior_grid": {"range": PRIOR_RANGE, "steps": PRIOR_GRID_STEPS} if not config.model.deterministic else None,
        "features": {
            "sliders": True,
            "drawing": drawable(config, model.shape),
            "traversal": True,
            "plane": config.model.latent_dim == 2,
        },
        "check": {"rtol": CHECK_RTOL, "atol": CHECK_ATOL, "max_abs_error": errors},
    }


def run_facts(run_dir: Path) -> dict[str, Any]:
    """How the run was trained (its summary.json) and how well it does: eval.json's metrics,
    else the test metrics training logged last; empty entries for a run folder without them."""
    summary = read_summary(run_dir) if (run_dir / SUMMARY_FILE).is_file() else {}
    record = read_eval(run_dir)
    metrics = record.get("metrics", {}) if record else summary.get("final", {})
    training = {key: summary[key] for key in ("epochs", "seed", "wall_time_s") if key in summary}
    return {"training": training or None, "metrics": metrics, "metrics_source": EVAL_FILE if record else SUMMARY_FILE,
            "metric_columns": metric_columns(metrics)}


# What the overview shows besides the accuracy of each technique's prediction (registry.PREDICTIONS).
OVERVIEW_METRICS = ("test_recon_sq", "test_recon_bce", "test_elbo", "dci_disentanglement", "dci_completeness")


def metric_columns(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The overview's metrics: the accuracy of every registered prediction (as a percentage), then
    OVERVIEW_METRICS as reports print them, each with its label (value None where the run has none).
    Every model of a site gets the same keys."""
    accuracies = [f"test_{name}" for name in PREDICTIONS]
    columns = []
    for key in [*accuracies, *(k for k in OVERVIEW_METRICS if k not in accuracies)]:
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            shown: str | None = f"{100 * value:.2f}%" if key in accuracies else format_value(value)
        else:
            shown = None
        columns.append({"key": key, "label": metric_label(key), "value": shown})
    return columns


def site_entries(out_dir: Path) -> dict[str, Any]:
    """The runtime and the pages, copied into `out_dir` once for every model of the site."""
    copy_pages(out_dir)
    return {"runtime": copy_runtime(out_dir), "pages": page_entries()}


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    # A plain write (not checkpoint.write_json's temp file) keeps the usual 0644 mode for web servers.
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
