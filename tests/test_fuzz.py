"""Every kind of file the tool reads, corrupted many ways: each variant must end its command with a
non-zero exit and one clean line on stderr (no traceback, no "internal error").

Kinds: IDX images and labels (raw and gzip), TOML and JSON configs, a run's config.json,
model.safetensors, checkpoint.safetensors, metrics.jsonl, summary.json, sweep.json, eval.json, and
anchor templates (.npy and images). manifest.json is read only by the browser pages, never by a command.
Each case runs `cli.main` in-process (fast); a few run as real processes to prove that nothing
more reaches the terminal. One test case is one corrupted input.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import random
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load, save

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.data.mnist import MAX_IDX_BYTES, write_idx
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.trainer import train

TINY = ["--set", "model.encoder_hidden=[16]", "--set", "model.decoder_hidden=[16]", "--set", "train.batch_size=60",
        "--no-progress"]
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"

Corrupt = Callable[[bytes], bytes]


def noise(n: int) -> bytes:
    return random.Random(n).randbytes(n)  # seeded: the same bytes on every run, in any test order


Offset = tuple[str, Callable[[bytes], int]]  # (name, where to cut a file's bytes)


def truncations(*offsets: Offset) -> dict[str, Corrupt]:
    return {f"truncated at {name}": (lambda b, cut=cut: b[:cut(b)]) for name, cut in offsets}


def at(k: int) -> Offset:
    return str(k), lambda b: k


HALF, LAST = ("half", lambda b: len(b) // 2), ("len-1", lambda b: len(b) - 1)
BYTES = {"random bytes": lambda b: noise(len(b)), "random bytes, short": lambda b: noise(37),
         "zeros": lambda b: bytes(len(b))}


# ---- IDX images and labels, and their gzip wrappers ----------------------------------------------

def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _with_byte(index: int, value: int) -> Corrupt:
    return lambda b: b[:index] + bytes([value]) + b[index + 1:]


IDX_ANY = {**truncations(at(0), at(2), at(6), HALF, LAST), **BYTES,
           "extra bytes after the data": lambda b: b + b"\0" * 10,
           "float type byte": _with_byte(2, 0x0D),
           "count doubled in the header": lambda b: b[:4] + struct.pack(">I", 2 * int.from_bytes(b[4:8])) + b[8:]}
IDX_IMAGES = {**IDX_ANY, "header ends before the data": lambda b: b[:16], "rank 2": _with_byte(3, 2),
              "28x27 images": lambda b: _idx(np.zeros((120, 28, 27), np.uint8)),
              "no images": lambda b: _idx(np.zeros((0, 28, 28), np.uint8)),
              "one image too few": lambda b: _idx(np.zeros((119, 28, 28), np.uint8))}
IDX_LABELS = {**IDX_ANY, "rank 3": _with_byte(3, 3), "label 200": lambda b: b[:8] + bytes([200]) * (len(b) - 8),
              "one label too many": lambda b: _idx(np.zeros(121, np.uint8))}
GZIP = {"gzip of a truncated file": lambda b: gzip.compress(b[: len(b) // 2]),
        "gzip truncated at 10": lambda b: gzip.compress(b)[:10],
        "gzip truncated at half": lambda b: (lambda g: g[: len(g) // 2])(gzip.compress(b)),
        "gzip without its trailer": lambda b: gzip.compress(b)[:-4],
        "gzip with a wrong CRC": lambda b: gzip.compress(b)[:-8] + bytes(8),
        "gzip magic then noise": lambda b: b"\x1f\x8b" + noise(200),
        "gzip of random bytes": lambda b: gzip.compress(noise(len(b))),
        "gzip bomb": lambda b: gzip.compress(bytes(MAX_IDX_BYTES + 1024), compresslevel=1)}
DATA_CASES = ([(TRAIN_IMAGES, "", n) for n in IDX_IMAGES] + [(TRAIN_LABELS, "", n) for n in IDX_LABELS]
              + [(TEST_IMAGES, ".gz", n) for n in GZIP] + [(TEST_LABELS, ".gz", n) for n in GZIP if n != "gzip bomb"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A small synthetic MNIST-format dataset: 120 training and 60 test images."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for (images, labels), n in (((TRAIN_IMAGES, TRAIN_LABELS), 120), ((TEST_IMAGES, TEST_LABELS), 60)):
        write_idx(folder / images, (rng.random((n, 28, 28)) < 0.2) * 255)
        write_idx(folder / labels, np.arange(n) % 10)
    return folder


def run_cli(argv: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of `latentcraft argv`, in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse, and commands that end with SystemExit("message")
            code = exit_.code if isinstance(exit_.code, int) else 1
            if isinstance(exit_.code, str):
                err.write(exit_.code + "\n")
    return code, err.getvalue()


def corrupt(path: Path, variant: Corrupt, good: bytes | None = None) -> None:
    """Write variant(good) to `path` (good: the file's bytes); a variant that changes nothing is a bug here."""
    good = path.read_bytes() if good is None else good
    bad = variant(good)
    assert bad != good
    path.write_bytes(bad)


def assert_clean_failure(argv: list[str], names: str | None = None) -> None:
    """The command fails with one error line (naming the file `names`, if given) and nothing more."""
    code, err = run_cli(argv)
    lines = err.strip().splitlines()
    assert code not in (0, None), f"exit {code} for {argv}: {err}"
    assert len(lines) == 1 and ": error: " in lines[0], err
    assert "Traceback" not in err and "internal error" not in err, err
    assert names is None or names in lines[0], err


@pytest.mark.parametrize("name, suffix, variant", DATA_CASES, ids=[f"{f}{s}: {v}" for f, s, v in DATA_CASES])
def test_corrupt_idx_and_gzip_files(tmp_path, dataset, name, suffix, variant):
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    good = (data / name).read_bytes()
    (data / name).unlink()
    corrupt(data / f"{name}{suffix}", (IDX_IMAGES | IDX_LABELS | GZIP)[variant], good)
    assert_clean_failure(["train", "--preset", "routed10", *TINY, "--data-dir", str(data), "--epochs", "1",
                          "--run-dir", str(tmp_path / "run")], names=name)


# ---- TOML and JSON configs --------------------------------------------------------------------

TOML = ('[train]\nepochs = 2\nlr = 0.001\n\n[model]\nlatent_dim = 10\nencoder_hidden = [64]\n\n'
        '[data]\ndataset = "mnist"\n')
TOML_CASES = {
    **truncations(("after '='", lambda b: b.index(b"=") + 1), ("inside a header", lambda b: 3),
                  ("inside a string", lambda b: b.index(b'"') + 3)),
    **BYTES,
    "UTF-16": lambda b: b.decode().encode("utf-16"),
    "Latin-1 text": lambda b: b.replace(b'"mnist"', '"mnïst"'.encode("latin-1")),
    "a string for an int": lambda b: b.replace(b"epochs = 2", b'epochs = "many"'),
    "a list for a float": lambda b: b.replace(b"lr = 0.001", b"lr = [0.001]"),
    "a value for a table": lambda b: b + b"routing = 3\n",
    "an unknown key": lambda b: b.replace(b"epochs", b"epochz"),
    "an unknown section": lambda b: b + b"[trainer]\nx = 1\n",
    "NaN": lambda b: b.replace(b"0.001", b"nan"),
    "infinity": lambda b: b.replace(b"0.001", b"inf"),
    "NaN in a list": lambda b: b + b"[prior]\npoints = [[0.0, nan]]\n",
    "a 31-digit layer": lambda b: b.replace(b"latent_dim = 10", b"latent_dim = " + b"9" * 31),
    "a duplicate key": lambda b: b + b"[train]\nepochs = 3\n",
    "nested 100000 deep": lambda b: b"x = " + b"[" * 100000 + b"]" * 100000 + b"\n",
}
JSON_TEXT = json.dumps({"train": {"epochs": 2, "lr": 0.001}, "model": {"latent_dim": 10}, "data": {"dataset": "mnist"}},
                       indent=2) + "\n"
JSON_CASES = {
    **truncations(at(0), at(1), at(7), HALF, ("before the last brace", lambda b: b.rindex(b"}"))),
    **BYTES,
    "UTF-16": lambda b: b.decode().encode("utf-16"),
    "Latin-1 text": lambda b: b.replace(b'"mnist"', '"mnïst"'.encode("latin-1")),
    "UTF-8 BOM": lambda b: b"\xef\xbb\xbf" + b,
    "a list": lambda b: b"[1, 2, 3]",
    "a number": lambda b: b"3",
    "a string for an int": lambda b: b.replace(b'"epochs": 2', b'"epochs": "many"'),
    "a table for a float": lambda b: b.replace(b'"lr": 0.001', b'"lr": {"x": 1}'),
    "an unknown key": lambda b: b.replace(b"epochs", b"epochz"),
    "NaN": lambda b: b.replace(b"0.001", b"NaN"),
    "-Infinity": lambda b: b.replace(b"0.001", b"-Infinity"),
    "1e999": lambda b: b.replace(b"0.001", b"1e999"),
    "nested 100000 deep": lambda b: b"[" * 100000 + b"]" * 100000,
}
CONFIG_CASES = [("run.toml", n) for n in TOML_CASES] + [("run.json", n) for n in JSON_CASES]


@pytest.mark.parametrize("file, variant", CONFIG_CASES, ids=[f"{f}: {v}" for f, v in CONFIG_CASES])
def test_corrupt_config_files(tmp_path, file, variant):
    good, cases = (TOML, TOML_CASES) if file.endswith(".toml") else (JSON_TEXT, JSON_CASES)
    corrupt(tmp_path / file, cases[variant], good.encode())
    assert_clean_failure(["config", "--config", str(tmp_path / file)])


# ---- a trained run's files --------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory, dataset) -> Path:
    """A finished 1-epoch run on the synthetic data (its config points there), with a figure and eval.json."""
    folder = tmp_path_factory.mktemp("runs") / "run"
    config = resolve_config("routed10", overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]",
                                                   "train.epochs=1", "train.batch_size=60",
                                                   f"data.data_dir={json.dumps(str(dataset))}"])
    train(config, folder, progress=False)
    (folder / "figures").mkdir()
    Image.new("L", (28, 28)).save(folder / "figures" / "reconstructions.png")  # so `report` plots nothing
    ckpt.write_json(folder / "eval.json", {"run_dir": str(folder), "name": "run", "metrics": {"test_recon_bce": 1.0}})
    return folder


