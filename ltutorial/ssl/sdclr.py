"""SDCLR: a magnitude-pruned copy of the network as a self-competitor in contrastive learning.

Jiang, Chen, Mortazavi, Wang, "Self-Damaging Contrastive Learning", ICML 2021. Pruning removes
the small weights that the rare, atypical (tail) samples rely on most (Hooker et al.'s "pruning
identified exemplars"), so the pruned branch disagrees with the dense one most on those samples;
contrasting the two branches makes the dense network work harder on them. The pruned branch
shares every weight with the dense one (it convolves with W * mask), has its own batch-norm
parameters and statistics, and its masks are recomputed from the current weights every epoch.
Notebook 10.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from ltutorial._validation import check_positive_int, check_probability

__all__ = ["magnitude_prune_masks", "prune_count", "mask_sparsity", "PrunedBranch", "pruned_forward", "pruning_sensitivity"]


def _conv_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for mod_name, mod in model.named_modules():
        if isinstance(mod, nn.modules.conv._ConvNd):
            out[f"{mod_name}.weight" if mod_name else "weight"] = mod.weight
    return out


def prune_count(ratio: float, total: int) -> int:
    """ceil(ratio * total), the number of weights SDCLR prunes, with a product within float rounding
    of an integer taken as that integer."""
    product = float(ratio) * total
    nearest = round(product)
    return int(nearest) if abs(product - nearest) <= 1e-9 * max(1.0, product) else math.ceil(product)


def magnitude_prune_masks(model: nn.Module, ratio: float) -> dict[str, torch.Tensor]:
    """Global unstructured magnitude pruning of all convolution weights: {parameter name: 0/1 mask}.

    |w| of every convolution weight is pooled into one vector, the ceil(ratio * total) smallest
    are set to 0 and the rest to 1 (ties broken by position, so exactly that many are pruned). The
    count is the official mask code's, whose threshold is the sorted |w| at index ceil(p N); a
    product within float rounding of an integer counts as that integer (0.07 * 100 is
    7.000000000000001 in floats: 7 weights, not 8).
    Because the threshold is global, a layer whose weights are larger keeps more of them. Linear
    and batch-norm weights are never pruned. SDCLR prunes 90% on CIFAR (ssl_lt.md section 3.1)
    and recomputes the masks from the current dense weights at each epoch start (notebook 10).
    """
    ratio = check_probability(ratio, name="ratio", inclusive_high=False)
    weights = _conv_weights(model)
    if not weights:
        raise ValueError(f"model must contain convolution layers to prune; got a {type(model).__name__} without any instead.")
    with torch.no_grad():
        flat = torch.cat([w.detach().abs().flatten().float() for w in weights.values()])
        n_prune = prune_count(ratio, flat.numel())
        keep = torch.ones_like(flat)
        if n_prune > 0:
            keep[torch.argsort(flat)[:n_prune]] = 0
        masks, start = {}, 0
        for name, w in weights.items():
            masks[name] = keep[start : start + w.numel()].view_as(w).to(w.dtype)
            start += w.numel()
    return masks


def mask_sparsity(masks: dict[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of zeros per mask, plus ``"global"`` over all of them (SDCLR's p; notebook 10).

    sparsity = #{mask == 0} / #mask; the global value pools every mask, so it equals the
    ``ratio`` given to :func:`magnitude_prune_masks` up to rounding.
    """
    out = {name: float(1 - m.float().mean()) for name, m in masks.items()}
    total = sum(m.numel() for m in masks.values())
    out["global"] = float(sum(float((m == 0).sum()) for m in masks.values()) / max(total, 1))
    return out


def _mangle(name: str) -> str:
    return name.replace(".", "__")


