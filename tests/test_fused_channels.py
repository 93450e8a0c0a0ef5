"""The models-as-channels fused CIFAR ResNet (issue 6): the separate models' arithmetic, on the CPU."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ltutorial.losses import LDAMLoss
from ltutorial.models import resnet8, resnet20
from ltutorial.train import fit, fit_many, fuse_models
from ltutorial.train.fused import FusedModels, NotFusableError, _default_engine
from ltutorial.train.fused_channels import ChannelFusedCifarResNet

from test_train_fast import WeightedCE, assert_fused_matches_each, drw_hook

FIT = dict(epochs=2, batch_size=16, lr=0.05, device="cpu", progress=False)


class _Images:
    """A tiny long-tailed 4-class image set (what fit reads), 3 x 16 x 16 uint8."""

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(4).repeat_interleave(torch.tensor([n, n // 2, n // 4, n // 4]))
        # class-dependent mean brightness, so there is something to learn
        base = (self.labels.view(-1, 1, 1, 1) * 50 + 30).expand(-1, 3, 16, 16)
        noise = torch.randint(-20, 21, base.shape, generator=g)
        self.images = (base + noise).clamp(0, 255).to(torch.uint8)
        self.mean, self.std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
        self.classes, self.num_classes, self.augment = ["a", "b", "c", "d"], 4, True


def _resnets(kinds, seed=0, make=resnet8):
    out = []
    for i, normed in enumerate(kinds):
        torch.manual_seed(seed + i)
        m = make(num_classes=4, normed=normed)
        for bn in (mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)):
            with torch.no_grad():  # non-trivial BN parameters and statistics, per model
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.2, 0.2)
                bn.running_mean.uniform_(-0.1, 0.1)
                bn.running_var.uniform_(0.8, 1.2)
        out.append(m)
    return out


@pytest.mark.parametrize("kinds", [(False, False, False), (False, True, False)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_channels_fused_forward_equals_each_model(kinds, channels_last):
    models = _resnets(kinds, make=resnet20)  # 3 stages with option-A shortcuts 16 -> 32 -> 64
    fused = fuse_models([copy.deepcopy(m) for m in models], layout="channels")
    assert isinstance(fused.net, ChannelFusedCifarResNet)
    assert type(fused.net.fc).__name__ == ("_PerModel" if any(kinds) else "_FusedLinear")
    # the stem is one plain convolution on the shared input: N x 16 filters of 3 channels
    assert fused.net.conv1.weight.shape == (3 * 16, 3, 3, 3)
    x = torch.randn(5, 3, 16, 16)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    assert_fused_matches_each(fused, models, x, tol=1e-4)
    # a projecting shortcut keeps the input's layout, so the residual sum needs no layout copy
    block = fused.net.blocks[3]  # resnet20: the first block of stage 2 (16 -> 32 channels, stride 2)
    assert block.project
    h = torch.randn(2, 3 * 16, 8, 8)
    if channels_last:
        h = h.contiguous(memory_format=torch.channels_last)
    short = block._shortcut(h)
    assert short.shape == (2, 3 * 32, 4, 4)
    assert short.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    # train mode updated each model's BN statistics as the separate forward did
    back = [copy.deepcopy(m) for m in models]
    fused.unfuse_into(back)
    for a, b in zip(models, back):
        for (name, t), (_, u) in zip(a.state_dict().items(), b.state_dict().items()):
            torch.testing.assert_close(u, t, rtol=1e-5, atol=1e-6, msg=name)


def test_channels_fused_gradients_equal_each_model():
    models = _resnets((False, True))
    fused = fuse_models([copy.deepcopy(m) for m in models], layout="channels")
    x, y = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    out = fused(x).view(6, 2, -1)
    sum(nn.functional.cross_entropy(out[:, i], y) for i in range(2)).backward()
    for m in models:
        nn.functional.cross_entropy(m(x), y).backward()
    # each fused gradient block is the model's own gradient (parameters are disjoint)
    stem = fused.net.conv1.weight.grad
    for i, m in enumerate(models):
        torch.testing.assert_close(stem[16 * i:16 * (i + 1)], m.conv1.weight.grad, rtol=1e-4, atol=1e-5)
        blk = fused.net.blocks[-1].conv2.weight.grad
        torch.testing.assert_close(blk[64 * i:64 * (i + 1)], m.layer3[-1].conv2.weight.grad, rtol=1e-4, atol=1e-5)


def test_fit_many_channels_matches_separate_training_on_cpu():
    """One epoch: the separate models' weights to float rounding. Two epochs: the same as the streams
    engine (separate modules, each with its own optimizer, on the same batches) to float rounding,
    and the plain loop's losses within 0.1 %: after a few steps of BatchNorm at batch 16 the
    engines and the plain loop drift apart by ~1e-4 in the weights, the streams engine included."""
    train, test = _Images(32, seed=0), _Images(8, seed=1)
    losses = lambda: [nn.CrossEntropyLoss(), LDAMLoss([32, 16, 8, 8]), WeightedCE()]  # noqa: E731
    hooks = [[], [], [drw_hook]]
    kinds = (False, True, False)
    kw = dict(FIT, test=test, augment=True, padding=1)

    def params(models):
        return [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in models]

    alone_1 = _resnets(kinds)
    for m, fn, h in zip(alone_1, losses(), hooks):
        fit(m, train, loss_fn=fn, hooks=h, drop_last=True, **dict(kw, epochs=1))
    together_1 = _resnets(kinds)
    fit_many(together_1, train, loss_fns=losses(), hooks=hooks, fuse="channels", **dict(kw, epochs=1))
    for a, b in zip(params(alone_1), params(together_1)):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)

    separate = [fit(m, train, loss_fn=fn, hooks=h, drop_last=True, **kw)
                for m, fn, h in zip(_resnets(kinds), losses(), hooks)]
    streams_models, together_models = _resnets(kinds), _resnets(kinds)
    fit_many(streams_models, train, loss_fns=losses(), hooks=hooks, fuse="streams", **kw)
    together = fit_many(together_models, train, loss_fns=losses(), hooks=hooks, fuse="channels", **kw)
    assert [h.engine for h in together] == ["fused3-channels-eager"] * 3
    for a, b in zip(params(streams_models), params(together_models)):  # the caller's models are trained
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    for s, t in zip(separate, together):
        torch.testing.assert_close(torch.tensor(t.train_loss), torch.tensor(s.train_loss), rtol=1e-3, atol=1e-4)
        assert abs(t.final_balanced_accuracy - s.final_balanced_accuracy) <= 1 / 8 + 1e-9
    assert separate[0].train_loss != separate[2].train_loss  # different losses: the check is not vacuous


def test_channels_layout_refuses_other_architectures_by_name(monkeypatch, capsys):
    from test_train import tiny_net

    with pytest.raises(NotFusableError, match=r"models must be one of \['CifarResNet'\] to be fused as channels"):
        FusedModels([tiny_net(0), tiny_net(1)], layout="channels")
    with pytest.raises(NotFusableError, match="share their architecture"):
        FusedModels([resnet8(num_classes=4), resnet20(num_classes=4)], layout="channels")
    with pytest.raises(ValueError, match=r"layout must be one of \['rows', 'channels'\]; got 'cols' instead"):
        FusedModels(_resnets((False, False)), layout="cols")
    train = _Images(16, seed=0)
    with pytest.raises(NotFusableError):  # asked for explicitly: an error
        fit_many([tiny_net(0), tiny_net(1)], train, loss_fns=[nn.CrossEntropyLoss()] * 2, fuse="channels", **FIT)
    # chosen through the environment (fuse=None) on a device that fuses: said, then fused as rows
    import ltutorial.train.fused as fused_mod

    monkeypatch.setenv(fused_mod.FIT_MANY_ENGINE_ENV, "channels")
    assert _default_engine() == "channels"
    monkeypatch.setattr(fused_mod, "get_device", lambda d: torch.device("cuda"))
    monkeypatch.setattr(fused_mod, "_fit_together", lambda models, train, **kw: [kw["layout"]] * len(models))
    got = fit_many([tiny_net(0), tiny_net(1)], train, loss_fns=[nn.CrossEntropyLoss()] * 2, **FIT)
    assert got == ["rows", "rows"] and "fusing them as rows instead" in capsys.readouterr().out
    got = fit_many(_resnets((False, True)), train, loss_fns=[nn.CrossEntropyLoss()] * 2, **FIT)
    assert got == ["channels", "channels"]


@pytest.mark.parametrize("layout", ["rows", "channels"])
def test_heads_of_different_widths_are_not_fusable(layout):
    torch.manual_seed(0)
    models = [resnet8(num_classes=4), resnet8(num_classes=5, normed=True)]
    with pytest.raises(NotFusableError, match="same output shape|number of classes"):
        fuse_models(models, layout=layout)