def _seeds_argv(folder: Path, dataset: Path) -> list[str]:
    return ["train", "--seeds", "2", "--run-dir", str(folder), "--preset", "routed10", *TINY, "--epochs", "1",
            "--data-dir", str(dataset)]


def _sweep_argv(folder: Path, dataset: Path) -> list[str]:
    return ["sweep", "--preset", "routed10", *TINY, "--epochs", "1", "--grid", "lr=1e-3,2e-3", "--sequential",
            "--data-dir", str(dataset), "--out", str(folder)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, dataset) -> dict[str, Path]:
    """A finished `train --seeds 2` folder and a finished 2-trial sweep, made by the commands re-run below."""
    root = tmp_path_factory.mktemp("finished")
    for name, argv in (("seeds", _seeds_argv), ("sweep", _sweep_argv)):
        assert run_cli(argv(root / name, dataset))[0] == 0
    return {"seeds": root / "seeds", "sweep": root / "sweep"}


def _edit_tensors(edit: Callable[[dict[str, torch.Tensor], dict[str, str]], None]) -> Corrupt:
    """A corruption that reads the safetensors bytes, edits tensors and metadata, and writes them again."""
    def corrupt(good: bytes) -> bytes:
        header_length = struct.unpack("<Q", good[:8])[0]
        metadata = dict(json.loads(good[8:8 + header_length]).get("__metadata__", {}))
        tensors = load(good)
        edit(tensors, metadata)
        return save(tensors, metadata=metadata)
    return corrupt


