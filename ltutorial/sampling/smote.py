"""SMOTE (Chawla, Bowyer, Hall & Kegelmeyer, JAIR 2002) in torch: k nearest same-class neighbours, then interpolation.

Each synthetic point of a class is

    X_new = X[base] + u * (X[neighbour] - X[base]),    u ~ U[0, 1)

with ``base`` a sample of that class and ``neighbour`` one of its ``k_neighbors`` nearest
neighbours inside the class. As in imbalanced-learn, a base sample and a neighbour slot are drawn
uniformly with replacement for each new point, and the output is the original samples
(unchanged, in order) followed by the synthetic ones, class by class in sorted class order.
The neighbour search is ``ltutorial.sampling.neighbors.kneighbors``. Notebook 02 uses it;
``benchmarks/smote.py`` times it.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_neighbors_object
from scipy import sparse
from sklearn.utils._param_validation import HasMethods, Interval

from ltutorial.sampling.base import (DEVICE_CONSTRAINT, TensorData, TorchSamplerMixin, resolve_device, rows_of,
                                     torch_generator)
from ltutorial.sampling.neighbors import block_rows, cpu_workers, kneighbors, run_tasks

# Dtypes whose values float32 holds exactly (or that are float32 already) are interpolated in
# float32; float64 and wide integers in float64. The output always has the input's dtype.
_FLOAT32_EXACT = {torch.float32, torch.float16, torch.bfloat16, torch.uint8, torch.int8, torch.int16}


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype distances and interpolations are computed in for X of ``dtype``."""
    return torch.float32 if dtype in _FLOAT32_EXACT else torch.float64


def interpolate(Xc: torch.Tensor, base: torch.Tensor, neighbour: torch.Tensor, gap: torch.Tensor, out: torch.Tensor,
                pool=None) -> None:
    """``out = Xc[base] + gap * (Xc[neighbour] - Xc[base])`` (the SMOTE equation), in cache-sized row blocks."""
    m, d = out.shape
    step = block_rows(m, d, 2**18, pool)
    same = out.dtype == Xc.dtype

    def block(s: int) -> None:
        o = out[s : s + step]
        start = torch.index_select(Xc, 0, base[s : s + step], out=o) if same else Xc.index_select(0, base[s : s + step])
        start.lerp_(Xc.index_select(0, neighbour[s : s + step]), gap[s : s + step])
        if not same:
            o.copy_(start)  # integer X: the new values are truncated to X's dtype, as in imbalanced-learn

    run_tasks([lambda s=s: block(s) for s in range(0, m, step)], pool)


def smote_class(Xc: torch.Tensor, n_new: int, k: int, gen: torch.Generator, out: torch.Tensor, *, pool=None,
                neighbours: torch.Tensor | None = None) -> None:
    """Write ``n_new`` synthetic points of one class (rows ``Xc``) into ``out``.

    ``neighbours``: (n_c, k) neighbour indices from a user's nearest-neighbours object; None: the
    torch search, run only for the samples drawn as bases.
    """
    n_c, dev = Xc.shape[0], Xc.device
    pick = torch.randint(0, n_c * k, (n_new,), generator=gen).to(dev)
    gap = torch.rand(n_new, 1, generator=gen, dtype=Xc.dtype).to(dev)
    base, slot = pick // k, pick % k
    if neighbours is None:
        # neighbours only of the samples drawn as bases (about half of a class that grows by less
        # than its size), mapped back through each base's row in that search
        used = torch.zeros(n_c, dtype=torch.bool, device=dev)
        used[base] = True
        rows = used.nonzero().squeeze(1)
        where = torch.empty(n_c, dtype=torch.long, device=dev)
        where[rows] = torch.arange(rows.shape[0], device=dev)
        neighbour = kneighbors(Xc, k, rows=rows, pool=pool)[where[base], slot]
    else:
        neighbour = neighbours.to(dev)[base, slot]
    interpolate(Xc, base, neighbour, gap, out, pool)


