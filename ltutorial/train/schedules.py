"""Learning-rate schedules: epoch (0-based) -> multiplier of the base lr; the ``repr`` goes into the History."""

import math

from ltutorial._validation import check_positive_int, check_probability

__all__ = ["WarmupMultiStep", "CosineWithWarmup", "warmup_multistep", "cosine_with_warmup"]


class WarmupMultiStep:
    """f(e) = min(1, (e+1)/W) * gamma^#{m in milestones : e >= m}: linear warm-up (Goyal et al. 2017), then
    the multi-step decay of the CIFAR ResNet recipes."""

    def __init__(self, warmup_epochs: int = 5, milestones=(160, 180), gamma: float = 0.1):
        self.warmup_epochs = check_positive_int(warmup_epochs, name="warmup_epochs", minimum=0)
        try:
            self.milestones = tuple(check_positive_int(m, name="milestones", minimum=0) for m in milestones)
        except TypeError:
            raise ValueError(f"milestones must be a sequence of epochs; got {milestones!r} instead.") from None
        if list(self.milestones) != sorted(self.milestones):  # each one is an int >= 0 already
            raise ValueError(f"milestones must be non-negative and non-decreasing; got {milestones!r} instead.")
        self.gamma = check_probability(gamma, name="gamma", inclusive_low=False)

    def __call__(self, epoch: int) -> float:
        epoch = check_positive_int(epoch, name="epoch", minimum=0)
        warm = min(1.0, (epoch + 1) / self.warmup_epochs) if self.warmup_epochs > 0 else 1.0
        return warm * self.gamma ** sum(1 for m in self.milestones if epoch >= m)

    def __repr__(self) -> str:
        return (f"warmup_multistep(warmup_epochs={self.warmup_epochs}, milestones={self.milestones}, "
                f"gamma={self.gamma:g})")


class CosineWithWarmup:
    """Linear warm-up, then f(e) = m + (1-m)(1 + cos(pi t)) / 2 with t = (e - W) / (E - W) (SGDR, Loshchilov &
    Hutter, ICLR 2017)."""

    def __init__(self, epochs: int, warmup_epochs: int = 0, min_factor: float = 0.0):
        self.epochs = check_positive_int(epochs, name="epochs")
        self.warmup_epochs = check_positive_int(warmup_epochs, name="warmup_epochs", minimum=0)
        if self.warmup_epochs >= epochs > 1:
            raise ValueError(f"warmup_epochs must be smaller than epochs ({epochs}); got {warmup_epochs} instead.")
        self.min_factor = check_probability(min_factor, name="min_factor")

    def __call__(self, epoch: int) -> float:
        epoch = check_positive_int(epoch, name="epoch", minimum=0)
        if epoch < self.warmup_epochs:
            return (epoch + 1) / self.warmup_epochs
        t = min(1.0, (epoch - self.warmup_epochs) / max(1, self.epochs - self.warmup_epochs))
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))

    def __repr__(self) -> str:
        return (f"cosine_with_warmup(epochs={self.epochs}, warmup_epochs={self.warmup_epochs}, "
                f"min_factor={self.min_factor:g})")


# The factories are the classes: a schedule is built by calling its name, and its repr is that call.
warmup_multistep, cosine_with_warmup = WarmupMultiStep, CosineWithWarmup

