"""The training loop every notebook uses: ``fit``, ``evaluate``, ``predict_logits``, ``History``.

One loop for any model, loss, optimizer and schedule (docs/ARCHITECTURE.md, "Training loop"):
the dataset is moved to the device once as uint8; each epoch draws a seeded ``torch.randperm``
and per-sample crop/flip offsets on the device; batches are cropped, flipped and normalised as
tensor operations; hooks run at each epoch start (DRW, TLA/ADRW, memorisation scores); evaluation
reports per-class accuracy. On CUDA ``fit`` hands the same work to the graphed fast path in
``ltutorial.train.fast`` (``fast=None`` -> on for CUDA).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ltutorial._validation import check_choice, check_positive_int
from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.train.augment import FILLS, crop_flip, draw_crop_flip, normalize

__all__ = ["History", "TrainState", "fit", "evaluate", "predict", "predict_logits", "extract_features",
           "check_output_width", "check_epoch_loss"]


# ----------------------------------------------------------------------------------------------
# Results and per-epoch state
# ----------------------------------------------------------------------------------------------
def _json_float(v):
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


@dataclass
class History:
    """Per-epoch record of a run. Lists are aligned with ``epoch`` (0-based); test metrics are NaN
    for epochs without evaluation (``eval_every`` > 1). ``per_class_accuracy`` is from the last
    evaluation; ``best_*`` pick the evaluated epoch with the highest balanced accuracy (the
    "best Prec@1" the LDAM-DRW code logs; compare it with the final epoch, not instead of it)."""

    epoch: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    test_balanced_accuracy: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    per_class_accuracy: np.ndarray | None = None
    best_balanced_accuracy: float | None = None
    best_epoch: int | None = None
    seconds: float = 0.0
    device: str = ""
    engine: str = "eager"
    config: dict = field(default_factory=dict)

    @property
    def final_accuracy(self) -> float | None:
        vals = [v for v in self.test_accuracy if not math.isnan(v)]
        return vals[-1] if vals else None

    @property
    def final_balanced_accuracy(self) -> float | None:
        vals = [v for v in self.test_balanced_accuracy if not math.isnan(v)]
        return vals[-1] if vals else None

    def _record_eval(self, epoch: int, accuracy: float, balanced: float, per_class: np.ndarray) -> None:
        self.test_accuracy[-1] = accuracy
        self.test_balanced_accuracy[-1] = balanced
        self.per_class_accuracy = per_class
        if not math.isnan(balanced) and (self.best_balanced_accuracy is None or balanced > self.best_balanced_accuracy):
            self.best_balanced_accuracy = balanced
            self.best_epoch = epoch

    def as_dict(self) -> dict:
        """A JSON-serialisable dict (NaN -> None, arrays -> lists)."""
        return {
            "epoch": list(self.epoch),
            "lr": [_json_float(v) for v in self.lr],
            "train_loss": [_json_float(v) for v in self.train_loss],
            "test_accuracy": [_json_float(v) for v in self.test_accuracy],
            "test_balanced_accuracy": [_json_float(v) for v in self.test_balanced_accuracy],
            "epoch_seconds": [_json_float(v) for v in self.epoch_seconds],
            "per_class_accuracy": None if self.per_class_accuracy is None
            else [_json_float(v) for v in np.asarray(self.per_class_accuracy).tolist()],
            "best_balanced_accuracy": _json_float(self.best_balanced_accuracy),
            "best_epoch": self.best_epoch,
            "final_accuracy": _json_float(self.final_accuracy),
            "final_balanced_accuracy": _json_float(self.final_balanced_accuracy),
            "seconds": _json_float(self.seconds),
            "device": self.device,
            "engine": self.engine,
            "config": dict(self.config),
        }


@dataclass
class TrainState:
    """What a hook sees at the start of an epoch (after the lr is set, before the first step).

    Hooks may change loss state (``loss_fn``'s buffers, in place: see ARCHITECTURE.md,
    "Graph-safe losses") and read the model; ``lr`` is the lr of this epoch.
    """

    epoch: int
    epochs: int
    model: nn.Module
    loss_fn: Callable
    optimizer: Any
    history: History
    train: Any
    device: torch.device
    lr: float = 0.0


# ----------------------------------------------------------------------------------------------
# Input checks and shared helpers (also used by fast.py and fused.py)
# ----------------------------------------------------------------------------------------------
def _check_dataset(data, name: str):
    for attr in ("images", "labels", "mean", "std"):
        if not hasattr(data, attr):
            raise ValueError(
                f"{name} must be an ImageDataset (images, labels, mean, std); got {type(data).__name__} without {attr!r} instead."
            )
    images, labels = data.images, data.labels
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"{name}.images must be a 4-D tensor (N x C x H x W); got {type(images).__name__} instead.")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{name}.labels must be a 1-D tensor with one label per image; got {getattr(labels, 'shape', labels)} instead.")
    return data


def _num_classes(data) -> int:
    n = getattr(data, "num_classes", None)
    if isinstance(n, int):
        return n
    classes = getattr(data, "classes", None)
    if classes:
        return len(classes)
    return int(data.labels.max()) + 1


def _check_nonneg_float(value, name: str, positive: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        kind = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {kind}; got {value!r} instead.")
    return float(value)


def _check_hooks(hooks, name: str = "hooks") -> tuple:
    if hooks is None:
        return ()
    if callable(hooks):
        return (hooks,)
    try:
        hooks = tuple(hooks)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of callables hook(state); got {type(hooks).__name__} instead.") from None
    for h in hooks:
        if not callable(h):
            raise ValueError(f"{name} must hold callables hook(state); got {type(h).__name__} instead.")
    return hooks


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r} instead.")
    return int(seed)


def _device_tensors(data, device: torch.device):
    """images (uint8) and labels (int64) on ``device``: moved once per fit, not per batch."""
    images = data.images.to(device, non_blocking=True)
    labels = data.labels.to(device, torch.int64, non_blocking=True)
    return images, labels


def _autocast(device: torch.device, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    # The autocast weight cache must stay off inside a captured CUDA graph; harmless eagerly.
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=False)


def _resolve_amp(amp, device: torch.device) -> tuple[bool, bool]:
    """(use bf16 autocast, use channels_last): both on for CUDA when ``amp`` is None."""
    if amp is None:
        on = device.type == "cuda"
        return on, on
    if not isinstance(amp, bool):
        raise ValueError(f"amp must be None, True or False; got {amp!r} instead.")
    return amp, False


def _resolve_fast(fast, device: torch.device, *, name: str = "fast") -> bool:
    """Whether to capture the train step as a CUDA graph: ``fast`` None -> on CUDA; True off CUDA is
    an error."""
    if fast is not None and not isinstance(fast, bool):
        raise ValueError(f"{name} must be None, True or False; got {fast!r} instead.")
    if fast and device.type != "cuda":
        raise ValueError(f"{name}=True needs a CUDA device (it captures CUDA graphs); got device {device} instead. "
                         f"Use {name}=None or {name}=False.")
    return device.type == "cuda" if fast is None else fast


def _epoch_plan(n: int, generator: torch.Generator, augment: bool, padding: int, flip: bool = True):
    """The epoch's sample order and per-position crop/flip draws: (perm, dy, dx, flips).

    Drawn in this fixed order from one device generator, so the eager loop and the fast path
    see identical batches from the same seed.
    """
    perm = torch.randperm(n, generator=generator, device=generator.device)
    if augment:
        dy, dx, flips = draw_crop_flip(n, padding, flip=flip, generator=generator)
    else:
        dy = dx = flips = None
    return perm, dy, dx, flips


def check_output_width(logits: torch.Tensor, num_classes: int, name: str = "model") -> None:
    """Before the first step: the model must give one logit per class of the data (a shape check,
    no host sync), else the loss fails later with an index error that names neither."""
    if logits.ndim != 2 or logits.shape[1] < num_classes:
        raise ValueError(f"{name} must output one logit per class ({num_classes} classes in the data); got outputs of "
                         f"shape {tuple(logits.shape)} instead. Build it with num_classes={num_classes}.")


def check_epoch_loss(losses, epoch: int, lr: float) -> None:
    """Stop when an epoch's mean training loss is NaN or infinite: the weights are then NaN and every
    later epoch would record chance accuracy as a result. ``losses``: one value per model (read once per
    epoch, where the loop already reads it)."""
    bad = [(i, v) for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad:
        who = "" if len(losses) == 1 else f" for model {bad[0][0]} of {len(losses)}"
        raise FloatingPointError(
            f"the training loss must stay finite; got {bad[0][1]} at epoch {epoch}{who} instead: training diverged and "
            f"the weights are no longer usable. Lower the learning rate (lr={lr:g} at this epoch) or check the loss's "
            "settings (class weights, margins, scales).")


def _call_loss(loss_fn, logits, targets, index):
    if getattr(loss_fn, "needs_index", False):
        return loss_fn(logits, targets, index=index)
    return loss_fn(logits, targets)


def _per_class_accuracy(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> np.ndarray:
    """acc_c = #{i : y_i = c, yhat_i = c} / #{i : y_i = c} (NaN for classes absent from ``labels``)."""
    total = torch.bincount(labels, minlength=num_classes)[:num_classes].double()
    hits = torch.bincount(labels[predictions == labels], minlength=num_classes)[:num_classes].double()
    acc = (hits / total).cpu().numpy()
    acc[total.cpu().numpy() == 0] = np.nan
    return acc


