"""What the eager loop and the engine tier share: records, settings, epoch steps, the evaluation loop."""

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ltutorial._validation import check_number, check_positive_int
from ltutorial.metrics import class_recall
from ltutorial.train.augment import draw_crop_flip, normalize


@dataclass
class History:
    """Per-epoch record of a run; test metrics are NaN for epochs without evaluation. ``best_*`` pick the
    evaluated epoch of highest balanced accuracy (the "best Prec@1" LDAM-DRW logs; compare it with the last)."""

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
    model: Any = None  # ssl.pretrain: the SimCLRNet (encoder + projection head) it trained
    method: Any = None  # ssl.pretrain: the method object, with its state (e.g. BCL's score_history)

    @property
    def encoder(self) -> nn.Module:
        """The pre-trained encoder f of ``model`` (a History of ``ssl.pretrain``)."""
        if self.model is None:
            raise AttributeError("encoder: only the History of ssl.pretrain holds a model")
        return self.model.encoder

    def __repr__(self) -> str:
        last = f"{self.train_loss[-1]:.3f}" if self.train_loss else "-"
        what = f"{type(self.method).__name__}, " if self.method is not None else ""
        return f"History({what}epochs={len(self.epoch)}, last loss={last}, {self.seconds:.1f} s on {self.device})"

    @property
    def final_accuracy(self) -> float | None:
        return next((v for v in reversed(self.test_accuracy) if not math.isnan(v)), None)

    @property
    def final_balanced_accuracy(self) -> float | None:
        return next((v for v in reversed(self.test_balanced_accuracy) if not math.isnan(v)), None)

    def append_epoch(self, epoch: int, lr: float, train_loss: float, seconds: float, summary=None) -> None:
        """Record one epoch; ``summary``: (accuracy, balanced accuracy, per-class accuracy) of an evaluation."""
        accuracy, balanced, per_class = summary or (float("nan"), float("nan"), self.per_class_accuracy)
        names = ("epoch", "lr", "train_loss", "test_accuracy", "test_balanced_accuracy", "epoch_seconds")
        for name, value in zip(names, (epoch, lr, train_loss, accuracy, balanced, seconds)):
            getattr(self, name).append(value)
        self.per_class_accuracy = per_class
        if not math.isnan(balanced) and (self.best_balanced_accuracy is None or balanced > self.best_balanced_accuracy):
            self.best_balanced_accuracy, self.best_epoch = balanced, epoch


@dataclass
class TrainState:
    """What ``hook(state)`` sees at an epoch's start, lr set (docs/ARCHITECTURE.md, "Graph-safe losses")."""

    epoch: int
    epochs: int
    model: nn.Module
    loss_fn: Callable
    optimizer: Any
    history: History
    train: Any
    device: torch.device
    lr: float = 0.0


@dataclass
class FitConfig:
    """The settings of one run: checked once by ``check_fit_args``, then passed as one object."""

    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    nesterov: bool = False
    schedule: Callable | None = None
    augment: bool | None = False
    seed: int = 0
    eval_every: int = 1
    progress: Any = None
    amp: bool | None = None
    drop_last: bool = False
    padding: int = 4
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics over the global batch


