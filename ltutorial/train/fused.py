"""Several models trained at once: fused into one network, each with its own loss and hooks.

On a GPU one small model leaves most of the chip idle even when graphed; N models of the same
architecture fused into one network fill it: 8 ResNet-32s with grouped convolutions, graphed,
take 9.4 ms per step instead of 8 x 3.3 ms (H200, ../shared/reference/performance.md).

How the fusion works ("models as batch"): the fused network runs the first model's own
``forward`` code on a batch of B x N rows, row b * N + i being sample b for model i. Every layer
with parameters is swapped for a fused layer that views its input as B x (N C) x ... and applies
the N models' weights at once: ``Conv2d`` -> one grouped convolution (groups x N), ``BatchNorm``
-> one BatchNorm over N C channels (per-model statistics, exactly as separate models),
``Linear`` -> one batched matrix product. Everything without parameters (ReLU, pooling, the
option-A shortcut's subsample-and-pad, flatten) already works sample by sample, so the model's
code runs unchanged. A model class can support fusion of its own layers by defining
``fuse_many(modules) -> module`` (a classmethod/staticmethod returning a module with
``unfuse_into(modules)``). Other layers with parameters, and layers whose type differs between
the models (LDAM's cosine head next to linear heads), run per model on their rows
(``_PerModel``). ``fuse_models`` checks the fused output against each model's.

Each model keeps its loss (``loss_fns[i]`` on its slice of the logits; the summed loss gives each
model exactly its own gradients, since parameters are disjoint) and its hooks; all see the same
batches and the same lr schedule. SGD is elementwise, so one optimizer over the fused parameters
is N independent SGDs. ``fit_many`` is the entry point (docs/ARCHITECTURE.md, "Several models at
once"); ``ltutorial reproduce`` trains a table's methods with it.

The alternative engine ``fit_many(..., fuse="streams")`` keeps the N models as separate modules
(each with its own ``TensorLRSGD``, bf16 + channels_last like ``fit``'s fast path) and captures
all N train steps in ONE CUDA graph, each step on its own CUDA stream forked from the capturing
stream and joined back, so the graph holds N independent branches the GPU can run concurrently
with the plain (not grouped) cuDNN kernels. Which of the two is faster depends on the GPU; the
throughput benchmark times both and ``LTUTORIAL_FIT_MANY_ENGINE`` picks the default on CUDA.

A third engine, ``fit_many(..., fuse="channels")``, replaces the rows trick for CIFAR ResNets by a
network written for the fused layout (``fused_channels.py``): no reshapes between layers, so it
can run in channels_last, and one plain stem convolution on the shared batch.
"""

from __future__ import annotations

import contextlib
import copy
import os

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_choice
from ltutorial.device import get_device
from ltutorial.train.fast import GraphCaptureError, cudnn_autotune
from ltutorial.train.loop import History, _check_common, _check_hooks, _resolve_amp, _resolve_fast, fit

__all__ = ["FusedModels", "NotFusableError", "fuse_models", "fit_many", "FUSED_CONV_CHANNELS_LAST",
           "FIT_MANY_ENGINE_ENV"]


class NotFusableError(ValueError):
    """The models cannot run as one fused network (different module trees or shapes, or a forward
    that mixes the samples of a batch)."""

#: Run the grouped convolutions in channels_last (NHWC) memory, at the price of one layout copy
#: before and after each: the fused activations must stay (B N) x C x H x W for the models' own
#: forward code, which NHWC cannot view as B x (N C) x H x W. Which is faster depends on cuDNN's
#: grouped kernels; ``benchmarks/train_throughput.py`` times both on CUDA, and
#: ``benchmarks/gpu_check.sh`` sets ``LTUTORIAL_FUSED_NHWC=1`` for the reproduction when NHWC won.
_NHWC_ENV = os.environ.get("LTUTORIAL_FUSED_NHWC", "0").strip().lower()
if _NHWC_ENV not in ("0", "1", "", "false", "true"):
    raise ValueError(f"LTUTORIAL_FUSED_NHWC must be 0 or 1; got {_NHWC_ENV!r} instead.")
FUSED_CONV_CHANNELS_LAST = _NHWC_ENV in ("1", "true")

