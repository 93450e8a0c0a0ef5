"""Checks for the notebooks' exercises: a pass prints "Correct: ...", a miss raises AssertionError with a hint.

A notebook's exercise cell holds the learner's code (the reference solution sits between
``# BEGIN SOLUTION`` and ``# END SOLUTION``); the next cell calls a check from here, e.g.::

    lt.exercises.check_close(my_balanced_accuracy, 0.7222, "balanced accuracy",
                             hint="average the per-class recalls, not the samples")

The generic checks come first; notebook-specific checks (which know the expected answer) are
appended below the marker at the end of this file, one section per notebook.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["check_close", "check_array_close", "check_true", "check_in_range"]


def _require(condition: bool, failure: str, hint: str | None) -> None:
    """Raise AssertionError("Not yet: failure\nHint: hint") unless ``condition`` holds."""
    if not condition:
        message = f"Not yet: {failure}"
        if hint:
            message += f"\nHint: {hint}"
        raise AssertionError(message)


def _check(condition: bool, success: str, hint: str | None, failure: str) -> bool:
    """The final verdict of a check: print ``Correct: success`` and return True, or raise with the hint."""
    _require(condition, failure, hint)
    print(f"Correct: {success}")
    return True


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu")
        if value.dtype == torch.bfloat16:
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def _check_tolerances(rtol, atol) -> None:
    for name, v in (("rtol", rtol), ("atol", atol)):
        is_number = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if not is_number or not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be a finite number >= 0; got {v!r} instead.")


def _answer_is_missing(value, name: str, hint: str | None) -> None:
    if value is None or value is Ellipsis:
        _require(False, f"{name} is still {value!r}; fill in the exercise cell and run it.", hint)


def check_close(value, expected, name: str, hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-8) -> bool:
    """Pass when the scalar ``value`` is within ``atol + rtol * |expected|`` of ``expected``."""
    _check_tolerances(rtol, atol)
    _answer_is_missing(value, name, hint)
    arr = _to_numpy(value)
    ok_type = arr.size == 1 and np.issubdtype(arr.dtype, np.number)
    _require(ok_type, f"{name} must be a single number; got {type(value).__name__} of shape {arr.shape} instead.", hint)
    v, e = float(arr.reshape(())), float(expected)
    close = bool(np.isclose(v, e, rtol=rtol, atol=atol))
    return _check(close, f"{name} = {v:.6g}", hint, f"{name} = {v:.6g}, expected {e:.6g}.")


def check_array_close(
    value, expected, name: str, hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-8
) -> bool:
    """Pass when ``value`` has ``expected``'s shape and every entry is close (NaN matches NaN)."""
    _check_tolerances(rtol, atol)
    _answer_is_missing(value, name, hint)
    v, e = _to_numpy(value), _to_numpy(expected)
    _require(v.shape == e.shape, f"{name} must have shape {e.shape}; got {v.shape} instead.", hint)
    numeric = np.issubdtype(v.dtype, np.number) or v.dtype == bool
    _require(numeric, f"{name} must be numeric; got dtype {v.dtype} instead.", hint)
    close = np.isclose(v.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        first = tuple(int(i) for i in np.argwhere(~close)[0])
        _require(
            False,
            f"{int((~close).sum())} of {v.size} entries of {name} differ; first at index {first}: "
            f"{v[first]!r}, expected {e[first]!r}.",
            hint,
        )
    return _check(True, f"{name} matches ({v.size} values)", hint, "")


def check_true(condition, name: str, hint: str | None = None) -> bool:
    """Pass when ``condition`` is true; ``name`` states the claim (printed either way)."""
    _answer_is_missing(condition, name, hint)
    if isinstance(condition, (torch.Tensor, np.ndarray)):
        # an element-wise comparison holds when it holds everywhere (bool() of an array is ambiguous)
        condition = bool(_to_numpy(condition).all())
    return _check(bool(condition), name, hint, f"{name} does not hold.")


def check_in_range(value, low: float, high: float, name: str, hint: str | None = None) -> bool:
    """Pass when the scalar ``value`` lies in [low, high]; for answers that depend on a training run."""
    for bound_name, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, (int, float, np.integer, np.floating)) or math.isnan(bound):
            raise ValueError(f"{bound_name} must be a number; got {bound!r} instead.")
    if not float(low) <= float(high):
        raise ValueError(f"low must be <= high={high}; got low={low} instead.")
    _answer_is_missing(value, name, hint)
    arr = _to_numpy(value)
    scalar = arr.size == 1 and np.issubdtype(arr.dtype, np.number)
    _require(scalar, f"{name} must be a single number; got shape {arr.shape} instead.", hint)
    v = float(arr.reshape(()))
    interval = f"[{low:g}, {high:g}]"
    return _check(
        low <= v <= high, f"{name} = {v:.4g} lies in {interval}", hint, f"{name} = {v:.4g} is outside {interval}."
    )


# --- notebook-specific checks below ---


# --- notebook 01 ---
# Checks for 01_imbalance_nature.ipynb. Each recomputes the answer from the inputs it is given,
# so the learner's value is compared with an independent computation, not with a stored number.


