"""Random over-sampling (replication or a smoothed bootstrap) and random under-sampling, imbalanced-learn style.

Replication is the baseline SMOTE is compared with in notebook 02 (Chawla et al. 2002: replicated
minority points make the decision region shrink around them instead of spreading); under-sampling
is the majority-side half of the SMOTE + under-sampling combination. Both only select rows (the
row indices are drawn in torch), so X may hold anything imbalanced-learn accepts (NaN, inf,
strings, scipy.sparse) and keeps its dtype (except the smoothed bootstrap on integer X: float64, as in imbalanced-learn); numpy arrays and tensors may have any number of
dimensions (e.g. N x C x H x W images).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import torch
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.under_sampling.base import BaseUnderSampler
from imblearn.utils import check_target_type
from scipy import sparse
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval
from sklearn_compat.utils.validation import check_array, validate_data  # imbalanced-learn's shim: any scikit-learn >= 1.3

from ltutorial.sampling.base import (DEVICE_CONSTRAINT, TensorData, TorchSamplerMixin, plain_labels, rows_of,
                                     torch_generator)


def _check_any_X(sampler, X, y):
    """imbalanced-learn's check for row-selecting samplers (no dtype or finiteness check), N-D arrays allowed."""
    y, binarize_y = (y, False) if plain_labels(y) else check_target_type(y, indicate_one_vs_all=True)
    if not (hasattr(X, "iloc") and hasattr(X, "columns")):  # a DataFrame is indexed as it is
        X = check_array(X, dtype=None, accept_sparse=["csr", "csc"], ensure_all_finite=False, allow_nd=True)
    validate_data(sampler, X=X, y=y, reset=True, skip_check_array=True)
    return X, y, binarize_y


class _RowSampler(TorchSamplerMixin):
    """Shared by the two row-selecting samplers: ``_indices(data, gen)`` picks rows; this applies them."""

    def _check_X_y(self, X, y):
        return _check_any_X(self, X, y)

    def _fit_resample(self, X, y):
        """imbalanced-learn's hook: X (numpy, sparse or DataFrame) and 1-D numpy y in; rows selected."""
        data = TensorData(torch.empty(len(y), 0), np.asarray(y), None, False)  # only the labels are needed
        gen = torch_generator(self.random_state)
        idx = self._indices(data, gen).numpy()
        self.sample_indices_ = idx
        return self._rows_out(X, idx, data, gen), _safe_indexing(y, idx)

    def _rows_out(self, X, idx, data: TensorData, gen):
        """The rows ``idx`` of X (numpy, sparse, DataFrame or tensor)."""
        return X[idx] if isinstance(X, torch.Tensor) else _safe_indexing(X, idx)

    def _resample_tensors(self, data: TensorData):
        gen = torch_generator(self.random_state)
        idx = self._indices(data, gen)
        self.sample_indices_ = idx.cpu().numpy()
        y = data.y_device[idx] if data.y_device is not None else data.y[self.sample_indices_]
        return self._rows_out(data.X, idx, data, gen), y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.sampler_tags.sample_indices = True
        return tags


