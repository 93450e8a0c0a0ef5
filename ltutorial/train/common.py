"""What the eager loop (``loop.py``) and the engine tier (``ltutorial.fast``) share: the per-epoch
records (``History``, ``TrainState``), the settings of a run (``FitConfig``), input checks and the
small steps of an epoch (lr from the schedule, the epoch's sample order, per-class accuracy).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ltutorial._validation import check_choice, check_number, check_positive_int
from ltutorial.train.augment import FILLS, draw_crop_flip, normalize

# ----------------------------------------------------------------------------------------------
# Results and per-epoch state
# ----------------------------------------------------------------------------------------------
def json_float(v):
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

    def record_eval(self, epoch: int, accuracy: float, balanced: float, per_class: np.ndarray) -> None:
        self.test_accuracy[-1] = accuracy
        self.test_balanced_accuracy[-1] = balanced
        self.per_class_accuracy = per_class
        if not math.isnan(balanced) and (self.best_balanced_accuracy is None or balanced > self.best_balanced_accuracy):
            self.best_balanced_accuracy = balanced
            self.best_epoch = epoch

    def append_epoch(self, epoch: int, lr: float, train_loss: float, seconds: float, summary=None) -> None:
        """Record one epoch; ``summary``: (accuracy, balanced accuracy, per-class accuracy) of an evaluation."""
        self.epoch.append(epoch)
        self.lr.append(lr)
        self.train_loss.append(train_loss)
        self.test_accuracy.append(float("nan"))
        self.test_balanced_accuracy.append(float("nan"))
        if summary is not None:
            self.record_eval(epoch, *summary)
        self.epoch_seconds.append(seconds)

    def as_dict(self) -> dict:
        """A JSON-serialisable dict (NaN -> None, arrays -> lists)."""
        return {
            "epoch": list(self.epoch),
            "lr": [json_float(v) for v in self.lr],
            "train_loss": [json_float(v) for v in self.train_loss],
            "test_accuracy": [json_float(v) for v in self.test_accuracy],
            "test_balanced_accuracy": [json_float(v) for v in self.test_balanced_accuracy],
            "epoch_seconds": [json_float(v) for v in self.epoch_seconds],
            "per_class_accuracy": None if self.per_class_accuracy is None
            else [json_float(v) for v in np.asarray(self.per_class_accuracy).tolist()],
            "best_balanced_accuracy": json_float(self.best_balanced_accuracy),
            "best_epoch": self.best_epoch,
            "final_accuracy": json_float(self.final_accuracy),
            "final_balanced_accuracy": json_float(self.final_balanced_accuracy),
            "seconds": json_float(self.seconds),
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
# Input checks and the small steps of an epoch
# ----------------------------------------------------------------------------------------------
def check_dataset(data, name: str):
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


def count_classes(data) -> int:
    n = getattr(data, "num_classes", None)
    if isinstance(n, int):
        return n
    classes = getattr(data, "classes", None)
    if classes:
        return len(classes)
    return int(data.labels.max()) + 1


def check_nonneg_float(value, name: str, positive: bool = False) -> float:
    """A finite number >= 0 (``positive``: > 0): ``_validation.check_number`` with fit's argument names."""
    return check_number(value, name=name, strict=positive)


def check_hooks(hooks, name: str = "hooks") -> tuple:
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


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r} instead.")
    return int(seed)


def device_tensors(data, device: torch.device):
    """images (uint8) and labels (int64) on ``device``: moved once per fit, not per batch."""
    images = data.images.to(device, non_blocking=True)
    labels = data.labels.to(device, torch.int64, non_blocking=True)
    return images, labels


def autocast(device: torch.device, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    # The autocast weight cache must stay off inside a captured CUDA graph; harmless eagerly.
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=False)


def resolve_amp(amp, device: torch.device) -> tuple[bool, bool]:
    """(use bf16 autocast, use channels_last): both on for CUDA when ``amp`` is None."""
    if amp is None:
        on = device.type == "cuda"
        return on, on
    if not isinstance(amp, bool):
        raise ValueError(f"amp must be None, True or False; got {amp!r} instead.")
    return amp, False


def resolve_fast(fast, device: torch.device, *, name: str = "fast") -> bool:
    """Whether to capture the train step as a CUDA graph: ``fast`` None -> on CUDA; True off CUDA is
    an error."""
    if fast is not None and not isinstance(fast, bool):
        raise ValueError(f"{name} must be None, True or False; got {fast!r} instead.")
    if fast and device.type != "cuda":
        raise ValueError(f"{name}=True needs a CUDA device (it captures CUDA graphs); got device {device} instead. "
                         f"Use {name}=None or {name}=False.")
    return device.type == "cuda" if fast is None else fast


def epoch_plan(n: int, generator: torch.Generator, augment: bool, padding: int, flip: bool = True):
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


def call_loss(loss_fn, logits, targets, index):
    if getattr(loss_fn, "needs_index", False):
        return loss_fn(logits, targets, index=index)
    return loss_fn(logits, targets)


