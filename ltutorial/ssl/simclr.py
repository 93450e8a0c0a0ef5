"""SimCLR: NT-Xent between two augmented views, one pre-training loop for every method, a linear probe.

l_i = -log( exp(s_ip / tau) / sum_{j != i} exp(s_ij / tau) ), s_ij = cos(z_i, z_j) over the 2N views,
p(i) the other view of image i (Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020). :func:`pretrain` runs any method object (SimCLR, SDCLR, BCL, GH). Notebooks 10-12.
"""

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltutorial import metrics
from ltutorial._validation import check_class_counts, check_number, check_positive_int, check_random_state
from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.ssl.augment import ContrastiveAugment
from ltutorial.train import extract_features
from ltutorial.train.common import History, check_dataset, resolve_amp
from ltutorial.train.schedules import cosine_with_warmup


def nt_xent_per_anchor(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """The 2N per-anchor NT-Xent losses l_i (views of z1 first), in float32 (float64 for float64 input) even under
    autocast; unchecked."""
    n, dtype = z1.shape[0], torch.promote_types(torch.promote_types(z1.dtype, z2.dtype), torch.float32)
    with torch.autocast(z1.device.type, enabled=False):  # bf16 logits lose the softmax's small differences
        z = F.normalize(torch.cat([z1, z2]).to(dtype), dim=1)
        sim = (z @ z.T / float(temperature)).fill_diagonal_(float("-inf"))  # the anchor is not its own negative
        targets = torch.arange(2 * n, device=z.device).add_(n).remainder_(2 * n)  # i <-> i + N
        return F.cross_entropy(sim, targets, reduction="none")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's loss, checked: the mean of :func:`nt_xent_per_anchor`; about log(2N - 1) for random vectors."""
    shapes = [tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__ for z in (z1, z2)]
    if shapes[0] != shapes[1] or len(shapes[0]) != 2 or shapes[0][0] < 2:
        raise ValueError(f"z1 and z2 must be 2-D tensors of the same shape N x d, N >= 2; got {shapes} instead.")
    return nt_xent_per_anchor(z1, z2, check_number(temperature, name="temperature", strict=True)).mean()


class SimCLR:
    """Plain SimCLR: both views in one forward (BN over the 2N views); ``loss`` -> (NT-Xent, z1, z2, the 2N l_i)."""

    def __init__(self, temperature: float = 0.2):
        self.temperature = check_number(temperature, name="temperature", strict=True)

    def loss(self, net, x: torch.Tensor, idx: torch.Tensor):
        z1, z2 = net(x).chunk(2)
        anchors = nt_xent_per_anchor(z1, z2, self.temperature)
        return anchors.mean(), z1, z2, anchors

    def views(self, augment, batch: torch.Tensor, idx: torch.Tensor, generator) -> torch.Tensor:
        return augment(torch.cat([batch, batch]), generator)

    def setup(self, net, num_samples: int, epochs: int, device) -> None:
        """Reset the method's state, attach its modules to ``net``."""

    def on_epoch(self, net, epoch: int) -> None:
        """Before epoch ``epoch``."""

    def on_epoch_end(self, net, epoch: int) -> None:
        """After epoch ``epoch``."""


def check_method(method, *, name: str):
    """A method object (an instance with loss, views, setup, on_epoch, on_epoch_end), not its class or its name."""
    if isinstance(method, type) or not all(callable(getattr(method, a, None))
                                           for a in ("loss", "views", "setup", "on_epoch", "on_epoch_end")):
        raise ValueError(f"{name} must be a method object (SimCLR(), SDCLR(), BCL(), GH()); got {method!r} instead.")
    return method


def pretrain(encoder, data, method=None, *, device="auto", seed: int = 0, progress: bool | None = None,
             **settings) -> History:
    """Contrastive pre-training of ``encoder`` on ``data`` with ``method``; ``settings``: :class:`PretrainConfig`
    fields. SGD at lr(step) = warm-up + per-step cosine; the last partial batch is kept (BCL needs every image)."""
    method = SimCLR() if method is None else method
    check_method(method, name="method")
    cfg, seed, dev = PretrainConfig(**settings), check_random_state(seed, name="seed") or 0, get_device(device)
    images = check_dataset(data, "data").images.to(dev)
    aug = ContrastiveAugment(size=int(images.shape[-1]), mean=tuple(data.mean), std=tuple(data.std))
    if images.shape[0] < 2:
        raise ValueError(f"data must hold at least 2 images for contrastive learning; got {images.shape[0]} instead.")
    torch.manual_seed(seed)  # the encoder's / head's initialisation
    net, n = SimCLRNet(encoder, cfg.proj_dim), images.shape[0]
    method.setup(net, n, cfg.epochs, dev)
    use_amp, use_cl = resolve_amp(cfg.amp, dev)
    net = net.to(dev, memory_format=torch.channels_last if use_cl else torch.preserve_format)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, n)
    starts = [s for s in range(0, n, bs) if n - s >= 2]  # a last batch of 1 image joins the one before: BatchNorm
    ends = [*starts[1:], n]                                # needs 2 images, BCL's moving average needs every image
    warmup = cfg.warmup_epochs * len(starts)  # per-step schedule; +1 keeps warmup == epochs legal
    schedule = cosine_with_warmup(max(cfg.epochs * len(starts), warmup + 1), warmup, cfg.min_lr / cfg.lr)
    g = torch.Generator(device=dev).manual_seed(seed)
    hist = History(device=str(dev), config={**vars(cfg), "amp": use_amp, "seed": seed}, model=net)
    step = 0
    net.train()
    for epoch in progress_bar(range(cfg.epochs), progress=progress, desc=type(method).__name__):
        t0 = time.perf_counter()
        method.on_epoch(net, epoch)
        total, perm = torch.zeros((), device=dev), torch.randperm(n, device=dev, generator=g)
        for s, e in zip(starts, ends):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * schedule(step)
            idx = perm[s:e]
            x = method.views(aug, images[idx], idx, g)
            x = x.contiguous(memory_format=torch.channels_last) if use_cl else x
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = method.loss(net, x, idx)[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * idx.numel()
            step += 1
        method.on_epoch_end(net, epoch)
        # float(): a host sync, so that the epoch's time is the device's too
        hist.append_epoch(epoch, opt.param_groups[0]["lr"], float(total) / n, time.perf_counter() - t0)
    hist.seconds = sum(hist.epoch_seconds)
    hist.method = copy.deepcopy(method)  # this run's state: reusing the method object re-runs its setup()
    return hist


class SimCLRNet(nn.Module):
    """Encoder f (``forward_features``, int ``feature_dim``) plus the head g = Linear-BN-ReLU-Linear-BN: g(f(x))."""

    def __init__(self, encoder: nn.Module, proj_dim: int = 128):
        super().__init__()
        if not hasattr(encoder, "forward_features") or not isinstance(getattr(encoder, "feature_dim", None), int):
            raise ValueError("encoder must define forward_features(x) and an int feature_dim (e.g. "
                             f"ltutorial.models.resnet18_cifar); got a {type(encoder).__name__} without them instead.")
        self.proj_dim = check_positive_int(proj_dim, name="proj_dim")
        self.encoder, d = encoder, encoder.feature_dim
        self.projector = nn.Sequential(nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True),
                                       nn.Linear(d, proj_dim, bias=False), nn.BatchNorm1d(proj_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder.forward_features(x))


@dataclass
class PretrainConfig:
    """:func:`pretrain`'s hyperparameters, one setting for every method. Weight decay 1e-4 (SimCLR, SDCLR); the
    official BCL-I and GH CIFAR runs use 5e-4 (pass it to follow them). One warm-up + per-step cosine lr for every
    method; GH's official run sets it per epoch in two stages (cosine to 0.3 over the plain epochs, then a restarted
    cosine once L_GH is on), so GH here differs from its base method only by its loss."""

    epochs: int
    batch_size: int = 512
    lr: float = 0.5
    min_lr: float = 1e-6
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: int = 10
    proj_dim: int = 128
    amp: bool | None = None

    def __post_init__(self):
        for name, low in (("epochs", 1), ("batch_size", 2), ("warmup_epochs", 0)):
            setattr(self, name, check_positive_int(getattr(self, name), name=name, minimum=low))
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs must be <= epochs={self.epochs}; got {self.warmup_epochs} instead.")
        for name in ("lr", "min_lr", "momentum", "weight_decay"):
            setattr(self, name, check_number(getattr(self, name), name=name, strict=name == "lr"))
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr must be <= lr={self.lr}; got {self.min_lr} instead.")


def nt_xent_per_sample(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Per-image NT-Xent (l_i + l_{i+N}) / 2, the quantity BCL's moving average tracks (notebook 11)."""
    return per_image(nt_xent_per_anchor(z1, z2, temperature))


def per_image(anchors: torch.Tensor) -> torch.Tensor:
    """(l_i + l_{i+N}) / 2 of the 2N per-anchor losses: image i's two views are anchors i and i + N."""
    return anchors.view(2, -1).mean(0)


def linear_probe(encoder, train, test, *, group_counts, epochs: int = 100, seed: int = 0) -> dict:
    """Linear-probe accuracy of frozen, standardised features on the thirds of ``group_counts`` (pre-training
    counts); BCL/GH's protocol: Adam, lr 1e-2 -> 1e-6 exponentially, weight decay 5e-6, batch 1000."""
    epochs, lr, batch_size = check_positive_int(epochs, name="epochs"), 1e-2, 1000
    seed, num_classes = check_positive_int(seed, name="seed", minimum=0), int(train.num_classes)
    if len(train) < 2:  # the features are standardised with the training set's std
        raise ValueError(f"train must hold at least 2 images for the probe; got {len(train)} instead.")
    check_class_counts(group_counts, name="group_counts", num_classes=num_classes)
    pretrained = isinstance(encoder, SimCLRNet) or isinstance(encoder, History) and encoder.model is not None
    enc = encoder.encoder if pretrained else encoder  # a History of fit holds no model: the error below
    if not isinstance(enc, nn.Module) or not hasattr(enc, "forward_features"):
        raise ValueError(f"encoder must be pretrain's History, a SimCLRNet or a module with forward_features; "
                         f"got {type(encoder).__name__} instead.")
    dev = next(enc.parameters()).device
    ftr, fte = (extract_features(enc, d, device=dev).to(dev) for d in (train, test))
    mu, sd = ftr.mean(0, keepdim=True), ftr.std(0, keepdim=True).clamp_min(1e-6)  # short runs: any feature scale
    ftr, fte, ytr = (ftr - mu) / sd, (fte - mu) / sd, train.labels.to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Linear(ftr.shape[1], num_classes).to(dev)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=5e-6)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=(1e-6 / lr) ** (1.0 / epochs))
    with torch.enable_grad():
        for _ in range(epochs):
            perm = torch.randperm(ftr.shape[0], device=dev, generator=g)
            for s in range(0, ftr.shape[0], batch_size):
                idx = perm[s : s + batch_size]
                loss = F.cross_entropy(head(ftr[idx]), ytr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
    pred, y = head(fte).detach().argmax(1).cpu(), test.labels.cpu()
    per_class = metrics.per_class_accuracy(y, pred, num_classes=num_classes)
    return {**metrics.group_mean_by_thirds(per_class, None, group_counts),
            "accuracy": float((pred == y).double().mean()), "per_class_accuracy": per_class}
