"""Evaluation metrics for imbalanced and long-tailed classification.

Every metric is computed from one confusion matrix built with ``torch.bincount`` (no Python
loop over samples). Inputs are numpy arrays, lists or torch tensors on any device; ``y_pred``
holds predicted class labels (take ``logits.argmax(1)`` first). Per-class results come back as
numpy arrays, scalar metrics as Python floats.

Conventions (tutorial section "evaluation", notebooks 01, 02 and every later results table):

- per-class accuracy = recall_c = TP_c / n_c, with n_c the number of test samples of class c;
- balanced accuracy = mean recall over the classes present in ``y_true``; on a balanced test set
  such as CIFAR-10's it equals plain accuracy;
- many / medium / few shot groups by each class's *training* count (Liu et al., OLTR, 2019);
- thirds of classes sorted by training count, the split of the self-supervised long-tail papers
  (SDCLR, BCL, GH).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ltutorial._validation import as_tensor, check_choice, check_positive_int

__all__ = [
    "accuracy",
    "confusion_matrix",
    "per_class_accuracy",
    "balanced_accuracy",
    "g_mean",
    "macro_f1",
    "shot_accuracy",
    "group_accuracy_by_thirds",
    "thirds_split",
    "class_mean",
    "group_mean_by_thirds",
    "GROUPS",
]

GROUPS = ("many", "medium", "few", "all")

_NORMALIZE = {None: None, "true": "true"}

# When num_classes is not given it is max label + 1, so one stray huge label would size every
# array by it: per-class metrics keep vectors of that length (100,000 classes: 0.8 MB), a
# confusion matrix its square (4,096 classes: 128 MiB). Beyond these, pass num_classes.
MAX_INFERRED_CLASSES = 100_000
MAX_INFERRED_MATRIX_CLASSES = 4_096


# ---------------------------------------------------------------- input handling
def _labels(x, name: str) -> torch.Tensor:
    try:
        t = as_tensor(x, name=name)
    except ValueError as err:
        if "must hold numbers" not in str(err):
            raise
        # strings / object arrays: say what labels must be, not just "numbers"
        raise ValueError(f"{name} must hold integer class labels; got {np.asarray(x).dtype} values instead.") from None
    if t.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class labels; got shape {tuple(t.shape)} instead.")
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty; got 0 labels instead.")
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must hold integer class labels; got dtype {t.dtype} instead.")
    if t.is_floating_point():
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must hold finite integer class labels; got {float(t[~torch.isfinite(t)][0])} "
                             "instead.")
        if not bool(torch.equal(t, t.round())):
            raise ValueError(
                f"{name} must hold integer class labels (for scores or logits take .argmax(1) first); "
                "got non-integer values instead."
            )
    t = t.to(torch.int64)
    low = int(t.min())
    if low < 0:
        raise ValueError(f"{name} must hold labels >= 0; got a minimum of {low} instead.")
    return t


def _pair(y_true, y_pred, num_classes=None, *,
          max_inferred: int = MAX_INFERRED_CLASSES) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Validate a (y_true, y_pred) pair; return them on y_true's device plus the class count."""
    yt = _labels(y_true, "y_true")
    yp = _labels(y_pred, "y_pred").to(yt.device)
    if yt.numel() != yp.numel():
        raise ValueError(f"y_true and y_pred must have the same length; got {yt.numel()} and {yp.numel()} instead.")
    top = max(int(yt.max()), int(yp.max()))
    if num_classes is None:
        num_classes = top + 1
        if num_classes > max_inferred:
            name = "y_true" if int(yt.max()) == top else "y_pred"
            raise ValueError(
                f"{name} must hold labels < {max_inferred} when num_classes is not given (arrays are sized by the "
                f"largest label); got a maximum of {top} instead. A stray label? Else pass num_classes."
            )
    else:
        num_classes = check_positive_int(num_classes, name="num_classes")
        for t, name in ((yt, "y_true"), (yp, "y_pred")):
            if int(t.max()) >= num_classes:
                raise ValueError(
                    f"{name} must hold labels < num_classes={num_classes}; got a maximum of {int(t.max())} instead."
                )
    return yt, yp, num_classes


def _train_counts(train_counts) -> np.ndarray:
    counts = as_tensor(train_counts, name="train_counts").detach().to("cpu", torch.float64)
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError(
            "train_counts must be a non-empty 1-D sequence of per-class training counts; "
            f"got shape {tuple(counts.shape)} instead."
        )
    if not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
        raise ValueError(f"train_counts must hold finite counts >= 0; got {counts.tolist()} instead.")
    return counts.numpy()


