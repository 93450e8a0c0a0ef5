"""The training loop every notebook uses: ``fit``, ``fit_many``, ``evaluate``, ``predict_logits`` (notebook 01 on).

Per epoch e: lr = base_lr * schedule(e); hooks(state); per batch of a seeded permutation x = normalize(crop_flip(
images[idx])), loss = loss_fn(model(x), y), backward, SGD step (LDAM-DRW's recipe, Cao et al., NeurIPS 2019). On
CUDA ``fast`` hands the same work to ``ltutorial.fast``: speed only (docs/ARCHITECTURE.md, "Training loop").
"""

import time
from functools import partial

import torch
from torch import nn

from ltutorial._validation import check_positive_int
from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.train import distributed as ddp
from ltutorial.train.augment import crop_flip, normalize_affine
from ltutorial.train.common import (FitConfig, History, TrainState, accuracy_summary, autocast, base_lrs, call_loss,
                                    check_dataset, check_epoch_loss, check_fit_args, check_hooks, check_output_width,
                                    count_classes, epoch_plan, history_config, logits_on_device, resolve_amp,
                                    resolve_fast, restored_lrs, set_lr)

__all__ = ["History", "TrainState", "FitConfig", "fit", "fit_many", "train_epoch", "evaluate", "predict",
           "predict_logits", "extract_features"]


