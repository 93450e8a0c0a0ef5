"""The fast training path: one train step captured as a CUDA graph, state kept in device tensors.

On a GPU the step of a small network (ResNet-32, batch 128) is bound by kernel launches, not by
arithmetic: about 18 ms eager against 3.3 ms when forward, loss, backward and the optimizer step
replay as one CUDA graph (H200, ../shared/reference/performance.md). This module runs ``fit``'s
recipe that way:

- the dataset sits on the device as uint8; each epoch one seeded permutation and one batched
  crop/flip (``augment.crop_flip``) prepare the whole epoch, then each step copies its slice into
  static input buffers and replays the graph;
- normalisation (uint8 -> float, -mean, /std) is inside the graph; bf16 autocast; channels_last;
- the learning rate lives in a device tensor (``TensorLRSGD``) that is filled in place each epoch,
  so one graph serves the whole schedule;
- per-epoch loss state (DRW class weights, margins, TLA/ADRW factors) lives in the losses'
  registered buffers, which hooks update in place (``.copy_``), so the graph reads the new values
  (docs/ARCHITECTURE.md, "Graph-safe losses"). If a hook rebinds a tensor or changes a Python
  number the loss uses, the signature check below notices it and the graph is captured again
  (printed once), so results stay right;
- the last partial batch of each epoch is dropped: a graph has one batch shape.

The same code runs eagerly (``capture=False``, the only mode off CUDA), which is how the tests
check it against the plain loop on the CPU. ``fit(..., fast=None)`` uses this path on CUDA.
The engine also trains several fused models at once (``ltutorial.train.fused``), or several
separate models in one graph with one CUDA stream per model (``fit_many(..., fuse="streams")``).
"""

from __future__ import annotations

import contextlib
import time

import torch
from torch import nn

from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.train.augment import crop_flip
from ltutorial.train.loop import (
    History,
    TrainState,
    _autocast,
    _base_lrs,
    _call_loss,
    _check_common,
    _check_hooks,
    _device_tensors,
    _epoch_plan,
    _num_classes,
    _resolve_amp,
    _resolve_fast,
    _schedule_multiplier,
    _set_lr,
    _summary,
    check_epoch_loss,
    check_output_width,
)

__all__ = ["TensorLRSGD", "GraphCaptureError", "fit_fast", "run_engine"]


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


