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
from ltutorial.train.schedules import cosine_with_warmup, ldam_drw_schedule, warmup_multistep

__all__ = ["TrainConfig", "RECIPES", "get_recipe"]


@dataclass(frozen=True)
class TrainConfig:
    """One training recipe: model, optimiser (SGD), lr schedule and augmentation.

    lr(e) = lr * min(1, (e+1)/warmup_epochs) * gamma^#{m in milestones: e >= m}, e 0-based.
    With ``cosine=True``: lr(e) = lr * cosine_with_warmup(epochs, warmup_epochs)(e) (the milestones unused).
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
    cosine: bool = False  # True: cosine decay to 0 after the warm-up instead of the milestones (issue 15)
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
        if self.cosine:
            return cosine_with_warmup(self.epochs, self.warmup_epochs)
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


# Issue 15: the large benchmarks (ImageNet-LT, Places-LT, iNaturalist 2018), images at 224 x 224.
# Kang et al., "Decoupling Representation and Classifier for Long-Tailed Recognition", ICLR 2020: the
# joint (instance-balanced) training of its ImageNet-LT and iNaturalist tables, as set in the official
# configs (facebookresearch/classifier-balancing, config/ImageNet_LT/feat_uniform.yaml and
# config/iNaturalist18/feat_unifrom.yaml): SGD momentum 0.9, batch 512, lr 0.2 with cosine decay to 0
# (no warm-up), 90 epochs. Its README reports 44.4% top-1 (many 65.9 / medium 37.5 / few 7.7) for this
# ResNeXt-50 on ImageNet-LT, the paper's "Joint" row; the paper's table numbers are not re-checked here.
# The LA (Menon et al. 2021) and LDAM (Cao et al. 2019) papers train ResNet-50 on these sets with their
# own settings, which we have not confirmed from a primary source, so they are not listed.
RECIPES.update({
    "decoupling-imagenet-lt": TrainConfig(
        model="resnext50_32x4d", epochs=90, batch_size=512, lr=0.2, momentum=0.9, weight_decay=5e-4,
        warmup_epochs=0, milestones=(), gamma=0.1, augment=True, cosine=True,
        notes="Kang et al. 2020 (Decoupling), config/ImageNet_LT/feat_uniform.yaml: ResNeXt-50 32x4d from scratch, "
              "SGD 0.9, batch 512, lr 0.2, cosine to 0, wd 5e-4, 90 epochs, RandomResizedCrop 224 + flip.",
    ),
    "decoupling-inat2018": TrainConfig(
        model="resnet50", epochs=90, batch_size=512, lr=0.2, momentum=0.9, weight_decay=1e-4,
        warmup_epochs=0, milestones=(), gamma=0.1, augment=True, cosine=True,
        notes="Kang et al. 2020 (Decoupling), config/iNaturalist18/feat_unifrom.yaml: ResNet-50 from scratch, "
              "SGD 0.9, batch 512, lr 0.2, cosine to 0, wd 1e-4, 90 epochs (the README also gives 200-epoch models).",
    ),
    # Places-LT has no from-scratch recipe in these papers: OLTR (Liu et al. 2019, config/Places_LT/stage_1.py)
    # and Decoupling fine-tune an ImageNet-pretrained ResNet-152 (OLTR: 30 epochs, batch 128, lr 0.001 for the
    # backbone and 0.1 for the classifier, x0.1 every 10 epochs, wd 5e-4). We download no weights, so this
    # entry is OUR choice: the ImageNet-LT schedule on a ResNet-50 from scratch; its numbers are not the papers'.
    "scratch-places-lt": TrainConfig(
        model="resnet50", epochs=90, batch_size=512, lr=0.2, momentum=0.9, weight_decay=5e-4,
        warmup_epochs=0, milestones=(), gamma=0.1, augment=True, cosine=True,
        notes="not a paper recipe: Decoupling's ImageNet-LT schedule on ResNet-50 from scratch; the papers fine-tune "
              "an ImageNet-pretrained ResNet-152 on Places-LT (OLTR config/Places_LT/stage_1.py).",
    ),
})


def get_recipe(name: str) -> TrainConfig:
    """The recipe registered as ``name`` in ``RECIPES`` (notebook 01 trains with "ldam-drw-cifar")."""
    return RECIPES[check_choice(name, sorted(RECIPES), name="recipe")]
