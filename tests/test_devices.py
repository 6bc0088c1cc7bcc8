"""devices.py and the device plumbing: choosing a device, autocast dtypes, batches on a
device, and run folders that load on the CPU whatever device trained them.

No GPU is needed: availability is patched where a test needs another machine's
answer, and the `meta` device (shapes without data) stands in for an
accelerator to show that no step of the forward pass falls back to CPU tensors.
"""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from latentcraft.cli.main import main
from latentcraft.config.run_config import Config, resolve_config
from latentcraft.data.batches import augment
from latentcraft.data.images import ImageSet
from latentcraft.errors import ConfigError
from latentcraft.evaluation.metrics import evaluate_split
from latentcraft.techniques.registry import build_model
from latentcraft.training import checkpoint as ckpt
from latentcraft.training.devices import autocast_dtype, resolve_device, to_device
from latentcraft.training.trainer import load_data, train

SMALL = ["data.train_limit=300", "data.test_limit=200", "train.batch_size=100", "train.eval_batch_size=200",
         "model.encoder_hidden=[32]", "model.decoder_hidden=[32]", "train.epochs=1"]


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def one_cuda_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_accelerator):
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_named_devices_must_exist_here(no_accelerator):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError,
                       match=r"train.device: 'cuda' is not available: .* no CUDA GPU; use train.device=auto"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"'mps' is not available"):
        resolve_device("mps")


def test_a_gpu_index_beyond_the_machine_names_the_valid_ones(one_cuda_gpu):
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=r"'cuda:3' is not available: this machine has 1 CUDA GPU\(s\), cuda:0.."):
        resolve_device("cuda:3")


def test_device_names_are_checked_when_a_config_is_read():
    for good in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert Config.from_dict({"train": {"device": good}}).train.device == good
    with pytest.raises(ConfigError, match=r"train.device: 'gpu' is not a device; use auto, cpu, cuda, cuda:N or mps"):
        Config.from_dict({"train": {"device": "gpu"}})


def test_autocast_dtype_follows_the_device(monkeypatch):
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
    assert autocast_dtype(cpu, "bf16") == torch.bfloat16
    assert autocast_dtype(cpu, "fp32") is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # Turing: no native bf16
    assert autocast_dtype(cuda, "bf16") is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))  # Hopper
    assert autocast_dtype(cuda, "bf16") == torch.bfloat16
    assert autocast_dtype(cuda, "fp32") is None
    assert autocast_dtype(mps, "bf16") is None


def test_batches_cross_to_the_device_as_bytes_and_become_floats_there():
    images = torch.arange(4 * 28 * 28, dtype=torch.int64).remainder(256).to(torch.uint8).view(4, 28, 28)
    data = ImageSet(images, torch.tensor([3, 1, 4, 1]))
    index = torch.tensor([2, 0])
    x, y = data.batch(index)
    assert torch.equal(x, images[index].reshape(2, 784).float() / 255) and torch.equal(y, torch.tensor([4, 3]))
    x_meta, y_meta = data.batch(index, "meta")
    assert x_meta.device.type == "meta" and x_meta.shape == (2, 784) and x_meta.dtype == torch.float32
    assert y_meta.device.type == "meta" and y_meta.dtype == torch.int64
    assert to_device(images, "cpu") is images  # the CPU path copies nothing


# Not the classifier head (it picks the labelled examples by value, which meta tensors do not
# hold) nor anchors (autocast has no meta device; they follow x.device.type).
@pytest.mark.parametrize("preset, extra", [("routed10", []), ("routed10-conv", []), ("cvae2d", []), ("prior2d", []),
                                           ("routed10", ["model.deterministic=true", "objective.kind=elbo"])])
def test_forward_and_backward_never_touch_a_cpu_tensor(preset, extra):
    # Every parameter, buffer and batch on `meta`: an op that mixed in a tensor made on
    # the CPU (a mask, a target, a one-hot) would fail here as it would on a GPU.
    config = resolve_config(preset, overrides=["model.encoder_hidden=[16]", "model.decoder_hidden=[16]", *extra])
    model = build_model(config).to("meta").train()
    x = torch.rand(6, 784).to("meta")
    y = torch.tensor([0, 1, 2, 3, -1, 5]).to("meta")
    x = augment(x, torch.Generator().manual_seed(0), 2.0, 10.0)
    out = model(x, y, kl_scale=0.5, epoch=0.5)
    assert out.loss.device.type == "meta" and out.logits.shape == (6, 784)
    out.loss.backward()
    assert all(p.grad is None or p.grad.device.type == "meta" for p in model.parameters())


def _gpu_like_run(run_dir, data) -> None:
    """A finished one-epoch run made to look as if a GPU trained it: its config asks for
    cuda:0 and its checkpoint carries a CUDA generator state next to the CPU one."""
    train(resolve_config("routed10", overrides=[*SMALL, "train.device=cpu"]), run_dir, progress=False, data=data)
    config = json.loads((run_dir / ckpt.CONFIG_FILE).read_text())
    config["train"]["device"] = "cuda:0"
    (run_dir / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    tensors = load_file(str(run_dir / ckpt.CHECKPOINT_FILE))
    tensors["rng.cuda"] = torch.zeros(16, dtype=torch.uint8)
    from safetensors import safe_open

    with safe_open(str(run_dir / ckpt.CHECKPOINT_FILE), framework="pt") as f:
        metadata = f.metadata()
    save_file(tensors, str(run_dir / ckpt.CHECKPOINT_FILE), metadata=metadata)


@pytest.fixture(scope="module")
def data(mnist_dir):
    return load_data(resolve_config("routed10", overrides=SMALL))


def test_a_gpu_trained_run_loads_evaluates_and_resumes_on_a_cpu_machine(tmp_path, data, no_accelerator, capsys):
    _gpu_like_run(tmp_path, data)
    model = ckpt.load_model(tmp_path)
    assert model.config.train.device == "cuda:0"
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"cpu"}
    assert 0.0 <= evaluate_split(model, data[1], 200)["test_argmax_accuracy"] <= 1.0

    # Resuming by folder keeps its config, so the missing GPU is named, in one line ...
    code = main(["train", "--run-dir", str(tmp_path), "--resume", "--epochs", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "train.device: 'cuda:0' is not available" in err and len(err.strip().splitlines()) == 1
    # ... and the device is not a "config changed" reason: the same run continues on the CPU.
    code = main(["train", "--run-dir", str(tmp_path), "--resume", "--epochs", "2", "--device", "cpu", "--no-progress"])
    assert code == 0
    assert [m["epoch"] for m in ckpt.read_metrics(tmp_path)] == [1, 2]
    assert ckpt.read_summary(tmp_path)["device"] == "cpu"


def test_asking_for_a_missing_gpu_fails_before_writing_anything(tmp_path, no_accelerator, capsys):
    run_dir = tmp_path / "run"
    code = main(["train", "--preset", "routed10", "--device", "cuda", "--run-dir", str(run_dir), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1  # a config value this machine cannot honour: usage
    assert err.startswith("latentcraft train: error: train.device: 'cuda' is not available")
    assert not run_dir.exists()


def test_loading_onto_a_named_device(tmp_path, data, no_accelerator):
    train(resolve_config("routed10", overrides=SMALL), tmp_path, progress=False, data=data)
    assert ckpt.read_summary(tmp_path)["device"] == "cpu"  # auto, without an accelerator
    with pytest.raises(ConfigError, match="'cuda' is not available"):
        ckpt.load_model(tmp_path, "cuda")
    model = ckpt.load_model(tmp_path, "auto")
    assert next(model.parameters()).device.type == "cpu"
