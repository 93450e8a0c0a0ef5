"""Small models for CPU runs: a three-stage CNN (8x8 digits or 32x32 CIFAR) and an MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_positive_int
from ltutorial.models.resnet_cifar import ClassifierMixin, classifier_head

__all__ = ["SmallCNN", "MLP"]


class SmallCNN(ClassifierMixin, nn.Module):
    """Three conv3x3-BN-ReLU stages of widths w, 2w, 4w with 2x2 max-pools between them, then average pooling.

    Any input of at least 4x4 (8x8 digits, 32x32 CIFAR); w = 32: ~94k parameters, ~10M multiply-adds per CIFAR
    image (ResNet-32: 69M). The smoke / cpu profiles' network of notebooks 01, 03 and 06-12.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 32, normed: bool = False):
        super().__init__()
        num_classes = check_positive_int(num_classes, name="num_classes")
        c, width = check_positive_int(in_channels, name="in_channels"), check_positive_int(width, name="width")
        layers = []
        for i, w in enumerate((width, 2 * width, 4 * width)):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.body = nn.Sequential(*layers)
        self.feature_dim = c
        self.fc = classifier_head(c, num_classes, normed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < 4 or x.shape[-2] < 4:
            raise ValueError(f"x must be at least 4x4 pixels for SmallCNN's two poolings; got {tuple(x.shape[-2:])} "
                             "instead.")
        return F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)


class MLP(ClassifierMixin, nn.Module):
    """Flatten, then Linear-ReLU per ``hidden`` width, then ``fc``; for 2-D features or flattened images."""

    def __init__(self, in_features: int, num_classes: int, hidden=(64, 64), normed: bool = False):
        super().__init__()
        self.in_features = check_positive_int(in_features, name="in_features")
        num_classes = check_positive_int(num_classes, name="num_classes")
        try:
            hidden = tuple(check_positive_int(h, name="hidden") for h in hidden)
        except TypeError:
            raise ValueError(f"hidden must be a sequence of positive layer widths; got {hidden!r} instead.") from None
        layers, c = [], self.in_features
        for h in hidden:
            layers += [nn.Linear(c, h), nn.ReLU(inplace=True)]
            c = h
        self.body = nn.Sequential(*layers)
        self.feature_dim = c
        self.fc = classifier_head(c, num_classes, normed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample; got {x.shape[1]} instead.")
        return self.body(x)
