"""Training: ``fit`` (one loop for any model, loss and schedule), ``fit_many``, evaluation, schedules, recipes,
augmentation; on CUDA ``fit``'s ``fast`` flag hands the work to ``ltutorial.fast`` (docs/ARCHITECTURE.md)."""

from ltutorial.train.augment import crop_flip, normalize
from ltutorial.train.compare import train_methods, training_recipe
from ltutorial.train.loop import (FitConfig, History, TrainState, evaluate, extract_features, fit, fit_many, predict,
                                  predict_logits)
from ltutorial.train.recipes import RECIPES, TrainConfig
from ltutorial.train.schedules import cosine_with_warmup, warmup_multistep

__all__ = ["fit", "fit_many", "evaluate", "predict", "predict_logits", "extract_features", "History", "TrainState",
           "FitConfig", "crop_flip", "normalize", "warmup_multistep", "cosine_with_warmup", "TrainConfig", "RECIPES",
           "train_methods", "training_recipe"]