def _summary(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> tuple[float, float, np.ndarray]:
    """(accuracy, balanced accuracy = mean per-class recall over classes present, per-class accuracy)."""
    per_class = _per_class_accuracy(labels, predictions, num_classes)
    accuracy = float((predictions == labels).double().mean()) if labels.numel() else float("nan")
    present = ~np.isnan(per_class)
    balanced = float(per_class[present].mean()) if present.any() else float("nan")
    return accuracy, balanced, per_class


def _set_lr(optimizer, base_lrs, multiplier: float) -> float:
    for group, base in zip(optimizer.param_groups, base_lrs):
        value = base * multiplier
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value
    return float(base_lrs[0] * multiplier)


def _base_lrs(optimizer) -> list:
    # TensorLRSGD keeps the exact float next to its float32 lr tensor.
    return [float(g.get("base_lr", g["lr"])) for g in optimizer.param_groups]


def _schedule_multiplier(schedule, epoch: int) -> float:
    if schedule is None:
        return 1.0
    m = schedule(epoch)
    if isinstance(m, bool) or not isinstance(m, (int, float, np.integer, np.floating)) or not math.isfinite(m) or m < 0:
        raise ValueError(f"schedule({epoch}) must return a finite lr multiplier >= 0; got {m!r} instead.")
    return float(m)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def _logits_on_device(model, images, mean, std, device, batch_size, amp, channels_last, forward=None):
    was_training = model.training
    model.eval()
    forward = forward or model
    # Statistics as device tensors once, not re-sent from Python floats with every batch.
    mean = torch.as_tensor(mean, dtype=torch.float32, device=device)
    std = torch.as_tensor(std, dtype=torch.float32, device=device)
    outs = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = normalize(images[start:start + batch_size].to(device, non_blocking=True), mean, std)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, amp):
                outs.append(forward(x).float())
    finally:
        model.train(was_training)
    if not outs:
        return torch.empty(0, 0, device=device)
    return torch.cat(outs)


