"""Several CIFAR ResNets fused "models as channels": one network whose activations are B x (N C) x H x W.

``FusedModels`` (``fused.py``) runs the first model's own forward code on B x N rows and views
each layer's input as B x (N C) x H x W for the grouped convolution: free in the default (NCHW)
layout, a copy per layer in channels_last, because NHWC memory cannot be viewed that way. Here the
network is written for the fused layout itself, so nothing is reshaped between layers and the
whole network may run in channels_last, the layout cuDNN's bf16 kernels prefer:

- the stem sees the same image for every model, so it is ONE plain convolution C_in -> N x 16
  (the N stems' filters stacked), not a grouped convolution over N copies of the input;
- every other convolution is grouped (groups x N), every BatchNorm one BatchNorm over N C channels;
- the option-A shortcut subsamples, then zero-pads each model's channel block:
  B x (N C) -> B x N x C -> pad C -> B x (N C');
- global average pooling gives B x (N 64), viewed as (B N) x 64 rows (row b * N + i from model i)
  for the heads, fused as in ``fused.py`` (linear or cosine heads; mixed head types run per model).

The arithmetic is the separate models' (tested: outputs and one training step against each model
alone). ``fit_many(..., fuse="channels")`` trains with it; ``CHANNEL_FUSERS`` lists the
architectures that have such a network. Which fused layout is faster on a GPU is measured by
``benchmarks/train_throughput.py``, not assumed. Issue 6; docs/ARCHITECTURE.md, "Several models at once".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial.models.resnet_cifar import CifarResNet, _BasicBlockA
# fused.py imports this module only inside FusedModels (layout="channels"), so no import cycle.
from ltutorial.train.fused import NotFusableError, _FusedBatchNorm, _FusedConv2d, _fuser_for, _PerModel

__all__ = ["ChannelFusedCifarResNet", "CHANNEL_FUSERS", "channel_fuser_for"]


class _StemConv(_FusedConv2d):
    """N stems applied to one shared input: one plain convolution whose output channels are the N
    models' (the N filter banks stacked), instead of a grouped one over N copies of the input."""

    def __init__(self, convs):
        super().__init__(convs)
        if self.groups != 1 or convs[0].padding_mode != "zeros":
            raise NotFusableError(f"a shared-input stem must be a plain zero-padded convolution; got groups="
                                  f"{self.groups}, padding_mode={convs[0].padding_mode!r} instead.")

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, 1)


def _blocks(model: CifarResNet) -> list:
    return [blk for stage in (model.layer1, model.layer2, model.layer3) for blk in stage]


class _ChannelBlockA(nn.Module):
    """N option-A BasicBlocks on B x (N C) x H x W: grouped convs, wide BatchNorms, per-model padding."""

    def __init__(self, blocks):
        super().__init__()
        b = blocks[0]
        shortcuts = sorted({(blk.stride, blk.pad, blk.project) for blk in blocks})
        if len(shortcuts) > 1:
            raise NotFusableError("models must share their architecture to be fused; got blocks whose shortcuts "
                                  f"(stride, channel padding, projected) differ: {shortcuts} instead.")
        self.n, self.stride, self.pad, self.project = len(blocks), b.stride, b.pad, b.project
        self.in_planes = b.conv1.in_channels
        self.conv1 = _FusedConv2d([blk.conv1 for blk in blocks])
        self.bn1 = _FusedBatchNorm([blk.bn1 for blk in blocks])
        self.conv2 = _FusedConv2d([blk.conv2 for blk in blocks])
        self.bn2 = _FusedBatchNorm([blk.bn2 for blk in blocks])

    def _shortcut(self, x):
        if not self.project:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        b, _, h, w = x.shape
        if x.stride(1) == 1:
            # channels_last: pad each model's channel block as the last dimension of B x H x W x N x C,
            # so the result stays channels_last like the main branch it is added to (no layout copy)
            y = F.pad(x.permute(0, 2, 3, 1).reshape(b, h, w, self.n, self.in_planes), (self.pad[0], self.pad[1]))
            return y.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        x = F.pad(x.reshape(b, self.n, self.in_planes, h, w), (0, 0, 0, 0, self.pad[0], self.pad[1]))
        return x.reshape(b, -1, h, w)

    def forward(self, x):
        out = F.relu(self.bn1.forward_channels(self.conv1.forward_channels(x)))
        out = self.bn2.forward_channels(self.conv2.forward_channels(out))
        return F.relu(out + self._shortcut(x))

    @torch.no_grad()
    def unfuse_into(self, blocks):
        for part in ("conv1", "bn1", "conv2", "bn2"):
            getattr(self, part).unfuse_into([getattr(blk, part) for blk in blocks])


