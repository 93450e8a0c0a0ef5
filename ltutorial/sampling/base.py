"""What every ltutorial sampler shares: imbalanced-learn's sampler protocol, plus torch tensors in and out.

The samplers derive from imbalanced-learn's ``BaseOverSampler`` / ``BaseUnderSampler`` (so clone,
get/set_params, repr, tags, ``fit``, ``get_feature_names_out``, pandas/list handling and
``imblearn.pipeline.Pipeline`` come from there) and put ``TorchSamplerMixin`` first: it sends torch
tensors (CPU or CUDA) down a path of its own that returns tensors on the device they came from,
and everything else to imbalanced-learn's ``fit_resample``, which validates, resolves
``sampling_strategy`` and calls the sampler's ``_fit_resample`` with numpy arrays.
"""

from __future__ import annotations

from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
from imblearn.base import BaseSampler
from imblearn.utils import check_sampling_strategy as imblearn_check_sampling_strategy
from imblearn.utils import check_target_type
from sklearn_compat.utils.validation import validate_data
from sklearn.utils.multiclass import check_classification_targets

from ltutorial.device import get_device
from ltutorial.sampling.strategy import check_sampling_strategy

# Devices given as a string ("cpu", "cuda", "auto" ...) or a torch.device; None: where X lives.
DEVICE_CONSTRAINT = [None, str, torch.device]


def resolve_device(device, X) -> torch.device:
    """``None``: compute where X lives (numpy: CPU); otherwise ``get_device(device)``."""
    if device is None:
        return X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    return get_device(device)


def torch_generator(random_state) -> torch.Generator:
    """A CPU ``torch.Generator`` from ``random_state``: None (fresh seed), an int seed or a numpy ``RandomState``.

    A ``RandomState`` gives one seed drawn from it (so it advances, as in scikit-learn). The draws
    are made on the CPU, so the same seed gives the same rows and gaps on every device.
    """
    gen = torch.Generator()
    if random_state is None:
        gen.seed()
    elif isinstance(random_state, np.random.RandomState):
        gen.manual_seed(int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64)))
    elif isinstance(random_state, Integral) and not isinstance(random_state, bool) and random_state >= 0:
        gen.manual_seed(int(random_state))
    else:
        raise ValueError("random_state must be None, a non-negative int or a numpy.random.RandomState; "
                         f"got {random_state!r} instead.")
    return gen


def derived_seeds(random_state, n: int) -> list:
    """``n`` seeds for the stages of a combined sampler, all fixed by ``random_state`` (None: None each).

    An int s gives s, s + 1, ...; a ``RandomState`` gives ``n`` draws from it.
    """
    if random_state is None:
        return [None] * n
    if isinstance(random_state, np.random.RandomState):
        return [int(s) for s in random_state.randint(np.iinfo(np.int32).max, size=n)]
    return [int(random_state) + i for i in range(n)]


class TensorData(NamedTuple):
    """Validated tensor input: X on the compute device and the labels as 1-D numpy (and on the device)."""

    X: torch.Tensor
    y: np.ndarray  # 1-D labels (one-hot input: its argmax)
    y_device: torch.Tensor | None  # the same labels on X's compute device when y came as a tensor
    one_hot: bool


def rows_of(data: TensorData, label) -> torch.Tensor:
    """Indices (int64, on the compute device) of the rows whose label is ``label``."""
    if data.y_device is not None:
        value = label.item() if hasattr(label, "item") else label
        return (data.y_device == value).nonzero().squeeze(1)
    return torch.from_numpy(np.flatnonzero(data.y == label)).to(data.X.device)


def plain_labels(y) -> bool:
    """True for 1-D integer labels (numpy or torch): always a binary or multi-class target.

    For them scikit-learn's ``type_of_target`` (run twice by imbalanced-learn, each a full pass with
    ``unique`` over y) can only say "binary" or "multiclass", so the samplers skip it: on 200,000
    labels it cost more than SMOTE itself.
    """
    if isinstance(y, torch.Tensor):
        return y.ndim == 1 and not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu"


def _labels_numpy(y) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        return y.detach().cpu().numpy()
    return np.asarray(y)


