"""ltutorial, the companion package to *Trustworthy Machine Learning on Imbalanced Data*; sub-packages load lazily."""

import importlib

from ltutorial._version import __version__, require
from ltutorial.device import get_device, seed_everything
from ltutorial.profiles import PROFILES, pick, supervised_settings

_SUBMODULES = ("classic", "fisher_consistency", "data", "exercises", "losses", "methods", "metrics", "models",
               "notebooks", "plots", "posthoc", "progress", "reproduce", "sampling", "ssl", "train")

__all__ = ["__version__", "require", "get_device", "seed_everything", "PROFILES", "pick", "supervised_settings",
           *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        globals()[name] = module = importlib.import_module(f"ltutorial.{name}")
        return module
    raise AttributeError(f"module 'ltutorial' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