def _first_float(tensors: dict[str, torch.Tensor], prefix: str = "") -> str:
    return next(k for k in sorted(tensors) if k.startswith(prefix) and tensors[k].is_floating_point())


def _poison(value: float, prefix: str = "", everywhere: bool = False) -> Corrupt:
    def edit(tensors, metadata):
        name = _first_float(tensors, prefix)
        if everywhere:
            tensors[name].fill_(value)
        else:
            tensors[name].view(-1)[0] = value
    return _edit_tensors(edit)


def _drop(prefix: str) -> Corrupt:
    """Remove the first tensor whose name starts with `prefix`."""
    return _edit_tensors(lambda t, m: t.pop(next(k for k in sorted(t) if k.startswith(prefix))))


SAFETENSORS = {
    **truncations(at(0), at(4), at(8), at(40), HALF, LAST), **BYTES,
    "header length 2**62": lambda b: struct.pack("<Q", 2**62) + b[8:],
    "header that is not JSON": lambda b: (lambda n: b[:8] + b"x" * n + b[8 + n:])(struct.unpack("<Q", b[:8])[0]),
    "NaN in a weight": _poison(float("nan")),
    "+inf in a weight": _poison(float("inf")),
    "all NaN": _poison(float("nan"), everywhere=True),
    "a tensor of another shape": _edit_tensors(
        lambda t, m: t.update({_first_float(t): torch.cat([t[_first_float(t)]] * 2)})),
}
WEIGHTS_CASES = {**SAFETENSORS, "a missing tensor": _drop(""),
                 "an extra tensor": _edit_tensors(lambda t, m: t.update({"stray.weight": torch.ones(3)}))}