def _nb01_counts(class_counts, name: str = "class_counts") -> np.ndarray:
    counts = _to_numpy(class_counts).astype(np.float64)
    if counts.ndim != 1 or counts.size == 0 or not np.all(np.isfinite(counts)) or np.any(counts <= 0):
        raise ValueError(f"{name} must be a non-empty 1-D array of counts > 0; got {counts.tolist()!r} instead.")
    return counts


def check_imbalance_summary(ratio, head_share, class_counts, head_fraction: float = 0.2) -> bool:
    """Notebook 01: the imbalance ratio rho = n_max / n_min and the share of all training images held
    by the largest ``head_fraction`` of the classes (at least one class), e.g. the top 20 %.

    Both are the cheap long-tail statistics of the reference sheet (classic.md, section 7.3).
    """
    counts = _nb01_counts(class_counts)
    if isinstance(head_fraction, bool) or not isinstance(head_fraction, (int, float)) or not 0 < head_fraction <= 1:
        raise ValueError(f"head_fraction must be in (0, 1]; got {head_fraction!r} instead.")
    ordered = np.sort(counts)[::-1]
    k = max(1, int(round(head_fraction * counts.size)))
    check_close(ratio, ordered[0] / ordered[-1], "imbalance ratio",
                hint="divide the largest class count by the smallest one")
    return check_close(head_share, ordered[:k].sum() / ordered.sum(), f"share of the top {k} classes",
                       hint=f"sort the counts in decreasing order, add the first {k} and divide by the total")


def check_risk_decomposition(prior_risk, balanced_risk, per_class_risk, class_counts) -> bool:
    """Notebook 01: R = sum_k P(y=k) R_k with P(y=k) = n_k / n (the training prior), against the
    balanced risk (1/K) sum_k R_k that weights every class alike (the slide's decomposition).
    """
    counts = _nb01_counts(class_counts)
    # the learner computes per_class_risk too: an unanswered stub leaves it None (issue 14)
    _answer_is_missing(per_class_risk, "per_class_risk", "1 - the per-class accuracy, one entry per class")
    risks = _to_numpy(per_class_risk).astype(np.float64)
    if risks.shape != counts.shape or not np.all(np.isfinite(risks)):
        raise ValueError(f"per_class_risk must hold one finite risk per class ({counts.size}); got {risks.tolist()!r} instead.")
    priors = counts / counts.sum()
    check_close(prior_risk, float(priors @ risks), "prior-weighted risk",
                hint="weight each class's risk by n_k / sum(n) and add them up")
    return check_close(balanced_risk, float(risks.mean()), "balanced risk",
                       hint="every class gets the weight 1/K, whatever its size")


def check_balanced_accuracy_from_confusion(value, confusion) -> bool:
    """Notebook 01: balanced accuracy from a confusion matrix (rows = true classes, columns =
    predictions): the mean over the classes present of the recall C[k, k] / sum_j C[k, j].
    Classes without test samples (empty rows) are left out, as scikit-learn does.
    """
    cm = _to_numpy(confusion).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.size == 0 or np.any(cm < 0) or not np.all(np.isfinite(cm)):
        raise ValueError(f"confusion must be a square matrix of counts >= 0; got shape {cm.shape} instead.")
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        raise ValueError("confusion must hold at least one sample; got an all-zero matrix instead.")
    recalls = np.diag(cm)[present] / support[present]
    return check_close(value, float(recalls.mean()), "balanced accuracy",
                       hint="per row: the diagonal entry divided by the row sum (the recall); then average the rows")


# --- notebooks 06-09 ---
# Checks for the supervised long-tailed losses (class-balanced, LDAM-DRW, logit adjustment, VS and
# TLA/ADRW). The expected answers are computed here from the formulas with numpy, independently of
# ltutorial.losses.


def _nb06_counts(class_counts) -> np.ndarray:
    counts = _to_numpy(class_counts).astype(np.float64).reshape(-1)
    if counts.size == 0 or np.any(counts <= 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"class_counts must be a non-empty sequence of counts > 0; got {counts.tolist()!r} instead.")
    return counts


def check_cb_weights(weights, class_counts, beta) -> bool:
    """Notebook 06: class-balanced weights (1 - beta) / (1 - beta^n_y), normalised to sum to C."""
    n = _nb06_counts(class_counts)
    w = (1.0 - beta) / (1.0 - np.power(float(beta), n))
    expected = w / w.sum() * n.size
    return check_array_close(weights, expected, "class-balanced weights",
                             hint="1/E_n with E_n = (1 - beta^n)/(1 - beta); then rescale so the weights add up to C")


def check_ldam_margins(margins, class_counts, max_m) -> bool:
    """Notebook 07: LDAM margins Delta_j = C / n_j^(1/4) with the largest equal to max_m."""
    n = _nb06_counts(class_counts)
    m = n ** -0.25
    return check_array_close(margins, m * (float(max_m) / m.max()), "LDAM margins",
                             hint="n ** -0.25, then scale so the rarest class gets max_m")