def per_class_accuracy(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> np.ndarray:
    """acc_c = #{i : y_i = c, yhat_i = c} / #{i : y_i = c} (NaN for classes absent from ``labels``)."""
    total = torch.bincount(labels, minlength=num_classes)[:num_classes].double()
    hits = torch.bincount(labels[predictions == labels], minlength=num_classes)[:num_classes].double()
    acc = (hits / total).cpu().numpy()
    acc[total.cpu().numpy() == 0] = np.nan
    return acc


def accuracy_summary(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> tuple[float, float, np.ndarray]:
    """(accuracy, balanced accuracy = mean per-class recall over classes present, per-class accuracy)."""
    per_class = per_class_accuracy(labels, predictions, num_classes)
    accuracy = float((predictions == labels).double().mean()) if labels.numel() else float("nan")
    present = ~np.isnan(per_class)
    balanced = float(per_class[present].mean()) if present.any() else float("nan")
    return accuracy, balanced, per_class


def set_lr(optimizer, base_lrs, multiplier: float) -> float:
    for group, base in zip(optimizer.param_groups, base_lrs):
        value = base * multiplier
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value
    return float(base_lrs[0] * multiplier)


def optimizer_base_lrs(optimizer) -> list:
    # TensorLRSGD keeps the exact float next to its float32 lr tensor.
    return [float(g.get("base_lr", g["lr"])) for g in optimizer.param_groups]


def schedule_multiplier(schedule, epoch: int) -> float:
    if schedule is None:
        return 1.0
    m = schedule(epoch)
    if isinstance(m, bool) or not isinstance(m, (int, float, np.integer, np.floating)) or not math.isfinite(m) or m < 0:
        raise ValueError(f"schedule({epoch}) must return a finite lr multiplier >= 0; got {m!r} instead.")
    return float(m)


@dataclass
class FitConfig:
    """The settings of one training run, checked once by ``check_fit_args`` at the public entry
    (``fit``, ``fit_many``) and passed as one object inside the package."""

    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    nesterov: bool = False
    schedule: Callable | None = None
    augment: bool = False
    seed: int = 0
    eval_every: int = 1
    progress: Any = None
    amp: bool | None = None
    drop_last: bool = False
    padding: int = 4
    fill: str = "zero"
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm)


def history_config(cfg: FitConfig, lr: float, amp: bool) -> dict:
    """The settings a History records in ``config``."""
    return {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": lr, "schedule": repr(cfg.schedule),
            "augment": cfg.augment, "seed": cfg.seed, "amp": amp, "drop_last": cfg.drop_last, "padding": cfg.padding,
            "fill": cfg.fill}


def check_fit_args(model, train, loss_fn, test, cfg: FitConfig) -> FitConfig:
    """``cfg`` with every setting checked and ``augment`` None resolved from ``train.augment``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__} instead.")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a callable loss_fn(logits, targets); got {type(loss_fn).__name__} instead.")
    check_dataset(train, "train")
    if test is not None:
        check_dataset(test, "test")
    cfg.epochs = check_positive_int(cfg.epochs, name="epochs")
    cfg.batch_size = check_positive_int(cfg.batch_size, name="batch_size")
    check_nonneg_float(cfg.lr, "lr", positive=True)
    check_nonneg_float(cfg.momentum, "momentum")
    check_nonneg_float(cfg.weight_decay, "weight_decay")
    if cfg.augment is None:
        cfg.augment = bool(getattr(train, "augment", False))
    elif not isinstance(cfg.augment, bool):
        raise ValueError(f"augment must be None, True or False; got {cfg.augment!r} instead.")
    cfg.seed = check_seed(cfg.seed)
    cfg.eval_every = check_positive_int(cfg.eval_every, name="eval_every")
    if cfg.augment:
        h, w = train.images.shape[2], train.images.shape[3]
        pad = cfg.padding
        if isinstance(pad, bool) or not isinstance(pad, int) or not (0 <= pad < min(h, w)):
            raise ValueError(f"padding must be an integer in [0, {min(h, w)}); got {pad!r} instead.")
    check_choice(cfg.fill, FILLS, name="fill")
    if cfg.schedule is not None and not callable(cfg.schedule):
        raise ValueError("schedule must be None or a callable epoch -> lr multiplier; "
                         f"got {type(cfg.schedule).__name__} instead.")
    if not isinstance(cfg.drop_last, bool):
        raise ValueError(f"drop_last must be True or False; got {cfg.drop_last!r} instead.")
    if not isinstance(cfg.sync_batchnorm, bool):
        raise ValueError(f"sync_batchnorm must be True or False; got {cfg.sync_batchnorm!r} instead.")
    return cfg


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@torch.no_grad()
def logits_on_device(model, images, mean, std, device, batch_size, amp, channels_last, forward=None):
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
            with autocast(device, amp):
                outs.append(forward(x).float())
    finally:
        model.train(was_training)
    if not outs:
        return torch.empty(0, 0, device=device)
    return torch.cat(outs)