CHECKPOINT_CASES = {
    **SAFETENSORS,
    "NaN in Adam's moments": _poison(float("nan"), "optim."),
    "no epoch in the metadata": _edit_tensors(lambda t, m: m.pop("epoch")),
    "epoch 'abc'": _edit_tensors(lambda t, m: m.update(epoch="abc")),
    "epoch -1": _edit_tensors(lambda t, m: m.update(epoch="-1")),
    "param_groups not JSON": _edit_tensors(lambda t, m: m.update(param_groups="{oops")),
    "param_groups for 3 groups": _edit_tensors(
        lambda t, m: m.update(param_groups=json.dumps(json.loads(m["param_groups"]) * 3))),
    "no RNG state": _edit_tensors(lambda t, m: t.pop("rng.torch")),
    "RNG state of floats": _edit_tensors(lambda t, m: t.update({"rng.torch": t["rng.torch"].float()})),
    "no optimizer state": _edit_tensors(lambda t, m: [t.pop(k) for k in [k for k in t if k.startswith("optim.")]]),
    "a model tensor missing": _drop("model."),
}


def _copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


WEIGHT_COMMANDS = {"evaluate": lambda r, t: ["evaluate", str(r), "--no-progress", "--fit-limit", "50"],
                   "plot": lambda r, t: ["plot", str(r), "--out", str(t / "figures")],
                   "export": lambda r, t: ["export", str(r), "--out", str(t / "site")]}
WEIGHT_RUNS = [(c, v) for v in WEIGHTS_CASES for c in (WEIGHT_COMMANDS if "NaN" in v or "inf" in v else ["plot"])]


@pytest.mark.parametrize("command, variant", WEIGHT_RUNS, ids=[f"{c}: {v}" for c, v in WEIGHT_RUNS])
def test_corrupt_model_weights(tmp_path, run, command, variant):
    copy = _copy_run(run, tmp_path)
    corrupt(copy / ckpt.WEIGHTS_FILE, WEIGHTS_CASES[variant])
    assert_clean_failure(WEIGHT_COMMANDS[command](copy, tmp_path), names=ckpt.WEIGHTS_FILE)


def _resume(copy: Path) -> list[str]:
    return ["train", "--resume", "--run-dir", str(copy), "--epochs", "2", "--no-progress"]


@pytest.mark.parametrize("variant", list(CHECKPOINT_CASES))
def test_corrupt_training_checkpoint(tmp_path, run, variant):
    copy = _copy_run(run, tmp_path)
    corrupt(copy / ckpt.CHECKPOINT_FILE, CHECKPOINT_CASES[variant])
    assert_clean_failure(_resume(copy), names=ckpt.CHECKPOINT_FILE)


def _json_edit(edit: Callable[[dict], None]) -> Corrupt:
    def corrupt(good: bytes) -> bytes:
        raw = json.loads(good)
        edit(raw)
        return json.dumps(raw).encode()
    return corrupt


RUN_CONFIG_CASES = {
    **{k: JSON_CASES[k] for k in (*[k for k in JSON_CASES if k.startswith("truncated")], *BYTES, "UTF-16",
                                  "Latin-1 text", "UTF-8 BOM", "a list", "a number", "nested 100000 deep")},
    "a string for an int": _json_edit(lambda c: c["train"].update(epochs="many")),
    "a table for a float": _json_edit(lambda c: c["train"].update(lr={"x": 1})),
    "an unknown key": _json_edit(lambda c: c["train"].update(epochz=1)),
    "NaN": _json_edit(lambda c: c["train"].update(lr=float("nan"))),
    "latent_dim 4": _json_edit(lambda c: c["model"].update(latent_dim=4)),
    "no model section": _json_edit(lambda c: c.pop("model")),
    "conv body": _json_edit(lambda c: c["model"].update(body="conv", conv_channels=[4, 8])),
}
RUN_CONFIG_RUNS = [(c, v) for v in RUN_CONFIG_CASES for c in ("evaluate", "resume")]


