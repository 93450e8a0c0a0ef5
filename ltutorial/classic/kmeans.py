"""k-means in torch (Lloyd's iterations, k-means++ seeding), device-agnostic; used by COG."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ltutorial._validation import check_positive_int, check_random_state, make_generator
from ltutorial.sampling.base import resolve_device


@dataclass
class KMeansResult:
    centers: object  # k x d, same type as the input X
    labels: object  # n, int64, same type as the input X
    inertia: float  # sum of squared distances to the assigned center
    n_iter: int


def _sq_dists(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    d = torch.addmm((X * X).sum(1, keepdim=True), X, C.T, beta=1.0, alpha=-2.0) + (C * C).sum(1)
    return d.clamp_min_(0)


def _plus_plus(X: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ (Arthur & Vassilvitskii 2007): each next center drawn with probability ~ D(x)^2."""
    n = X.shape[0]
    first = int(torch.randint(0, n, (1,), generator=gen))
    centers = [X[first]]
    closest = _sq_dists(X, X[first : first + 1]).squeeze(1)
    for _ in range(1, k):
        w = closest.double().cpu()
        # all points on existing centers (duplicates): fall back to a uniform draw among them
        w = w if float(w.sum()) > 0 else torch.ones_like(w)
        nxt = int(torch.multinomial(w, 1, generator=gen))
        centers.append(X[nxt])
        closest = torch.minimum(closest, _sq_dists(X, X[nxt : nxt + 1]).squeeze(1))
    return torch.stack(centers)


def _lloyd(X: torch.Tensor, centers: torch.Tensor, n_iter: int, tol: float):
    k = centers.shape[0]
    scale = float(X.var(dim=0).mean()) if X.shape[0] > 1 else 1.0
    it = 0
    for it in range(1, n_iter + 1):
        d = _sq_dists(X, centers)
        labels = d.argmin(dim=1)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centers).index_add_(0, labels, X)
        new = sums / counts.clamp_min(1).unsqueeze(1).to(X.dtype)
        empty = counts == 0
        if bool(empty.any()):
            # an empty cluster takes the points farthest from their centers (sklearn does the same)
            far = d.gather(1, labels.unsqueeze(1)).squeeze(1).topk(int(empty.sum())).indices
            new[empty] = X[far]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol * scale:
            break
    d = _sq_dists(X, centers)
    labels = d.argmin(dim=1)
    inertia = float(d.gather(1, labels.unsqueeze(1)).sum())
    return centers, labels, inertia, it


def kmeans(X, n_clusters: int, *, n_iter: int = 100, n_init: int = 3, tol: float = 1e-6, random_state=None,
           device=None) -> KMeansResult:
    """Lloyd's k-means minimising sum_i ||x_i - c_{l(i)}||^2, with k-means++ seeding; best of ``n_init``.

    Runs in float32 on ``device`` (None: where X lives). numpy or torch in, the same type out.
    Random draws use a CPU generator seeded with ``random_state`` (same seed, same clusters).
    COG (notebook 04) uses it to split a large class into sub-classes.
    """
    k = check_positive_int(n_clusters, name="n_clusters")
    n_iter = check_positive_int(n_iter, name="n_iter")
    n_init = check_positive_int(n_init, name="n_init")
    check_random_state(random_state)
    is_numpy = not isinstance(X, torch.Tensor)
    if is_numpy:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"X must be numeric; got dtype {arr.dtype} instead.")
        Xt = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        Xt = X.detach()
    if Xt.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(Xt.shape)} instead.")
    if Xt.shape[0] < k:
        raise ValueError(f"n_clusters must be <= the number of samples ({Xt.shape[0]}); got {k} instead.")
    dev = resolve_device(device, X)
    Xw = Xt.to(device=dev, dtype=torch.float32)
    if not bool(torch.isfinite(Xw).all()):
        raise ValueError("X must not contain NaN or infinite values; got some instead.")
    gen = make_generator(random_state)
    best = None
    for _ in range(n_init):
        res = _lloyd(Xw, _plus_plus(Xw, k, gen), n_iter, tol)
        # a later start must be better by more than float noise: equivalent solutions found in
        # another label order would otherwise make CPU and GPU pick different (permuted) labels
        if best is None or res[2] < best[2] * (1 - 1e-5):
            best = res
    centers, labels, inertia, it = best
    if is_numpy:
        return KMeansResult(centers.cpu().numpy(), labels.cpu().numpy(), inertia, it)
    return KMeansResult(centers.to(X.device), labels.to(X.device), inertia, it)
