"""Models: CIFAR ResNets of the long-tail papers, small CPU models, and the ``MODELS`` registry.

Every model has ``forward_features(x)`` -> (N, feature_dim), ``feature_dim``, and its last layer
as ``fc`` (alias ``classifier``); ``normed=True`` swaps ``fc`` for the cosine
:class:`NormedLinear` that LDAM uses.
"""

from __future__ import annotations

from ltutorial._validation import check_choice
from ltutorial.models.resnet_cifar import (
    CifarResNet,
    NormedLinear,
    ResNet18Cifar,
    cifar_resnet,
    count_parameters,
    resnet8,
    resnet18_cifar,
    resnet20,
    resnet32,
)
from ltutorial.models.small import MLP, SmallCNN
from ltutorial.models.torchvision_resnet import TorchvisionResNet, resnet50, resnext50_32x4d

__all__ = [
    "MODELS",
    "build_model",
    "CifarResNet",
    "NormedLinear",
    "ResNet18Cifar",
    "SmallCNN",
    "MLP",
    "cifar_resnet",
    "count_parameters",
    "resnet8",
    "resnet18_cifar",
    "resnet20",
    "resnet32",
    "TorchvisionResNet",
    "resnet50",
    "resnext50_32x4d",
]


def _mlp(num_classes, *, in_channels=3, in_features=None, image_size=None, **kw):
    if in_features is None:
        if image_size is None:
            raise ValueError(
                "in_features must be given for 'mlp' (or image_size, giving in_channels * image_size**2); "
                "got neither instead."
            )
        in_features = in_channels * image_size * image_size
    return MLP(in_features, num_classes, **kw)


# name -> constructor(num_classes, *, in_channels, **kw)
MODELS = {
    "resnet32": resnet32,
    "resnet20": resnet20,
    "resnet8": resnet8,
    "resnet18_cifar": resnet18_cifar,
    "small_cnn": SmallCNN,
    "mlp": _mlp,
    # torchvision's ImageNet backbones, random init (issue 15: ImageNet-LT, Places-LT, iNaturalist 2018)
    "resnet50": resnet50,
    "resnext50_32x4d": resnext50_32x4d,
}


def build_model(name: str, num_classes: int, in_channels: int = 3, **kw):
    """Build a registered model by name: ``build_model("resnet32", 10, normed=True)``.

    Names: resnet32, resnet20, resnet8 (CIFAR ResNet-6n+2, option-A shortcuts), resnet18_cifar,
    small_cnn, mlp (needs ``in_features=`` or ``image_size=``), resnet50, resnext50_32x4d
    (torchvision's ImageNet networks, random init, for the large benchmarks). Extra keywords go to the
    constructor (``normed``, ``width``, ``hidden`` ...). Notebooks 01, 03 and 10-12 build their
    networks through it.
    """
    check_choice(name, sorted(MODELS), name="name")
    try:
        return MODELS[name](num_classes, in_channels=in_channels, **kw)
    except TypeError as err:
        raise ValueError(f"arguments for model {name!r} do not fit its constructor: {err}") from None
