"""Several models trained as one fused network, each with its own loss and hooks (``fit_many``): 8 fused, graphed
ResNet-32s train 11.3x faster per model than the reference loop (H200). The first model's forward runs on B N rows
(row b N + i: sample b, model i): Conv2d -> one grouped convolution, BatchNorm -> one over N C channels, Linear ->
one batched matmul, other stateful layers per model; the summed loss gives each model its own gradients, and one
elementwise SGD is N independent SGDs."""

import contextlib
import copy
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial.fast.engine import GraphCaptureError, Members, run_engine
from ltutorial.models.resnet_cifar import NormedLinear
from ltutorial.train.common import FitConfig, History, resolve_fast

__all__ = ["FusedModels", "NotFusableError", "fuse_models", "fit_groups"]


class NotFusableError(ValueError):
    """The models cannot run as one network (other module trees or shapes, or a forward mixing samples)."""


def _cat(modules, name, stack=False):
    """The models' ``name`` parameters joined along a new (``stack``) or the first dimension, as one Parameter."""
    tensors = [getattr(m, name).detach() for m in modules]
    return nn.Parameter((torch.stack if stack else torch.cat)(tensors).clone())


class _Fused(nn.Module):
    """The ``n`` models' layers, alike in ``attrs`` and in having a bias, as one: their weights and biases joined
    (``_cat``); chunk i (first dimension) of each of its tensors ``unfused`` is model i's."""

    unfused = ("weight", "bias")

    def __init__(self, layers, attrs, stack: bool = False):
        super().__init__()
        key = lambda m: tuple(getattr(m, a) for a in attrs) + (getattr(m, "bias", None) is None,)  # noqa: E731
        bad = next((m for m in layers[1:] if key(m) != key(layers[0])), None)
        if bad is not None:
            raise NotFusableError(f"models must share their architecture to be fused; got {type(layers[0]).__name__} "
                                  f"layers whose {(*attrs, 'bias is None')} differ ({key(layers[0])} vs {key(bad)}) "
                                  "instead.")
        self.n = len(layers)
        self.weight = _cat(layers, "weight", stack)
        self.bias = None if getattr(layers[0], "bias", None) is None else _cat(layers, "bias", stack)

    def unfuse_into(self, modules):
        for i, m in enumerate(modules):
            for name in (k for k in self.unfused if getattr(m, k, None) is not None):
                getattr(m, name).copy_(getattr(self, name).chunk(self.n)[i].reshape(getattr(m, name).shape))


class _FusedConv2d(_Fused):
    """N Conv2d layers as one grouped convolution over B x (N C_in) x H x W."""

    def __init__(self, convs):
        keys = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
        super().__init__(convs, keys)
        self.settings = {k: getattr(convs[0], k) for k in keys}

    def forward(self, x):
        c, b = self.settings, x.shape[0] // self.n
        y = F.conv2d(x.reshape(b, self.n * c["in_channels"], *x.shape[2:]), self.weight, self.bias, c["stride"],
                     c["padding"], c["dilation"], c["groups"] * self.n)
        return y.contiguous().reshape(b * self.n, c["out_channels"], *y.shape[2:])