def _counts_matrix(yt: torch.Tensor, yp: torch.Tensor, num_classes: int) -> np.ndarray:
    # One bincount over the flattened (true, pred) index: the whole confusion matrix in one pass.
    flat = torch.bincount(yt * num_classes + yp, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).cpu().numpy().astype(np.int64)


def _class_totals(yt: torch.Tensor, yp: torch.Tensor, num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true positives, support in y_true, count in y_pred) per class: O(N + C), the diagonal and the
    margins of the confusion matrix without building it."""
    tp = torch.bincount(yt[yt == yp], minlength=num_classes)
    return tuple(t.cpu().numpy().astype(np.int64) for t in (tp, torch.bincount(yt, minlength=num_classes),
                                                              torch.bincount(yp, minlength=num_classes)))


# ---------------------------------------------------------------- basic metrics
def accuracy(y_true, y_pred) -> float:
    """Plain top-1 accuracy, mean(y_pred == y_true).

    On a long-tailed test set it is dominated by the head classes (notebook 01 contrasts it with
    :func:`balanced_accuracy`).
    """
    yt, yp, _ = _pair(y_true, y_pred)
    return float((yt == yp).double().mean())


def confusion_matrix(y_true, y_pred, num_classes: int | None = None, normalize: str | None = None) -> np.ndarray:
    """Confusion matrix C[i, j] = number of samples of true class i predicted as j.

    Same as ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(num_classes))``.
    ``num_classes`` defaults to max label + 1 (so the matrix is indexed by the label itself,
    unlike scikit-learn's default, which keeps only the labels that occur).
    ``normalize="true"`` divides each row by its support (row = per-class recall distribution;
    the diagonal is :func:`per_class_accuracy`); a row with no samples is all NaN. Notebook 01
    (the balanced-accuracy exercise).
    """
    check_choice(normalize, list(_NORMALIZE), name="normalize")
    yt, yp, c = _pair(y_true, y_pred, num_classes, max_inferred=MAX_INFERRED_MATRIX_CLASSES)
    cm = _counts_matrix(yt, yp, c)
    if normalize == "true":
        support = cm.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(support > 0, cm / np.maximum(support, 1), np.nan)
    return cm


def per_class_accuracy(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Per-class accuracy (recall) a_c = TP_c / n_c, a float64 array of length num_classes.

    A class with no sample in ``y_true`` has no defined accuracy and gets NaN (use ``np.nanmean``).
    Equals ``sklearn.metrics.recall_score(y_true, y_pred, average=None)`` on the present classes.
    Notebook 01 plots it against the training class size; notebooks 02-04 report it.
    """
    yt, yp, c = _pair(y_true, y_pred, num_classes)
    tp, support, _ = _class_totals(yt, yp, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, tp / np.maximum(support, 1), np.nan)


def _present_classes(y_true, y_pred) -> tuple[torch.Tensor, torch.Tensor]:
    """Both label arrays renumbered 0..K-1 over the classes that occur in either.

    Metrics averaged over the classes present need nothing else, so a large label id (e.g. 200000)
    costs no array of that size and needs no ``num_classes``.
    """
    yt = _labels(y_true, "y_true")
    yp = _labels(y_pred, "y_pred").to(yt.device)
    _, inverse = torch.unique(torch.cat([yt.reshape(-1), yp.reshape(-1)]), return_inverse=True)
    return inverse[: yt.numel()], inverse[yt.numel():]


def balanced_accuracy(y_true, y_pred) -> float:
    """Balanced accuracy = (1/|C|) sum_c recall_c over the classes C present in ``y_true``.

    The metric the long-tail papers report on balanced test sets; equals
    ``sklearn.metrics.balanced_accuracy_score`` (Brodersen et al., 2010). Notebooks 01-04 and 08.
    """
    return float(np.nanmean(per_class_accuracy(*_present_classes(y_true, y_pred))))


def g_mean(y_true, y_pred, correction: float = 0.0) -> float:
    """Geometric mean of the per-class recalls, (prod_c recall_c)^(1/|C|).

    Over the classes present in ``y_true``; a zero recall makes it 0 unless ``correction`` > 0
    replaces zero recalls (as in imbalanced-learn). Equals
    ``imblearn.metrics.geometric_mean_score(..., average="multiclass")`` whenever every predicted
    class also occurs in ``y_true`` (imbalanced-learn counts a predicted-only class as recall 0).
    Kubat & Matwin (1997); notebook 02.
    """
    if isinstance(correction, bool) or not isinstance(correction, (int, float, np.integer, np.floating)) or not (
        0 <= float(correction) <= 1
    ):
        raise ValueError(f"correction must be a number in [0, 1]; got {correction!r} instead.")
    rec = per_class_accuracy(*_present_classes(y_true, y_pred))
    rec = rec[~np.isnan(rec)]
    rec = np.where(rec == 0, float(correction), rec)
    if np.any(rec == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(rec))))


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 = mean over classes of F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c).

    Over the classes that occur in ``y_true`` or ``y_pred`` (a class only predicted has F1 0),
    exactly ``sklearn.metrics.f1_score(y_true, y_pred, average="macro")``. Notebook 02.
    """
    yt, yp, c = _pair(*_present_classes(y_true, y_pred))
    tp, support, predicted = _class_totals(yt, yp, c)
    tp = tp.astype(np.float64)
    fn = support - tp
    fp = predicted - tp
    present = (support + predicted) > 0
    return float(np.mean(2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])))


# ---------------------------------------------------------------- group metrics
def _group_means(acc: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for key, mask in groups.items():
        vals = acc[mask]
        vals = vals[~np.isnan(vals)]
        out[key] = float(vals.mean()) if vals.size else float("nan")
    out["all"] = float(np.nanmean(acc)) if np.any(~np.isnan(acc)) else float("nan")
    return out


def shot_accuracy(y_true, y_pred, train_counts, many_threshold: int = 100, few_threshold: int = 20) -> dict[str, float]:
    """Mean per-class accuracy in the many / medium / few-shot groups, plus ``all``.

    A class is *many* if it has more than ``many_threshold`` (100) training images, *few* if it
    has fewer than ``few_threshold`` (20), *medium* otherwise (20 to 100 inclusive) - the
    thresholds as stated in the OLTR paper (Liu et al., 2019) and used for CIFAR-100-LT /
    ImageNet-LT tables. (OLTR's code puts exactly 100 in many and exactly 20 in few; that changes
    CIFAR-100-LT's 35/35/30 split.) ``all`` = mean per-class accuracy = balanced accuracy.
    A group without classes, or whose classes are all absent from ``y_true``, gives NaN
    (CIFAR-10-LT at ratio 100 has no few-shot class). The results tables of ``ltutorial reproduce``
    (notebooks 06-09).
    """
    counts = _train_counts(train_counts)
    many_threshold = check_positive_int(many_threshold, name="many_threshold", minimum=0)
    few_threshold = check_positive_int(few_threshold, name="few_threshold", minimum=0)
    if few_threshold > many_threshold:
        raise ValueError(
            f"few_threshold must be <= many_threshold={many_threshold}; got few_threshold={few_threshold} instead."
        )
    acc = per_class_accuracy(y_true, y_pred, num_classes=counts.size)
    groups = {
        "many": counts > many_threshold,
        "medium": (counts >= few_threshold) & (counts <= many_threshold),
        "few": counts < few_threshold,
    }
    return _group_means(acc, groups)


def thirds_split(train_counts) -> dict[str, np.ndarray]:
    """Class indices of the many / medium / few thirds used by :func:`group_accuracy_by_thirds`.

    Notebooks 01 and 10-12 colour or group classes by it.
    """
    counts = _train_counts(train_counts)
    c = counts.size
    # Stable sort by descending count, so ties keep the class order (head classes come first).
    order = np.argsort(-counts, kind="stable")
    k = c // 3
    n_many = c - 2 * k
    return {"many": order[:n_many], "medium": order[n_many : n_many + k], "few": order[n_many + k :]}


def group_accuracy_by_thirds(y_true, y_pred, train_counts) -> dict[str, float]:
    """Mean per-class accuracy on thirds of the classes sorted by training count, plus ``all``.

    The self-supervised long-tail papers (SDCLR, Jiang et al. 2021; BCL, Zhou et al. 2022;
    GH, Zhou et al. 2023) sort classes by their long-tailed training count: the floor(C/3)
    smallest are *few*, the next floor(C/3) *medium*, the rest *many* - CIFAR-10 gives 4/3/3,
    CIFAR-100 34/33/33. Ties keep class order. ``all`` is the mean per-class accuracy. With
    fewer than 3 classes every class is *many* and the other groups are NaN. Notebooks 01 and 10-12.
    """
    counts = _train_counts(train_counts)
    acc = per_class_accuracy(y_true, y_pred, num_classes=counts.size)
    masks = {}
    for key, idx in thirds_split(counts).items():
        m = np.zeros(counts.size, dtype=bool)
        m[idx] = True
        masks[key] = m
    return _group_means(acc, masks)


# ---------------------------------------------------------------- per-sample values by class / thirds
def _sample_values(values, name: str = "values") -> torch.Tensor:
    v = as_tensor(values, name=name).detach()
    if v.dtype == torch.bool or v.is_complex() or v.ndim not in (1, 2) or v.shape[-1] == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D (samples) or 2-D (steps x samples) array of real numbers; "
            f"got shape {tuple(v.shape)}, dtype {v.dtype} instead."
        )
    return v.to("cpu", torch.float64)


def class_mean(values, labels, num_classes: int | None = None) -> np.ndarray:
    """Mean of a per-sample value within each class: m_c = (1/n_c) sum_{i: y_i = c} v_i.

    ``values`` has one entry per sample (shape N) or one row per step (T x N, e.g. a score kept
    at every epoch); the result has shape C or T x C, float64. A class without samples gets NaN.
    ``num_classes`` defaults to max(labels) + 1. One ``index_add_`` over the samples (no Python
    loop). Notebooks 10 (pruning sensitivity per class) and 11 (memorization score per class).
    """
    v = _sample_values(values)
    y = _labels(labels, "labels").cpu()
    if y.numel() != v.shape[-1]:
        raise ValueError(f"labels must have one entry per sample ({v.shape[-1]}); got {y.numel()} instead.")
    high = int(y.max()) + 1
    c = high if num_classes is None else check_positive_int(num_classes, name="num_classes")
    if high > c:
        raise ValueError(f"labels must be < num_classes = {c}; got a label {high - 1} instead.")
    v2 = v.reshape(-1, v.shape[-1])
    sums = torch.zeros(v2.shape[0], c, dtype=torch.float64).index_add_(1, y, v2)
    n = torch.bincount(y, minlength=c).to(torch.float64)
    means = torch.where(n > 0, sums / n.clamp(min=1), torch.full_like(sums, float("nan")))
    return means.reshape(*v.shape[:-1], c).numpy()


_WEIGHTS = ("class", "sample")


def group_mean_by_thirds(values, labels, train_counts, *, weight: str = "class") -> dict:
    """Mean of a per-sample (or per-class) value over the many / medium / few thirds, plus ``all``.

    The groups are :func:`thirds_split` of ``train_counts`` (the self-supervised long-tail papers'
    split, as in :func:`group_accuracy_by_thirds`). ``weight="class"`` (default): the mean over
    the group's classes of the class means m_c = mean_{i: y_i = c} v_i, so every class counts
    alike and ``all`` = mean_c m_c - with ``values`` = 1[prediction correct] this is exactly
    ``group_accuracy_by_thirds``. ``weight="sample"``: the plain mean over the group's samples
    (head classes weigh more), ``all`` = mean of all values. ``labels=None`` means ``values``
    already holds one value per class (length C = len(train_counts)); then only ``"class"``
    applies. ``values`` of shape T x N (one row per epoch) give arrays of length T instead of
    floats. Empty groups (fewer than 3 classes) and classes without samples are NaN / skipped.
    Notebooks 10 (pruning sensitivity), 11 (memorization score) and 12 (feature spread).
    """
    check_choice(weight, list(_WEIGHTS), name="weight")
    counts = _train_counts(train_counts)
    c = counts.size
    one_row = _sample_values(values).ndim == 1
    if labels is None:
        if weight != "class":
            raise ValueError(
                f"weight must be 'class' when labels is None (values are per class); got {weight!r} instead."
            )
        per_class = _sample_values(values).numpy()
        if per_class.shape[-1] != c:
            raise ValueError(
                f"values must hold one entry per class ({c}, the length of train_counts) when labels is None; "
                f"got shape {tuple(per_class.shape)} instead."
            )
    else:
        per_class = class_mean(values, labels, num_classes=c)
    groups = thirds_split(counts)
    if weight == "sample":
        v = _sample_values(values)
        y = _labels(labels, "labels").cpu().numpy()
        vn = v.reshape(-1, v.shape[-1]).numpy()
        out = {}
        for key, idx in groups.items():
            mask = np.isin(y, idx)
            out[key] = vn[:, mask].mean(1) if mask.any() else np.full(vn.shape[0], np.nan)
        out["all"] = vn.mean(1)
    else:
        pc = per_class.reshape(-1, c)
        out = {}
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN group is NaN by design
            for key, idx in groups.items():
                out[key] = np.nanmean(pc[:, idx], axis=1) if idx.size else np.full(pc.shape[0], np.nan)
            out["all"] = np.nanmean(pc, axis=1)
    if one_row:
        return {key: float(val[0]) for key, val in out.items()}
    return out