def _eval_outputs(model, data, device, batch_size, amp, features: bool = False):
    """(device, outputs on it) of ``model`` (or its ``forward_features``) over ``data``, checked; shared by
    ``predict_logits``, ``extract_features`` and ``evaluate``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__} instead.")
    if features and not callable(getattr(model, "forward_features", None)):
        raise ValueError(f"model must define forward_features(x); got {type(model).__name__} without it instead.")
    data = _check_dataset(data, "data")
    batch_size = check_positive_int(batch_size, name="batch_size")
    dev = _model_device(model) if device is None else get_device(device)
    model.to(dev)
    use_amp, channels_last = _resolve_amp(amp, dev)
    forward = model.forward_features if features else None
    return dev, _logits_on_device(model, data.images, data.mean, data.std, dev, batch_size, use_amp, channels_last,
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
    num_classes = max(_num_classes(data), logits.shape[1] if logits.ndim == 2 else 0)
    labels = data.labels.to(dev, torch.int64)
    predictions = logits.argmax(dim=1)
    accuracy, balanced, per_class = _summary(labels, predictions, num_classes)
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
def _check_common(model, train, loss_fn, epochs, test, batch_size, lr, momentum, weight_decay, augment, seed,
                  eval_every, padding, fill):
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__} instead.")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a callable loss_fn(logits, targets); got {type(loss_fn).__name__} instead.")
    _check_dataset(train, "train")
    if test is not None:
        _check_dataset(test, "test")
    epochs = check_positive_int(epochs, name="epochs")
    batch_size = check_positive_int(batch_size, name="batch_size")
    _check_nonneg_float(lr, "lr", positive=True)
    _check_nonneg_float(momentum, "momentum")
    _check_nonneg_float(weight_decay, "weight_decay")
    if augment is None:
        augment = bool(getattr(train, "augment", False))
    elif not isinstance(augment, bool):
        raise ValueError(f"augment must be None, True or False; got {augment!r} instead.")
    seed = _check_seed(seed)
    eval_every = check_positive_int(eval_every, name="eval_every")
    if augment:
        h, w = train.images.shape[2], train.images.shape[3]
        if isinstance(padding, bool) or not isinstance(padding, int) or not (0 <= padding < min(h, w)):
            raise ValueError(f"padding must be an integer in [0, {min(h, w)}); got {padding!r} instead.")
    check_choice(fill, FILLS, name="fill")
    return epochs, batch_size, augment, seed, eval_every


def _default_optimizer(model, lr, momentum, weight_decay, nesterov):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


def fit(model: nn.Module, train, *, loss_fn, epochs: int, test=None, batch_size: int = 128, optimizer=None,
        lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 2e-4, nesterov: bool = False, schedule=None,
        augment=None, device="auto", seed: int = 0, hooks=(), eval_every: int = 1, progress=None, amp=None,
        fast=None, drop_last: bool = False, padding: int = 4, fill: str = "zero") -> History:
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
    """
    epochs, batch_size, augment, seed, eval_every = _check_common(
        model, train, loss_fn, epochs, test, batch_size, lr, momentum, weight_decay, augment, seed, eval_every,
        padding, fill)
    hooks = _check_hooks(hooks)
    if schedule is not None and not callable(schedule):
        raise ValueError(f"schedule must be None or a callable epoch -> lr multiplier; got {type(schedule).__name__} instead.")
    if not isinstance(drop_last, bool):
        raise ValueError(f"drop_last must be True or False; got {drop_last!r} instead.")
    dev = get_device(device)
    auto = fast is None
    fast = _resolve_fast(fast, dev)
    if auto:
        if fast and len(train.labels) < batch_size:
            print(f"fit: {len(train.labels)} training images < batch_size {batch_size}: using the eager loop "
                  "(the graphed fast path needs at least one full batch).")
            fast = False
    if fast:
        from ltutorial.train.fast import GraphCaptureError, fit_fast

        try:
            return fit_fast(model, train, loss_fn=loss_fn, epochs=epochs, test=test, batch_size=batch_size,
                            optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
                            nesterov=nesterov, schedule=schedule, augment=augment, device=dev, seed=seed, hooks=hooks,
                            eval_every=eval_every, progress=progress, amp=amp, padding=padding, fill=fill,
                            capture=True)
        except GraphCaptureError as err:
            if not auto or err.epoch != 0:
                raise
            # Nothing was trained yet (the state is restored): say so loudly and run the eager loop.
            print(f"fit: WARNING, the CUDA-graph fast path failed, training with the eager loop instead "
                  f"(pass fast=False to skip the attempt). {err}")
    return _fit_eager(model, train, loss_fn=loss_fn, epochs=epochs, test=test, batch_size=batch_size,
                      optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                      schedule=schedule, augment=augment, device=dev, seed=seed, hooks=hooks, eval_every=eval_every,
                      progress=progress, amp=amp, drop_last=drop_last, padding=padding, fill=fill)


