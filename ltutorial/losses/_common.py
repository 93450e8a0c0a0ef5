"""Shared pieces of the long-tailed losses: count buffers, input checks, stable reductions.

Every loss computes in float32 whatever the input dtype (bfloat16 logits from autocast would
otherwise lose the small log-prior shifts and margins), and keeps its per-class state in
registered buffers that hooks update in place, so ``.to(device)`` moves it and a captured CUDA
graph keeps pointing at the same memory.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_class_counts

__all__ = ["LongTailLoss", "check_logits_targets", "explain_target_range", "check_hyperparameter", "weighted_mean",
           "log_priors"]


def check_hyperparameter(value, name: str, *, positive: bool = False) -> float:
    """A finite real number >= 0 (``positive``: > 0) as a float; ``ValueError`` naming ``name`` otherwise."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}; got {value!r} instead.")
    return float(value)


def log_priors(counts: torch.Tensor) -> torch.Tensor:
    """log pi_j = log(n_j / N) from validated float64 counts (float64, CPU)."""
    return torch.log(counts) - torch.log(counts.sum())


def check_logits_targets(logits: torch.Tensor, targets: torch.Tensor, num_classes: int | None) -> None:
    """Shape checks only: value checks would force a device sync inside a captured step (the targets'
    range is explained after the fact, see ``explain_target_range``)."""
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a 2-D tensor (batch, num_classes); got {shape} instead.")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor; got dtype {logits.dtype} instead.")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(
            f"class_counts must have one entry per logit column; got {num_classes} counts for logits with "
            f"{logits.shape[1]} columns instead."
        )
    if not isinstance(targets, torch.Tensor) or targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ValueError(f"targets must be a 1-D tensor with one label per logit row ({logits.shape[0]}); got {shape} instead.")
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ValueError(f"targets must hold integer class indices; got dtype {targets.dtype} instead.")


def explain_target_range(logits, targets) -> None:
    """After a loss failed: a ValueError naming ``targets`` if they leave [0, C) (CPU tensors only; on a
    GPU an out-of-range index is a device-side assert, not a Python error). Run only on failure, so a
    valid step reads no value back to the host."""
    ok_types = isinstance(logits, torch.Tensor) and isinstance(targets, torch.Tensor) and logits.ndim == 2
    if not ok_types or targets.device.type != "cpu" or targets.numel() == 0 or targets.is_floating_point():
        return
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= logits.shape[1]:
        raise ValueError(f"targets must be class indices in [0, {logits.shape[1]}) (one per logit column); got values "
                         f"from {low} to {high} instead.")


def weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """sum_i w_i l_i / sum_i w_i (PyTorch's ``cross_entropy(weight=...)`` form); plain mean if no weights.

    This is the normalisation LDAM-DRW, VS and the DDC code (TLA/ADRW) use, so their numbers are
    reproduced with it. The class-balanced paper's TensorFlow code divides by the batch size
    instead; ``ClassBalancedLoss`` offers that form (see its docstring).
    """
    if weights is None:
        return per_sample.mean()
    return (per_sample * weights).sum() / weights.sum()


class LongTailLoss(nn.Module):
    """Base class: validates ``class_counts`` and registers them (float32) as the ``class_counts`` buffer."""

    def __init__(self, class_counts=None):
        super().__init__()
        if class_counts is None:
            self.num_classes = None
            self._counts64 = None
        else:
            counts = check_class_counts(class_counts)
            self.num_classes = int(counts.numel())
            self._counts64 = counts
            self.register_buffer("class_counts", counts.to(torch.float32))

    def __call__(self, *args, **kwargs):
        # torch's index error for an out-of-range target names no argument: say "targets" instead.
        try:
            return super().__call__(*args, **kwargs)
        except (IndexError, RuntimeError):
            named = dict(zip(("logits", "targets"), args), **kwargs)
            explain_target_range(named.get("logits"), named.get("targets"))
            raise

    def _prepare(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_logits_targets(logits, targets, self.num_classes)
        return logits.float(), targets.long()

    def _register_optional_weight(self, weight) -> None:
        """A ``weight`` buffer when weights are given (sized by ``class_counts`` or by ``weight``), else None."""
        if weight is None:
            self.weight = None
            return
        if self.num_classes is None:
            self.num_classes = int(torch.as_tensor(weight).numel())
        self._register_weight(weight)

    def _register_weight(self, weight) -> None:
        """A ``weight`` buffer of ones when None, so DRW/ADRW can fill it in place later."""
        if weight is None:
            w = torch.ones(self.num_classes, dtype=torch.float32)
        else:
            w = torch.as_tensor(weight, dtype=torch.float32).detach().cpu()
            if w.ndim != 1 or w.numel() != self.num_classes or not torch.isfinite(w).all() or (w < 0).any():
                raise ValueError(
                    f"weight must be a 1-D sequence of {self.num_classes} finite non-negative class weights; "
                    f"got {w.tolist()} instead."
                )
            if not bool((w > 0).any()):  # the weighted mean would divide 0 by 0: a NaN loss
                raise ValueError(f"weight must have at least one positive class weight; got all zeros {w.tolist()} instead.")
        self.register_buffer("weight", w.clone())

    @staticmethod
    def _ce(z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample -log softmax(z)_y through log_softmax (finite for logits of any size)."""
        return -F.log_softmax(z, dim=1).gather(1, targets[:, None]).squeeze(1)
