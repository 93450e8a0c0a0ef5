"""CIFAR ResNets of the long-tail papers, ResNet-32 (option-A shortcuts) and ResNet-18 (CIFAR stem), and LDAM's head."""

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_positive_int

__all__ = ["NormedLinear", "ClassifierMixin", "BasicBlock", "CifarResNet", "resnet32", "resnet8", "ResNet18Cifar",
           "resnet18_cifar"]


class NormedLinear(nn.Module):
    """Cosine classifier z_j = <x / ||x||, w_j / ||w_j||> in [-1, 1], no bias, LDAM's last layer (notebook 07)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features = check_positive_int(in_features, name="in_features")
        self.out_features = check_positive_int(out_features, name="out_features")
        w = torch.empty(in_features, out_features).uniform_(-1, 1)  # unit columns, as the LDAM-DRW code
        self.weight = nn.Parameter(w / w.norm(dim=0, keepdim=True).clamp_min(1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast: LDAM multiplies by s = 30, and a bf16 cosine would put ~0.1 noise on each logit
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.normalize(x.float(), dim=1) @ F.normalize(self.weight.float(), dim=0)


class ClassifierMixin:
    """``forward = fc(forward_features(x))``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

    def set_head(self, feature_dim: int, num_classes: int, normed: bool) -> None:
        """Sets ``feature_dim`` and ``fc``: ``nn.Linear``, or the cosine :class:`NormedLinear` if ``normed``."""
        self.feature_dim, num_classes = feature_dim, check_positive_int(num_classes, name="num_classes")
        self.fc = NormedLinear(feature_dim, num_classes) if normed else nn.Linear(feature_dim, num_classes)


class BasicBlock(nn.Module):
    """ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x)) (He et al., CVPR 2016); where the shape changes,
    option "A" subsamples and zero-pads the channels (§4.2), option "B" projects with a 1x1 conv + BN."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, option: str = "A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, extra = stride, planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)  # both sides (16 -> 32 pads 8 + 8), as the LDAM-DRW ResNet-32
        self.project = stride != 1 or extra != 0
        self.shortcut = nn.Sequential()
        if option == "B" and self.project:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self._shortcut(x))

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.project and not len(self.shortcut):  # option A
            return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, *self.pad))
        return self.shortcut(x)  # the identity (empty) or option B's projection


class CifarResNet(ClassifierMixin, nn.Module):
    """CIFAR ResNet of depth 6n + 2: three stages of n option-A blocks (16/32/64), Kaiming init as the LDAM-DRW code."""

    def __init__(self, depth: int = 32, num_classes: int = 10, normed: bool = False, in_channels: int = 3):
        super().__init__()
        depth = check_positive_int(depth, name="depth", minimum=8)
        if (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...); got {depth} instead.")
        self.depth, n = depth, (depth - 2) // 6
        self.conv1 = nn.Conv2d(check_positive_int(in_channels, name="in_channels"), 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1, self.layer2, self.layer3 = _stage(16, 16, n, 1), _stage(16, 32, n, 2), _stage(32, 64, n, 2)
        self.set_head(64, num_classes, normed)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(out))).mean(dim=(2, 3))


def resnet32(num_classes: int = 10, normed: bool = False, in_channels: int = 3) -> CifarResNet:
    """ResNet-32 of CB, LDAM-DRW, LA and VS: 5 blocks per stage, ~0.46M parameters (the ``full`` profile)."""
    return CifarResNet(32, num_classes, normed, in_channels)


def resnet8(num_classes: int = 10, normed: bool = False, in_channels: int = 3) -> CifarResNet:
    """ResNet-8: 1 block per stage, ~75k parameters, for smoke runs on a CPU."""
    return CifarResNet(8, num_classes, normed, in_channels)


class ResNet18Cifar(ClassifierMixin, nn.Module):
    """ResNet-18 with the CIFAR stem (conv3x3 stride 1, no max-pool), 512-d features: the SSL backbone (10-12)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, normed: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(check_positive_int(in_channels, name="in_channels"), 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1, self.layer2 = _stage(64, 64, 2, 1, "B"), _stage(64, 128, 2, 2, "B")
        self.layer3, self.layer4 = _stage(128, 256, 2, 2, "B"), _stage(256, 512, 2, 2, "B")
        self.set_head(512, num_classes, normed)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(out)))).mean(dim=(2, 3))


resnet18_cifar = ResNet18Cifar  # the constructor under the name the notebooks and MODELS use


def _stage(in_planes: int, planes: int, blocks: int, stride: int, option: str = "A") -> nn.Sequential:
    """``blocks`` BasicBlocks, the first one changing the width and the stride."""
    return nn.Sequential(BasicBlock(in_planes, planes, stride, option),
                         *[BasicBlock(planes, planes, 1, option) for _ in range(blocks - 1)])
