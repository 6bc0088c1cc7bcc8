"""latentcraft: VAEs whose latent space means what you chose.

The Python API (api.py) is five calls at the top of the package:

    latentcraft.train(preset_or_config, run_dir, overrides={...}, seeds=1)  -> summary dict
    latentcraft.load(run_dir)                                               -> TrainedModel
    latentcraft.evaluate(run_dir)                                           -> metrics dict
    latentcraft.export(run_dir, out)                                        -> site manifest
    latentcraft.sweep(preset_or_config, out, seeds=3, grid={...})           -> sweep summary

`import latentcraft` imports nothing heavy; torch loads on the first call.
"""

from __future__ import annotations

import importlib
import sys
import types

from .api import load, sweep

__version__ = "0.1.0"
__all__ = ["train", "load", "evaluate", "export", "sweep"]

# Four API verbs share their names with the modules that implement them
# (latentcraft.train is also the trainer's module, and `from latentcraft import
# export` must keep giving the export module). One attribute cannot be both a
# function and a module, so those modules become callable: calling one calls
# the API function of the same name, and everything else about it stays a module.
_CALLABLE_MODULES = ("train", "evaluate", "export")


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from . import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        # The import system binds every loaded submodule here; give the verbs their call.
        if name in _CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> object:
        # Only reached for names not bound yet: import the verb's module on first use.
        if name in _CALLABLE_MODULES:
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(__all__))


sys.modules[__name__].__class__ = _Package
