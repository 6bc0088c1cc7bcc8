"""`latentcraft demo` on a bare machine: no MNIST anywhere, an empty cache and HOME, no network.

The shipped model carries its site sample (the test digits its site shows and what was measured
from the training images), so the demo reads no dataset and fetches nothing; a user's own run
still exports from the dataset.
"""

import json
import os
import shutil
import sys
import urllib.request

import numpy as np
import pytest
import torch

from latentcraft.config.run_config import resolve_config
from latentcraft.data import mnist
from latentcraft.data.mnist import DATA_DIR_ENV, DataError, load_split
from latentcraft.explorer import export
from latentcraft.explorer.export import SAMPLE_FILE, ExportError, export_site, is_stale, write_site_sample
from latentcraft.explorer.pretrained import DEFAULT_MODEL, pack, pretrained_run
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt

from demo_process import running_demo

SAMPLE_BYTES = 400_000  # the sample's share of the shipped folder (1,000 digits, compressed)
# Runs the CLI with every outgoing connection and every dataset lookup refused, so a demo that
# tried either fails loudly instead of quietly finding a copy (e.g. in /usr/share/datasets).
GUARDED_CLI = """
import socket, sys
from latentcraft.data import mnist

def no_network(*args, **kwargs):
    raise OSError("the demo opened a network connection")

def no_dataset(*args, **kwargs):
    raise mnist.DataError("the demo looked for a dataset")

socket.socket.connect = socket.socket.connect_ex = socket.create_connection = no_network
mnist.locate = no_dataset
from latentcraft.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_the_demo_on_a_machine_without_mnist_serves_the_shipped_model_and_fetches_nothing(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    cache.mkdir()
    env = {k: v for k, v in os.environ.items() if k != DATA_DIR_ENV}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache))
    with running_demo([sys.executable, "-c", GUARDED_CLI, "demo", "--port", "0"], env, tmp_path) as lines:
        base = lines[-1].split()[1].rsplit("/", 1)[0]
        manifest = json.loads(_fetch(f"{base}/manifest.json"))
        assert manifest["name"] == DEFAULT_MODEL and manifest["digits"] == export.MAX_DIGITS
        pixels = manifest["image"]["height"] * manifest["image"]["width"]
        digits, labels, means = (_fetch(f"{base}/{manifest['files'][name]}") for name in ("digits", "labels", "means"))
        assert len(digits) == manifest["digits"] * pixels and len(labels) == manifest["digits"]
        assert len(means) == manifest["digits"] * manifest["latent_dim"] * 4
        assert set(labels) == set(range(10))
        # What needs the training images (digit codes) and the test digits (style labels) is there.
        assert all(row is not None for row in manifest["digit_codes"]["codes"])
        assert len(manifest["style_labels"]) == len(manifest["techniques"]["routing"]["free"])
    assert not any(home.iterdir()), "the demo wrote into HOME"
    assert sorted(p.name for p in (cache / "latentcraft").iterdir()) == ["demo-sites"]  # no dataset was fetched
    assert not [p for p in cache.rglob("*") if "idx" in p.name or p.suffix in (".gz", ".part")]


@pytest.fixture
def no_dataset(monkeypatch, tmp_path):
    """No MNIST can be found in this process (the data cache is empty, and any lookup fails)."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))

    def refuse(dataset, *args, **kwargs):
        raise DataError(f"{dataset} not found (this test hides every copy)")

    monkeypatch.setattr(mnist, "locate", refuse)


def test_the_shipped_sample_is_small_and_is_the_first_test_digits(mnist_dir):
    path = pretrained_run() / SAMPLE_FILE
    assert path.stat().st_size < SAMPLE_BYTES
    model = ckpt.load_model(pretrained_run()).float()
    sample = export.read_site_sample(pretrained_run(), model)
    test = load_split("mnist", "test", limit=export.MAX_DIGITS)
    assert sample.test.images.dtype == torch.uint8
    assert torch.equal(sample.test.images, test.images) and torch.equal(sample.test.labels, test.labels)


