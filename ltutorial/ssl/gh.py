"""Geometric Harmonization (GH): class-level uniformity on a simplex ETF with Sinkhorn surrogate labels.

t^v = normalize(z^v M^T) (M: K ETF vertices), q^v = Sinkhorn(t^v) with column sums N pi,
L_GH = -(1/N) sum_i sum_k [q1_ik log softmax(t2_i / gamma)_k + q2_ik log softmax(t1_i / gamma)_k],
L = L_base + w(epoch) L_GH (w: 0, then a linear ramp to 1), pi from a moving average of t. Zhou, Yao, Hong,
Zhang, Han, Wang, "Combating Representation Learning Disparity with Geometric Harmonization", NeurIPS 2023. Notebook 12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ltutorial._validation import check_number, check_positive_int, check_probability, check_random_state
from ltutorial.ssl.bcl import ema_update
from ltutorial.ssl.simclr import SimCLR, check_method

# exp(|t| / eps), |t| <= 1, stays inside float64 for eps >= 1/50 (e^50 ~ 5e21): no log-domain iteration needed.
_BOUND = 50.0


def gh_loss(t1, t2, prior, temperature: float, epsilon: float, iterations: int) -> torch.Tensor:
    """L_GH from the two views' geometric logits t1, t2 (N x K) and the prior pi (K); unchecked."""
    with torch.no_grad():  # the surrogate labels q carry no gradient
        q1, q2 = _sinkhorn(torch.stack([t1, t2]).detach().double(), prior.double(), epsilon, iterations).float()
    return -((q1 * F.log_softmax(t2 / temperature, dim=1)).sum(1)
             + (q2 * F.log_softmax(t1 / temperature, dim=1)).sum(1)).mean()


