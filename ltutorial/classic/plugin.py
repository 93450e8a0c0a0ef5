"""Balanced-accuracy-consistent binary classifiers and their exact regret (Menon et al., ICML 2013): notebook 05.

The Bayes rule for AM = (TPR + TNR) / 2 is eta(x) > p = P(y=1), not 1/2: the plug-in (the slide's Algorithm 1)
thresholds eta_hat at p_hat; empirically balanced ERM weights 1/(2 p_hat) and 1/(2 (1 - p_hat)).
"""

import math
from numbers import Real

import numpy as np
from scipy.special import ndtr
from sklearn.base import clone

from ltutorial._validation import check_positive_int, check_random_state
from ltutorial.classic.cog import LINEAR_MODEL, check_X_y, fitted, like_input, to_numpy

REGRET_METHODS = ("plug-in, threshold p_hat", "plug-in, threshold 1/2", "weighted ERM")


class PlugInClassifier:
    """Predict ``classes_[1]`` when ``eta_hat(x) > threshold_``: p_hat ("empirical"), 0.5 ("half") or a number."""

    def __init__(self, threshold="empirical", *, estimator=None):  # threshold first: PlugInClassifier(0.3) as before
        self.estimator, self.threshold = estimator, threshold

    def fit(self, X, y):
        X_np, classes, codes, _ = check_X_y(X, y)
        if len(classes) != 2:
            raise ValueError(f"y must contain exactly 2 classes (binary); got {len(classes)} instead.")
        named = {"empirical": float(codes.mean()), "half": 0.5}  # p_hat: the positive rate of the training labels
        thr = named.get(self.threshold) if isinstance(self.threshold, str) else self.threshold
        if isinstance(thr, bool) or not isinstance(thr, Real) or not 0 < thr < 1:
            raise ValueError(f"threshold must be one of {list(named)} or a number in (0, 1); got {self.threshold!r} "
                             "instead.")
        est = clone(LINEAR_MODEL if self.estimator is None else self.estimator)
        if not hasattr(est, "predict_proba"):
            raise ValueError(f"estimator must have predict_proba (a class-probability estimator); "
                             f"{type(est).__name__} has none.")
        self.estimator_, self.classes_, self.threshold_ = est.fit(X_np, codes), classes, float(thr)
        return self

    def predict(self, X):
        positive = fitted(self).predict_proba(to_numpy(X))[:, 1] > self.threshold_
        return like_input(self.classes_[positive.astype(np.int64)], X)


class WeightedERMClassifier:
    """Empirically balanced ERM: a fit weighted by n / (K n_y) (binary: 1/(2 p_hat), 1/(2 (1 - p_hat))), cut at 0.5."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        X_np, classes, codes, counts = check_X_y(X, y)
        weights = len(codes) / (len(classes) * counts)
        est = clone(LINEAR_MODEL if self.estimator is None else self.estimator)
        self.estimator_ = est.fit(X_np, codes, sample_weight=weights[codes])
        self.classes_, self.class_weight_ = classes, weights
        return self

    def predict(self, X):
        codes = np.asarray(fitted(self).predict(to_numpy(X)), dtype=np.int64)
        return like_input(self.classes_[codes], X)


def linear_rule_balanced_accuracy(problem, w, b) -> float:
    """Exact BA of "1 iff w.x + b > 0" when X | y ~ N(mu_y, Sigma): (Phi((w.mu1 + b) / s) + Phi(-(w.mu0 + b) / s)) / 2,
    s = sqrt(w' Sigma w)."""
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (problem.dim,):
        raise ValueError(f"w must have {problem.dim} entries; got shape {w.shape} instead.")
    s = math.sqrt(float(w @ problem.cov @ w))
    if s == 0:  # a constant rule: all positive or all negative, BA = 1/2 either way
        return 0.5
    return float(0.5 * (ndtr((w @ problem.mu1 + float(b)) / s) + ndtr(-(w @ problem.mu0 + float(b)) / s)))


def balanced_accuracy_regret(problem, sample_sizes, repeats: int = 5, random_state=None) -> dict:
    """``{method: (len(sample_sizes), repeats) array}`` of the exact regret BA(Bayes) - BA(rule) for
    ``REGRET_METHODS``, plus "n"; each repeat fits the three rules on n fresh points."""
    repeats, seed = check_positive_int(repeats, name="repeats"), check_random_state(random_state)
    ns = [check_positive_int(n, name="sample_sizes", minimum=10) for n in sample_sizes]
    bayes, base = problem.balanced_accuracy("balanced_accuracy"), 0 if seed is None else seed
    out = {m: np.zeros((len(ns), repeats)) for m in REGRET_METHODS}
    for i, n in enumerate(ns):
        for r in range(repeats):
            X, y = problem.sample(n, random_state=None if seed is None else base * 1_000_003 + n * 1_009 + r)
            plug, werm = PlugInClassifier().fit(X, y), WeightedERMClassifier().fit(X, y).estimator_
            w, b = plug.estimator_.coef_.reshape(-1), float(plug.estimator_.intercept_[0])
            rules = [(w, b - math.log(plug.threshold_ / (1 - plug.threshold_))), (w, b),
                     (werm.coef_.reshape(-1), float(werm.intercept_[0]))]
            for m, (w_m, b_m) in zip(REGRET_METHODS, rules):
                out[m][i, r] = bayes - linear_rule_balanced_accuracy(problem, w_m, b_m)
    out["n"] = np.asarray(ns)
    return out
