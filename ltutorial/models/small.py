"""A small CNN for CPU runs, on 8x8 digits or 32x32 CIFAR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_positive_int
from ltutorial.models.resnet_cifar import ClassifierMixin, classifier_head

__all__ = ["SmallCNN"]


class SmallCNN(ClassifierMixin, nn.Module):
    """Three conv3x3-BN-ReLU stages of widths w, 2w, 4w with 2x2 max-pools between them, then average pooling.

    Any input of at least 4x4 (8x8 digits, 32x32 CIFAR); w = 32: ~94k parameters, ~10M multiply-adds per CIFAR
    image (ResNet-32: 69M). The smoke / cpu profiles' network of notebooks 01, 03 and 06-12.
    """

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
        self.feature_dim = c
        self.fc = classifier_head(c, check_positive_int(num_classes, name="num_classes"), normed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)

