"""Exact k-nearest-neighbour search in torch (blocks on CPU workers or a GPU) and SMOTE's speed tricks: notebook 02."""

import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from ltutorial._validation import check_positive_int

# Distances per block: on the CPU a block that stays in cache (4 MiB) made matmul + topk about 2x faster than
# one big block (measured, 4000 x 32); on a GPU fewer, larger blocks mean fewer kernel launches.
BLOCK_ELEMENTS = {"cpu": 2**20, "cuda": 2**27}


def kneighbors(X: torch.Tensor, k: int, *, rows: torch.Tensor | None = None, pool=None) -> torch.Tensor:
    """Indices of the k nearest other rows of X (or of ``rows`` only), nearest first, exact (``pool``: cpu_workers).

    Ranked by |x_j|^2 - 2 x_i . x_j on centred rows (smaller cancellation error), in X's dtype: float32 X whose
    groups lie ~1e3 x their spread apart ranks some neighbours wrongly (imbalanced-learn's search is exact); pass such
    data as float64."""
    n = X.shape[0]
    check_positive_int(k, name="k")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of rows ({n}); got k={k} instead.")
    Xc = X - X.mean(dim=0, keepdim=True)
    sq, XcT = (Xc * Xc).sum(dim=1).unsqueeze(0), Xc.T
    query = torch.arange(n, device=X.device) if rows is None else rows.to(device=X.device, dtype=torch.long)
    out = torch.empty(query.shape[0], k, dtype=torch.long, device=X.device)

    def block(s: slice) -> None:
        q = query[s]
        d = torch.addmm(sq, Xc[s] if rows is None else Xc.index_select(0, q), XcT, beta=1.0, alpha=-2.0)
        d[torch.arange(q.shape[0], device=X.device), q] = float("inf")  # not its own neighbour, even if duplicated
        values = torch.empty(0, dtype=d.dtype, device=d.device)  # topk writes the indices straight into out
        torch.topk(d, k, dim=1, largest=False, sorted=True, out=(values, out[s]))

    run_blocks(block, query.shape[0], n, BLOCK_ELEMENTS.get(X.device.type, 2**22), pool)
    return out


def drawn_neighbours(X: torch.Tensor, k: int, base: torch.Tensor, slot: torch.Tensor, pool=None) -> torch.Tensor:
    """The ``slot``-th of the k nearest rows of each ``base`` row, searched from the distinct drawn rows only."""
    used = torch.zeros(X.shape[0], dtype=torch.long, device=X.device).index_fill_(0, base, 1)
    rows, where = used.nonzero().squeeze(1), used.cumsum(0) - 1  # where[r]: r's place in rows
    return kneighbors(X, k, rows=rows, pool=pool)[where[base], slot]


@contextmanager
def cpu_workers(device: torch.device):
    """``(executor, n)``: ``torch.get_num_threads()`` single-threaded CPU workers (None off the CPU or for 1 thread).

    torch's intra-op threads wait for each other after every operation, so on a loaded machine one descheduled
    thread stalls each step; single-threaded workers taking blocks (as scikit-learn does) keep every core busy."""
    n = torch.get_num_threads()
    if device.type != "cpu" or n <= 1:
        yield None
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="ltutorial-smote") as executor:
            yield executor, n
    finally:
        torch.set_num_threads(n)


def run_blocks(fn, n_rows: int, per_row: int, block_elements: int, pool) -> None:
    """``fn(slice)`` over blocks of at most ``block_elements // per_row`` rows, on the pool's workers or in order."""
    step = max(1, block_elements // max(per_row, 1))
    if pool is not None:  # 4 tasks per worker at least, so one whose core another process took does fewer
        step = min(step, math.ceil(n_rows / (4 * pool[1])))
    blocks = [slice(s, s + step) for s in range(0, n_rows, max(1, step))]
    list(map(fn, blocks) if pool is None else pool[0].map(fn, blocks))  # runs all; re-raises the first error


def empty_rows(n_rows: int, d: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised (n_rows, d) tensor; on the CPU from numpy, whose large arrays get transparent huge pages
    (far fewer page faults on the first write into a GB-sized output than torch.empty)."""
    if device.type == "cpu" and dtype != torch.bfloat16:
        return torch.from_numpy(np.empty((n_rows, d), dtype=torch.empty(0, dtype=dtype).numpy().dtype))
    return torch.empty(n_rows, d, dtype=dtype, device=device)
