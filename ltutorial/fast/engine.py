"""The engine tier's train step (forward, loss, backward, optimizer step) replayed as one CUDA graph: ResNet-32 at
batch 128 trains 6.7x faster than the reference DataLoader loop (H200, ``benchmarks/results/``) on the eager loop's
batches in its order. The lr is a device tensor (``TensorLRSGD``), loss state lives in buffers hooks update in
place; a changed step signature re-captures (docs/ARCHITECTURE.md, "Graph-safe losses")."""

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.train.augment import crop_flip, normalize_affine
from ltutorial.train.common import (FitConfig, History, TrainState, accuracy_summary, autocast, base_lrs, call_loss,
                                    check_epoch_loss, check_fit_args, check_hooks, check_output_width, count_classes,
                                    epoch_plan, history_config, logits_on_device, resolve_amp, resolve_fast,
                                    restored_lrs, set_lr)

__all__ = ["TensorLRSGD", "GraphCaptureError", "Members", "run_engine", "fit_on_engine", "fit_fast", "cudnn_autotune"]


class GraphCaptureError(RuntimeError):
    """The step could not be captured (state restored); ``epoch`` 0: the first capture, before any training."""

    def __init__(self, message: str, epoch: int = 0):
        super().__init__(message)
        self.epoch = epoch


class TensorLRSGD(torch.optim.Optimizer):
    """``torch.optim.SGD`` with a tensor lr a graph reads: g <- grad + wd p; b <- mu b + g; p <- p - lr (g + mu b)
    (Nesterov) or p - lr b. Momentum buffers exist (zero) from the start, so the first step is capturable."""

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        if nesterov and momentum <= 0:
            raise ValueError(f"momentum must be > 0 with nesterov=True; got {momentum!r} instead.")
        super().__init__(params, dict(lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay),
                                      nesterov=bool(nesterov)))

    def add_param_group(self, param_group: dict) -> None:
        """torch's, then this optimizer's own state: the lr as a tensor and zero momentum buffers (the constructor
        adds its groups here too)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group["base_lr"] = float(group["lr"])
        group["lr"] = torch.tensor(group["base_lr"], dtype=torch.float32, device=group["params"][0].device)
        for p in group["params"] if group["momentum"] > 0 else ():
            self.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None):  # no closure: SGD needs none
        for group in (g for g in self.param_groups if any(p.grad is not None for p in g["params"])):
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            if group["weight_decay"] != 0:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            if group["momentum"] > 0:
                bufs = [self.state[p]["momentum_buffer"] for p in params]
                torch._foreach_mul_(bufs, group["momentum"])
                torch._foreach_add_(bufs, grads)
                grads = torch._foreach_add(grads, bufs, alpha=group["momentum"]) if group["nesterov"] else bufs
            torch._foreach_sub_(params, torch._foreach_mul(grads, group["lr"]))


@dataclass
class Members:
    """Per model: its loss, its hooks and the module they see; ``sync`` copies a fused net's weights into them."""

    loss_fns: list
    hooks: list
    models: list
    sync: Callable | None = None


