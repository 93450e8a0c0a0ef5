"""Several models trained at once as one fused network, each with its own loss and hooks.

One small model leaves most of a GPU idle; 8 ResNet-32s fused and graphed train 11.3x faster per
model than the reference loop (H200, ``benchmarks/results/nvidia-h200-train_throughput.json``).
"Models as batch": the fused network runs the first model's own ``forward`` on B x N rows (row
b * N + i is sample b for model i); each layer with parameters is swapped for a fused one that views
its input as B x (N C) x ...: ``Conv2d`` -> one grouped convolution, ``BatchNorm`` -> one BatchNorm over
N C channels (per-model statistics), ``Linear`` -> one batched matmul. Parameter-free layers work
sample by sample unchanged. A class may define ``fuse_many(modules)``; other layers with parameters,
or layers whose type differs between the models (LDAM's cosine head next to linear heads), run per
model on their rows (``_PerModel``). The summed loss gives each model exactly its own gradients
(disjoint parameters) and SGD is elementwise, so one optimizer is N independent SGDs.
``ltutorial.train.fit_many`` is the entry point (docs/ARCHITECTURE.md, "Several models at once").
"""

from __future__ import annotations

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial.fast.engine import Members, cudnn_autotune, run_engine
from ltutorial.train.common import FitConfig, History, resolve_fast

__all__ = ["FusedModels", "NotFusableError", "fuse_models", "fusable_groups", "fit_fused"]


class NotFusableError(ValueError):
    """The models cannot run as one fused network (different module trees or shapes, or a forward
    that mixes the samples of a batch)."""


def _same(modules, attrs, kind):
    first = modules[0]
    for m in modules[1:]:
        for a in attrs:
            if getattr(m, a) != getattr(first, a):
                raise NotFusableError(f"models must share their architecture to be fused; got {kind} layers whose {a} "
                                 f"differ ({getattr(first, a)!r} vs {getattr(m, a)!r}) instead.")


class _FusedConv2d(nn.Module):
    """N Conv2d layers as one grouped convolution over B x (N C_in) x H x W."""

    def __init__(self, convs):
        super().__init__()
        _same(convs, ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                      "padding_mode"), "Conv2d")
        c = convs[0]
        if any((m.bias is None) != (c.bias is None) for m in convs):
            raise NotFusableError("models must share their architecture to be fused; got Conv2d layers with and without bias.")
        self.n, self.in_channels, self.out_channels = len(convs), c.in_channels, c.out_channels
        self.stride, self.padding, self.dilation, self.groups = c.stride, c.padding, c.dilation, c.groups
        self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in convs]).clone())
        self.bias = None if c.bias is None else nn.Parameter(torch.cat([m.bias.detach() for m in convs]).clone())

    def forward(self, x):
        b = x.shape[0] // self.n
        xg = x.reshape(b, self.n * self.in_channels, *x.shape[2:])
        y = F.conv2d(xg, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups * self.n)
        return y.contiguous().reshape(b * self.n, self.out_channels, *y.shape[2:])

    @torch.no_grad()
    def unfuse_into(self, convs):
        for i, m in enumerate(convs):
            rows = slice(i * self.out_channels, (i + 1) * self.out_channels)
            m.weight.copy_(self.weight[rows])
            if m.bias is not None:
                m.bias.copy_(self.bias[rows])


