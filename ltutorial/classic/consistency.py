"""Balanced-accuracy regret of plug-in rules as n grows (Menon et al., ICML 2013): notebook 05.

On a ``GaussianBinaryProblem`` (X | y ~ N(mu_y, Sigma)) every rule of the form ``w.x + b > 0`` has
a closed-form balanced accuracy: with s = sqrt(w' Sigma w),
TPR = Phi((w.mu1 + b) / s) and TNR = Phi(-(w.mu0 + b) / s), so BA = (TPR + TNR) / 2 and the
regret BA(Bayes) - BA(rule) is exact, free of test-set noise. Logistic regression thresholded at
t is such a rule with b = b_LR - logit(t).
"""

from __future__ import annotations

import math

import numpy as np

from ltutorial._validation import check_positive_int, check_random_state


def _phi(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(z)


def linear_rule_balanced_accuracy(problem, w, b) -> float:
    """Exact balanced accuracy of the rule "predict 1 iff w.x + b > 0" on ``problem``'s distribution.

    Notebook 05.
    """
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (problem.dim,):
        raise ValueError(f"w must have {problem.dim} entries; got shape {w.shape} instead.")
    s = math.sqrt(float(w @ problem.cov @ w))
    if s == 0:
        # a constant rule: all positive or all negative, BA = 1/2 either way
        return 0.5
    tpr = _phi((w @ problem.mu1 + float(b)) / s)
    tnr = _phi(-(w @ problem.mu0 + float(b)) / s)
    return float(0.5 * (tpr + tnr))


def _logit(t: float) -> float:
    return math.log(t / (1 - t))


def _fit_rules(X, y):
    """The three rules of notebook 05 from one data set, each as (w, b) of "w.x + b > 0"."""
    from ltutorial.classic.plugin import PlugInClassifier, WeightedERMClassifier

    plug = PlugInClassifier().fit(X, y)
    lr = plug.estimator_
    w, b = lr.coef_.reshape(-1), float(lr.intercept_[0])
    werm = WeightedERMClassifier().fit(X, y).estimator_
    return {
        "plug-in, threshold p_hat": (w, b - _logit(plug.threshold_)),
        "plug-in, threshold 1/2": (w, b),
        "weighted ERM": (werm.coef_.reshape(-1), float(werm.intercept_[0])),
    }


REGRET_METHODS = ("plug-in, threshold p_hat", "plug-in, threshold 1/2", "weighted ERM")


def balanced_accuracy_regret(problem, sample_sizes, repeats: int = 5, random_state=None) -> dict:
    """Exact BA regret of the plug-in rule (threshold p_hat and 1/2) and of weighted ERM vs n.

    For each n in ``sample_sizes`` and each repeat r, draws n training points from ``problem``
    (seed derived from ``random_state``, n and r), fits logistic regression (the class-probability
    estimator) and class-weighted logistic regression, and returns
    ``{method: array (len(sample_sizes), repeats)}`` of BA(Bayes) - BA(rule), plus "n".
    Notebook 05.
    """
    repeats = check_positive_int(repeats, name="repeats")
    seed = check_random_state(random_state)
    ns = [check_positive_int(n, name="sample_sizes", minimum=10) for n in sample_sizes]
    bayes = problem.balanced_accuracy("balanced_accuracy")
    out = {m: np.zeros((len(ns), repeats)) for m in REGRET_METHODS}
    base = 0 if seed is None else seed
    for i, n in enumerate(ns):
        for r in range(repeats):
            X, y = problem.sample(n, random_state=None if seed is None else base * 1_000_003 + n * 1_009 + r)
            for m, (w, b) in _fit_rules(X, y).items():
                out[m][i, r] = bayes - linear_rule_balanced_accuracy(problem, w, b)
    out["n"] = np.asarray(ns)
    return out
