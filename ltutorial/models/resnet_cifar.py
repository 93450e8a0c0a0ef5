"""CIFAR ResNets of the long-tail literature: ResNet-32 (option-A shortcuts) and ResNet-18 (CIFAR stem).

Every model here has ``forward_features(x)`` (the pooled feature vector), ``feature_dim`` and a
last layer ``fc`` (also reachable as ``classifier``), so linear probes and the self-supervised
notebooks can swap the head. All ops work with ``channels_last`` and bf16/fp16 autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_positive_int

__all__ = [
    "NormedLinear",
    "classifier_head",
    "CifarResNet",
    "cifar_resnet",
    "resnet32",
    "resnet20",
    "resnet8",
    "ResNet18Cifar",
    "resnet18_cifar",
    "count_parameters",
]


class NormedLinear(nn.Module):
    """Cosine classifier: z_j = <x / ||x||, w_j / ||w_j||>, so every output lies in [-1, 1].

    The last layer LDAM uses (Cao et al., NeurIPS 2019, ``use_norm=True``); the loss multiplies
    the cosines by a scale s (30). Weight is (in_features, out_features), uniform(-1, 1) with unit
    columns at init, no bias. Notebook 07 (LDAM-DRW).
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features = check_positive_int(in_features, name="in_features")
        self.out_features = check_positive_int(out_features, name="out_features")
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.uniform_(-1, 1)
            self.weight.div_(self.weight.norm(dim=0, keepdim=True).clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The cosine is computed in fp32 even under autocast: LDAM multiplies it by s = 30, and a
        # bf16 cosine (3 significant digits) would put ~0.1 of noise on every logit.
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.normalize(x.float(), dim=1) @ F.normalize(self.weight.float(), dim=0)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class ClassifierMixin:
    """``classifier`` as an alias of ``fc``, and ``forward = fc(forward_features(x))``."""

    @property
    def classifier(self) -> nn.Module:
        return self.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def classifier_head(feature_dim: int, num_classes: int, normed: bool) -> nn.Module:
    """The last layer: ``Linear(feature_dim, num_classes)``, or the cosine :class:`NormedLinear` if ``normed``."""
    return NormedLinear(feature_dim, num_classes) if normed else nn.Linear(feature_dim, num_classes)


class _BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut(x), ReLU (He et al., CVPR 2016); subclasses pick the shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self._shortcut(x))


# ---------------------------------------------------------------- ResNet-32 family (option A)
class _BasicBlockA(_BasicBlock):
    """BasicBlock with shortcut option A (He et al. 2016, §4.2): subsample, zero-pad channels; no parameters."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__(in_planes, planes, stride)
        self.stride = stride
        extra = planes - in_planes
        # Zero channels split over both sides (16 -> 32 pads 8 + 8), as in the LDAM-DRW ResNet-32.
        self.pad = (extra // 2, extra - extra // 2)
        self.project = stride != 1 or extra != 0

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if not self.project:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad[0], self.pad[1]))


class CifarResNet(ClassifierMixin, nn.Module):
    """CIFAR ResNet of depth 6n + 2 with widths 16/32/64 and parameter-free option-A shortcuts.

    Stem conv3x3(in_channels -> 16) + BN + ReLU, three stages of n BasicBlocks (strides 1, 2, 2),
    global average pool, then ``fc`` = Linear(64, C) or :class:`NormedLinear`. Kaiming-normal init
    of conv and linear weights (fan_in), as in the LDAM-DRW code (Cao et al., 2019).
    """

    def __init__(
        self, depth: int = 32, num_classes: int = 10, normed: bool = False, in_channels: int = 3, widths=(16, 32, 64)
    ):
        super().__init__()
        depth = check_positive_int(depth, name="depth", minimum=8)
        if (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...); got {depth} instead.")
        num_classes = check_positive_int(num_classes, name="num_classes")
        in_channels = check_positive_int(in_channels, name="in_channels")
        if len(widths) != 3:
            raise ValueError(f"widths must hold 3 stage widths; got {widths!r} instead.")
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, in_planes = [], widths[0]
        for i, planes in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(_BasicBlockA(in_planes, planes, stride=2 if (i > 0 and j == 0) else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.feature_dim = widths[-1]
        self.fc = classifier_head(self.feature_dim, num_classes, normed)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return out.mean(dim=(2, 3))


def cifar_resnet(depth: int, num_classes: int = 10, normed: bool = False, in_channels: int = 3) -> CifarResNet:
    """A CIFAR ResNet-``depth`` (depth = 6n + 2); 8 and 20 are quick CPU stand-ins for ResNet-32."""
    return CifarResNet(depth=depth, num_classes=num_classes, normed=normed, in_channels=in_channels)


def resnet32(num_classes: int = 10, normed: bool = False, in_channels: int = 3) -> CifarResNet:
    """ResNet-32 of the long-tail papers (CB, LDAM-DRW, LA, VS): 5 blocks per stage, ~0.46M parameters.

    ``normed=True`` gives the cosine classifier LDAM needs (logits in [-1, 1], scaled by s in the loss).
    The ``full`` profile of notebooks 01, 03 and 06-09 and ``ltutorial reproduce`` train it.
    """
    return cifar_resnet(32, num_classes, normed, in_channels)


def resnet20(num_classes: int = 10, normed: bool = False, in_channels: int = 3) -> CifarResNet:
    """ResNet-20 (3 blocks per stage, ~0.27M parameters)."""
    return cifar_resnet(20, num_classes, normed, in_channels)


def resnet8(num_classes: int = 10, normed: bool = False, in_channels: int = 3) -> CifarResNet:
    """ResNet-8 (1 block per stage, ~75k parameters): smoke runs on a CPU."""
    return cifar_resnet(8, num_classes, normed, in_channels)


# ---------------------------------------------------------------- ResNet-18, CIFAR stem
class _BasicBlockB(_BasicBlock):
    """BasicBlock with a 1x1 conv + BN projection shortcut when the shape changes (option B)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__(in_planes, planes, stride)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x)


class ResNet18Cifar(ClassifierMixin, nn.Module):
    """ResNet-18 with the CIFAR stem: conv3x3 stride 1, no max-pool; 512-d features.

    The backbone of SimCLR on CIFAR and of SDCLR / BCL / GH (a 7x7 stride-2 stem with max-pool
    throws away most of a 32x32 image). Widths 64/128/256/512, two blocks per stage, ~11.2M
    parameters. Notebooks 10-12.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, normed: bool = False):
        super().__init__()
        num_classes = check_positive_int(num_classes, name="num_classes")
        in_channels = check_positive_int(in_channels, name="in_channels")
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, in_planes = [], 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(_BasicBlockB(in_planes, planes, stride), _BasicBlockB(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.feature_dim = 512
        self.fc = classifier_head(self.feature_dim, num_classes, normed)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return out.mean(dim=(2, 3))


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3, normed: bool = False) -> ResNet18Cifar:
    """ResNet-18 with a 3x3 stride-1 stem and no max-pool (CIFAR / SSL backbone, 512-d features); notebooks 10-12."""
    return ResNet18Cifar(num_classes=num_classes, in_channels=in_channels, normed=normed)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