class RandomOverSampler(_RowSampler, BaseOverSampler):
    """Replicate randomly chosen samples (with replacement) of each targeted class; optionally smoothed.

    ``sampling_strategy_[c]`` = number of rows added to class c. Output: the original samples in
    order, then the new ones class by class; ``sample_indices_`` gives each output row's source row.
    ``shrinkage`` (None, a float >= 0 or ``{class: float}``): a smoothed bootstrap as in
    imbalanced-learn: each new row is its source row plus Gaussian noise of standard deviation
    ``shrinkage * h * std_c`` per feature, with ``h = (4 / ((d + 2) n)) ** (1 / (d + 4))`` (d
    features, n samples; Silverman's rule of thumb) and std_c the class's feature standard
    deviation (needs numeric X). scipy.sparse X is supported (rows selected; with shrinkage the
    new rows are sparse again). ``random_state``: None, int or ``numpy.random.RandomState``.
    Notebook 02.
    """

    _parameter_constraints: dict = {
        **BaseOverSampler._parameter_constraints,
        "shrinkage": [Interval(Real, 0, None, closed="left"), Mapping, None],
        "device": DEVICE_CONSTRAINT,
    }

    def __init__(self, sampling_strategy="auto", random_state=None, device=None, shrinkage=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.device = device
        self.shrinkage = shrinkage

    def _indices(self, data: TensorData, gen) -> torch.Tensor:
        parts = [torch.arange(len(data.y), device=data.X.device)]
        for label, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            idx = rows_of(data, label)
            draw = torch.randint(0, idx.numel(), (int(n_new),), generator=gen).to(idx.device)
            parts.append(idx[draw])
        return torch.cat(parts)

    def _shrinkage_per_class(self) -> dict | None:
        if self.shrinkage is None:
            return None
        if isinstance(self.shrinkage, Mapping):
            missing = set(self.sampling_strategy_) - set(self.shrinkage)
            if missing:
                raise ValueError("shrinkage must give a factor for every class that is resampled; "
                                 f"got none for {sorted(getattr(c, 'item', lambda c=c: c)() for c in missing)!r}.")
            bad = {c: s for c, s in self.shrinkage.items() if not (isinstance(s, Real) and s >= 0)}
            if bad:
                raise ValueError(f"shrinkage factors must be numbers >= 0; got {bad!r} instead.")
            return dict(self.shrinkage)
        return {c: float(self.shrinkage) for c in self.sampling_strategy_}

    def _rows_out(self, X, idx, data: TensorData, gen):
        factors = self._shrinkage_per_class()
        self.shrinkage_ = factors
        if factors is None:
            return super()._rows_out(X, idx, data, gen)
        return self._smoothed(X, idx, factors, data, gen)

    def _smoothed(self, X, idx, factors: dict, data: TensorData, gen):
        """The smoothed bootstrap: the selected rows, plus scaled Gaussian noise on the new ones."""
        is_tensor = isinstance(X, torch.Tensor)
        if not is_tensor:
            try:
                X = check_array(X, accept_sparse=["csr", "csc"], dtype="numeric")
            except ValueError as err:
                raise ValueError("shrinkage needs finite numeric X (the smoothed bootstrap adds noise); "
                                 f"got X that is not: {err}") from None
        is_sparse = sparse.issparse(X)
        Xt = torch.from_numpy(X.toarray() if is_sparse else np.ascontiguousarray(X)) if not is_tensor else X
        if Xt.ndim != 2:
            raise ValueError(f"shrinkage needs 2-D X (n_samples, n_features); got shape {tuple(Xt.shape)} instead.")
        n, d = Xt.shape
        if not Xt.is_floating_point():  # noise on integer features would wrap or truncate: float64, as imbalanced-learn
            Xt = Xt.double()
        h = (4 / ((d + 2) * n)) ** (1 / (d + 4))
        idx_t = torch.as_tensor(idx, device=Xt.device)
        out = Xt[idx_t]  # advanced indexing copies
        pos = n
        for label, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            src = Xt[rows_of(data, label).to(Xt.device)].double()
            scale = factors[label] * h * src.std(dim=0, unbiased=False)
            noise = torch.randn(int(n_new), d, generator=gen, dtype=torch.float64).to(Xt.device) * scale
            block = out[pos : pos + n_new]
            block.copy_(block.double() + noise)
            pos += n_new
        if is_tensor:
            return out
        out = out.numpy()
        return sparse.csr_matrix(out).asformat(X.format) if is_sparse else out


class RandomUnderSampler(_RowSampler, BaseUnderSampler):
    """Keep a random subset of each targeted class (``replacement=True``: drawn with replacement).

    ``sampling_strategy_[c]`` = number of samples KEPT in class c (imblearn's convention). Output
    rows are grouped by class in sorted class order, in their original order inside a class
    (without replacement); ``sample_indices_`` gives their source rows. scipy.sparse X is
    supported (rows selected). ``random_state``: None, int or ``numpy.random.RandomState``.
    Notebook 02.
    """

    _parameter_constraints: dict = {
        **BaseUnderSampler._parameter_constraints,
        "replacement": ["boolean"],
        "random_state": ["random_state"],
        "device": DEVICE_CONSTRAINT,
    }

    def __init__(self, sampling_strategy="auto", random_state=None, device=None, replacement=False):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.device = device
        self.replacement = replacement

    def _indices(self, data: TensorData, gen) -> torch.Tensor:
        parts = []
        for label in np.unique(data.y):
            idx = rows_of(data, label)
            if label in self.sampling_strategy_:
                n_keep = int(self.sampling_strategy_[label])
                if self.replacement:
                    keep = torch.randint(0, idx.numel(), (n_keep,), generator=gen).to(idx.device)
                else:
                    keep = torch.randperm(idx.numel(), generator=gen)[:n_keep].to(idx.device)
                idx = idx[keep.sort().values]  # keep the original order inside the class
            parts.append(idx)
        return torch.cat(parts)