def test_the_shipped_models_site_is_the_one_the_dataset_gives(tmp_path, mnist_dir):
    """The precomputed entries are those an export from the data computes, to the last bit."""
    from_data = tmp_path / "run"
    shutil.copytree(pretrained_run(), from_data)
    (from_data / SAMPLE_FILE).unlink()
    expected = export_site(from_data, tmp_path / "site-data")
    got = export_site(pretrained_run(), tmp_path / "site-sample")
    assert got == expected
    for name in ("digits.u8", "labels.u8", "means.f32"):
        assert (tmp_path / "site-sample" / name).read_bytes() == (tmp_path / "site-data" / name).read_bytes()


def _small_run(folder, overrides=()):
    config = resolve_config("routed-style", overrides=["model.encoder_hidden=[32]", "model.decoder_hidden=[32]",
                                                       *overrides])
    torch.manual_seed(0)
    ckpt.save_model(build_model(config), folder)
    ckpt.write_json(folder / ckpt.SUMMARY_FILE, {"name": config.name, "epochs": 0, "final": {}})
    return folder


def test_pack_writes_the_sample_and_the_packed_run_exports_with_no_dataset(tmp_path, mnist_dir, monkeypatch):
    pack(_small_run(tmp_path / "run"), tmp_path / "shipped", evaluate=False)
    assert (tmp_path / "shipped" / SAMPLE_FILE).is_file()
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (tmp_path / "shipped").iterdir())  # package data
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.setattr(mnist, "locate", lambda *a, **k: pytest.fail("the export looked for a dataset"))
    manifest = export_site(tmp_path / "shipped", tmp_path / "site", max_digits=50)
    assert manifest["digits"] == 50 and manifest["digit_codes"]["coordinates"] == list(range(10))


def test_a_users_own_run_still_exports_from_the_dataset(tmp_path, no_dataset):
    with pytest.raises(ExportError, match="the test digits the site shows could not be loaded: mnist not found"):
        export_site(_small_run(tmp_path / "run"), tmp_path / "site")


def _sample_of_a_small_run(tmp_path):
    run = _small_run(tmp_path / "run")
    write_site_sample(run, max_digits=100)
    return run


def test_a_sample_of_other_weights_is_refused_naming_it(tmp_path, mnist_dir):
    run = _sample_of_a_small_run(tmp_path)
    torch.manual_seed(1)
    ckpt.save_model(build_model(ckpt.load_config(run)), run)  # retrained, say, but the sample kept
    with pytest.raises(ExportError, match=rf"{SAMPLE_FILE} was measured with other weights than those in "
                       rf"{ckpt.WEIGHTS_FILE}; write it again"):
        export_site(run, tmp_path / "site")


@pytest.mark.parametrize("damage", ["bytes", "truncated", "pickle", "labels"])
def test_a_damaged_sample_is_refused_naming_it_and_never_unpickled(tmp_path, mnist_dir, damage):
    run = _sample_of_a_small_run(tmp_path)
    path = run / SAMPLE_FILE
    if damage == "bytes":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    else:
        with np.load(path) as archive:
            arrays = dict(archive)
        if damage == "pickle":
            arrays["facts"] = np.array([{"format": 1}], dtype=object)
        else:
            arrays["labels"] = arrays["labels"][:-1]
        with open(path, "wb") as file:
            np.savez(file, **arrays, allow_pickle=True) if damage == "pickle" else np.savez(file, **arrays)
    with pytest.raises(ExportError, match=rf"{SAMPLE_FILE} (is damaged|holds no label).*; write it again"):
        export_site(run, tmp_path / "site")


def test_a_newer_sample_makes_the_cached_site_stale(tmp_path, mnist_dir):
    run = _sample_of_a_small_run(tmp_path)
    export_site(run, tmp_path / "site")
    assert not is_stale(tmp_path / "site", run)
    stamp = (tmp_path / "site" / export.MANIFEST_FILE).stat().st_mtime + 10
    os.utime(run / SAMPLE_FILE, (stamp, stamp))
    assert is_stale(tmp_path / "site", run)
