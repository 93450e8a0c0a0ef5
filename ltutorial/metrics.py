"""Metrics for imbalanced and long-tailed classification, from one ``torch.bincount`` (no loop over samples).

Inputs are arrays, lists or tensors on any device; ``y_pred`` holds labels (take ``logits.argmax(1)``). Notebook 01;
shots by training count (OLTR, notebooks 06-09); thirds of the classes (the SSL papers' split, notebooks 10-12).
"""

import warnings

import numpy as np
import torch

from ltutorial._validation import as_tensor, check_class_counts, check_labels, check_positive_int

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy", "balanced_accuracy", "g_mean", "macro_f1",
           "shot_accuracy", "shot_means", "group_accuracy_by_thirds", "thirds_split", "class_mean",
           "group_mean_by_thirds", "class_recall", "GROUPS"]

GROUPS = ("many", "medium", "few", "all")

# Without num_classes, arrays are sized by the largest label: a stray huge label would allocate a vector (for the
# confusion matrix a square) of that size. Beyond these, pass num_classes.
MAX_INFERRED_CLASSES = 100_000
MAX_INFERRED_MATRIX_CLASSES = 4_096


def accuracy(y_true, y_pred) -> float:
    """Top-1 accuracy mean(y_pred == y_true); on a long-tailed test set the head classes dominate it."""
    yt, yp, _ = _pair(y_true, y_pred, present=True)  # renumbered: no array sized by the largest label
    return float((yt == yp).double().mean())


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """C[i, j] = samples of class i predicted as j, as ``sklearn.metrics.confusion_matrix(labels=range(C))``."""
    yt, yp, c = _pair(y_true, y_pred, num_classes, max_inferred=MAX_INFERRED_MATRIX_CLASSES)
    return torch.bincount(yt * c + yp, minlength=c * c).reshape(c, c).cpu().numpy().astype(np.int64)


