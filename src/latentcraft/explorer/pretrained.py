"""Small trained models shipped inside the package, so the explorer starts with no training and no dataset.

Each lives in `latentcraft/explorer/pretrained/<name>/` as an ordinary run
folder: config.json, model.safetensors (float16: half the size, same numbers
to the shown precision), summary.json from its training, eval.json from
`evaluate` on the shipped weights, and site_sample.npz (export.SAMPLE_FILE:
the 1,000 test digits the site shows, as uint8 with their labels, and the
manifest entries measured from the training images), so `latentcraft demo`
reads no dataset and fetches nothing. `scripts/build_pretrained.sh` rebuilds
them from this repository's presets:

    latentcraft train --preset routed-style --seed 0 --run-dir RUN
    latentcraft evaluate RUN
    python -c "from latentcraft.explorer.pretrained import pack; pack('RUN', 'OUT_DIR')"   # ...pretrained/routed-style
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import save_file

from latentcraft.training import checkpoint as ckpt
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


def pack(run_dir: str | Path, out_dir: str | Path, evaluate: bool = True, data_dir: str | None = None) -> dict:
    """Copy a trained run into `out_dir` as a shipped model: float16 weights, config, summary, site sample, eval.

    The site sample and the eval.json are computed on the float16 weights, so the numbers they
    show are those of the model that ships; both need the dataset (`data_dir`, else the usual
    places), the demo then none. Returns {metric: (run's, shipped)} for the metrics both evaluations hold.
    """
    from latentcraft.evaluation.evaluate import EVAL_FILE, evaluate_run, read_eval
    from latentcraft.explorer.export import SAMPLE_FILE, write_site_sample

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE, SUMMARY_FILE):
        if not (run_dir / name).is_file():
            raise RunError(f"{run_dir} lacks {name}: pack a finished training run")
    model = ckpt.load_model(run_dir)  # refuses weights its config does not describe
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (EVAL_FILE, SAMPLE_FILE):  # they describe the weights being replaced
        (out_dir / name).unlink(missing_ok=True)
    tensors = {k: v.to(SHIPPED_DTYPE) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    metadata = ckpt.weights_metadata(model.config)  # what the weights mean travels with them
    ckpt.atomic_write(out_dir / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    for name in (CONFIG_FILE, SUMMARY_FILE):
        shutil.copyfile(run_dir / name, out_dir / name)
    write_site_sample(out_dir, data_dir)
    compared: dict = {}
    if evaluate:
        record = evaluate_run(out_dir, data_dir=data_dir, progress=False, write=False)
        record["run_dir"] = f"{PRETRAINED_DIR}/{out_dir.name}"  # this machine's path means nothing elsewhere
        ckpt.write_json(out_dir / EVAL_FILE, record)
        shipped, original = record["metrics"], (read_eval(run_dir) or {}).get("metrics", {})
        compared = {k: (original[k], shipped[k]) for k in shipped if k in original}
    for path in out_dir.iterdir():  # package data, readable by every user: not the 0600 of atomic writes
        path.chmod(0o644)
    return compared
