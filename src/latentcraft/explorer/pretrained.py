"""Small trained models shipped inside the package, so the explorer starts with no training.

Each lives in `latentcraft/pretrained/<name>/` as an ordinary run folder:
config.json, model.safetensors (float16: half the size, same numbers to the
shown precision), summary.json from its training and eval.json from
`evaluate` on the shipped weights. `scripts/build_pretrained.sh` rebuilds
them from this repository's presets:

    latentcraft train --preset routed-style --seed 0 --run-dir RUN
    latentcraft evaluate RUN
    python -c "from latentcraft.pretrained import pack; pack('RUN', 'src/latentcraft/pretrained/routed-style')"
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from latentcraft.training.checkpoint import CONFIG_FILE, SUMMARY_FILE, WEIGHTS_FILE, RunError

PRETRAINED_DIR = "pretrained"
DEFAULT_MODEL = "routed-style"  # what `latentcraft demo` shows: digit and style sliders
SHIPPED_DTYPE = torch.float16


def pretrained_root() -> Path:
    return Path(str(resources.files("latentcraft.explorer") / PRETRAINED_DIR))


def available() -> list[str]:
    root = pretrained_root()
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []


def pretrained_run(name: str = DEFAULT_MODEL) -> Path:
    """The shipped run folder `name`; RunError naming what is shipped if there is no such model."""
    folder = pretrained_root() / name
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        shipped = ", ".join(available()) or "none"
        raise RunError(f"no pretrained model {name!r} in {pretrained_root()} (shipped: {shipped}); "
                       "rebuild it with scripts/build_pretrained.sh or train one with `latentcraft demo --train`")
    return folder


def pack(run_dir: str | Path, out_dir: str | Path, evaluate: bool = True) -> dict:
    """Copy a trained run into `out_dir` as a shipped model: float16 weights, config, summary, eval.

    The eval.json is computed again on the float16 weights, so the numbers it
    shows are those of the model that ships. Returns {metric: (run's, shipped)}
    for the metrics both evaluations hold.
    """
    from latentcraft.evaluation.evaluate import EVAL_FILE, evaluate_run, read_eval

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE, SUMMARY_FILE):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir} lacks {name}: pack a finished training run")
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(run_dir / WEIGHTS_FILE))
    save_file({k: v.to(SHIPPED_DTYPE) if v.is_floating_point() else v for k, v in tensors.items()},
              str(out_dir / WEIGHTS_FILE))
    for name in (CONFIG_FILE, SUMMARY_FILE):
        shutil.copyfile(run_dir / name, out_dir / name)
    (out_dir / EVAL_FILE).unlink(missing_ok=True)
    if not evaluate:
        return {}
    shipped = evaluate_run(out_dir, progress=False)["metrics"]
    original = (read_eval(run_dir) or {}).get("metrics", {})
    record = json.loads((out_dir / EVAL_FILE).read_text())
    record["run_dir"] = f"{PRETRAINED_DIR}/{out_dir.name}"  # this machine's path means nothing elsewhere
    (out_dir / EVAL_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return {k: (original[k], shipped[k]) for k in shipped if k in original}