class _FusedBatchNorm(nn.Module):
    """N BatchNorm layers as one over N C channels: per-model, per-channel statistics as before."""

    def __init__(self, bns):
        super().__init__()
        _same(bns, ("num_features", "eps", "momentum", "affine", "track_running_stats"), type(bns[0]).__name__)
        b = bns[0]
        self.n, self.num_features, self.eps, self.momentum = len(bns), b.num_features, b.eps, b.momentum
        self.affine, self.track_running_stats = b.affine, b.track_running_stats
        if self.affine:
            self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in bns]).clone())
            self.bias = nn.Parameter(torch.cat([m.bias.detach() for m in bns]).clone())
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.cat([m.running_mean for m in bns]).clone())
            self.register_buffer("running_var", torch.cat([m.running_var for m in bns]).clone())
            self.register_buffer("num_batches_tracked", bns[0].num_batches_tracked.clone())
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        shape, b = x.shape, x.shape[0] // self.n
        x = x.reshape(b, self.n * self.num_features, *x.shape[2:])
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as nn.BatchNorm does (syncs; not graph-safe)
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean if not self.training or self.track_running_stats else None,
                            self.running_var if not self.training or self.track_running_stats else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps).reshape(shape)

    @torch.no_grad()
    def unfuse_into(self, bns):
        for i, m in enumerate(bns):
            rows = slice(i * self.num_features, (i + 1) * self.num_features)
            if self.affine:
                m.weight.copy_(self.weight[rows])
                m.bias.copy_(self.bias[rows])
            if self.track_running_stats:
                m.running_mean.copy_(self.running_mean[rows])
                m.running_var.copy_(self.running_var[rows])
                m.num_batches_tracked.copy_(self.num_batches_tracked)


class _FusedLinear(nn.Module):
    """N Linear layers as one batched matrix product: (B N) x in -> (B N) x out."""

    def __init__(self, linears):
        super().__init__()
        _same(linears, ("in_features", "out_features"), "Linear")
        if any((m.bias is None) != (linears[0].bias is None) for m in linears):
            raise NotFusableError("models must share their architecture to be fused; got Linear layers with and without bias.")
        self.n, self.in_features, self.out_features = len(linears), linears[0].in_features, linears[0].out_features
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in linears]).clone())  # N x out x in
        self.bias = None if linears[0].bias is None else nn.Parameter(
            torch.stack([m.bias.detach() for m in linears]).clone())

    def forward(self, x):
        b = x.shape[0] // self.n
        xs = x.reshape(b, self.n, -1, self.in_features).transpose(0, 1).reshape(self.n, -1, self.in_features)
        y = torch.bmm(xs, self.weight.transpose(1, 2))  # N x (B T) x out, T = positions per sample
        if self.bias is not None:
            y = y + self.bias[:, None, :]
        y = y.reshape(self.n, b, -1, self.out_features).transpose(0, 1)
        return y.reshape(b * self.n, *x.shape[1:-1], self.out_features)

    @torch.no_grad()
    def unfuse_into(self, linears):
        for i, m in enumerate(linears):
            m.weight.copy_(self.weight[i])
            if m.bias is not None:
                m.bias.copy_(self.bias[i])


class _FusedNormedLinear(nn.Module):
    """N cosine classifiers (LDAM's NormedLinear: weight in_features x out, output
    normalize(x) @ normalize(W, dim=0)) as one batched product."""

    def __init__(self, layers):
        super().__init__()
        shapes = {tuple(m.weight.shape) for m in layers}
        if len(shapes) != 1:
            raise NotFusableError(f"models must share their architecture to be fused; got NormedLinear weights of shapes {shapes} instead.")
        self.n = len(layers)
        self.in_features, self.out_features = layers[0].weight.shape
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]).clone())  # N x in x out

    def forward(self, x):
        b = x.shape[0] // self.n
        # fp32 as the original layer computes it: the cosines are multiplied by s = 30 in LDAM.
        with torch.autocast(device_type=x.device.type, enabled=False):
            xs = F.normalize(x.float().reshape(b, self.n, self.in_features), dim=2).transpose(0, 1)  # N x B x in
            y = torch.bmm(xs, F.normalize(self.weight.float(), dim=1))  # N x B x out
        return y.transpose(0, 1).reshape(b * self.n, self.out_features)

    @torch.no_grad()
    def unfuse_into(self, layers):
        for i, m in enumerate(layers):
            m.weight.copy_(self.weight[i])


