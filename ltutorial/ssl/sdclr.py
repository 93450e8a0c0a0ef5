"""SDCLR: a magnitude-pruned copy of the network as a self-competitor in contrastive learning.

L = NT-Xent(g(f(v1)), g(f_pruned(v2))): view 2 goes through the same weights with the smallest p of
all conv weights masked (p = 0.9 on CIFAR; masks recomputed every epoch) and its own batch norm. Jiang,
Chen, Mortazavi, Wang, "Self-Damaging Contrastive Learning", ICML 2021. Notebook 10.
"""

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from ltutorial._validation import check_positive_int, check_probability
from ltutorial.ssl.simclr import SimCLR, nt_xent_per_anchor
from ltutorial.train.common import logits_on_device


class SDCLR(SimCLR):
    """SDCLR's objective: NT-Xent(dense(v1), pruned(v2)); ``masks`` now, ``sparsity`` per epoch."""

    def __init__(self, prune_ratio: float = 0.9, temperature: float = 0.2):
        super().__init__(temperature)
        self.prune_ratio = check_probability(prune_ratio, name="prune_ratio", inclusive_high=False)

    def loss(self, net, x, idx):
        v1, v2 = x.chunk(2)
        z_dense, z_pruned = net(v1), pruned_forward(net, v2, self.masks, net.pruned_branch)
        anchors = nt_xent_per_anchor(z_dense, z_pruned, self.temperature)
        return anchors.mean(), z_dense, z_pruned, anchors

    def setup(self, net, num_samples, epochs, device):
        net.pruned_branch = PrunedBranch(net)  # a sub-module: trained by the optimizer, moved by .to()
        self.masks, self.sparsity = {}, []

    def on_epoch(self, net, epoch):
        self.masks = magnitude_prune_masks(net, self.prune_ratio)
        self.sparsity.append(mask_sparsity(self.masks)["global"])  # measured on the masks: ceil(p N) / N


def magnitude_prune_masks(model: nn.Module, ratio: float) -> dict[str, torch.Tensor]:
    """Global magnitude pruning of all conv weights: {name: 0/1 mask} zeroing the ceil(p N) smallest |w|."""
    ratio = check_probability(ratio, name="ratio", inclusive_high=False)
    weights = {f"{name}.weight" if name else "weight": m.weight for name, m in model.named_modules()
               if isinstance(m, nn.modules.conv._ConvNd)}
    if not weights:
        raise ValueError(f"model must contain convolution layers to prune; "
                         f"got a {type(model).__name__} without any instead.")
    with torch.no_grad():
        flat = torch.cat([w.detach().abs().flatten().float() for w in weights.values()])
        keep, count = torch.ones_like(flat), ratio * flat.numel()
        # p N within float rounding of an integer is that integer (the official count: 0.07 * 100 -> 7)
        keep[torch.argsort(flat)[: math.ceil(count - 1e-9 * max(1.0, count))]] = 0
        parts = keep.split([w.numel() for w in weights.values()])
        return {name: part.view_as(w).to(w.dtype) for (name, w), part in zip(weights.items(), parts)}


def mask_sparsity(masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of zeros per mask, plus ``"global"`` over all of them (SDCLR's p)."""
    out = {name: float(1 - m.float().mean()) for name, m in masks.items()}
    out["global"] = sum(float((m == 0).sum()) for m in masks.values()) / max(sum(m.numel() for m in masks.values()), 1)
    return out


class PrunedBranch(nn.Module):
    """The pruned branch's own BN parameters and running statistics (SDCLR's dual BN), copied from
    ``model``; :func:`pruned_forward` swaps them in so pruned forwards never touch the dense BN."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.bn = nn.ModuleDict({name.replace(".", "__"): copy.deepcopy(m) for name, m in model.named_modules()
                                 if isinstance(m, _BatchNorm) and not name.startswith("pruned_branch")})

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"{key.replace('__', '.')}.{n}": t for key, m in self.bn.items()
                for n, t in [*m.named_parameters(), *m.named_buffers()]}


def pruned_forward(model: nn.Module, x: torch.Tensor, masks: dict[str, torch.Tensor], bn: PrunedBranch | None = None):
    """``model(x)`` with each masked W replaced by W * mask (the gradient reaches kept entries only) and,
    given ``bn``, its BN tensors: a forward of a copy with the pruned weights zeroed (tested)."""
    params = dict(model.named_parameters())
    if unknown := sorted(masks.keys() - params.keys()):
        raise ValueError(f"masks must be keyed by the model's parameter names; got unknown key {unknown[0]!r} instead.")
    swap = {name: params[name] * mask for name, mask in masks.items()}
    return functional_call(model, {**swap, **(bn.tensors() if bn is not None else {})}, (x,))


@torch.no_grad()
def pruning_sensitivity(model, data, *, ratio: float = 0.9, batch_size: int = 512) -> dict:
    """Per image, in eval mode (one set of BN statistics: only the pruning differs), ``output_change`` =
    1 - cos(z_dense, z_pruned) on the un-augmented image; CPU tensors with the ``labels`` (notebook 10)."""
    batch_size = check_positive_int(batch_size, name="batch_size")
    dev, masks = next(model.parameters()).device, magnitude_prune_masks(model, ratio)
    zd, zp = (F.normalize(logits_on_device(model, data.images, data, dev, False, False, forward, batch_size), dim=1)
              for forward in (None, lambda x: pruned_forward(model, x, masks)))
    return {"output_change": (1 - (zd * zp).sum(1)).cpu(), "labels": data.labels.cpu()}
