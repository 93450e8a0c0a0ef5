"""SMOTE (Chawla et al., JAIR 2002) in torch: k nearest same-class neighbours, then interpolation.

Each synthetic point is ``x + u * (x_nn - x)`` with ``u ~ U[0, 1)`` and ``x_nn`` one of the
``k_neighbors`` nearest neighbours of ``x`` inside its own class. As in imbalanced-learn, a
base sample and a neighbour slot are drawn uniformly with replacement for each new point, and the
output is the original samples (unchanged, in order) followed by the synthetic ones, class by
class in sorted class order. Notebook 02 uses it; ``benchmarks/smote.py`` times it.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch

from ltutorial._validation import check_positive_int, make_generator
from ltutorial.sampling.base import BaseSampler, class_indices, output_X, output_y_append

# Entries of one block of the distance matrix (float32). On the CPU a block that stays in cache
# (4 MiB) made matrix product + topk about 2x faster than one big block (measured, 4000 x 32);
# on a GPU fewer, larger blocks mean fewer kernel launches (512 MiB).
BLOCK_ELEMENTS = {"cpu": 2**20, "cuda": 2**27}
_DEFAULT_BLOCK = 2**22
# CPU work is cut into at least this many tasks per worker, so a worker whose core is taken by
# another process does fewer of them instead of holding the others up at a barrier.
_TASKS_PER_WORKER = 4


def _run(tasks, pool) -> None:
    """Run the zero-argument callables ``tasks``: on the pool's workers, or in order without one."""
    if pool is None:
        for task in tasks:
            task()
    else:
        # list() waits for all of them and re-raises the first error
        list(pool.executor.map(lambda task: task(), tasks))


class Workers(NamedTuple):
    """A thread pool and its number of workers."""

    executor: ThreadPoolExecutor
    n: int


@contextmanager
def cpu_workers(device: torch.device):
    """``Workers``: ``torch.get_num_threads()`` single-threaded workers for CPU work (else None).

    Why: torch's intra-op threads split every operation evenly and wait for each other after it,
    so on a loaded machine one descheduled thread stalls every matrix product, ``topk`` and copy.
    Independent blocks on single-threaded workers are taken dynamically (as scikit-learn's
    neighbour search does), which keeps both cores busy whatever else runs. torch's thread count
    is set to 1 inside the block and restored on exit (also on errors).
    """
    n = torch.get_num_threads()
    if device.type != "cpu" or n <= 1:
        yield None
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="ltutorial-smote") as executor:
            yield Workers(executor, n)
    finally:
        torch.set_num_threads(n)


