"""The tutorial's recurring figures: class counts, per-class accuracy vs class size, shot bars, decision regions.

Each function draws on ``ax`` (or a new figure), labels the axes and returns the ``Axes``; none calls ``plt.show()``.
"""

import numpy as np
import torch

from ltutorial._validation import as_tensor, check_class_counts
from ltutorial.metrics import GROUPS

__all__ = ["plot_class_counts", "plot_longtail_profiles", "plot_per_class_accuracy", "plot_shot_accuracy",
           "plot_decision_regions", "FIGSIZE"]

FIGSIZE = (6.0, 4.0)


def plot_class_counts(counts, ax=None, labels=None, title: str | None = None):
    """Bar chart of training images per class on a log scale (a long tail spans decades); notebook 01."""
    counts = check_class_counts(counts, name="counts").numpy()  # > 0: a log scale
    if labels is not None and len(labels) != counts.size:
        raise ValueError(f"labels must have one name per class ({counts.size}); got {len(labels)} instead.")
    ax = _axes(ax)
    ax.bar(np.arange(counts.size), counts, color="tab:blue")
    if labels is not None:
        ax.set_xticks(np.arange(counts.size), labels, rotation=45, ha="right")
    return _finish(ax, title, xlabel="class" if labels is not None else "class index (sorted as given)",
                   ylabel="training images (log scale)", yscale="log")


def plot_longtail_profiles(profiles: dict, ax=None, title: str | None = None):
    """One line of class counts per profile, ``{"exp, ratio 100": counts, ...}``; notebook 01."""
    if not isinstance(profiles, dict) or not profiles:
        raise ValueError(f"profiles must be a non-empty dict name -> counts; got {type(profiles).__name__} instead.")
    ax = _axes(ax)
    for name, counts in profiles.items():
        c = check_class_counts(counts, name=f"profiles[{name!r}]").numpy()  # > 0 and finite: a log axis
        ax.plot(np.arange(c.size), c, marker="o", markersize=3, label=str(name))
    ax.legend()
    return _finish(ax, title, xlabel="class index (head -> tail)", ylabel="training images (log scale)", yscale="log")


def plot_per_class_accuracy(per_class_acc, class_counts, ax=None, label: str | None = None):
    """Each class's test accuracy against its training size (log x), NaNs left out; once per method on one ``ax``."""
    acc = _numpy(per_class_acc, "per_class_acc")
    counts = check_class_counts(class_counts, num_classes=acc.size).numpy()  # > 0: a log x-axis
    ax = _axes(ax)
    keep = ~np.isnan(acc)
    ax.scatter(counts[keep], acc[keep], label=label, alpha=0.8)
    if label is not None:
        ax.legend()
    return _finish(ax, None, xlabel="training images of the class (log scale)", ylabel="test accuracy of the class",
                   xscale="log", ylim=(-0.02, 1.02))


def plot_shot_accuracy(results: dict, ax=None, title: str | None = None):
    """Grouped bars, a group per shot split, a bar per method of ``{method: shot_accuracy(...)}``, NaN as "n/a"."""
    if not isinstance(results, dict) or not results:
        raise ValueError(f"results must be a non-empty dict method -> {{group: accuracy}}; got {results!r} instead.")
    for method, res in results.items():
        if not isinstance(res, dict) or any(g not in res for g in GROUPS):
            raise ValueError(f"results[{method!r}] must have the keys {list(GROUPS)}; got {res!r} instead.")
    ax = _axes(ax)
    width, x = 0.8 / len(results), np.arange(len(GROUPS))
    for i, (method, res) in enumerate(results.items()):
        heights = np.array([float(res[g]) for g in GROUPS])
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, np.nan_to_num(heights, nan=0.0), width=width, label=str(method))
        for p in pos[np.isnan(heights)]:
            ax.text(p, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(x, GROUPS)
    ax.legend(fontsize=8)
    return _finish(ax, title, xlabel="class group (by training images)", ylabel="mean per-class accuracy", ylim=(0, 1))


def plot_decision_regions(predict_fn, X, y, ax=None, title: str | None = None):
    """Decision regions of a 2-D classifier (``predict_fn`` called once on the grid), the data on top."""
    if not callable(predict_fn):
        raise ValueError(f"predict_fn must be a callable (M, 2) array -> M labels; got {type(predict_fn).__name__} "
                         "instead.")
    X, y = _numpy(X, "X", ndim=2), _labels(_numpy(y, "y"), "y")
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 features for a 2-D plot; got {X.shape[1]} instead.")
    if y.size != X.shape[0]:
        raise ValueError(f"y must have one label per row of X ({X.shape[0]}); got {y.size} instead.")
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    z = _numpy(predict_fn(np.column_stack([gx.ravel(), gy.ravel()])), "predict_fn(grid)").reshape(-1)
    if z.size != gx.size:
        raise ValueError(f"predict_fn must return one label per grid point ({gx.size}); got {z.size} instead.")
    z = _labels(z, "predict_fn(grid)")
    import matplotlib.pyplot as plt

    classes = np.unique(np.concatenate([y, z]))  # colour i for the i-th label: {-1, 1} works too
    cmap = plt.get_cmap("tab10" if classes.size <= 10 else "tab20")
    ax = _axes(ax, figsize=(5.0, 5.0))
    ax.contourf(gx, gy, np.searchsorted(classes, z).reshape(gx.shape),
                levels=np.arange(classes.size + 1) - 0.5, cmap=cmap, vmin=-0.5, vmax=cmap.N - 0.5, alpha=0.3)
    for i, c in enumerate(classes):
        pts = X[y == c]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=12, color=cmap(i), edgecolor="k", linewidth=0.3,
                       label=f"class {c} ({len(pts)})")
    ax.legend(fontsize=8, loc="best")
    return _finish(ax, title, xlabel="feature 1", ylabel="feature 2", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))


def _axes(ax, figsize=FIGSIZE):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _finish(ax, title: str | None, **props):
    """``ax.set(**props)``, the title only if given (a caller's own title on ``ax`` stays)."""
    ax.set(**props, **({"title": title} if title else {}))
    return ax


def _labels(values: np.ndarray, name: str) -> np.ndarray:
    """Integer class labels (any sign) as int64; NaN or 0.5 refused (a cast made NaN a huge negative class)."""
    if not (np.isfinite(values).all() and (values == np.round(values)).all()):
        raise ValueError(f"{name} must hold integer class labels; got values such as "
                         f"{values[~(np.isfinite(values) & (values == np.round(values)))][:3].tolist()} instead.")
    return values.astype(np.int64)


def _numpy(x, name: str, ndim: int = 1) -> np.ndarray:
    arr = as_tensor(x, name=name).detach().to("cpu", torch.float64).numpy()
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array; got shape {arr.shape} instead.")
    return arr
