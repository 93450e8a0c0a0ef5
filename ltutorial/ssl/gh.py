"""Geometric Harmonization (GH): a simplex ETF, Sinkhorn surrogate labels and the GH loss.

Zhou, Yao, Hong, Zhang, Han, Wang, "Combating Representation Learning Disparity with Geometric
Harmonization", NeurIPS 2023. Contrastive learning spreads *samples* uniformly, so head classes
take most of the feature space. GH adds a class-level uniformity: K fixed, equiangular directions
(the geometric uniform structure), soft assignments of each batch to them constrained to the
estimated marginal pi (Sinkhorn), and a swapped-prediction loss towards those assignments.
Used by notebook 12 and, through ``gh=...``, on top of SimCLR / SDCLR / BCL in
:func:`ltutorial.ssl.pretrain`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ltutorial._validation import check_positive_int, check_probability, check_random_state

__all__ = ["simplex_etf", "sinkhorn", "geometric_logits", "gh_loss", "GHConfig", "GHState", "gh_weight"]


def simplex_etf(num_vertices: int, dim: int, seed: int = 0) -> torch.Tensor:
    """K unit vectors in R^d with pairwise inner product -1/(K-1): a simplex equiangular tight frame.

    M = sqrt(K/(K-1)) * B * R, where the columns of B (K x (K-1)) are an orthonormal basis of the
    vectors orthogonal to 1_K and R ((K-1) x d) has orthonormal rows drawn at random (QR of a
    seeded Gaussian). Then M M^T = K/(K-1) * (I - 11^T/K): unit rows, equal angles, rows summing
    to zero. Needs K <= d + 1. GH uses K = 100 in the 128-d projection space (notebook 12).
    """
    k = check_positive_int(num_vertices, name="num_vertices", minimum=2)
    d = check_positive_int(dim, name="dim")
    seed = check_random_state(seed, name="seed")
    if k > d + 1:
        raise ValueError(f"num_vertices must be <= dim + 1 = {d + 1} for a simplex ETF in R^{d}; got {k} instead.")
    g = torch.Generator().manual_seed(0 if seed is None else seed)
    centre = torch.eye(k, dtype=torch.float64) - 1.0 / k
    # The first K-1 left singular vectors of the centring projector span 1_K's complement.
    basis = torch.linalg.svd(centre).U[:, : k - 1]
    gauss = torch.randn(d, k - 1, generator=g, dtype=torch.float64)
    rot = torch.linalg.qr(gauss).Q.T  # (K-1) x d, orthonormal rows
    etf = math.sqrt(k / (k - 1)) * basis @ rot
    return etf.float()


def _sinkhorn(scores: torch.Tensor, pi: torch.Tensor, epsilon: float, iterations: int, log_domain: bool) -> torch.Tensor:
    """Batched Sinkhorn-Knopp on B x N x K scores (float64); see :func:`sinkhorn`."""
    n = scores.shape[1]
    col = pi * n
    if not log_domain:
        # exp(scores / eps) stays far inside float64's range when |scores| / eps is bounded, and
        # the plain iteration needs half the kernels of the log-domain one (it runs 300 times
        # per view and step, so launches, not flops, are its cost on a GPU).
        p = torch.exp(scores / float(epsilon))
        a = torch.ones(scores.shape[:2], dtype=p.dtype, device=p.device)
        for _ in range(iterations):
            b = col / torch.bmm(p.transpose(1, 2), a.unsqueeze(2)).squeeze(2)
            a = 1.0 / torch.bmm(p, b.unsqueeze(2)).squeeze(2)
        return a.unsqueeze(2) * p * b.unsqueeze(1)
    log_p = scores / float(epsilon)
    log_col = torch.log(col)  # -inf for a vertex with prior 0
    log_a = torch.zeros(scores.shape[:2], dtype=scores.dtype, device=scores.device)
    log_b = torch.zeros(scores.shape[0], scores.shape[2], dtype=scores.dtype, device=scores.device)
    for _ in range(iterations):
        log_b = log_col - torch.logsumexp(log_p + log_a.unsqueeze(2), dim=1)
        log_a = -torch.logsumexp(log_p + log_b.unsqueeze(1), dim=2)
    return torch.exp(log_p + log_a.unsqueeze(2) + log_b.unsqueeze(1))


# |scores| / epsilon below this bound runs the plain (non-log) iteration: e^50 ~ 5e21, and the
# scalings stay within float64 for any number of iterations.
_PLAIN_BOUND = 50.0


def _check_positive_number(value, name: str, allow_zero: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or not (value >= 0 if allow_zero else value > 0):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0; got {value!r} instead.")
    return float(value)


def _check_sinkhorn_args(k, prior, epsilon, iterations, device):
    pi = torch.as_tensor(prior, dtype=torch.float64, device=device).flatten()
    if pi.numel() != k or not bool(torch.isfinite(pi).all()) or bool((pi < 0).any()) or not abs(float(pi.sum()) - 1) < 1e-4:
        raise ValueError(f"prior must be {k} non-negative numbers summing to 1; got {pi.tolist()} instead.")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
        raise ValueError(f"epsilon must be a number > 0; got {epsilon!r} instead.")
    return pi, check_positive_int(iterations, name="iterations")


def sinkhorn(scores: torch.Tensor, prior, epsilon: float = 0.05, iterations: int = 300) -> torch.Tensor:
    """Optimal-transport allocation Q (N x K) of N samples to K vertices with marginal ``prior``.

    Q = diag(a) exp(scores / epsilon) diag(b), with rows summing to 1 (each sample is fully
    assigned) and columns summing to N * prior_k (vertex k receives its share), found by
    alternating the two scalings (Sinkhorn-Knopp; Cuturi 2013) in float64. When
    max|scores| / epsilon could overflow (> 50) the iteration runs in the log domain. The last
    update normalises the rows, so those sums are exact and the column sums are met to the
    iteration's tolerance. A vertex with prior 0 receives no mass. With a uniform prior this is
    SwAV's equipartition; GH passes the estimated long-tailed marginal (Zhou et al., NeurIPS
    2023, the constraints on Q-hat; notebook 12). Runs without gradient.
    """
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or scores.shape[0] < 1 or scores.shape[1] < 1:
        raise ValueError(f"scores must be a 2-D tensor N x K; got {getattr(scores, 'shape', type(scores).__name__)} instead.")
    pi, iterations = _check_sinkhorn_args(scores.shape[1], prior, epsilon, iterations, scores.device)
    with torch.no_grad():
        s = scores.detach().double()
        log_domain = float(s.abs().max()) / float(epsilon) > _PLAIN_BOUND
        q = _sinkhorn(s.unsqueeze(0), pi, epsilon, iterations, log_domain)[0]
    return q.to(scores.dtype if scores.is_floating_point() else torch.float32)


def geometric_logits(z: torch.Tensor, etf: torch.Tensor) -> torch.Tensor:
    """GH's geometric logits t = normalize(z M^T): the projection's agreement with each vertex.

    z is the raw projection (N x d), M the simplex ETF (K x d); t is L2-normalised per row.
    Zhou et al., NeurIPS 2023; notebook 12.
    """
    return F.normalize(z.float() @ etf.to(z.device).float().T, dim=1)


def gh_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    etf: torch.Tensor,
    prior,
    *,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    iterations: int = 300,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GH's swapped-prediction loss; returns (loss, t1, t2) with t the geometric logits.

    q^v = sinkhorn(t^v, prior) for each view v (no gradient), then
    L_GH = -(1/N) sum_i sum_k [ q1_ik log softmax(t2_i / gamma)_k + q2_ik log softmax(t1_i / gamma)_k ]
    with gamma = ``temperature`` = 0.1 (Zhou et al., NeurIPS 2023; ssl_lt.md section 5.2).
    """
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != etf.shape[1]:
            raise ValueError(f"{name} must be a 2-D tensor N x {etf.shape[1]} (the ETF's dimension); got {getattr(z, 'shape', type(z).__name__)} instead.")
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape (one row per image, one view each); got {tuple(z1.shape)} and {tuple(z2.shape)} instead.")
    _check_positive_number(temperature, "temperature")
    t1 = geometric_logits(z1, etf)
    t2 = geometric_logits(z2, etf)
    pi, iterations = _check_sinkhorn_args(t1.shape[1], prior, epsilon, iterations, t1.device)
    with torch.no_grad():
        # Geometric logits are unit vectors (|t| <= 1), so the plain iteration is safe whenever
        # 1 / epsilon is within the bound: no device-to-host check per step.
        both = torch.stack([t1, t2]).detach().double()
        q1, q2 = _sinkhorn(both, pi, epsilon, iterations, log_domain=1.0 / float(epsilon) > _PLAIN_BOUND).float()
    loss = -((q1 * F.log_softmax(t2 / temperature, dim=1)).sum(1) + (q2 * F.log_softmax(t1 / temperature, dim=1)).sum(1)).mean()
    return loss, t1, t2


