"""Random over-sampling (replication or a smoothed bootstrap) and random under-sampling, as imbalanced-learn's.

Replication is SMOTE's baseline (Chawla et al. 2002, notebook 02). Rows are picked in torch, so X may hold what
imbalanced-learn accepts (NaN, strings, sparse, images) and keeps its dtype."""

from collections.abc import Mapping
from numbers import Real

import numpy as np
import torch
from imblearn import over_sampling, under_sampling
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval
from sklearn_compat.utils.validation import check_array, validate_data  # imbalanced-learn's scikit-learn shim

from ltutorial.sampling.base import DEVICE_CONSTRAINT, TorchSamplerMixin, plain_labels, rows_of, torch_generator


class RowSampler(TorchSamplerMixin):
    """Put before imbalanced-learn's random sampler (its parameters and tags): ``_indices(y, gen)`` picks the rows."""

    def _fit_resample(self, X, y):
        """imbalanced-learn's hook, and the tensor path (X on the compute device): the rows ``_indices`` picks."""
        gen = torch_generator(self.random_state)
        self.sample_indices_ = idx = self._indices(y, gen).numpy()
        return self._rows_out(X, idx, y, gen), y[idx]

    _resample_tensors = _fit_resample

    def _rows_out(self, X, idx: np.ndarray, y: np.ndarray, gen):
        return X[torch.from_numpy(idx).to(X.device)] if isinstance(X, torch.Tensor) else _safe_indexing(X, idx)

    def _check_X_y(self, X, y):
        """imbalanced-learn's check for row-selecting samplers (no dtype or finiteness check), N-D arrays allowed."""
        y, binarize_y = (y, False) if plain_labels(y) else check_target_type(y, indicate_one_vs_all=True)
        if not (hasattr(X, "iloc") and hasattr(X, "columns")):  # a DataFrame is indexed as it is
            X = check_array(X, dtype=None, accept_sparse=["csr", "csc"], ensure_all_finite=False, allow_nd=True)
        validate_data(self, X=X, y=y, reset=True, skip_check_array=True)
        return X, y, binarize_y


class RandomOverSampler(RowSampler, over_sampling.RandomOverSampler):
    """Append ``sampling_strategy_[c]`` rows of each class c, drawn with replacement (``sample_indices_``: sources).

    ``shrinkage`` (a float or ``{class: float}``): imbalanced-learn's smoothed bootstrap, new row + N(0, (shrinkage
    * h * std_c)^2) per feature, h = (4 / ((d + 2) n))^(1 / (d + 4)) (Silverman); integer X turns float64."""

    _parameter_constraints: dict = {**over_sampling.RandomOverSampler._parameter_constraints,
                                    "device": DEVICE_CONSTRAINT,  # any Mapping of shrinkages (imbalanced-learn: dict)
                                    "shrinkage": [Interval(Real, 0, None, closed="left"), Mapping, None]}

    def __init__(self, sampling_strategy="auto", random_state=None, device=None, shrinkage=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state, self.device, self.shrinkage = random_state, device, shrinkage

    def _indices(self, y: np.ndarray, gen) -> torch.Tensor:
        parts = [torch.arange(len(y))]
        for label, n_new in self.sampling_strategy_.items():
            idx = rows_of(y, label, torch.device("cpu"))
            parts.append(idx[torch.randint(0, idx.numel(), (int(n_new),), generator=gen)])
        return torch.cat(parts)

    def _rows_out(self, X, idx: np.ndarray, y: np.ndarray, gen):
        """The selected rows; with ``shrinkage``, N(0, (shrinkage * h * std_c)^2) noise on the new ones."""
        if self.shrinkage is None:
            self.shrinkage_ = None
            return super()._rows_out(X, idx, y, gen)
        self.shrinkage_ = factors = (dict(self.shrinkage) if isinstance(self.shrinkage, Mapping)
                                     else dict.fromkeys(self.sampling_strategy_, float(self.shrinkage)))
        if missing := set(self.sampling_strategy_) - set(factors):
            raise ValueError("shrinkage must give a factor for every class that is resampled; "
                             f"got none for {np.asarray(sorted(missing)).tolist()!r}.")
        if bad := {c: s for c, s in factors.items() if not (isinstance(s, Real) and s >= 0)}:
            raise ValueError(f"shrinkage factors must be numbers >= 0; got {bad!r} instead.")
        Xt = X
        if not isinstance(X, torch.Tensor):
            try:
                X = check_array(X, accept_sparse=["csr", "csc"], dtype="numeric")
            except ValueError as err:
                raise ValueError("shrinkage needs finite numeric X (the smoothed bootstrap adds noise); "
                                 f"got X that is not: {err}") from None
            Xt = torch.from_numpy(np.ascontiguousarray(X.toarray() if sparse.issparse(X) else X))
        if Xt.ndim != 2:
            raise ValueError(f"shrinkage needs 2-D X (n_samples, n_features); got shape {tuple(Xt.shape)} instead.")
        n, d = Xt.shape
        Xt = Xt if Xt.is_floating_point() else Xt.double()  # noise on integers would wrap: float64, as imblearn
        h = (4 / ((d + 2) * n)) ** (1 / (d + 4))
        out, pos = Xt[torch.from_numpy(idx).to(Xt.device)], n  # advanced indexing copies
        for label, n_new in self.sampling_strategy_.items():
            scale = factors[label] * h * Xt[rows_of(y, label, Xt.device)].double().std(dim=0, unbiased=False)
            noise = torch.randn(int(n_new), d, generator=gen, dtype=torch.float64).to(Xt.device) * scale
            out[pos : pos + n_new].copy_(out[pos : pos + n_new].double() + noise)
            pos += n_new
        if isinstance(X, torch.Tensor):
            return out
        return sparse.csr_matrix(out.numpy()).asformat(X.format) if sparse.issparse(X) else out.numpy()


class RandomUnderSampler(RowSampler, under_sampling.RandomUnderSampler):
    """Keep ``sampling_strategy_[c]`` random rows of each class c, by class, in order (``sample_indices_``: sources)."""

    _parameter_constraints: dict = {**under_sampling.RandomUnderSampler._parameter_constraints,
                                    "device": DEVICE_CONSTRAINT}

    def __init__(self, sampling_strategy="auto", random_state=None, device=None, replacement=False):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state, self.device, self.replacement = random_state, device, replacement

    def _indices(self, y: np.ndarray, gen) -> torch.Tensor:
        parts = []
        for label in np.unique(y):
            idx = rows_of(y, label, torch.device("cpu"))
            if label in self.sampling_strategy_:
                n_keep = int(self.sampling_strategy_[label])
                keep = (torch.randint(0, idx.numel(), (n_keep,), generator=gen) if self.replacement
                        else torch.randperm(idx.numel(), generator=gen)[:n_keep])
                idx = idx[keep.sort().values]  # keep the original order inside the class
            parts.append(idx)
        return torch.cat(parts)
