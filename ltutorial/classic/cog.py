"""COG: Classification using lOcal clusterinG (Wu, Wu, Chen & Xiong, KDD 2007; Wu, Xiong & Chen, DMKD 2010).

Phase I   k-means inside each large class turns it into sub-classes (relabelling);
Phase II  (COG-OS only) replicate the (sub-)classes so that every one is as large as the largest;
Phase III train an ordinary (linear) classifier on the sub-class labels;
Phase IV  predict a sub-class and map it back to its parent class.
A majority class made of several clusters around a rare class is not linearly separable from it,
but each cluster is: the sub-classes give a linear model the pieces it can separate. Notebook 04.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from ltutorial._validation import check_random_state
from ltutorial.classic.kmeans import kmeans
from ltutorial.sampling.base import resolve_device
from ltutorial.sampling.random_sampling import RandomOverSampler


def to_numpy(X, name: str = "X") -> np.ndarray:
    """numpy view of X for scikit-learn estimators (torch tensors are copied to the CPU)."""
    if isinstance(X, torch.Tensor):
        return X.detach().cpu().numpy()
    if isinstance(X, (np.ndarray, list, tuple)):
        return np.asarray(X)
    raise ValueError(f"{name} must be a numpy array or a torch tensor; got {type(X).__name__} instead.")


def like_input(values: np.ndarray, X):
    """Return ``values`` as a torch tensor on X's device when X is a tensor, else as numpy."""
    if isinstance(X, torch.Tensor):
        return torch.as_tensor(values).to(X.device)
    return values


def check_X_y(X, y) -> tuple[np.ndarray, np.ndarray]:
    X_np, y_np = to_numpy(X, "X"), to_numpy(y, "y")
    if X_np.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X_np.shape} instead.")
    if y_np.ndim != 1 or len(y_np) != len(X_np):
        raise ValueError(f"y must be 1-D with one label per row of X ({len(X_np)}); got shape {y_np.shape} instead.")
    if X_np.dtype.kind not in "biuf" or not np.all(np.isfinite(X_np)):
        raise ValueError("X must be numeric without NaN or infinite values; got non-finite or non-numeric values instead.")
    return X_np, y_np