def _fit_eager(model, train, *, loss_fn, epochs, test, batch_size, optimizer, lr, momentum, weight_decay, nesterov,
               schedule, augment, device, seed, hooks, eval_every, progress, amp, drop_last, padding, fill) -> History:
    start_time = time.perf_counter()
    use_amp, channels_last = _resolve_amp(amp, device)
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)
    images, labels = _device_tensors(train, device)
    n = images.shape[0]
    if drop_last and n < batch_size:
        raise ValueError(f"batch_size must be <= the training set size ({n}) with drop_last=True; got {batch_size} instead.")
    test_images = test_labels = None
    if test is not None:
        test_images, test_labels = _device_tensors(test, device)
    num_classes = _num_classes(test) if test is not None else _num_classes(train)
    data_classes = max(num_classes, _num_classes(train))
    if optimizer is None:
        optimizer = _default_optimizer(model, lr, momentum, weight_decay, nesterov)
    base_lrs = _base_lrs(optimizer)
    generator = torch.Generator(device=device).manual_seed(seed)
    history = History(device=str(device), engine="eager", config={
        "epochs": epochs, "batch_size": batch_size, "lr": base_lrs[0], "schedule": repr(schedule), "augment": augment,
        "seed": seed, "amp": use_amp, "drop_last": drop_last, "padding": padding, "fill": fill})
    state = TrainState(epoch=0, epochs=epochs, model=model, loss_fn=loss_fn, optimizer=optimizer, history=history,
                       train=train, device=device)
    stop = (n // batch_size) * batch_size if drop_last else n
    mean = torch.as_tensor(train.mean, dtype=torch.float32, device=device)  # once, not per batch
    std = torch.as_tensor(train.std, dtype=torch.float32, device=device)
    bar = progress_bar(range(epochs), progress=progress, desc="epochs", leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        state.epoch, state.lr = epoch, _set_lr(optimizer, base_lrs, _schedule_multiplier(schedule, epoch))
        for hook in hooks:
            hook(state)
        model.train()
        perm, dy, dx, flips = _epoch_plan(n, generator, augment, padding)
        loss_sum = torch.zeros((), device=device)
        steps = 0
        for s in range(0, stop, batch_size):
            idx = perm[s:s + batch_size]
            x = images[idx]
            if augment:
                x = crop_flip(x, dy[s:s + batch_size], dx[s:s + batch_size], flips[s:s + batch_size], padding, fill)
            x = normalize(x, mean, std)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, use_amp):
                logits = model(x)
            if steps == 0 and epoch == 0:
                check_output_width(logits, data_classes)
            loss = _call_loss(loss_fn, logits.float(), labels[idx], idx)
            if steps == 0 and epoch == 0 and (not isinstance(loss, torch.Tensor) or loss.ndim != 0):
                raise ValueError(f"loss_fn must return a scalar tensor; got {getattr(loss, 'shape', type(loss))} instead.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            steps += 1
        history.epoch.append(epoch)
        history.lr.append(state.lr)
        history.train_loss.append(float(loss_sum) / max(steps, 1))
        check_epoch_loss(history.train_loss[-1:], epoch, state.lr)
        history.test_accuracy.append(float("nan"))
        history.test_balanced_accuracy.append(float("nan"))
        if test is not None and ((epoch + 1) % eval_every == 0 or epoch == epochs - 1):
            logits = _logits_on_device(model, test_images, test.mean, test.std, device, 1024, use_amp, channels_last)
            history._record_eval(epoch, *_summary(test_labels, logits.argmax(1), num_classes))
        history.epoch_seconds.append(time.perf_counter() - t0)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", bacc=f"{history.test_balanced_accuracy[-1]:.3f}")
    history.seconds = time.perf_counter() - start_time
    return history
