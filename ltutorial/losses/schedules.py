"""Epoch hooks that change a loss's per-class state during training: DRW (Cao et al., 2019) and the
VS -> TLA + ADRW switch (Wang et al., 2023). Notebooks 07 and 09.

A hook is called as ``hook(state)`` at the start of every epoch (``state.epoch`` 0-based), after the
learning rate is set (``ltutorial.train.fit``). The hooks only write into the loss's registered
buffers with ``copy_``/``fill_``: the tensors keep their identity, so a CUDA graph that captured the
training step reads the new values.
"""

from __future__ import annotations

import numbers

import torch

from ltutorial._validation import check_class_counts, check_positive_int
from ltutorial.losses.class_balanced import check_beta, class_balanced_weights
from ltutorial.losses.vs import TLAADRWLoss

__all__ = ["DeferredReweighting", "TLAADRWSchedule"]


def _check_epoch(value, name: str) -> int:
    return check_positive_int(value, name=name, minimum=0)


def _epoch_of(state) -> int:
    epoch = getattr(state, "epoch", None)
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise ValueError(f"state.epoch must be a non-negative integer; got {epoch!r} instead.")
    return int(epoch)


class DeferredReweighting:
    """DRW: class weights all 1 before ``start_epoch``, class-balanced weights (beta) from it on.

    w = 1 for t < start_epoch, w = ``class_balanced_weights(class_counts, beta)`` for t >= start_epoch
    (0-based t; LDAM-DRW switches at 160, the epoch of the first lr drop). Writes ``loss.weight`` in
    place. ``class_counts=None`` takes the loss's own ``class_counts`` buffer. Cao et al., NeurIPS 2019,
    "deferred re-weighting". Notebook 07.
    """

    def __init__(self, loss, class_counts=None, start_epoch: int = 160, beta: float = 0.9999):
        weight = getattr(loss, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(
                f"loss must have a per-class 'weight' buffer (LDAMLoss, VSLoss, ...); got {type(loss).__name__} instead."
            )
        if class_counts is None:
            class_counts = getattr(loss, "class_counts", None)
            if class_counts is None:
                raise ValueError("class_counts must be given when the loss holds no class_counts; got None instead.")
        counts = check_class_counts(class_counts, num_classes=weight.numel())
        self.loss = loss
        self.start_epoch = _check_epoch(start_epoch, "start_epoch")
        self.beta = check_beta(beta)
        self.deferred_weight = class_balanced_weights(counts, self.beta)

    def weights_at(self, epoch: int) -> torch.Tensor:
        """The class weights in force at 0-based ``epoch`` (CPU float32)."""
        return self.deferred_weight if epoch >= self.start_epoch else torch.ones_like(self.deferred_weight)

    def __call__(self, state) -> None:
        w = self.weights_at(_epoch_of(state))
        self.loss.weight.copy_(w.to(self.loss.weight.device))

    def __repr__(self) -> str:
        return f"DeferredReweighting(start_epoch={self.start_epoch}, beta={self.beta})"


class TLAADRWSchedule:
    """The slides' Algorithm 1 as an epoch hook: VS while t < t0, truncated LA + ADRW from t0 on.

    Calls ``loss.set_phase(0 if epoch < t0 else 1)`` on a ``TLAADRWLoss`` (0-based epoch; the DDC code
    switches at t0 = 160 of 200, together with the lr drop, which Algorithm 1 requires at T0).
    ``nu``/``tau_after``, when given, override the loss's values in place. Wang et al., NeurIPS 2023.
    Notebook 09.
    """

    def __init__(self, loss, t0: int = 160, nu: float | None = None, tau_after: float | None = None):
        if not isinstance(loss, TLAADRWLoss):
            raise ValueError(f"loss must be a TLAADRWLoss; got {type(loss).__name__} instead.")
        self.loss = loss
        self.t0 = _check_epoch(t0, "t0")
        if nu is not None:
            loss.set_nu(nu)
        if tau_after is not None:
            loss.set_tau_after(tau_after)

    def phase_at(self, epoch: int) -> int:
        """0 (VS) for 0-based ``epoch`` < t0, else 1 (TLA + ADRW)."""
        return 0 if epoch < self.t0 else 1

    def __call__(self, state) -> None:
        self.loss.set_phase(self.phase_at(_epoch_of(state)))

    def __repr__(self) -> str:
        return f"TLAADRWSchedule(t0={self.t0}, nu={self.loss.nu}, tau_after={self.loss.tau_after})"