@pytest.mark.parametrize("command, variant", RUN_CONFIG_RUNS, ids=[f"{c}: {v}" for c, v in RUN_CONFIG_RUNS])
def test_corrupt_run_config(tmp_path, run, command, variant):
    copy = _copy_run(run, tmp_path)
    corrupt(copy / ckpt.CONFIG_FILE, RUN_CONFIG_CASES[variant])
    mismatch = variant in ("latent_dim 4", "no model section", "conv body")  # then the weights file is named
    names = None if mismatch else ckpt.CONFIG_FILE
    assert_clean_failure(_resume(copy) if command == "resume" else WEIGHT_COMMANDS[command](copy, tmp_path), names)


LOG_CASES = {
    "not UTF-8": lambda b: noise(200),
    "a damaged middle line": lambda b: b"{oops\n" + b,
    "a list for a record": lambda b: b"[1, 2]\n" + b,
    "a record without an epoch": lambda b: b'{"lr": 0.001}\n' + b,
    "the epoch as a string": lambda b: b'{"epoch": "1"}\n' + b,
}
SUMMARY_CASES = {**truncations(at(0), HALF), **BYTES, "a list": lambda b: b"[]",
                 "no final metrics": lambda b: b'{"name": "run"}',
                 "a metric that is a string": lambda b: b'{"final": {"test_argmax_accuracy": "high"}}'}
SWEEP_CASES = {**truncations(at(0), HALF), **BYTES, "a list": lambda b: b"[]", "no grid": lambda b: b'{"base": {}}'}
EVAL_CASES = {**truncations(at(0), HALF), **BYTES, "not UTF-8": lambda b: b"\xff\xfe" + b}
EVAL_CASES.update({"a list": lambda b: b"[]", "metrics a number": lambda b: b'{"metrics": 3}',
                   "empty": lambda b: b"{}"})
EVAL_CASES.update({"metrics a list": lambda b: b'{"name": "run", "metrics": [0.9]}',
                   "a metric that is a string": lambda b: b'{"name": "run", "metrics": {"test_mse": "low"}}',
                   "a ragged DCI matrix":
                       lambda b: b'{"name": "run", "metrics": {}, "dci": {"importance": [[1], []]}}'})
RECORD_CASES = [pytest.param(file, v, id=f"{file}: {v}")
                for file, cases in (("metrics.jsonl", LOG_CASES), ("summary.json", SUMMARY_CASES),
                                    ("sweep.json", SWEEP_CASES), ("eval.json", EVAL_CASES))
                for v in cases]


@pytest.mark.parametrize("file, variant", RECORD_CASES)
def test_corrupt_logs_summaries_and_definitions(tmp_path, run, dataset, finished, file, variant):
    if file in ("metrics.jsonl", "eval.json"):
        copy = _copy_run(run, tmp_path)
        argv = _resume(copy) if file == "metrics.jsonl" else ["report", str(copy), "--out",
                                                              str(tmp_path / "report.html"), "--no-progress"]
        path = copy / file
    else:  # re-running a finished seeds folder or sweep reads its sweep.json, then each seed's summary.json
        kind = "seeds" if file == "summary.json" else "sweep"
        copy = tmp_path / kind
        shutil.copytree(finished[kind], copy)
        argv = (_seeds_argv if kind == "seeds" else _sweep_argv)(copy, dataset)
        path = copy / "seed-0" / file if kind == "seeds" else copy / file
    corrupt(path, {"metrics.jsonl": LOG_CASES, "summary.json": SUMMARY_CASES, "sweep.json": SWEEP_CASES,
                   "eval.json": EVAL_CASES}[file][variant])
    assert_clean_failure(argv, names=file)


