"""Post-hoc corrections of a trained classifier's outputs: threshold-moving and logit adjustment.

Cost-matrix convention (the slide's and Zhou & Liu's): ``C[k][k']`` is the cost of predicting class
k' for an example whose TRUE class is k; rows are the true class (as in scikit-learn's
``confusion_matrix``), the diagonal is usually 0. Notebooks 03 and 08 use this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _as_float_tensor(x, name: str) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        t, is_numpy = x.detach(), False
    elif isinstance(x, (np.ndarray, list, tuple)):
        t, is_numpy = torch.as_tensor(np.asarray(x, dtype=np.float64)), True
    else:
        raise ValueError(f"{name} must be a numpy array or a torch tensor; got {type(x).__name__} instead.")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite; got NaN or inf values instead.")
    return t, is_numpy


def _numpy_float_dtype(x):
    """The input's numpy float dtype (kept on output), or None for tensors and integer arrays."""
    if isinstance(x, torch.Tensor):
        return None
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else None


def _back(t: torch.Tensor, is_numpy: bool, like_dtype=None):
    if is_numpy:
        out = t.cpu().numpy()
        return out.astype(like_dtype, copy=False) if like_dtype is not None else out
    return t


def _check_priors(class_priors, num_classes: int, ref: torch.Tensor) -> torch.Tensor:
    pri, _ = _as_float_tensor(class_priors, "class_priors")
    pri = pri.to(device=ref.device, dtype=ref.dtype)
    if pri.ndim != 1 or pri.numel() != num_classes:
        raise ValueError(f"class_priors must be 1-D with one entry per class ({num_classes}); got shape {tuple(pri.shape)} instead.")
    if bool((pri <= 0).any()):
        raise ValueError(f"class_priors must be > 0 for every class; got {pri.tolist()} instead.")
    return pri / pri.sum()


def threshold_moving(probs, cost_matrix):
    """Zhou & Liu (TKDE 2006) threshold-moving: ``p*_k = p_k * sum_k' C[k][k'] / eta``.

    Each class's predicted probability is scaled by the total cost of misclassifying that class
    (row k of the cost matrix, true class in rows) and the result renormalised to sum to 1
    (``eta``); ``argmax`` of the output is the moved decision. ``cost_matrix`` is K x K, or a
    length-K vector of per-class costs ``Cost[k]`` (the row sums). numpy or torch in, same type out.
    Exact Bayes decision when each row's off-diagonal costs are equal; see notebook 03.
    """
    p, is_numpy = _as_float_tensor(probs, "probs")
    if p.ndim != 2:
        raise ValueError(f"probs must be 2-D (n_samples, n_classes); got shape {tuple(p.shape)} instead.")
    if bool((p < 0).any()):
        raise ValueError("probs must be non-negative probabilities; got negative values instead.")
    if bool((p.sum(dim=1) <= 0).any()):
        # an all-zero row has nothing to renormalise (it would come out as NaN)
        raise ValueError("probs must have a positive sum in every row; got a row of zeros instead.")
    K = p.shape[1]
    C, _ = _as_float_tensor(cost_matrix, "cost_matrix")
    C = C.to(device=p.device, dtype=p.dtype)
    if C.shape == (K, K):
        row_cost = C.sum(dim=1)
    elif C.shape == (K,):
        row_cost = C
    else:
        raise ValueError(f"cost_matrix must have shape ({K}, {K}) or ({K},) to match probs; got {tuple(C.shape)} instead.")
    if bool((C < 0).any()) or bool((row_cost <= 0).any()):
        raise ValueError(f"cost_matrix must be non-negative with every row sum > 0; got row sums {row_cost.tolist()} instead.")
    moved = p * row_cost
    moved = moved / moved.sum(dim=1, keepdim=True)
    return _back(moved, is_numpy, _numpy_float_dtype(probs))


