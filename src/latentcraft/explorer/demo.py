"""`latentcraft demo`: one command from nothing to the explorer in a browser.

By default it shows the small routed model shipped in the package
(latentcraft/explorer/pretrained), so nothing trains and no dataset is read:
the shipped folder carries the test digits its site shows (its site sample,
export.SAMPLE_FILE), the site is exported from them once into the cache and
served on 127.0.0.1, and nothing is fetched. `--train` trains a quick routed
model instead (also cached, so the next demo starts at once); `--run-dir`
shows any trained run, which reads its test images from its data (MNIST or the
user's own, of any recorded size, colour and class count).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from latentcraft.config.run_config import resolve_config
from latentcraft.data.mnist import DataError, cache_root, locate
from latentcraft.data.source import mnist_format
from latentcraft.explorer.pretrained import DEFAULT_MODEL, pretrained_root, pretrained_run
from latentcraft.training.checkpoint import CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE, RunError

DEMO_PRESET = "routed10"  # the headline model: gradient routing, one latent axis per digit
DEMO_EPOCHS = 5  # about 1.5 minutes on a 2-core CPU; routed10 reads ~96% of test digits by then
DEMO_RUN = "demo-run"  # folder name in the cache for the --train model
DEMO_SITES = "demo-sites"  # exported sites of the shipped models, in the cache (the package may be read-only)
DEMO_PAGE = "sliders.html"


def demo_cache_dir() -> Path:
    return cache_root() / DEMO_RUN


def demo_run(run_dir: Path | None = None, train: bool = False, epochs: int = DEMO_EPOCHS,
             overrides: Sequence[str] = (), progress: bool = True) -> Path:
    """The run to show: `run_dir` if given (must exist), the quick trained model with
    `train` (trained into the cache if missing), else the pretrained model in the package."""
    if run_dir is not None:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunError(f"{run_dir} is not a run folder: {CONFIG_FILE} is missing")
        return run_dir
    if not train:
        return pretrained_run(DEFAULT_MODEL)
    run_dir = demo_cache_dir()
    if (run_dir / SUMMARY_FILE).is_file():
        print(f"using the cached demo model in {run_dir} (delete the folder to retrain)")
        return run_dir
    from latentcraft.training.trainer import train as train_run

    config = resolve_config(DEMO_PRESET, overrides=[f"train.epochs={epochs}", *overrides])
    resume = (run_dir / CHECKPOINT_FILE).is_file()
    print(f"training a quick demo model: preset {DEMO_PRESET}, {epochs} epochs, into {run_dir}"
          f"{' (resuming)' if resume else ''}; this happens once", flush=True)
    train_run(config, run_dir, resume=resume, progress=progress)
    return run_dir


def demo_site(run_dir: Path, data_dir: str | None = None, download: bool = False,
              data_path: str | Path | None = None) -> Path:
    """The exported site of `run_dir`, exported first when missing or older than the weights
    (reading the run's own data from `data_path` if it moved).

    A shipped model's site goes to the cache (the package may be read-only),
    any other run's to its own site/ folder, as `latentcraft serve` does.
    """
    from latentcraft.explorer.export import SAMPLE_FILE, export_site, is_stale
    from latentcraft.explorer.onnx_graphs import ExportError
    from latentcraft.explorer.serve import SITE_SUBDIR

    shipped = run_dir.resolve().parent == pretrained_root().resolve()
    site = cache_root() / DEMO_SITES / run_dir.name if shipped else run_dir / SITE_SUBDIR
    if is_stale(site, run_dir):
        # The site shows real test images: fetch them now if asked to, unless the run carries its own
        # or reads data nothing can download (the user's own files, a generated set).
        config = resolve_config(config_file=run_dir / CONFIG_FILE) if download else None
        if config and not (run_dir / SAMPLE_FILE).is_file() and mnist_format(config):
            try:
                locate(config.data.dataset, data_dir, download=True)
            except DataError as err:
                raise ExportError(str(err)) from None
        print(f"exporting {run_dir} to {site} ...", flush=True)
        export_site(run_dir, site, data_dir=data_dir, data_path=data_path)
    return site
