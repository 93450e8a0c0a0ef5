"""SimCLR pre-training (with SDCLR, BCL and GH as options) and the linear-probe evaluation.

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020,
in the CIFAR recipe of the long-tailed SSL papers (SDCLR, BCL, GH; ssl_lt.md section 2): CIFAR
ResNet-18, projection head Linear-BN-ReLU-Linear-BN to 128-d, NT-Xent with tau = 0.2, batch 512,
SGD (momentum 0.9) at lr 0.5 with a 10-epoch linear warm-up and a per-iteration cosine decay to
1e-6. Data stay on the device as uint8; each batch is augmented by one call of
:class:`~ltutorial.ssl.augment.ContrastiveAugment`; on CUDA the step runs under bf16 autocast with
channels_last. Notebooks 10-12.

Differences from the official recipes, kept so that every method shares one setting:
``pretrain``'s ``weight_decay`` defaults to 1e-4 (SimCLR's and SDCLR's value) for every method; the
official BCL-I and GH CIFAR runs use 5e-4, so pass ``weight_decay=5e-4`` to follow them. The lr
schedule is one warm-up + cosine over all epochs, set per iteration, for every method; GH's
official CIFAR run sets its lr once per epoch in two stages instead (warm-up to 0.5 and cosine to
0.3 over the plain-SSL epochs, then a restarted cosine 0.3 -> 1e-6 once L_GH is on), so GH here
differs from the plain method it extends only by its loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ltutorial._validation import (
    check_choice,
    check_labels,
    check_number,
    check_positive_int,
    check_probability,
    check_random_state,
)
from ltutorial.device import get_device
from ltutorial.progress import progress_bar
from ltutorial.ssl.augment import ContrastiveAugment
from ltutorial.ssl.bcl import BCLConfig, BCLState
from ltutorial.ssl.gh import GHConfig, GHState, geometric_logits, gh_loss
from ltutorial.ssl.losses import nt_xent_per_anchor
from ltutorial.ssl.sdclr import PrunedBranch, mask_sparsity, pruned_forward

__all__ = [
    "ProjectionHead",
    "SimCLR",
    "METHODS",
    "SSLHistory",
    "pretrain",
    "pretrain_simclr",
    "extract_features",
    "linear_probe",
    "probe_table",
    "class_geometry",
    "cosine_warmup_lr",
]


class ProjectionHead(nn.Module):
    """MLP head g(h): Linear-BN-ReLU repeated ``num_layers - 1`` times, then Linear (no bias) + BN.

    The 2-layer form 512 -> 512 -> 128 is the SimCLR baseline of the LT-SSL repositories; the
    SDCLR repository uses 3 layers (``num_layers=3``), the BCL/GH re-implementations 2.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int = 128, num_layers: int = 2):
        super().__init__()
        num_layers = check_positive_int(num_layers, name="num_layers", minimum=2)
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            dim = hidden_dim
        layers += [nn.Linear(dim, out_dim, bias=False), nn.BatchNorm1d(out_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class SimCLR(nn.Module):
    """Encoder f plus projection head g; ``forward(x)`` returns the projection z = g(f(x)).

    ``encoder`` is any module with ``forward_features(x) -> N x feature_dim`` and an integer
    ``feature_dim`` (``ltutorial.models.resnet18_cifar``, ``SmallCNN``). ``forward(x,
    branch="pruned")`` runs SDCLR's pruned branch once a :class:`PrunedBranch` is attached as
    ``self.pruned_branch`` (done by ``pretrain(method="sdclr")``).
    """

    def __init__(self, encoder: nn.Module, proj_dim: int = 128, hidden_dim: int | None = None, num_layers: int = 2):
        super().__init__()
        feature_dim = getattr(encoder, "feature_dim", None)
        if not hasattr(encoder, "forward_features") or not isinstance(feature_dim, int):
            raise ValueError(
                f"encoder must define forward_features(x) and an int feature_dim (e.g. ltutorial.models.resnet18_cifar); "
                f"got a {type(encoder).__name__} without them instead."
            )
        proj_dim = check_positive_int(proj_dim, name="proj_dim")
        self.encoder = encoder
        self.projector = ProjectionHead(feature_dim, hidden_dim or feature_dim, proj_dim, num_layers)
        self.proj_dim = proj_dim
        self.pruned_branch: PrunedBranch | None = None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_features(x)

    def forward(self, x: torch.Tensor, branch: str = "dense") -> torch.Tensor:
        if branch == "dense":
            return self.projector(self.encoder.forward_features(x))
        if branch == "pruned":
            if self.pruned_branch is None or not self.pruned_branch.masks:
                raise ValueError("branch='pruned' needs masks: attach a PrunedBranch and call update_masks first; got none instead.")
            return pruned_forward(self, x, self.pruned_branch.masks, self.pruned_branch, branch="dense")
        raise ValueError(f"branch must be one of ['dense', 'pruned']; got {branch!r} instead.")


def cosine_warmup_lr(step: int, total_steps: int, warmup_steps: int, base_lr: float, min_lr: float = 1e-6) -> float:
    """Learning rate at iteration ``step``: linear warm-up to ``base_lr`` over ``warmup_steps``,
    then cosine decay to ``min_lr``: min + (base - min) (1 + cos(pi (step - w) / (T - w))) / 2."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------- methods
# method name -> (uses the pruned branch, uses BCL's augmentation); GH is an add-on flag.
METHODS = {
    "simclr": (False, False),
    "sdclr": (True, False),
    "bcl": (False, True),  # BCL-I: BCL on SimCLR
    "bcl-d": (True, True),  # BCL-D: BCL on SDCLR
}

_OPTIMIZERS = {
    "sgd": lambda params, lr, wd, momentum: torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd),
    "adam": lambda params, lr, wd, momentum: torch.optim.Adam(params, lr=lr, weight_decay=wd),
}


@dataclass
class SSLHistory:
    """What :func:`pretrain` returns: per-epoch ``loss``, ``lr`` (at epoch end), ``gh_weight``,
    ``sparsity`` (SDCLR), the trained ``model`` (a :class:`SimCLR`; ``encoder`` is ``model.encoder``),
    the method state (``bcl``: :class:`BCLState` with per-epoch scores; ``gh``: :class:`GHState`),
    wall ``seconds``, ``images_per_second`` (source images) and the ``device``."""

    method: str
    gh: GHState | None = None
    bcl: BCLState | None = None
    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    gh_weight: list = field(default_factory=list)
    sparsity: list = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0
    device: str = "cpu"
    model: SimCLR | None = None

    @property
    def encoder(self) -> nn.Module:
        return self.model.encoder

    def __repr__(self) -> str:
        last = f"{self.loss[-1]:.3f}" if self.loss else "-"
        return (
            f"SSLHistory(method={self.method!r}{' + gh' if self.gh is not None else ''}, epochs={len(self.epoch)}, "
            f"last loss={last}, {self.seconds:.1f} s, {self.images_per_second:.0f} img/s on {self.device})"
        )


def _build_encoder(encoder, data) -> nn.Module:
    if isinstance(encoder, nn.Module):
        return encoder
    if isinstance(encoder, str):
        from ltutorial import models

        return models.build_model(encoder, num_classes=data.num_classes, in_channels=int(data.images.shape[1]))
    raise ValueError(f"encoder must be a model name (see ltutorial.models.MODELS) or an nn.Module; got {type(encoder).__name__} instead.")


def _check_data(data, name="data"):
    images = getattr(data, "images", None)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"{name} must be an ImageDataset with uint8 images N x C x H x W; got {type(data).__name__} instead.")
    if images.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 images for contrastive learning; got {images.shape[0]} instead.")


def _check_rates(**values) -> None:
    """``pretrain``'s float settings, as ``fit`` checks its own: NaN or inf would train to NaN weights."""
    for name, value in values.items():
        check_number(value, name=name, strict=name in ("lr", "temperature"))


def pretrain(
    encoder,
    data,
    *,
    method: str = "simclr",
    epochs: int,
    batch_size: int = 512,
    lr: float = 0.5,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    optimizer: str = "sgd",
    temperature: float = 0.2,
    warmup_epochs: int = 10,
    min_lr: float = 1e-6,
    proj_dim: int = 128,
    hidden_dim: int | None = None,
    head_layers: int = 2,
    augment: ContrastiveAugment | None = None,
    prune_ratio: float = 0.9,
    bcl: BCLConfig | None = None,
    gh: GHConfig | bool | None = None,
    device="auto",
    seed: int = 0,
    amp: bool | None = None,
    channels_last: bool | None = None,
    hooks=(),
    progress: bool | None = None,
) -> SSLHistory:
    """Contrastive pre-training of ``encoder`` on ``data`` (an ``ImageDataset``; labels unused).

    ``method``: ``"simclr"``; ``"sdclr"`` (view 1 through the dense network, view 2 through the
    pruned branch with ``prune_ratio`` of the conv weights masked, masks recomputed at every
    epoch start, NT-Xent between the branches; Jiang et al. 2021); ``"bcl"`` (BCL-I: BCL's
    score-driven RandAugment on top of SimCLR's augmentation, EMA of each image's loss; Zhou et
    al. 2022) and ``"bcl-d"`` (BCL on SDCLR; ``bcl=BCLConfig(k=2)`` in the paper). ``gh=True`` or a
    :class:`GHConfig` adds Geometric Harmonization's loss w(epoch) * L_GH on the two views'
    projections (Zhou et al. 2023). ``encoder``: a module with ``forward_features``/``feature_dim``
    or a name for ``ltutorial.models.build_model``; it is trained in place. ``augment`` defaults to
    ``ContrastiveAugment.for_dataset(data)`` (the CIFAR recipe at the data's size).
    Schedule: :func:`cosine_warmup_lr` per iteration; optimizer ``"sgd"`` or ``"adam"``.
    ``amp``/``channels_last`` default to True on CUDA (bf16 autocast), False elsewhere. Batches
    come from a seeded on-device ``randperm``; the last partial batch is kept (BCL must see every
    image each epoch) unless it has a single image. ``hooks``: ``hook(state)`` at each epoch start
    (``state.epoch``, ``model``, ``optimizer``, ``history``, ``train``, ``device``).
    Returns an :class:`SSLHistory`. Defaults that differ from the official BCL/GH runs: module docstring.
    """
    check_choice(method, list(METHODS), name="method")
    check_choice(optimizer, list(_OPTIMIZERS), name="optimizer")
    _check_data(data)
    epochs = check_positive_int(epochs, name="epochs")
    batch_size = check_positive_int(batch_size, name="batch_size", minimum=2)
    warmup_epochs = check_positive_int(warmup_epochs, name="warmup_epochs", minimum=0)
    if warmup_epochs > epochs:
        raise ValueError(f"warmup_epochs must be <= epochs={epochs}; got {warmup_epochs} instead.")
    check_probability(prune_ratio, name="prune_ratio", inclusive_high=False)
    _check_rates(lr=lr, momentum=momentum, weight_decay=weight_decay, min_lr=min_lr, temperature=temperature)
    seed = check_random_state(seed, name="seed") or 0  # None -> 0
    if gh is True:
        gh = GHConfig()
    elif gh is False:
        gh = None
    if gh is not None and not isinstance(gh, GHConfig):
        raise ValueError(f"gh must be None, True/False or a GHConfig; got {type(gh).__name__} instead.")
    uses_pruning, uses_bcl = METHODS[method]
    if bcl is not None and not uses_bcl:
        raise ValueError(f"bcl settings were given but method={method!r} does not use BCL; use method='bcl' or 'bcl-d'.")
    bcl = bcl if bcl is not None else (BCLConfig(k=2 if uses_pruning else 1) if uses_bcl else None)

    dev = get_device(device)
    torch.manual_seed(seed)  # the encoder's / head's initialisation
    net = SimCLR(_build_encoder(encoder, data), proj_dim=proj_dim, hidden_dim=hidden_dim, num_layers=head_layers)
    if uses_pruning:
        net.pruned_branch = PrunedBranch(net)
    net = net.to(dev)
    use_amp = (dev.type == "cuda") if amp is None else bool(amp)
    use_cl = (dev.type == "cuda") if channels_last is None else bool(channels_last)
    if use_cl:
        net = net.to(memory_format=torch.channels_last)
    opt = _OPTIMIZERS[optimizer](net.parameters(), lr, weight_decay, momentum)
    aug = augment if augment is not None else ContrastiveAugment.for_dataset(data)
    if bcl is not None and aug.output != "float":
        raise ValueError(f"augment must produce float images (output='float') for BCL; got output={aug.output!r} instead.")

    images = data.images.to(dev)
    n = images.shape[0]
    bs = min(batch_size, n)
    starts = [s for s in range(0, n, bs) if n - s >= 2]
    steps_per_epoch = len(starts)
    total_steps = epochs * steps_per_epoch
    warmup_steps = warmup_epochs * steps_per_epoch
    g = torch.Generator(device=dev).manual_seed(seed)

    hist = SSLHistory(method=method, device=str(dev), model=net)
    hist.bcl = BCLState(n, bcl, dev) if bcl is not None else None
    hist.gh = GHState(n, gh, proj_dim, epochs, dev) if gh is not None else None
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp)
    state = SimpleNamespace(epoch=0, model=net, optimizer=opt, history=hist, train=data, device=dev)

    step = 0
    net.train()
    t0 = time.perf_counter()
    for epoch in progress_bar(range(epochs), progress=progress, desc=method):
        state.epoch = epoch
        for hook in hooks:
            hook(state)
        if uses_pruning:
            net.pruned_branch.update_masks(net, prune_ratio)
            hist.sparsity.append(mask_sparsity(net.pruned_branch.masks)["global"])
        w_gh = 0.0
        if hist.gh is not None:
            hist.gh.start_of_epoch(epoch)
            w_gh = hist.gh.weight(epoch)
        total = torch.zeros((), device=dev)
        perm = torch.randperm(n, device=dev, generator=g)
        for s in starts:
            lr_now = cosine_warmup_lr(step, total_steps, warmup_steps, lr, min_lr)
            for group in opt.param_groups:
                group["lr"] = lr_now
            idx = perm[s : s + bs]
            batch = images[idx]
            both = torch.cat([batch, batch], dim=0)
            if hist.bcl is not None:
                x = aug(both, g, normalize=False)
                x = aug.normalize(hist.bcl.augment(x, torch.cat([idx, idx]), g))
            else:
                x = aug(both, g)
            if use_cl:
                x = x.contiguous(memory_format=torch.channels_last)
            b = idx.numel()
            with autocast:
                if uses_pruning:
                    z1 = net(x[:b])
                    z2 = net(x[b:], branch="pruned")
                else:
                    # Both views in one forward: BN statistics over the 2N views, as SimCLR does.
                    z1, z2 = net(x).chunk(2, dim=0)
            anchors = nt_xent_per_anchor(z1, z2, temperature)
            loss = anchors.mean()
            if hist.gh is not None:
                if w_gh > 0:
                    lg, t1, t2 = gh_loss(
                        z1, z2, hist.gh.etf, hist.gh.prior,
                        temperature=gh.temperature, epsilon=gh.epsilon, iterations=gh.iterations,
                    )
                    loss = loss + w_gh * lg
                else:
                    # Warm-up: only the logits' moving average is needed, so the 2 x 300
                    # Sinkhorn iterations per step are skipped.
                    with torch.no_grad():
                        t1, t2 = geometric_logits(z1, hist.gh.etf), geometric_logits(z2, hist.gh.etf)
                hist.gh.update(idx, 0.5 * (t1 + t2), epoch)
            if hist.bcl is not None:
                hist.bcl.update(idx, 0.5 * (anchors[:b] + anchors[b:]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * b
            step += 1
        if hist.bcl is not None:
            hist.bcl.end_of_epoch()
        hist.epoch.append(epoch)
        hist.loss.append(float(total) / sum(min(bs, n - s) for s in starts))
        hist.lr.append(opt.param_groups[0]["lr"])
        hist.gh_weight.append(w_gh)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    hist.seconds = time.perf_counter() - t0
    seen = epochs * sum(min(bs, n - s) for s in starts)
    hist.images_per_second = seen / max(hist.seconds, 1e-9)
    return hist


def pretrain_simclr(encoder, data, **kwargs) -> SSLHistory:
    """SimCLR pre-training: :func:`pretrain` with ``method="simclr"`` (``gh=`` adds GH).

    Notebooks 10-12.
    """
    return pretrain(encoder, data, method="simclr", **kwargs)


# ---------------------------------------------------------------------- evaluation
def _as_encoder(model) -> nn.Module:
    if isinstance(model, SSLHistory):
        return model.encoder
    if isinstance(model, SimCLR):
        return model.encoder
    if isinstance(model, nn.Module) and hasattr(model, "forward_features"):
        return model
    raise ValueError(f"encoder must be an SSLHistory, a SimCLR or a module with forward_features; got {type(model).__name__} instead.")


def extract_features(encoder, data, *, device=None, batch_size: int = 1024, amp: bool | None = None) -> torch.Tensor:
    """Backbone features f(x) of every image of ``data`` (normalised with its mean/std, no
    augmentation, eval mode), float32 N x d on ``device`` (default: the encoder's).

    ``encoder`` may be an :class:`SSLHistory`, a :class:`SimCLR` or an encoder; the work is done by
    :func:`ltutorial.train.extract_features` (batched, bf16 autocast on CUDA).
    Notebook 12.
    """
    from ltutorial import train as _train

    enc = _as_encoder(encoder)
    _check_data(data)
    dev = torch.device(device) if device is not None else next(enc.parameters()).device
    was_training = enc.training
    feats = _train.extract_features(enc, data, device=dev, batch_size=batch_size, amp=amp)
    enc.train(was_training)
    return feats.to(dev)


def linear_probe(
    encoder,
    train,
    test,
    *,
    group_counts,
    epochs: int = 100,
    lr: float = 1e-2,
    final_lr: float = 1e-6,
    weight_decay: float = 5e-6,
    batch_size: int = 1000,
    standardize: bool = True,
    device=None,
    seed: int = 0,
) -> dict:
    """Linear-probe accuracy of frozen features, overall and on many / medium / few thirds.

    Features are extracted once (:func:`extract_features`); a linear layer is trained with Adam,
    lr decayed exponentially from ``lr`` to ``final_lr`` over ``epochs`` (the BCL/GH protocol:
    1e-2 -> 1e-6, weight decay 5e-6, batch 1000; ssl_lt.md section 2), on features standardised
    with the training mean/std (``standardize``, a small addition that makes short runs
    insensitive to the feature scale). Groups: thirds of the classes sorted by ``group_counts``,
    the class counts of the (long-tailed) pre-training set, as SDCLR/BCL/GH do, also when the
    encoder was pre-trained on the balanced subset (:func:`ltutorial.metrics.group_accuracy_by_thirds`).
    Returns dict(many, medium, few, all, accuracy, per_class_accuracy) in [0, 1].
    Notebooks 10-12.
    """
    from ltutorial import metrics

    epochs = check_positive_int(epochs, name="epochs")
    batch_size = check_positive_int(batch_size, name="batch_size")
    for name, value in (("lr", lr), ("final_lr", final_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a finite number > 0; got {value!r} instead.")
    if final_lr > lr:
        raise ValueError(f"final_lr must be <= lr={lr} (the schedule decays); got {final_lr!r} instead.")
    num_classes = int(train.num_classes)
    n_groups = int(np.asarray(group_counts).size)
    if np.asarray(group_counts).ndim != 1 or n_groups != num_classes:
        raise ValueError(
            f"group_counts must hold one pre-training count per class ({num_classes}); got {n_groups} values instead."
        )
    enc = _as_encoder(encoder)
    dev = torch.device(device) if device is not None else next(enc.parameters()).device
    ftr = extract_features(enc, train, device=dev)
    fte = extract_features(enc, test, device=dev)
    if standardize:
        mu, sd = ftr.mean(0, keepdim=True), ftr.std(0, keepdim=True).clamp_min(1e-6)
        ftr, fte = (ftr - mu) / sd, (fte - mu) / sd
    ytr = train.labels.to(dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    torch.manual_seed(seed)
    head = nn.Linear(ftr.shape[1], num_classes).to(dev)
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    gamma = (final_lr / lr) ** (1.0 / epochs)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    n = ftr.shape[0]
    with torch.enable_grad():
        for _ in range(epochs):
            perm = torch.randperm(n, device=dev, generator=g)
            for s in range(0, n, batch_size):
                idx = perm[s : s + batch_size]
                loss = F.cross_entropy(head(ftr[idx]), ytr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
    with torch.no_grad():
        pred = head(fte).argmax(1).cpu()
    y = test.labels.cpu()
    groups = metrics.group_accuracy_by_thirds(y, pred, group_counts)
    out = {k: groups[k] for k in ("many", "medium", "few", "all")}
    out["accuracy"] = float((pred == y).double().mean())
    out["per_class_accuracy"] = metrics.per_class_accuracy(y, pred, num_classes=num_classes)
    return out


def probe_table(results: dict) -> "pandas.DataFrame":
    """A Many / Medium / Few / All table in percent from {row name: :func:`linear_probe` result}.

    Notebooks 10-12.
    """
    import pandas as pd

    rows = {name: {k.capitalize(): 100 * r[k] for k in ("many", "medium", "few", "all")} for name, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


@torch.no_grad()
def class_geometry(features: torch.Tensor, labels) -> dict[str, np.ndarray]:
    """Per-class geometry of L2-normalised features, to measure representation disparity (notebook 12).

    ``spread_c`` = mean over class c of 1 - cos(f_i, mu_c) (mu_c the class mean direction): how
    much of the sphere the class occupies. ``nearest_cos_c`` = the largest cosine between mu_c
    and another class's mean direction: how close it is to being absorbed by a neighbour. GH's
    claim is that plain contrastive learning gives head classes large regions and squeezes tail
    classes (small spread, high nearest-centroid cosine).
    """
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a 2-D tensor N x d with N >= 1; got {getattr(features, 'shape', type(features).__name__)} instead.")
    y = check_labels(labels, name="labels").to(features.device)
    if y.numel() != features.shape[0]:
        raise ValueError(f"labels must have one entry per row of features ({features.shape[0]}); got {y.numel()} instead.")
    f = F.normalize(features.float(), dim=1)
    c = int(y.max()) + 1
    sums = torch.zeros(c, f.shape[1], device=f.device).index_add_(0, y, f)
    mu = F.normalize(sums, dim=1)
    spread = torch.zeros(c, device=f.device).index_add_(0, y, 1 - (f * mu[y]).sum(1))
    spread = spread / torch.bincount(y, minlength=c).clamp_min(1)
    cos = mu @ mu.T
    cos.fill_diagonal_(-2.0)
    return {"spread": spread.cpu().numpy(), "nearest_cos": cos.max(1).values.cpu().numpy()}