def default_linear_model():
    """Multinomial logistic regression, the linear base model of the classic notebooks."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


_DECOMPOSE = ("not minority", "all")


class COG:
    """Local clustering for rare class analysis; ``oversample=True`` gives COG-OS.

    n_clusters: clusters per decomposed class: an int, a dict ``{class: k}`` or "auto"
        (k_j = round(n_j / n_min), so sub-classes come out about as large as the rarest class).
    decompose: which classes are clustered: "not minority" (every class but the smallest; the
        majority in a binary problem), "all", or a list of class labels.
    base_estimator: a scikit-learn classifier (cloned; default multinomial logistic regression);
        ``predict_proba`` needs one that has it.
    oversample: COG-OS: replicate every sub-class (rare classes included) up to the size of the
        largest sub-class before training (random replication with ``random_state``).
    device: where k-means runs (None: where X lives).

    Fitted: ``classes_``, ``subclass_parent_`` (sub-class -> index into classes_),
    ``n_subclasses_``, ``subclass_counts_``, ``train_subclasses_`` (sub-class of each training
    row), ``estimator_``.
    Notebook 04.
    """

    def __init__(self, n_clusters=3, oversample: bool = False, base_estimator=None, decompose="not minority",
                 random_state=None, device=None):
        self.n_clusters = n_clusters
        self.oversample = oversample
        self.base_estimator = base_estimator
        self.decompose = decompose
        self.random_state = random_state
        self.device = device

    def _clusters_for(self, label, n_c: int, n_min: int) -> int:
        if isinstance(self.n_clusters, str):
            if self.n_clusters != "auto":
                raise ValueError(f"n_clusters must be an int, a dict or 'auto'; got {self.n_clusters!r} instead.")
            return max(1, int(round(n_c / n_min)))
        if isinstance(self.n_clusters, dict):
            k = self.n_clusters.get(label, 1)
        else:
            k = self.n_clusters
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"n_clusters must be a positive int (or a dict of them); got {k!r} for class {label!r} instead.")
        if k > n_c:
            raise ValueError(f"n_clusters for class {label!r} must be <= its {n_c} samples; got {k} instead.")
        return int(k)

    def _targets(self, classes, counts) -> list:
        if isinstance(self.decompose, str):
            if self.decompose not in _DECOMPOSE:
                raise ValueError(f"decompose must be one of {list(_DECOMPOSE)} or a list of classes; got {self.decompose!r} instead.")
            if self.decompose == "all":
                return list(classes)
            minority = classes[int(np.argmin(counts))]
            return [c for c in classes if c != minority]
        if not isinstance(self.decompose, (list, tuple, set)):
            raise ValueError(f"decompose must be one of {list(_DECOMPOSE)} or a list of classes; got {self.decompose!r} instead.")
        targets = list(self.decompose)
        missing = [c for c in targets if c not in classes]
        if missing:
            raise ValueError(f"decompose names classes not present in y: {missing}; the classes are {list(classes)}.")
        return targets

    def fit(self, X, y):
        from sklearn.base import clone

        X_np, y_np = check_X_y(X, y)
        seed = check_random_state(self.random_state)
        if not isinstance(self.oversample, bool):
            raise ValueError(f"oversample must be True or False; got {self.oversample!r} instead.")
        classes, codes, counts = np.unique(y_np, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"y must contain at least 2 classes; got {len(classes)} instead.")
        cls_list = [c.item() for c in classes]
        targets = set(self._targets(cls_list, counts))
        sub = np.empty(len(y_np), dtype=np.int64)
        parent = []
        X_work = torch.from_numpy(np.ascontiguousarray(X_np, dtype=np.float32))
        # k-means runs where X lives (a CUDA tensor: on that GPU) unless ``device`` says otherwise
        km_device = resolve_device(self.device, X)
        for ci, label in enumerate(cls_list):
            rows = np.flatnonzero(codes == ci)
            k = self._clusters_for(label, int(counts[ci]), int(counts.min())) if label in targets else 1
            if k == 1:
                local = np.zeros(len(rows), dtype=np.int64)
            else:
                local = kmeans(X_work[rows], k, random_state=None if seed is None else seed + ci,
                               device=km_device).labels.cpu().numpy()
            sub[rows] = len(parent) + local
            parent.extend([ci] * k)
        self.classes_ = classes
        self.subclass_parent_ = np.asarray(parent, dtype=np.int64)
        self.n_subclasses_ = len(parent)
        self.subclass_counts_ = np.bincount(sub, minlength=self.n_subclasses_)
        self.train_subclasses_ = sub
        X_fit, y_fit = X_np, sub
        if self.oversample:
            X_fit, y_fit = RandomOverSampler("not majority", random_state=seed).fit_resample(X_np, sub)
        est = default_linear_model() if self.base_estimator is None else clone(self.base_estimator)
        self.estimator_ = est.fit(X_fit, y_fit)
        return self

    def _check_fitted(self):
        if not hasattr(self, "estimator_"):
            raise ValueError("this COG instance is not fitted yet; call fit(X, y) first.")

    def predict(self, X):
        """Predicted sub-class mapped back to its parent class (Phase IV)."""
        self._check_fitted()
        sub = np.asarray(self.estimator_.predict(to_numpy(X)), dtype=np.int64)
        return like_input(self.classes_[self.subclass_parent_[sub]], X)

    def predict_proba(self, X):
        """P(class | x) = sum of the base model's probabilities of that class's sub-classes."""
        self._check_fitted()
        if not hasattr(self.estimator_, "predict_proba"):
            raise ValueError(f"predict_proba needs a base_estimator with predict_proba; {type(self.estimator_).__name__} has none.")
        p_sub = self.estimator_.predict_proba(to_numpy(X))
        seen = np.asarray(self.estimator_.classes_, dtype=np.int64)  # columns of p_sub
        member = np.zeros((len(seen), len(self.classes_)))
        member[np.arange(len(seen)), self.subclass_parent_[seen]] = 1.0
        return like_input(p_sub @ member, X)