def _block_rows(n_rows: int, per_row: int, block_elements: int, pool) -> int:
    """Rows per task: at most ``block_elements`` entries, and enough tasks to balance the workers."""
    rows = max(1, block_elements // max(per_row, 1))
    if pool is not None:
        rows = min(rows, math.ceil(n_rows / (_TASKS_PER_WORKER * pool.n)))
    return max(1, min(rows, n_rows))


def kneighbors(X: torch.Tensor, k: int, *, rows: torch.Tensor | None = None, block_elements: int | None = None,
               pool=None) -> torch.Tensor:
    """Indices of the k nearest other rows of ``X`` (Euclidean), nearest first: (n, k), or (len(rows), k).

    ``rows`` (int64 indices into X, None: all) limits the search to the rows whose neighbours are
    needed; each row is still compared with every row of X. Computed block by block from
    ``|x_j|^2 - 2 x_i . x_j`` (the row's own ``|x_i|^2`` does not change the ranking) with one
    matrix product and ``topk`` per block, so memory stays at ``block_elements`` floats per block
    (None: a per-device default). The rows are centred first: distances do not change, but the
    float32 cancellation error of the expansion shrinks. ``pool``: see ``cpu_workers``.
    """
    n = X.shape[0]
    if block_elements is None:
        block_elements = BLOCK_ELEMENTS.get(X.device.type, _DEFAULT_BLOCK)
    if k >= n:
        raise ValueError(f"k must be smaller than the number of rows ({n}); got k={k} instead.")
    Xc = X - X.mean(dim=0, keepdim=True)
    sq = (Xc * Xc).sum(dim=1).unsqueeze(0)
    XcT = Xc.T
    query = torch.arange(n, device=X.device) if rows is None else rows.to(device=X.device, dtype=torch.long)
    m = query.shape[0]
    out = torch.empty(m, k, dtype=torch.long, device=X.device)
    step = _block_rows(m, n, block_elements, pool)

    def block(start: int) -> None:
        stop = min(m, start + step)
        q = query[start:stop]
        A = Xc[start:stop] if rows is None else Xc.index_select(0, q)
        d = torch.addmm(sq, A, XcT, beta=1.0, alpha=-2.0)
        # a point is not its own neighbour (masking beats dropping column 0, which breaks on duplicates)
        d[torch.arange(stop - start, device=X.device), q] = float("inf")
        torch.topk(d, k, dim=1, largest=False, sorted=True, out=(torch.empty(0, device=X.device), out[start:stop]))

    _run([lambda s=s: block(s) for s in range(0, m, step)], pool)
    return out


def _allocate(n_rows: int, d: int, device: torch.device) -> torch.Tensor:
    # On the CPU through numpy: it asks the kernel for transparent huge pages on large arrays, so
    # the first write into the (often GB-sized) output costs far fewer page faults than torch.empty.
    if device.type == "cpu":
        return torch.from_numpy(np.empty((n_rows, d), dtype=np.float32))
    return torch.empty(n_rows, d, dtype=torch.float32, device=device)


class SMOTE(BaseSampler):
    """Synthetic Minority Over-sampling TEchnique (Chawla, Bowyer, Hall & Kegelmeyer, JAIR 2002).

    New point = ``x + u (x_nn - x)``, u ~ U[0, 1), x_nn among the ``k_neighbors`` nearest
    same-class neighbours of a base sample x drawn uniformly with replacement (imbalanced-learn's
    scheme). ``sampling_strategy`` has imbalanced-learn's meaning (see ``check_sampling_strategy``).
    Works in float32 on ``device`` (None: where X lives; numpy: CPU); returns X (float32) and y
    as the type (and on the device) they came in. Random draws come from a CPU
    ``torch.Generator`` seeded with ``random_state``, so the same seed gives the same points on the
    CPU and on a GPU (up to float32 near-ties between neighbours). Neighbours are searched only
    for the samples drawn as bases. On the CPU the work runs on ``torch.get_num_threads()``
    single-threaded workers (see ``cpu_workers``; torch's thread count is restored afterwards).

    Fitted attributes: ``sampling_strategy_`` (class -> number of new samples, like imblearn),
    ``n_synthetic_`` (total new samples), ``classes_``, ``n_features_in_``.
    Notebook 02.
    """

    _sampling_type = "over-sampling"

    def __init__(self, sampling_strategy="auto", k_neighbors: int = 5, random_state=None, device=None):
        self.sampling_strategy = sampling_strategy
        self.k_neighbors = k_neighbors
        self.random_state = random_state
        self.device = device

    def fit_resample(self, X, y):
        k = check_positive_int(self.k_neighbors, name="k_neighbors")
        p, strategy = self._prepare(X, y, require_2d=True, float32=True)
        for label, n_new in strategy.items():
            n_c = p.counts[p.classes.index(label)]
            if n_new > 0 and n_c < k + 1:
                raise ValueError(
                    f"class {label!r} has {n_c} sample(s) but SMOTE with k_neighbors={k} needs at least "
                    f"k_neighbors + 1 = {k + 1} samples in every class it over-samples; lower k_neighbors "
                    "or leave that class out of sampling_strategy."
                )
        gen = make_generator(self.random_state)  # CPU: identical draws on every device
        dev = p.X.device
        n, d = p.X.shape
        total = sum(strategy.values())
        X_out = _allocate(n + total, d, dev)
        extra = []
        with cpu_workers(dev) as pool:
            step = _block_rows(n, d, 2**20, pool)
            _run([lambda s=s: X_out[s : min(n, s + step)].copy_(p.X[s : s + step]) for s in range(0, n, step)], pool)
            pos = n
            for label, n_new in strategy.items():
                if n_new == 0:
                    continue
                Xc = p.X[class_indices(p, label)]
                n_c = Xc.shape[0]
                pick = torch.randint(0, n_c * k, (n_new,), generator=gen).to(dev)
                gap = torch.rand(n_new, 1, generator=gen).to(dev)
                base, slot = pick // k, pick % k
                # neighbours only of the samples drawn as bases (about half of a class that grows
                # by less than its size), mapped back through each base's row in that search
                used = torch.zeros(n_c, dtype=torch.bool, device=dev)
                used[base] = True
                rows = used.nonzero().squeeze(1)
                where = torch.empty(n_c, dtype=torch.long, device=dev)
                where[rows] = torch.arange(rows.shape[0], device=dev)
                nn = kneighbors(Xc, k, rows=rows, pool=pool)
                neighbour = nn[where[base], slot]
                self._interpolate(Xc, base, neighbour, gap, X_out[pos : pos + n_new], pool)
                extra.append((label, n_new))
                pos += n_new
        self.sampling_strategy_ = strategy
        self.n_synthetic_ = int(total)
        self.classes_ = list(p.classes)
        self.n_features_in_ = int(d)
        return output_X(p, X_out), output_y_append(p, extra)

    @staticmethod
    def _interpolate(Xc, base, neighbour, gap, out, pool) -> None:
        """``out = lerp(Xc[base], Xc[neighbour], gap)`` in cache-sized row blocks, written in place."""
        m, d = out.shape
        step = _block_rows(m, d, 2**18, pool)

        def block(s: int) -> None:
            o = out[s : s + step]
            torch.index_select(Xc, 0, base[s : s + step], out=o)
            o.lerp_(Xc.index_select(0, neighbour[s : s + step]), gap[s : s + step])

        _run([lambda s=s: block(s) for s in range(0, m, step)], pool)