def _allocate(n_rows: int, d: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # On the CPU through numpy: it asks the kernel for transparent huge pages on large arrays, so
    # the first write into the (often GB-sized) output costs far fewer page faults than torch.empty.
    if device.type == "cpu" and dtype != torch.bfloat16:
        return torch.from_numpy(np.empty((n_rows, d), dtype=torch.empty(0, dtype=dtype).numpy().dtype))
    return torch.empty(n_rows, d, dtype=dtype, device=device)


def _check_finite(X: torch.Tensor) -> None:
    # one reduction instead of an N x d boolean mask: NaN and inf propagate into the sum, and only
    # when the sum is not finite (NaN/inf present, or an overflow) is the exact check run
    if not X.is_floating_point() or bool(torch.isfinite(X.sum())):
        return
    bad_rows = ~torch.isfinite(X).all(dim=1)
    if bool(bad_rows.any()):
        raise ValueError(f"Input X contains NaN or infinity; SMOTE needs finite features: got {int(bad_rows.sum())} "
                         "row(s) with NaN or inf instead.")


def refuse_sparse(X, name: str) -> None:
    """The one-line error for scipy.sparse X: the torch kernel works on dense rows."""
    if sparse.issparse(X):
        raise ValueError(f"{name} does not support sparse X (scipy.sparse): its torch kernel works on dense "
                         f"rows; got a {type(X).__name__} instead. Pass X.toarray().")


class SMOTE(TorchSamplerMixin, BaseOverSampler):
    """Synthetic Minority Over-sampling TEchnique (Chawla, Bowyer, Hall & Kegelmeyer, JAIR 2002).

    New point = ``x + u (x_nn - x)``, u ~ U[0, 1), x_nn among the ``k_neighbors`` nearest
    same-class neighbours of a base sample x drawn uniformly with replacement (imbalanced-learn's
    scheme). A scikit-learn estimator and an imbalanced-learn sampler (clone, ``set_params``,
    ``imblearn.pipeline.Pipeline``, ``GridSearchCV``); ``sampling_strategy`` has imbalanced-learn's
    meaning (see ``check_sampling_strategy``).

    ``k_neighbors``: an int (exact Euclidean neighbours from the torch search, on ``device``) or a
    nearest-neighbours object with ``kneighbors`` (fitted or not: it is cloned and fitted on each
    class, and its first neighbour, the point itself, dropped, as in imbalanced-learn).
    ``random_state``: None, an int or a ``numpy.random.RandomState``; the draws come from a CPU
    ``torch.Generator``, so the same seed gives the same points on the CPU and on a GPU (up to
    near-ties between neighbours). ``device``: where to compute (None: where X lives; numpy: CPU).

    Inputs and outputs as in imbalanced-learn: numpy (dtype kept, the original rows first and
    bit-identical), pandas DataFrame/Series (columns and dtypes kept), lists; y as labels, a
    column vector or one-hot. Torch tensors (CPU or CUDA) give tensors on the same device.
    scipy.sparse X is refused with an error (the kernel is dense): pass ``X.toarray()``.
    On the CPU the work runs on ``torch.get_num_threads()`` single-threaded workers
    (``neighbors.cpu_workers``; torch's thread count is restored afterwards).

    Fitted attributes: ``sampling_strategy_`` (class -> number of new samples, like imblearn),
    ``n_synthetic_`` (total new samples), ``n_features_in_`` (and ``feature_names_in_``).
    Notebook 02.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "k_neighbors": [Interval(Integral, 1, None, closed="left"), HasMethods(["kneighbors"])],
        "device": DEVICE_CONSTRAINT,
    }

    def __init__(self, sampling_strategy="auto", k_neighbors=5, random_state=None, device=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.k_neighbors = k_neighbors
        self.random_state = random_state
        self.device = device

    def _check_X_y(self, X, y, accept_sparse=None):
        refuse_sparse(X, type(self).__name__)
        return super()._check_X_y(X, y, accept_sparse=False)

    def _fit_resample(self, X, y):
        """imbalanced-learn's hook: numpy X (dense, validated) and 1-D y in, numpy out."""
        data = TensorData(torch.from_numpy(np.ascontiguousarray(X)).to(resolve_device(self.device, X)), y, None, False)
        X_out, y_out = self._resample_tensors(data, checked=True)
        return X_out.cpu().numpy(), y_out

    def _resample_tensors(self, data: TensorData, *, checked: bool = False):
        """X (original rows, then the synthetic ones) and its labels; ``checked``: X is known 2-D and finite."""
        X = data.X
        if not checked:  # scikit-learn's validate_data checked numpy input already (one pass over X is enough)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)} instead.")
            _check_finite(X)
        strategy = self.sampling_strategy_
        use_object = not isinstance(self.k_neighbors, Integral)
        targets = [(label, int(n_new), rows_of(data, label)) for label, n_new in strategy.items() if n_new > 0]
        if use_object:
            self.nn_k_ = check_neighbors_object("k_neighbors", self.k_neighbors, additional_neighbor=1)
        else:
            self._check_class_sizes(targets)
        gen = torch_generator(self.random_state)  # CPU: identical draws on every device
        n, d = X.shape
        total = int(sum(strategy.values()))
        X_out = _allocate(n + total, d, X.dtype, X.device)
        extra, pos = [], n
        with cpu_workers(X.device) as pool:
            step = block_rows(n, d, 2**20, pool)
            run_tasks([lambda s=s: X_out[s : min(n, s + step)].copy_(X[s : s + step]) for s in range(0, n, step)], pool)
            for label, n_new, rows in targets:
                Xc = X[rows].to(work_dtype(X.dtype))
                nn = self._object_neighbours(Xc) if use_object else None
                k = nn.shape[1] if use_object else int(self.k_neighbors)
                smote_class(Xc, n_new, k, gen, X_out[pos : pos + n_new], pool=pool, neighbours=nn)
                extra.append((label, n_new))
                pos += n_new
        self.n_synthetic_ = total
        return X_out, _append_labels(data, extra)

    def _check_class_sizes(self, targets) -> None:
        """Every over-sampled class needs k_neighbors + 1 samples (a point is not its own neighbour)."""
        k = int(self.k_neighbors)
        for label, _, rows in targets:
            n_c = int(rows.numel())
            if n_c < k + 1:
                label = label.item() if hasattr(label, "item") else label
                raise ValueError(
                    f"class {label!r} has {n_c} sample(s) but SMOTE with k_neighbors={k} needs at least "
                    f"k_neighbors + 1 = {k + 1} samples in every class it over-samples; lower k_neighbors "
                    "or leave that class out of sampling_strategy."
                )

    def _object_neighbours(self, Xc: torch.Tensor) -> torch.Tensor:
        """(n_c, k) neighbours from the user's nearest-neighbours object (on the CPU, numpy)."""
        X_np = Xc.cpu().numpy()
        self.nn_k_.fit(X_np)
        return torch.from_numpy(np.ascontiguousarray(self.nn_k_.kneighbors(X_np, return_distance=False)[:, 1:]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _append_labels(data: TensorData, extra: list):
    """The labels followed by ``n`` copies of ``label`` for each (label, n) in ``extra``."""
    if data.y_device is not None:
        y = data.y_device
        return torch.cat([y] + [torch.full((n,), label.item() if hasattr(label, "item") else label, dtype=y.dtype,
                                           device=y.device) for label, n in extra])
    return np.concatenate([data.y] + [np.full(n, label, dtype=data.y.dtype) for label, n in extra])
