"""The engine tier's train step: forward, loss, backward and optimizer step replayed as one CUDA graph.

A small network's step (ResNet-32, batch 128) is bound by kernel launches: 6.7x faster than the
reference DataLoader loop when graphed (H200, ``benchmarks/results/nvidia-h200-train_throughput.json``).
The dataset sits on the device as uint8; each epoch one seeded permutation and one batched crop/flip
prepare the epoch (the eager loop's draws, in its order); each step copies its slice into static
buffers and replays the graph. The lr is a device tensor (``TensorLRSGD``) filled in place, and loss
state lives in buffers that hooks update in place (docs/ARCHITECTURE.md, "Graph-safe losses"); a hook
that rebinds a tensor or changes a Python number is seen by the signature check and the graph is
captured again. The last partial batch is dropped (a graph has one batch shape). ``capture=False``
runs the same step eagerly on any device: that is how the CPU tests hold it to the eager loop.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.train.augment import crop_flip
from ltutorial.train.common import (
    FitConfig,
    History,
    TrainState,
    accuracy_summary,
    autocast,
    call_loss,
    check_epoch_loss,
    check_fit_args,
    check_hooks,
    check_output_width,
    count_classes,
    device_tensors,
    epoch_plan,
    history_config,
    logits_on_device,
    optimizer_base_lrs,
    resolve_amp,
    resolve_fast,
    schedule_multiplier,
    set_lr,
)

__all__ = ["TensorLRSGD", "GraphCaptureError", "Members", "run_engine", "fit_graphed", "fit_fast", "cudnn_autotune"]


class GraphCaptureError(RuntimeError):
    """The train step could not be captured as a CUDA graph; model, optimizer and loss state are
    as before the attempt. ``epoch`` says when (0: the first capture, before any training)."""

    epoch: int = 0


class TensorLRSGD(torch.optim.Optimizer):
    """SGD with momentum / Nesterov / weight decay whose lr is a 0-dim tensor on the parameters' device.

    Same update as ``torch.optim.SGD`` (dampening 0): g <- grad + wd * p; b <- mu * b + g;
    d = g + mu * b (Nesterov) or b; p <- p - lr * d. The momentum buffers start at zero (so the
    first step uses b = g, as torch's SGD does) and exist from construction, so a CUDA graph can
    capture the step; ``group["lr"]`` is a tensor that the schedule fills in place.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        params = list(params)
        if not params:
            raise ValueError("params must hold at least one parameter; got an empty list instead.")
        first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
        if nesterov and momentum <= 0:
            raise ValueError(f"momentum must be > 0 with nesterov=True; got {momentum!r} instead.")
        lr_t = torch.tensor(float(lr), dtype=torch.float32, device=first.device)
        super().__init__(params, dict(lr=lr_t, momentum=float(momentum), weight_decay=float(weight_decay),
                                      nesterov=bool(nesterov)))
        for group in self.param_groups:
            group["base_lr"] = float(lr) if group["lr"] is lr_t else float(group["lr"])
            if isinstance(group["lr"], torch.Tensor) and group["lr"] is lr_t and len(self.param_groups) > 1:
                group["lr"] = lr_t.clone()  # one lr tensor per group, so groups can be scheduled apart
            elif not isinstance(group["lr"], torch.Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32, device=first.device)
            for p in group["params"]:
                if group["momentum"] > 0:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["weight_decay"] != 0:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            mu = group["momentum"]
            if mu > 0:
                bufs = [self.state[p]["momentum_buffer"] for p in params]
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, grads)
                grads = torch._foreach_add(grads, bufs, alpha=mu) if group["nesterov"] else bufs
            torch._foreach_sub_(params, torch._foreach_mul(grads, group["lr"]))
        return loss


_SCALARS = (int, float, bool, str, type(None))


def _object_state(obj, prefix: str, out: dict, tensors: list, depth: int = 0) -> None:
    """Collect (name -> signature) of everything a captured step could have baked in from ``obj``:
    tensors by address/shape/dtype, plain Python numbers and strings by value."""
    if depth > 3:
        return
    if isinstance(obj, nn.Module):
        for name, t in list(obj.named_parameters(recurse=False)) + list(obj.named_buffers(recurse=False)):
            if t is not None:
                out[prefix + name] = (t.data_ptr(), tuple(t.shape), t.dtype)
                tensors.append(t)
        for name, child in obj.named_children():
            _object_state(child, f"{prefix}{name}.", out, tensors, depth + 1)
        items = [(k, v) for k, v in vars(obj).items() if not k.startswith("_") and k != "training"]
    else:
        items = list(vars(obj).items()) if hasattr(obj, "__dict__") else []
    for key, value in items:
        if isinstance(value, torch.Tensor):
            out[prefix + key] = (value.data_ptr(), tuple(value.shape), value.dtype)
            tensors.append(value)
        elif isinstance(value, _SCALARS):
            out[prefix + key] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, _SCALARS) for v in value):
            out[prefix + key] = tuple(value)