#: ``fit_many(..., fuse=None)`` on CUDA: "fused" (grouped network, the default), "streams" (one
#: graph, one stream per model) or "channels" (the models-as-channels network where the
#: architecture has one, else "fused"). Read at each call, so ``benchmarks/gpu_check.sh`` can export the
#: engine its throughput step found faster before the reproduction runs.
FIT_MANY_ENGINE_ENV = "LTUTORIAL_FIT_MANY_ENGINE"
FIT_MANY_ENGINES = ("fused", "streams", "channels")


def _default_engine() -> str:
    value = os.environ.get(FIT_MANY_ENGINE_ENV, "").strip().lower()
    if value == "":
        return "fused"
    if value not in FIT_MANY_ENGINES:
        raise ValueError(f"{FIT_MANY_ENGINE_ENV} must be one of {list(FIT_MANY_ENGINES)} (or unset); "
                         f"got {value!r} instead.")
    return value


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
        if FUSED_CONV_CHANNELS_LAST:
            xg = xg.contiguous(memory_format=torch.channels_last)
        y = self.forward_channels(xg)
        return y.contiguous().reshape(b * self.n, self.out_channels, *y.shape[2:])

    def forward_channels(self, x):
        """The N convolutions on B x (N C_in) x H x W (the models-as-channels layout, any memory format)."""
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups * self.n)

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
        b = x.shape[0] // self.n
        return self.forward_channels(x.reshape(b, self.n * self.num_features, *x.shape[2:])).reshape(x.shape)

    def forward_channels(self, x):
        """The N BatchNorms on B x (N C) x ... (the models-as-channels layout)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as nn.BatchNorm does (syncs; not graph-safe)
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean if not self.training or self.track_running_stats else None,
                            self.running_var if not self.training or self.track_running_stats else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

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


#: How the fused network lays the models out: "rows" (the first model's own forward on B x N rows,
#: any architecture) or "channels" (a network written for B x (N C) activations, for the
#: architectures in ``fused_channels.CHANNEL_FUSERS``).
FUSED_LAYOUTS = ("rows", "channels")


class FusedModels(nn.Module):
    """N same-architecture models as one network. ``forward(x)`` takes B x C x H x W and returns
    (B N) x K logits, row b * N + i from model i; ``unfuse_into(models)`` copies the trained
    parameters and BN statistics back into the original models. ``layout``: one of
    ``FUSED_LAYOUTS`` (see the module docstring and ``fused_channels``)."""

    def __init__(self, models, layout: str = "rows"):
        super().__init__()
        check_choice(layout, list(FUSED_LAYOUTS), name="layout")
        self.n = len(models)
        self.layout = layout
        if layout == "channels":
            from ltutorial.train.fused_channels import channel_fuser_for

            self.net = channel_fuser_for(models)(models)
            self._fused_names = [""]
            return
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
        if self.layout == "channels":  # the network takes the shared batch itself
            return self.net(x)
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
def fuse_models(models, *, check: bool = True, layout: str = "rows") -> FusedModels:
    """Fuse same-architecture ``models`` into one ``FusedModels`` network (see the module docstring;
    ``layout="channels"``: the models-as-channels network of ``fused_channels``).

    ``check``: run a small random batch through the fused network and each model (eval mode)
    and raise if any model's logits differ, e.g. when a model's forward mixes samples.
    """
    models = list(models)
    if len(models) < 1 or not all(isinstance(m, nn.Module) for m in models):
        raise ValueError(f"models must be a non-empty list of nn.Module; got {models!r:.80} instead.")
    fused = FusedModels(models, layout=layout)
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


def fit_many(models, train, *, loss_fns, hooks=None, test=None, fuse=None, **fit_kwargs) -> list[History]:
    """Train several models on ``train`` (same batches, same schedule), each with its own loss and
    hooks; one ``History`` per model, and each model in ``models`` ends up trained.

    ``fuse`` None -> fused on CUDA (one grouped network, the step captured as a CUDA graph; the
    environment variable ``LTUTORIAL_FIT_MANY_ENGINE=streams|channels`` picks another engine),
    one after another elsewhere (``fit`` per model; the same seed gives every model the same data
    order). ``fuse=True`` on the CPU runs the fused network eagerly (tested to match training the
    models one by one). ``fuse="streams"``: the models stay separate modules, each with its own
    optimizer, and see the same batches; on CUDA one graph captures all N steps, each on its own
    stream (parallel branches), elsewhere (or with ``fast=False``) the same steps run one after
    another; any mix of architectures is fine, and hooks may also change the models.
    ``fuse="channels"``: CIFAR ResNets fused as one network on B x (N C) activations
    (``fused_channels``), in channels_last on CUDA when ``amp`` is None (an explicit ``amp``
    keeps NCHW, as in ``fit``); ``NotFusableError`` for other architectures.
    Hooks of fused models see each model with its current weights (synced before the hooks run)
    and may update losses, not the models. ``fit_kwargs``: as ``fit``
    (no ``optimizer``: each model gets SGD with the given lr/momentum/weight_decay/nesterov).
    The fused path drops each epoch's last partial batch, as ``fit``'s fast path does. Models whose
    module trees differ are grouped by architecture, each group fused on its own (a group of one
    on CUDA takes ``fit``'s graphed fast path); layers that differ only in type (a cosine head
    next to linear heads) stay in one fused network and run per model.
    """
    models = list(models) if not isinstance(models, nn.Module) else [models]
    if not models or not all(isinstance(m, nn.Module) for m in models):
        raise ValueError(f"models must be a non-empty list of nn.Module; got {type(models).__name__} instead.")
    loss_fns = list(loss_fns) if isinstance(loss_fns, (list, tuple)) else None
    if loss_fns is None or len(loss_fns) != len(models):
        raise ValueError(f"loss_fns must be a list with one loss per model ({len(models)}); got {loss_fns!r:.80} instead.")
    if hooks is None:
        hooks = [()] * len(models)
    elif not isinstance(hooks, (list, tuple)) or len(hooks) != len(models):
        raise ValueError(f"hooks must be None or a list with one list of hooks per model ({len(models)}); got {hooks!r:.80} instead.")
    hooks = [_check_hooks(h, name=f"hooks[{i}]") for i, h in enumerate(hooks)]
    if "optimizer" in fit_kwargs:
        raise ValueError("optimizer must not be given to fit_many (each model gets SGD from lr/momentum/weight_decay); "
                         "got an optimizer instead.")
    device = get_device(fit_kwargs.pop("device", "auto"))
    fuse_arg = fuse
    if fuse is None:
        fuse = device.type == "cuda"
        if fuse and _default_engine() != "fused":
            fuse = _default_engine()
    elif not isinstance(fuse, bool) and fuse not in ("streams", "channels"):
        raise ValueError(f"fuse must be None, True, False, 'streams' or 'channels'; got {fuse!r} instead.")
    if fuse == "streams":
        kw = dict(loss_fns=loss_fns, hooks=hooks, test=test, device=device)
        try:
            return _fit_together(models, train, engine="streams", **kw, **fit_kwargs)
        except GraphCaptureError as err:
            if fit_kwargs.get("fast", None) is not None or err.epoch != 0:
                raise
            # The capture restored every model, loss and optimizer state: nothing was trained yet.
            print(f"fit_many: WARNING, the CUDA-graph streams path failed, training the models eagerly one after "
                  f"another instead (pass fast=False to skip the attempt). {err}")
            return _fit_together(models, train, engine="streams", **kw, **dict(fit_kwargs, fast=False))
    if not fuse:
        return [fit(m, train, loss_fn=fn, hooks=h, test=test, device=device, **fit_kwargs)
                for m, fn, h in zip(models, loss_fns, hooks)]
    # One fused network when the models share their module tree (layers of different types, such
    # as LDAM's cosine head next to linear heads, run per model inside it); otherwise each exact
    # architecture is fused and trained on its own, in order of first use.
    auto = fuse_arg is None
    layout, groups = "rows", None
    if fuse == "channels":
        try:
            FusedModels(models, layout="channels")
            layout, groups = "channels", {"all": list(range(len(models)))}
        except NotFusableError as err:
            if not auto:
                raise
            print(f"fit_many: {FIT_MANY_ENGINE_ENV}=channels, but these models have no channels-fused network ({err}); "
                  "fusing them as rows instead.")
    if groups is None:
        try:
            FusedModels(models)
            groups = {"all": list(range(len(models)))}
        except NotFusableError:
            groups = {}
            for i, m in enumerate(models):
                groups.setdefault(_architecture_key(m), []).append(i)
    histories: list = [None] * len(models)
    for members in groups.values():
        if len(members) == 1 and device.type == "cuda" and fit_kwargs.get("fast", None) is not False:
            i = members[0]
            histories[i] = fit(models[i], train, loss_fn=loss_fns[i], hooks=hooks[i], test=test, device=device,
                               **fit_kwargs)
            continue
        group_args = ([models[i] for i in members], train)
        group_kw = dict(loss_fns=[loss_fns[i] for i in members], hooks=[hooks[i] for i in members], test=test,
                        device=device, layout=layout)
        try:
            got = _fit_together(*group_args, engine="fused", **group_kw, **fit_kwargs)
        except NotFusableError as err:
            if not auto:
                raise
            print(f"fit_many: these models cannot be fused ({err}); training them one after another.")
            got = [fit(models[i], train, loss_fn=loss_fns[i], hooks=hooks[i], test=test, device=device, **fit_kwargs)
                   for i in members]
        except GraphCaptureError as err:
            if fit_kwargs.get("fast", None) is not None or err.epoch != 0:
                raise
            # Nothing was trained yet (the fused copy is discarded): say so loudly, train eagerly.
            print(f"fit_many: WARNING, the CUDA-graph fast path failed, training the fused models eagerly instead "
                  f"(pass fast=False to skip the attempt). {err}")
            got = _fit_together(*group_args, engine="fused", **group_kw, **dict(fit_kwargs, fast=False))
        for i, h in zip(members, got):
            histories[i] = h
    return histories


def _architecture_key(model: nn.Module) -> tuple:
    """Module types and parameter/buffer shapes: models with equal keys can be fused."""
    return (tuple((name, type(m).__name__) for name, m in model.named_modules()),
            tuple((name, tuple(t.shape)) for name, t in list(model.named_parameters()) + list(model.named_buffers())))


def _check_all(models, loss_fns, train, *args):
    """Run fit's checks for every (model, loss) pair; return the normalised shared settings."""
    checked = [_check_common(m, train, fn, *args) for m, fn in zip(models, loss_fns)]
    return checked[0]