def check_logit_adjusted_loss(value, logits, targets, class_counts, tau) -> bool:
    """Notebook 08: mean over the batch of -log softmax(z + tau log pi)_y."""
    z = _to_numpy(logits).astype(np.float64)
    y = _to_numpy(targets).astype(np.int64)
    n = _nb06_counts(class_counts)
    a = z + float(tau) * np.log(n / n.sum())
    a = a - a.max(axis=1, keepdims=True)
    logp = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    return check_close(value, float(-logp[np.arange(len(y)), y].mean()), "logit-adjusted loss",
                       hint="add tau * log(n_j / N) to every logit, then ordinary cross-entropy, averaged over the batch")


def check_balanced_bayes_prediction(prediction, posterior, priors) -> bool:
    """Notebook 08: the Bayes-optimal prediction for the balanced error, argmax_y P(y|x) / P(y)."""
    post = _to_numpy(posterior).astype(np.float64)
    pri = _to_numpy(priors).astype(np.float64).reshape(-1)
    # before the int cast, which fails on the None of an unanswered stub (issue 14)
    _answer_is_missing(prediction, "balanced Bayes prediction", "divide each row of P(y|x) by the prior P(y), then argmax")
    return check_array_close(_to_numpy(prediction).astype(np.int64), np.argmax(post / pri, axis=1),
                             "balanced Bayes prediction", hint="divide each row of P(y|x) by the prior P(y), then argmax")


def check_vs_logits(adjusted, logits, class_counts, gamma, tau) -> bool:
    """Notebook 09: the VS loss's logits z_j (n_j / n_max)^gamma + tau log pi_j."""
    z = _to_numpy(logits).astype(np.float64)
    n = _nb06_counts(class_counts)
    expected = z * (n / n.max()) ** float(gamma) + float(tau) * np.log(n / n.sum())
    # softmax (and so the VS loss) ignores a constant added to a row: tau * log(n_j / n_max) is just as right
    _answer_is_missing(adjusted, "VS-adjusted logits", None)
    value = _to_numpy(adjusted).astype(np.float64)
    if value.shape == expected.shape:
        value = value - (value - expected).mean(axis=-1, keepdims=True)
    return check_array_close(value, expected, "VS-adjusted logits (up to a constant per row)", rtol=1e-4, atol=1e-5,
                             hint="multiply logit j by (n_j / n_max)^gamma, then add tau * log(n_j / N)")


def check_adrw_weights(weights, class_counts, nu) -> bool:
    """Notebook 09: ADRW weights alpha_y proportional to pi_y^(-nu), normalised to sum to C."""
    n = _nb06_counts(class_counts)
    w = (n / n.sum()) ** -float(nu)
    return check_array_close(weights, w / w.sum() * n.size, "ADRW weights",
                             hint="pi_y ** -nu with pi_y = n_y / N, then rescale so they add up to C")


# --- notebooks 02-05 ---
# Checks for 02_smote, 03_threshold_moving, 04_cog and 05_balanced_accuracy_consistency. Each
# recomputes the answer from the inputs it is given (with numpy or the package), so the learner's
# value is compared with an independent computation, not with a stored number.


