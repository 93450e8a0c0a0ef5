"""SMOTE (Chawla, Bowyer, Hall & Kegelmeyer, JAIR 2002) in torch, drawn as imbalanced-learn draws: notebook 02.

For each over-sampled class: the k nearest same-class neighbours, then n_new points

    X_new = X[base] + u * (X[neighbour] - X[base]),    u ~ U[0, 1)

with ``base`` uniform with replacement and ``neighbour`` one of its k. Output: X, then the new rows by class.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from imblearn.over_sampling.base import BaseOverSampler
from scipy import sparse
from sklearn.utils._param_validation import Interval

from ltutorial.sampling.base import (DEVICE_CONSTRAINT, TorchSamplerMixin, resolve_device, rows_of, scalar,
                                     torch_generator)
from ltutorial.sampling.neighbors import cpu_workers, empty_rows, kneighbors, run_blocks


def smote_class(Xc: torch.Tensor, n_new: int, k: int, gen: torch.Generator, out: torch.Tensor, *, pool=None) -> None:
    """Write ``n_new`` synthetic points of the class with rows ``Xc`` into ``out``."""
    n_c, dev = Xc.shape[0], Xc.device
    pick = torch.randint(0, n_c * k, (n_new,), generator=gen).to(dev)  # a base and one of its k neighbours
    u = torch.rand(n_new, 1, generator=gen, dtype=Xc.dtype).to(dev)
    base, slot = pick // k, pick % k
    rows, where = torch.unique(base, return_inverse=True)  # search only from the rows drawn as bases
    neighbour = kneighbors(Xc, k, rows=rows, pool=pool)[where, slot]
    same = out.dtype == Xc.dtype

    def equation(s: slice) -> None:  # X[base] + u * (X[neighbour] - X[base]) (lerp), one cache-sized block
        x = torch.index_select(Xc, 0, base[s], out=out[s]) if same else Xc.index_select(0, base[s])
        x.lerp_(Xc.index_select(0, neighbour[s]), u[s])
        if not same:
            out[s].copy_(x)  # integer X: the new values are truncated to X's dtype, as in imbalanced-learn

    run_blocks(equation, n_new, out.shape[1], 2**18, pool)


class SMOTE(TorchSamplerMixin, BaseOverSampler):
    """Synthetic Minority Over-sampling TEchnique, an imbalanced-learn sampler computed in torch (notebook 02).

    Exact Euclidean neighbours on ``device`` (None: where X lives); draws on the CPU: one seed, the same points
    on CPU and GPU. Fitted: ``sampling_strategy_`` (new samples per class), ``n_synthetic_``. No scipy.sparse X.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "k_neighbors": [Interval(Integral, 1, None, closed="left")],
        "device": DEVICE_CONSTRAINT,
    }

    def __init__(self, sampling_strategy="auto", k_neighbors=5, random_state=None, device=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.k_neighbors, self.random_state, self.device = k_neighbors, random_state, device

    def _resample_tensors(self, X: torch.Tensor, y: np.ndarray, *, checked: bool = False):
        """X (original rows, then the synthetic ones) and its labels; ``checked``: X is known 2-D and finite."""
        if not checked and X.ndim != 2:  # numpy input passed scikit-learn's checks already
            raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)} instead.")
        # one sum, not an N x d mask, unless the sum is not finite
        if not checked and X.is_floating_point() and not torch.isfinite(X.sum()) and not torch.isfinite(X).all():
            raise ValueError(f"Input X contains NaN or infinity; SMOTE needs finite features: got "
                             f"{int((~torch.isfinite(X).all(dim=1)).sum())} row(s) with NaN or inf instead.")
        k = int(self.k_neighbors)
        targets = [(c, int(n), rows_of(y, c, X.device)) for c, n in self.sampling_strategy_.items() if n > 0]
        for label, _, rows in targets:  # a point is not its own neighbour
            if rows.numel() < k + 1:
                raise ValueError(f"class {scalar(label)!r} has {rows.numel()} sample(s) but SMOTE with "
                                 f"k_neighbors={k} needs at least k_neighbors + 1 = {k + 1} samples in every class it "
                                 "over-samples; lower k_neighbors or leave that class out of sampling_strategy.")
        gen = torch_generator(self.random_state)
        (n, d), self.n_synthetic_ = X.shape, sum(n_new for _, n_new, _ in targets)
        X_out, pos = empty_rows(n + self.n_synthetic_, d, X.dtype, X.device), n
        with cpu_workers(X.device) as pool:
            run_blocks(lambda s: X_out[:n][s].copy_(X[s]), n, d, 2**20, pool)
            for _, n_new, rows in targets:
                # interpolated in float32 where it holds X's values exactly, else in float64
                Xc = X[rows].to(torch.float32 if X.dtype in FLOAT32_EXACT else torch.float64)
                smote_class(Xc, n_new, k, gen, X_out[pos : pos + n_new], pool=pool)
                pos += n_new
        return X_out, np.concatenate([y] + [np.full(n_new, c, dtype=y.dtype) for c, n_new, _ in targets])

    def _fit_resample(self, X, y):
        """imbalanced-learn's hook: numpy X (dense, validated) and 1-D y in, numpy out."""
        X_t = torch.from_numpy(np.ascontiguousarray(X)).to(resolve_device(self.device, X))
        X_out, y_out = self._resample_tensors(X_t, y, checked=True)
        return X_out.cpu().numpy(), y_out

    def _check_X_y(self, X, y, accept_sparse=None):
        if sparse.issparse(X):  # one line, not imbalanced-learn's: the torch kernel works on dense rows
            raise ValueError(f"{type(self).__name__} does not support sparse X (scipy.sparse): its torch kernel works "
                             f"on dense rows; got a {type(X).__name__} instead. Pass X.toarray().")
        return super()._check_X_y(X, y, accept_sparse=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


FLOAT32_EXACT = {torch.float32, torch.float16, torch.bfloat16, torch.uint8, torch.int8, torch.int16}
