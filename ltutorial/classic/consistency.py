"""Exact balanced-accuracy regret of plug-in rules as n grows (Menon et al., ICML 2013): notebook 05.

On a ``GaussianBinaryProblem`` (X | y ~ N(mu_y, Sigma)) the rule ``w.x + b > 0`` has, with s = sqrt(w' Sigma w),
TPR = Phi((w.mu1 + b) / s), TNR = Phi(-(w.mu0 + b) / s), BA = (TPR + TNR) / 2: the regret BA(Bayes) - BA(rule)
is exact, free of test-set noise. Logistic regression thresholded at t is b = b_LR - logit(t).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from ltutorial._validation import check_positive_int, check_random_state

REGRET_METHODS = ("plug-in, threshold p_hat", "plug-in, threshold 1/2", "weighted ERM")


def linear_rule_balanced_accuracy(problem, w, b) -> float:
    """Exact balanced accuracy of "predict 1 iff w.x + b > 0" on ``problem``'s distribution (notebook 05)."""
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (problem.dim,):
        raise ValueError(f"w must have {problem.dim} entries; got shape {w.shape} instead.")
    s = math.sqrt(float(w @ problem.cov @ w))
    if s == 0:  # a constant rule: all positive or all negative, BA = 1/2 either way
        return 0.5
    return float(0.5 * (ndtr((w @ problem.mu1 + float(b)) / s) + ndtr(-(w @ problem.mu0 + float(b)) / s)))


def balanced_accuracy_regret(problem, sample_sizes, repeats: int = 5, random_state=None) -> dict:
    """``{method: (len(sample_sizes), repeats) array}`` of BA(Bayes) - BA(rule) for ``REGRET_METHODS``, plus "n".

    Each repeat draws n training points (seed from ``random_state``, n and the repeat) and fits logistic
    regression (plug-in at p_hat and at 1/2) and class-weighted logistic regression. Notebook 05.
    """
    from ltutorial.classic.plugin import PlugInClassifier, WeightedERMClassifier

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