class _FusedBatchNorm(_Fused):
    """N BatchNorm layers (affine, running statistics) as one over N C channels: per-model statistics as before."""

    unfused = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def __init__(self, bns):
        super().__init__(bns, ("num_features", "eps", "momentum", "affine", "track_running_stats"))
        self.c, self.eps, self.momentum = bns[0].num_features, bns[0].eps, bns[0].momentum
        for name in ("running_mean", "running_var", "num_batches_tracked"):  # the count: one per model
            self.register_buffer(name, torch.cat([getattr(m, name).view(-1) for m in bns]).clone())

    def forward(self, x):
        if self.training:
            self.num_batches_tracked.add_(1)
        y = F.batch_norm(x.reshape(x.shape[0] // self.n, self.n * self.c, *x.shape[2:]), self.running_mean,
                         self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps)
        return y.reshape(x.shape)


class _FusedLinear(_Fused):
    """N Linear layers as one batched matmul (B N) x in -> (B N) x out; or N cosine heads (LDAM's NormedLinear,
    z = normalize(x) @ normalize(W, dim=0)) in fp32, as the layer computes them."""

    def __init__(self, layers):
        super().__init__(layers, ("in_features", "out_features"), stack=True)  # N x out x in, NormedLinear N x in x out
        self.normed, self.in_features = isinstance(layers[0], NormedLinear), layers[0].in_features

    def forward(self, x):
        xs = x.reshape(x.shape[0] // self.n, self.n, self.in_features).transpose(0, 1)  # N x B x in
        if self.normed:
            with torch.autocast(device_type=x.device.type, enabled=False):  # LDAM scales the cosines by s = 30
                y = torch.bmm(F.normalize(xs.float(), dim=2), F.normalize(self.weight.float(), dim=1))
        else:
            y = torch.bmm(xs, self.weight.transpose(1, 2)) + (0 if self.bias is None else self.bias[:, None, :])
        return y.transpose(0, 1).reshape(x.shape[0], -1)


class _PerModel(nn.Module):
    """Fused in name only: each model's copy of the layer on its rows (any per-sample layer; N launches)."""

    def __init__(self, modules):
        super().__init__()
        self.n, self.layers = len(modules), nn.ModuleList(copy.deepcopy(m) for m in modules)

    def forward(self, x):
        xs = x.reshape(x.shape[0] // self.n, self.n, *x.shape[1:])
        outs = [layer(xs[:, i]) for i, layer in enumerate(self.layers)]
        if len({o.dtype for o in outs}) > 1:  # e.g. a bf16 Linear head next to an fp32 cosine head
            outs = [o.float() for o in outs]
        return torch.stack(outs, 1).reshape(x.shape[0], *outs[0].shape[1:])

    def unfuse_into(self, modules):
        for layer, m in zip(self.layers, modules):
            m.load_state_dict(layer.state_dict())


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def _fuser_for(peers):
    """The fused form of ``peers`` (one layer per model); None: stateless, run on the (B N) rows unchanged."""
    if len({type(m) for m in peers}) > 1:  # each model keeps its own (whole subtree)
        return _PerModel if any(_has_state(m) for p in peers for m in p.modules()) else None
    if isinstance(peers[0], nn.Conv2d):
        return _FusedConv2d if peers[0].padding_mode == "zeros" else _PerModel
    if isinstance(peers[0], (nn.BatchNorm1d, nn.BatchNorm2d)):
        plain = peers[0].affine and peers[0].track_running_stats and peers[0].momentum is not None
        return _FusedBatchNorm if plain else _PerModel
    if isinstance(peers[0], (nn.Linear, NormedLinear)):
        return _FusedLinear
    return _PerModel if _has_state(peers[0]) else None


class FusedModels(nn.Module):
    """N same-architecture models as one network: B x C x H x W -> (B N) x K logits, row b N + i from model i;
    ``unfuse_into(models)`` copies the trained parameters and BN statistics back."""

    def __init__(self, models):
        super().__init__()
        self.n, self.net, self._fused_names = len(models), copy.deepcopy(models[0]), []
        named = [dict(m.named_modules()) for m in models]
        if any(list(d) != list(named[0]) for d in named[1:]):
            raise NotFusableError("models must share their architecture to be fused; got models with different module "
                                  "trees instead.")
        for name in list(named[0]):
            fuser = None if any(r == "" or name.startswith(r + ".") for r in self._fused_names) else (
                _fuser_for([d[name] for d in named]))  # None also inside a layer already fused
            if fuser is None:
                continue
            fused = fuser([d[name] for d in named])
            if name == "":
                self.net = fused
            else:
                parent, _, child = name.rpartition(".")
                setattr(self.net.get_submodule(parent), child, fused)  # get_submodule(""): the net itself
            self._fused_names.append(name)

    def forward(self, x):
        return self.net(x.unsqueeze(1).expand(x.shape[0], self.n, *x.shape[1:]).reshape(-1, *x.shape[1:]))

    @torch.no_grad()
    def unfuse_into(self, models) -> None:  # the layers' own unfuse_into copy under this no_grad
        if len(models) != self.n:
            raise ValueError(f"models must be the {self.n} fused models; got {len(models)} instead.")
        named = [dict(m.named_modules()) for m in models]
        for name in self._fused_names:
            self.net.get_submodule(name).unfuse_into([d[name] for d in named])


@torch.no_grad()
def fuse_models(models, input_shape=None) -> FusedModels:
    """``models`` as one ``FusedModels``, checked: a random batch (of ``input_shape``, the training images' C x H x W;
    None: 16 x 16 or the first Linear's width) must give each model's logits (eval mode, TF32 off), else
    ``NotFusableError`` (e.g. a forward that mixes the samples of a batch)."""
    models = list(models)
    if not models or not all(isinstance(m, nn.Module) for m in models):
        raise ValueError(f"models must be a non-empty list of nn.Module; got {models!r:.80} instead.")
    fused = FusedModels(models)
    conv, lin = (next((m for m in models[0].modules() if isinstance(m, t)), None) for t in (nn.Conv2d, nn.Linear))
    shape = tuple(input_shape) if input_shape is not None else (conv.in_channels, 16, 16) if conv is not None else (
        (lin.in_features,) if lin is not None else None)
    if shape is None:
        return fused
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0)).to(next(models[0].parameters()).device)
    with _eval_fp32(models + [fused]):
        try:
            outs = [m(x).float() for m in models]
        except RuntimeError:
            return fused  # the probe shape does not suit this model; no check then
        try:
            got = fused(x).float().reshape(x.shape[0], len(models), -1)
        except RuntimeError as err:  # e.g. per-model heads with different output sizes
            raise NotFusableError(f"models must compute the same output shape to be fused; the fused forward failed "
                                  f"with {type(err).__name__}: {err}") from err
    for i, out in enumerate(outs):
        atol = 1e-4 * (float(out.abs().max()) + 1e-6)
        if not torch.allclose(got[:, i], out.reshape(x.shape[0], -1), rtol=1e-3, atol=atol):
            raise NotFusableError(f"models must compute each sample independently to be fused; model {i}'s fused "
                                  "output differs from its own output. Use fit_many(..., fuse=False).")
    return fused


@contextlib.contextmanager
def _eval_fp32(modules):
    """Eval mode and TF32 off (grouped and plain convolutions would otherwise round apart), both restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    modes = [m.training for m in modules]
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield [m.eval() for m in modules]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
        for m, mode in zip(modules, modes):
            m.train(mode)


def fit_groups(models, loss_fns, hooks, train, test, cfg: FitConfig, device, fast, auto, one) -> list[History]:
    """``fit_many``'s fused path, one network per group of same-architecture models; ``one(model, loss_fn=, hooks=)``
    trains a group of one on CUDA and, with ``auto``, unfusable models; a failed first capture runs it eagerly."""
    capture, histories, whole = resolve_fast(fast, device), {}, tuple(range(len(models)))
    shape = tuple(train.images.shape[1:])  # the fuse check runs on inputs of the training images' size
    try:  # all in one group if one module tree (one model: fused only if it trains here), else one per architecture
        groups = {whole: None if len(models) == 1 else fuse_models([m.to(device) for m in models], shape)}
    except NotFusableError as err:
        keyed: dict = {}
        for i, m in enumerate(models):
            key = (tuple((name, type(x).__name__) for name, x in m.named_modules()),
                   tuple((name, t.shape) for name, t in list(m.named_parameters()) + list(m.named_buffers())))
            keyed.setdefault(key, []).append(i)
        groups = dict.fromkeys(tuple(g) for g in keyed.values())
        if list(groups) == [whole]:  # one architecture that failed the check: not fused again
            groups[whole] = err
    for group, net in groups.items():
        ms, fns, hks = ([x[i] for i in group] for x in (models, loss_fns, hooks))
        if len(ms) == 1 and capture:  # fit's own engine, with its own eager fallback
            histories[group[0]] = one(ms[0], loss_fn=fns[0], hooks=hks[0])
            continue
        try:
            if isinstance(net, NotFusableError):
                raise net
            net = fuse_models([m.to(device) for m in ms], shape) if net is None else net
            members = Members(fns, hks, ms, partial(net.unfuse_into, ms))
            got = run_engine(net, train, test, members, cfg, device=device, capture=capture)
        except NotFusableError as err:
            if not auto:
                raise
            print(f"fit_many: these models cannot be fused ({err}); training them one after another.")
            got = [one(m, loss_fn=fn, hooks=h) for m, fn, h in zip(ms, fns, hks)]
        except GraphCaptureError as err:
            if fast is not None or err.epoch != 0:
                raise
            print(f"fit_many: WARNING, the CUDA-graph fast path failed, training the fused models eagerly instead "
                  f"(pass fast=False to skip the attempt). {err}")
            got = run_engine(net, train, test, members, cfg, device=device)  # the capture restored the net
        histories.update(zip(group, got))
    return [histories[i] for i in range(len(models))]