def run_engine(net, train, test, members: Members, cfg: FitConfig, *, device, optimizer=None,
               capture=False) -> list[History]:
    """Train ``net`` (logits of N = ``len(members.loss_fns)`` models, row b N + i; fused when ``members.sync`` is
    given: synced before the hooks and at the end) on ``train``, cuDNN autotuned; a History each."""
    start, device, n_models = time.perf_counter(), torch.device(device), len(members.loss_fns)
    fused = members.sync is not None
    # A fused net stays NCHW: its grouped layers view (B N) x C x H x W as B x (N C) x H x W, a copy in channels_last.
    channels_last = resolve_amp(cfg.amp, device)[1] and not fused
    step = _TrainStep(net, members.loss_fns, train, cfg, optimizer, device, channels_last)
    images, labels = train.images.to(device), train.labels.to(device, torch.int64)
    test_labels = None if test is None else test.labels.to(device, torch.int64)  # once for all epochs and models
    classes = count_classes(test if test is not None else train)
    step.data_classes = max(classes, count_classes(train))  # the model must cover both sets' classes
    bases, bs, steps = base_lrs(step.opt), cfg.batch_size, images.shape[0] // cfg.batch_size
    n = steps * bs
    config = dict(history_config(cfg, bases[0], step.use_amp), drop_last=True, models_fused=n_models)
    engine = f"fused{n_models}-{'graph' if capture else 'eager'}" if fused else "graph" if capture else "fast-eager"
    histories = [History(device=str(device), engine=engine, config=dict(config)) for _ in range(n_models)]
    states = [TrainState(0, cfg.epochs, m, fn, step.opt, h, train, device)
              for m, fn, h in zip(members.models, members.loss_fns, histories)]
    generator, graph, graph_sig, captures = torch.Generator(device=device).manual_seed(cfg.seed), None, None, 0
    with cudnn_autotune(device):
        for epoch in progress_bar(range(cfg.epochs), progress=cfg.progress, desc="epochs", leave=False):
            t0, lr = time.perf_counter(), set_lr(step.opt, bases, cfg.schedule, epoch)
            net.train()  # before the hooks, as the eager loop: a hook may put part of the model in eval mode
            if any(members.hooks):
                if fused:
                    members.sync()
                for state, hooks in zip(states, members.hooks):
                    state.epoch, state.lr = epoch, lr
                    for hook in hooks:
                        hook(state)
            perm, dy, dx, flips = epoch_plan(images.shape[0], generator, cfg.augment, cfg.padding)
            idx = perm[:n]
            x = crop_flip(images[idx], dy[:n], dx[:n], flips[:n], cfg.padding) if cfg.augment else images[idx]
            y = labels[idx]
            if capture and (graph is None or step.state()[0] != graph_sig):
                step.load(x[:bs], y[:bs], idx[:bs])  # the capture records the step on real data
                graph, captures = step.capture_graph(epoch, graph_sig if captures == 1 else None), captures + 1
                graph_sig = step.state()[0]
            step.loss_acc.zero_()
            for s in range(0, n, bs):
                step.load(x[s:s + bs], y[s:s + bs], idx[s:s + bs])
                graph.replay() if graph is not None else step.eager_step()
            losses = (step.loss_acc / steps).tolist()
            check_epoch_loss(losses, epoch, lr)
            summaries = [None] * n_models
            if test is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1):
                out = logits_on_device(net, test.images, test, device, step.use_amp, channels_last).reshape(
                    len(test_labels), n_models, -1)
                summaries = [accuracy_summary(test_labels, z.argmax(1), classes) for z in out.unbind(1)]
            for hist, loss, summary in zip(histories, losses, summaries):
                hist.append_epoch(epoch, lr, loss, time.perf_counter() - t0, summary)
    for hist in histories:
        hist.seconds, hist.config["graph_captures"] = time.perf_counter() - start, captures
    if fused:
        members.sync()
    return histories


def fit_on_engine(eager, model, train, test, loss_fn, hooks, cfg: FitConfig, optimizer, device, auto,
                  capture=True) -> History:
    """``fit`` after its checks on the engine, graphed (``capture``) or eagerly; with ``auto`` (``fast`` None)
    ``eager(...)`` for a set under one batch, a damped SGD or a failed first capture (which restored the weights and
    optimizer: nothing trained; epoch 0's hooks run again there, so a hook must set state, not accumulate it)."""
    args = (model, train, test, loss_fn, hooks, cfg, optimizer, device)
    damped = [g["dampening"] for g in getattr(optimizer, "param_groups", ()) if g.get("dampening", 0) != 0]
    if capture and damped:  # the graph holds SGD's "buffer exists" path: its first step would differ from SGD's
        if not auto:
            raise ValueError(f"optimizer must have dampening 0 for the CUDA-graph engine; got {damped[0]!r} instead "
                             "(use fast=False).")
        print(f"fit: SGD with dampening {damped[0]!r}: using the eager loop (the CUDA graph needs dampening 0).")
        return eager(*args)
    if auto and len(train.labels) < cfg.batch_size:
        print(f"fit: {len(train.labels)} training images < batch_size {cfg.batch_size}: using the eager loop "
              "(the graphed fast path needs at least one full batch).")
        return eager(*args)
    try:
        with restored_lrs(optimizer):  # a failed capture had set epoch 0's lr: the eager fallback must see the base
            return run_engine(model, train, test, Members([loss_fn], [hooks], [model]), cfg, device=device,
                              optimizer=optimizer, capture=capture)[0]
    except GraphCaptureError as err:
        if not auto or err.epoch != 0:
            raise
        print(f"fit: WARNING, the CUDA-graph fast path failed, training with the eager loop instead "
              f"(pass fast=False to skip the attempt). {err}")
        return eager(*args)


