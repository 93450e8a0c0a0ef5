"""torchvision's ResNet-50 and ResNeXt-50 (32x4d) from scratch, with our classifier interface, for the large benchmarks.

The ImageNet-LT / iNaturalist 2018 backbones (He et al. 2016; Xie et al. 2017; Kang et al., ICLR 2020); no
pretrained weights are downloaded.
"""

from __future__ import annotations

import torch
from torch import nn

from ltutorial._validation import check_choice, check_positive_int
from ltutorial.models.resnet_cifar import ClassifierMixin, classifier_head

__all__ = ["TorchvisionResNet", "resnet50", "resnext50_32x4d"]


class TorchvisionResNet(ClassifierMixin, nn.Module):
    """A torchvision ImageNet ResNet ``arch`` as backbone (its fc removed), our ``fc``, a new stem for other channels."""

    def __init__(self, arch: str, num_classes: int, in_channels: int = 3, normed: bool = False):
        super().__init__()
        import torchvision

        self.arch = check_choice(arch, ("resnet50", "resnext50_32x4d"), name="arch")
        num_classes = check_positive_int(num_classes, name="num_classes")
        self.backbone = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        if check_positive_int(in_channels, name="in_channels") != 3:
            self.backbone.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.feature_dim = self.backbone.fc.in_features
        self.backbone.fc = nn.Identity()
        self.fc = classifier_head(self.feature_dim, num_classes, normed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def resnet50(num_classes: int = 1000, normed: bool = False, in_channels: int = 3) -> TorchvisionResNet:
    """torchvision's ResNet-50 (25.6M parameters at 1000 classes), random init; iNaturalist 2018's backbone."""
    return TorchvisionResNet("resnet50", num_classes, in_channels, normed)


def resnext50_32x4d(num_classes: int = 1000, normed: bool = False, in_channels: int = 3) -> TorchvisionResNet:
    """torchvision's ResNeXt-50 32x4d (25.0M parameters at 1000 classes), random init; ImageNet-LT's backbone."""
    return TorchvisionResNet("resnext50_32x4d", num_classes, in_channels, normed)