def gh_weight(epoch: int, start_epoch: int, ramp_epochs: int, weight: float = 1.0) -> float:
    """GH's loss weight at ``epoch``: 0 before ``start_epoch`` (plain SSL warm-up), then a linear
    ramp over ``ramp_epochs`` to ``weight``: w = weight * min(1, (epoch - start + 1) / ramp).

    GH (Zhou et al., NeurIPS 2023): 500 plain-SSL epochs, then a 10-epoch ramp to 1 on CIFAR;
    notebook 12.
    """
    epoch = check_positive_int(epoch, name="epoch", minimum=0)
    start_epoch = check_positive_int(start_epoch, name="start_epoch", minimum=0)
    ramp_epochs = check_positive_int(ramp_epochs, name="ramp_epochs", minimum=0)
    _check_positive_number(weight, "weight", allow_zero=True)
    if epoch < start_epoch:
        return 0.0
    if ramp_epochs <= 0:
        return float(weight)
    return float(weight) * min(1.0, (epoch - start_epoch + 1) / ramp_epochs)


@dataclass
class GHConfig:
    """GH's settings (paper defaults for CIFAR in brackets; ssl_lt.md section 5).

    ``num_vertices`` K [100; None = min(100, proj_dim + 1)], ``temperature`` gamma [0.1],
    ``epsilon`` [0.05], ``iterations`` [300], ``start_epoch``: plain-SSL warm-up [500 of 1000;
    None = half the epochs], ``ramp_epochs`` [10], ``weight`` w_GH [1], ``refresh_every``: epochs
    between re-estimates of pi [20], ``ema_beta_warmup`` / ``ema_beta`` [0.9 / 0.999],
    ``floor`` (> 0): pseudo-count added to every vertex before normalising pi, so no vertex gets
    pi_k = 0 (the CIFAR code has none; ImageNet's adds 100), ``seed`` of the ETF.
    Notebook 12.
    """

    num_vertices: int | None = None
    temperature: float = 0.1
    epsilon: float = 0.05
    iterations: int = 300
    start_epoch: int | None = None
    ramp_epochs: int = 10
    weight: float = 1.0
    refresh_every: int = 20
    ema_beta_warmup: float = 0.9
    ema_beta: float = 0.999
    floor: float = 1.0
    seed: int = 0

    def __post_init__(self):
        # Checked here so a bad setting fails before training, not after the warm-up epochs.
        if self.num_vertices is not None:
            check_positive_int(self.num_vertices, name="num_vertices", minimum=2)
        for name in ("temperature", "epsilon", "floor"):
            _check_positive_number(getattr(self, name), name)
        _check_positive_number(self.weight, "weight", allow_zero=True)
        check_positive_int(self.iterations, name="iterations")
        if self.start_epoch is not None:
            check_positive_int(self.start_epoch, name="start_epoch", minimum=0)
        check_positive_int(self.ramp_epochs, name="ramp_epochs", minimum=0)
        check_positive_int(self.refresh_every, name="refresh_every")
        for name in ("ema_beta_warmup", "ema_beta"):
            check_probability(getattr(self, name), name=name)
        check_random_state(self.seed, name="seed")