def per_class_accuracy(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Per-class recall a_c = TP_c / n_c (NaN for a class absent from ``y_true``), as sklearn's recall_score."""
    return class_recall(*_pair(y_true, y_pred, num_classes))


def balanced_accuracy(y_true, y_pred) -> float:
    """(1/|C|) sum_c recall_c over the classes in ``y_true`` (Brodersen et al. 2010), as sklearn's."""
    return float(np.nanmean(class_recall(*_pair(y_true, y_pred, present=True))))


def g_mean(y_true, y_pred) -> float:
    """(prod_c recall_c)^(1/|C|) over the classes in ``y_true`` or ``y_pred`` (Kubat & Matwin 1997), as
    imbalanced-learn's: a class only predicted has recall 0 there, so the G-mean is 0."""
    rec = class_recall(*_pair(y_true, y_pred, present=True))
    return 0.0 if np.any(np.isnan(rec) | (rec == 0)) else float(np.exp(np.mean(np.log(rec))))


def macro_f1(y_true, y_pred) -> float:
    """Mean of F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c) over the classes in y_true or y_pred, as sklearn's."""
    tp, support, predicted = _class_totals(*_pair(y_true, y_pred, present=True))
    return float(np.mean(2 * tp / (support + predicted)))  # 2 TP + FP + FN = support + predicted


def shot_accuracy(y_true, y_pred, train_counts) -> dict:
    """``shot_means(per_class_accuracy(y_true, y_pred, len(train_counts)), train_counts)``: the mean per-class accuracy
    per shot group."""
    counts = _train_counts(train_counts)
    return _group_means(class_recall(*_pair(y_true, y_pred, counts.size)), _shots(counts))


def shot_means(per_class_accuracy, counts) -> dict:
    """NaN-ignoring mean of a per-class value over the classes with > 100 (many), 20..100 (medium), < 20 (few)
    training images, and ``all``; an empty group is NaN. OLTR's thresholds (Liu et al. 2019); notebooks 06-09."""
    counts = _train_counts(counts, name="counts")
    return _group_means(_sample_values(per_class_accuracy, "per_class_accuracy", counts.size).numpy(), _shots(counts))


def thirds_split(train_counts) -> dict[str, np.ndarray]:
    """Class indices of the many / medium / few thirds: the floor(C/3) rarest are few, the next floor(C/3) medium,
    ties in class order (CIFAR-10: 4/3/3, CIFAR-100: 34/33/33)."""
    return _thirds(_train_counts(train_counts))


def group_accuracy_by_thirds(y_true, y_pred, train_counts) -> dict[str, float]:
    """Mean per-class accuracy on the :func:`thirds_split` groups plus ``all`` (SDCLR, BCL, GH tables)."""
    counts = _train_counts(train_counts)
    return _group_means(class_recall(*_pair(y_true, y_pred, counts.size)), _thirds(counts))


def class_mean(values, labels, num_classes: int | None = None) -> np.ndarray:
    """m_c = (1/n_c) sum_{i: y_i = c} v_i for values of shape N (or T x N, one row per step); NaN for no samples."""
    v = _sample_values(values)
    c = None if num_classes is None else check_positive_int(num_classes, name="num_classes")
    y = check_labels(labels, num_classes=c, allow_empty=False).cpu()
    if y.numel() != v.shape[-1]:
        raise ValueError(f"labels must have one entry per sample ({v.shape[-1]}); got {y.numel()} instead.")
    c = int(y.max()) + 1 if c is None else c
    v2 = v.reshape(-1, v.shape[-1])
    sums = torch.zeros(v2.shape[0], c, dtype=torch.float64).index_add_(1, y, v2)
    n = torch.bincount(y, minlength=c).to(torch.float64)
    return torch.where(n > 0, sums / n.clamp(min=1), torch.nan).reshape(*v.shape[:-1], c).numpy()


def group_mean_by_thirds(values, labels, train_counts) -> dict:
    """Mean over the :func:`thirds_split` groups of the class means m_c of a per-sample value, plus ``all``.

    ``labels=None``: ``values`` holds one value per class; T x N values give arrays of length T. Notebooks 10-12.
    """
    counts = _train_counts(train_counts)
    if labels is None:
        return _group_means(_sample_values(values, num_classes=counts.size).numpy(), _thirds(counts))
    return _group_means(class_mean(values, labels, counts.size), _thirds(counts))


def _shots(counts: np.ndarray) -> dict:
    return {"many": counts > 100, "medium": (counts >= 20) & (counts <= 100), "few": counts < 20}


def _thirds(counts: np.ndarray) -> dict:
    order, k = np.argsort(-counts, kind="stable"), counts.size // 3
    n_many = counts.size - 2 * k
    return {"many": order[:n_many], "medium": order[n_many:n_many + k], "few": order[n_many + k:]}


def _group_means(values: np.ndarray, groups: dict) -> dict:
    """nanmean of ``values`` (shape C or T x C) over each group's columns plus ``all``; NaN for an empty group."""
    rows = values.reshape(-1, values.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty or all-NaN group is NaN by design
        out = {key: np.nanmean(rows[:, idx], axis=1) for key, idx in {**groups, "all": slice(None)}.items()}
    return {key: float(v[0]) for key, v in out.items()} if values.ndim == 1 else out


def _pair(y_true, y_pred, num_classes=None, *, max_inferred: int = MAX_INFERRED_CLASSES, present: bool = False):
    """(y_true, y_pred on y_true's device, number of classes), validated; ``present``: renumbered over the classes."""
    c = None if num_classes is None else check_positive_int(num_classes, name="num_classes")
    yt = check_labels(y_true, name="y_true", num_classes=c, allow_empty=False)
    yp = check_labels(y_pred, name="y_pred", num_classes=c, allow_empty=False).to(yt.device)
    if yt.numel() != yp.numel():
        raise ValueError(f"y_true and y_pred must have the same length; got {yt.numel()} and {yp.numel()} instead.")
    if present:
        classes, inverse = torch.unique(torch.cat([yt, yp]), return_inverse=True)
        return inverse[: yt.numel()], inverse[yt.numel():], classes.numel()
    if c is None:  # check_labels checked the range against a given num_classes
        name, top = max((("y_true", int(yt.max())), ("y_pred", int(yp.max()))), key=lambda pair: pair[1])
        if top >= max_inferred:
            raise ValueError(f"{name} must hold labels < {max_inferred} when num_classes is not given (arrays are "
                             f"sized by the largest label); got a maximum of {top} instead. A stray label? Or pass "
                             "num_classes.")
        c = top + 1
    return yt, yp, c


def _class_totals(yt: torch.Tensor, yp: torch.Tensor, c: int) -> tuple[np.ndarray, ...]:
    """(true positives, support in y_true, count in y_pred) per class < c, float64: the confusion margins, O(N + C)."""
    return tuple(torch.bincount(t, minlength=c)[:c].cpu().numpy().astype(np.float64) for t in (yt[yt == yp], yt, yp))


def class_recall(yt: torch.Tensor, yp: torch.Tensor, c: int) -> np.ndarray:
    """Per-class recall tp_c / n_c (NaN where n_c = 0) of label tensors already checked: the unvalidated core of
    :func:`per_class_accuracy`, for the training loops' per-epoch evaluation (labels >= c are left out)."""
    tp, support, _ = _class_totals(yt, yp, c)
    return np.where(support > 0, tp / np.maximum(support, 1), np.nan)


def _train_counts(train_counts, name: str = "train_counts") -> np.ndarray:
    return check_class_counts(train_counts, name=name, allow_zero=True).numpy()


def _sample_values(values, name: str = "values", num_classes: int | None = None) -> torch.Tensor:
    """Values of shape N (or C) or T x N as float64 on the CPU; ``num_classes``: one entry per class in each row."""
    v = as_tensor(values, name=name).detach()
    if v.dtype == torch.bool or v.is_complex() or v.ndim not in (1, 2) or v.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D or 2-D (one row per step) array of real numbers; "
                         f"got shape {tuple(v.shape)}, dtype {v.dtype} instead.")
    if num_classes is not None and v.shape[-1] != num_classes:
        raise ValueError(f"{name} must hold one entry per class ({num_classes}, the length of the training counts); "
                         f"got shape {tuple(v.shape)} instead.")
    return v.to("cpu", torch.float64)