def _minority_neighbours(X_min: np.ndarray, k: int) -> np.ndarray:
    """Indices (n x k) of each row's k nearest other rows (Euclidean), the neighbours SMOTE draws from."""
    d = ((X_min[:, None, :] - X_min[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def segment_positions(points, X_min, k_neighbors: int, tol: float = 1e-6) -> np.ndarray:
    """For each point, where it sits on a SMOTE segment: (i, j, u) with point = x_i + u (x_j - x_i),
    x_j one of x_i's ``k_neighbors`` nearest minority neighbours and u in [0, 1]; (-1, -1, nan)
    when no such segment passes within ``tol`` (relative to the segment's length) of the point.

    SMOTE's synthetic sample is x_new = x_i + u (x_nn - x_i), u ~ U[0, 1) (Chawla et al., JAIR 2002).
    """
    P = np.asarray(_to_numpy(points), dtype=np.float64)
    X = np.asarray(_to_numpy(X_min), dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X_min must be a 2-D array of at least 2 minority points; got shape {X.shape} instead.")
    if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, (int, np.integer)) or not 1 <= k_neighbors < len(X):
        raise ValueError(f"k_neighbors must be an int in [1, {len(X) - 1}]; got {k_neighbors!r} instead.")
    if P.ndim != 2 or P.shape[1] != X.shape[1]:
        raise ValueError(f"points must be a 2-D array with {X.shape[1]} columns; got shape {P.shape} instead.")
    nn = _minority_neighbours(X, int(k_neighbors))
    i_idx = np.repeat(np.arange(len(X)), nn.shape[1])
    j_idx = nn.ravel()
    start, d = X[i_idx], X[j_idx] - X[i_idx]                          # segments x_i -> x_j
    length2 = (d**2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = ((P[:, None, :] - start[None]) * d[None]).sum(-1) / length2  # projection on each segment
    u = np.nan_to_num(u, nan=0.0, posinf=0.0, neginf=0.0)
    u_clip = np.clip(u, 0.0, 1.0)
    gap = np.linalg.norm(P[:, None, :] - (start[None] + u_clip[..., None] * d[None]), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = gap / np.sqrt(length2)[None]
    gap = np.where(length2[None] > 0, gap, np.inf)  # a repeated minority point spans no segment
    best = gap.argmin(1)
    out = np.full((len(P), 3), np.nan)
    out[:, :2] = -1
    hit = gap[np.arange(len(P)), best] <= tol
    out[hit, 0], out[hit, 1], out[hit, 2] = i_idx[best[hit]], j_idx[best[hit]], u_clip[np.arange(len(P)), best][hit]
    return out


def check_smote_samples(new_points, X_min, k_neighbors: int, n_new: int) -> bool:
    """Notebook 02: SMOTE by hand on a small minority set. Passes when there are ``n_new`` points,
    each on a segment x_i + u (x_nn - x_i) between a minority point and one of its ``k_neighbors``
    nearest minority neighbours (Chawla et al. 2002), none a copy of a minority point, and
    not all from one segment."""
    _answer_is_missing(new_points, "new_points", None)
    P = np.asarray(_to_numpy(new_points), dtype=np.float64)
    X = np.asarray(_to_numpy(X_min), dtype=np.float64)
    _require(P.ndim == 2 and P.shape[1] == X.shape[1],
             f"new_points must be an (n_new x {X.shape[1]}) array; got shape {P.shape} instead.",
             "stack the synthetic points as rows, one column per feature")
    _require(len(P) == n_new, f"{len(P)} synthetic points, expected {n_new}.", "make exactly n_new points")
    pos = segment_positions(P, X, k_neighbors)
    off = np.flatnonzero(pos[:, 0] < 0)
    _require(off.size == 0, f"{off.size} of {len(P)} points lie on no segment between a minority point and one of "
             f"its {k_neighbors} nearest minority neighbours (first: row {off[:1].tolist()}).",
             "neighbours are the k closest OTHER minority points; x_new = x_i + u * (x_nn - x_i) with u in [0, 1)")
    u = pos[:, 2]
    copies = np.flatnonzero((u < 1e-6) | (u > 1 - 1e-6))
    _require(copies.size == 0, f"{copies.size} of {len(P)} points are copies of minority points (u = 0 or 1).",
             "that is replication; draw a fresh u ~ U[0, 1) for every new point")
    segments = {tuple(sorted((int(a), int(b)))) for a, b in pos[:, :2]}  # x_i -> x_j is x_j -> x_i
    _require(len(segments) > 1 or n_new < 3, "every new point lies on the same segment.",
             "draw the minority point x_i and its neighbour at random for every new point")
    return _check(True, f"{len(P)} synthetic points, each between a minority point and one of its "
                  f"{k_neighbors} nearest minority neighbours ({len(segments)} different segments)", None, "")


def check_smote_count_rule(n_synthetic) -> bool:
    """Notebook 02: ``n_synthetic(class_counts, ratio)``, the number of points
    ``SMOTE(sampling_strategy=ratio)`` adds to the minority of a binary problem: int(ratio *
    n_majority) - n_minority (imbalanced-learn's rule), tried on several count pairs so that no
    single coincidence passes."""
    _answer_is_missing(n_synthetic, "n_synthetic", None)
    _require(callable(n_synthetic), f"n_synthetic must be a function (class_counts, ratio) -> int; got "
             f"{type(n_synthetic).__name__} instead.", "def n_synthetic(class_counts, ratio): ...")
    cases = [([80, 20], 0.5), ([90, 12], 0.4), ([12, 90], 0.4), ([1000, 10], 1.0), ([300, 7], 0.25), ([50, 49], 1.0)]
    for counts, ratio in cases:
        expected = int(ratio * max(counts)) - min(counts)
        got = n_synthetic(list(counts), ratio)
        _require(got is not None and np.isclose(float(got), expected),
                 f"n_synthetic({counts}, {ratio}) = {got!r}, expected {expected}.",
                 "the float is the wanted minority/majority ratio AFTER resampling: the minority grows to "
                 "int(ratio * n_majority); subtract what is there (the minority may come first)")
    return _check(True, f"the rule holds on {len(cases)} class-count pairs", None, "")


def check_cost_matrix_for_priors(cost_matrix, class_priors, tau: float = 1.0) -> bool:
    """Notebook 03: a cost matrix (true class in rows, C[k][k] = 0: a correct prediction costs
    nothing) whose threshold-moving equals post-hoc logit adjustment with ``tau``: checked on
    random logits against softmax(z - tau log pi) (Zhou & Liu 2006; Menon et al. 2021)."""
    from ltutorial.posthoc import logit_adjust, softmax, threshold_moving

    _answer_is_missing(cost_matrix, "cost_matrix", None)
    C = _to_numpy(cost_matrix).astype(np.float64)
    pri = _to_numpy(class_priors).astype(np.float64)
    K = pri.size
    _require(C.shape == (K, K), f"cost_matrix must be {K} x {K}; got shape {C.shape} instead.",
             "one row and one column per class")
    _require(bool((C >= 0).all()), "cost_matrix has negative entries.", "costs are >= 0")
    _require(bool(np.allclose(np.diag(C), 0.0)), f"the diagonal is {np.round(np.diag(C), 4).tolist()}, not 0.",
             "C[k][k] is the cost of predicting the TRUE class k: a correct prediction costs nothing; "
             "put the costs off the diagonal")
    z = np.random.default_rng(0).normal(size=(256, K)) * 3
    moved = threshold_moving(softmax(z), C)
    target = softmax(logit_adjust(z, pri, tau))
    return check_array_close(moved, target, "threshold-moved probabilities", rtol=1e-6, atol=1e-9,
                             hint="only the row sums matter: row k must sum to exp(-tau * log(pi_k)) = pi_k ** -tau")


def check_parent_probabilities(proba, subclass_proba, subclass_parent) -> bool:
    """Notebook 04: P(class c | x) = sum of the probabilities of c's sub-classes (COG's Phase IV
    for probabilities)."""
    sub = _to_numpy(subclass_proba).astype(np.float64)
    parent = _to_numpy(subclass_parent).astype(np.int64)
    expected = np.zeros((sub.shape[0], int(parent.max()) + 1))
    np.add.at(expected.T, parent, sub.T)
    return check_array_close(proba, expected, "class probabilities", rtol=1e-6, atol=1e-9,
                             hint="add up the columns of the sub-classes that belong to the same parent class")


def check_phase1_relabelling(subclass_labels, subclass_parent, y, cluster_labels, majority_class: int = 0) -> bool:
    """Notebook 04: COG's Phase I relabelling (Wu et al., KDD 2007). The points of
    ``majority_class`` take their k-means cluster (``cluster_labels``, one per majority point, in
    order) as sub-class, every other class keeps one sub-class of its own, and
    ``subclass_parent[s]`` is the class of sub-class s. Any numbering of the sub-classes passes."""
    for name, v in (("subclass_labels", subclass_labels), ("subclass_parent", subclass_parent)):
        _answer_is_missing(v, name, None)
    sub = _to_numpy(subclass_labels).astype(np.int64).ravel()
    parent = _to_numpy(subclass_parent).astype(np.int64).ravel()
    y = _to_numpy(y).astype(np.int64).ravel()
    clusters = _to_numpy(cluster_labels).astype(np.int64).ravel()
    major = y == majority_class
    if clusters.size != int(major.sum()):
        raise ValueError(f"cluster_labels must hold one cluster per majority point ({int(major.sum())}); "
                         f"got {clusters.size} instead.")
    _require(sub.shape == y.shape, f"subclass_labels must hold one label per point ({y.size}); got {sub.size}.",
             "relabel every training point, the rare ones too")
    _require(sub.min() >= 0 and sub.max() < parent.size,
             f"subclass_labels run from {sub.min()} to {sub.max()}, but subclass_parent has {parent.size} entries.",
             "number the sub-classes 0 .. n_sub - 1 and give each one a parent")
    expected = np.zeros_like(y)
    expected[major] = clusters
    others = np.unique(y[~major])
    expected[~major] = clusters.max() + 1 + np.searchsorted(others, y[~major])
    pairs = set(zip(sub.tolist(), expected.tolist()))
    _require(len(pairs) == len(set(sub.tolist())) == len(set(expected.tolist())),
             f"your sub-classes ({len(set(sub.tolist()))}) are not the clusters of the majority plus one per other "
             f"class ({len(set(expected.tolist()))}).",
             "majority points: their cluster; the rare class: one new label of its own, not one of the clusters'")
    _require(bool((parent[sub] == y).all()), f"{int((parent[sub] != y).sum())} points map back to the wrong class.",
             "subclass_parent[s] must be the class of the points in sub-class s (Phase IV uses it)")
    return _check(True, f"{len(set(sub.tolist()))} sub-classes, each inside one class", None, "")


def check_plugin_predictions(predictions, estimator, X_test, y_train) -> bool:
    """Notebook 05: the plug-in rule with empirical threshold (Menon et al., ICML 2013, Algorithm 1):
    predict 1 when eta_hat(x) = estimator.predict_proba(x)[:, 1] > p_hat = mean(y_train)."""
    _answer_is_missing(predictions, "predictions", None)
    pred = _to_numpy(predictions).ravel()
    eta = np.asarray(estimator.predict_proba(_to_numpy(X_test)))[:, list(estimator.classes_).index(1)]
    expected = (eta > float(np.mean(_to_numpy(y_train)))).astype(np.int64)
    _require(pred.shape == expected.shape, f"predictions must hold one 0/1 label per test point ({expected.size}); "
             f"got shape {pred.shape}.", "one prediction per row of X_test")
    wrong = int((pred.astype(np.int64) != expected).sum())
    at_half = wrong > 0 and bool((pred.astype(np.int64) == (eta > 0.5)).all())
    _require(not at_half, "these are the predictions at the threshold 1/2 (estimator.predict).",
             "threshold eta_hat at p_hat, the fraction of positives in the TRAINING labels")
    return _check(wrong == 0, f"{pred.size} plug-in predictions, {int(expected.sum())} positive",
                  "eta_hat(x) is column 1 of predict_proba (the probability of class 1); compare it with p_hat = "
                  "y_train.mean()", f"{wrong} of {pred.size} predictions differ from eta_hat(x) > p_hat.")


def check_balanced_accuracy_from_rates(value, y_true, y_pred) -> bool:
    """Notebook 05: balanced accuracy (TPR + TNR) / 2 of binary predictions, computed here from
    the counts (Brodersen et al. 2010)."""
    t = _to_numpy(y_true).astype(np.int64).ravel()
    p = _to_numpy(y_pred).astype(np.int64).ravel()
    if t.shape != p.shape or not set(np.unique(t)) <= {0, 1} or len(np.unique(t)) < 2:
        raise ValueError(f"y_true and y_pred must be 0/1 arrays of one length with both classes in y_true; "
                         f"got shapes {t.shape} and {p.shape} instead.")
    tpr, tnr = float((p[t == 1] == 1).mean()), float((p[t == 0] == 0).mean())
    return check_close(value, (tpr + tnr) / 2, "balanced accuracy", rtol=1e-6,
                       hint="TPR = recall of class 1, TNR = recall of class 0; average the two, not the points")


# --- notebooks 10-12 ---
# Self-supervised long-tailed learning (SDCLR, BCL, GH). Expected answers are recomputed here
# from the inputs, with numpy written independently of ltutorial.ssl (the SDCLR loss check also
# compares with the package's nt_xent, the loss the notebooks train with). Each check names the
# common mistake it recognises in its hint.


def _nt_xent_variants(z1: np.ndarray, z2: np.ndarray, tau: float) -> dict[str, float]:
    """NT-Xent of two views (rows: images) and the usual wrong versions, in numpy."""
    def unit(z):
        return z / np.linalg.norm(z, axis=1, keepdims=True)

    def loss(a, b, *, self_in_denominator=False, cross_only=False):
        z = np.concatenate([a, b])
        n = a.shape[0]
        s = z @ z.T / tau
        pos = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
        positive = s[np.arange(2 * n), pos]
        if cross_only:  # negatives only from the other view (the other branch)
            other = np.concatenate([s[:n, n:], s[n:, :n]])
            return float(np.mean(np.log(np.exp(other).sum(1)) - positive))
        if not self_in_denominator:
            np.fill_diagonal(s, -np.inf)
        return float(np.mean(np.log(np.exp(s).sum(1)) - positive))

    u1, u2 = unit(z1), unit(z2)
    return {
        "right": loss(u1, u2),
        "without L2-normalising the projections": loss(z1, z2),
        "with the anchor itself in the denominator": loss(u1, u2, self_in_denominator=True),
        "with negatives only from the other branch (dense-dense and pruned-pruned pairs are negatives too)": loss(u1, u2, cross_only=True),
        "with temperature 1 instead of tau": loss(u1, u2) if tau == 1 else _nt_xent_variants(z1, z2, 1.0)["right"],
    }


def check_sdclr_loss(value, z_dense, z_pruned, temperature: float) -> bool:
    """Notebook 10: SDCLR's loss, NT-Xent over the 2N views of the dense and the pruned branch.

    z = normalize([z_dense; z_pruned]), s_ij = z_i . z_j / tau, l_i = -log(exp(s_ip) / sum_{j != i} exp(s_ij)),
    the mean over all 2N anchors (Chen et al. 2020; Jiang et al. 2021). Compared with
    ``lt.ssl.nt_xent`` and an independent numpy computation; a known wrong variant gets its own hint.
    """
    from ltutorial.ssl.simclr import nt_xent

    _answer_is_missing(value, "loss", None)
    z1 = _to_numpy(z_dense).astype(np.float64)
    z2 = _to_numpy(z_pruned).astype(np.float64)
    variants = _nt_xent_variants(z1, z2, float(temperature))
    expected = variants.pop("right")
    package = float(nt_xent(torch.as_tensor(z1), torch.as_tensor(z2), float(temperature)))
    if abs(package - expected) > 1e-5:  # the two references must agree before judging the learner
        raise RuntimeError(f"lt.ssl.nt_xent ({package}) and the numpy reference ({expected}) disagree.")
    arr = _to_numpy(value)
    _require(arr.size == 1 and np.issubdtype(arr.dtype, np.number), f"loss must be a single number; got shape {arr.shape} instead.", None)
    v = float(arr.reshape(()))
    for mistake, wrong in variants.items():
        if abs(wrong - expected) > 1e-4 and abs(v - wrong) < 1e-4:
            _require(False, f"loss = {v:.4f} is the value {mistake}.", "normalise each row, stack the 2N views, mask the diagonal, "
                     "cross-entropy with the other view as the target, mean over all 2N anchors")
    hint = "normalise each row, stack [z_dense; z_pruned], divide the similarities by tau, mask the diagonal, mean over 2N anchors"
    return _check(abs(v - expected) < 1e-4, f"SDCLR loss = {v:.4f} (lt.ssl.nt_xent gives {package:.4f})", hint,
                  f"loss = {v:.4f}, expected {expected:.4f}.")


def check_global_prune_masks(masks, weights, ratio) -> bool:
    """Notebook 10: 0/1 masks removing the ``ratio`` smallest |w| pooled over all tensors."""
    _answer_is_missing(masks, "masks", None)
    hint = "pool |w| of all tensors, find the threshold of the smallest ratio share, keep |w| >= threshold"
    _require(isinstance(masks, dict) and set(masks) == set(weights), f"masks must be a dict with keys {sorted(weights)}.", hint)
    pooled = np.concatenate([np.abs(_to_numpy(w)).reshape(-1) for w in weights.values()])
    n_prune = math.ceil(round(ratio * pooled.size, 9))  # ceil(p N), SDCLR's count (float noise rounded off)
    threshold = np.sort(pooled)[n_prune]
    for k, w in weights.items():
        expected = (np.abs(_to_numpy(w)) >= threshold).astype(np.float64)
        got = _to_numpy(masks[k]).astype(np.float64)
        _require(got.shape == expected.shape and np.array_equal(got, expected), f"mask {k!r} = {got.tolist()}, expected {expected.tolist()}.", hint)
    kept = {k: float(_to_numpy(m).mean()) for k, m in masks.items()}
    return _check(True, f"global pruning keeps {kept}: the tensor with larger weights keeps more", hint, "")


def check_memorization_score(scores, ema_losses) -> bool:
    """Notebook 11: M = 1/2 ((m - mean m) / max|m - mean m| + 1), the slide's formula.

    Standardising m first (with either standard deviation) gives the same scores: the scale
    cancels in the ratio, so every such answer passes.
    """
    _answer_is_missing(scores, "scores", None)
    m = _to_numpy(ema_losses).astype(np.float64)
    centred = m - m.mean()
    expected = 0.5 * (centred / np.abs(centred).max() + 1)
    got = _to_numpy(scores).astype(np.float64)
    ok = got.shape == expected.shape and np.allclose(got, expected, atol=1e-5)
    return _check(ok, "memorization scores in [0, 1], 1/2 at the mean loss, the extreme sample at 0 or 1",
                  "centre the losses on their mean, divide by the largest absolute deviation, then add 1 and halve",
                  f"scores differ from the formula (first values {np.round(got.reshape(-1)[:3], 4)}, expected {np.round(expected[:3], 4)}).")


def check_bcl_gating(augmented, x, scores, u, zeta, operation) -> bool:
    """Notebook 11: BCL's gate a(x_i) = A(x_i; M_i zeta) if u_i < M_i, else x_i (one operation).

    ``operation(x, strength)`` is the notebook's A applied to rows; the expected output is
    recomputed row by row, and the usual mistakes (the gate reversed, no gate, strength zeta
    without M) get their own message.
    """
    _answer_is_missing(augmented, "augmented", None)
    xs, m, uu = (_to_numpy(v).astype(np.float64) for v in (x, scores, u))
    rows = lambda gate, strength: np.stack([_to_numpy(operation(xs[i], strength[i])) if gate[i] else xs[i] for i in range(len(xs))])
    expected = rows(uu < m, m * zeta)
    wrong = {"the gate is reversed (apply when u < M, keep x when u >= M)": rows(uu >= m, m * zeta),
             "every sample is augmented: the operation is applied only when u < M": rows(np.ones(len(xs), bool), m * zeta),
             "the strength is M * zeta, not zeta": rows(uu < m, np.full(len(xs), float(zeta)))}
    got = _to_numpy(augmented).astype(np.float64)
    _require(got.shape == expected.shape, f"augmented must have shape {expected.shape}; got {got.shape} instead.", None)
    hint = "for each sample: if u[i] < M[i] apply operation(x[i], M[i] * zeta), else keep x[i]"
    for mistake, w in wrong.items():
        if not np.allclose(w, expected) and np.allclose(got, w):
            _require(False, f"{mistake}.", hint)
    applied = int((uu < m).sum())
    return _check(np.allclose(got, expected, atol=1e-6), f"{applied} of {len(xs)} samples augmented, each at strength M * zeta",
                  hint, "augmented differs from the gated operation.")


def check_simplex_etf(vectors, dim: int | None = None) -> bool:
    """Notebook 12: K unit vectors with all pairwise inner products -1/(K-1), in R^dim if given."""
    _answer_is_missing(vectors, "vectors", None)
    v = _to_numpy(vectors).astype(np.float64)
    _require(v.ndim == 2 and v.shape[0] >= 2, f"vectors must be K x d with K >= 2; got shape {v.shape}.", None)
    k = v.shape[0]
    hint = ("the rows of sqrt(K/(K-1)) (I - 11^T/K) are an ETF in R^K; they lie in a (K-1)-dimensional subspace, so "
            "express them in an orthonormal basis of it (e.g. from np.linalg.svd or a QR decomposition)")
    if dim is not None:
        _require(v.shape[1] == dim, f"vectors must be {k} x {dim} (vertices in R^{dim}); got shape {v.shape} instead.", hint)
    gram = v @ v.T
    expected = (k / (k - 1)) * np.eye(k) - 1.0 / (k - 1)
    return _check(np.allclose(gram, expected, atol=1e-4), f"{k} unit vectors in R^{v.shape[1]}, every pair at inner product {-1 / (k - 1):.4f}",
                  hint, "the Gram matrix is not (K/(K-1)) I - 1/(K-1): rows must have unit norm and equal pairwise inner products.")


def check_sinkhorn_allocation(q, scores, prior, epsilon: float) -> bool:
    """Notebook 12: the converged Sinkhorn-Knopp plan Q = diag(a) exp(scores / eps) diag(b).

    The reference alternates the column scaling (sums N * prior) and the row scaling (sums 1)
    to convergence in numpy. Matching only the marginals is not enough: np.tile(prior, (N, 1))
    meets both and ignores the scores, so the plan itself is compared.
    """
    _answer_is_missing(q, "q", None)
    s = _to_numpy(scores).astype(np.float64)
    p = _to_numpy(prior).astype(np.float64)
    n = s.shape[0]
    ref = np.exp(s / float(epsilon))
    for _ in range(10_000):
        ref = ref * (n * p / ref.sum(0))
        ref = ref / ref.sum(1, keepdims=True)
        if np.allclose(ref.sum(0), n * p, atol=1e-12):
            break
    got = _to_numpy(q).astype(np.float64)
    hint = "start from exp(scores / epsilon); alternate: scale each column to sum N * prior_k, then each row to sum 1"
    _require(got.shape == ref.shape, f"q must have shape {ref.shape} (N x K); got {got.shape} instead.", hint)
    marginals = np.allclose(got.sum(1), 1, atol=1e-3) and np.allclose(got.sum(0), n * p, atol=1e-3 * n)
    _require(marginals, f"q's row sums {np.round(got.sum(1), 3)} must be 1 and its column sums {np.round(got.sum(0), 3)} "
             f"must be N * prior = {np.round(n * p, 3)}.", hint)
    return _check(np.allclose(got, ref, atol=1e-3), "the plan meets both marginals and keeps each sample's preferences",
                  hint, f"the marginals are right but q is not the Sinkhorn plan of these scores (largest difference "
                  f"{np.abs(got - ref).max():.3f}); a plan that ignores the scores, such as every row equal to the prior, "
                  "meets the marginals too.")


# --- notebooks 06-09 (issue 11): exercises whose checks reject the known wrong answers ---
# Each expected answer is recomputed here from the formula with numpy, independently of ltutorial.losses.


def check_cb_beta_for_ratio(beta, class_counts, ratio) -> bool:
    """Notebook 06: the beta at which the class-balanced tail/head weight ratio is ``ratio``.

    alpha_tail / alpha_head = E_{n_head} / E_{n_tail} = (1 - beta^n_head) / (1 - beta^n_tail) (Cui et al. 2019).
    """
    n = _nb06_counts(class_counts)
    hint = "bisection on beta in (0, 1): if the ratio is below the target, beta must grow"
    _answer_is_missing(beta, "beta", hint)
    b = float(_to_numpy(beta).reshape(()))
    _require(0.0 < b < 1.0, f"beta must lie in (0, 1); got {b!r} instead.", hint)
    got = (1.0 - b ** n.max()) / (1.0 - b ** n.min())
    return _check(bool(np.isclose(got, float(ratio), rtol=1e-3)), f"beta = {b:.6f} gives a tail/head ratio of {got:.4f}",
                  hint, f"beta = {b:.6f} gives a tail/head weight ratio of {got:.4f}, not {float(ratio):g}.")


def check_ldam_loss(value, logits, target, class_counts, max_m, s) -> bool:
    """Notebook 07: the LDAM loss -log softmax(s (z - Delta_y e_y))_y, Delta_j = C / n_j^(1/4), max Delta = max_m.

    The margin is subtracted before scaling (Cao et al. 2019); the mean over the batch is returned.
    """
    z = _to_numpy(logits).astype(np.float64).reshape(-1, _nb06_counts(class_counts).size)
    y = _to_numpy(target).astype(np.int64).reshape(-1)
    n = _nb06_counts(class_counts)
    margins = n ** -0.25 * (float(max_m) / (n ** -0.25).max())
    a = float(s) * (z - margins[y][:, None] * np.eye(n.size)[y])
    a = a - a.max(axis=1, keepdims=True)
    logp = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
    return check_close(value, float(-logp[np.arange(len(y)), y].mean()), "LDAM loss",
                       hint="subtract Delta_y from the true-class logit only, then multiply all logits by s, then "
                            "cross-entropy (the hinge max(.., 0) is LDAM-HG, not LDAM)")


def check_drw_weights(drw_weights, class_counts, beta, t0, epochs) -> bool:
    """Notebook 07: ``drw_weights(epoch)`` gives DRW's per-class weights at the 0-based ``epoch``.

    All ones for epoch < t0, then the class-balanced weights (1 - beta) / (1 - beta^n_y) normalised to sum
    to C (Cao et al. 2019, deferred re-weighting). Checked at every epoch of a run of ``epochs``.
    """
    hint = "ones before epoch t0; from epoch t0 on (0-based, so t0 itself is re-weighted) the CB weights summing to C"
    _answer_is_missing(drw_weights, "drw_weights", hint)
    _require(callable(drw_weights), f"drw_weights must be a function of the epoch; got {type(drw_weights).__name__}.",
             hint)
    n = _nb06_counts(class_counts)
    cb = (1.0 - beta) / (1.0 - np.power(float(beta), n))
    cb = cb / cb.sum() * n.size
    for epoch in range(int(epochs)):
        expected = np.ones_like(n) if epoch < t0 else cb
        got = _to_numpy(drw_weights(epoch)).astype(np.float64)
        ok = got.shape == expected.shape and np.allclose(got, expected, rtol=1e-4, atol=1e-8)
        _require(ok, f"at epoch {epoch} (switch at t0 = {t0}) the weights are {np.round(got, 4).tolist()}, "
                     f"expected {np.round(expected, 4).tolist()}.", hint)
    return _check(True, f"weights 1 before epoch {t0}, class-balanced from epoch {t0} on", hint, "")
