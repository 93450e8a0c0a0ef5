"""Post-hoc corrections of a trained classifier's outputs: threshold-moving (notebook 03), logit adjustment (03, 08).

``C[k][k']`` is the cost of predicting k' for TRUE class k (rows: the true class, as in ``confusion_matrix``).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from ltutorial import metrics
from ltutorial._validation import check_labels, check_number


def threshold_moving(probs, cost_matrix):
    """Zhou & Liu (TKDE 2006): p*_k = p_k sum_k' C[k][k'] / eta (eta: row sum 1), C K x K or its K row sums; the
    argmax is the exact Bayes decision when each row's off-diagonal costs are equal."""
    p = as_float_tensor(probs, "probs", ndim=2)
    if bool((p < 0).any()):
        raise ValueError("probs must be non-negative probabilities; got negative values instead.")
    if bool((p.sum(dim=1) <= 0).any()):  # an all-zero row has nothing to renormalise (it would come out NaN)
        raise ValueError("probs must have a positive sum in every row; got a row of zeros instead.")
    # at least float32, the result cast back: float16 row sums over 65504 made inf, then 0 * inf = NaN rows (float64
    # would fail on MPS)
    work = torch.promote_types(p.dtype, torch.float32)
    K, C = p.shape[1], as_float_tensor(cost_matrix, "cost_matrix").to(device=p.device, dtype=work)
    if C.shape not in ((K, K), (K,)):
        raise ValueError(f"cost_matrix must have shape ({K}, {K}) or ({K},) to match probs; got {tuple(C.shape)}.")
    row_cost = C.sum(dim=1) if C.ndim == 2 else C
    if bool((C < 0).any()) or bool((row_cost <= 0).any()):
        raise ValueError(f"cost_matrix must be non-negative with every row sum > 0; got row sums {row_cost.tolist()}.")
    moved = p.to(work) * row_cost
    return like((moved / moved.sum(dim=1, keepdim=True)).to(p.dtype), probs)


def logit_adjust(logits, class_priors, tau: float = 1.0):
    """Post-hoc logit adjustment z_k - tau log pi_k (Menon et al., ICLR 2021); pi from priors or counts."""
    z, tau = as_float_tensor(logits, "logits", ndim=2), check_number(tau, name="tau", minimum=-math.inf)
    return like(z - tau * torch.log(check_priors(class_priors, z.shape[1], z)), logits)


def cost_matrix_for_logit_adjustment(class_priors, tau: float = 1.0):
    """The cost matrix (zero diagonal, equal off-diagonal entries, row k summing to pi_k^-tau) that makes
    ``threshold_moving`` equal ``logit_adjust``: softmax(z)_k pi_k^-tau renormalised is softmax(z_k - tau log pi_k)."""
    pri, tau = check_priors(class_priors), check_number(tau, name="tau", minimum=-math.inf)
    K = pri.numel()
    work = torch.promote_types(pri.dtype, torch.float32)
    off_diagonal = 1 - torch.eye(K, dtype=work, device=pri.device)
    C = (torch.exp(-tau * torch.log(pri.to(work))) / (K - 1)).unsqueeze(1) * off_diagonal
    return like(C.to(pri.dtype), class_priors, keep_dtype=False)


def softmax(logits):
    """Row-wise softmax (notebook 03)."""
    return like(torch.softmax(as_float_tensor(logits, "logits"), dim=-1), logits)


@dataclass
class TauSweep:
    """``balanced_accuracy[i]`` and ``per_class_accuracy[i]`` (NaN: absent) for ``taus[i]``; the first best tau."""

    taus: np.ndarray
    balanced_accuracy: np.ndarray
    per_class_accuracy: np.ndarray
    best_index: int

    @property
    def best_tau(self) -> float:
        return float(self.taus[self.best_index])

    def as_dict(self) -> dict:
        """``{tau: balanced accuracy}`` (taus as Python floats)."""
        return {float(t): float(b) for t, b in zip(self.taus, self.balanced_accuracy)}


def tau_sweep(logits, labels, class_priors, taus) -> TauSweep:
    """Balanced and per-class accuracy of argmax_k z_k - tau log pi_k for each tau (0: as trained; notebook 08)."""
    z = as_float_tensor(logits, "logits", ndim=2)
    y = check_labels(labels, name="labels", num_classes=z.shape[1]).cpu().numpy()
    if y.shape[0] != z.shape[0]:
        raise ValueError(f"labels must be 1-D with one label per row of logits ({z.shape[0]}); got {y.shape[0]}.")
    try:
        t = np.asarray(taus, dtype=np.float64) if not isinstance(taus, (str, bytes)) else None
    except (TypeError, ValueError):
        t = None
    if t is None or t.ndim != 1 or t.size == 0 or not np.isfinite(t).all():
        raise ValueError(f"taus must be a non-empty 1-D sequence of finite numbers; got {taus!r} instead.")
    log_prior = torch.log(check_priors(class_priors, z.shape[1], z))
    preds = [(z - float(tau) * log_prior).argmax(1).cpu().numpy() for tau in t]  # logit_adjust, priors checked once
    per_class = np.stack([metrics.per_class_accuracy(y, p, num_classes=z.shape[1]) for p in preds])
    balanced = np.nanmean(per_class, axis=1)  # balanced accuracy: the mean over the classes y holds
    return TauSweep(t, balanced, per_class, best_index=int(np.argmax(balanced)))


def as_float_tensor(x, name: str, ndim: int | None = None) -> torch.Tensor:
    """numpy (as float64), lists or tensors as a finite float tensor (integer tensors: float32) of ``ndim`` dims."""
    if not isinstance(x, (torch.Tensor, np.ndarray, list, tuple)):
        raise ValueError(f"{name} must be a numpy array or a torch tensor; got {type(x).__name__} instead.")
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    t = t if t.is_floating_point() else t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite; got NaN or inf values instead.")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {tuple(t.shape)} instead.")
    return t


def like(t: torch.Tensor, x, keep_dtype: bool = True):
    """``t`` as the input ``x`` came: a tensor, or numpy (with x's float dtype when ``keep_dtype``)."""
    if isinstance(x, torch.Tensor):
        return t
    dtype = np.asarray(x).dtype
    return t.cpu().numpy().astype(dtype, copy=False) if keep_dtype and dtype.kind == "f" else t.cpu().numpy()


def check_priors(class_priors, num_classes: int | None = None, ref: torch.Tensor | None = None) -> torch.Tensor:
    """Class priors (or counts), 1-D, one per class (None: at least 2), all > 0, normalised to sum to 1, on ref's
    device and dtype if given."""
    pri = as_float_tensor(class_priors, "class_priors")
    dtype, device = (pri.dtype, pri.device) if ref is None else (ref.dtype, ref.device)
    if pri.ndim != 1 or (pri.numel() < 2 if num_classes is None else pri.numel() != num_classes):
        raise ValueError(f"class_priors must be 1-D with one entry per class ({num_classes or 'at least 2'}); got "
                         f"shape {tuple(pri.shape)} instead.")
    if bool((pri <= 0).any()):
        raise ValueError(f"class_priors must be > 0 for every class; got {pri.tolist()} instead.")
    pri = pri.to(torch.promote_types(pri.dtype, torch.float32))  # float16: a total over 65504 is inf (priors 0)
    return (pri / pri.sum()).to(device=device, dtype=dtype)
