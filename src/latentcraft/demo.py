"""`latentcraft demo`: one command from nothing to the explorer in a browser.

Trains a quick routed model the first time (cached, so the next demo starts at
once), exports it as a static site and serves it on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE
from .config import resolve_config
from .data import cache_root

DEMO_PRESET = "routed10"  # the headline model of SPEC §1
DEMO_EPOCHS = 5  # about 1.5 minutes on a 2-core CPU; routed10 reads ~96% of test digits by then
DEMO_RUN = "demo-run"  # folder name in the cache
DEMO_PAGE = "sliders.html"


def demo_cache_dir() -> Path:
    return cache_root() / DEMO_RUN


def ensure_demo_run(run_dir: Path | None = None, epochs: int = DEMO_EPOCHS, overrides: list[str] = (),
                    progress: bool = True) -> Path:
    """The run to show: `run_dir` if given (must exist), else the cached demo run, trained if missing."""
    from .checkpoint import RunError

    if run_dir is not None:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunError(f"{run_dir} is not a run folder: {CONFIG_FILE} is missing")
        return run_dir
    run_dir = demo_cache_dir()
    if (run_dir / SUMMARY_FILE).is_file():
        print(f"using the cached demo model in {run_dir} (delete the folder to retrain)")
        return run_dir
    from .train import train

    preset = DEMO_PRESET
    config = resolve_config(preset, overrides=[f"train.epochs={epochs}", *overrides])
    resume = (run_dir / CHECKPOINT_FILE).is_file()
    print(f"training a quick demo model: preset {preset}, {epochs} epochs, into {run_dir}"
          f"{' (resuming)' if resume else ''}; this happens once", flush=True)
    train(config, run_dir, resume=resume, progress=progress)
    return run_dir
