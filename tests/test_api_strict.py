"""The Python API refuses hostile arguments as the command line does: one package error, one line, nothing written.

Every case in CASES is a call that must fail with the package's own error
(ArgumentError for an argument's type, shape or value; ConfigError where the
command line's --set/--preset/--grid gives one; the export's own refusal of a
target folder), never with TypeError, AttributeError, KeyError, IndexError or
a torch RuntimeError from deep inside; its message is one line naming the
argument, and the call leaves every file under the test's folder as it was
(a refused train or sweep creates no folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import latentcraft
from latentcraft.api import make_config
from latentcraft.errors import ArgumentError, ConfigError, LatentcraftError
from latentcraft.explorer.site_folder import SiteFolderTaken
from latentcraft.trained import TrainedModel

NAN, INF = float("nan"), float("inf")
TINY = {"train.epochs": 1, "data.train_limit": 256, "data.test_limit": 200, "train.eval_batch_size": 200,
        "model.encoder_hidden": [32], "model.decoder_hidden": [32], "train.threads": 1}


@dataclass
class Ctx:
    root: Path  # everything the cases may touch lies under it, and must stay as it was
    run: Path  # a tiny routed10 run: 10 ReLU codes, decoder takes no label
    cvae_run: Path  # a tiny cvae2d run: 2 codes, a conditional decoder
    det_run: Path  # a deterministic model's config.json alone (evaluate refuses samples before loading weights)
    model: TrainedModel
    cvae: TrainedModel
    file: Path  # a plain file where a folder is expected
    user_site: Path  # a non-empty folder that no export wrote
    fresh: Path  # never created: a refused call must not create it

    @property
    def images(self) -> torch.Tensor:
        return torch.zeros(2, 784)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, mnist_dir) -> Ctx:
    root = tmp_path_factory.mktemp("strict")
    latentcraft.train("routed10", root / "routed", overrides=TINY, progress=False)
    latentcraft.train("cvae2d", root / "cvae", overrides=TINY, progress=False)
    (root / "det").mkdir()
    make_config("aeclf16", {"train.epochs": 1}).save(root / "det" / "config.json")
    (root / "a-file").write_text("not a folder\n")
    (root / "mine").mkdir()
    (root / "mine" / "index.html").write_text("<p>my own page</p>\n")
    return Ctx(root, root / "routed", root / "cvae", root / "det", latentcraft.load(root / "routed"),
               latentcraft.load(root / "cvae"), root / "a-file", root / "mine", root / "fresh")


def _train(c: Ctx, config: Any = "routed10", run_dir: Any = None, **kw: Any) -> Any:
    return latentcraft.train(config, c.fresh if run_dir is None else run_dir, **{"overrides": TINY, **kw})


def _tiny(**overrides: Any) -> dict[str, Any]:
    return {**TINY, **overrides}


def _sweep(c: Ctx, out: Any = None, **kw: Any) -> Any:
    return latentcraft.sweep("routed10", c.fresh if out is None else out,
                             **{"overrides": TINY, "executor": "sequential", "progress": False, **kw})


def _z(n: int = 3, d: int = 2) -> torch.Tensor:
    return torch.zeros(n, d)


A, C, S = ArgumentError, ConfigError, SiteFolderTaken
# (id, call, expected error class, text the message must contain: the argument's name, or the key/folder named)
CASES: list[tuple[str, Any, type[LatentcraftError], str]] = [
    # ---- train: config sources, presets
    ("train-config-int", lambda c: _train(c, 7), A, "config"),
    ("train-config-bytes", lambda c: _train(c, b"routed10"), A, "config"),
    ("train-config-empty", lambda c: _train(c, ""), A, "config"),
    ("train-config-none", lambda c: _train(c, None), A, "config"),
    ("train-preset-unknown", lambda c: _train(c, "routed11"), C, "unknown preset 'routed11'"),
    ("train-preset-traversal", lambda c: _train(c, "../presets/routed10"), C, "unknown preset"),
    ("train-config-missing-file", lambda c: _train(c, c.root / "none.toml"), C, "none.toml"),
    ("train-config-dict-path-value", lambda c: _train(c, {"name": Path("x")}), A, "config"),
    ("train-config-dict-nan", lambda c: _train(c, {"objective": {"beta": NAN}}), C, "objective.beta"),
    ("train-config-dict-unknown", lambda c: _train(c, {"modle": {}}), C, "modle"),
    # ---- train: run_dir
    ("train-run-dir-int", lambda c: _train(c, run_dir=42), A, "run_dir"),
    ("train-run-dir-none", lambda c: latentcraft.train("routed10", None), A, "run_dir"),
    ("train-run-dir-empty", lambda c: _train(c, run_dir=""), A, "run_dir"),
    ("train-run-dir-bytes", lambda c: _train(c, run_dir=b"runs/x"), A, "run_dir"),
    ("train-run-dir-nul", lambda c: _train(c, run_dir="runs/\0x"), A, "run_dir"),
    ("train-run-dir-file", lambda c: _train(c, run_dir=c.file), A, "run_dir"),
    # ---- train: overrides, refused as --set refuses them
    ("train-overrides-list", lambda c: _train(c, overrides=[("train.epochs", 1)]), A, "overrides"),
    ("train-overrides-str", lambda c: _train(c, overrides="train.epochs=1"), A, "overrides"),
    ("train-overrides-int-key", lambda c: _train(c, overrides={1: 2}), A, "overrides"),
    ("train-overrides-empty-part", lambda c: _train(c, overrides={"train..epochs": 1}), C, "train..epochs"),
    ("train-overrides-unknown-key", lambda c: _train(c, overrides=_tiny(**{"model.latent": 3})), C, "model.latent"),
    ("train-overrides-epochs-0", lambda c: _train(c, overrides=_tiny(**{"train.epochs": 0})), C, "train.epochs"),
    ("train-overrides-epochs-bool", lambda c: _train(c, overrides=_tiny(**{"train.epochs": True})), C,
     "train.epochs"),
    ("train-overrides-epochs-str", lambda c: _train(c, overrides=_tiny(**{"train.epochs": "1"})), C, "train.epochs"),
    ("train-overrides-epochs-float", lambda c: _train(c, overrides=_tiny(**{"train.epochs": 1.5})), C,
     "train.epochs"),
    ("train-overrides-lr-nan", lambda c: _train(c, overrides=_tiny(**{"train.lr": NAN})), C, "train.lr"),
    ("train-overrides-lr-inf", lambda c: _train(c, overrides=_tiny(**{"train.lr": INF})), C, "train.lr"),
    ("train-overrides-lr-negative", lambda c: _train(c, overrides=_tiny(**{"train.lr": -1.0})), C, "train.lr"),
    ("train-overrides-numpy-int", lambda c: _train(c, overrides=_tiny(**{"train.epochs": np.int64(1)})), A,
     "train.epochs"),
    ("train-overrides-hidden-0", lambda c: _train(c, overrides=_tiny(**{"model.encoder_hidden": [0]})), C,
     "model.encoder_hidden"),
    ("train-overrides-device", lambda c: _train(c, overrides=_tiny(**{"train.device": "gpu"})), C, "train.device"),
    ("train-overrides-seed-negative", lambda c: _train(c, overrides=_tiny(**{"train.seed": -1})), C, "train.seed"),
    ("train-overrides-leaf-as-section", lambda c: _train(c, overrides=_tiny(**{"train.epochs.x": 1})), C,
     "epochs"),
    ("train-overrides-dict-for-int", lambda c: _train(c, overrides=_tiny(**{"data.train_limit": {"a": 1}})), C,
     "data.train_limit"),
    # ---- train: seeds and flags
    ("train-seeds-0", lambda c: _train(c, seeds=0), A, "seeds"),
    ("train-seeds-negative", lambda c: _train(c, seeds=-3), A, "seeds"),
    ("train-seeds-bool", lambda c: _train(c, seeds=True), A, "seeds"),
    ("train-seeds-float", lambda c: _train(c, seeds=2.0), A, "seeds"),
    ("train-seeds-str", lambda c: _train(c, seeds="2"), A, "seeds"),
    ("train-seeds-past-max-seed", lambda c: _train(c, seeds=2**33), A, "seeds"),
    ("train-resume-str", lambda c: _train(c, resume="yes"), A, "resume"),
    ("train-progress-int", lambda c: _train(c, progress=1), A, "progress"),
    ("train-progress-array", lambda c: _train(c, progress=np.ones((3, 3), dtype=bool)), A, "progress"),
    # ---- load and the model's device
    ("load-run-dir-int", lambda c: latentcraft.load(123), A, "run_dir"),
    ("load-run-dir-none", lambda c: latentcraft.load(None), A, "run_dir"),
    ("load-device-name", lambda c: latentcraft.load(c.run, device="gpu"), A, "device"),
    ("load-device-int", lambda c: latentcraft.load(c.run, device=0), A, "device"),
    ("load-device-missing", lambda c: latentcraft.load(c.run, device="cuda:99"), A, "device"),
    ("to-device-name", lambda c: c.model.to("tpu"), A, "device"),
    ("to-device-none", lambda c: c.model.to(None), A, "device"),
    ("model-not-a-model", lambda c: TrainedModel("runs/x"), A, "model"),
    # ---- encode: types, shapes, dtypes, NaN
    ("encode-str", lambda c: c.model.encode("digits"), A, "images"),
    ("encode-none", lambda c: c.model.encode(None), A, "images"),
    ("encode-dict", lambda c: c.model.encode({"a": 1}), A, "images"),
    ("encode-one-image", lambda c: c.model.encode(torch.zeros(28, 28)), A, "images"),
    ("encode-783-pixels", lambda c: c.model.encode(torch.zeros(2, 783)), A, "images"),
    ("encode-3-channels", lambda c: c.model.encode(torch.zeros(2, 3, 28, 28)), A, "images"),
    ("encode-nan", lambda c: c.model.encode(torch.full((1, 784), NAN)), A, "images"),
    ("encode-one-nan", lambda c: c.model.encode(torch.zeros(2, 784).index_fill_(1, torch.tensor([5]), NAN)), A,
     "images"),
    ("encode-inf", lambda c: c.model.encode(torch.full((1, 784), INF)), A, "images"),
    ("encode-numpy-nan", lambda c: c.model.encode(np.full((1, 28, 28), NAN)), A, "images"),
    ("encode-above-1", lambda c: c.model.encode(torch.full((1, 784), 2.0)), A, "images"),
    ("encode-negative", lambda c: c.model.encode(torch.full((1, 784), -0.5)), A, "images"),
    ("encode-int64", lambda c: c.model.encode(torch.zeros(1, 784, dtype=torch.int64)), A, "images"),
    ("encode-bool", lambda c: c.model.encode(torch.zeros(1, 784, dtype=torch.bool)), A, "images"),
    ("encode-complex", lambda c: c.model.encode(torch.zeros(1, 784, dtype=torch.complex64)), A, "images"),
    ("encode-object-array", lambda c: c.model.encode(np.full((1, 784), None, dtype=object)), A, "images"),
    ("encode-ragged-list", lambda c: c.model.encode([[0.0] * 784, [0.0] * 3]), A, "images"),
    ("encode-sparse", lambda c: c.model.encode(torch.zeros(1, 784).to_sparse()), A, "images"),
    ("encode-with-logvar-int", lambda c: c.model.encode(c.images, with_logvar=1), A, "with_logvar"),
    # ---- decode: codes
    ("decode-narrow-codes", lambda c: c.model.decode(_z(3, 2)), A, "codes"),
    ("decode-1d-codes", lambda c: c.model.decode(torch.zeros(10)), A, "codes"),
    ("decode-3d-codes", lambda c: c.model.decode(torch.zeros(1, 10, 1)), A, "codes"),
    ("decode-nan-codes", lambda c: c.model.decode(torch.full((1, 10), NAN)), A, "codes"),
    ("decode-inf-codes", lambda c: c.model.decode(torch.full((1, 10), -INF)), A, "codes"),
    ("decode-beyond-float32", lambda c: c.model.decode(np.full((1, 10), 1e300)), A, "codes"),
    ("decode-str-codes", lambda c: c.model.decode("zeros"), A, "codes"),
    ("decode-bool-codes", lambda c: c.model.decode(torch.zeros(1, 10, dtype=torch.bool)), A, "codes"),
    ("decode-complex-codes", lambda c: c.model.decode(torch.zeros(1, 10, dtype=torch.complex64)), A, "codes"),
    ("decode-none-codes", lambda c: c.model.decode(None), A, "codes"),
    ("decode-cvae-wide-codes", lambda c: c.cvae.decode(torch.zeros(1, 10), labels=1), A, "codes"),
    # ---- decode: labels the model cannot use, or wrong ones
    ("decode-label-unused-int", lambda c: c.model.decode(torch.zeros(1, 10), labels=3), A, "labels"),
    ("decode-label-unused-list", lambda c: c.model.decode(torch.zeros(1, 10), labels=[3]), A, "labels"),
    ("reconstruct-label-unused", lambda c: c.model.reconstruct(c.images, labels=3), A, "labels"),
    ("cvae-label-missing", lambda c: c.cvae.decode(_z()), A, "labels"),
    ("cvae-reconstruct-label-missing", lambda c: c.cvae.reconstruct(c.images), A, "labels"),
    ("cvae-label-10", lambda c: c.cvae.decode(_z(), labels=10), A, "labels"),
    ("cvae-label-minus-1", lambda c: c.cvae.decode(_z(), labels=-1), A, "labels"),
    ("cvae-label-in-list-out-of-range", lambda c: c.cvae.decode(_z(), labels=[1, 2, 12]), A, "labels"),
    ("cvae-label-count", lambda c: c.cvae.decode(_z(), labels=[1, 2]), A, "labels"),
    ("cvae-label-2d", lambda c: c.cvae.decode(_z(), labels=np.array([[1, 2, 3]])), A, "labels"),
    ("cvae-label-floats", lambda c: c.cvae.decode(_z(), labels=[1.0, 2.0, 3.0]), A, "labels"),
    ("cvae-label-float", lambda c: c.cvae.decode(_z(), labels=7.0), A, "labels"),
    ("cvae-label-bool", lambda c: c.cvae.decode(_z(), labels=True), A, "labels"),
    ("cvae-label-str", lambda c: c.cvae.decode(_z(), labels="7"), A, "labels"),
    ("cvae-label-dict", lambda c: c.cvae.decode(_z(), labels={0: 1, 1: 2, 2: 3}), A, "labels"),
    ("cvae-label-bool-tensor", lambda c: c.cvae.decode(_z(), labels=torch.ones(3, dtype=torch.bool)), A, "labels"),
    # ---- evaluate
    ("evaluate-run-dir-int", lambda c: latentcraft.evaluate(7), A, "run_dir"),
    ("evaluate-samples-negative", lambda c: latentcraft.evaluate(c.run, samples=-1), A, "samples"),
    ("evaluate-samples-float", lambda c: latentcraft.evaluate(c.run, samples=1.5), A, "samples"),
    ("evaluate-samples-bool", lambda c: latentcraft.evaluate(c.run, samples=True), A, "samples"),
    ("evaluate-samples-deterministic", lambda c: latentcraft.evaluate(c.det_run, samples=10), A, "samples"),
    ("evaluate-fit-limit-0", lambda c: latentcraft.evaluate(c.run, fit_limit=0), A, "fit_limit"),
    ("evaluate-fit-limit-str", lambda c: latentcraft.evaluate(c.run, fit_limit="100"), A, "fit_limit"),
    ("evaluate-fit-limit-nan", lambda c: latentcraft.evaluate(c.run, fit_limit=NAN), A, "fit_limit"),
    ("evaluate-test-limit-0", lambda c: latentcraft.evaluate(c.run, test_limit=0), A, "test_limit"),
    ("evaluate-test-limit-bool", lambda c: latentcraft.evaluate(c.run, test_limit=False), A, "test_limit"),
    ("evaluate-data-dir-int", lambda c: latentcraft.evaluate(c.run, data_dir=5), A, "data_dir"),
    ("evaluate-device", lambda c: latentcraft.evaluate(c.run, device="gpu"), A, "device"),
    ("evaluate-progress-str", lambda c: latentcraft.evaluate(c.run, progress="no"), A, "progress"),
    # ---- export: runs and targets
    ("export-no-runs", lambda c: latentcraft.export([], c.fresh), A, "run_dirs"),
    ("export-runs-int", lambda c: latentcraft.export(7, c.fresh), A, "run_dirs"),
    ("export-runs-dict", lambda c: latentcraft.export({str(c.run): 1}, c.fresh), A, "run_dirs"),
    ("export-runs-set", lambda c: latentcraft.export({str(c.run)}, c.fresh), A, "run_dirs"),
    ("export-runs-bytes", lambda c: latentcraft.export(b"runs/x", c.fresh), A, "run_dirs"),
    ("export-runs-item-int", lambda c: latentcraft.export([c.run, 5], c.fresh), A, "run_dirs[1]"),
    ("export-out-int", lambda c: latentcraft.export(c.run, 9), A, "out"),
    ("export-out-empty", lambda c: latentcraft.export(c.run, ""), A, "out"),
    ("export-force-str", lambda c: latentcraft.export(c.run, c.fresh, force="yes"), A, "force"),
    ("export-data-dir-float", lambda c: latentcraft.export(c.run, c.fresh, data_dir=3.0), A, "data_dir"),
    ("export-out-is-the-run", lambda c: latentcraft.export(c.run, c.run), S, "holds the run folder"),
    ("export-out-is-a-file", lambda c: latentcraft.export(c.run, c.file), S, "is a file"),
    ("export-out-is-users-folder", lambda c: latentcraft.export(c.run, c.user_site), S, "not a site"),
    # ---- sweep: grids, seeds, metrics, executors
    ("sweep-grid-scalar", lambda c: _sweep(c, grid={"train.lr": 1e-3}), A, "grid['train.lr']"),
    ("sweep-grid-empty-list", lambda c: _sweep(c, grid={"train.lr": []}), A, "grid['train.lr']"),
    ("sweep-grid-repeat", lambda c: _sweep(c, grid={"train.lr": [1e-3, 1e-3]}), A, "grid['train.lr']"),
    ("sweep-grid-repeat-int-float", lambda c: _sweep(c, grid={"model.latent_dim": [10, 10.0]}), A,
     "grid['model.latent_dim']"),
    ("sweep-grid-list", lambda c: _sweep(c, grid=[("train.lr", [1e-3])]), A, "grid"),
    ("sweep-grid-int-key", lambda c: _sweep(c, grid={5: [1]}), A, "grid"),
    ("sweep-grid-unknown-key", lambda c: _sweep(c, grid={"no.such": [1]}), C, "no.such"),
    ("sweep-grid-key-with-equals", lambda c: _sweep(c, grid={"train.lr=1": [1e-3]}), C, "train.lr=1"),
    ("sweep-grid-seed-axis", lambda c: _sweep(c, grid={"train.seed": [1, 2]}), C, "train.seed"),
    ("sweep-grid-key-twice", lambda c: _sweep(c, grid={"lr": [1e-3], "train.lr": [2e-3]}), C, "train.lr"),
    ("sweep-grid-nan", lambda c: _sweep(c, grid={"train.lr": [NAN]}), C, "train.lr"),
    ("sweep-grid-bad-value", lambda c: _sweep(c, grid={"train.lr": [1e-3, -1.0]}), C, "train.lr"),
    ("sweep-grid-unwritable", lambda c: _sweep(c, grid={"description": ['a"b', "c"]}), A, "grid['description']"),
    ("sweep-grid-object", lambda c: _sweep(c, grid={"train.lr": [object()]}), A, "grid['train.lr']"),
    ("sweep-seeds-0", lambda c: _sweep(c, seeds=0), A, "seeds"),
    ("sweep-seeds-float", lambda c: _sweep(c, seeds=1.0), A, "seeds"),
    ("sweep-seeds-bool", lambda c: _sweep(c, seeds=True), A, "seeds"),
    ("sweep-out-file", lambda c: _sweep(c, out=c.file), A, "out"),
    ("sweep-out-none", lambda c: latentcraft.sweep("routed10", None), A, "out"),
    ("sweep-overrides-bad", lambda c: _sweep(c, overrides=_tiny(**{"train.epochs": -1})), C, "train.epochs"),
    ("sweep-preset-unknown", lambda c: latentcraft.sweep("routed11", c.fresh), C, "unknown preset"),
    ("sweep-executor-unknown", lambda c: _sweep(c, executor="parallel"), A, "executor"),
    ("sweep-executor-int", lambda c: _sweep(c, executor=1), A, "executor"),
    ("sweep-address-sequential", lambda c: _sweep(c, address="127.0.0.1:6379"), A, "address"),
    ("sweep-address-int", lambda c: _sweep(c, executor="auto", address=6379), A, "address"),
    ("sweep-metrics-str", lambda c: _sweep(c, metrics="recon_bce"), A, "metrics"),
    ("sweep-metrics-empty", lambda c: _sweep(c, metrics=[]), A, "metrics"),
    ("sweep-metrics-unknown", lambda c: _sweep(c, metrics=["nope"]), C, "metrics"),
    ("sweep-metrics-item-int", lambda c: _sweep(c, metrics=[3]), A, "metrics[0]"),
    ("sweep-select-metric-int", lambda c: _sweep(c, select_metric=3), A, "select_metric"),
    ("sweep-select-metric-unknown", lambda c: _sweep(c, select_metric="nope"), C, "select_metric"),
    ("sweep-progress-int", lambda c: _sweep(c, progress=0), A, "progress"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under root: (size, mtime) by relative path."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            stat = path.lstat()
            out[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.mark.parametrize(("call", "expected", "needle"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_call_is_one_clean_error_and_writes_nothing(ctx, call, expected, needle):
    before = _snapshot(ctx.root)
    with pytest.raises(Exception) as info:
        call(ctx)
    error = info.value
    assert isinstance(error, LatentcraftError), f"not the package's own error: {type(error).__name__}: {error}"
    assert isinstance(error, expected), f"expected {expected.__name__}, got {type(error).__name__}: {error}"
    message = str(error)
    assert "\n" not in message and message.strip(), f"not one line: {message!r}"
    assert needle in message, f"{needle!r} is not named in: {message}"
    assert not ctx.fresh.exists(), "a refused call created its output folder"
    assert _snapshot(ctx.root) == before, "a refused call changed a file"


def test_the_table_is_large_and_its_ids_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


def test_argument_errors_are_usage_errors_and_value_errors():
    from latentcraft.errors import USAGE_ERROR, UsageError

    assert issubclass(ArgumentError, UsageError) and issubclass(ArgumentError, ValueError)
    assert ArgumentError.exit_code == USAGE_ERROR


def test_what_was_accepted_still_is(ctx):
    """The checks refuse only the hostile: every layout, dtype and label form that worked still works."""
    pixels = torch.zeros(2, 28, 28, dtype=torch.uint8)
    mu = ctx.model.encode(pixels)
    for layout in (pixels.reshape(2, 784), pixels[:, None], pixels.numpy(), pixels.double() / 255,
                   pixels.half(), (pixels.numpy() / 255).tolist()):
        assert torch.allclose(ctx.model.encode(layout), mu, atol=1e-3)
    assert ctx.model.encode(torch.zeros(0, 784)).shape == (0, 10)  # an empty batch stays an empty answer
    assert ctx.model.decode(np.zeros((2, 10), dtype=np.int64)).shape == (2, 28, 28)  # whole-number codes
    z = _z()
    by_int = ctx.cvae.decode(z, labels=7)
    for labels in ([7, 7, 7], np.full(3, 7), torch.full((3,), 7), np.int64(7), torch.tensor(7)):
        assert torch.equal(ctx.cvae.decode(z, labels=labels), by_int)
    assert ctx.cvae.takes_labels and not ctx.model.takes_labels
    assert ctx.model.to(torch.device("cpu")) is ctx.model
    assert latentcraft.load(str(ctx.run), device="auto").latent_dim == 10
    assert make_config("routed10", {"train.epochs": np.int64(3).item(), "train.lr": np.float64(0.01)}).train.lr == 0.01
    assert make_config(str(ctx.run / "config.json")).model.latent_dim == 10  # a run's config.json, as a path string