def logit_adjust(logits, class_priors, tau: float = 1.0):
    """Post-hoc logit adjustment (Menon et al., ICLR 2021): ``z_k - tau * log(pi_k)``.

    ``class_priors`` are the training class frequencies pi_k (counts are accepted and normalised
    to sum to 1; a shift common to all classes changes neither argmax nor softmax). tau = 1 gives
    the Bayes rule for the balanced error. numpy or torch in, same type out.
    Notebooks 03 and 08.
    """
    z, is_numpy = _as_float_tensor(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits must be 2-D (n_samples, n_classes); got shape {tuple(z.shape)} instead.")
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or not np.isfinite(tau):
        raise ValueError(f"tau must be a finite number; got {tau!r} instead.")
    pri = _check_priors(class_priors, z.shape[1], z)
    out = z - float(tau) * torch.log(pri)
    return _back(out, is_numpy, _numpy_float_dtype(logits))


def cost_matrix_for_logit_adjustment(class_priors, tau: float = 1.0):
    """The cost matrix that makes ``threshold_moving`` equal to ``logit_adjust``.

    Row k has zero diagonal and equal off-diagonal entries summing to ``exp(-tau log pi_k) =
    pi_k^(-tau)`` (the slide's choice): then ``softmax(z)_k * pi_k^(-tau)``, renormalised, equals
    ``softmax(z_k - tau log pi_k)``. numpy or torch in (for the priors), same type out.
    Notebooks 03 and 08.
    """
    pri_in, is_numpy = _as_float_tensor(class_priors, "class_priors")
    if pri_in.ndim != 1 or pri_in.numel() < 2:
        raise ValueError(f"class_priors must be 1-D with at least 2 classes; got shape {tuple(pri_in.shape)} instead.")
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or not np.isfinite(tau):
        raise ValueError(f"tau must be a finite number; got {tau!r} instead.")
    K = pri_in.numel()
    pri = _check_priors(pri_in, K, pri_in)
    row_sum = torch.exp(-float(tau) * torch.log(pri))
    C = (row_sum / (K - 1)).unsqueeze(1) * (1 - torch.eye(K, dtype=pri.dtype, device=pri.device))
    return _back(C, is_numpy)


def softmax(logits):
    """Row-wise softmax, numpy or torch in, same type out (a convenience for notebook 03)."""
    z, is_numpy = _as_float_tensor(logits, "logits")
    return _back(torch.softmax(z, dim=-1), is_numpy, _numpy_float_dtype(logits))


# ----------------------------------------------------------------------------------------------
# A sweep of the temperature tau (notebooks 03 and 08)
# ----------------------------------------------------------------------------------------------
@dataclass
class TauSweep:
    """The result of ``tau_sweep``: one row per tau, in the order given.

    ``balanced_accuracy[i]`` and ``per_class_accuracy[i]`` (NaN for a class absent from the labels)
    belong to ``taus[i]``; ``best_tau`` is the first tau with the largest balanced accuracy.
    """

    taus: np.ndarray
    balanced_accuracy: np.ndarray
    per_class_accuracy: np.ndarray
    best_index: int

    @property
    def best_tau(self) -> float:
        return float(self.taus[self.best_index])

    @property
    def best_balanced_accuracy(self) -> float:
        return float(self.balanced_accuracy[self.best_index])

    def as_dict(self) -> dict:
        """``{tau: balanced accuracy}`` (taus as Python floats)."""
        return {float(t): float(b) for t, b in zip(self.taus, self.balanced_accuracy)}


def tau_sweep(logits, labels, class_priors, taus) -> TauSweep:
    """Balanced and per-class accuracy of post-hoc logit adjustment for each temperature in ``taus``.

    For each tau: predict ``argmax_k z_k - tau * log(pi_k)`` (``logit_adjust``, Menon et al., ICLR
    2021; tau = 0 is the unadjusted model, tau = 1 the balanced Bayes rule for calibrated logits)
    and score it against ``labels`` with ``ltutorial.metrics.balanced_accuracy`` (= scikit-learn's
    ``balanced_accuracy_score``) and ``per_class_accuracy``. Choosing tau on the test set, as the
    notebooks do for illustration, is optimistic; tune it on held-out data in practice.
    Notebooks 03 (threshold-moving temperature) and 08 (post-hoc sweep) use it.
    """
    from ltutorial import metrics  # lazy: posthoc stays importable on its own

    z, _ = _as_float_tensor(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits must be 2-D (n_samples, n_classes); got shape {tuple(z.shape)} instead.")
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(f"labels must be 1-D with one label per row of logits ({z.shape[0]}); got shape {y.shape} instead.")
    if y.size and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must be integers in [0, {z.shape[1]}); got dtype {y.dtype} and values "
                         f"{y.min() if y.size else ''}..{y.max() if y.size else ''} instead.")
    if isinstance(taus, (str, bytes)):
        raise ValueError(f"taus must be a 1-D sequence of finite numbers; got {taus!r} instead.")
    try:
        t = np.asarray(taus, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"taus must be a 1-D sequence of finite numbers; got {taus!r} instead.") from None
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all():
        raise ValueError(f"taus must be a non-empty 1-D sequence of finite numbers; got {taus!r} instead.")
    num_classes = z.shape[1]
    balanced, per_class = [], []
    for tau in t:
        pred = logit_adjust(z, class_priors, tau=float(tau)).argmax(1).cpu().numpy()
        balanced.append(metrics.balanced_accuracy(y, pred))
        per_class.append(metrics.per_class_accuracy(y, pred, num_classes=num_classes))
    balanced = np.asarray(balanced, dtype=np.float64)
    return TauSweep(taus=t, balanced_accuracy=balanced, per_class_accuracy=np.stack(per_class),
                    best_index=int(np.argmax(balanced)))
