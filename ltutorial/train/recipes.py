"""Training recipes: ``RECIPES["ldam-drw-cifar"]``, the CIFAR-LT recipe of LDAM-DRW (Cao et al., NeurIPS 2019)
that CB, VS and TLA/ADRW reuse (notebooks 07-09, ``ltutorial reproduce``), and the papers' recipes for the large
benchmarks (``ltutorial reproduce imagenet-lt|places-lt|inat2018``), each with its source in ``notes``."""

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from ltutorial._validation import check_number, check_positive_int, check_probability
from ltutorial.train.schedules import cosine_with_warmup, warmup_multistep

__all__ = ["TrainConfig", "RECIPES"]


@dataclass(frozen=True)
class TrainConfig:
    """lr(e) = lr * min(1, (e+1)/warmup_epochs) * gamma^#{m in milestones: e >= m} (e 0-based), or with
    ``cosine``: lr * cosine_with_warmup(epochs, warmup_epochs)(e); SGD, optional crop + flip."""

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
    cosine: bool = False
    pretrained: str = ""  # the weights the recipe starts from ("": random ones)
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        check_positive_int(self.epochs, name="epochs")
        check_positive_int(self.batch_size, name="batch_size")
        check_number(self.lr, name="lr", strict=True)
        check_number(self.weight_decay, name="weight_decay")
        check_probability(self.momentum, name="momentum", inclusive_high=False)
        if any(isinstance(m, numbers.Integral) and m > self.epochs for m in self.milestones):
            raise ValueError(f"milestones must be epochs <= epochs ({self.epochs}); got {self.milestones!r} instead.")
        self.schedule()  # checks warmup_epochs, milestones and gamma

    @property
    def reweight_epoch(self) -> int:
        """The 0-based epoch where DRW / TLA-ADRW switch on: the first lr milestone (160 of 200); in a cosine run,
        80% of the epochs, LDAM's CIFAR ratio (our choice, not a paper's); else never (``epochs``)."""
        if self.milestones:
            return self.milestones[0]
        return int(0.8 * self.epochs) if self.cosine else self.epochs

    def schedule(self):
        """The lr multiplier ``epoch -> factor``."""
        if self.cosine:
            return cosine_with_warmup(self.epochs, self.warmup_epochs)
        return warmup_multistep(self.warmup_epochs, self.milestones, self.gamma)

    def with_epochs(self, epochs: int) -> "TrainConfig":
        """The recipe over ``epochs``: warm-up and milestones scaled by epochs / self.epochs, rounded half up
        (warm-up >= 1 if it was on)."""
        if check_positive_int(epochs, name="epochs") == self.epochs:
            return self
        f = epochs / self.epochs
        warmup = max(1, math.floor(self.warmup_epochs * f + 0.5)) if self.warmup_epochs else 0
        return dataclasses.replace(self, epochs=epochs, warmup_epochs=warmup,
                                   milestones=tuple(math.floor(m * f + 0.5) for m in self.milestones))

    def fit_kwargs(self) -> dict:
        """Keyword arguments for ``fit(model, train, loss_fn=..., **config.fit_kwargs())``; ``augment`` None: crop +
        flip unless the dataset says they do not suit it (``train.augment``)."""
        keys = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "nesterov")
        augment = None if self.augment else False
        return dict({k: getattr(self, k) for k in keys}, schedule=self.schedule(), augment=augment)


# The large benchmarks (224 x 224 crops, torchvision ResNets): the values of each named source.
_DECOUPLING = dict(epochs=90, batch_size=512, lr=0.2, warmup_epochs=0, milestones=(), cosine=True)
RECIPES = {
    "ldam-drw-cifar": TrainConfig(
        notes="Cao et al. 2019 cifar_train.py: ResNet-32, SGD 0.9, lr 0.1, batch 128, wd 2e-4, 200 epochs, "
              "linear warm-up 5 epochs, lr x0.01 at epochs 160 and 180 (0-based), pad-4 crop + flip."),
    "decoupling-imagenet-lt": TrainConfig(
        model="resnext50_32x4d", weight_decay=5e-4, **_DECOUPLING,
        notes="Kang et al. 2020 (Decoupling), config/ImageNet_LT/feat_uniform.yaml: ResNeXt-50 32x4d from scratch, "
              "SGD 0.9, batch 512, lr 0.2, cosine to 0, wd 5e-4, 90 epochs, RandomResizedCrop 224 + flip."),
    "decoupling-inat2018": TrainConfig(
        model="resnet50", weight_decay=1e-4, **_DECOUPLING,
        notes="Kang et al. 2020 (Decoupling), config/iNaturalist18/feat_unifrom.yaml: ResNet-50 from scratch, "
              "SGD 0.9, batch 512, lr 0.2, cosine to 0, wd 1e-4, 90 epochs (the README also gives 200-epoch models)."),
    "cb-inat2018": TrainConfig(
        model="resnet50", epochs=90, batch_size=1024, lr=1.6, weight_decay=1e-4, milestones=(30, 60, 80), gamma=0.1,
        nesterov=True,
        notes="Cui et al. 2019 (CB), richardaecn/class-balanced-loss tpu/run_inat2018.sh + tpu/models/official/resnet/"
              "resnet_main.py: ResNet-50 from scratch, batch 1024, lr 0.4 per 256 images (1.6), Nesterov 0.9, wd 1e-4 "
              "(not on BatchNorm and the last bias there), 38,454 steps = 90 epochs, linear warm-up to epoch 5 (per "
              "step there, per epoch here), lr x0.1 at epochs 30, 60 and 80; CB focal beta 0.999, gamma 0.5."),
    "oltr-places-lt": TrainConfig(
        model="resnet152", epochs=30, batch_size=128, lr=0.1, weight_decay=5e-4, warmup_epochs=0, milestones=(10, 20),
        gamma=0.1, pretrained="ImageNet-pretrained ResNet-152 weights (OLTR: Caffe's, logs/caffe_resnet152.pth)",
        notes="Liu et al. 2019 (OLTR), config/Places_LT/stage_1.py (its plain model): ImageNet-pretrained ResNet-152 "
              "fine-tuned, SGD 0.9, batch 128, 30 epochs, lr x0.1 every 10 epochs, wd 5e-4, lr 0.1 for the classifier "
              "and 0.001 for the backbone (one lr here, 0.1)."),
}