# ----------------------------------------------------------------------------------------------
# What a captured graph depends on
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# CUDA graph primitives (module-level so the tests can run the engine's capture logic on the CPU
# with stand-ins; everything else in the engine is device-agnostic)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------
def run_engine(net, n_models: int, train, *, loss_fns, hooks_per_model, hook_models, sync_hook_models,
               epochs, test, batch_size, optimizer, lr, momentum, weight_decay, nesterov, schedule, augment, device,
               seed, eval_every, progress, amp, channels_last, padding, fill, capture, engine_name) -> list[History]:
    """Train ``net`` whose output holds ``n_models`` models' logits (row b * n_models + i, or B x K
    for one model) on ``train``; one History per model. See the module docstring.

    ``net`` may also be a list of ``n_models`` separate modules (``fit_many(..., fuse="streams")``):
    each gets its own ``TensorLRSGD`` (``optimizer`` must be None) and its own step on the same
    static batch. Captured on CUDA, each model's step runs on its own CUDA stream forked from and
    joined back to the capturing stream, so the one graph holds N independent branches the GPU may
    run concurrently; elsewhere (and uncaptured) the steps run one after another.
    """
    start_time = time.perf_counter()
    device = torch.device(device)
    # (capture off CUDA is refused by the public entry points; the tests run it with stand-ins)
    use_amp, _ = _resolve_amp(amp, device)
    separate = isinstance(net, (list, tuple))
    if separate:
        nets, per_net = list(net), 1
        if len(nets) != n_models or not all(isinstance(m, nn.Module) for m in nets):
            raise ValueError(f"net must be one module or a list of n_models={n_models} modules; got a list of "
                             f"{len(nets)} instead.")
        if optimizer is not None:
            raise ValueError("optimizer must be None when the models are trained as separate modules (each gets "
                             "its own TensorLRSGD); got an optimizer instead.")
    else:
        nets, per_net = [net], n_models
    for m in nets:
        m.to(device, memory_format=torch.channels_last) if channels_last else m.to(device)
    for fn in loss_fns:
        if isinstance(fn, nn.Module):
            fn.to(device)
    images, labels = _device_tensors(train, device)
    n = images.shape[0]
    steps = n // batch_size
    if steps == 0:
        raise ValueError(f"batch_size must be <= the training set size ({n}) on the fast path (it drops the last "
                         f"partial batch); got {batch_size} instead.")
    test_images, test_labels = _device_tensors(test, device) if test is not None else (None, None)
    num_classes = _num_classes(test) if test is not None else _num_classes(train)
    data_classes = max(num_classes, _num_classes(train))  # the model must cover both sets' classes
    _, c, h, w = images.shape

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    static_x = torch.zeros((batch_size, c, h, w), dtype=images.dtype, device=device).contiguous(memory_format=fmt)
    static_y = torch.zeros(batch_size, dtype=torch.int64, device=device)
    static_idx = torch.zeros(batch_size, dtype=torch.int64, device=device)
    # one loss accumulator per module: with parallel streams each branch writes only its own
    loss_accs = [torch.zeros(per_net, dtype=torch.float32, device=device) for _ in nets]
    unit = 255.0 if images.dtype == torch.uint8 else 1.0
    mean = torch.tensor(train.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(train.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    scale, shift = 1.0 / (unit * std), -mean / std

    opts = [optimizer] if optimizer is not None else [
        TensorLRSGD(m.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        for m in nets]
    base_lrs = [_base_lrs(o) for o in opts]
    # Streams exist only where a graph is captured on CUDA: there the branches become parallel
    # graph nodes; the eager reference on CUDA and every CPU run take the models in turn.
    streams = ([torch.cuda.Stream(device=device) for _ in nets]
               if separate and capture and device.type == "cuda" and len(nets) > 1 else None)

    def unit_body(u):
        # Each branch normalises the shared uint8 batch itself, so every tensor it creates is
        # allocated and freed on its own stream (no cross-stream frees inside the capture).
        x = static_x.to(torch.float32) * scale + shift  # keeps static_x's memory layout
        with _autocast(device, use_amp):
            out = nets[u](x)
        logits = out.float().reshape(batch_size, per_net, -1)
        check_output_width(logits[:, 0], data_classes, name="model" if n_models == 1 else "each model")
        fns = loss_fns[u * per_net:(u + 1) * per_net]
        losses = torch.stack([_call_loss(fn, logits[:, i], static_y, static_idx) for i, fn in enumerate(fns)])
        losses.sum().backward()
        opts[u].step()
        loss_accs[u].add_(losses.detach())

    def body():
        if streams is None:
            for u in range(len(nets)):
                unit_body(u)
            return
        # Fork from the current (capturing) stream, one branch per model, and join every branch
        # back before the capture ends (PyTorch notes, "CUDA Graphs: usage with multiple streams").
        # Backward runs each op on its forward op's stream, so a branch's backward stays on it.
        origin = torch.cuda.current_stream(device)
        for u, s in enumerate(streams):
            s.wait_stream(origin)
            with torch.cuda.stream(s):
                unit_body(u)
        for s in streams:
            origin.wait_stream(s)

    def reset_grads():
        for o in opts:
            o.zero_grad(set_to_none=True)

    def eager_step():
        reset_grads()
        body()

    def prefixed(u, part):
        return part if not separate else {f"model{u}.{k}": v for k, v in part.items()}

    def signature():
        sig = {}
        for u in range(len(nets)):
            sig.update(prefixed(u, _module_state(nets[u])[0]))
            sig.update(prefixed(u, _optimizer_state(opts[u])[0]))
        sig.update(_loss_state(loss_fns)[0])
        return sig

    def state_tensors():
        tensors = []
        for u in range(len(nets)):
            tensors += _module_state(nets[u])[1]
        tensors += _loss_state(loss_fns)[1]
        for o in opts:
            tensors += _optimizer_state(o)[1]
        return tensors

    def capture_graph():
        # Warm-up steps (needed before capture: cuDNN autotuning, autograd's lazy set-up) really
        # train, so everything they may change is saved first and restored afterwards, also when
        # the capture fails (so the caller can still train eagerly from the same state).
        saved_tensors = state_tensors()
        saved = [t.detach().clone() for t in saved_tensors]
        known = {id(t) for t in saved_tensors}
        graph, failure = None, None
        try:
            _warm_up(eager_step, device)
            reset_grads()
            graph = _capture(body, device, reset_grads)
        except RuntimeError as err:
            failure = err
        finally:
            _synchronize(device)
            with torch.no_grad():
                for t, s in zip(saved_tensors, saved):
                    t.copy_(s)
                # Optimizer state created by the warm-up (e.g. torch SGD's momentum buffers, Adam's
                # moments and step) starts from zero, which is its state before any step.
                for o in opts:
                    for t in _optimizer_state(o)[1]:
                        if id(t) not in known:
                            t.zero_()
                for acc in loss_accs:
                    acc.zero_()
        if failure is not None:
            reset_grads()
            # A failure inside the captured region surfaces again when the capture is ended
            # ("operation failed due to a previous error during capture"): report the first one.
            causes, err = [], failure
            while err is not None and len(causes) < 3:
                causes.append(f"{type(err).__name__}: {err}")
                err = err.__context__
            raise GraphCaptureError(
                "the train step could not be captured as a CUDA graph (a loss, hook or model that syncs with the "
                "host, e.g. .item() or data-dependent shapes?). Make it graph-safe (docs/ARCHITECTURE.md, "
                f"'Graph-safe losses') or run fit(..., fast=False). Original error: {'; then '.join(reversed(causes))}"
            ) from failure
        return graph

    config = {"epochs": epochs, "batch_size": batch_size, "lr": base_lrs[0][0], "schedule": repr(schedule),
              "augment": augment, "seed": seed, "amp": use_amp, "drop_last": True, "padding": padding, "fill": fill,
              "models_fused": per_net}
    if separate:
        config["parallel_streams"] = len(streams) if streams is not None else 0
    histories = [History(device=str(device), engine=engine_name, config=dict(config)) for _ in range(n_models)]
    states = [TrainState(epoch=0, epochs=epochs, model=hook_models[i], loss_fn=loss_fns[i],
                         optimizer=opts[i // per_net], history=histories[i], train=train, device=device)
              for i in range(n_models)]
    generator = torch.Generator(device=device).manual_seed(seed)
    graph, graph_sig, recaptures = None, None, 0
    used = steps * batch_size
    bar = progress_bar(range(epochs), progress=progress, desc="epochs", leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        multiplier = _schedule_multiplier(schedule, epoch)
        lr_now = [_set_lr(o, b, multiplier) for o, b in zip(opts, base_lrs)][0]
        if any(hooks_per_model):
            if sync_hook_models is not None:
                sync_hook_models()
            for i, hooks in enumerate(hooks_per_model):
                states[i].epoch, states[i].lr = epoch, lr_now
                for hook in hooks:
                    hook(states[i])
        for m in nets:
            m.train()
        perm, dy, dx, flips = _epoch_plan(n, generator, augment, padding)
        idx_epoch = perm[:used]
        x_epoch = images[idx_epoch]
        if augment:
            x_epoch = crop_flip(x_epoch, dy[:used], dx[:used], flips[:used], padding, fill)
        y_epoch = labels[idx_epoch]
        if capture:
            sig = signature()
            if graph is None or sig != graph_sig:
                if graph is not None:
                    changed = sorted(k for k in set(sig) | set(graph_sig) if sig.get(k) != graph_sig.get(k))
                    recaptures += 1
                    if recaptures == 1:
                        print(f"fast path: re-capturing the CUDA graph at epoch {epoch} because {changed[:4]} changed "
                              "(rebinding tensors or changing Python numbers in hooks costs a capture; update "
                              "buffers in place with .copy_(), see docs/ARCHITECTURE.md 'Graph-safe losses').")
                    graph = None
                static_x.copy_(x_epoch[:batch_size])
                static_y.copy_(y_epoch[:batch_size])
                static_idx.copy_(idx_epoch[:batch_size])
                try:
                    graph = capture_graph()
                except GraphCaptureError as err:
                    err.epoch = epoch
                    raise
                graph_sig = signature()
        for acc in loss_accs:
            acc.zero_()
        for s in range(steps):
            sl = slice(s * batch_size, (s + 1) * batch_size)
            static_x.copy_(x_epoch[sl])
            static_y.copy_(y_epoch[sl])
            static_idx.copy_(idx_epoch[sl])
            if graph is not None:
                graph.replay()
            else:
                eager_step()
        epoch_losses = ((loss_accs[0] if len(loss_accs) == 1 else torch.cat(loss_accs)) / steps).tolist()
        check_epoch_loss(epoch_losses, epoch, lr_now)
        evaluated = test is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1)
        if evaluated:
            if separate:
                per_model_logits = torch.cat([_eval_logits(m, 1, test_images, test.mean, test.std, device, use_amp,
                                                           channels_last) for m in nets], dim=1)
            else:
                per_model_logits = _eval_logits(nets[0], n_models, test_images, test.mean, test.std, device, use_amp,
                                                channels_last)
        for i, hist in enumerate(histories):
            hist.epoch.append(epoch)
            hist.lr.append(lr_now)
            hist.train_loss.append(epoch_losses[i])
            hist.test_accuracy.append(float("nan"))
            hist.test_balanced_accuracy.append(float("nan"))
            if evaluated:
                hist._record_eval(epoch, *_summary(test_labels, per_model_logits[:, i].argmax(1), num_classes))
        elapsed = time.perf_counter() - t0
        for hist in histories:
            hist.epoch_seconds.append(elapsed)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{epoch_losses[0]:.3f}", bacc=f"{histories[0].test_balanced_accuracy[-1]:.3f}")
    seconds = time.perf_counter() - start_time
    for hist in histories:
        hist.seconds = seconds
        hist.config["graph_captures"] = (1 + recaptures) if capture else 0
    return histories


@torch.no_grad()
def _eval_logits(net, n_models, images, mean, std, device, amp, channels_last, batch_size=1024):
    """Test logits as N_test x n_models x K (eval mode, large batches, no graph)."""
    from ltutorial.train.augment import normalize

    was_training = net.training
    net.eval()
    outs = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = normalize(images[start:start + batch_size], mean, std)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, amp):
                out = net(x)
            outs.append(out.float().reshape(x.shape[0], n_models, -1))
    finally:
        net.train(was_training)
    return torch.cat(outs)


def fit_fast(model: nn.Module, train, *, loss_fn, epochs: int, test=None, batch_size: int = 128, optimizer=None,
             lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 2e-4, nesterov: bool = False,
             schedule=None, augment=None, device="auto", seed: int = 0, hooks=(), eval_every: int = 1,
             progress=None, amp=None, padding: int = 4, fill: str = "zero", capture=None) -> History:
    """``fit`` on the fast path: same arguments and History; the train step as one CUDA graph.

    ``capture`` None -> True on CUDA; False runs the identical step eagerly (any device), which
    equals ``fit(..., fast=False, drop_last=True)`` up to float rounding (the default optimizer here
    is ``TensorLRSGD``, the same update as torch's SGD). bf16 autocast + channels_last on CUDA
    when ``amp`` is None. The last partial batch of each epoch is dropped.
    """
    epochs, batch_size, augment, seed, eval_every = _check_common(
        model, train, loss_fn, epochs, test, batch_size, lr, momentum, weight_decay, augment, seed, eval_every,
        padding, fill)
    hooks = _check_hooks(hooks)
    dev = get_device(device)
    capture = _resolve_fast(capture, dev, name="capture")
    _, channels_last = _resolve_amp(amp, dev)
    with cudnn_autotune(dev):
        return run_engine(model, 1, train, loss_fns=[loss_fn], hooks_per_model=[hooks], hook_models=[model],
                          sync_hook_models=None, epochs=epochs, test=test, batch_size=batch_size, optimizer=optimizer,
                          lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov, schedule=schedule,
                          augment=augment, device=dev, seed=seed, eval_every=eval_every, progress=progress, amp=amp,
                          channels_last=channels_last, padding=padding, fill=fill, capture=capture,
                          engine_name="graph" if capture else "fast-eager")[0]
