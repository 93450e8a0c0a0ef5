"""The tutorial's recurring figures: class counts, per-class accuracy vs class size, shot bars, decision regions.

Every function draws on ``ax`` (or a new figure of fixed size), labels its axes and returns the
``Axes``; none calls ``plt.show()`` (Jupyter shows the figure, headless runs save or discard it).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "plot_class_counts",
    "plot_longtail_profiles",
    "plot_per_class_accuracy",
    "plot_shot_accuracy",
    "plot_confusion_matrix",
    "plot_decision_regions",
    "FIGSIZE",
]

FIGSIZE = (6.0, 4.0)
_GROUPS = ("many", "medium", "few", "all")


def _axes(ax, figsize=FIGSIZE):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _numpy(x, name: str, ndim: int = 1) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array or tensor; got {type(x).__name__} instead.") from None
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array; got shape {arr.shape} instead.")
    return arr


def plot_class_counts(counts, ax=None, log: bool = True, labels=None, title: str | None = None):
    """Bar chart of training images per class, log-scaled y by default (a long tail spans decades).

    Notebook 01: the long-tailed profiles of CIFAR-10-LT and real data sets; notebook 02: the toy
    data before and after resampling.
    """
    counts = _numpy(counts, "counts")
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"counts must be finite and >= 0; got {counts.tolist()} instead.")
    if labels is not None and len(labels) != counts.size:
        raise ValueError(f"labels must have one name per class ({counts.size}); got {len(labels)} instead.")
    if log and np.any(counts == 0):
        raise ValueError("counts must all be > 0 for a log scale (pass log=False); got a zero count instead.")
    ax = _axes(ax)
    x = np.arange(counts.size)
    ax.bar(x, counts, color="tab:blue")
    if log:
        ax.set_yscale("log")
    if labels is not None:
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_xlabel("class" if labels is not None else "class index (sorted as given)")
    ax.set_ylabel("training images" + (" (log scale)" if log else ""))
    if title:
        ax.set_title(title)
    return ax


def plot_longtail_profiles(profiles: dict, ax=None, log: bool = True, title: str | None = None):
    """One line per profile of class counts against class index: ``{"exp, ratio 100": counts, ...}``.

    Notebook 01 compares exponential and step profiles at several imbalance ratios.
    """
    if not isinstance(profiles, dict) or not profiles:
        raise ValueError(f"profiles must be a non-empty dict name -> counts; got {type(profiles).__name__} instead.")
    ax = _axes(ax)
    for name, counts in profiles.items():
        c = _numpy(counts, f"profiles[{name!r}]")
        ax.plot(np.arange(c.size), c, marker="o", markersize=3, label=str(name))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("class index (head -> tail)")
    ax.set_ylabel("training images" + (" (log scale)" if log else ""))
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_per_class_accuracy(per_class_acc, class_counts, ax=None, label: str | None = None, log: bool = True):
    """Scatter of each class's test accuracy against its training size (log x).

    The figure behind the tutorial's first claim: under ERM accuracy falls with class size.
    Call it once per method on the same ``ax`` to compare (``label`` goes to the legend).
    NaN accuracies (classes absent from the test set) are left out. Notebooks 01 and 03.
    """
    acc = _numpy(per_class_acc, "per_class_acc")
    counts = _numpy(class_counts, "class_counts")
    if acc.size != counts.size:
        raise ValueError(
            f"per_class_acc and class_counts must have one entry per class; got {acc.size} and {counts.size} instead."
        )
    if log and np.any(counts <= 0):
        raise ValueError("class_counts must all be > 0 for a log x-axis (pass log=False); got a zero count instead.")
    keep = ~np.isnan(acc)
    ax = _axes(ax)
    ax.scatter(counts[keep], acc[keep], label=label, alpha=0.8)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("training images of the class" + (" (log scale)" if log else ""))
    ax.set_ylabel("test accuracy of the class")
    ax.set_ylim(-0.02, 1.02)
    if label is not None:
        ax.legend()
    return ax


def plot_shot_accuracy(results: dict, ax=None, groups=_GROUPS, title: str | None = None):
    """Grouped bars: one group per shot split (many / medium / few / all), one bar per method.

    ``results`` maps a method name to a dict such as :func:`ltutorial.metrics.shot_accuracy`
    returns. A NaN (empty group, e.g. few-shot on CIFAR-10-LT) is drawn as an empty bar marked
    "n/a". Notebooks 10-12.
    """
    if not isinstance(results, dict) or not results:
        raise ValueError(f"results must be a non-empty dict method -> {{group: accuracy}}; got {results!r} instead.")
    for method, res in results.items():
        missing = [g for g in groups if not isinstance(res, dict) or g not in res]
        if missing:
            raise ValueError(f"results[{method!r}] must have the keys {list(groups)}; got {res!r} instead.")
    ax = _axes(ax)
    n = len(results)
    width = 0.8 / n
    x = np.arange(len(groups))
    for i, (method, res) in enumerate(results.items()):
        heights = np.array([float(res[g]) for g in groups])
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, np.nan_to_num(heights, nan=0.0), width=width, label=str(method))
        for p, h in zip(pos, heights):
            if np.isnan(h):
                ax.text(p, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.set_xlabel("class group (by training images)")
    ax.set_ylabel("mean per-class accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def plot_confusion_matrix(cm, ax=None, class_names=None, title: str | None = None):
    """Heat map of a (row-normalised) confusion matrix, true class on y, predicted on x."""
    cm = _numpy(cm, "cm", ndim=2)
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be square; got shape {cm.shape} instead.")
    ax = _axes(ax, figsize=(5.0, 4.5))
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    if class_names is not None:
        if len(class_names) != cm.shape[0]:
            raise ValueError(f"class_names must have {cm.shape[0]} entries; got {len(class_names)} instead.")
        ax.set_xticks(range(cm.shape[0]), class_names, rotation=45, ha="right")
        ax.set_yticks(range(cm.shape[0]), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return ax


def plot_decision_regions(
    predict_fn, X, y, ax=None, resolution: int = 200, title: str | None = None, margin: float = 0.5
):
    """Filled decision regions of a 2-D classifier with the data on top.

    ``predict_fn`` maps an (M, 2) float array to M labels (numpy or torch); it is called once on
    the whole ``resolution`` x ``resolution`` grid. Notebooks 02, 04 and 05 (SMOTE, COG, plug-in
    rule on synthetic 2-D data).
    """
    if not callable(predict_fn):
        raise ValueError(f"predict_fn must be a callable (M, 2) array -> M labels; got {type(predict_fn).__name__} instead.")
    X = _numpy(X, "X", ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 features for a 2-D plot; got {X.shape[1]} instead.")
    y = _numpy(y, "y").astype(np.int64)
    if y.size != X.shape[0]:
        raise ValueError(f"y must have one label per row of X ({X.shape[0]}); got {y.size} instead.")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2; got {resolution!r} instead.")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.integer, np.floating)) or not (
        np.isfinite(margin) and margin >= 0
    ):
        raise ValueError(f"margin must be a finite number >= 0; got {margin!r} instead.")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    z = predict_fn(grid)
    z = _numpy(z, "predict_fn(grid)").reshape(-1)
    if z.size != grid.shape[0]:
        raise ValueError(f"predict_fn must return one label per grid point ({grid.shape[0]}); got {z.size} instead.")
    num_classes = int(max(z.max(), y.max())) + 1
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20")
    ax = _axes(ax, figsize=(5.0, 5.0))
    levels = np.arange(num_classes + 1) - 0.5
    ax.contourf(gx, gy, z.reshape(gx.shape), levels=levels, cmap=cmap, vmin=-0.5, vmax=cmap.N - 0.5, alpha=0.3)
    for c in np.unique(y):
        pts = X[y == c]
        label = f"class {c} ({len(pts)})"
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color=cmap(int(c)), edgecolor="k", linewidth=0.3, label=label)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return ax