class _PerModel(nn.Module):
    """Layers fused in name only: each model's own copy applied to its rows of the (B N) batch.

    Used where the models' layers differ in type (LDAM's cosine head next to linear heads) or
    have no fused form; correct for any per-sample layer, at N launches instead of one.
    """

    def __init__(self, modules):
        super().__init__()
        self.n = len(modules)
        self.layers = nn.ModuleList(copy.deepcopy(m) for m in modules)

    def forward(self, x):
        b = x.shape[0] // self.n
        xs = x.reshape(b, self.n, *x.shape[1:])
        outs = [layer(xs[:, i]) for i, layer in enumerate(self.layers)]
        if len({o.dtype for o in outs}) > 1:  # e.g. a bf16 Linear head next to an fp32 cosine head
            outs = [o.float() for o in outs]
        return torch.stack(outs, 1).reshape(b * self.n, *outs[0].shape[1:])

    @torch.no_grad()
    def unfuse_into(self, modules):
        for layer, m in zip(self.layers, modules):
            m.load_state_dict(layer.state_dict())


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(
        b is not None for b in module.buffers(recurse=False))


def _fuser_for(module: nn.Module):
    """The fused-layer constructor for ``module``'s type; ``_PerModel`` for other layers holding
    parameters or buffers; None for parameter-free modules (run unchanged on the (B N) rows)."""
    own = getattr(type(module), "fuse_many", None)
    if callable(own):
        return own
    if isinstance(module, nn.Conv2d):
        return _FusedConv2d if module.padding_mode == "zeros" else _PerModel
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return _FusedBatchNorm
    if isinstance(module, nn.Linear):
        return _FusedLinear
    if type(module).__name__ == "NormedLinear" and getattr(module, "weight", None) is not None \
            and module.weight.ndim == 2 and len(list(module.parameters(recurse=False))) == 1:
        return _FusedNormedLinear
    return _PerModel if _has_state(module) else None


class FusedModels(nn.Module):
    """N same-architecture models as one network. ``forward(x)`` takes B x C x H x W and returns
    (B N) x K logits, row b * N + i from model i; ``unfuse_into(models)`` copies the trained
    parameters and BN statistics back into the original models (see the module docstring)."""

    def __init__(self, models):
        super().__init__()
        self.n = len(models)
        self.net = copy.deepcopy(models[0])
        self._fused_names = []
        named = [dict(m.named_modules()) for m in models]
        if any(list(d) != list(named[0]) for d in named[1:]):
            raise NotFusableError("models must share their architecture to be fused; got models with different module trees instead.")
        replaced = set()
        for name, module in list(self.net.named_modules()):
            if any(name == r or name.startswith(r + ".") for r in replaced):
                continue
            peers = [d[name] for d in named]
            if len({type(m) for m in peers}) > 1:
                # Different layer types under one name: each model keeps its own (whole subtree).
                fuser = _PerModel if any(_has_state(m) for p in peers for m in p.modules()) else None
            else:
                fuser = _fuser_for(module)
            if fuser is None:
                continue
            fused = fuser(peers)
            if name == "":
                self.net = fused
            else:
                parent_name, _, child = name.rpartition(".")
                parent = self.net.get_submodule(parent_name) if parent_name else self.net
                setattr(parent, child, fused)
            self._fused_names.append(name)
            replaced.add(name)

    def forward(self, x):
        b = x.shape[0]
        rows = x.unsqueeze(1).expand(b, self.n, *x.shape[1:]).reshape(b * self.n, *x.shape[1:])
        return self.net(rows)

    @torch.no_grad()
    def unfuse_into(self, models) -> None:
        if len(models) != self.n:
            raise ValueError(f"models must be the {self.n} fused models; got {len(models)} instead.")
        named = [dict(m.named_modules()) for m in models]
        for name in self._fused_names:
            fused = self.net if name == "" else self.net.get_submodule(name)
            fused.unfuse_into([d[name] for d in named])