def check_fit_args(model, train, loss_fn, test, cfg: FitConfig) -> FitConfig:
    """``cfg`` with every setting checked and ``augment`` None resolved from ``train.augment``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__} instead.")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a callable loss_fn(logits, targets); got {type(loss_fn).__name__} instead.")
    check_dataset(train, "train")
    if test is not None:
        check_dataset(test, "test")
        stats = [tuple(float(v) for v in (d.mean, d.std)[i]) for d in (train, test) for i in (0, 1)]
        if stats[:2] != stats[2:]:  # the model sees inputs normalised as in training, or its test scores are off
            raise ValueError(f"test must be normalised with the training set's mean and std {stats[0]}, {stats[1]}; "
                             f"got {stats[2]}, {stats[3]} instead: build it with mean=train.mean, std=train.std.")
    for name in ("epochs", "batch_size", "eval_every", "seed"):
        setattr(cfg, name, check_positive_int(getattr(cfg, name), name=name, minimum=int(name != "seed")))
    for name in ("lr", "momentum", "weight_decay"):
        check_number(getattr(cfg, name), name=name, strict=name == "lr")
    if cfg.augment is None:
        cfg.augment = bool(getattr(train, "augment", False))
    for name in ("augment", "drop_last", "sync_batchnorm"):
        if not isinstance(getattr(cfg, name), bool):
            choices = "None, True or False" if name == "augment" else "True or False"
            raise ValueError(f"{name} must be {choices}; got {getattr(cfg, name)!r} instead.")
    if cfg.drop_last and len(train.labels) < cfg.batch_size:
        raise ValueError(f"batch_size must be <= the training set size ({len(train.labels)}) with drop_last=True; "
                         f"got {cfg.batch_size} instead.")
    side, pad = min(train.images.shape[2:]), cfg.padding
    if cfg.augment and (isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < side):
        raise ValueError(f"padding must be an integer in [0, {side}); got {pad!r} instead.")
    if cfg.schedule is not None and not callable(cfg.schedule):
        raise ValueError(f"schedule must be None or a callable epoch -> lr multiplier; got "
                         f"{type(cfg.schedule).__name__} instead.")
    resolve_amp(cfg.amp, torch.device("cpu"))
    return cfg


def check_dataset(data, name: str):
    """``data`` if it looks like an ImageDataset: images N x C x H x W, labels, mean, std."""
    missing = [a for a in ("images", "labels", "mean", "std") if not hasattr(data, a)]
    if missing or not isinstance(data.images, torch.Tensor) or data.images.ndim != 4:
        what = f"without {missing[0]!r}" if missing else "whose images are not N x C x H x W"
        raise ValueError(f"{name} must be an ImageDataset (images, labels, mean, std); got {type(data).__name__} "
                         f"{what} instead.")
    return data


def check_hooks(hooks, name: str = "hooks") -> tuple:
    """``hooks`` as a tuple of callables hook(state) (None -> (), one callable -> (it,))."""
    hooks = () if hooks is None else (hooks,) if callable(hooks) or not hasattr(hooks, "__iter__") else tuple(hooks)
    bad = [h for h in hooks if not callable(h)]
    if bad:
        raise ValueError(f"{name} must be a sequence of callables hook(state); got {type(bad[0]).__name__} instead.")
    return hooks


def count_classes(data) -> int:
    if isinstance(getattr(data, "num_classes", None), int):
        return data.num_classes
    return len(data.classes) if getattr(data, "classes", None) else int(data.labels.max()) + 1


def resolve_amp(amp, device: torch.device) -> tuple[bool, bool]:
    """(bf16 autocast, channels_last): both on for CUDA when ``amp`` is None."""
    if amp is not None and not isinstance(amp, bool):
        raise ValueError(f"amp must be None, True or False; got {amp!r} instead.")
    return (device.type == "cuda",) * 2 if amp is None else (amp, False)


def resolve_fast(fast, device: torch.device, *, name: str = "fast") -> bool:
    """Whether to use the CUDA-graph engine: None -> on CUDA; True off CUDA is an error."""
    if fast is not None and not isinstance(fast, bool):
        raise ValueError(f"{name} must be None, True or False; got {fast!r} instead.")
    if fast and device.type != "cuda":
        raise ValueError(f"{name}=True needs a CUDA device (it captures CUDA graphs); got device {device} instead. "
                         f"Use {name}=None or {name}=False.")
    return device.type == "cuda" if fast is None else fast


def autocast(device: torch.device, amp: bool):
    # The autocast weight cache must stay off inside a captured CUDA graph; harmless eagerly.
    return torch.autocast(device.type, torch.bfloat16, cache_enabled=False) if amp else contextlib.nullcontext()


def epoch_plan(n: int, generator: torch.Generator, augment: bool, padding: int):
    """(perm, dy, dx, flips) of one epoch in this order from one generator: the loop and the engine agree."""
    perm = torch.randperm(n, generator=generator, device=generator.device)
    return (perm, *draw_crop_flip(n, padding, generator=generator)) if augment else (perm, None, None, None)


def set_lr(optimizer, bases, schedule, epoch: int) -> float:
    """lr = base_lr * schedule(epoch) in every group (in place when the lr is a tensor); returns group 0's."""
    m = 1.0 if schedule is None else check_number(schedule(epoch), name=f"schedule({epoch})")
    for group, base in zip(optimizer.param_groups, bases):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(base * m)
        else:
            group["lr"] = base * m
    return float(bases[0] * m)


