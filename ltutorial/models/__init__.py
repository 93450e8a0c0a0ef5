"""Models: CIFAR ResNets of the long-tail papers, small CPU models, torchvision's ImageNet ResNets, and ``MODELS``.

Every model has ``forward_features(x)`` -> (N, feature_dim), ``feature_dim`` and its last layer ``fc`` (alias
``classifier``); ``normed=True`` makes ``fc`` LDAM's cosine :class:`NormedLinear`.
"""

from __future__ import annotations

from ltutorial._validation import check_choice
from ltutorial.models.resnet_cifar import CifarResNet, NormedLinear, ResNet18Cifar, resnet8, resnet18_cifar, resnet32
from ltutorial.models.small import SmallCNN
from ltutorial.models.torchvision_resnet import TorchvisionResNet, resnet50, resnext50_32x4d

__all__ = ["MODELS", "build_model", "CifarResNet", "NormedLinear", "ResNet18Cifar", "SmallCNN", "resnet8",
           "resnet18_cifar", "resnet32", "TorchvisionResNet", "resnet50", "resnext50_32x4d"]

# name -> constructor(num_classes, *, in_channels, **kw); resnet50 / resnext50_32x4d for ImageNet-LT, iNaturalist
MODELS = {"resnet32": resnet32, "resnet8": resnet8, "resnet18_cifar": resnet18_cifar, "small_cnn": SmallCNN,
          "resnet50": resnet50, "resnext50_32x4d": resnext50_32x4d}


def build_model(name: str, num_classes: int, in_channels: int = 3, **kw):
    """``MODELS[name](num_classes, in_channels=..., **kw)``, e.g. ``build_model("resnet32", 10, normed=True)``."""
    check_choice(name, sorted(MODELS), name="name")
    try:
        return MODELS[name](num_classes, in_channels=in_channels, **kw)
    except TypeError as err:
        raise ValueError(f"arguments for model {name!r} do not fit its constructor: {err}") from None