def _loss_state(loss_fns) -> tuple[dict, list]:
    sig, tensors = {}, []
    for i, fn in enumerate(loss_fns):
        _object_state(fn, f"loss{i}.", sig, tensors)
    return sig, tensors


def _module_state(net: nn.Module) -> tuple[dict, list]:
    sig, tensors = {}, []
    for name, t in list(net.named_parameters()) + list(net.named_buffers()):
        sig[name] = (t.data_ptr(), tuple(t.shape), t.dtype)
        tensors.append(t)
    return sig, tensors


def _optimizer_state(opt) -> tuple[dict, list]:
    sig, tensors = {}, []
    for gi, group in enumerate(opt.param_groups):
        for key, value in group.items():
            if key == "params":
                continue
            if isinstance(value, torch.Tensor):
                sig[f"group{gi}.{key}"] = (value.data_ptr(), tuple(value.shape), value.dtype)
            elif isinstance(value, _SCALARS):
                sig[f"group{gi}.{key}"] = value
    for pi, state in enumerate(opt.state.values()):
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                sig[f"state{pi}.{key}"] = (value.data_ptr(), tuple(value.shape), value.dtype)
                tensors.append(value)
    return sig, tensors


def _warm_up(step, device, n: int = 3) -> None:
    """Run ``step`` n times on a side stream, as capture requires (cuDNN autotuning, lazy init)."""
    side = torch.cuda.Stream(device=device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(n):
            step()
    torch.cuda.current_stream(device).wait_stream(side)


def _capture(body, device, reset_grads):
    """Record ``body`` (forward, loss, backward, optimizer step) as a CUDA graph; nothing runs.

    Gradients were set to None before, so backward allocates them inside the graph's memory pool
    and every replay overwrites them (``reset_grads`` is what a replay implies; unused here).
    """
    graph = torch.cuda.CUDAGraph()
    outer = torch.cuda.current_stream(device)
    try:
        with torch.cuda.graph(graph):
            body()
    except BaseException:
        # When ending a failed capture raises, torch's graph.__exit__ never switches back from its
        # capture stream; restore the caller's stream so an eager fallback runs where it expects.
        torch.cuda.set_stream(outer)
        raise
    return graph


def _synchronize(device) -> None:
    torch.cuda.synchronize(device)


@contextlib.contextmanager
def cudnn_autotune(device):
    """Turn on cuDNN's autotuner for the fixed batch shapes of a graphed run; restore it after."""
    previous = torch.backends.cudnn.benchmark
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@dataclass
class Members:
    """The models one engine run trains: one loss and one tuple of hooks per model, the modules the
    hooks see (the given models; for a fused network, ``sync`` copies its weights into them first)."""

    loss_fns: list
    hooks: list
    models: list
    sync: Callable | None = None


class _TrainStep:
    """The step the engine replays: static input buffers, forward + loss + backward + optimizer step
    (``body``), and its CUDA-graph capture with the warm-up's effects undone (``capture_graph``)."""

    def __init__(self, net, n_models, members, opt, shape, dtype, device, use_amp, channels_last, norm):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        batch_size = shape[0]
        self.net, self.n_models, self.loss_fns, self.opt = net, n_models, members.loss_fns, opt
        self.device, self.use_amp, self.scale, self.shift = device, use_amp, norm[0], norm[1]
        self.x = torch.zeros(shape, dtype=dtype, device=device).contiguous(memory_format=fmt)
        self.y = torch.zeros(batch_size, dtype=torch.int64, device=device)
        self.idx = torch.zeros(batch_size, dtype=torch.int64, device=device)
        self.loss_acc = torch.zeros(n_models, dtype=torch.float32, device=device)
        self.data_classes = 0

    def body(self):
        x = self.x.to(torch.float32) * self.scale + self.shift  # keeps the static batch's memory layout
        with autocast(self.device, self.use_amp):
            out = self.net(x)
        logits = out.float().reshape(self.x.shape[0], self.n_models, -1)
        check_output_width(logits[:, 0], self.data_classes, name="model" if self.n_models == 1 else "each model")
        losses = torch.stack([call_loss(fn, logits[:, i], self.y, self.idx) for i, fn in enumerate(self.loss_fns)])
        losses.sum().backward()
        self.opt.step()
        self.loss_acc.add_(losses.detach())

    def reset_grads(self):
        self.opt.zero_grad(set_to_none=True)

    def eager_step(self):
        self.reset_grads()
        self.body()

    def signature(self) -> dict:
        sig = dict(_module_state(self.net)[0])
        sig.update(_optimizer_state(self.opt)[0])
        sig.update(_loss_state(self.loss_fns)[0])
        return sig

    def state_tensors(self) -> list:
        return _module_state(self.net)[1] + _loss_state(self.loss_fns)[1] + _optimizer_state(self.opt)[1]

    def capture_graph(self):
        # Warm-up steps (needed before capture: cuDNN autotuning, autograd's lazy set-up) really
        # train, so everything they may change is saved first and restored afterwards, also when
        # the capture fails (so the caller can still train eagerly from the same state).
        saved_tensors = self.state_tensors()
        saved = [t.detach().clone() for t in saved_tensors]
        known = {id(t) for t in saved_tensors}
        graph, failure = None, None
        try:
            _warm_up(self.eager_step, self.device)
            self.reset_grads()
            graph = _capture(self.body, self.device, self.reset_grads)
        except RuntimeError as err:
            failure = err
        finally:
            _synchronize(self.device)
            with torch.no_grad():
                for t, s in zip(saved_tensors, saved):
                    t.copy_(s)
                # Optimizer state created by the warm-up (e.g. torch SGD's momentum buffers, Adam's
                # moments and step) starts from zero, which is its state before any step.
                for t in _optimizer_state(self.opt)[1]:
                    if id(t) not in known:
                        t.zero_()
                self.loss_acc.zero_()
        if failure is not None:
            self.reset_grads()
            raise _capture_error(failure) from failure
        return graph


def _capture_error(failure: BaseException) -> GraphCaptureError:
    # A failure inside the captured region surfaces again when the capture is ended
    # ("operation failed due to a previous error during capture"): report the first one.
    causes, err = [], failure
    while err is not None and len(causes) < 3:
        causes.append(f"{type(err).__name__}: {err}")
        err = err.__context__
    error = GraphCaptureError(
        "the train step could not be captured as a CUDA graph (a loss, hook or model that syncs with the "
        "host, e.g. .item() or data-dependent shapes?). Make it graph-safe (docs/ARCHITECTURE.md, "
        f"'Graph-safe losses') or run fit(..., fast=False). Original error: {'; then '.join(reversed(causes))}")
    return error


def _build_step(net, n_models, train, members, cfg, optimizer, device, channels_last):
    """Move the models and losses to ``device``; the step with its optimizer (``TensorLRSGD`` unless given)."""
    net.to(device, memory_format=torch.channels_last) if channels_last else net.to(device)
    for fn in members.loss_fns:
        if isinstance(fn, nn.Module):
            fn.to(device)
    n, c, h, w = train.images.shape
    if n // cfg.batch_size == 0:
        raise ValueError(f"batch_size must be <= the training set size ({n}) on the fast path (it drops the last "
                         f"partial batch); got {cfg.batch_size} instead.")
    unit = 255.0 if train.images.dtype == torch.uint8 else 1.0
    mean = torch.tensor(train.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(train.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    opt = optimizer if optimizer is not None else TensorLRSGD(
        net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    use_amp, _ = resolve_amp(cfg.amp, device)
    return _TrainStep(net, n_models, members, opt, (cfg.batch_size, c, h, w), train.images.dtype, device, use_amp, channels_last,
                      (1.0 / (unit * std), -mean / std))


def _ensure_graph(step, graph, graph_sig, epoch, recaptures):
    """The graph to replay this epoch: captured at the first epoch and again whenever the signature of
    what it baked in changed. Returns (graph, signature, recaptures)."""
    sig = step.signature()
    if graph is not None and sig == graph_sig:
        return graph, graph_sig, recaptures
    if graph is not None:
        changed = sorted(k for k in set(sig) | set(graph_sig) if sig.get(k) != graph_sig.get(k))
        recaptures += 1
        if recaptures == 1:
            print(f"fast path: re-capturing the CUDA graph at epoch {epoch} because {changed[:4]} changed "
                  "(rebinding tensors or changing Python numbers in hooks costs a capture; update "
                  "buffers in place with .copy_(), see docs/ARCHITECTURE.md 'Graph-safe losses').")
    try:
        graph = step.capture_graph()
    except GraphCaptureError as err:
        err.epoch = epoch
        raise
    return graph, step.signature(), recaptures


def _run_hooks(members, states, epoch, lr_now):
    if any(members.hooks):
        if members.sync is not None:
            members.sync()
        for state, hooks in zip(states, members.hooks):
            state.epoch, state.lr = epoch, lr_now
            for hook in hooks:
                hook(state)


def run_engine(net, train, test, members: Members, cfg: FitConfig, *, device, optimizer=None, channels_last=False,
               capture=False, engine_name="fast-eager") -> list[History]:
    """Train ``net``, whose output holds ``len(members.loss_fns)`` models' logits (row b * N + i, or
    B x K for one model), on ``train``; one History per model. See the module docstring."""
    start_time, device, n_models = time.perf_counter(), torch.device(device), len(members.loss_fns)
    step = _build_step(net, n_models, train, members, cfg, optimizer, device, channels_last)
    images, labels = device_tensors(train, device)
    test_images, test_labels = device_tensors(test, device) if test is not None else (None, None)
    num_classes = count_classes(test) if test is not None else count_classes(train)
    step.data_classes = max(num_classes, count_classes(train))  # the model must cover both sets' classes
    base_lrs, bs = optimizer_base_lrs(step.opt), cfg.batch_size
    steps = images.shape[0] // bs
    config = dict(history_config(cfg, base_lrs[0], step.use_amp), drop_last=True, models_fused=n_models)
    histories = [History(device=str(device), engine=engine_name, config=dict(config)) for _ in range(n_models)]
    states = [TrainState(epoch=0, epochs=cfg.epochs, model=members.models[i], loss_fn=members.loss_fns[i],
                         optimizer=step.opt, history=histories[i], train=train, device=device) for i in range(n_models)]
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    graph, graph_sig, recaptures = None, None, 0
    bar = progress_bar(range(cfg.epochs), progress=cfg.progress, desc="epochs", leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        lr_now = set_lr(step.opt, base_lrs, schedule_multiplier(cfg.schedule, epoch))
        _run_hooks(members, states, epoch, lr_now)
        net.train()
        perm, dy, dx, flips = epoch_plan(images.shape[0], generator, cfg.augment, cfg.padding)
        idx_epoch = perm[:steps * bs]
        x_epoch = images[idx_epoch]
        if cfg.augment:
            x_epoch = crop_flip(x_epoch, dy[:steps * bs], dx[:steps * bs], flips[:steps * bs], cfg.padding, cfg.fill)
        y_epoch = labels[idx_epoch]
        if capture:
            if graph is None or step.signature() != graph_sig:
                step.x.copy_(x_epoch[:bs])
                step.y.copy_(y_epoch[:bs])
                step.idx.copy_(idx_epoch[:bs])
            graph, graph_sig, recaptures = _ensure_graph(step, graph, graph_sig, epoch, recaptures)
        step.loss_acc.zero_()
        for s in range(steps):
            step.x.copy_(x_epoch[s * bs:(s + 1) * bs])
            step.y.copy_(y_epoch[s * bs:(s + 1) * bs])
            step.idx.copy_(idx_epoch[s * bs:(s + 1) * bs])
            graph.replay() if graph is not None else step.eager_step()
        epoch_losses = (step.loss_acc / steps).tolist()
        check_epoch_loss(epoch_losses, epoch, lr_now)
        logits = None
        if test is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1):
            logits = logits_on_device(net, test_images, test.mean, test.std, device, 1024, step.use_amp,
                                      channels_last).reshape(test_images.shape[0], n_models, -1)
        elapsed = time.perf_counter() - t0
        for i, hist in enumerate(histories):
            summary = None if logits is None else accuracy_summary(test_labels, logits[:, i].argmax(1), num_classes)
            hist.append_epoch(epoch, lr_now, epoch_losses[i], elapsed, summary)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{epoch_losses[0]:.3f}", bacc=f"{histories[0].test_balanced_accuracy[-1]:.3f}")
    seconds = time.perf_counter() - start_time
    for hist in histories:
        hist.seconds = seconds
        hist.config["graph_captures"] = (1 + recaptures) if capture else 0
    return histories


def fit_graphed(model, train, test, loss_fn, hooks, cfg: FitConfig, optimizer, device, capture=True) -> History:
    """``fit`` after its checks, on the engine: the train step as one CUDA graph (``capture``), or the
    identical step eagerly (``capture=False``, any device)."""
    _, channels_last = resolve_amp(cfg.amp, device)
    with cudnn_autotune(device):
        return run_engine(model, train, test, Members([loss_fn], [hooks], [model]), cfg, device=device,
                          optimizer=optimizer, channels_last=channels_last, capture=capture,
                          engine_name="graph" if capture else "fast-eager")[0]


def fit_fast(model: nn.Module, train, *, loss_fn, test=None, hooks=(), optimizer=None, device="auto", capture=None,
             **settings) -> History:
    """``fit`` on the fast path: same settings (``settings``: ``fit``'s epochs, batch_size, lr, ...) and History.

    ``capture`` None -> True on CUDA; False runs the identical step eagerly (any device), which
    equals ``fit(..., fast=False, drop_last=True)`` up to float rounding (the default optimizer here
    is ``TensorLRSGD``, the same update as torch's SGD). The last partial batch of each epoch is dropped.
    """
    cfg = check_fit_args(model, train, loss_fn, test, FitConfig(**settings))
    dev = get_device(device)
    capture = resolve_fast(capture, dev, name="capture")
    return fit_graphed(model, train, test, loss_fn, check_hooks(hooks), cfg, optimizer, dev, capture)
