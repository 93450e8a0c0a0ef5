"""Exact k-nearest-neighbour search in torch, block by block, for SMOTE (any device).

``kneighbors(X, k)`` is the one entry point: the indices of the k nearest other rows of every row
(Euclidean), from one matrix product and one ``topk`` per block of rows. ``cpu_workers`` and
``run_tasks`` spread the blocks over single-threaded CPU workers (see ``cpu_workers`` for why).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral
from typing import NamedTuple

import torch

# Entries of one block of the distance matrix (float32). On the CPU a block that stays in cache
# (4 MiB) made matrix product + topk about 2x faster than one big block (measured, 4000 x 32);
# on a GPU fewer, larger blocks mean fewer kernel launches (512 MiB).
BLOCK_ELEMENTS = {"cpu": 2**20, "cuda": 2**27}
DEFAULT_BLOCK = 2**22
# CPU work is cut into at least this many tasks per worker, so a worker whose core is taken by
# another process does fewer of them instead of holding the others up at a barrier.
TASKS_PER_WORKER = 4


class Workers(NamedTuple):
    """A thread pool and its number of workers."""

    executor: ThreadPoolExecutor
    n: int


def run_tasks(tasks, pool) -> None:
    """Run the zero-argument callables ``tasks``: on the pool's workers, or in order without one."""
    if pool is None:
        for task in tasks:
            task()
    else:
        # list() waits for all of them and re-raises the first error
        list(pool.executor.map(lambda task: task(), tasks))


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


def block_rows(n_rows: int, per_row: int, block_elements: int, pool) -> int:
    """Rows per task: at most ``block_elements`` entries, and enough tasks to balance the workers."""
    rows = max(1, block_elements // max(per_row, 1))
    if pool is not None:
        rows = min(rows, math.ceil(n_rows / (TASKS_PER_WORKER * pool.n)))
    return max(1, min(rows, n_rows))


def kneighbors(X: torch.Tensor, k: int, *, rows: torch.Tensor | None = None, block_elements: int | None = None,
               pool=None) -> torch.Tensor:
    """Indices of the k nearest other rows of ``X`` (Euclidean), nearest first: (n, k), or (len(rows), k).

    ``rows`` (int64 indices into X, None: all) limits the search to the rows whose neighbours are
    needed; each row is still compared with every row of X. Computed block by block from
    ``|x_j|^2 - 2 x_i . x_j`` (the row's own ``|x_i|^2`` does not change the ranking) with one
    matrix product and ``topk`` per block, so memory stays at ``block_elements`` floats per block
    (None: a per-device default). The rows are centred first: distances do not change, but the
    cancellation error of the expansion shrinks. ``pool``: see ``cpu_workers``.
    """
    n = X.shape[0]
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be a positive int (the number of neighbours per row); got {k!r} instead.")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of rows ({n}); got k={k} instead.")
    if block_elements is None:
        block_elements = BLOCK_ELEMENTS.get(X.device.type, DEFAULT_BLOCK)
    Xc = X - X.mean(dim=0, keepdim=True)
    sq = (Xc * Xc).sum(dim=1).unsqueeze(0)
    XcT = Xc.T
    query = torch.arange(n, device=X.device) if rows is None else rows.to(device=X.device, dtype=torch.long)
    m = query.shape[0]
    out = torch.empty(m, k, dtype=torch.long, device=X.device)
    step = block_rows(m, n, block_elements, pool)

    def block(start: int) -> None:
        stop = min(m, start + step)
        q = query[start:stop]
        A = Xc[start:stop] if rows is None else Xc.index_select(0, q)
        d = torch.addmm(sq, A, XcT, beta=1.0, alpha=-2.0)
        # a point is not its own neighbour (masking beats dropping column 0, which breaks on duplicates)
        d[torch.arange(stop - start, device=X.device), q] = float("inf")
        torch.topk(d, k, dim=1, largest=False, sorted=True, out=(torch.empty(0, dtype=X.dtype, device=X.device),
                                                                 out[start:stop]))

    run_tasks([lambda s=s: block(s) for s in range(0, m, step)], pool)
    return out
