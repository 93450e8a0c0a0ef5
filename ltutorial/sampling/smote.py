"""SMOTE (Chawla et al., JAIR 2002) in torch: k nearest same-class neighbours, then interpolation.

Each synthetic point is ``x + u * (x_nn - x)`` with ``u ~ U[0, 1)`` and ``x_nn`` one of the
``k_neighbors`` nearest neighbours of ``x`` inside its own class. As in imbalanced-learn, a
base sample and a neighbour slot are drawn uniformly with replacement for each new point, and the
output is the original samples (unchanged, in order) followed by the synthetic ones, class by
class in sorted class order. Notebook 02 uses it; ``benchmarks/smote.py`` times it.
"""

from __future__ import annotations

import torch

from ltutorial._validation import check_positive_int, check_random_state, make_generator
from ltutorial.sampling.base import BaseSampler, class_indices, output_X, output_y_append, prepare
from ltutorial.sampling.strategy import resolve_sampling_strategy

# Entries of one block of the distance matrix (float32). On the CPU a block that stays in cache
# (4 MiB) made matrix product + topk about 2x faster than one big block (measured, 4000 x 32);
# on a GPU fewer, larger blocks mean fewer kernel launches (512 MiB).
BLOCK_ELEMENTS = {"cpu": 2**20, "cuda": 2**27}
_DEFAULT_BLOCK = 2**22


def kneighbors(X: torch.Tensor, k: int, *, block_elements: int | None = None) -> torch.Tensor:
    """Indices (n, k) of each row's k nearest other rows of ``X`` (Euclidean), nearest first.

    Computed block by block from ``|x_j|^2 - 2 x_i . x_j`` (the row's own ``|x_i|^2`` does not
    change the ranking) with one matrix product and ``topk`` per block, so memory stays at
    ``block_elements`` floats (None: a per-device default). The rows are centred first: distances
    do not change, but the float32 cancellation error of the expansion shrinks.
    """
    n = X.shape[0]
    if block_elements is None:
        block_elements = BLOCK_ELEMENTS.get(X.device.type, _DEFAULT_BLOCK)
    if k >= n:
        raise ValueError(f"k must be smaller than the number of rows ({n}); got k={k} instead.")
    Xc = X - X.mean(dim=0, keepdim=True)
    sq = (Xc * Xc).sum(dim=1)
    out = torch.empty(n, k, dtype=torch.long, device=X.device)
    rows = max(1, min(n, block_elements // max(n, 1)))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        d = torch.addmm(sq.unsqueeze(0), Xc[start:stop], Xc.T, beta=1.0, alpha=-2.0)
        # a point is not its own neighbour (masking beats dropping column 0, which breaks on duplicates)
        local = torch.arange(stop - start, device=X.device)
        d[local, local + start] = float("inf")
        out[start:stop] = d.topk(k, dim=1, largest=False, sorted=True).indices
    return out


class SMOTE(BaseSampler):
    """Synthetic Minority Over-sampling TEchnique (Chawla, Bowyer, Hall & Kegelmeyer, JAIR 2002).

    New point = ``x + u (x_nn - x)``, u ~ U[0, 1), x_nn among the ``k_neighbors`` nearest
    same-class neighbours of a base sample x drawn uniformly with replacement (imbalanced-learn's
    scheme). ``sampling_strategy`` has imbalanced-learn's meaning (see ``check_sampling_strategy``).
    Works in float32 on ``device`` (None: where X lives; numpy: CPU); returns X (float32) and y
    as the type (and on the device) they came in. Random draws come from a CPU
    ``torch.Generator`` seeded with ``random_state``, so the same seed gives the same points on the
    CPU and on a GPU (up to float32 near-ties between neighbours).

    Fitted attributes: ``sampling_strategy_`` (class -> number of new samples, like imblearn),
    ``n_synthetic_`` (total new samples), ``classes_``, ``n_features_in_``.
    """

    _sampling_type = "over-sampling"

    def __init__(self, sampling_strategy="auto", k_neighbors: int = 5, random_state=None, device=None):
        self.sampling_strategy = sampling_strategy
        self.k_neighbors = k_neighbors
        self.random_state = random_state
        self.device = device

    def fit_resample(self, X, y):
        k = check_positive_int(self.k_neighbors, name="k_neighbors")
        check_random_state(self.random_state)
        p = prepare(X, y, device=self.device, require_2d=True, float32=True)
        strategy = resolve_sampling_strategy(self.sampling_strategy, p.stats(), self._sampling_type, lambda: p.y_np)
        for label, n_new in strategy.items():
            n_c = p.counts[p.classes.index(label)]
            if n_new > 0 and n_c < k + 1:
                raise ValueError(
                    f"class {label!r} has {n_c} sample(s) but SMOTE with k_neighbors={k} needs at least "
                    f"k_neighbors + 1 = {k + 1} samples in every class it over-samples; lower k_neighbors "
                    "or leave that class out of sampling_strategy."
                )
        gen = make_generator(self.random_state)  # CPU: identical draws on every device
        n, d = p.X.shape
        total = sum(strategy.values())
        X_out = torch.empty(n + total, d, dtype=torch.float32, device=p.X.device)
        X_out[:n] = p.X
        extra = []
        pos = n
        for label, n_new in strategy.items():
            if n_new == 0:
                continue
            Xc = p.X[class_indices(p, label)]
            n_c = Xc.shape[0]
            nn = kneighbors(Xc, k)
            pick = torch.randint(0, n_c * k, (n_new,), generator=gen).to(p.X.device)
            gap = torch.rand(n_new, 1, generator=gen).to(p.X.device)
            base, slot = pick // k, pick % k
            # written straight into its slice of the output: no extra n_new x d temporary
            torch.lerp(Xc[base], Xc[nn[base, slot]], gap, out=X_out[pos : pos + n_new])
            extra.append((label, n_new))
            pos += n_new
        self.sampling_strategy_ = strategy
        self.n_synthetic_ = int(total)
        self.classes_ = list(p.classes)
        self.n_features_in_ = int(d)
        return output_X(p, X_out), output_y_append(p, extra)