class ChannelFusedCifarResNet(nn.Module):
    """N same-depth ``CifarResNet``s (ResNet-32 and kin) as one channels-fused network.

    ``forward(x)``: B x C_in x H x W, the same images for every model, -> (B N) x K logits, row
    b * N + i from model i (the layout of ``FusedModels``). ``unfuse_into(models)`` copies the
    weights and BatchNorm statistics back. The heads may differ in type (LDAM's cosine head next
    to linear heads): they then run per model.
    """

    def __init__(self, models):
        super().__init__()
        if not all(type(m) is CifarResNet for m in models):
            raise NotFusableError("models must all be CifarResNet to be fused as channels; got "
                                  f"{sorted({type(m).__name__ for m in models})} instead.")
        shape = [(m.depth, m.conv1.in_channels, m.feature_dim, tuple(len(s) for s in (m.layer1, m.layer2, m.layer3)),
                  tuple(s[0].conv1.out_channels for s in (m.layer1, m.layer2, m.layer3)))
                 for m in models]
        if len(set(shape)) != 1:
            raise NotFusableError(f"models must share their architecture to be fused; got CifarResNets of "
                                  f"depth/width {sorted(set(shape))} instead.")
        kinds = sorted({type(blk).__name__ for m in models for blk in _blocks(m)})
        if kinds != [_BasicBlockA.__name__]:
            raise NotFusableError(f"CifarResNet blocks must be option-A BasicBlocks ({_BasicBlockA.__name__}) to be fused "
                                  f"as channels; got {kinds} instead.")
        self.n = len(models)
        self.feature_dim = models[0].feature_dim
        self.conv1 = _StemConv([m.conv1 for m in models])
        self.bn1 = _FusedBatchNorm([m.bn1 for m in models])
        self.blocks = nn.ModuleList(_ChannelBlockA(list(peers)) for peers in zip(*map(_blocks, models)))
        heads = [m.fc for m in models]
        widths = sorted({getattr(h, "out_features", None) for h in heads} - {None})
        if len(widths) > 1:
            raise NotFusableError(f"models must share their number of classes to be fused; got heads with {widths} "
                                  "outputs instead.")
        if len({type(h) for h in heads}) > 1:
            self.fc = _PerModel(heads)
        else:
            fuser = _fuser_for(heads[0])
            self.fc = fuser(heads) if fuser is not None else heads[0]

    def forward(self, x):
        out = F.relu(self.bn1.forward_channels(self.conv1(x)))
        for blk in self.blocks:
            out = blk(out)
        features = out.mean(dim=(2, 3))  # B x (N d): model i's features in columns i d .. (i + 1) d
        return self.fc(features.reshape(-1, self.feature_dim))

    @torch.no_grad()
    def unfuse_into(self, models):
        if len(models) != self.n:
            raise ValueError(f"models must be the {self.n} fused models; got {len(models)} instead.")
        self.conv1.unfuse_into([m.conv1 for m in models])
        self.bn1.unfuse_into([m.bn1 for m in models])
        for fused_block, peers in zip(self.blocks, zip(*map(_blocks, models))):
            fused_block.unfuse_into(list(peers))
        if hasattr(self.fc, "unfuse_into"):
            self.fc.unfuse_into([m.fc for m in models])


#: Architectures with a channels-fused network: model class -> fused network class.
CHANNEL_FUSERS = {CifarResNet: ChannelFusedCifarResNet}


def channel_fuser_for(models):
    """The channels-fused network class for ``models``; ``NotFusableError`` naming the supported classes."""
    kinds = {type(m) for m in models}
    if len(kinds) == 1 and next(iter(kinds)) in CHANNEL_FUSERS:
        return CHANNEL_FUSERS[next(iter(kinds))]
    raise NotFusableError(
        f"models must be one of {sorted(c.__name__ for c in CHANNEL_FUSERS)} to be fused as channels; got "
        f"{sorted(k.__name__ for k in kinds)} instead.")
