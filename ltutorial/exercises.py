"""Checks for the notebooks' exercises: a pass prints "Correct: ...", a miss raises AssertionError with a hint.

The next cell after an exercise calls a check, e.g. ``lt.exercises.check_close(my_balanced_accuracy, 0.7222, "..")``;
notebook-specific checks recompute the answer from their inputs: in numpy where the exercise rebuilds one of the
package's methods (so that the check does not trust the code it teaches), else with the package (posthoc).
"""

import math

import numpy as np
import torch

from ltutorial._validation import check_class_counts, check_labels, check_number, check_probability
from ltutorial.posthoc import logit_adjust, softmax, threshold_moving

__all__ = ["check_close", "check_array_close"]


def _check(condition: bool, failure: str, hint: str | None = None, success: str | None = None) -> bool:
    """Raise AssertionError("Not yet: failure\nHint: hint") unless ``condition``; print ``Correct: success`` if any."""
    if not condition:
        raise AssertionError(f"Not yet: {failure}" + (f"\nHint: {hint}" if hint else ""))
    if success:
        print(f"Correct: {success}")
    return True


def _to_numpy(value, dtype=None) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu")
        value = (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    return np.asarray(value, dtype=dtype)


def _answer(value, name: str, hint: str | None = None, dtype=None, function: str | None = None) -> np.ndarray:
    """The learner's answer as an array (``function``: a callable, described); a stub's None (or ...) fails with
    "fill in the exercise cell"."""
    _check(value is not None and value is not Ellipsis,
           f"{name} is still {value!r}; fill in the exercise cell and run it.", hint)
    _check(function is None or callable(value), f"{name} must be a function {function}; got {type(value).__name__} "
           "instead.", hint)
    return _to_numpy(value, dtype)


def _scalar(value, name: str, hint: str | None = None) -> float:
    """The learner's answer as one float: a stub's None, an array or a string fails with the hint."""
    arr = _answer(value, name, hint)
    _check(arr.size == 1 and np.issubdtype(arr.dtype, np.number),
           f"{name} must be a single number; got {type(value).__name__} of shape {arr.shape} instead.", hint)
    return float(arr.reshape(()))


def check_close(value, expected, name: str, hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-8,
                success: str | None = None) -> bool:
    """Pass when the scalar ``value`` is within ``atol + rtol * |expected|`` of ``expected``."""
    check_number(rtol, name="rtol"), check_number(atol, name="atol")
    v, e = _scalar(value, name, hint), float(expected)
    return _check(bool(np.isclose(v, e, rtol=rtol, atol=atol)), f"{name} = {v:.6g}, expected {e:.6g}.", hint,
                  f"{name} = {v:.6g}" if success is None else success)


def check_array_close(value, expected, name: str, hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-8,
                      success: str | None = None) -> bool:
    """Pass when ``value`` has ``expected``'s shape and every entry is close (NaN matches NaN); ``success=""``: pass
    silently (one step of a larger check)."""
    check_number(rtol, name="rtol"), check_number(atol, name="atol")
    v, e = _answer(value, name, hint), _to_numpy(expected)
    _check(v.shape == e.shape, f"{name} must have shape {e.shape}; got {v.shape} instead.", hint)
    _check(np.issubdtype(v.dtype, np.number) or v.dtype == bool, f"{name} must be numeric; got dtype {v.dtype} "
           "instead.", hint)
    close = np.isclose(v.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        first = tuple(int(i) for i in np.argwhere(~close)[0])
        _check(False, f"{int((~close).sum())} of {v.size} entries of {name} differ; first at index {first}: "
               f"{v[first]!r}, expected {e[first]!r}.", hint)
    return _check(True, "", success=f"{name} matches ({v.size} values)" if success is None else success)


def _counts(class_counts) -> np.ndarray:
    return check_class_counts(_to_numpy(class_counts)).numpy()


def _cross_entropy(a: np.ndarray, y: np.ndarray) -> float:
    """Mean over the rows of -log softmax(a)_y."""
    a = a - a.max(axis=1, keepdims=True)
    return float(-(a[np.arange(len(y)), y] - np.log(np.exp(a).sum(axis=1))).mean())


def _cb_weights(n: np.ndarray, beta) -> np.ndarray:
    """Class-balanced weights (1 - beta) / (1 - beta^n_y), normalised to sum to C (Cui et al. 2019)."""
    w = (1.0 - beta) / (1.0 - np.power(float(beta), n))
    return w / w.sum() * w.size


# --- notebook-specific checks below ---
# --- notebook 01 ---
def check_imbalance_summary(ratio, head_share, class_counts) -> bool:
    """Notebook 01: rho = n_max / n_min and the share of the images in the top 20% of the classes."""
    counts = np.sort(_counts(class_counts))[::-1]
    k = max(1, int(round(0.2 * counts.size)))
    check_close(ratio, counts[0] / counts[-1], "imbalance ratio", hint="divide the largest class count by the smallest")
    return check_close(head_share, counts[:k].sum() / counts.sum(), f"share of the top {k} classes",
                       hint=f"sort the counts in decreasing order, add the first {k} and divide by the total")


def check_risk_decomposition(prior_risk, balanced_risk, per_class_risk, class_counts) -> bool:
    """Notebook 01: R = sum_k (n_k / n) R_k against the balanced risk (1/K) sum_k R_k."""
    counts = _counts(class_counts)
    risks = _answer(per_class_risk, "per_class_risk", "1 - the per-class accuracy, one entry per class", np.float64)
    if risks.shape != counts.shape or not np.all(np.isfinite(risks)):
        raise ValueError(f"per_class_risk must hold one finite risk per class ({counts.size}); "
                         f"got {risks.tolist()!r} instead.")
    check_close(prior_risk, float(counts / counts.sum() @ risks), "prior-weighted risk",
                hint="weight each class's risk by n_k / sum(n) and add them up")
    return check_close(balanced_risk, float(risks.mean()), "balanced risk",
                       hint="every class gets the weight 1/K, whatever its size")


def check_balanced_accuracy_from_confusion(value, confusion) -> bool:
    """Notebook 01: the mean recall C[k, k] / sum_j C[k, j] over the classes present (non-empty rows)."""
    cm = _to_numpy(confusion, np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.size == 0 or np.any(cm < 0) or not np.all(np.isfinite(cm)):
        raise ValueError(f"confusion must be a square matrix of counts >= 0; got shape {cm.shape} instead.")
    support = cm.sum(axis=1)
    if not support.any():
        raise ValueError("confusion must hold at least one sample; got an all-zero matrix instead.")
    return check_close(value, float((np.diag(cm)[support > 0] / support[support > 0]).mean()), "balanced accuracy",
                       hint="per row: the diagonal entry divided by the row sum (the recall); then average the rows")


# --- notebooks 06-09 ---
def check_cb_weights(weights, class_counts, beta) -> bool:
    """Notebook 06: class-balanced weights (1 - beta) / (1 - beta^n_y), normalised to sum to C."""
    return check_array_close(weights, _cb_weights(_counts(class_counts), beta), "class-balanced weights",
                             hint="1/E_n with E_n = (1 - beta^n)/(1 - beta); then rescale so the weights add up to C")


def check_cb_beta_for_ratio(beta, class_counts, ratio) -> bool:
    """Notebook 06: beta with tail/head weight ratio (1 - beta^n_head) / (1 - beta^n_tail) = ``ratio``."""
    n = _counts(class_counts)
    hint = "bisection on beta in (0, 1): if the ratio is below the target, beta must grow"
    b = _scalar(beta, "beta", hint)
    _check(0.0 < b < 1.0, f"beta must lie in (0, 1); got {b!r} instead.", hint)
    got = (1.0 - b ** n.max()) / (1.0 - b ** n.min())
    return check_close(got, ratio, f"the tail/head weight ratio of beta = {b:.6f}", hint, rtol=1e-3,
                       success=f"beta = {b:.6f} gives a ratio of {got:.4f}")


def _ldam(n: np.ndarray, max_m) -> np.ndarray:
    return n ** -0.25 * (float(max_m) / (n ** -0.25).max())


def check_ldam_margins(margins, class_counts, max_m) -> bool:
    """Notebook 07: LDAM margins Delta_j = C / n_j^(1/4) with the largest equal to max_m."""
    return check_array_close(margins, _ldam(_counts(class_counts), max_m), "LDAM margins",
                             hint="n ** -0.25, then scale so the rarest class gets max_m")


def check_ldam_loss(value, logits, target, class_counts, max_m, s) -> bool:
    """Notebook 07: the batch mean of -log softmax(s (z - Delta_y e_y))_y (Cao et al. 2019)."""
    n = _counts(class_counts)
    z = _to_numpy(logits, np.float64).reshape(-1, n.size)
    y = _to_numpy(target).astype(np.int64).reshape(-1)
    expected = _cross_entropy(float(s) * (z - _ldam(n, max_m)[y][:, None] * np.eye(n.size)[y]), y)
    return check_close(value, expected, "LDAM loss", hint="subtract Delta_y from the true-class logit only, then "
                       "multiply all logits by s, then cross-entropy (the hinge max(.., 0) is LDAM-HG, not LDAM)")


def check_drw_weights(drw_weights, class_counts, beta, t0, epochs) -> bool:
    """Notebook 07: DRW's weights at the 0-based epoch: ones before t0, then the class-balanced weights."""
    hint = "ones before epoch t0; from epoch t0 on (0-based, so t0 itself is re-weighted) the CB weights summing to C"
    _answer(drw_weights, "drw_weights", hint, function="of the epoch")
    n = _counts(class_counts)
    for epoch in range(int(epochs)):
        check_array_close(drw_weights(epoch), np.ones_like(n) if epoch < t0 else _cb_weights(n, beta),
                          f"the weights at epoch {epoch} (switch at t0 = {t0})", hint, success="")
    return _check(True, "", success=f"weights 1 before epoch {t0}, class-balanced from epoch {t0} on")


def check_logit_adjusted_loss(value, logits, targets, class_counts, tau) -> bool:
    """Notebook 08: the batch mean of -log softmax(z + tau log pi)_y."""
    n = _counts(class_counts)
    a = _to_numpy(logits, np.float64) + float(tau) * np.log(n / n.sum())
    return check_close(value, _cross_entropy(a, _to_numpy(targets).astype(np.int64)), "logit-adjusted loss",
                       hint="add tau * log(n_j / N) to every logit, then the batch mean of the cross-entropy")


def check_balanced_bayes_prediction(prediction, posterior, priors) -> bool:
    """Notebook 08: the Bayes-optimal prediction for the balanced error, argmax_y P(y|x) / P(y)."""
    expected = np.argmax(_to_numpy(posterior, np.float64) / _to_numpy(priors, np.float64).reshape(-1), axis=1)
    return check_array_close(prediction, expected, "balanced Bayes prediction",
                             hint="divide each row of P(y|x) by the prior P(y), then argmax")


def check_vs_logits(adjusted, logits, class_counts, gamma, tau) -> bool:
    """Notebook 09: the VS loss's logits z_j (n_j / n_max)^gamma + tau log pi_j, up to a constant per row."""
    n = _counts(class_counts)
    expected = _to_numpy(logits, np.float64) * (n / n.max()) ** float(gamma) + float(tau) * np.log(n / n.sum())
    value = _answer(adjusted, "VS-adjusted logits", dtype=np.float64)
    if value.shape == expected.shape:  # softmax ignores a constant per row: tau log(n_j / n_max) is as right
        value = value - (value - expected).mean(axis=-1, keepdims=True)
    return check_array_close(value, expected, "VS-adjusted logits (up to a constant per row)", rtol=1e-4, atol=1e-5,
                             hint="multiply logit j by (n_j / n_max)^gamma, then add tau * log(n_j / N)")


def check_adrw_weights(weights, class_counts, nu) -> bool:
    """Notebook 09: ADRW weights alpha_y proportional to pi_y^(-nu), normalised to sum to C."""
    n = _counts(class_counts)
    w = (n / n.sum()) ** -float(nu)
    return check_array_close(weights, w / w.sum() * w.size, "ADRW weights",
                             hint="pi_y ** -nu with pi_y = n_y / N, then rescale so they add up to C")


# --- notebooks 02-05 ---
def segment_positions(points, X_min, k_neighbors: int, tol: float = 1e-6) -> np.ndarray:
    """Each point's SMOTE segment (i, j, u): point = x_i + u (x_j - x_i), x_j among x_i's k nearest; else (-1, -1, nan).

    SMOTE draws x_new = x_i + u (x_nn - x_i), u ~ U[0, 1) (Chawla et al., JAIR 2002); ``tol`` is relative to the length.
    """
    P, X = _to_numpy(points, np.float64), _to_numpy(X_min, np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X_min must be a 2-D array of at least 2 minority points; got shape {X.shape} instead.")
    if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, (int, np.integer)) or not 1 <= k_neighbors < len(X):
        raise ValueError(f"k_neighbors must be an int in [1, {len(X) - 1}]; got {k_neighbors!r} instead.")
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nn = np.argsort(d2, axis=1, kind="stable")[:, :k_neighbors]
    i_idx, j_idx = np.repeat(np.arange(len(X)), nn.shape[1]), nn.ravel()
    start, d = X[i_idx], X[j_idx] - X[i_idx]
    length2 = (d**2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.clip(np.nan_to_num(((P[:, None] - start[None]) * d[None]).sum(-1) / length2, posinf=0, neginf=0), 0, 1)
        gap = np.linalg.norm(P[:, None] - (start[None] + u[..., None] * d[None]), axis=-1) / np.sqrt(length2)[None]
    gap = np.where(length2[None] > 0, gap, np.inf)  # a repeated minority point spans no segment
    best, rows = gap.argmin(1), np.arange(len(P))
    hit = gap[rows, best] <= tol
    return np.where(hit[:, None], np.stack([i_idx[best], j_idx[best], u[rows, best]], 1), [-1, -1, np.nan])


def check_smote_samples(new_points, X_min, k_neighbors: int, n_new: int) -> bool:
    """Notebook 02: ``n_new`` points on segments x_i + u (x_nn - x_i), none a copy, not all on one segment."""
    P, X = _answer(new_points, "new_points", dtype=np.float64), _to_numpy(X_min, np.float64)
    _check(P.ndim == 2 and P.shape[1] == X.shape[1], f"new_points must be an (n_new x {X.shape[1]}) array; got "
           f"shape {P.shape} instead.", "stack the synthetic points as rows, one column per feature")
    _check(len(P) == n_new, f"{len(P)} synthetic points, expected {n_new}.", "make exactly n_new points")
    pos = segment_positions(P, X, k_neighbors)
    off = np.flatnonzero(pos[:, 0] < 0)
    _check(off.size == 0, f"{off.size} of {len(P)} points lie on no segment between a minority point and one of "
           f"its {k_neighbors} nearest minority neighbours (first: row {off[:1].tolist()}).",
           "neighbours are the k closest OTHER minority points; x_new = x_i + u * (x_nn - x_i) with u in [0, 1)")
    copies = np.flatnonzero((pos[:, 2] < 1e-6) | (pos[:, 2] > 1 - 1e-6))
    _check(copies.size == 0, f"{copies.size} of {len(P)} points are copies of minority points (u = 0 or 1).",
           "that is replication; draw a fresh u ~ U[0, 1) for every new point")
    # u measured from the segment's other end is 1 - u: compare min(u, 1 - u); one u for all (or 0.5) fails
    gaps = np.round(np.minimum(pos[:, 2], 1 - pos[:, 2]), 6)
    _check(n_new < 3 or np.unique(gaps).size > 1, f"every new point has the same gap u = {pos[0, 2]:.3f}.",
           "draw a fresh u ~ U[0, 1) for every new point, not one u for all of them")
    segments = {tuple(sorted((int(a), int(b)))) for a, b in pos[:, :2]}  # x_i -> x_j is x_j -> x_i
    return _check(len(segments) > 1 or n_new < 3, "every new point lies on the same segment.",
                  "draw the minority point x_i and its neighbour at random for every new point",
                  f"{len(P)} synthetic points, each between a minority point and one of its {k_neighbors} nearest "
                  f"minority neighbours ({len(segments)} different segments)")


def check_smote_count_rule(n_synthetic) -> bool:
    """Notebook 02: ``n_synthetic(class_counts, ratio)`` = int(ratio * n_majority) - n_minority (imbalanced-learn)."""
    _answer(n_synthetic, "n_synthetic", "def n_synthetic(class_counts, ratio): ...",
            function="(class_counts, ratio) -> int")
    cases = [([80, 20], 0.5), ([90, 12], 0.4), ([12, 90], 0.4), ([1000, 10], 1.0), ([300, 7], 0.25), ([50, 49], 1.0),
             ([303, 7], 0.25), ([97, 10], 0.3)]  # 75.75 and 29.1: int() truncates, round() would not
    for counts, ratio in cases:  # several pairs, so that no single coincidence passes
        expected, got = int(ratio * max(counts)) - min(counts), n_synthetic(list(counts), ratio)
        _check(got is not None and np.isclose(float(got), expected),
               f"n_synthetic({counts}, {ratio}) = {got!r}, expected {expected}.",
               "the float is the wanted minority/majority ratio AFTER resampling: the minority grows to "
               "int(ratio * n_majority); subtract what is there (the minority may come first)")
    return _check(True, "", success=f"the rule holds on {len(cases)} class-count pairs")


def check_cost_matrix_for_priors(cost_matrix, class_priors, tau: float = 1.0) -> bool:
    """Notebook 03: a cost matrix (C[k][k] = 0) whose threshold-moving is softmax(z - tau log pi) (Menon et al.)."""
    C, pri = _answer(cost_matrix, "cost_matrix", dtype=np.float64), _to_numpy(class_priors, np.float64)
    K = pri.size
    _check(C.shape == (K, K), f"cost_matrix must be {K} x {K}; got shape {C.shape} instead.",
           "one row and one column per class")
    _check(bool((C >= 0).all()), "cost_matrix has negative entries.", "costs are >= 0")
    _check(bool(np.allclose(np.diag(C), 0.0)), f"the diagonal is {np.round(np.diag(C), 4).tolist()}, not 0.",
           "C[k][k] is the cost of predicting the TRUE class k: a correct prediction costs nothing; "
           "put the costs off the diagonal")
    z = np.random.default_rng(0).normal(size=(256, K)) * 3
    return check_array_close(threshold_moving(softmax(z), C), softmax(logit_adjust(z, pri, tau)),
                             "threshold-moved probabilities", rtol=1e-6, atol=1e-9,
                             hint="only the row sums matter: row k must sum to exp(-tau * log(pi_k)) = pi_k ** -tau")


def check_parent_probabilities(proba, subclass_proba, subclass_parent) -> bool:
    """Notebook 04: P(class c | x) = the sum of the probabilities of c's sub-classes (COG's Phase IV)."""
    sub, parent = _to_numpy(subclass_proba, np.float64), _to_numpy(subclass_parent).astype(np.int64)
    expected = np.zeros((sub.shape[0], int(parent.max()) + 1))
    np.add.at(expected.T, parent, sub.T)
    return check_array_close(proba, expected, "class probabilities", rtol=1e-6, atol=1e-9,
                             hint="add up the columns of the sub-classes that belong to the same parent class")


def check_phase1_relabelling(subclass_labels, subclass_parent, y, cluster_labels, majority_class: int = 0) -> bool:
    """Notebook 04: COG's Phase I (Wu et al., KDD 2007): majority points take their cluster, other classes one label."""
    sub, parent = (_answer(v, name).astype(np.int64).ravel() for v, name in
                   ((subclass_labels, "subclass_labels"), (subclass_parent, "subclass_parent")))
    y, clusters = (_to_numpy(v).astype(np.int64).ravel() for v in (y, cluster_labels))
    major = y == majority_class
    if clusters.size != int(major.sum()):
        raise ValueError(f"cluster_labels must hold one cluster per majority point ({int(major.sum())}); "
                         f"got {clusters.size} instead.")
    _check(sub.shape == y.shape, f"subclass_labels must hold one label per point ({y.size}); got {sub.size}.",
           "relabel every training point, the rare ones too")
    _check(sub.min() >= 0 and sub.max() < parent.size,
           f"subclass_labels run from {sub.min()} to {sub.max()}, but subclass_parent has {parent.size} entries.",
           "number the sub-classes 0 .. n_sub - 1 and give each one a parent")
    expected = np.zeros_like(y)
    expected[major] = clusters
    expected[~major] = clusters.max() + 1 + np.searchsorted(np.unique(y[~major]), y[~major])
    n_sub, n_expected = len(set(sub.tolist())), len(set(expected.tolist()))
    _check(len(set(zip(sub.tolist(), expected.tolist()))) == n_sub == n_expected,  # any numbering passes
           f"your {n_sub} sub-classes are not the clusters of the majority plus one per other class ({n_expected}).",
           "majority points: their cluster; the rare class: one new label of its own, not one of the clusters'")
    return _check(bool((parent[sub] == y).all()), f"{int((parent[sub] != y).sum())} points map back to the wrong "
                  "class.", "subclass_parent[s] must be the class of the points in sub-class s (Phase IV uses it)",
                  f"{n_sub} sub-classes, each inside one class")


def check_plugin_predictions(predictions, estimator, X_test, y_train) -> bool:
    """Notebook 05: the plug-in rule 1[eta_hat(x) > p_hat], p_hat = mean(y_train) (Menon et al., ICML 2013)."""
    pred = _answer(predictions, "predictions").ravel().astype(np.int64)
    eta = np.asarray(estimator.predict_proba(_to_numpy(X_test)))[:, list(estimator.classes_).index(1)]
    expected = (eta > float(np.mean(_to_numpy(y_train)))).astype(np.int64)
    _check(pred.shape == expected.shape, f"predictions must hold one 0/1 label per test point ({expected.size}); "
           f"got shape {pred.shape}.", "one prediction per row of X_test")
    wrong = int((pred != expected).sum())
    _check(wrong == 0 or not (pred == (eta > 0.5)).all(), "these are the predictions at the threshold 1/2 "
           "(estimator.predict).", "threshold eta_hat at p_hat, the fraction of positives in the TRAINING labels")
    return _check(wrong == 0, f"{wrong} of {pred.size} predictions differ from eta_hat(x) > p_hat.",
                  "eta_hat(x) is column 1 of predict_proba (the probability of class 1); compare it with p_hat = "
                  "y_train.mean()", f"{pred.size} plug-in predictions, {int(expected.sum())} positive")


def check_balanced_accuracy_from_rates(value, y_true, y_pred) -> bool:
    """Notebook 05: balanced accuracy (TPR + TNR) / 2 of binary predictions (Brodersen et al. 2010)."""
    # check_labels refuses scores and 2-D input (truncating them to int could pass a wrong answer); bools are 0/1
    t, p = (check_labels(a.astype(np.int64) if a.dtype == bool else a, name=name).cpu().numpy()
            for a, name in ((_to_numpy(y_true), "y_true"), (_to_numpy(y_pred), "y_pred")))
    if t.shape != p.shape or not set(np.unique(t)) <= {0, 1} or len(np.unique(t)) < 2:
        raise ValueError(f"y_true and y_pred must be 0/1 arrays of one length with both classes in y_true; "
                         f"got shapes {t.shape} and {p.shape} instead.")
    return check_close(value, np.mean([(p[t == c] == c).mean() for c in (1, 0)]), "balanced accuracy", rtol=1e-6,
                       hint="TPR = recall of class 1, TNR = recall of class 0; average the two, not the points")


# --- notebooks 10-12 ---
def check_sdclr_loss(value, z_dense, z_pruned, temperature: float) -> bool:
    """Notebook 10: SDCLR's NT-Xent over the 2N views (Jiang et al. 2021), the pass also quoting ``lt.ssl.nt_xent``.

    z = normalize([z_dense; z_pruned]), s_ij = z_i . z_j / tau, l_i = -log(exp(s_ip) / sum_{j != i} exp(s_ij)).
    """
    from ltutorial.ssl.simclr import nt_xent

    v = _scalar(value, "loss")
    z1, z2 = _to_numpy(z_dense, np.float64), _to_numpy(z_pruned, np.float64)
    n = len(z1)

    def loss(a, b, tau=float(temperature), denominator=~np.eye(2 * n, dtype=bool)):
        s = np.concatenate([a, b]) @ np.concatenate([a, b]).T / tau  # the positive of i is i + N (mod 2N)
        return float(np.mean(np.log(np.where(denominator, np.exp(s), 0).sum(1)) - np.r_[np.diag(s, n), np.diag(s, -n)]))

    u1, u2 = (z / np.linalg.norm(z, axis=1, keepdims=True) for z in (z1, z2))
    expected = loss(u1, u2)
    hint = "normalise each row, stack [z_dense; z_pruned], divide the similarities by tau, mask the diagonal, " \
           "cross-entropy with the other view as the target, mean over all 2N anchors"
    for mistake, wrong in {
        "without L2-normalising the projections": loss(z1, z2),
        "with the anchor itself in the denominator": loss(u1, u2, denominator=True),
        "with negatives only from the other branch (dense-dense and pruned-pruned pairs are negatives too)":
            loss(u1, u2, denominator=np.kron([[0, 1], [1, 0]], np.ones((n, n))) > 0),
        "with temperature 1 instead of tau": loss(u1, u2, tau=1.0),
    }.items():
        _check(abs(wrong - expected) < 1e-4 or abs(v - wrong) >= 1e-4, f"loss = {v:.4f} is the value {mistake}.", hint)
    package = float(nt_xent(torch.as_tensor(z1), torch.as_tensor(z2), float(temperature)))
    return check_close(v, expected, "loss", hint, rtol=0, atol=1e-4,
                       success=f"SDCLR loss = {v:.4f} (lt.ssl.nt_xent gives {package:.4f})")


def check_global_prune_masks(masks, weights, ratio) -> bool:
    """Notebook 10: 0/1 masks removing the ``ratio`` smallest |w| pooled over all tensors (SDCLR)."""
    _answer(masks, "masks")
    ratio = check_probability(ratio, name="ratio", inclusive_high=False)
    hint = "pool |w| of all tensors, zero the ceil(ratio * N) smallest (a tie at the cut: any of them), keep the rest"
    _check(isinstance(masks, dict) and set(masks) == set(weights), f"masks must be a dict with keys {sorted(weights)}.",
           hint)
    pooled = np.sort(np.concatenate([np.abs(_to_numpy(w)).reshape(-1) for w in weights.values()]))
    count = math.ceil(round(ratio * pooled.size, 9))  # ceil(p N), float noise rounded off, as the package counts
    # the largest pruned and the smallest kept |w|; a weight tied at both may go either way (the count decides)
    last_pruned, first_kept = np.r_[-np.inf, pooled][count], np.r_[pooled, np.inf][count]
    for k, w in weights.items():
        a, m = np.abs(_to_numpy(w)), _answer(masks[k], f"mask {k!r}", hint)
        tied = (a == last_pruned) & (a == first_kept) & (m.shape == a.shape)
        check_array_close(m, np.where(tied, m if m.shape == a.shape else 0, a > last_pruned), f"mask {k!r}", hint, 0, 0,
                          success="")
    pruned = sum(int((_to_numpy(m) == 0).sum()) for m in masks.values())
    _check(pruned == count, f"the masks prune {pruned} weights, expected ceil(ratio * N) = {count}.", hint)
    kept = {k: float(_to_numpy(m).mean()) for k, m in masks.items()}
    largest = max(weights, key=lambda k: float(np.abs(_to_numpy(weights[k])).mean()))
    shown = len(set(kept.values())) > 1 and kept[largest] == max(kept.values())
    return _check(True, "", success=f"global pruning keeps {kept}"
                  + (": the tensor with larger weights keeps more" if shown else ""))


def check_memorization_score(scores, ema_losses) -> bool:
    """Notebook 11: M = 1/2 ((m - mean m) / max|m - mean m| + 1); standardising m first gives the same scores."""
    m = _to_numpy(ema_losses, np.float64)
    centred = m - m.mean()
    expected = 0.5 * (centred / np.abs(centred).max() + 1)
    hint = "centre the losses on their mean, divide by the largest absolute deviation, then add 1 and halve"
    return check_array_close(scores, expected, "scores", hint, rtol=1e-5, atol=1e-5, success="memorization scores "
                             "in [0, 1], 1/2 at the mean loss, the extreme sample at 0 or 1")


def check_bcl_gating(augmented, x, scores, u, zeta, operation) -> bool:
    """Notebook 11: BCL's gate a(x_i) = A(x_i; M_i zeta) if u_i < M_i, else x_i, with ``operation`` as A."""
    got = _answer(augmented, "augmented", dtype=np.float64)
    xs, m, uu = (_to_numpy(v, np.float64) for v in (x, scores, u))

    def rows(gate, strength):
        return np.stack([_to_numpy(operation(xs[i], strength[i])) if gate[i] else xs[i] for i in range(len(xs))])

    expected = rows(uu < m, m * zeta)
    hint = "for each sample: if u[i] < M[i] apply operation(x[i], M[i] * zeta), else keep x[i]"
    _check(got.shape == expected.shape, f"augmented must have shape {expected.shape}; got {got.shape} instead.", hint)
    for mistake, wrong in {
        "the gate is reversed (apply when u < M, keep x when u >= M)": rows(uu >= m, m * zeta),
        "every sample is augmented: the operation is applied only when u < M": rows(np.ones(len(xs), bool), m * zeta),
        "the strength is M * zeta, not zeta": rows(uu < m, np.full(len(xs), float(zeta)))}.items():
        _check(np.allclose(wrong, expected) or not np.allclose(got, wrong), f"{mistake}.", hint)
    return _check(np.allclose(got, expected, atol=1e-6), "augmented differs from the gated operation.", hint,
                  f"{int((uu < m).sum())} of {len(xs)} samples augmented, each at strength M * zeta")


def check_simplex_etf(vectors, dim: int | None = None) -> bool:
    """Notebook 12: K unit vectors with all pairwise inner products -1/(K-1), in R^dim if given."""
    v = _answer(vectors, "vectors", dtype=np.float64)
    _check(v.ndim == 2 and v.shape[0] >= 2, f"vectors must be K x d with K >= 2; got shape {v.shape}.")
    k = v.shape[0]
    hint = ("the rows of sqrt(K/(K-1)) (I - 11^T/K) are an ETF in R^K; they lie in a (K-1)-dimensional subspace, so "
            "express them in an orthonormal basis of it (e.g. from np.linalg.svd or a QR decomposition)")
    _check(dim is None or v.shape[1] == dim,
           f"vectors must be {k} x {dim} (vertices in R^{dim}); got shape {v.shape} instead.", hint)
    gram = (k / (k - 1)) * np.eye(k) - 1.0 / (k - 1)
    return check_array_close(v @ v.T, gram, "the Gram matrix v v^T (unit rows, equal pairwise inner products)", hint,
                             rtol=1e-5, atol=1e-4, success=f"{k} unit vectors in R^{v.shape[1]}, every pair at inner "
                             f"product {gram[0, 1]:.4f}")


def check_sinkhorn_allocation(q, scores, prior, epsilon: float) -> bool:
    """Notebook 12: the converged Sinkhorn-Knopp plan Q = diag(a) exp(scores / eps) diag(b), not only its marginals."""
    got = _answer(q, "q", dtype=np.float64)
    s, p = _to_numpy(scores, np.float64), _to_numpy(prior, np.float64)
    n = s.shape[0]
    ref = np.exp(s / float(epsilon))
    for _ in range(10_000):
        ref = ref * (n * p / ref.sum(0))
        ref = ref / ref.sum(1, keepdims=True)
        if np.allclose(ref.sum(0), n * p, atol=1e-12):
            break
    hint = "start from exp(scores / epsilon); alternate: scale each column to sum N * prior_k, then each row to sum 1"
    _check(got.shape == ref.shape, f"q must have shape {ref.shape} (N x K); got {got.shape} instead.", hint)
    _check(np.allclose(got.sum(1), 1, atol=1e-3) and np.allclose(got.sum(0), n * p, atol=1e-3 * n),
           f"q's row sums {np.round(got.sum(1), 3)} must be 1 and its column sums {np.round(got.sum(0), 3)} "
           f"must be N * prior = {np.round(n * p, 3)}.", hint)
    # np.tile(prior, (N, 1)) meets both marginals and ignores the scores: compare the plan itself
    return _check(np.allclose(got, ref, atol=1e-3), f"the marginals are right but q is not the Sinkhorn plan of these "
                  f"scores (largest difference {np.abs(got - ref).max():.3f}); a plan that ignores the scores, such "
                  "as every row equal to the prior, meets the marginals too.", hint,
                  "the plan meets both marginals and keeps each sample's preferences")