def fit_fast(model: nn.Module, train, *, loss_fn, test=None, hooks=(), optimizer=None, device="auto", capture=None,
             **settings) -> History:
    """``fit`` on the engine; ``capture=False`` equals ``fit(..., fast=False, drop_last=True)`` up to rounding."""
    cfg = check_fit_args(model, train, loss_fn, test, FitConfig(**settings))
    dev = get_device(device)
    return fit_on_engine(None, model, train, test, loss_fn, check_hooks(hooks), cfg, optimizer, dev, False,
                         resolve_fast(capture, dev, name="capture"))


@contextlib.contextmanager
def cudnn_autotune(device):
    """cuDNN's autotuner on for the fixed batch shapes of a graphed run; the flag restored after."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = previous or torch.device(device).type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


class _TrainStep:
    """Static input buffers and forward + loss + backward + optimizer step (``body``) on them."""

    def __init__(self, net, loss_fns, train, cfg, optimizer, device, channels_last):
        net.to(device, memory_format=torch.channels_last) if channels_last else net.to(device)
        for fn in (fn for fn in loss_fns if isinstance(fn, nn.Module)):
            fn.to(device)
        n, c, h, w = train.images.shape
        if n < cfg.batch_size:
            raise ValueError(f"batch_size must be <= the training set size ({n}) on the fast path (it drops the last "
                             f"partial batch); got {cfg.batch_size} instead.")
        self.net, self.loss_fns, self.device, self.use_amp = net, loss_fns, device, resolve_amp(cfg.amp, device)[0]
        self.opt = optimizer or TensorLRSGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                            weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
        self.x = torch.zeros((cfg.batch_size, c, h, w), dtype=train.images.dtype, device=device).contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        self.scale, self.shift = normalize_affine(self.x, train.mean, train.std)
        self.y, self.idx = (torch.zeros(cfg.batch_size, dtype=torch.int64, device=device) for _ in range(2))
        self.loss_acc = torch.zeros(len(loss_fns), dtype=torch.float32, device=device)
        self.data_classes = 0

    def load(self, x, y, idx):
        for buffer, value in ((self.x, x), (self.y, y), (self.idx, idx)):
            buffer.copy_(value)

    def body(self):
        x = self.x.to(torch.float32) * self.scale + self.shift  # keeps the static batch's memory layout
        with autocast(self.device, self.use_amp):
            out = self.net(x)
        logits = out.float().reshape(self.x.shape[0], len(self.loss_fns), -1)
        check_output_width(logits[:, 0], self.data_classes, name="model" if len(self.loss_fns) == 1 else "each model")
        losses = torch.stack([call_loss(fn, logits[:, i], self.y, self.idx) for i, fn in enumerate(self.loss_fns)])
        losses.sum().backward()
        self.opt.step()
        self.loss_acc.add_(losses.detach())

    def reset_grads(self):  # set_to_none: backward then allocates the gradients in the graph's pool
        self.opt.zero_grad(set_to_none=True)

    def eager_step(self):
        self.reset_grads()
        self.body()

    def state(self) -> tuple[dict, list]:
        """(signature, tensors) of what a capture bakes in: tensors by address/shape/dtype, Python scalars by value."""
        sig, tensors = {}, []
        for i, fn in enumerate(self.loss_fns):
            _object_state(fn, f"loss{i}", sig, tensors)
        _object_state(self.net, "net", sig, tensors)
        for gi, group in enumerate(self.opt.param_groups):
            sig.update((f"group{gi}.{k}", _tensor_sig(v) if isinstance(v, torch.Tensor) else v)
                       for k, v in group.items() if isinstance(v, (torch.Tensor, *_SCALARS)))
        opt_tensors = _optimizer_tensors(self.opt)
        sig.update((f"state{i}", _tensor_sig(t)) for i, t in enumerate(opt_tensors))
        return sig, tensors + opt_tensors

    def capture_graph(self, epoch: int, announce: dict | None = None):
        """The step captured, every effect of the warm-up undone (also on failure: eager training can follow);
        ``announce``: the previous signature, to say what changed."""
        if announce is not None:
            sig = self.state()[0]
            changed = sorted(k for k in set(sig) | set(announce) if sig.get(k) != announce.get(k))
            print(f"fast path: re-capturing the CUDA graph at epoch {epoch} because {changed[:4]} changed (update "
                  "buffers in place with .copy_(), docs/ARCHITECTURE.md 'Graph-safe losses').")
        saved_tensors = self.state()[1]
        saved, known = [t.detach().clone() for t in saved_tensors], {id(t) for t in saved_tensors}
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
                for t in (t for t in _optimizer_tensors(self.opt) if id(t) not in known):
                    t.zero_()  # optimizer state the warm-up created starts from zero, its state before any step
                self.loss_acc.zero_()
        if failure is None:
            return graph
        self.reset_grads()
        causes, err = [], failure  # a failure inside the capture surfaces again when it ends: the first cause first
        while err is not None and len(causes) < 3:
            causes.append(f"{type(err).__name__}: {err}")
            err = err.__context__
        raise GraphCaptureError(
            "the train step could not be captured as a CUDA graph (a loss, hook or model that syncs with the host, "
            "e.g. .item() or data-dependent shapes?). Make it graph-safe (docs/ARCHITECTURE.md, 'Graph-safe losses') "
            f"or run fit(..., fast=False). Original error: {'; then '.join(reversed(causes))}", epoch) from failure


_SCALARS = (int, float, bool, str, type(None))


def _tensor_sig(t: torch.Tensor) -> tuple:
    return t.data_ptr(), tuple(t.shape), t.dtype


def _optimizer_tensors(opt) -> list:
    return [v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def _object_state(obj, prefix: str, out: dict, tensors: list) -> None:
    """Collect (name -> signature) of the tensors, Python scalars and tuples of ``obj`` and its submodules."""
    for name, part in obj.named_modules(prefix=prefix) if isinstance(obj, nn.Module) else [(prefix, obj)]:
        items = list(vars(part).items()) if hasattr(part, "__dict__") else []
        if isinstance(part, nn.Module):
            items = [(k, v) for k, v in items if not k.startswith("_") and k != "training"]
            items += list(part.named_parameters(recurse=False)) + list(part.named_buffers(recurse=False))
        for key, value in items:
            if isinstance(value, torch.Tensor):
                out[f"{name}.{key}"] = _tensor_sig(value)
                tensors.append(value)
            elif isinstance(value, _SCALARS) or (isinstance(value, (tuple, list))
                                                 and all(isinstance(v, _SCALARS) for v in value)):
                out[f"{name}.{key}"] = tuple(value) if isinstance(value, list) else value


def _warm_up(step, device, n: int = 3) -> None:
    """Run ``step`` n times on a side stream, as capture requires (cuDNN autotuning, lazy init)."""
    side = torch.cuda.Stream(device=device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(n):
            step()
    torch.cuda.current_stream(device).wait_stream(side)


def _capture(body, device, reset_grads):
    """``body`` recorded as a CUDA graph (nothing runs; ``reset_grads`` is what a replay implies)."""
    graph, outer = torch.cuda.CUDAGraph(), torch.cuda.current_stream(device)
    try:
        with torch.cuda.graph(graph):
            body()
    except BaseException:
        # When ending a failed capture raises, torch never switches back from its capture stream.
        torch.cuda.set_stream(outer)
        raise
    return graph


def _synchronize(device) -> None:  # a seam of its own: the CPU tests stub the CUDA calls
    torch.cuda.synchronize(device)