def check_tensors(X, y, *, device, name: str) -> TensorData:
    """Validate tensor input as imbalanced-learn validates arrays (same target checks and errors)."""
    X = torch.as_tensor(X) if not isinstance(X, torch.Tensor) else X.detach()
    if X.ndim < 2:
        raise ValueError(f"X must have at least 2 dimensions (n_samples, n_features, ...); got shape {tuple(X.shape)} instead.")
    if X.is_complex() or X.dtype == torch.bool:
        raise ValueError(f"X must be real-valued; got dtype {X.dtype} instead.")
    y_np = _labels_numpy(y)
    if plain_labels(y):
        y_1d, one_hot = y_np, False
    else:
        check_classification_targets(y_np)  # continuous or NaN labels: imbalanced-learn's "Unknown label type"
        y_1d, one_hot = check_target_type(y_np, indicate_one_vs_all=True)
    y_1d = np.asarray(y_1d).reshape(-1) if y_1d.ndim == 2 and y_1d.shape[1] == 1 else np.asarray(y_1d)
    if y_1d.ndim != 1:
        raise ValueError(f"y must be 1-D, a column vector or one-hot; got shape {tuple(y_np.shape)} instead.")
    if len(y_1d) != X.shape[0]:
        raise ValueError(f"X and y must have the same number of samples; got {X.shape[0]} rows in X and "
                         f"{len(y_1d)} labels in y instead.")
    if X.shape[0] < 1:
        raise ValueError(f"{name} needs at least 1 sample; got X of shape {tuple(X.shape)} instead.")
    dev = resolve_device(device, X)
    y_device = None
    if isinstance(y, torch.Tensor) and not one_hot:
        y_device = y.detach().reshape(-1).to(dev)
    return TensorData(X.to(dev), y_1d, y_device, bool(one_hot))


def labels_like(y_in, y_out: torch.Tensor | np.ndarray, classes: np.ndarray | None, one_hot: bool):
    """``y_out`` (1-D) as ``y_in`` came: a tensor on y_in's device and dtype, one-hot over ``classes`` if y_in was."""
    if one_hot:
        y_out = np.asarray(_labels_numpy(y_out))
        y_out = (y_out[:, None] == classes[None, :]).astype(_labels_numpy(y_in).dtype)
    if isinstance(y_in, torch.Tensor):
        out = y_out if isinstance(y_out, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(y_out))
        return out.to(device=y_in.device, dtype=y_in.dtype)
    out = _labels_numpy(y_out)
    return out.tolist() if isinstance(y_in, list) else out


class TorchSamplerMixin:
    """imbalanced-learn's ``fit`` / ``fit_resample`` for numpy, pandas, lists and scipy.sparse; torch tensors kept.

    Subclasses implement ``_fit_resample(X, y)`` (numpy in and out, called by imbalanced-learn)
    and ``_resample_tensors(data)`` (a ``TensorData`` in; X and 1-D labels out on the compute
    device). Tensors in give tensors out, on the device and with the dtype they came in.
    """

    def fit(self, X, y, **params):
        """Check X and y and set ``sampling_strategy_`` (``fit_resample`` does the work)."""
        if not (isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor)):
            return super().fit(X, y, **params)
        self._validate_params()
        data = self._check_tensor_input(X, y)
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, data.y, self._sampling_type)
        return self

    def fit_resample(self, X, y, **params):
        """Resample X and y: ``(X_resampled, y_resampled)`` of the kind X and y came in."""
        if isinstance(X, np.ndarray) and plain_labels(y):
            # imbalanced-learn's SamplerMixin.fit_resample without its label-type passes (see
            # plain_labels); numpy in, numpy out, so nothing to convert back
            self._validate_params()
            X, y, _ = self._check_X_y(X, y)
            self.sampling_strategy_ = imblearn_check_sampling_strategy(self.sampling_strategy, y, self._sampling_type)
            return self._fit_resample(X, y, **params)
        if not (isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor)):
            return super().fit_resample(X, y, **params)
        self._validate_params()
        data = self._check_tensor_input(X, y)
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, data.y, self._sampling_type)
        X_out, y_out = self._resample_tensors(data)
        if isinstance(X, torch.Tensor):
            X_out = X_out.to(X.device)
        else:
            X_out = X_out.cpu().numpy()
            X_out = X_out.tolist() if isinstance(X, list) else X_out
        return X_out, labels_like(y, y_out, np.unique(data.y) if data.one_hot else None, data.one_hot)

    def _check_X_y(self, X, y, accept_sparse=None):
        """imbalanced-learn's check of X and y (``BaseSampler._check_X_y``), minus the label-type pass for plain labels."""
        if not plain_labels(y):
            return BaseSampler._check_X_y(self, X, y, accept_sparse=accept_sparse)
        X, y = validate_data(self, X=X, y=y, reset=True, accept_sparse=["csr", "csc"] if accept_sparse is None else accept_sparse)
        return X, y, False

    def _check_tensor_input(self, X, y) -> TensorData:
        data = check_tensors(X, y, device=self.device, name=type(self).__name__)
        self.n_features_in_ = int(data.X.shape[1])
        if hasattr(self, "feature_names_in_"):  # a refit on tensors has no column names
            del self.feature_names_in_
        return data
