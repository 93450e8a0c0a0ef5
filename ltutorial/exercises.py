"""Checks for the notebooks' exercises: a pass prints "Correct: ...", a miss raises AssertionError with a hint.

A notebook's exercise cell holds the learner's code (the reference solution sits between
``# BEGIN SOLUTION`` and ``# END SOLUTION``); the next cell calls a check from here, e.g.::

    lt.exercises.check_close(my_balanced_accuracy, 0.7222, "balanced accuracy",
                             hint="average the per-class recalls, not the samples")

The generic checks come first; notebook-specific checks (which know the expected answer) are
appended below the marker at the end of this file, one section per notebook.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["check_close", "check_array_close", "check_true", "check_in_range"]


def _require(condition: bool, failure: str, hint: str | None) -> None:
    """Raise AssertionError("Not yet: failure\nHint: hint") unless ``condition`` holds."""
    if not condition:
        message = f"Not yet: {failure}"
        if hint:
            message += f"\nHint: {hint}"
        raise AssertionError(message)


def _check(condition: bool, success: str, hint: str | None, failure: str) -> bool:
    """The final verdict of a check: print ``Correct: success`` and return True, or raise with the hint."""
    _require(condition, failure, hint)
    print(f"Correct: {success}")
    return True


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu")
        if value.dtype == torch.bfloat16:
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def _check_tolerances(rtol, atol) -> None:
    for name, v in (("rtol", rtol), ("atol", atol)):
        is_number = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if not is_number or not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a finite number >= 0; got {v!r} instead.")


def _answer_is_missing(value, name: str, hint: str | None) -> None:
    if value is None or value is Ellipsis:
        _require(False, f"{name} is still {value!r}; fill in the exercise cell and run it.", hint)


def check_close(value, expected, name: str, hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-8) -> bool:
    """Pass when the scalar ``value`` is within ``atol + rtol * |expected|`` of ``expected``."""
    _check_tolerances(rtol, atol)
    _answer_is_missing(value, name, hint)
    arr = _to_numpy(value)
    ok_type = arr.size == 1 and np.issubdtype(arr.dtype, np.number)
    _require(ok_type, f"{name} must be a single number; got {type(value).__name__} of shape {arr.shape} instead.", hint)
    v, e = float(arr.reshape(())), float(expected)
    close = bool(np.isclose(v, e, rtol=rtol, atol=atol))
    return _check(close, f"{name} = {v:.6g}", hint, f"{name} = {v:.6g}, expected {e:.6g}.")


def check_array_close(
    value, expected, name: str, hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-8
) -> bool:
    """Pass when ``value`` has ``expected``'s shape and every entry is close (NaN matches NaN)."""
    _check_tolerances(rtol, atol)
    _answer_is_missing(value, name, hint)
    v, e = _to_numpy(value), _to_numpy(expected)
    _require(v.shape == e.shape, f"{name} must have shape {e.shape}; got {v.shape} instead.", hint)
    numeric = np.issubdtype(v.dtype, np.number) or v.dtype == bool
    _require(numeric, f"{name} must be numeric; got dtype {v.dtype} instead.", hint)
    close = np.isclose(v.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        first = tuple(int(i) for i in np.argwhere(~close)[0])
        _require(
            False,
            f"{int((~close).sum())} of {v.size} entries of {name} differ; first at index {first}: "
            f"{v[first]!r}, expected {e[first]!r}.",
            hint,
        )
    return _check(True, f"{name} matches ({v.size} values)", hint, "")


def check_true(condition, name: str, hint: str | None = None) -> bool:
    """Pass when ``condition`` is true; ``name`` states the claim (printed either way)."""
    _answer_is_missing(condition, name, hint)
    if isinstance(condition, torch.Tensor):
        condition = bool(condition.all())
    return _check(bool(condition), name, hint, f"{name} does not hold.")


def check_in_range(value, low: float, high: float, name: str, hint: str | None = None) -> bool:
    """Pass when the scalar ``value`` lies in [low, high]; for answers that depend on a training run."""
    if not float(low) <= float(high):
        raise ValueError(f"low must be <= high={high}; got low={low} instead.")
    _answer_is_missing(value, name, hint)
    arr = _to_numpy(value)
    scalar = arr.size == 1 and np.issubdtype(arr.dtype, np.number)
    _require(scalar, f"{name} must be a single number; got shape {arr.shape} instead.", hint)
    v = float(arr.reshape(()))
    interval = f"[{low:g}, {high:g}]"
    return _check(
        low <= v <= high, f"{name} = {v:.4g} lies in {interval}", hint, f"{name} = {v:.4g} is outside {interval}."
    )


# --- notebook-specific checks below ---


# --- notebook 01 ---
# Checks for 01_imbalance_nature.ipynb. Each recomputes the answer from the inputs it is given,
# so the learner's value is compared with an independent computation, not with a stored number.


def _nb01_counts(class_counts, name: str = "class_counts") -> np.ndarray:
    counts = _to_numpy(class_counts).astype(np.float64)
    if counts.ndim != 1 or counts.size == 0 or not np.all(np.isfinite(counts)) or np.any(counts <= 0):
        raise ValueError(f"{name} must be a non-empty 1-D array of counts > 0; got {counts.tolist()!r} instead.")
    return counts


def check_imbalance_summary(ratio, head_share, class_counts, head_fraction: float = 0.2) -> bool:
    """Notebook 01: the imbalance ratio rho = n_max / n_min and the share of all training images held
    by the largest ``head_fraction`` of the classes (at least one class), e.g. the top 20 %.

    Both are the cheap long-tail statistics of the reference sheet (classic.md, section 7.3).
    """
    counts = _nb01_counts(class_counts)
    if isinstance(head_fraction, bool) or not isinstance(head_fraction, (int, float)) or not 0 < head_fraction <= 1:
        raise ValueError(f"head_fraction must be in (0, 1]; got {head_fraction!r} instead.")
    ordered = np.sort(counts)[::-1]
    k = max(1, int(round(head_fraction * counts.size)))
    check_close(ratio, ordered[0] / ordered[-1], "imbalance ratio",
                hint="divide the largest class count by the smallest one")
    return check_close(head_share, ordered[:k].sum() / ordered.sum(), f"share of the top {k} classes",
                       hint=f"sort the counts in decreasing order, add the first {k} and divide by the total")


def check_risk_decomposition(prior_risk, balanced_risk, per_class_risk, class_counts) -> bool:
    """Notebook 01: R = sum_k P(y=k) R_k with P(y=k) = n_k / n (the training prior), against the
    balanced risk (1/K) sum_k R_k that weights every class alike (the slide's decomposition).
    """
    counts = _nb01_counts(class_counts)
    risks = _to_numpy(per_class_risk).astype(np.float64)
    if risks.shape != counts.shape or not np.all(np.isfinite(risks)):
        raise ValueError(f"per_class_risk must hold one finite risk per class ({counts.size}); got {risks.tolist()!r} instead.")
    priors = counts / counts.sum()
    check_close(prior_risk, float(priors @ risks), "prior-weighted risk",
                hint="weight each class's risk by n_k / sum(n) and add them up")
    return check_close(balanced_risk, float(risks.mean()), "balanced risk",
                       hint="every class gets the weight 1/K, whatever its size")


def check_balanced_accuracy_from_confusion(value, confusion) -> bool:
    """Notebook 01: balanced accuracy from a confusion matrix (rows = true classes, columns =
    predictions): the mean over the classes present of the recall C[k, k] / sum_j C[k, j].
    Classes without test samples (empty rows) are left out, as scikit-learn does.
    """
    cm = _to_numpy(confusion).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.size == 0 or np.any(cm < 0) or not np.all(np.isfinite(cm)):
        raise ValueError(f"confusion must be a square matrix of counts >= 0; got shape {cm.shape} instead.")
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        raise ValueError("confusion must hold at least one sample; got an all-zero matrix instead.")
    recalls = np.diag(cm)[present] / support[present]
    return check_close(value, float(recalls.mean()), "balanced accuracy",
                       hint="per row: the diagonal entry divided by the row sum (the recall); then average the rows")