@pytest.mark.parametrize("variant", list(EVAL_CASES))
def test_corrupt_eval_record_in_export(tmp_path, run, variant):
    """The site's overview shows eval.json's metrics, so export reads (and checks) it too."""
    copy = _copy_run(run, tmp_path)
    corrupt(copy / ckpt.EVAL_FILE, EVAL_CASES[variant])
    assert_clean_failure(WEIGHT_COMMANDS["export"](copy, tmp_path), names=ckpt.EVAL_FILE)
    assert not (tmp_path / "site").exists()


# ---- anchor templates -------------------------------------------------------------------------

def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, format="PNG")
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()


GOOD_NPY = _npy(np.ones((28, 28), np.float32))
NPY_CASES = {
    **truncations(at(0), at(6), at(20), ("at the data", lambda b: 128), LAST), **BYTES,
    "NaN": lambda b: _npy(np.full((28, 28), np.nan, np.float32)),
    "+inf": lambda b: _npy(np.where(np.eye(28) > 0, np.inf, 0)),
    "27x27": lambda b: _npy(np.ones((27, 27))),
    "28x28x3": lambda b: _npy(np.ones((28, 28, 3))),
    "a scalar": lambda b: _npy(np.float32(1)),
    "strings": lambda b: _npy(np.full((28, 28), "a")),
    "complex": lambda b: _npy(np.ones((28, 28), np.complex64)),
    "records": lambda b: _npy(np.zeros((28, 28), dtype=[("a", "<f4"), ("b", "<i4")])),
    "pickled objects": lambda b: _npy(np.full((28, 28), None, dtype=object), allow_pickle=True),
    "negative values": lambda b: _npy(-np.ones((28, 28), np.float32)),
    "a header promising 10^10 floats": lambda b: _npy_header((100000, 100000)),
    "format version 9": lambda b: b[:6] + b"\x09\x00" + b[8:],
}
GOOD_PNG = _png((28, 28))
IMAGE_CASES = {  # not cut at len-1: a PNG missing only its end marker still holds the whole image, fine to read
    **truncations(at(0), at(8), at(20), HALF, ("inside the pixels", lambda b: b.index(b"IDAT") + 8)), **BYTES,
    "PNG signature then noise": lambda b: b[:8] + noise(100),
    "27x27": lambda b: _png((27, 27)),
    "1x1": lambda b: _png((1, 1)),
    "a 50000x50000 header": lambda b: b[:16] + struct.pack(">II", 50000, 50000) + b[24:33],
    "text": lambda b: b"this is not an image\n",
}
TEMPLATE_CASES = [("t.npy", v) for v in NPY_CASES] + [("t.png", v) for v in IMAGE_CASES]


@pytest.mark.parametrize("file, variant", TEMPLATE_CASES, ids=[f"{f}: {v}" for f, v in TEMPLATE_CASES])
def test_corrupt_templates(tmp_path, dataset, file, variant):
    good, cases = (GOOD_NPY, NPY_CASES) if file.endswith(".npy") else (GOOD_PNG, IMAGE_CASES)
    corrupt(tmp_path / file, cases[variant], good)
    assert_clean_failure(["train", *TINY, "--set", "anchors.enabled=true", "--set", "anchors.weights=[1.0]",
                          "--set", f"anchors.templates={json.dumps([str(tmp_path / file)])}", "--epochs", "1",
                          "--data-dir", str(dataset), "--run-dir", str(tmp_path / "run")], names=file)


# ---- as a real process: nothing but the one line reaches the terminal ----------------------------

def test_real_processes_print_one_line_and_no_traceback(tmp_path, run, dataset):
    corrupt(tmp_path / "bad.toml", TOML_CASES["UTF-16"], TOML.encode())
    nan_run = _copy_run(run, tmp_path)
    corrupt(nan_run / ckpt.WEIGHTS_FILE, WEIGHTS_CASES["NaN in a weight"])
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    corrupt(data / TRAIN_LABELS, IDX_LABELS["label 200"])
    commands = [  # (expected exit code, command line)
        (2, ["train", "--config", str(tmp_path / "bad.toml")]),
        (1, ["export", str(nan_run), "--out", str(tmp_path / "site")]),
        (1, ["train", "--preset", "routed10", *TINY, "--data-dir", str(data), "--run-dir", str(tmp_path / "r")]),
    ]
    processes = [(code, subprocess.Popen([sys.executable, "-m", "latentcraft.cli", *argv], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)) for code, argv in commands]
    for code, process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == code, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
