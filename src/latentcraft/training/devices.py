"""Where tensors live: picking the device, its autocast dtype, moving batches, its RNG.

`train.device` names the device: "auto" takes CUDA when available, else Apple
MPS, else the CPU; "cpu", "cuda", "cuda:N" and "mps" ask for one, and asking
for one this machine lacks is a ConfigError that says so. Run folders never
record a device in their tensors (safetensors holds bytes, not placement) and
loading maps to the CPU, so a GPU-trained run evaluates, plots and exports on
a CPU-only machine.

Precision "bf16" autocasts to bfloat16 where the hardware computes it natively
(every CPU torch supports; CUDA from compute capability 8.0, Ampere); elsewhere
(older CUDA GPUs, MPS) it trains in fp32. float16 would need loss scaling
(a GradScaler) and its overflow checks on top of the trainer's own NaN check,
which is not worth it for models this small.
"""

from __future__ import annotations

import contextlib
import re

import torch

from latentcraft.errors import ConfigError

DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")  # what train.device accepts
_BF16_CUDA_CAPABILITY = (8, 0)  # Ampere: the first CUDA GPUs with native bfloat16 matmuls


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def check_device_name(name: str) -> None:
    """Is `name` something train.device accepts (whether or not this machine has it)?"""
    if not DEVICE_PATTERN.fullmatch(name):
        raise ConfigError(f"train.device: {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps")


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' -> cuda, else mps, else cpu; a named device must exist on this machine."""
    name = str(name)
    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: {name!r} is not available: this torch ({torch.__version__}) sees no CUDA "
                              "GPU; use train.device=auto or cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"train.device: {name!r} is not available: this machine has {count} CUDA GPU(s), "
                              f"cuda:0..cuda:{count - 1}")
    if device.type == "mps" and not _mps_available():
        raise ConfigError(f"train.device: {name!r} is not available (no Apple MPS backend here); use auto or cpu")
    return device


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype matmuls autocast to for `precision` on `device`; None = plain fp32."""
    if precision != "bf16":
        return None
    if device.type == "cpu":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.get_device_capability(device) >= _BF16_CUDA_CAPABILITY:
        return torch.bfloat16
    return None


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for a module without any)."""
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """Copy a CPU tensor to `device`; through pinned memory to CUDA, so the copy can overlap compute."""
    device = torch.device(device)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


# ---- the accelerator's own noise generator (the CPU's is saved by checkpoint.py) ----------------

_RNG = {  # device type -> (get state, set state)
    "cuda": (lambda device: torch.cuda.get_rng_state(device),
             lambda state, device: torch.cuda.set_rng_state(state, device)),
    "mps": (lambda device: torch.mps.get_rng_state(), lambda state, device: torch.mps.set_rng_state(state)),
}


def accelerator_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """{'rng.<type>': state} for a CUDA or MPS device (sampling noise comes from it there); {} on the CPU."""
    if device.type not in _RNG:
        return {}
    return {f"rng.{device.type}": _RNG[device.type][0](device).cpu()}


def restore_accelerator_rng(device: torch.device, tensors: dict[str, torch.Tensor]) -> None:
    """Set the device's generator from a saved state of the same device type; a run moved between
    devices continues with the new device's own stream (bitwise equality across devices is not possible anyway)."""
    key = f"rng.{device.type}"
    if device.type in _RNG and key in tensors:
        _RNG[device.type][1](tensors[key], device)
