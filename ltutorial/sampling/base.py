"""What the samplers of notebook 02 share: imbalanced-learn's sampler protocol, with torch tensors kept."""

from collections.abc import Mapping
from numbers import Integral

import numpy as np
import torch
from imblearn.utils import check_sampling_strategy as imblearn_check_sampling_strategy
from imblearn.utils import check_target_type
from sklearn.utils.multiclass import check_classification_targets

from ltutorial._validation import check_choice, make_generator
from ltutorial.device import get_device

DEVICE_CONSTRAINT = [None, str, torch.device]  # "cpu", "cuda", "auto" ... or a torch.device; None: where X lives
STRATEGY_NAMES = ("auto", "minority", "majority", "not minority", "not majority", "all")  # imbalanced-learn's


def check_sampling_strategy(sampling_strategy, y, sampling_type: str, **kwargs) -> dict:
    """imbalanced-learn's ``{class: n}`` (n to generate or keep); y may be a tensor, ``kwargs`` go to a callable."""
    check_choice(sampling_type, ["over-sampling", "under-sampling"], name="sampling_type")
    y_np = as_numpy(y)
    if y_np.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y_np.shape} instead.")
    if isinstance(sampling_strategy, str):
        check_choice(sampling_strategy, STRATEGY_NAMES, name="sampling_strategy")
    elif callable(sampling_strategy):
        sampling_strategy = sampling_strategy(y_np, **kwargs)
        if not isinstance(sampling_strategy, Mapping):
            raise ValueError("a callable sampling_strategy must return a dict {class: count}; "
                             f"got {type(sampling_strategy).__name__} instead.")
    if isinstance(sampling_strategy, Mapping):
        sampling_strategy = dict(check_whole_counts(sampling_strategy))
    return imblearn_check_sampling_strategy(sampling_strategy, y_np, sampling_type, **kwargs)


def check_whole_counts(sampling_strategy):
    """``sampling_strategy`` as it is, unless it is a ``{class: n}`` dict with an n that is not a whole number."""
    if isinstance(sampling_strategy, Mapping) and (bad := {c: n for c, n in sampling_strategy.items()
                                                           if isinstance(n, bool) or not isinstance(n, Integral)}):
        raise ValueError(f"sampling_strategy must give whole numbers of samples; got {bad!r} instead.")
    return sampling_strategy


class TorchSamplerMixin:
    """Put before an imbalanced-learn sampler class: tensors in, tensors out on their device (``_resample_tensors``)."""

    def _validate_params(self):
        """scikit-learn's parameter checks, then whole counts in a ``sampling_strategy`` dict, on every input path."""
        super()._validate_params()
        check_whole_counts(self.sampling_strategy)
        if getattr(self, "device", None) is not None:  # also where numpy rows are picked without it: a typo or a
            get_device(self.device)                    # missing GPU must not pass silently

    def fit(self, X, y, **params):
        """Check X and y and set ``sampling_strategy_`` (``fit_resample`` does the work)."""
        if not (isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor)):
            return super().fit(X, y, **params)
        self._fit_tensors(X, y)
        return self

    def fit_resample(self, X, y, **params):
        """Resample X and y: ``(X_resampled, y_resampled)`` of the kind X and y came in."""
        # imbalanced-learn's, minus its label-type passes; a tensor y takes the tensor path (y comes back a tensor)
        if isinstance(X, np.ndarray) and not isinstance(y, torch.Tensor) and plain_labels(y):
            self._validate_params()
            X, y, _ = self._check_X_y(X, y)
            self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y, self._sampling_type)
            return self._fit_resample(X, y, **params)
        if not (isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor)):
            return super().fit_resample(X, y, **params)
        X_t, y_1d, one_hot = self._fit_tensors(X, y)  # fit() checks the same, without moving X to the device
        X_out, y_out = self._resample_tensors(X_t.to(resolve_device(self.device, X_t)), y_1d)
        X_out = X_out.to(X.device) if isinstance(X, torch.Tensor) else X_out.cpu().numpy()
        X_out = X_out.tolist() if isinstance(X, list) else X_out
        if one_hot:  # the input's columns, also one with no rows (np.unique(y_1d) dropped it and shifted the rest)
            y_out = (y_out[:, None] == np.arange(as_numpy(y).shape[1])[None, :]).astype(as_numpy(y).dtype)
        if isinstance(y, torch.Tensor):
            return X_out, torch.from_numpy(np.ascontiguousarray(y_out)).to(device=y.device, dtype=y.dtype)
        return X_out, y_out.tolist() if isinstance(y, list) else y_out

    def _fit_tensors(self, X, y):
        """Tensor input checked as imbalanced-learn checks arrays: X as a tensor where it lives, 1-D labels, one-hot."""
        self._validate_params()
        X = X.detach() if isinstance(X, torch.Tensor) else torch.as_tensor(X)
        if X.ndim < 2 or X.is_complex() or X.dtype == torch.bool:
            raise ValueError("X must be real-valued with at least 2 dimensions (n_samples, n_features, ...); got "
                             f"shape {tuple(X.shape)} and dtype {X.dtype} instead.")
        y_1d, one_hot = as_numpy(y), False
        if not plain_labels(y):  # imbalanced-learn's errors, a column vector or one-hot made 1-D
            check_classification_targets(y_1d)
            y_1d, one_hot = check_target_type(y_1d, indicate_one_vs_all=True)
        if len(y_1d) != X.shape[0] or X.shape[0] < 1:
            raise ValueError(f"X and y must have the same number of samples, at least 1; got {X.shape[0]} rows in X "
                             f"and {len(y_1d)} labels in y instead.")
        self.n_features_in_ = int(X.shape[1])
        self.__dict__.pop("feature_names_in_", None)  # a refit on tensors has no column names
        self.sampling_strategy_ = check_sampling_strategy(self.sampling_strategy, y_1d, self._sampling_type)
        return X, y_1d, bool(one_hot)


def resolve_device(device, X) -> torch.device:
    """``None``: compute where X lives (numpy: CPU); otherwise ``get_device(device)``."""
    return X.device if device is None and torch.is_tensor(X) else get_device("cpu" if device is None else device)


def torch_generator(random_state) -> torch.Generator:
    """A CPU generator (the same draws on every device) from random_state as ``_validate_params`` checked it; None:
    seeded from torch's global generator, as imbalanced-learn draws from numpy's (repeatable under torch.manual_seed)."""
    if isinstance(random_state, np.random.RandomState):  # which advances, as in imbalanced-learn
        random_state = random_state.randint(np.iinfo(np.int64).max, dtype=np.int64)
    return make_generator(random_state)


def rows_of(y: np.ndarray, label, device: torch.device) -> torch.Tensor:
    """Indices (int64, on ``device``) of the rows whose label is ``label``."""
    return torch.from_numpy(np.flatnonzero(y == label)).to(device)


def plain_labels(y) -> bool:
    """1-D integer labels, numpy or torch: imbalanced-learn's ``type_of_target`` passes (slower than SMOTE) skipped."""
    if isinstance(y, torch.Tensor):
        return y.ndim == 1 and not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
    return isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iu"


def as_numpy(y) -> np.ndarray:
    """y (or X) as numpy; a tensor is copied to the CPU."""
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


def like_input(values, X):
    """``values`` (numpy or torch) as a tensor on X's device when X is a tensor, else as numpy."""
    return torch.as_tensor(values).to(X.device) if isinstance(X, torch.Tensor) else as_numpy(values)
