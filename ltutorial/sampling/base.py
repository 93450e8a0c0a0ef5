"""Shared input/output handling for the samplers: numpy or torch in, the same type out."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from ltutorial._validation import check_random_state
from ltutorial.device import get_device
from ltutorial.sampling.strategy import resolve_sampling_strategy


class _Prepared:
    """X on the compute device plus the label bookkeeping every sampler needs."""

    def __init__(self, X, y, codes, classes, counts, X_is_numpy, X_device):
        self.X = X  # on the compute device
        self.y = y  # labels as given (numpy array or tensor)
        self.codes = codes  # int64 class index per sample, on the compute device
        self.classes = classes  # sorted class labels (python scalars)
        self.counts = counts  # samples per class, same order as classes
        self.X_is_numpy = X_is_numpy
        self.X_device = X_device
        self.y_is_tensor = isinstance(y, torch.Tensor)
        self._y_np = None if self.y_is_tensor else y

    @property
    def y_np(self) -> np.ndarray:
        """Labels as a numpy array (copied from the device only when asked: callables, dicts of strings)."""
        if self._y_np is None:
            self._y_np = self.y.detach().cpu().numpy()
        return self._y_np

    def stats(self) -> "OrderedDict":
        return OrderedDict(zip(self.classes, self.counts))


def _to_tensor(X, name: str) -> tuple[torch.Tensor, bool, torch.device | None]:
    if isinstance(X, torch.Tensor):
        return X.detach(), False, X.device
    if isinstance(X, (np.ndarray, list, tuple)):
        arr = np.asarray(X)
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise ValueError(f"{name} must hold numbers; got an array of dtype {arr.dtype} instead.")
        return torch.from_numpy(np.ascontiguousarray(arr)), True, None
    raise ValueError(f"{name} must be a numpy array or a torch tensor; got {type(X).__name__} instead.")


def resolve_device(device, X) -> torch.device:
    """``None``: compute where X lives (numpy: CPU); otherwise ``get_device(device)``."""
    if device is None:
        return X.device if isinstance(X, torch.Tensor) else torch.device("cpu")
    return get_device(device)


def _check_finite(work: torch.Tensor) -> None:
    # one reduction instead of an N x d boolean mask: NaN and inf propagate into the sum, and only
    # when the sum is not finite (NaN/inf present, or a float32 overflow) is the exact check run
    if bool(torch.isfinite(work.sum())):
        return
    bad_rows = ~torch.isfinite(work).reshape(work.shape[0], -1).all(dim=1)
    if bool(bad_rows.any()):
        raise ValueError(f"X must not contain NaN or infinite values; got {int(bad_rows.sum())} row(s) with NaN or inf instead.")


def prepare(X, y, *, device, require_2d: bool, float32: bool) -> _Prepared:
    """Validate X and y; move X to the compute device (as float32 when ``float32``); encode labels."""
    Xt, X_is_numpy, X_device = _to_tensor(X, "X")
    if require_2d and Xt.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(Xt.shape)} instead.")
    if Xt.ndim < 2:
        raise ValueError(f"X must have at least 2 dimensions (n_samples, ...); got shape {tuple(Xt.shape)} instead.")
    if Xt.is_complex() or Xt.dtype == torch.bool:
        raise ValueError(f"X must be real-valued; got dtype {Xt.dtype} instead.")
    if isinstance(y, torch.Tensor):
        y = y.detach()
    elif isinstance(y, (np.ndarray, list, tuple)):
        y = np.asarray(y)
    else:
        raise ValueError(f"y must be a numpy array or a torch tensor; got {type(y).__name__} instead.")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {tuple(y.shape)} instead.")
    if len(y) != Xt.shape[0]:
        raise ValueError(f"X and y must have the same number of samples; got {Xt.shape[0]} rows in X and {len(y)} labels in y instead.")
    dev = resolve_device(device, X)
    if float32:
        # float32 work even for integer input: the distances and interpolations are real-valued.
        work = Xt.to(device=dev, dtype=torch.float32)
    else:
        work = Xt.to(dev)
    if work.is_floating_point():
        _check_finite(work)
    if isinstance(y, torch.Tensor):
        # labels stay on the device: torch.unique there, no host round trip of n labels
        classes_t, codes, counts_t = torch.unique(y.to(dev), sorted=True, return_inverse=True, return_counts=True)
        classes, counts = classes_t.tolist(), counts_t.tolist()
        codes = codes.to(torch.int64)
    else:
        classes_np, inverse, counts_np = np.unique(y, return_inverse=True, return_counts=True)
        codes = torch.from_numpy(inverse.reshape(-1).astype(np.int64)).to(dev)
        classes = [c.item() if hasattr(c, "item") else c for c in classes_np]
        counts = [int(c) for c in counts_np]
    return _Prepared(work, y, codes, classes, counts, X_is_numpy, X_device)


def output_X(p: _Prepared, X_out: torch.Tensor):
    if p.X_is_numpy:
        return X_out.cpu().numpy()
    return X_out.to(p.X_device)


def output_y_index(p: _Prepared, indices: torch.Tensor):
    """The labels of the selected rows, as the type (and on the device) y came in."""
    if p.y_is_tensor:
        return p.y[indices.to(p.y.device)]
    return p.y[indices.cpu().numpy()]


def output_y_append(p: _Prepared, extra: list):
    """y followed by ``n`` copies of ``label`` for each (label, n) in ``extra``, as y's type and device."""
    if p.y_is_tensor:
        parts = [p.y] + [torch.full((n,), label, dtype=p.y.dtype, device=p.y.device) for label, n in extra]
        return torch.cat(parts)
    return np.concatenate([p.y] + [np.full(n, label, dtype=p.y.dtype) for label, n in extra])


def class_indices(p: _Prepared, label) -> torch.Tensor:
    """Row indices (on the compute device) of the samples whose label is ``label``."""
    return (p.codes == p.classes.index(label)).nonzero().squeeze(1)


class BaseSampler:
    """imbalanced-learn style: ``fit_resample(X, y) -> (X_res, y_res)``; parameters in ``__init__``."""

    _sampling_type = "over-sampling"

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _prepare(self, X, y, *, require_2d: bool, float32: bool):
        """Check ``random_state``, validate X and y (``prepare``) and resolve ``sampling_strategy``."""
        check_random_state(self.random_state)
        p = prepare(X, y, device=self.device, require_2d=require_2d, float32=float32)
        strategy = resolve_sampling_strategy(self.sampling_strategy, p.stats(), self._sampling_type, lambda: p.y_np)
        return p, strategy

    def fit_resample(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError
