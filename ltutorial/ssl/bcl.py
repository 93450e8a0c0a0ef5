"""BCL: memorization scores from a moving-average contrastive loss drive per-sample RandAugment.

m_i <- beta m_i + (1 - beta) l_i (beta = 0.97), z_i = (m_i - mean m) / std m,
M_i = z_i / (2 max_j |z_j|) + 1/2; each view gets k RandAugment operations, each applied with
probability M_i at magnitude 10 + 20 M_i (k = 1) or 5 + 25 M_i u, u ~ U(0, 1) (k >= 2). Zhou, Yao,
Wang, Han, Zhang, "Contrastive Learning with Boosted Memorization", ICML 2022. Notebook 11.
"""

import torch

from ltutorial._validation import check_positive_int, check_probability
from ltutorial.ssl.augment import RANDAUGMENT_OPS
from ltutorial.ssl.sdclr import SDCLR
from ltutorial.ssl.simclr import SimCLR, check_method, per_image


def ema_update(ema: torch.Tensor, losses: torch.Tensor, beta: float, initialized: torch.Tensor) -> torch.Tensor:
    """m_t = beta m_{t-1} + (1 - beta) l_t; entries not ``initialized`` take l_t (m_1 = l_1)."""
    return torch.where(initialized, beta * ema + (1 - beta) * losses, losses)


def memorization_score(ema_losses) -> torch.Tensor:
    """M_i = z_i / (2 max|z|) + 1/2 in [0, 1], increasing in m_i; 1/2 everywhere for constant losses."""
    m = torch.as_tensor(ema_losses).detach().float()
    if m.ndim != 1 or m.numel() == 0:
        raise ValueError(f"ema_losses must be a non-empty 1-D tensor of per-sample losses; "
                         f"got shape {tuple(m.shape)} instead.")
    if not bool(torch.isfinite(m).all()):
        raise ValueError("ema_losses must be finite; got NaN or infinite values instead.")
    if float(std := m.std(unbiased=False)) == 0.0:  # also a single sample
        return torch.full_like(m, 0.5)
    z = (m - m.mean()) / std
    return z / (2 * z.abs().max()) + 0.5


def augmentation_strength(scores: torch.Tensor, k: int, generator=None) -> torch.Tensor:
    """Magnitude 10 + (30 - 10) M (k = 1) or 5 + (30 - 5) M u (k >= 2): the reference code's floors."""
    if k == 1:
        return 10 + 20 * scores
    return 5 + 25 * scores * torch.rand(scores.shape, device=scores.device, generator=generator)


class BCL:
    """BCL on ``base`` (SimCLR: BCL-I, k = 1; SDCLR: BCL-D, k = 2): the base's loss, BCL's views.
    ``ema``, ``scores`` per image; ``score_history``, ``loss_history``: one CPU row per epoch."""

    def __init__(self, base=None, *, beta: float = 0.97, k: int | None = None):
        self.base = SimCLR() if base is None else check_method(base, name="base")
        self.beta = check_probability(beta, name="beta")
        self.k = check_positive_int(k if k is not None else (2 if isinstance(self.base, SDCLR) else 1), name="k")
        self.on_epoch = self.base.on_epoch  # the base's, unchanged

    def views(self, augment, batch, idx, generator):
        x = augment(torch.cat([batch, batch]), generator, normalize=False)
        # both views: the same score, independent draws
        return augment.normalize(randaugment(x, self.scores[torch.cat([idx, idx])], self.k, generator))

    def loss(self, net, x, idx):
        loss, z1, z2, anchors = self.base.loss(net, x, idx)
        with torch.no_grad():  # the base's per-anchor losses: (l_i + l_{i+N}) / 2 per image, not computed twice
            losses = per_image(anchors.detach())
            self.ema[idx] = ema_update(self.ema[idx], losses, self.beta, self.seen[idx])
            self.seen[idx] = True
        return loss, z1, z2, anchors

    def on_epoch_end(self, net, epoch):
        self.base.on_epoch_end(net, epoch)
        self.scores = torch.zeros_like(self.ema)  # unseen images keep 0, as before BCL's first update
        if bool(self.seen.any()):
            self.scores[self.seen] = memorization_score(self.ema[self.seen])
        self.score_history.append(self.scores.cpu())
        self.loss_history.append(self.ema.to("cpu", copy=True))  # a copy on the CPU too: ema changes in place

    def setup(self, net, num_samples, epochs, device):
        self.base.setup(net, num_samples, epochs, device)
        self.ema, self.scores = torch.zeros(num_samples, device=device), torch.zeros(num_samples, device=device)
        self.seen = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.score_history, self.loss_history = [], []


def randaugment(x, scores, k: int, generator) -> torch.Tensor:
    """k rounds: each sample draws one of the 15 ops, applied with probability M_i at level m_i / 30 and
    a random sign; samples are grouped by op (one tensor op per group). Unchecked."""
    n, ops = x.shape[0], tuple(RANDAUGMENT_OPS.values())
    x = x.clone()
    for _ in range(k):
        op = torch.randint(0, len(ops), (n,), device=x.device, generator=generator)
        u = torch.rand(n, 4, device=x.device, generator=generator)
        apply = u[:, 0] < scores
        level = (augmentation_strength(scores, k, generator) / 30).clamp(0, 1)
        sign = torch.where(u[:, 1] < 0.5, -1.0, 1.0).to(x.dtype)
        key = torch.where(apply, op, len(ops))  # len(ops): left as it is
        groups = torch.argsort(key, stable=True).split(torch.bincount(key, minlength=len(ops) + 1).tolist())
        for fn, idx in zip(ops, groups):  # one host sync per round (the group sizes), not one per op
            if idx.numel():
                x[idx] = fn(x[idx], level[idx], sign[idx], u[idx, 2:]).clamp(0, 1)
    return x


def boosted_randaugment(x: torch.Tensor, scores, *, k: int = 1, generator=None) -> torch.Tensor:
    """:func:`randaugment` of a float batch in [0, 1], checked. Unlike the PIL reference, strength 0 = no
    change, and posterize keeps 8 - 4 level bits (stronger with the level, as BCL wants)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 4:
        raise ValueError(f"x must be a float tensor N x C x H x W in [0, 1]; "
                         f"got {getattr(x, 'dtype', type(x).__name__)} instead.")
    if x.numel() and not (0 <= float(x.min()) and float(x.max()) <= 1):  # 0..255: every op's clamp turns it white
        raise ValueError(f"x must hold values in [0, 1] (divide uint8 images by 255); got values from "
                         f"{float(x.min()):g} to {float(x.max()):g} instead.")
    scores = torch.as_tensor(scores, dtype=x.dtype, device=x.device).flatten()
    if scores.numel() != x.shape[0] or not bool(((scores >= 0) & (scores <= 1)).all()):
        raise ValueError(f"scores must be {x.shape[0]} memorization scores in [0, 1], one per image; "
                         f"got {scores.tolist()} instead.")
    return randaugment(x, scores, check_positive_int(k, name="k"), generator)
