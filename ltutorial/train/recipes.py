"""Ready training configurations. ``RECIPES["ldam-drw-cifar"]`` is the CIFAR-LT recipe of LDAM-DRW
(Cao et al., NeurIPS 2019, ``cifar_train.py``), which CB, VS and TLA/ADRW comparisons reuse.

``TrainConfig.fit_kwargs()`` returns keyword arguments for ``ltutorial.train.fit`` / ``fit_many``;
``config.with_epochs(n)`` rescales the schedule (warm-up and milestones) to a shorter run.
Notebooks 07-09 and ``ltutorial reproduce``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from ltutorial._validation import check_choice, check_positive_int
from ltutorial.train.schedules import ldam_drw_schedule, warmup_multistep

__all__ = ["TrainConfig", "RECIPES", "get_recipe"]


@dataclass(frozen=True)
class TrainConfig:
    """One training recipe: model, optimiser (SGD), lr schedule and augmentation.

    lr(e) = lr * min(1, (e+1)/warmup_epochs) * gamma^#{m in milestones: e >= m}, e 0-based.
    """

    model: str = "resnet32"
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    warmup_epochs: int = 5
    milestones: tuple[int, ...] = (160, 180)
    gamma: float = 0.01
    augment: bool = True
    nesterov: bool = False
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        check_positive_int(self.epochs, name="epochs")
        check_positive_int(self.batch_size, name="batch_size")
        for name, low, high in (("lr", 0.0, None), ("weight_decay", 0.0, None), ("momentum", 0.0, 1.0)):
            value = getattr(self, name)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < low or (name == "lr" and value == 0) or (high is not None and value >= high):
                expected = "a finite number > 0" if name == "lr" else (
                    f"a number in [{low:g}, {high:g})" if high is not None else "a finite number >= 0")
                raise ValueError(f"{name} must be {expected}; got {value!r} instead.")
        if any(isinstance(m, numbers.Integral) and m > self.epochs for m in self.milestones):
            raise ValueError(f"milestones must be epochs <= epochs ({self.epochs}); got {self.milestones!r} instead.")
        self.schedule()  # warmup_epochs, milestones and gamma are checked where the schedule is built

    @property
    def reweight_epoch(self) -> int:
        """The 0-based epoch where DRW / TLA-ADRW switch on: the first lr milestone (160 of 200)."""
        return self.milestones[0] if self.milestones else self.epochs

    def schedule(self):
        """The lr multiplier schedule ``epoch -> factor`` (``ldam_drw_schedule(epochs)`` when it has that shape)."""
        ldam = ldam_drw_schedule(self.epochs)
        if (self.warmup_epochs, tuple(self.milestones), self.gamma) == (ldam.warmup_epochs, tuple(ldam.milestones), ldam.gamma):
            return ldam
        return warmup_multistep(self.warmup_epochs, self.milestones, self.gamma)

    def with_epochs(self, epochs: int) -> "TrainConfig":
        """The same recipe over ``epochs``, warm-up and milestones scaled as ``ldam_drw_schedule`` does."""
        epochs = check_positive_int(epochs, name="epochs")
        if epochs == self.epochs:
            return self
        scaled = ldam_drw_schedule(epochs) if self.epochs == 200 else None
        if scaled is not None and self.milestones == (160, 180) and self.warmup_epochs == 5:
            return dataclasses.replace(self, epochs=epochs, warmup_epochs=scaled.warmup_epochs,
                                       milestones=tuple(scaled.milestones))
        factor = epochs / self.epochs
        return dataclasses.replace(
            self, epochs=epochs, warmup_epochs=max(1, int(self.warmup_epochs * factor + 0.5)) if self.warmup_epochs else 0,
            milestones=tuple(int(m * factor + 0.5) for m in self.milestones),
        )

    def fit_kwargs(self) -> dict:
        """Keyword arguments for ``fit(model, train, loss_fn=..., **config.fit_kwargs())``."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
            "schedule": self.schedule(),
            "augment": self.augment,
        }


RECIPES = {
    "ldam-drw-cifar": TrainConfig(
        model="resnet32", epochs=200, batch_size=128, lr=0.1, momentum=0.9, weight_decay=2e-4,
        warmup_epochs=5, milestones=(160, 180), gamma=0.01, augment=True,
        notes="Cao et al. 2019 cifar_train.py: ResNet-32, SGD 0.9, lr 0.1, batch 128, wd 2e-4, 200 epochs, "
              "linear warm-up 5 epochs, lr x0.01 at epochs 160 and 180 (0-based), pad-4 crop + flip.",
    ),
}


def get_recipe(name: str) -> TrainConfig:
    """The recipe registered as ``name`` in ``RECIPES`` (notebook 01 trains with "ldam-drw-cifar")."""
    return RECIPES[check_choice(name, sorted(RECIPES), name="recipe")]