def _fit_together(models, train, *, engine, loss_fns, hooks, test, device, epochs, batch_size=128, lr=0.1,
                  momentum=0.9, weight_decay=2e-4, nesterov=False, schedule=None, augment=None, seed=0, eval_every=1,
                  progress=None, amp=None, fast=None, padding=4, fill="zero", drop_last=None,
                  layout="rows") -> list[History]:
    """``fit_many``'s two engines on ``run_engine``: ``engine="fused"``, one network (``layout``
    "rows" or "channels") with one optimizer; ``engine="streams"``, N separate models, each with
    its own optimizer, captured in one CUDA graph with one stream per model. ``fast`` None -> a
    CUDA graph on CUDA, the same steps eagerly elsewhere. Like ``fit``'s fast path, each epoch's
    last partial batch is dropped."""
    from ltutorial.train.fast import run_engine

    epochs, batch_size, augment, seed, eval_every = _check_all(
        models, loss_fns, train, epochs, test, batch_size, lr, momentum, weight_decay, augment, seed, eval_every,
        padding, fill)
    if schedule is not None and not callable(schedule):
        raise ValueError("schedule must be None or a callable epoch -> lr multiplier; "
                         f"got {type(schedule).__name__} instead.")
    fast = _resolve_fast(fast, device)
    _, channels_last = _resolve_amp(amp, device)
    if engine == "streams":
        # Separate modules keep their own layout: bf16 + channels_last on CUDA, as fit's fast path.
        net, sync, name = list(models), None, f"streams{len(models)}"
    else:
        for m in models:
            m.to(device)
        net = fuse_models(models, layout=layout)

        def sync():
            net.unfuse_into(models)

        # Rows: grouped layers view (B N) x C x H x W as B x (N C) x H x W, free in the default
        # layout but a copy per layer in channels_last, so that network stays NCHW. Channels: no
        # such views, so channels_last (on CUDA by default, as fit's fast path).
        channels_last = channels_last and layout == "channels"
        name = f"fused{len(models)}{'-channels' if layout == 'channels' else ''}"
    with cudnn_autotune(device):
        histories = run_engine(
            net, len(models), train, loss_fns=loss_fns, hooks_per_model=hooks, hook_models=models,
            sync_hook_models=sync, epochs=epochs, test=test, batch_size=batch_size, optimizer=None, lr=lr,
            momentum=momentum, weight_decay=weight_decay, nesterov=nesterov, schedule=schedule, augment=augment,
            device=device, seed=seed, eval_every=eval_every, progress=progress, amp=amp,
            channels_last=channels_last, padding=padding, fill=fill, capture=fast,
            engine_name=f"{name}-{'graph' if fast else 'eager'}")
    if sync is not None:
        sync()
        for h in histories:
            h.config["fused_conv_channels_last"] = FUSED_CONV_CHANNELS_LAST
    return histories
