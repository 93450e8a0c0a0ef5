"""What the samplers of notebook 02 share: imbalanced-learn's sampler protocol, with torch tensors kept."""

from __future__ import annotations

import numpy as np
import torch
from imblearn.base import BaseSampler
from imblearn.utils import check_sampling_strategy, check_target_type
from sklearn.utils.multiclass import check_classification_targets
from sklearn_compat.utils.validation import validate_data

from ltutorial.device import get_device

DEVICE_CONSTRAINT = [None, str, torch.device]  # "cpu", "cuda", "auto" ... or a torch.device; None: where X lives


class TorchSamplerMixin:
    """Put before imbalanced-learn's base sampler: tensors in give tensors out, on their device.

    Subclasses implement ``_fit_resample(X, y)`` (numpy) and ``_resample_tensors(X, y)`` (X on the compute
    device, y 1-D numpy labels).
    """

    def fit(self, X, y, **params):
        """Check X and y and set ``sampling_strategy_`` (``fit_resample`` does the work)."""
        if not (isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor)):
            return super().fit(X, y, **params)
        self._fit_tensors(X, y)
        return self

    def fit_resample(self, X, y, **params):
        """Resample X and y: ``(X_resampled, y_resampled)`` of the kind X and y came in."""
        if isinstance(X, np.ndarray) and plain_labels(y):
            # imbalanced-learn's SamplerMixin.fit_resample without its label-type passes (see plain_labels)
            self._validate_params()
            X, y, _ = self._check_X_y(X, y)
            self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y, self._sampling_type)
            return self._fit_resample(X, y, **params)
        if not (isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor)):
            return super().fit_resample(X, y, **params)
        X_t, y_1d, one_hot = self._fit_tensors(X, y)
        X_out, y_out = self._resample_tensors(X_t, y_1d)
        if isinstance(X, torch.Tensor):
            X_out = X_out.to(X.device)
        else:
            X_out = X_out.cpu().numpy()
            X_out = X_out.tolist() if isinstance(X, list) else X_out
        if one_hot:
            y_out = (y_out[:, None] == np.unique(y_1d)[None, :]).astype(labels_numpy(y).dtype)
        if isinstance(y, torch.Tensor):
            return X_out, torch.from_numpy(np.ascontiguousarray(y_out)).to(device=y.device, dtype=y.dtype)
        return X_out, y_out.tolist() if isinstance(y, list) else y_out

    def _check_X_y(self, X, y, accept_sparse=None):
        """imbalanced-learn's ``BaseSampler._check_X_y``, minus the label-type pass for plain labels."""
        if not plain_labels(y):
            return BaseSampler._check_X_y(self, X, y, accept_sparse=accept_sparse)
        accept_sparse = ["csr", "csc"] if accept_sparse is None else accept_sparse
        X, y = validate_data(self, X=X, y=y, reset=True, accept_sparse=accept_sparse)
        return X, y, False

    def _fit_tensors(self, X, y):
        """Tensor input checked as imbalanced-learn checks arrays: X on the compute device, 1-D labels, one-hot."""
        self._validate_params()
        X = X.detach() if isinstance(X, torch.Tensor) else torch.as_tensor(X)
        if X.ndim < 2 or X.is_complex() or X.dtype == torch.bool:
            raise ValueError("X must be real-valued with at least 2 dimensions (n_samples, n_features, ...); got "
                             f"shape {tuple(X.shape)} and dtype {X.dtype} instead.")
        y_np = labels_numpy(y)
        y_1d, one_hot = y_np, False
        if not plain_labels(y):
            check_classification_targets(y_np)  # continuous or NaN labels: imbalanced-learn's "Unknown label type"
            y_1d, one_hot = check_target_type(y_np, indicate_one_vs_all=True)
        y_1d = np.asarray(y_1d).reshape(-1) if y_1d.ndim == 2 and y_1d.shape[1] == 1 else np.asarray(y_1d)
        if y_1d.ndim != 1:
            raise ValueError(f"y must be 1-D, a column vector or one-hot; got shape {tuple(y_np.shape)} instead.")
        if len(y_1d) != X.shape[0] or X.shape[0] < 1:
            raise ValueError(f"X and y must have the same number of samples, at least 1; got {X.shape[0]} rows in X "
                             f"and {len(y_1d)} labels in y instead.")
        self.n_features_in_ = int(X.shape[1])
        if hasattr(self, "feature_names_in_"):  # a refit on tensors has no column names
            del self.feature_names_in_
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y_1d, self._sampling_type)
        return X.to(resolve_device(self.device, X)), y_1d, bool(one_hot)


def resolve_device(device, X) -> torch.device:
    """``None``: compute where X lives (numpy: CPU); otherwise ``get_device(device)``."""
    if device is None:
        return X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    return get_device(device)


def torch_generator(random_state) -> torch.Generator:
    """A CPU generator (the same draws for every device) from None, an int or a ``RandomState`` (which advances)."""
    gen = torch.Generator()
    if random_state is None:
        gen.seed()
    elif isinstance(random_state, np.random.RandomState):
        gen.manual_seed(int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64)))
    else:  # an int >= 0: the samplers' parameter constraints checked it
        gen.manual_seed(int(random_state))
    return gen


def rows_of(y: np.ndarray, label, device: torch.device) -> torch.Tensor:
    """Indices (int64, on ``device``) of the rows whose label is ``label``."""
    return torch.from_numpy(np.flatnonzero(y == label)).to(device)


def plain_labels(y) -> bool:
    """1-D integer labels (numpy or torch): binary or multi-class, so imbalanced-learn's two ``type_of_target``
    passes (more than SMOTE itself on 200,000 labels) are skipped."""
    if isinstance(y, torch.Tensor):
        return y.ndim == 1 and not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu"


def labels_numpy(y) -> np.ndarray:
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


def scalar(label):
    """A numpy or torch scalar label as a Python value."""
    return label.item() if hasattr(label, "item") else label