class GHState:
    """Per-sample EMA of geometric logits over the training set and the prior pi estimated from it.

    e_i = t_i at image i's first update (the official code's EMA starts from the first epoch's
    logits as they are; starting from zeros would leave 0.1 t_i after it, which a short warm-up
    never outgrows), then e_i <- beta e_i + (1 - beta) t_i with beta = ``ema_beta_warmup`` before
    ``start_epoch`` and ``ema_beta`` after; pi_k = (#{i: argmax_k e_i = k} + floor) / (N + K floor),
    re-estimated at ``start_epoch`` and every ``refresh_every`` epochs after. Before the first
    estimate pi is uniform. ``pretrain`` passes t = the mean of the two views' geometric logits;
    the official code uses view 1 only. We keep the mean on purpose: both views estimate the same
    per-image quantity and their mean has half the variance from augmentation, so pi is steadier.
    """

    def __init__(self, num_samples: int, config: GHConfig, proj_dim: int, epochs: int, device):
        k = config.num_vertices if config.num_vertices is not None else min(100, proj_dim + 1)
        self.config = config
        self.start_epoch = config.start_epoch if config.start_epoch is not None else epochs // 2
        self.etf = simplex_etf(k, proj_dim, seed=config.seed).to(device)
        self.ema = torch.zeros(num_samples, k, device=device)
        self.seen = torch.zeros(num_samples, dtype=torch.bool, device=device)  # updated at least once
        self.prior = torch.full((k,), 1.0 / k, device=device)
        self.prior_history: list[tuple[int, torch.Tensor]] = []

    @property
    def num_vertices(self) -> int:
        return self.etf.shape[0]

    def weight(self, epoch: int) -> float:
        return gh_weight(epoch, self.start_epoch, self.config.ramp_epochs, self.config.weight)

    def update(self, index: torch.Tensor, t: torch.Tensor, epoch: int) -> None:
        beta = self.config.ema_beta_warmup if epoch < self.start_epoch else self.config.ema_beta
        t = t.detach().float()
        # torch.where, not a Python branch on the mask: no host sync per step.
        self.ema[index] = torch.where(self.seen[index].unsqueeze(1), beta * self.ema[index] + (1 - beta) * t, t)
        self.seen[index] = True

    def estimate_prior(self) -> torch.Tensor:
        k = self.num_vertices
        counts = torch.bincount(self.ema.argmax(1), minlength=k).float() + self.config.floor
        return counts / counts.sum()

    def start_of_epoch(self, epoch: int) -> None:
        s, r = self.start_epoch, self.config.refresh_every
        if epoch >= s and (epoch - s) % r == 0:
            self.prior = self.estimate_prior()
            self.prior_history.append((epoch, self.prior.detach().cpu()))
