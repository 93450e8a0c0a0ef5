"""Training: ``fit`` (one loop for any model, loss and schedule), ``fit_many`` (several models, same
batches), evaluation, hooks, schedules, augmentation. On CUDA both hand their work to the engine tier
``ltutorial.fast`` through their ``fast`` flag.

Contracts: docs/ARCHITECTURE.md, "Training loop" and "Several models at once".
"""

from __future__ import annotations

import importlib

from ltutorial.train.augment import crop_flip, normalize, random_crop_flip
from ltutorial.train.compare import train_methods
from ltutorial.train.hooks import PerClassAccuracyRecorder
from ltutorial.train.loop import (
    FitConfig,
    History,
    TrainState,
    evaluate,
    extract_features,
    fit,
    fit_many,
    predict,
    predict_logits,
)
from ltutorial.train.schedules import (
    SCHEDULES,
    cosine_with_warmup,
    get_schedule,
    ldam_drw_schedule,
    warmup_multistep,
)

_LAZY = {"fuse_models": ("ltutorial.fast.fused", "fuse_models")}
_SUBMODULES = ("augment", "schedules", "common", "loop", "hooks", "recipes")

__all__ = [
    "fit", "fit_many", "evaluate", "predict", "predict_logits", "extract_features", "History", "TrainState",
    "FitConfig",
    "random_crop_flip", "crop_flip", "normalize", "warmup_multistep", "ldam_drw_schedule", "cosine_with_warmup",
    "SCHEDULES", "get_schedule", "fuse_models", "PerClassAccuracyRecorder", "train_methods",
]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"ltutorial.train.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ltutorial.train' has no attribute {name!r}")
