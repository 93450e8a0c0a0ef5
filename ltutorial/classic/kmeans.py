"""k-means in torch (COG, notebook 04): Lloyd's iterations minimising sum_i ||x_i - c_l(i)||^2, k-means++ seeding."""

from dataclasses import dataclass

import numpy as np
import torch

from ltutorial._validation import check_positive_int, make_generator
from ltutorial.sampling.base import like_input, resolve_device


@dataclass
class KMeansResult:
    centers: object  # k x d, the type of the input X
    labels: object  # n, int64, the type of the input X
    inertia: float  # sum of squared distances to the assigned centres


def kmeans(X, n_clusters: int, *, n_init: int = 3, random_state=None, device=None) -> KMeansResult:
    """The best of ``n_init`` k-means++ starts of Lloyd's iterations, in float32 on ``device`` (None: where X lives)."""
    k, n_init = check_positive_int(n_clusters, name="n_clusters"), check_positive_int(n_init, name="n_init")
    is_numpy = not isinstance(X, torch.Tensor)
    if is_numpy and np.asarray(X).dtype.kind not in "biuf":
        raise ValueError(f"X must be numeric; got dtype {np.asarray(X).dtype} instead.")
    Xt = torch.from_numpy(np.ascontiguousarray(X)) if is_numpy else X.detach()
    if Xt.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(Xt.shape)} instead.")
    if Xt.shape[0] < k:
        raise ValueError(f"n_clusters must be <= the number of samples ({Xt.shape[0]}); got {k} instead.")
    Xw = Xt.to(device=resolve_device(device, X), dtype=torch.float32)
    if not bool(torch.isfinite(Xw).all()):
        raise ValueError("X must not contain NaN or infinite values; got some instead.")
    # centred: ||x||^2 - 2 x.c + ||c||^2 in float32 cancels away unit distances at large offsets (1e4 + noise)
    mean = Xw.mean(dim=0)
    Xw, gen, best = Xw - mean, make_generator(random_state), None
    for _ in range(n_init):
        res = lloyd(Xw, plus_plus(Xw, k, gen))
        # better by more than float noise: else CPU and GPU could pick the same solution with permuted labels
        if best is None or res[2] < best[2] * (1 - 1e-5):
            best = res
    centers, labels, inertia = best
    return KMeansResult(like_input(centers + mean, X), like_input(labels, X), inertia)


def lloyd(X: torch.Tensor, centers: torch.Tensor, n_iter: int = 100, tol: float = 1e-6):
    """Lloyd's iterations: assign each point to its nearest centre, move each centre to its points' mean."""
    k, converged = centers.shape[0], False
    scale = float(X.var(dim=0).mean()) if X.shape[0] > 1 else 1.0
    for it in range(n_iter + 1):  # the last pass only assigns
        d = sq_dists(X, centers)
        labels = d.argmin(dim=1)
        if converged or it == n_iter:
            return centers, labels, float(d.gather(1, labels.unsqueeze(1)).sum())
        counts = torch.bincount(labels, minlength=k)
        new = torch.zeros_like(centers).index_add_(0, labels, X) / counts.clamp_min(1).unsqueeze(1).to(X.dtype)
        empty = counts == 0
        if bool(empty.any()):  # an empty cluster takes the points farthest from their centres, as in sklearn
            new[empty] = X[d.gather(1, labels.unsqueeze(1)).squeeze(1).topk(int(empty.sum())).indices]
        converged, centers = float(((new - centers) ** 2).sum()) <= tol * scale, new


def plus_plus(X: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ (Arthur & Vassilvitskii 2007): each next centre drawn with probability ~ D(x)^2."""
    first = int(torch.randint(0, X.shape[0], (1,), generator=gen))
    centers, closest = [X[first]], sq_dists(X, X[first : first + 1]).squeeze(1)
    for _ in range(1, k):
        w = closest.double().cpu()
        # every point on a centre already (duplicates): a uniform draw among them
        nxt = int(torch.multinomial(w if float(w.sum()) > 0 else torch.ones_like(w), 1, generator=gen))
        centers.append(X[nxt])
        closest = torch.minimum(closest, sq_dists(X, X[nxt : nxt + 1]).squeeze(1))
    return torch.stack(centers)


def sq_dists(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ||x||^2 - 2 x.c + ||c||^2, clamped at 0."""
    return (torch.addmm((X * X).sum(1, keepdim=True), X, C.T, beta=1.0, alpha=-2.0) + (C * C).sum(1)).clamp_min_(0)
