"""Learning-rate schedules: callables ``epoch -> multiplier`` of the base lr (epoch 0-based).

``fit`` calls ``schedule(epoch)`` at the start of every epoch and sets lr = base_lr * multiplier.
Each schedule is a small object with a readable ``repr`` so a History can record which one ran.
"""

from __future__ import annotations

import math

from ltutorial._validation import check_choice

__all__ = ["Constant", "WarmupMultiStep", "CosineWithWarmup", "constant", "warmup_multistep", "ldam_drw_schedule",
           "cosine_with_warmup", "SCHEDULES", "get_schedule"]


def _check_epoch(epoch) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0; got {epoch!r} instead.")
    return epoch


def _check_nonneg_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r} instead.")
    return value


class Constant:
    """Multiplier 1 at every epoch."""

    def __call__(self, epoch: int) -> float:
        _check_epoch(epoch)
        return 1.0

    def __repr__(self) -> str:
        return "constant()"


class WarmupMultiStep:
    """Linear warm-up then step decay: f(e) = min(1, (e+1)/W) * gamma^(#{m in milestones : e >= m}).

    With W = 5, milestones (160, 180) this is the LDAM-DRW shape: epochs 0..4 (1-indexed 1..5)
    give 0.2, 0.4, ..., 1.0; epoch 160 (the 161st) is the first decayed epoch.
    """

    def __init__(self, warmup_epochs: int = 5, milestones=(160, 180), gamma: float = 0.1):
        self.warmup_epochs = _check_nonneg_int(warmup_epochs, "warmup_epochs")
        try:
            milestones = tuple(int(m) for m in milestones)
        except TypeError:
            raise ValueError(f"milestones must be a sequence of epochs; got {milestones!r} instead.") from None
        if any(m < 0 for m in milestones) or list(milestones) != sorted(milestones):
            raise ValueError(f"milestones must be non-negative and non-decreasing; got {milestones!r} instead.")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not (0 < gamma <= 1):
            raise ValueError(f"gamma must be a number in (0, 1]; got {gamma!r} instead.")
        self.milestones = milestones
        self.gamma = float(gamma)

    def __call__(self, epoch: int) -> float:
        epoch = _check_epoch(epoch)
        warm = min(1.0, (epoch + 1) / self.warmup_epochs) if self.warmup_epochs > 0 else 1.0
        decays = sum(1 for m in self.milestones if epoch >= m)
        return warm * self.gamma**decays

    def __repr__(self) -> str:
        return f"warmup_multistep(warmup_epochs={self.warmup_epochs}, milestones={self.milestones}, gamma={self.gamma:g})"


class CosineWithWarmup:
    """Linear warm-up then cosine decay to ``min_factor``: f(e) = m + (1-m)(1 + cos(pi t)) / 2,
    t = (e - W) / (E - W) for e >= W (Loshchilov & Hutter, SGDR, ICLR 2017)."""

    def __init__(self, epochs: int, warmup_epochs: int = 0, min_factor: float = 0.0):
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1; got {epochs!r} instead.")
        self.epochs = epochs
        self.warmup_epochs = _check_nonneg_int(warmup_epochs, "warmup_epochs")
        if self.warmup_epochs >= epochs and epochs > 1:
            raise ValueError(f"warmup_epochs must be smaller than epochs ({epochs}); got {warmup_epochs} instead.")
        if isinstance(min_factor, bool) or not isinstance(min_factor, (int, float)) or not (0 <= min_factor <= 1):
            raise ValueError(f"min_factor must be a number in [0, 1]; got {min_factor!r} instead.")
        self.min_factor = float(min_factor)

    def __call__(self, epoch: int) -> float:
        epoch = _check_epoch(epoch)
        if epoch < self.warmup_epochs:
            return (epoch + 1) / self.warmup_epochs
        span = max(1, self.epochs - self.warmup_epochs)
        t = min(1.0, (epoch - self.warmup_epochs) / span)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))

    def __repr__(self) -> str:
        return f"cosine_with_warmup(epochs={self.epochs}, warmup_epochs={self.warmup_epochs}, min_factor={self.min_factor:g})"


def constant() -> Constant:
    """The constant schedule (multiplier 1)."""
    return Constant()


def warmup_multistep(warmup_epochs: int = 5, milestones=(160, 180), gamma: float = 0.1) -> WarmupMultiStep:
    """Linear warm-up over ``warmup_epochs`` then lr x gamma at each milestone (epochs 0-based).

    f(e) = min(1, (e+1)/W) * gamma^k, k = number of milestones <= e (Goyal et al. 2017 warm-up;
    the multi-step decay of the CIFAR ResNet recipes).
    """
    return WarmupMultiStep(warmup_epochs, milestones, gamma)


def ldam_drw_schedule(epochs: int = 200) -> WarmupMultiStep:
    """The LDAM-DRW lr schedule (Cao et al., NeurIPS 2019, ``cifar_train.py``), scaled to ``epochs``.

    At 200 epochs (1-indexed e): e = 1..5 -> 0.1 e/5 (warm-up), 6..160 -> 0.1, 161..180 -> 0.1 x 0.01,
    181..200 -> 0.1 x 1e-4; each decay is a factor of 100. In 0-based epochs: milestones 160 and 180,
    gamma 0.01, 5 warm-up epochs. For other run lengths the warm-up and both milestones are scaled by
    epochs/200 (rounded half up, warm-up at least 1 epoch) so a short notebook run keeps the shape:
    80 % at full lr, 10 % at 1e-2, 10 % at 1e-4. DRW switches on at the first milestone
    (``milestones[0]``). Notebooks 07-09 and ``ltutorial reproduce``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1; got {epochs!r} instead.")
    scale = epochs / 200

    def scaled(e: int) -> int:
        return int(math.floor(e * scale + 0.5))

    return WarmupMultiStep(max(1, scaled(5)), (scaled(160), scaled(180)), 0.01)


def cosine_with_warmup(epochs: int, warmup_epochs: int = 0, min_factor: float = 0.0) -> CosineWithWarmup:
    """Linear warm-up then half-cosine decay to ``min_factor`` over the remaining epochs (SGDR)."""
    return CosineWithWarmup(epochs, warmup_epochs, min_factor)


#: Schedule factories by name; ``get_schedule(name, **kwargs)`` builds one.
SCHEDULES = {
    "constant": constant,
    "warmup_multistep": warmup_multistep,
    "ldam-drw": ldam_drw_schedule,
    "cosine": cosine_with_warmup,
}


def get_schedule(name: str, **kwargs):
    """Build the schedule registered as ``name`` in ``SCHEDULES`` with ``kwargs``."""
    check_choice(name, sorted(SCHEDULES), name="schedule")
    return SCHEDULES[name](**kwargs)
