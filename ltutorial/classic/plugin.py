"""Balanced-accuracy-consistent binary classifiers (Menon, Narasimhan, Agarwal & Chawla, ICML 2013).

For balanced accuracy AM = (TPR + TNR) / 2 the Bayes rule is ``sign(eta(x) - p)`` with
eta(x) = P(y=1|x) and p = P(y=1): the threshold is the base rate, not 1/2. Two consistent recipes:
* plug-in with empirical threshold (the slide's Algorithm 1): fit a class-probability estimator
  eta_hat with a proper loss, predict positive when eta_hat(x) > p_hat (training positive rate);
* empirically balanced ERM: weight positives by 1/(2 p_hat) and negatives by 1/(2 (1 - p_hat)),
  minimise a calibrated surrogate, threshold the score at 0.
Notebook 05 compares both with the inconsistent eta_hat > 1/2 as n grows.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ltutorial.classic.cog import check_X_y, default_linear_model, like_input, to_numpy


def _binary(y_np: np.ndarray):
    classes, codes = np.unique(y_np, return_inverse=True)
    if len(classes) != 2:
        raise ValueError(f"y must contain exactly 2 classes (binary); got {len(classes)} instead.")
    return classes, codes.reshape(-1)


def _empirical(codes: np.ndarray) -> float:
    return float(codes.mean())


def _half(codes: np.ndarray) -> float:
    return 0.5


THRESHOLDS = {"empirical": _empirical, "half": _half}


class PlugInClassifier:
    """Predict the positive class (``classes_[1]``) when ``eta_hat(x) > threshold_``.

    estimator: a scikit-learn classifier with ``predict_proba`` (cloned; default logistic
        regression, a proper-loss class-probability estimator).
    threshold: "empirical" (p_hat, the positive rate of the training labels: Menon et al. 2013,
        consistent for balanced accuracy), "half" (0.5, consistent for accuracy only) or a number
        in (0, 1).
    Fitted: ``classes_``, ``threshold_``, ``estimator_``.
    Notebook 05.
    """

    def __init__(self, estimator=None, threshold="empirical"):
        self.estimator = estimator
        self.threshold = threshold

    def fit(self, X, y):
        from sklearn.base import clone

        X_np, y_np = check_X_y(X, y)
        classes, codes = _binary(y_np)
        if isinstance(self.threshold, str):
            if self.threshold not in THRESHOLDS:
                raise ValueError(f"threshold must be one of {list(THRESHOLDS)} or a number in (0, 1); got {self.threshold!r} instead.")
            thr = THRESHOLDS[self.threshold](codes)
        elif isinstance(self.threshold, Real) and not isinstance(self.threshold, bool) and 0 < float(self.threshold) < 1:
            thr = float(self.threshold)
        else:
            raise ValueError(f"threshold must be one of {list(THRESHOLDS)} or a number in (0, 1); got {self.threshold!r} instead.")
        est = default_linear_model() if self.estimator is None else clone(self.estimator)
        if not hasattr(est, "predict_proba"):
            raise ValueError(f"estimator must have predict_proba (a class-probability estimator); {type(est).__name__} has none.")
        self.estimator_ = est.fit(X_np, codes)
        self.classes_ = classes
        self.threshold_ = thr
        return self

    def _eta(self, X) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise ValueError("this PlugInClassifier is not fitted yet; call fit(X, y) first.")
        return self.estimator_.predict_proba(to_numpy(X))[:, 1]

    def predict_proba(self, X):
        """The estimator's (N, 2) class probabilities [1 - eta_hat, eta_hat]."""
        eta = self._eta(X)
        return like_input(np.stack([1 - eta, eta], axis=1), X)

    def decision_function(self, X):
        """eta_hat(x) - threshold_: positive means the positive class."""
        return like_input(self._eta(X) - self.threshold_, X)

    def predict(self, X):
        positive = self._eta(X) > self.threshold_
        return like_input(self.classes_[positive.astype(np.int64)], X)


class WeightedERMClassifier:
    """Empirically balanced ERM: class-weighted fit with weights n / (K n_y), prediction at the usual 0.5.

    In the binary case the weights are 1/(2 p_hat) for positives and 1/(2 (1 - p_hat)) for
    negatives, the same as scikit-learn's ``class_weight="balanced"``. estimator: a
    scikit-learn classifier whose ``fit`` takes ``sample_weight`` (default logistic regression).
    Fitted: ``classes_``, ``class_weight_`` (one weight per class), ``estimator_``.
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        from sklearn.base import clone

        X_np, y_np = check_X_y(X, y)
        classes, codes, counts = np.unique(y_np, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"y must contain at least 2 classes; got {len(classes)} instead.")
        codes = codes.reshape(-1)
        weights = len(y_np) / (len(classes) * counts)
        est = default_linear_model() if self.estimator is None else clone(self.estimator)
        self.estimator_ = est.fit(X_np, codes, sample_weight=weights[codes])
        self.classes_ = classes
        self.class_weight_ = weights
        return self

    def predict(self, X):
        if not hasattr(self, "estimator_"):
            raise ValueError("this WeightedERMClassifier is not fitted yet; call fit(X, y) first.")
        return like_input(self.classes_[np.asarray(self.estimator_.predict(to_numpy(X)), dtype=np.int64)], X)

    def predict_proba(self, X):
        if not hasattr(self, "estimator_"):
            raise ValueError("this WeightedERMClassifier is not fitted yet; call fit(X, y) first.")
        return like_input(self.estimator_.predict_proba(to_numpy(X)), X)
