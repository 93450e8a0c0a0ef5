"""Losses for long-tailed classification: focal, class-balanced, LDAM (+DRW), logit adjustment,
Balanced Softmax, VS and the two-phase VS -> TLA + ADRW algorithm. Notebooks 06-09.

Every loss is an ``nn.Module`` called as ``loss(logits, targets)`` and returns the batch mean;
inputs may be float32 or bfloat16 (computed in float32). Per-class state is held in registered
buffers (``.to(device)`` moves it) and the epoch hooks ``DeferredReweighting`` and
``TLAADRWSchedule`` update it in place. ``build_loss(name, class_counts, **kw)`` builds one by name.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ltutorial._validation import check_choice
from ltutorial.losses._common import LongTailLoss, weighted_mean
from ltutorial.losses.class_balanced import ClassBalancedLoss, class_balanced_weights, effective_number
from ltutorial.losses.focal import FocalLoss
from ltutorial.losses.ldam import LDAMLoss, ldam_margins
from ltutorial.losses.logit_adjusted import BalancedSoftmaxLoss, LogitAdjustedLoss
from ltutorial.losses.schedules import DeferredReweighting, TLAADRWSchedule
from ltutorial.losses.vs import TLAADRWLoss, VSLoss, adrw_weights, vs_scales

__all__ = [
    "CrossEntropyLoss", "FocalLoss", "ClassBalancedLoss", "LDAMLoss", "LogitAdjustedLoss",
    "BalancedSoftmaxLoss", "VSLoss", "TLAADRWLoss", "DeferredReweighting", "TLAADRWSchedule",
    "effective_number", "class_balanced_weights", "ldam_margins", "vs_scales", "adrw_weights",
    "init_sigmoid_bias", "LOSSES", "build_loss",
]


class CrossEntropyLoss(LongTailLoss):
    """Plain softmax cross-entropy (ERM), batch mean; optional class ``weight`` buffer (weighted mean).

    l = -log softmax(z)_y; with weights, sum_i w_{y_i} l_i / sum_i w_{y_i} (PyTorch's ``weight=``).

    ``class_counts`` is accepted (and validated) only so every loss builds the same way; with
    ``weight`` given, DRW can also drive it. Notebooks 06-09 use it as the ERM baseline.
    """

    def __init__(self, class_counts=None, weight=None):
        super().__init__(class_counts)
        self._register_optional_weight(weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        return weighted_mean(self._ce(z, y), None if self.weight is None else self.weight[y])


def init_sigmoid_bias(model: nn.Module, num_classes: int) -> nn.Linear:
    """Set the bias of the model's last ``nn.Linear`` to -log(C - 1), so sigmoid outputs start near 1/C.

    The CB paper's sigmoid and focal runs start from this bias; without it the C - 1 negative
    terms dominate the first steps. Returns the layer it changed. Notebook 06.
    """
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None or last.bias is None or last.out_features != num_classes:
        raise ValueError(
            f"model must end in an nn.Linear with a bias and {num_classes} outputs; got "
            f"{'none' if last is None else repr(last)} instead."
        )
    with torch.no_grad():
        last.bias.fill_(-math.log(max(num_classes - 1, 1)))
    return last


# name -> (class, whether it takes class_counts as first argument)
LOSSES = {
    "ce": (CrossEntropyLoss, True),
    "focal": (FocalLoss, False),
    "cb": (ClassBalancedLoss, True),
    "ldam": (LDAMLoss, True),
    "la": (LogitAdjustedLoss, True),
    "balanced-softmax": (BalancedSoftmaxLoss, True),
    "vs": (VSLoss, True),
    "tla-adrw": (TLAADRWLoss, True),
}


def build_loss(name: str, class_counts=None, **kwargs) -> nn.Module:
    """Build a loss from ``LOSSES`` by name, e.g. ``build_loss("ldam", counts, max_m=0.5)``."""
    check_choice(name, sorted(LOSSES), name="loss name")
    cls, takes_counts = LOSSES[name]
    if takes_counts:
        if class_counts is None and cls is not CrossEntropyLoss:
            raise ValueError(f"class_counts must be given for loss {name!r}; got None instead.")
        return cls(class_counts, **kwargs)
    if class_counts is not None:
        kwargs.setdefault("class_counts", class_counts)
    return cls(**kwargs)