@torch.no_grad()
def _sinkhorn(scores: torch.Tensor, pi: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Batched Sinkhorn-Knopp on B x N x K float64 scores; the last update normalises the rows."""
    p = torch.exp(scores / float(epsilon))
    col = pi * scores.shape[1]
    a = torch.ones(scores.shape[:2], dtype=p.dtype, device=p.device)
    for _ in range(iterations):
        b = col / torch.bmm(p.transpose(1, 2), a.unsqueeze(2)).squeeze(2)
        a = 1.0 / torch.bmm(p, b.unsqueeze(2)).squeeze(2)
    return a.unsqueeze(2) * p * b.unsqueeze(1)


def geometric_logits(z: torch.Tensor, etf: torch.Tensor) -> torch.Tensor:
    """GH's geometric logits t = normalize(z M^T) in float32: agreement with each vertex."""
    with torch.autocast(z.device.type, enabled=False):
        return F.normalize(z.float() @ etf.to(z.device).float().T, dim=1)


class GH:
    """GH on ``base`` (SimCLR, SDCLR or BCL): its loss + w(epoch) L_GH on the same projections.
    State: ``etf``, ``ema``, ``prior`` pi, ``prior_history`` [(epoch, pi)], ``weights`` (w per epoch)."""

    def __init__(self, base=None, config: GHConfig | None = None):
        self.base = SimCLR() if base is None else check_method(base, name="base")
        self.config = GHConfig() if config is None else config
        self.views, self.on_epoch_end = self.base.views, self.base.on_epoch_end  # the base's, unchanged

    def loss(self, net, x, idx):
        loss, z1, z2, anchors = self.base.loss(net, x, idx)
        cfg, t1, t2 = self.config, geometric_logits(z1, self.etf), geometric_logits(z2, self.etf)
        if self.w > 0:  # t1, t2 are float32 and gh_loss's softmax runs in float32 under autocast too
            loss = loss + self.w * gh_loss(t1, t2, self.prior, cfg.temperature, cfg.epsilon, cfg.iterations)
        self.update(idx, 0.5 * (t1 + t2), self.epoch)  # the official code tracks view 1; the mean is steadier
        return loss, z1, z2, anchors

    def on_epoch(self, net, epoch):
        self.base.on_epoch(net, epoch)
        if epoch >= self.start_epoch and (epoch - self.start_epoch) % self.config.refresh_every == 0:
            self.prior = self.estimate_prior()
            self.prior_history.append((epoch, self.prior.detach().cpu()))
        self.epoch, self.w = epoch, self.weight(epoch)
        self.weights.append(self.w)

    def update(self, index, t, epoch: int) -> None:
        """e_i = t_i at the first update, then e_i <- beta e_i + (1 - beta) t_i (beta 0.9, then 0.999); starting
        from t_i follows the official code (from 0, a short warm-up never outgrows the 0.1 t_i of epoch 1)."""
        beta = self.config.ema_beta_warmup if epoch < self.start_epoch else self.config.ema_beta
        t = t.detach().float()
        self.ema[index] = ema_update(self.ema[index], t, beta, self.seen[index].unsqueeze(1))
        self.seen[index] = True

    def estimate_prior(self) -> torch.Tensor:
        """pi_k = (#{i: argmax_k e_i = k} + floor) / (N + K floor) over the N images seen (none yet: uniform)."""
        seen = self.ema[self.seen]  # an unseen row is all zeros: its argmax would count for vertex 0
        counts = torch.bincount(seen.argmax(1), minlength=self.num_vertices).float() + self.config.floor
        return counts / counts.sum()

    def weight(self, epoch: int) -> float:
        """w = 0 before the start, then min(1, (epoch - start + 1) / ramp) (GH: 500 plain epochs of 1000, ramp 10)."""
        ramp = self.config.ramp_epochs
        return 0.0 if epoch < self.start_epoch else min(1.0, (epoch - self.start_epoch + 1) / ramp) if ramp else 1.0

    def setup(self, net, num_samples, epochs, device):
        self.base.setup(net, num_samples, epochs, device)
        cfg = self.config
        k = cfg.num_vertices if cfg.num_vertices is not None else min(100, net.proj_dim + 1)
        self.start_epoch = cfg.start_epoch if cfg.start_epoch is not None else epochs // 2
        self.etf = simplex_etf(k, net.proj_dim).to(device)
        self.ema = torch.zeros(num_samples, k, device=device)
        self.seen = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.prior = torch.full((k,), 1.0 / k, device=device)  # uniform before the first estimate
        self.prior_history, self.weights, self.epoch, self.w, self.num_vertices = [], [], 0, 0.0, k


def sinkhorn(scores: torch.Tensor, prior, epsilon: float = 0.05, iterations: int = 300) -> torch.Tensor:
    """Transport plan Q = diag(a) exp(scores / eps) diag(b) (N x K), rows summing to 1, columns to
    N prior_k (Sinkhorn-Knopp, Cuturi 2013), in float64 without gradient; |scores| / eps <= 50."""
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or min(scores.shape) < 1:
        raise ValueError(f"scores must be a 2-D tensor N x K; got {getattr(scores, 'shape', scores)!r} instead.")
    pi, k = torch.as_tensor(prior, dtype=torch.float64, device=scores.device).flatten(), scores.shape[1]
    if pi.numel() != k or not bool(torch.isfinite(pi).all() & (pi >= 0).all()) or abs(float(pi.sum()) - 1) > 1e-4:
        raise ValueError(f"prior must be {k} non-negative numbers summing to 1; got {pi.tolist()} instead.")
    epsilon = check_number(epsilon, name="epsilon", strict=True)
    iterations = check_positive_int(iterations, name="iterations")
    s = scores.detach().double()
    if (top := float(s.abs().max()) / epsilon) > _BOUND:
        raise ValueError(f"scores / epsilon must lie within [-{_BOUND:g}, {_BOUND:g}]; got max |scores| / epsilon = "
                         f"{top:.3g} instead.")
    q = _sinkhorn(s.unsqueeze(0), pi, epsilon, iterations)[0]
    return q.to(scores.dtype if scores.is_floating_point() else torch.float32)


def simplex_etf(num_vertices: int, dim: int, seed: int = 0) -> torch.Tensor:
    """K unit vectors in R^d at pairwise inner product -1/(K-1) (a simplex ETF, K <= d + 1): M = sqrt(K/(K-1)) B R,
    B an orthonormal basis of 1_K's complement, R seeded orthonormal rows. GH: K = 100, d = 128."""
    k, d = check_positive_int(num_vertices, name="num_vertices", minimum=2), check_positive_int(dim, name="dim")
    if k > d + 1:
        raise ValueError(f"num_vertices must be <= dim + 1 = {d + 1} for a simplex ETF in R^{d}; got {k} instead.")
    g = torch.Generator().manual_seed(check_random_state(seed, name="seed") or 0)
    basis = torch.linalg.svd(torch.eye(k, dtype=torch.float64) - 1.0 / k).U[:, : k - 1]  # spans 1_K's complement
    rot = torch.linalg.qr(torch.randn(d, k - 1, generator=g, dtype=torch.float64)).Q.T
    return (math.sqrt(k / (k - 1)) * basis @ rot).float()


@dataclass
class GHConfig:
    """GH's settings at the paper's CIFAR values; None: K = min(100, proj_dim + 1), half the epochs of plain SSL."""

    num_vertices: int | None = None
    temperature: float = 0.1
    epsilon: float = 0.05  # >= 1/50 (see _BOUND)
    iterations: int = 300
    start_epoch: int | None = None
    ramp_epochs: int = 10
    refresh_every: int = 20
    ema_beta_warmup: float = 0.9
    ema_beta: float = 0.999
    floor: float = 1.0  # a pseudo-count per vertex: no pi_k is 0

    def __post_init__(self):
        if self.num_vertices is not None:
            check_positive_int(self.num_vertices, name="num_vertices", minimum=2)
        for name, low, strict in (("temperature", 0, True), ("floor", 0, True), ("epsilon", 1 / _BOUND, False)):
            check_number(getattr(self, name), name=name, minimum=low, strict=strict)
        for name, low in (("iterations", 1), ("ramp_epochs", 0), ("refresh_every", 1)):
            check_positive_int(getattr(self, name), name=name, minimum=low)
        if self.start_epoch is not None:
            check_positive_int(self.start_epoch, name="start_epoch", minimum=0)
        for name in ("ema_beta_warmup", "ema_beta"):
            check_probability(getattr(self, name), name=name)
