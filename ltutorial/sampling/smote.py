"""SMOTE (Chawla, Bowyer, Hall & Kegelmeyer, JAIR 2002) in torch, drawn as imbalanced-learn draws: notebook 02.

    X_new = X[base] + u * (X[neighbour] - X[base]),    u ~ U[0, 1)

per over-sampled class: ``base`` uniform with replacement, ``neighbour`` one of its k nearest same-class rows.
X comes out first, then the new rows by class."""

from numbers import Integral

import numpy as np
import torch
from imblearn import over_sampling
from scipy import sparse
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn_compat.utils.validation import validate_data

from ltutorial.sampling.base import (DEVICE_CONSTRAINT, TorchSamplerMixin, plain_labels, resolve_device, rows_of,
                                     torch_generator)
from ltutorial.sampling.neighbors import cpu_workers, drawn_neighbours, empty_rows, run_blocks


def smote_class(Xc: torch.Tensor, n_new: int, k: int, gen: torch.Generator, out: torch.Tensor, *, pool=None,
                neighbours: torch.Tensor | None = None) -> None:
    """Write ``n_new`` points of the class ``Xc`` into ``out``; ``neighbours`` (n_c, k): given, or searched."""
    n_c, dev = Xc.shape[0], Xc.device
    pick = torch.randint(0, n_c * k, (n_new,), generator=gen).to(dev)  # a base and one of its k neighbours
    u = torch.rand(n_new, 1, generator=gen, dtype=Xc.dtype).to(dev)
    base, slot = pick // k, pick % k
    neighbour = drawn_neighbours(Xc, k, base, slot, pool) if neighbours is None else neighbours.to(dev)[base, slot]
    same = out.dtype == Xc.dtype

    def equation(s: slice) -> None:  # X[base] + u * (X[neighbour] - X[base]) (lerp), one cache-sized block
        x = torch.index_select(Xc, 0, base[s], out=out[s]) if same else Xc.index_select(0, base[s])
        x.lerp_(Xc.index_select(0, neighbour[s]), u[s])
        if not same:
            out[s].copy_(x)  # integer X: the new values are truncated to X's dtype, as in imbalanced-learn

    run_blocks(equation, n_new, out.shape[1], 2**18, pool)


class SMOTE(TorchSamplerMixin, over_sampling.SMOTE):
    """Synthetic Minority Over-sampling TEchnique: imbalanced-learn's, drawn in torch; sparse X is refused.

    ``k_neighbors``: an int (exact search on ``device``; None: where X lives) or a nearest-neighbours object. Draws
    on the CPU: one seed gives the same points on CPU and GPU."""

    # our search calls kneighbors only (imbalanced-learn's also asks for kneighbors_graph)
    _parameter_constraints: dict = {**over_sampling.SMOTE._parameter_constraints, "device": DEVICE_CONSTRAINT,
                                    "k_neighbors": [Interval(Integral, 1, None, closed="left"),
                                                    HasMethods(["kneighbors"])]}

    def __init__(self, sampling_strategy="auto", k_neighbors=5, random_state=None, device=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.k_neighbors, self.random_state, self.device = k_neighbors, random_state, device

    def _resample_tensors(self, X: torch.Tensor, y: np.ndarray, *, checked: bool = False):
        """X (original rows, then the synthetic ones) and its labels; ``checked``: X is known 2-D and finite."""
        if not checked and X.ndim != 2:  # numpy input passed scikit-learn's checks already
            raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)} instead.")
        # one sum, not an N x d mask, unless the sum overflows or is not finite
        if not checked and X.is_floating_point() and not (torch.isfinite(X.sum()) or torch.isfinite(X).all()):
            raise ValueError(f"Input X contains NaN or infinity; SMOTE needs finite features: got "
                             f"{int((~torch.isfinite(X).all(dim=1)).sum())} row(s) with NaN or inf instead.")
        targets = [(c, int(n), rows_of(y, c, X.device)) for c, n in self.sampling_strategy_.items() if n > 0]
        use_object = not isinstance(self.k_neighbors, Integral)
        if use_object:
            self._validate_estimator()  # imbalanced-learn's: nn_k_, a clone of the object
        else:
            self.__dict__.pop("nn_k_", None)  # a refit with an int k_neighbors keeps no earlier object
        if not use_object and (small := [(c, r.numel()) for c, _, r in targets if r.numel() <= self.k_neighbors]):
            k, (label, n_c) = self.k_neighbors, small[0]
            raise ValueError(f"class {np.asarray(label).tolist()!r} has {n_c} sample(s) but SMOTE with k_neighbors={k} "
                             f"needs at least k_neighbors + 1 = {k + 1} samples in every class it over-samples; "
                             "lower k_neighbors or leave that class out of sampling_strategy.")
        gen = torch_generator(self.random_state)
        (n, d), self.n_synthetic_ = X.shape, sum(n_new for _, n_new, _ in targets)
        X_out, pos = empty_rows(n + self.n_synthetic_, d, X.dtype, X.device), n
        work = torch.float32 if X.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.uint8, torch.int8,
                                            torch.int16) else torch.float64  # holds X's values exactly
        with cpu_workers(X.device) as pool:
            run_blocks(lambda s: X_out[:n][s].copy_(X[s]), n, d, 2**20, pool)
            for _, n_new, rows in targets:
                Xc, nn = X[rows].to(work), None
                if use_object:  # the user's object, fitted per class; its first neighbour (the point itself) dropped
                    self.nn_k_.fit(X_np := Xc.cpu().numpy())
                    nn = torch.from_numpy(self.nn_k_.kneighbors(X_np, return_distance=False)[:, 1:].copy())
                k = int(self.k_neighbors) if nn is None else nn.shape[1]
                smote_class(Xc, n_new, k, gen, X_out[pos : pos + n_new], pool=pool, neighbours=nn)
                pos += n_new
        return X_out, np.concatenate([y] + [np.full(n_new, c, dtype=y.dtype) for c, n_new, _ in targets])

    def _fit_resample(self, X, y):
        X_t = torch.from_numpy(np.ascontiguousarray(X)).to(resolve_device(self.device, X))
        X_out, y_out = self._resample_tensors(X_t, y, checked=True)
        return X_out.cpu().numpy(), y_out

    def _check_X_y(self, X, y, accept_sparse=None):
        """imbalanced-learn's, refusing sparse X in one line, without the label-type pass for plain labels."""
        if sparse.issparse(X):
            raise ValueError(f"{type(self).__name__} does not support sparse X (scipy.sparse): its torch kernel works "
                             f"on dense rows; got a {type(X).__name__} instead. Pass X.toarray().")
        if not plain_labels(y):
            return super()._check_X_y(X, y, accept_sparse=False)
        return (*validate_data(self, X=X, y=y, reset=True, accept_sparse=False), False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