class PrunedBranch(nn.Module):
    """The pruned branch's own batch-norm parameters and running statistics (SDCLR's dual BN).

    Created from a model, it copies the current value of every BN weight, bias and buffer (backbone
    and projection head); :func:`pruned_forward` swaps them in together with the masked conv
    weights, so the dense branch's BN statistics are never touched by pruned forwards. Register it
    as a sub-module of the trained model (``model.pruned_branch = PrunedBranch(model)``) so the
    optimizer trains its affine parameters and ``.to(device)`` moves it. ``masks`` holds the
    current pruning masks (not saved in the state dict).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.param_names: list[str] = []
        self.buffer_names: list[str] = []
        for mod_name, mod in model.named_modules():
            if not isinstance(mod, _BatchNorm) or mod_name.startswith("pruned_branch"):
                continue
            for pname, p in mod.named_parameters(recurse=False):
                full = f"{mod_name}.{pname}"
                self.register_parameter(_mangle(full), nn.Parameter(p.detach().clone()))
                self.param_names.append(full)
            for bname, b in mod.named_buffers(recurse=False):
                full = f"{mod_name}.{bname}"
                self.register_buffer(_mangle(full), b.detach().clone())
                self.buffer_names.append(full)
        self.masks: dict[str, torch.Tensor] = {}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {n: getattr(self, _mangle(n)) for n in self.param_names}
        out.update({n: getattr(self, _mangle(n)) for n in self.buffer_names})
        return out

    def update_masks(self, model: nn.Module, ratio: float) -> dict[str, torch.Tensor]:
        self.masks = magnitude_prune_masks(model, ratio)
        return self.masks


def pruned_forward(model: nn.Module, x: torch.Tensor, masks: dict[str, torch.Tensor], bn: PrunedBranch | None = None, **kwargs):
    """Forward ``model`` with every conv weight W replaced by W * mask (weights shared, gradient
    reaches only the kept entries) and, when ``bn`` (a :class:`PrunedBranch`) is given, its own BN
    parameters and statistics. Extra keyword arguments go to ``model.forward``.

    Equals a forward of a copy of the model whose pruned weights are zeroed (tested).
    """
    params = dict(model.named_parameters())
    swap = {}
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"masks must be keyed by the model's parameter names; got unknown key {name!r} instead.")
        swap[name] = params[name] * mask
    if bn is not None:
        swap.update(bn.tensors())
    return functional_call(model, swap, (x,), kwargs or None)


@torch.no_grad()
def pruning_sensitivity(model, data, *, ratio: float = 0.9, batch_size: int = 512, device=None, augment=None, seed: int = 0) -> dict[str, torch.Tensor]:
    """How much pruning changes each sample's output, to compare head and tail samples (notebook 10).

    With masks from :func:`magnitude_prune_masks` on the current weights and the model in eval
    mode (one set of BN statistics for both branches, so only the pruning differs):
    ``output_change`` = 1 - cos(z_dense, z_pruned) on each un-augmented image, and ``loss_change``
    = per-image NT-Xent of the pruned model minus that of the dense model on the same two
    augmented views (batches in a fixed random order). Hooker et al.'s "pruning identified
    exemplars" are the samples with the largest change; SDCLR's premise is that they come mostly
    from the tail. ``model`` is a :class:`~ltutorial.ssl.SimCLR`; returns CPU tensors plus ``labels``.
    """
    from ltutorial.ssl.augment import ContrastiveAugment, TwoViews
    from ltutorial.ssl.losses import nt_xent_per_sample

    batch_size = check_positive_int(batch_size, name="batch_size")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    masks = magnitude_prune_masks(model, ratio)
    images = data.images.to(dev)
    aug = augment if augment is not None else ContrastiveAugment.for_dataset(data)
    views = TwoViews(aug)
    g = torch.Generator(device=dev).manual_seed(seed)
    n = images.shape[0]
    order = torch.randperm(n, device=dev, generator=g)
    out_change = torch.empty(n, device=dev)
    loss_change = torch.empty(n, device=dev)
    mean = torch.tensor(data.mean, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=dev).view(1, -1, 1, 1)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        x = (images[idx].float() / 255 - mean) / std
        zd = torch.nn.functional.normalize(model(x).float(), dim=1)
        zp = torch.nn.functional.normalize(pruned_forward(model, x, masks).float(), dim=1)
        out_change[idx] = 1 - (zd * zp).sum(1)
        if idx.numel() >= 2:
            v1, v2 = views(images[idx], g)
            ld = nt_xent_per_sample(model(v1), model(v2))
            lp = nt_xent_per_sample(pruned_forward(model, v1, masks), pruned_forward(model, v2, masks))
            loss_change[idx] = lp - ld
        else:
            loss_change[idx] = float("nan")
    model.train(was_training)
    return {"output_change": out_change.cpu(), "loss_change": loss_change.cpu(), "labels": data.labels.cpu()}


def pretrain_sdclr(encoder, data, *, prune_ratio: float = 0.9, **kwargs):
    """SDCLR pre-training: :func:`ltutorial.ssl.pretrain` with ``method="sdclr"``.

    Paper settings on CIFAR: prune_ratio 0.9, weight decay 1e-4, batch 512, lr 0.5, tau 0.2,
    2000 epochs (ssl_lt.md section 3.3). A small CPU network may need a lower ratio (0.5-0.7).
    Notebook 10.
    """
    from ltutorial.ssl.simclr import pretrain

    return pretrain(encoder, data, method="sdclr", prune_ratio=prune_ratio, **kwargs)
