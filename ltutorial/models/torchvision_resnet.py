"""torchvision's ImageNet ResNet-50 and ResNeXt-50 (32x4d), trained from scratch, for the large benchmarks.

The backbones the ImageNet-LT / iNaturalist 2018 papers use (He et al., CVPR 2016; Xie et al.,
CVPR 2017; e.g. Kang et al., ICLR 2020 train ResNeXt-50 on ImageNet-LT and ResNet-50 on
iNaturalist 2018). Same interface as the CIFAR models: ``forward_features(x)`` -> (N, 2048),
``feature_dim``, last layer ``fc`` (alias ``classifier``), ``normed=True`` for LDAM's cosine
classifier. No pretrained weights (``weights=None``): nothing is downloaded. Issue 15.
"""

from __future__ import annotations

import torch
from torch import nn

from ltutorial._validation import check_positive_int
from ltutorial.models.resnet_cifar import classifier_head

__all__ = ["TorchvisionResNet", "resnet50", "resnext50_32x4d"]


class TorchvisionResNet(nn.Module):
    """A torchvision ImageNet ResNet (``arch`` "resnet50" or "resnext50_32x4d") with our classifier interface.

    ``in_channels`` other than 3 replaces the 7x7 stem convolution (same shape otherwise).
    """

    ARCHS = ("resnet50", "resnext50_32x4d")

    def __init__(self, arch: str, num_classes: int, in_channels: int = 3, normed: bool = False):
        super().__init__()
        import torchvision

        if arch not in self.ARCHS:
            raise ValueError(f"arch must be one of {list(self.ARCHS)}; got {arch!r} instead.")
        num_classes = check_positive_int(num_classes, name="num_classes")
        in_channels = check_positive_int(in_channels, name="in_channels")
        net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()  # the backbone returns the pooled features; our head is self.fc
        self.backbone = net
        self.fc = classifier_head(self.feature_dim, num_classes, normed)
        self.arch = arch

    @property
    def classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def resnet50(num_classes: int = 1000, normed: bool = False, in_channels: int = 3) -> TorchvisionResNet:
    """torchvision's ResNet-50 (25.6 M parameters at 1000 classes), random init; iNaturalist 2018's backbone."""
    return TorchvisionResNet("resnet50", num_classes, in_channels, normed)


def resnext50_32x4d(num_classes: int = 1000, normed: bool = False, in_channels: int = 3) -> TorchvisionResNet:
    """torchvision's ResNeXt-50 32x4d (25.0 M parameters at 1000 classes), random init; ImageNet-LT's backbone."""
    return TorchvisionResNet("resnext50_32x4d", num_classes, in_channels, normed)
