"""``train_methods``: losses compared side by side, same initial weights and batches (notebooks 01, 03, 06-09).

The recipe is LDAM-DRW's (Cao et al. 2019, ``RECIPES["ldam-drw-cifar"]``) scaled to ``epochs``; re-weighting hooks
(DRW, TLA-ADRW) switch on at its first lr milestone, ``reweight_epoch``.
"""

import dataclasses
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ltutorial.losses import init_sigmoid_bias
from ltutorial.methods import method_spec
from ltutorial.models import build_model
from ltutorial.train.loop import fit_many
from ltutorial.train.recipes import RECIPES

__all__ = ["train_methods", "training_recipe", "build_models", "MethodResult"]


def train_methods(methods, train, test, *, model: str = "small_cnn", model_kwargs: dict | None = None,
                  epochs: int = 200, device="auto", seed: int = 0, eval_every: int = 1, progress=None,
                  log: bool = False, method_params: dict | None = None, **recipe) -> dict:
    """Train ``methods`` = {label: spec} together; {label: ``MethodResult``} in that order.

    A spec is a name of ``lt.methods.METHODS`` (``method_params`` as ``lt.methods.method_params``) or a dict with
    ``loss`` and optional ``hooks`` (a list, or ``reweight_epoch -> list``), ``model_kwargs``, ``sigmoid_bias``.
    ``recipe`` replaces recipe fields, so ``**lt.supervised_settings(...)`` fits; ``log`` prints each model's start.
    """
    if not isinstance(log, bool):
        raise ValueError(f"log must be True or False; got {log!r} instead.")
    if test is None:  # checked before training: each result holds the test numbers
        raise ValueError("test must be the dataset the methods are compared on; got None instead.")
    start, config = time.perf_counter(), training_recipe(epochs, **recipe)
    methods = {m: m for m in methods} if isinstance(methods, (list, tuple)) else methods
    specs = {label: _spec(label, spec, train.class_counts, config.reweight_epoch, method_params)
             for label, spec in methods.items()}
    models = build_models(specs.values(), train.num_classes, train.images.shape[1], model, model_kwargs, seed)
    hooks = [[*spec.get("hooks", []), *[partial(_announce, label, i, len(specs), start)] * log]
             for i, (label, spec) in enumerate(specs.items())]
    loss_fns = [spec["loss"] for spec in specs.values()]
    histories = fit_many(models, train, loss_fns=loss_fns, hooks=hooks, test=test, device=device, seed=seed,
                         eval_every=eval_every, progress=progress, **config.fit_kwargs())
    if log:
        print(f"{len(specs)} models trained in {time.perf_counter() - start:.0f} s", flush=True)
    return {label: MethodResult(label, m, lf, h, float(h.final_balanced_accuracy), np.asarray(h.per_class_accuracy))
            for label, m, lf, h in zip(specs, models, loss_fns, histories)}


@dataclass
class MethodResult:
    """One trained method: its model, loss, History and the last epoch's test numbers."""

    name: str
    model: torch.nn.Module
    loss: torch.nn.Module
    history: object
    balanced_accuracy: float
    per_class_accuracy: np.ndarray


def training_recipe(epochs: int = 200, *, model=None, model_kwargs=None, eval_every=None, method_params=None,
                    **overrides):
    """The LDAM-DRW recipe scaled to ``epochs`` with fields replaced; takes every key of ``lt.supervised_settings``
    (``model``, ``model_kwargs``, ``eval_every`` and ``method_params`` leave the recipe as it is). Notebooks 07, 09."""
    recipe = RECIPES["ldam-drw-cifar"].with_epochs(epochs)
    return dataclasses.replace(recipe, **overrides) if overrides else recipe


def build_models(specs, num_classes: int, in_channels: int, model: str, model_kwargs: dict | None, seed: int) -> list:
    """One ``model`` per spec, each from ``torch.manual_seed(seed)`` (the same initial weights per architecture)."""
    models = []
    for spec in specs:
        torch.manual_seed(seed)
        kwargs = {**(model_kwargs or {}), **spec.get("model_kwargs", {})}
        net = build_model(model, num_classes, in_channels=in_channels, **kwargs)
        if spec.get("sigmoid_bias"):
            init_sigmoid_bias(net, num_classes)
        models.append(net)
    return models


def _spec(label, spec, counts, reweight_epoch: int, method_params) -> dict:
    """A spec as a dict with its hooks built for ``reweight_epoch``."""
    if isinstance(spec, str):
        return method_spec(spec, counts, reweight_epoch=reweight_epoch, params=method_params)
    if not isinstance(spec, dict) or "loss" not in spec:
        raise ValueError(f"methods[{label!r}] must be a METHODS name or a dict with a 'loss'; got {spec!r} instead.")
    hooks = spec.get("hooks", [])
    return {**spec, "hooks": list(hooks(reweight_epoch) if callable(hooks) else hooks)}


def _announce(label: str, i: int, n: int, start: float, state) -> None:
    """An epoch hook (all but ``state`` bound): one line when model ``i`` of ``n`` starts (progress papermill keeps)."""
    if state.epoch == 0:
        print(f"[{i + 1}/{n}] {label}: {state.epochs} epochs ({time.perf_counter() - start:.0f} s so far)", flush=True)
