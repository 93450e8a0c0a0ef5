"""Models: CIFAR ResNets of the long-tail papers, a small CPU CNN, torchvision's ImageNet ResNets, and ``MODELS``.

Each has ``forward_features(x)`` -> (N, ``feature_dim``) and a last layer ``fc`` (``normed=True``: LDAM's cosine head).
"""

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_choice, check_positive_int
from ltutorial.models.resnet_cifar import (CifarResNet, ClassifierMixin, NormedLinear, ResNet18Cifar, resnet8,
                                           resnet18_cifar, resnet32)

__all__ = ["MODELS", "build_model", "CifarResNet", "NormedLinear", "ResNet18Cifar", "SmallCNN", "resnet8",
           "resnet18_cifar", "resnet32", "TorchvisionResNet"]


class SmallCNN(ClassifierMixin, nn.Module):
    """Three conv3x3-BN-ReLU stages of widths w, 2w, 4w, 2x2 max-pools between them, average pooling (w = 32: 94k)."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 32, normed: bool = False):
        super().__init__()
        c, width = check_positive_int(in_channels, name="in_channels"), check_positive_int(width, name="width")
        layers = []
        for i, w in enumerate((width, 2 * width, 4 * width)):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.body = nn.Sequential(*layers)
        self.set_head(c, num_classes, normed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)


class TorchvisionResNet(ClassifierMixin, nn.Module):
    """torchvision's ``arch`` (random init) with our ``fc``: ResNeXt-50 for ImageNet-LT, ResNet-50 for iNaturalist."""

    def __init__(self, arch: str, num_classes: int, in_channels: int = 3, normed: bool = False):
        super().__init__()
        import torchvision

        self.arch = check_choice(arch, ("resnet50", "resnext50_32x4d"), name="arch")
        num_classes = check_positive_int(num_classes, name="num_classes")
        self.backbone = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        if check_positive_int(in_channels, name="in_channels") != 3:
            self.backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.set_head(self.backbone.fc.in_features, num_classes, normed)
        self.backbone.fc = nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


# name -> constructor(num_classes, *, in_channels, **kw)
MODELS = {"resnet32": resnet32, "resnet8": resnet8, "resnet18_cifar": resnet18_cifar, "small_cnn": SmallCNN,
          **{arch: partial(TorchvisionResNet, arch) for arch in ("resnet50", "resnext50_32x4d")}}


def build_model(name: str, num_classes: int, in_channels: int = 3, **kw):
    """``MODELS[name](num_classes, in_channels=..., **kw)``, e.g. ``build_model("resnet32", 10, normed=True)``."""
    check_choice(name, sorted(MODELS), name="name")
    try:
        return MODELS[name](num_classes, in_channels=in_channels, **kw)
    except TypeError as err:
        raise ValueError(f"arguments for model {name!r} do not fit its constructor: {err}") from None
