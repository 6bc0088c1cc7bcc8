"""Shared fixtures: real MNIST from $LATENTCRAFT_DATA_DIR (default ../shared/data/mnist), or its mnist/ subfolder."""

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest
import torch

from latentcraft.data.mnist import DATA_DIR_ENV, DataError, locate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist"
os.environ.setdefault(DATA_DIR_ENV, str(DEFAULT_MNIST))
torch.set_num_threads(1)  # tests are small; one thread avoids oversubscribing CI's two cores


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding MNIST, found as the library finds it ($LATENTCRAFT_DATA_DIR or its mnist/ subfolder)."""
    try:
        return locate("mnist").resolve()  # absolute: tests symlink to it from temp folders
    except DataError as err:
        pytest.fail(str(err))


# ---- the explorer in a browser: one exported, served site per model kind and session ----------------


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright; the browser tests skip without either."""
    from browser import CHROMIUM, CHROMIUM_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (set LATENTCRAFT_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _served(site: Path):
    from browser import serve

    server = serve(site)
    yield site, server
    server.shutdown()


@pytest.fixture(scope="session")
def routed(tmp_path_factory, mnist_dir):
    """A routed model after one quick epoch: (site folder, server)."""
    from browser import quick_site

    yield from _served(quick_site(tmp_path_factory.mktemp("web-routed"), "routed10-original"))


@pytest.fixture(scope="session")
def routed_style(tmp_path_factory, mnist_dir):
    """The routed-style preset after two quick epochs, the second with both paths: (site folder, server)."""
    from browser import quick_site

    style = ("train.epochs=2", "style.start_epoch=1")
    yield from _served(quick_site(tmp_path_factory.mktemp("web-routed-style"), "routed-style", style))


@pytest.fixture(scope="session")
def conditional(tmp_path_factory, mnist_dir):
    from browser import quick_site

    yield from _served(quick_site(tmp_path_factory.mktemp("web-cvae"), "cvae2d"))


@pytest.fixture(scope="session")
def classifier(tmp_path_factory, mnist_dir):
    """A 2-D VAE with a classifier head (clf2d) after one quick epoch."""
    from browser import quick_site

    yield from _served(quick_site(tmp_path_factory.mktemp("web-clf"), "clf2d"))


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory, mnist_dir):
    """The fully trained routed model shipped in the package (what `latentcraft demo` shows)."""
    from latentcraft.explorer.export import export_site
    from latentcraft.explorer.pretrained import pretrained_run

    from browser import SITE_DIGITS

    site = tmp_path_factory.mktemp("web-pretrained") / "site"
    export_site(pretrained_run(), site, max_digits=SITE_DIGITS)
    yield from _served(site)


# ---- the digit judge of `evaluate` ---------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def tiny_digit_judge(tmp_path_factory):
    """`evaluate` reads generated digits with the digit judge, whose real training takes a minute or more.

    Every test gets a judge trained on 600 images instead (a few seconds, once, only if a test asks for
    one); test_judge.py checks the real training and caching.
    """
    from latentcraft.evaluation import judge as judge_module

    folder = tmp_path_factory.mktemp("judge")
    real = judge_module.ensure_judge
    recipe = judge_module.JudgeRecipe(epochs=2, batch_size=32)

    def tiny(dataset="mnist", data_dir=None, download=False, **ignored):
        return real(dataset, data_dir, download, folder=folder, train_limit=600, test_limit=1000, recipe=recipe,
                    progress=False)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judge_module, "ensure_judge", tiny)
        yield


def load_script(path: Path) -> types.ModuleType:
    """A benchmark or drill script imported as a module, so tests can call its functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module