@contextlib.contextmanager
def _full_fp32():
    """TF32 off for the fusion check: grouped and plain convolutions would otherwise round apart."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@torch.no_grad()
def fuse_models(models, *, check: bool = True) -> FusedModels:
    """Fuse same-architecture ``models`` into one ``FusedModels`` network (see the module docstring).

    ``check``: run a small random batch through the fused network and each model (eval mode)
    and raise if any model's logits differ, e.g. when a model's forward mixes samples.
    """
    models = list(models)
    if len(models) < 1 or not all(isinstance(m, nn.Module) for m in models):
        raise ValueError(f"models must be a non-empty list of nn.Module; got {models!r:.80} instead.")
    fused = FusedModels(models)
    if check:
        first_conv = next((m for m in models[0].modules() if isinstance(m, nn.Conv2d)), None)
        first_lin = next((m for m in models[0].modules() if isinstance(m, nn.Linear)), None)
        probe_shape = getattr(models[0], "input_shape", None)
        if probe_shape is None and first_conv is not None:
            probe_shape = (first_conv.in_channels, 16, 16)
        elif probe_shape is None and first_lin is not None:
            probe_shape = (first_lin.in_features,)
        if probe_shape is not None:
            device = next(models[0].parameters()).device
            modes = [m.training for m in models]
            try:
                for m in models:
                    m.eval()
                fused.eval()
                x = torch.randn(3, *probe_shape, generator=torch.Generator().manual_seed(0)).to(device)
                with _full_fp32():
                    try:
                        outs = [m(x).float() for m in models]
                    except RuntimeError:
                        outs = None  # the probe shape does not suit this model; no check then
                    got = None
                    if outs is not None:
                        try:
                            got = fused(x).float().reshape(3, len(models), -1)
                        except RuntimeError as err:  # e.g. per-model heads with different output sizes
                            raise NotFusableError(f"models must compute the same output shape to be fused; the "
                                                  f"fused forward failed with {type(err).__name__}: {err}") from err
                if outs is not None:
                    for i, out in enumerate(outs):
                        scale = float(out.abs().max()) + 1e-6
                        if not torch.allclose(got[:, i], out.reshape(3, -1), rtol=1e-3, atol=1e-4 * scale):
                            raise NotFusableError(f"models must compute each sample independently to be fused; model {i}'s "
                                             "fused output differs from its own output. Use fit_many(..., fuse=False).")
            finally:
                for m, mode in zip(models, modes):
                    m.train(mode)
                fused.train(modes[0])
    return fused


def _architecture_key(model: nn.Module) -> tuple:
    """Module types and parameter/buffer shapes: models with equal keys can be fused."""
    return (tuple((name, type(m).__name__) for name, m in model.named_modules()),
            tuple((name, tuple(t.shape)) for name, t in list(model.named_parameters()) + list(model.named_buffers())))


def fusable_groups(models) -> list[list[int]]:
    """Indices of the models to fuse together: all of them when they share their module tree (layers of
    different types, such as LDAM's cosine head next to linear heads, run per model inside it), else
    one group per exact architecture, in order of first use."""
    try:
        FusedModels(models)
        return [list(range(len(models)))]
    except NotFusableError:
        groups: dict = {}
        for i, m in enumerate(models):
            groups.setdefault(_architecture_key(m), []).append(i)
        return list(groups.values())


def fit_fused(models, train, test, loss_fns, hooks, cfg: FitConfig, device, fast=None) -> list[History]:
    """Train same-architecture ``models`` (checked settings ``cfg``) as one fused network on the engine,
    then copy the trained weights back into them. ``fast`` None -> a CUDA graph on CUDA, the same
    steps eagerly elsewhere. Like ``fit``'s fast path, each epoch's last partial batch is dropped."""
    fast = resolve_fast(fast, device)
    for m in models:
        m.to(device)
    net = fuse_models(models)

    def sync():
        net.unfuse_into(models)

    # Grouped layers view (B N) x C x H x W as B x (N C) x H x W: free in the default layout, a copy
    # per layer in channels_last, so the fused network stays NCHW.
    with cudnn_autotune(device):
        histories = run_engine(net, train, test, Members(list(loss_fns), list(hooks), list(models), sync), cfg,
                               device=device, channels_last=False, capture=fast,
                               engine_name=f"fused{len(models)}-{'graph' if fast else 'eager'}")
    sync()
    return histories
