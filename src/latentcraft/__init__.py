"""latentcraft: VAEs whose latent space means what you chose.

The Python API (api.py) is five calls at the top of the package:

    latentcraft.train(preset_or_config, run_dir, overrides={...}, seeds=1)  -> summary dict
    latentcraft.load(run_dir)                                               -> TrainedModel
    latentcraft.evaluate(run_dir)                                           -> metrics dict
    latentcraft.export(run_dirs, out)                                       -> site manifest
    latentcraft.sweep(preset_or_config, out, seeds=3, grid={...})           -> sweep summary

`import latentcraft` imports nothing heavy; torch loads on the first call.
"""

from latentcraft.api import evaluate, export, load, sweep, train

__version__ = "0.1.0"
__all__ = ["train", "load", "evaluate", "export", "sweep"]
