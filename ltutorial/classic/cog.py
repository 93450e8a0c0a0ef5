"""COG, Classification using lOcal clusterinG (Wu, Wu, Chen & Xiong, KDD 2007; Wu, Xiong & Chen, DMKD 2010).

I k-means splits each large class, II (COG-OS) oversamples, III a linear model learns them, IV maps back (notebook 04).
"""

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from ltutorial._validation import check_positive_int, check_random_state
from ltutorial.classic.kmeans import kmeans
from ltutorial.sampling.base import as_numpy, like_input, resolve_device
from ltutorial.sampling.random_sampling import RandomOverSampler

LINEAR_MODEL = LogisticRegression(max_iter=2000)  # the linear base model of the classic notebooks (cloned per fit)


class COG:
    """COG (``oversample=True``: COG-OS) with ``n_clusters`` sub-classes for every class but the smallest."""

    def __init__(self, n_clusters=3, oversample: bool = False, base_estimator=None, random_state=None, device=None):
        self.n_clusters, self.oversample, self.base_estimator = n_clusters, oversample, base_estimator
        self.random_state, self.device = random_state, device

    def fit(self, X, y):
        X_np, classes, codes, counts = check_X_y(X, y)
        seed, k = check_random_state(self.random_state), check_positive_int(self.n_clusters, name="n_clusters")
        if not isinstance(self.oversample, bool):
            raise ValueError(f"oversample must be True or False; got {self.oversample!r} instead.")
        sub, parent = np.empty(len(codes), dtype=np.int64), []
        for ci in range(len(classes)):  # Phase I: k-means inside every class but the smallest
            rows, k_c = np.flatnonzero(codes == ci), 1 if ci == int(np.argmin(counts)) else k
            if k_c > len(rows):
                raise ValueError(f"n_clusters must be <= its {len(rows)} samples for class {classes[ci]!r}; got {k} "
                                 "instead.")
            local = np.zeros(len(rows), dtype=np.int64) if k_c == 1 else kmeans(
                X_np[rows], k_c, random_state=None if seed is None else seed + ci,
                device=resolve_device(self.device, X)).labels  # where X lives, unless device says
            sub[rows] = len(parent) + local
            parent.extend([ci] * k_c)
        self.classes_, self.subclass_parent_, self.train_subclasses_ = classes, np.asarray(parent, dtype=np.int64), sub
        self.n_subclasses_, self.subclass_counts_ = len(parent), np.bincount(sub, minlength=len(parent))
        X_fit, y_fit = X_np, sub
        if self.oversample:  # Phase II: every sub-class replicated up to the largest
            X_fit, y_fit = RandomOverSampler("not majority", random_state=seed).fit_resample(X_np, sub)
        est = clone(LINEAR_MODEL if self.base_estimator is None else self.base_estimator)
        self.estimator_ = est.fit(X_fit, y_fit)  # Phase III
        return self

    def predict(self, X):
        """Phase IV: the predicted sub-class mapped back to its class."""
        sub = np.asarray(fitted(self).predict(to_numpy(X)), dtype=np.int64)
        return like_input(self.classes_[self.subclass_parent_[sub]], X)

    def predict_proba(self, X):
        """P(class | x) = the sum of the base model's probabilities of that class's sub-classes."""
        if not hasattr(fitted(self), "predict_proba"):
            raise ValueError("predict_proba needs a base_estimator with predict_proba; "
                             f"{type(self.estimator_).__name__} has none.")
        seen = np.asarray(self.estimator_.classes_, dtype=np.int64)  # the columns of predict_proba
        member = np.eye(len(self.classes_))[self.subclass_parent_[seen]]  # sub-class -> its class, one-hot
        return like_input(self.estimator_.predict_proba(to_numpy(X)) @ member, X)


def fitted(model):
    """``model.estimator_``, or a ValueError if ``model.fit`` was not called; shared with ``plugin``."""
    if not hasattr(model, "estimator_"):
        raise ValueError(f"this {type(model).__name__} instance is not fitted yet; call fit(X, y) first.")
    return model.estimator_


def to_numpy(X, name: str = "X") -> np.ndarray:
    """X as numpy for scikit-learn (tensors copied to the CPU); shared with ``plugin``."""
    if not isinstance(X, (torch.Tensor, np.ndarray, list, tuple)):
        raise ValueError(f"{name} must be a numpy array or a torch tensor; got {type(X).__name__} instead.")
    return as_numpy(X)


def check_X_y(X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X (2-D, finite numbers) as numpy and y's (classes, codes, counts), at least 2 classes, one label per row of X:
    for the scikit-learn models of notebooks 04-05."""
    X_np, y_np = to_numpy(X, "X"), to_numpy(y, "y")
    if X_np.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X_np.shape} instead.")
    if y_np.ndim != 1 or len(y_np) != len(X_np):
        raise ValueError(f"y must be 1-D with one label per row of X ({len(X_np)}); got shape {y_np.shape} instead.")
    if X_np.dtype.kind not in "biuf" or not np.all(np.isfinite(X_np)):
        raise ValueError("X must be numeric without NaN or infinite values; got such values instead.")
    classes, codes, counts = np.unique(y_np, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"y must contain at least 2 classes; got {len(classes)} instead.")
    return X_np, classes, codes, counts