def train_epoch(state: TrainState, net: nn.Module, batches, hooks, schedule, bases: list, amp: bool,
                channels_last: bool, num_classes: int) -> float:
    """Epoch ``state.epoch``: lr = base * schedule(epoch), the hooks, then per (x, y, index, rows of the global batch)
    of ``batches`` one SGD step on loss_fn(net(x), y) (times ``ddp.loss_share``); the mean loss over all processes."""
    state.lr, device, optimizer = set_lr(state.optimizer, bases, schedule, state.epoch), state.device, state.optimizer
    net.train()  # before the hooks: a hook may put part of the model in eval mode (a frozen BatchNorm)
    for hook in hooks:
        hook(state)
    loss_sum, steps = torch.zeros((), device=device), 0
    for x, y, idx, rows in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = net(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
        if steps == 0 and state.epoch == 0:
            check_output_width(logits, num_classes)
        loss = call_loss(state.loss_fn, logits.float(), y, idx)
        if steps == 0 and state.epoch == 0 and (not isinstance(loss, torch.Tensor) or loss.ndim != 0):
            raise ValueError(f"loss_fn must return a scalar tensor; got {getattr(loss, 'shape', type(loss))} instead.")
        share = ddp.loss_share(state.loss_fn, y, rows)  # None in one process
        loss = loss if share is None else loss * share
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum, steps = loss_sum + loss.detach(), steps + 1
    epoch_loss = float(ddp.all_reduce_sum(loss_sum)) / ddp.world_size() / max(steps, 1)
    check_epoch_loss([epoch_loss], state.epoch, state.lr)
    return epoch_loss


def _fit_eager(model, train, test, loss_fn, hooks, cfg: FitConfig, optimizer, device) -> History:
    """The specification: one epoch after another, one batch after another, in plain PyTorch."""
    start, (use_amp, channels_last) = time.perf_counter(), resolve_amp(cfg.amp, device)
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)
    images, labels = train.images.to(device), train.labels.to(device, torch.int64)
    n, bs, classes = images.shape[0], cfg.batch_size, count_classes(test if test is not None else train)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                             weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    bases, generator = base_lrs(optimizer), torch.Generator(device=device).manual_seed(cfg.seed)
    config = dict(history_config(cfg, bases[0], use_amp), world_size=ddp.world_size())
    history = History(device=str(device), config=config)
    state = TrainState(0, cfg.epochs, model, loss_fn, optimizer, history, train, device)
    scale, shift = normalize_affine(images, train.mean, train.std)  # checked once: the steps only multiply-add
    test_labels = None if test is None else test.labels.to(device, torch.int64)
    net = ddp.wrap_model(model, device, cfg.sync_batchnorm) if ddp.is_distributed() else model  # averages gradients
    stop, main = (n // bs) * bs if cfg.drop_last else n, ddp.is_main_process()
    bar = progress_bar(range(cfg.epochs), progress=cfg.progress if main else False, desc="epochs", leave=False)
    width = max(classes, count_classes(train))

    def batches():  # this rank's rows of each global batch of the epoch's seeded permutation
        perm, dy, dx, flips = epoch_plan(n, generator, cfg.augment, cfg.padding)
        for s in range(0, stop, bs):
            rows = ddp.batch_rows(s, min(s + bs, stop))  # one process: all of them
            if rows is None:
                continue  # a last batch of fewer rows than processes: every rank skips it
            (a, b), idx = rows, perm[rows[0]:rows[1]]
            x = crop_flip(images[idx], dy[a:b], dx[a:b], flips[a:b], cfg.padding) if cfg.augment else images[idx]
            yield x.to(torch.float32) * scale + shift, labels[idx], idx, min(s + bs, stop) - s  # = augment.normalize

    for epoch in bar:
        t0, state.epoch = time.perf_counter(), epoch
        epoch_loss = train_epoch(state, net, batches(), hooks, cfg.schedule, bases, use_amp, channels_last, width)
        summary = None
        if test is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1):
            a, b = ddp.shard_bounds(test.images.shape[0])  # under torchrun each rank predicts its slice
            logits = ddp.gather_rows(logits_on_device(model, test.images[a:b], test, device, use_amp, channels_last))
            summary = accuracy_summary(test_labels, logits.argmax(1), classes)
        history.append_epoch(epoch, state.lr, epoch_loss, time.perf_counter() - t0, summary)
        bar.set_postfix(loss=f"{epoch_loss:.3f}", bacc=f"{history.test_balanced_accuracy[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    return history


def fit(model: nn.Module, train, *, loss_fn, epochs: int, test=None, batch_size: int = 128, optimizer=None,
        lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 2e-4, nesterov: bool = False, schedule=None,
        augment=None, device="auto", seed: int = 0, hooks=(), eval_every: int = 1, progress=None, amp=None,
        fast=None, drop_last: bool = False, padding: int = 4, sync_batchnorm: bool = False) -> History:
    """Train ``model`` on ``train`` with ``loss_fn`` (the module docstring); one ``History``.

    A given ``optimizer`` keeps its lrs as base lrs; ``augment`` None -> ``train.augment``; ``amp`` None: bf16 +
    channels_last on CUDA; the graphed engine drops the last partial batch. Under ``torchrun``: DDP, each rank on
    its B/W rows of every batch, the same History as one process (``ltutorial.train.distributed``)."""
    settings = {k: v for k, v in locals().items() if k in FitConfig.__dataclass_fields__}  # fit's keywords above
    cfg = check_fit_args(model, train, loss_fn, test, FitConfig(**settings))
    device = ddp.resolve_device(device)
    args = (model, train, test, loss_fn, check_hooks(hooks), cfg, optimizer, device)
    with restored_lrs(optimizer):
        if ddp.is_distributed() or cfg.sync_batchnorm:
            ddp.check_run(cfg, len(train.labels), fast, len(test.labels) if test is not None else None)
        elif resolve_fast(fast, device):  # the one seam to the engine tier
            from ltutorial.fast.engine import fit_on_engine

            return fit_on_engine(_fit_eager, *args, auto=fast is None)
        return _fit_eager(*args)


def _outputs(model, data, device, batch_size, amp, features: bool = False):
    """(device, outputs) of ``model`` or its ``forward_features`` on ``data``: the checks of the four entries."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__} instead.")
    if features and not callable(getattr(model, "forward_features", None)):
        raise ValueError(f"model must define forward_features(x); got {type(model).__name__} without it instead.")
    data, batch_size = check_dataset(data, "data"), check_positive_int(batch_size, name="batch_size")
    dev = next(iter(model.parameters()), torch.empty(0)).device if device is None else get_device(device)
    use_amp, channels_last = resolve_amp(amp, dev)
    forward = model.to(dev).forward_features if features else model.to(dev)
    out = logits_on_device(model, data.images, data, dev, use_amp, channels_last, forward, batch_size)
    if not features and out.numel():  # fewer outputs than classes: argmax never predicts the others (fit checks it)
        check_output_width(out, count_classes(data))
    return dev, out


def predict_logits(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> torch.Tensor:
    """Logits (float32 CPU, N x C) of ``model`` in eval mode on ``data``; post-hoc adjustment (notebooks 03, 08)."""
    return _outputs(model, data, device, batch_size, amp)[1].cpu()


def predict(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> torch.Tensor:
    """Predicted classes argmax_j z_j for every image of ``data`` (int64 CPU tensor)."""
    return predict_logits(model, data, device=device, batch_size=batch_size, amp=amp).argmax(dim=1)


def extract_features(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> torch.Tensor:
    """Penultimate features ``model.forward_features(x)`` of every image (float32 CPU); notebooks 10-12."""
    return _outputs(model, data, device, batch_size, amp, features=True)[1].cpu()


def evaluate(model: nn.Module, data, device=None, batch_size: int = 1024, amp=None) -> dict:
    """``accuracy``, ``balanced_accuracy`` = mean_c acc_c over the classes present, ``per_class_accuracy`` (NaN:
    absent), ``predictions``, ``logits`` (notebook 01)."""
    dev, logits = _outputs(model, data, device, batch_size, amp)
    predictions = logits.argmax(dim=1)
    num_classes = max(count_classes(data), logits.shape[1] if logits.ndim == 2 else 0)
    accuracy, balanced, per_class = accuracy_summary(data.labels.to(dev, torch.int64), predictions, num_classes)
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "per_class_accuracy": per_class,
            "predictions": predictions.cpu(), "logits": logits.cpu()}


def fit_many(models, train, *, loss_fns, hooks=None, test=None, fuse=None, **fit_kwargs) -> list[History]:
    """Several models on the same batches, each with its own loss and hooks; one History each. ``fuse`` False (None
    off CUDA): ``fit`` per model; True (None on CUDA): same-architecture models as one network (``ltutorial.fast``)."""
    models = [models] if isinstance(models, nn.Module) else list(models)
    if not models or not all(isinstance(m, nn.Module) for m in models):
        raise ValueError(f"models must be a non-empty list of nn.Module; got {type(models).__name__} instead.")
    hooks = [()] * len(models) if hooks is None else hooks
    for name, value in (("loss_fns", loss_fns), ("hooks", hooks)):
        if not isinstance(value, (list, tuple)) or len(value) != len(models):
            raise ValueError(f"{name} must be a list with one entry per model ({len(models)}); got {value!r:.80} "
                             "instead.")
    hooks = [check_hooks(h, name=f"hooks[{i}]") for i, h in enumerate(hooks)]
    if not all(callable(fn) for fn in loss_fns):
        raise ValueError(f"loss_fns must hold callables loss_fn(logits, targets); got {loss_fns!r:.80} instead.")
    if "optimizer" in fit_kwargs:
        raise ValueError("optimizer must not be given to fit_many (each model gets SGD from lr/momentum/weight_decay); "
                         "got an optimizer instead.")
    device = ddp.resolve_device(fit_kwargs.pop("device", "auto"))
    if fuse is not None and not isinstance(fuse, bool):
        raise ValueError(f"fuse must be None, True or False; got {fuse!r} instead.")
    if fuse and ddp.is_distributed():
        raise ValueError("fuse must be None or False under torchrun (the fused engine is single-process); got True "
                         "instead.")
    one = partial(fit, train=train, test=test, device=device, **fit_kwargs)  # one model: one(m, loss_fn=, hooks=)
    if ddp.is_distributed() or not (device.type == "cuda" if fuse is None else fuse):
        return [one(m, loss_fn=fn, hooks=h) for m, fn, h in zip(models, loss_fns, hooks)]
    settings = {k: v for k, v in fit_kwargs.items() if k != "fast"}
    cfg = check_fit_args(models[0], train, loss_fns[0], test, FitConfig(**settings))  # the models share it
    from ltutorial.fast.fused import fit_groups

    return fit_groups(models, loss_fns, hooks, train, test, cfg, device, fit_kwargs.get("fast"), fuse is None, one)