def base_lrs(optimizer) -> list:
    # TensorLRSGD keeps the exact float next to its float32 lr tensor.
    return [float(g.get("base_lr", g["lr"])) for g in optimizer.param_groups]


@contextlib.contextmanager
def restored_lrs(optimizer):
    """A given optimizer gets its lrs back when training ends or fails: the schedule scales them in place, and the
    next fit with it must start from the same base."""
    bases = None if optimizer is None else base_lrs(optimizer)
    try:
        yield
    finally:
        if bases is not None:
            set_lr(optimizer, bases, None, 0)


def call_loss(loss_fn, logits, targets, index):
    return loss_fn(logits, targets, **({"index": index} if getattr(loss_fn, "needs_index", False) else {}))


def check_output_width(logits: torch.Tensor, num_classes: int, name: str = "model") -> None:
    """At the first step (a shape check, no host sync): one logit per class of the data."""
    if logits.ndim != 2 or logits.shape[1] < num_classes:
        raise ValueError(f"{name} must output one logit per class ({num_classes} classes in the data); got outputs of "
                         f"shape {tuple(logits.shape)} instead. Build it with num_classes={num_classes}.")


def check_epoch_loss(losses, epoch: int, lr: float) -> None:
    """Stop at an epoch whose mean loss (one per model) is not finite: later epochs would be chance."""
    bad = [(i, v) for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad:
        who = "" if len(losses) == 1 else f" for model {bad[0][0]} of {len(losses)}"
        raise FloatingPointError(f"the training loss must stay finite; got {bad[0][1]} at epoch {epoch}{who} instead: "
                                 f"training diverged (lr={lr:g} at this epoch): lower the learning rate or check "
                                 "the loss's settings (class weights, margins, scales).")


def history_config(cfg: FitConfig, lr: float, amp: bool) -> dict:
    keys = ("epochs", "batch_size", "augment", "seed", "drop_last", "padding")
    return dict({k: getattr(cfg, k) for k in keys}, lr=lr, schedule=repr(cfg.schedule), amp=amp)


def accuracy_summary(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int):
    """(accuracy, balanced accuracy = mean_c acc_c over classes present, acc_c = #{y = c = yhat} / #{y = c})."""
    per_class = class_recall(labels, predictions, num_classes)
    present = ~np.isnan(per_class)
    accuracy = float((predictions == labels).double().mean()) if labels.numel() else float("nan")
    return accuracy, float(per_class[present].mean()) if present.any() else float("nan"), per_class


@torch.no_grad()
def logits_on_device(model, images, data, device, amp, channels_last, forward=None, batch_size: int = 1024):
    """The one evaluation loop: float32 outputs of ``forward`` (``model``) in eval mode, batch by batch; every
    submodule's own mode restored after (``model.train(flag)`` would set one flag for all of them)."""
    modes, outs = [(m, m.training) for m in model.modules()], []
    model.eval()
    mean, std = (torch.as_tensor(v, dtype=torch.float32, device=device) for v in (data.mean, data.std))
    try:
        for start in range(0, max(images.shape[0], 1), batch_size):  # no image: one empty batch gives N x C = 0 x C
            x = normalize(images[start:start + batch_size].to(device, non_blocking=True), mean, std)
            with autocast(device, amp):
                x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
                outs.append((forward or model)(x).float())
    finally:
        for module, training in modes:
            module.training = training
    return torch.cat(outs)
