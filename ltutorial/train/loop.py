"""The training loop every notebook uses: ``fit``, ``fit_many``, ``evaluate``, ``predict_logits``.

One loop for any model, loss, optimizer and schedule (docs/ARCHITECTURE.md, "Training loop"):
the dataset is moved to the device once as uint8; each epoch draws a seeded ``torch.randperm``
and per-sample crop/flip offsets on the device; batches are cropped, flipped and normalised as
tensor operations; hooks run at each epoch start (DRW, TLA/ADRW, memorisation scores); evaluation
reports per-class accuracy. This eager loop is the specification: on CUDA ``fit`` and ``fit_many``
hand the same work to the engine tier ``ltutorial.fast`` (CUDA graphs, several models fused into
one network) through one seam, the ``fast`` flag (None -> on for CUDA), which changes speed only.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ltutorial._validation import check_positive_int
from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.train import distributed as ddp
from ltutorial.train.augment import crop_flip, normalize
from ltutorial.train.common import (
    FitConfig,
    History,
    TrainState,
    autocast,
    optimizer_base_lrs,
    call_loss,
    check_dataset,
    check_epoch_loss,
    check_fit_args,
    check_hooks,
    check_output_width,
    device_tensors,
    epoch_plan,
    logits_on_device,
    history_config,
    model_device,
    count_classes,
    resolve_amp,
    resolve_fast,
    schedule_multiplier,
    set_lr,
    accuracy_summary,
)

__all__ = ["History", "TrainState", "FitConfig", "fit", "fit_many", "evaluate", "predict", "predict_logits",
           "extract_features", "check_output_width", "check_epoch_loss"]


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
def _eval_outputs(model, data, device, batch_size, amp, features: bool = False):
    """(device, outputs on it) of ``model`` (or its ``forward_features``) over ``data``, checked; shared by
    ``predict_logits``, ``extract_features`` and ``evaluate``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__} instead.")
    if features and not callable(getattr(model, "forward_features", None)):
        raise ValueError(f"model must define forward_features(x); got {type(model).__name__} without it instead.")
    data = check_dataset(data, "data")
    batch_size = check_positive_int(batch_size, name="batch_size")
    dev = model_device(model) if device is None else get_device(device)
    model.to(dev)
    use_amp, channels_last = resolve_amp(amp, dev)
    forward = model.forward_features if features else None
    return dev, logits_on_device(model, data.images, data.mean, data.std, dev, batch_size, use_amp, channels_last,
                                  forward=forward)


def predict_logits(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> torch.Tensor:
    """Logits of ``model`` on every image of ``data`` (normalised with ``data``'s mean/std), in
    batches of ``batch_size`` with the model in eval mode; float32 CPU tensor N x num_classes.
    ``device`` None uses the model's device. Used for post-hoc adjustment (notebooks 03, 08)."""
    return _eval_outputs(model, data, device, batch_size, amp)[1].cpu()


def predict(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> torch.Tensor:
    """Predicted classes argmax_j z_j for every image of ``data`` (int64 CPU tensor); see ``predict_logits``."""
    return predict_logits(model, data, device=device, batch_size=batch_size, amp=amp).argmax(dim=1)


def extract_features(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> torch.Tensor:
    """Penultimate features ``model.forward_features(x)`` for every image of ``data`` (float32 CPU).

    Used for t-SNE / linear probes / kNN in the representation notebooks (10-12).
    """
    return _eval_outputs(model, data, device, batch_size, amp, features=True)[1].cpu()


def evaluate(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> dict:
    """Accuracy, balanced accuracy and per-class accuracy of ``model`` on ``data``.

    balanced accuracy = (1/C) sum_c acc_c over the classes present in ``data`` (= scikit-learn's
    ``balanced_accuracy_score``); on a balanced test set it equals plain accuracy. Returns a dict
    with ``accuracy``, ``balanced_accuracy``, ``per_class_accuracy`` (numpy, NaN for absent
    classes), ``predictions`` (int64 CPU tensor) and ``logits`` (float32 CPU tensor).
    Notebook 01 evaluates on a long-tailed and a balanced test set with it.
    """
    dev, logits = _eval_outputs(model, data, device, batch_size, amp)
    num_classes = max(count_classes(data), logits.shape[1] if logits.ndim == 2 else 0)
    labels = data.labels.to(dev, torch.int64)
    predictions = logits.argmax(dim=1)
    accuracy, balanced, per_class = accuracy_summary(labels, predictions, num_classes)
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "per_class_accuracy": per_class,
        "predictions": predictions.cpu(),
        "logits": logits.cpu(),
    }



# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------
def fit(model: nn.Module, train, *, loss_fn, epochs: int, test=None, batch_size: int = 128, optimizer=None,
        lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 2e-4, nesterov: bool = False, schedule=None,
        augment=None, device="auto", seed: int = 0, hooks=(), eval_every: int = 1, progress=None, amp=None,
        fast=None, drop_last: bool = False, padding: int = 4, fill: str = "zero",
        sync_batchnorm: bool = False) -> History:
    """Train ``model`` on ``train`` with ``loss_fn`` for ``epochs`` epochs; return a ``History``.

    Per epoch e: lr = base_lr * schedule(e); hooks(state); then for each batch of a seeded random
    permutation: crop+flip (if ``augment``; None -> ``train.augment``), normalise with the dataset's
    mean/std, loss_fn(model(x), y) (plus ``index=`` when ``loss_fn.needs_index``), backward, step.
    The default optimizer is SGD(lr, momentum, weight_decay, nesterov) over all parameters, the
    LDAM-DRW recipe (Cao et al., NeurIPS 2019); a given ``optimizer`` keeps its own lrs as base lrs
    (``lr``/``momentum``/... are then unused). ``test`` is evaluated every ``eval_every`` epochs and
    always after the last. ``amp`` None: bf16 autocast + channels_last on CUDA only.
    ``drop_last``: the eager loop keeps the last partial batch unless True; the graphed fast path
    (``fast``, None -> on for CUDA) always drops it (a CUDA graph has one batch shape), so an epoch
    there is floor(N / batch_size) steps. ``padding``/``fill``: the crop (4, "zero" for CIFAR).
    Same ``seed`` and model initialisation -> same History on the CPU. Every notebook that trains.

    Launched by ``torchrun`` (``ltutorial.train.distributed``), the eager loop trains the model wrapped in
    DistributedDataParallel, each rank on its B/W rows of every global batch of ``batch_size`` B, so the
    History equals one process's with the same B (the CUDA-graph engine is single-process: ``fast=True``
    is refused there). ``sync_batchnorm``: BatchNorm statistics over the global batch (CUDA only);
    without it each rank normalises with its own rows' statistics.
    """
    cfg = check_fit_args(model, train, loss_fn, test, FitConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
        schedule=schedule, augment=augment, seed=seed, eval_every=eval_every, progress=progress, amp=amp,
        drop_last=drop_last, padding=padding, fill=fill, sync_batchnorm=sync_batchnorm))
    return fit_checked(model, train, test, loss_fn, check_hooks(hooks), cfg, optimizer, ddp.resolve_device(device), fast)


def fit_checked(model, train, test, loss_fn, hooks, cfg: FitConfig, optimizer, device, fast=None) -> History:
    """``fit`` after its checks: the seam to the engine tier (``fast`` None -> the graphed engine on CUDA)."""
    if ddp.is_distributed() or cfg.sync_batchnorm:
        return _fit_distributed(model, train, test, loss_fn, hooks, cfg, optimizer, device, fast)
    auto = fast is None
    fast = resolve_fast(fast, device)
    if auto and fast and len(train.labels) < cfg.batch_size:
        print(f"fit: {len(train.labels)} training images < batch_size {cfg.batch_size}: using the eager loop "
              "(the graphed fast path needs at least one full batch).")
        fast = False
    if fast:
        from ltutorial.fast.engine import GraphCaptureError, fit_graphed

        try:
            return fit_graphed(model, train, test, loss_fn, hooks, cfg, optimizer, device, capture=True)
        except GraphCaptureError as err:
            if not auto or err.epoch != 0:
                raise
            # Nothing was trained yet (the state is restored): say so loudly and run the eager loop.
            print(f"fit: WARNING, the CUDA-graph fast path failed, training with the eager loop instead "
                  f"(pass fast=False to skip the attempt). {err}")
    return _fit_eager(model, train, test, loss_fn, hooks, cfg, optimizer, device)


def _fit_distributed(model, train, test, loss_fn, hooks, cfg: FitConfig, optimizer, device, fast) -> History:
    """Under torchrun: checks, then the eager loop with DistributedDataParallel (no CUDA-graph engine)."""
    if not ddp.is_distributed():
        raise ValueError("sync_batchnorm=True needs a run of several processes started by torchrun; got a single "
                         "process instead.")
    if fast:
        raise ValueError("fast must be None or False under torchrun (the CUDA-graph engine is single-process); "
                         "got True instead.")
    ddp.check_global_batch(cfg.batch_size)
    rest = 0 if cfg.drop_last else len(train.labels) % cfg.batch_size
    if 0 < rest < ddp.world_size() and ddp.is_main_process():
        print(f"fit: each epoch's last batch has {rest} rows, fewer than the {ddp.world_size()} processes: every "
              "process skips it (one process would train on it).")
    if fast is None and device.type == "cuda" and ddp.is_main_process():
        print(f"fit: {ddp.world_size()} processes (torchrun): training with the eager loop and "
              "DistributedDataParallel; the CUDA-graph engine is single-process.")
    return _fit_eager(model, train, test, loss_fn, hooks, cfg, optimizer, device)


def _fit_eager(model, train, test, loss_fn, hooks, cfg: FitConfig, optimizer, device) -> History:
    """The specification: one epoch after another, one batch after another, in plain PyTorch."""
    start_time = time.perf_counter()
    use_amp, channels_last = resolve_amp(cfg.amp, device)
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)
    images, labels = device_tensors(train, device)
    n, bs = images.shape[0], cfg.batch_size
    if cfg.drop_last and n < bs:
        raise ValueError(f"batch_size must be <= the training set size ({n}) with drop_last=True; got {bs} instead.")
    test_images, test_labels = device_tensors(test, device) if test is not None else (None, None)
    num_classes = count_classes(test) if test is not None else count_classes(train)
    data_classes = max(num_classes, count_classes(train))
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                    weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    base_lrs = optimizer_base_lrs(optimizer)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    history = History(device=str(device), engine="eager", config=history_config(cfg, base_lrs[0], use_amp))
    history.config["world_size"] = ddp.world_size()
    state = TrainState(epoch=0, epochs=cfg.epochs, model=model, loss_fn=loss_fn, optimizer=optimizer, history=history,
                       train=train, device=device)
    stop = (n // bs) * bs if cfg.drop_last else n
    mean = torch.as_tensor(train.mean, dtype=torch.float32, device=device)  # once, not per batch
    std = torch.as_tensor(train.std, dtype=torch.float32, device=device)
    # Several processes: DDP averages the gradients; each rank takes its share of every global batch.
    net = ddp.wrap_model(model, device, cfg.sync_batchnorm) if ddp.is_distributed() else model
    bar = progress_bar(range(cfg.epochs), progress=cfg.progress if ddp.is_main_process() else False,
                       desc="epochs", leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        state.epoch, state.lr = epoch, set_lr(optimizer, base_lrs, schedule_multiplier(cfg.schedule, epoch))
        for hook in hooks:
            hook(state)
        model.train()
        perm, dy, dx, flips = epoch_plan(n, generator, cfg.augment, cfg.padding)
        loss_sum = torch.zeros((), device=device)
        steps = 0
        for s in range(0, stop, bs):
            rows = ddp.batch_rows(s, min(s + bs, stop))  # this process's rows; one process: all of them
            if rows is None:
                continue  # a last batch of fewer rows than processes: skipped by every rank
            a, b = rows
            idx = perm[a:b]
            x = images[idx]
            if cfg.augment:
                x = crop_flip(x, dy[a:b], dx[a:b], flips[a:b], cfg.padding, cfg.fill)
            x = normalize(x, mean, std)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, use_amp):
                logits = net(x)
            if steps == 0 and epoch == 0:
                check_output_width(logits, data_classes)
            loss = call_loss(loss_fn, logits.float(), labels[idx], idx)
            if steps == 0 and epoch == 0 and (not isinstance(loss, torch.Tensor) or loss.ndim != 0):
                raise ValueError(f"loss_fn must return a scalar tensor; got {getattr(loss, 'shape', type(loss))} instead.")
            share = ddp.loss_share(loss_fn, labels[idx])  # None in one process
            if share is not None:
                loss = loss * share
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            steps += 1
        epoch_loss = float(ddp.all_reduce_sum(loss_sum)) / ddp.world_size() / max(steps, 1)
        check_epoch_loss([epoch_loss], epoch, state.lr)
        evaluated = test is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1)
        logits = _test_logits(model, test_images, test, device, use_amp, channels_last) if evaluated else None
        history.append_epoch(epoch, state.lr, epoch_loss, time.perf_counter() - t0,
                             None if logits is None else accuracy_summary(test_labels, logits.argmax(1), num_classes))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", bacc=f"{history.test_balanced_accuracy[-1]:.3f}")
    history.seconds = time.perf_counter() - start_time
    return history


def _test_logits(model, images, test, device, use_amp, channels_last):
    """The test logits; under torchrun each rank predicts its slice and the slices are gathered in order."""
    if images.shape[0] < ddp.world_size():
        raise ValueError(f"test must hold at least one image per process ({ddp.world_size()}); got {images.shape[0]} instead.")
    a, b = ddp.shard_bounds(images.shape[0])
    return ddp.gather_rows(logits_on_device(model, images[a:b], test.mean, test.std, device, 1024, use_amp, channels_last))


# ----------------------------------------------------------------------------------------------
# Several models at once
# ----------------------------------------------------------------------------------------------
def fit_many(models, train, *, loss_fns, hooks=None, test=None, fuse=None, **fit_kwargs) -> list[History]:
    """Train several models on ``train`` (same batches, same schedule), each with its own loss and
    hooks; one ``History`` per model, and each model in ``models`` ends up trained.

    Without fusion (``fuse=False``, and ``fuse=None`` off CUDA) this is ``fit`` per model: the same
    seed gives every model the same data order. ``fuse=True`` (None -> on for CUDA) trains them as
    one fused network in the engine tier (``ltutorial.fast.fused``: grouped convolutions, the step
    captured as a CUDA graph on CUDA, run eagerly elsewhere, tested to match training the models one
    by one). Hooks of fused models see each model with its current weights (synced before the hooks
    run) and may update losses, not the models. ``fit_kwargs``: as ``fit`` (no ``optimizer``: each
    model gets SGD with the given lr/momentum/weight_decay/nesterov). The fused path drops each
    epoch's last partial batch, as ``fit``'s fast path does. Models whose module trees differ are
    grouped by architecture, each group fused on its own (a group of one on CUDA takes ``fit``'s
    graphed fast path); layers that differ only in type (a cosine head next to linear heads) stay in
    one fused network and run per model.
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
    hooks = [check_hooks(h, name=f"hooks[{i}]") for i, h in enumerate(hooks)]
    if "optimizer" in fit_kwargs:
        raise ValueError("optimizer must not be given to fit_many (each model gets SGD from lr/momentum/weight_decay); "
                         "got an optimizer instead.")
    device = ddp.resolve_device(fit_kwargs.pop("device", "auto"))
    if fuse is not None and not isinstance(fuse, bool):
        raise ValueError(f"fuse must be None, True or False; got {fuse!r} instead.")
    if fuse and ddp.is_distributed():
        raise ValueError("fuse must be None or False under torchrun (the fused engine is single-process); got True instead.")
    if ddp.is_distributed() or not (device.type == "cuda" if fuse is None else fuse):
        return [fit(m, train, loss_fn=fn, hooks=h, test=test, device=device, **fit_kwargs)
                for m, fn, h in zip(models, loss_fns, hooks)]
    fast = fit_kwargs.pop("fast", None)
    cfgs = [check_fit_args(m, train, fn, test, FitConfig(**fit_kwargs)) for m, fn in zip(models, loss_fns)]
    from ltutorial.fast.fused import fusable_groups

    histories: list = [None] * len(models)
    for members in fusable_groups(models):
        got = _fit_group([models[i] for i in members], train, test, [loss_fns[i] for i in members],
                         [hooks[i] for i in members], cfgs[0], device, fast, auto=fuse is None)
        for i, h in zip(members, got):
            histories[i] = h
    return histories


def _fit_group(models, train, test, loss_fns, hooks, cfg, device, fast, auto) -> list[History]:
    """One group of same-architecture models: fused by the engine tier, with loud fallbacks when ``fuse``
    and ``fast`` were left to their defaults (nothing was trained before a fallback)."""
    from ltutorial.fast.engine import GraphCaptureError
    from ltutorial.fast.fused import NotFusableError, fit_fused

    if len(models) == 1 and device.type == "cuda" and fast is not False:
        return [fit_checked(models[0], train, test, loss_fns[0], hooks[0], cfg, None, device, fast)]
    try:
        return fit_fused(models, train, test, loss_fns, hooks, cfg, device, fast)
    except NotFusableError as err:
        if not auto:
            raise
        print(f"fit_many: these models cannot be fused ({err}); training them one after another.")
        return [fit_checked(m, train, test, fn, h, cfg, None, device, fast) for m, fn, h in zip(models, loss_fns, hooks)]
    except GraphCaptureError as err:
        if fast is not None or err.epoch != 0:
            raise
        print(f"fit_many: WARNING, the CUDA-graph fast path failed, training the fused models eagerly instead "
              f"(pass fast=False to skip the attempt). {err}")
        return fit_fused(models, train, test, loss_fns, hooks, cfg, device, False)
