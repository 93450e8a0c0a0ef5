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
    if value.shape == expected.shape and expected.ndim == 2:
        value = value - (value - expected).mean(axis=1, keepdims=True)
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


def check_smote_point(point, x, x_nn, u) -> bool:
    """Notebook 02: one SMOTE point, x + u (x_nn - x) (Chawla et al. 2002), for a given gap u in [0, 1)."""
    x, x_nn = _to_numpy(x).astype(np.float64), _to_numpy(x_nn).astype(np.float64)
    return check_array_close(point, x + float(u) * (x_nn - x), "SMOTE point", rtol=1e-5, atol=1e-6,
                             hint="start at x and walk the fraction u of the way towards the neighbour x_nn")


def check_smote_new_samples(n_new, class_counts, ratio) -> bool:
    """Notebook 02: how many points ``SMOTE(sampling_strategy=ratio)`` adds to the minority of a
    binary problem: int(ratio * n_majority) - n_minority (imbalanced-learn's rule)."""
    counts = np.asarray(_to_numpy(class_counts), dtype=np.int64)
    if counts.shape != (2,) or (counts <= 0).any():
        raise ValueError(f"class_counts must hold 2 positive counts; got {counts.tolist()!r} instead.")
    expected = int(float(ratio) * counts.max()) - int(counts.min())
    return check_close(n_new, expected, "number of synthetic samples", atol=0.5, rtol=0,
                       hint="the float is the wanted minority/majority ratio AFTER resampling; subtract what is there")


def check_cost_matrix_for_priors(cost_matrix, class_priors, tau: float = 1.0) -> bool:
    """Notebook 03: a cost matrix (true class in rows) whose threshold-moving equals post-hoc logit
    adjustment with ``tau``: checked on random logits against softmax(z - tau log pi)."""
    from ltutorial.posthoc import logit_adjust, softmax, threshold_moving

    _answer_is_missing(cost_matrix, "cost_matrix", None)
    C = _to_numpy(cost_matrix).astype(np.float64)
    pri = _to_numpy(class_priors).astype(np.float64)
    K = pri.size
    _require(C.shape == (K, K), f"cost_matrix must be {K} x {K}; got shape {C.shape} instead.",
             "one row and one column per class")
    _require(bool((C >= 0).all()), "cost_matrix has negative entries.", "costs are >= 0")
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


def check_balanced_accuracy_threshold(threshold, positive_rate) -> bool:
    """Notebook 05: the Bayes-optimal threshold on eta(x) for balanced accuracy is the base rate p
    (Menon et al. 2013), not 1/2."""
    return check_close(threshold, float(positive_rate), "balanced-accuracy threshold on eta(x)",
                       hint="at the Bayes rule, eta(x) / p = (1 - eta(x)) / (1 - p): solve for eta(x)")


def check_half_rule_balanced_accuracy(value, problem) -> bool:
    """Notebook 05: the exact balanced accuracy of the accuracy-Bayes rule eta(x) > 1/2 on a
    ``GaussianBinaryProblem`` (computed here with the closed form of the problem)."""
    return check_close(value, problem.balanced_accuracy("accuracy"), "balanced accuracy of eta > 1/2",
                       rtol=1e-3, hint="use problem.rates('accuracy') (TPR, TNR) and average them")


# --- notebooks 10-12 ---
# Self-supervised long-tailed learning (SDCLR, BCL, GH). Expected answers are recomputed here
# from the definitions (ltutorial.ssl holds the package versions the notebooks run).


def check_sdclr_subset_sizes(counts, balanced_total) -> bool:
    """Notebook 10: D_i's per-class counts floor(4500 * 0.01^(c/9)) and D_b's size."""
    _answer_is_missing(counts, "counts", None)
    expected = [int(4500 * 0.01 ** (c / 9)) for c in range(10)]
    got = [int(v) for v in _to_numpy(counts).reshape(-1)]
    _require(got == expected, f"counts = {got}, expected {expected}.", "n_c = int(4500 * 0.01 ** (c / 9)) for c = 0..9")
    _require(sum(got) == 11_165, f"the counts sum to {sum(got)}, expected 11,165.", None)
    _answer_is_missing(balanced_total, "balanced_total", None)
    return _check(
        int(balanced_total) == 11_160,
        "D_i has 11,165 images and D_b 11,160 (1,116 per class)",
        "floor(11165 / 10) = 1116 images per class, times 10 classes",
        f"balanced_total = {balanced_total}, expected 11,160.",
    )


def check_global_prune_masks(masks, weights, ratio) -> bool:
    """Notebook 10: 0/1 masks removing the ``ratio`` smallest |w| pooled over all tensors."""
    _answer_is_missing(masks, "masks", None)
    hint = "pool |w| of all tensors, find the threshold of the smallest ratio share, keep |w| >= threshold"
    _require(isinstance(masks, dict) and set(masks) == set(weights), f"masks must be a dict with keys {sorted(weights)}.", hint)
    pooled = np.concatenate([np.abs(_to_numpy(w)).reshape(-1) for w in weights.values()])
    n_prune = int(round(ratio * pooled.size))
    threshold = np.sort(pooled)[n_prune]
    for k, w in weights.items():
        expected = (np.abs(_to_numpy(w)) >= threshold).astype(np.float64)
        got = _to_numpy(masks[k]).astype(np.float64)
        _require(got.shape == expected.shape and np.array_equal(got, expected), f"mask {k!r} = {got.tolist()}, expected {expected.tolist()}.", hint)
    kept = {k: float(_to_numpy(m).mean()) for k, m in masks.items()}
    return _check(True, f"global pruning keeps {kept}: the tensor with larger weights keeps more", hint, "")


def check_memorization_score(scores, ema_losses) -> bool:
    """Notebook 11: M = z / (2 max|z|) + 1/2 with z the standardised moving-average losses."""
    _answer_is_missing(scores, "scores", None)
    m = _to_numpy(ema_losses).astype(np.float64)
    z = (m - m.mean()) / m.std()
    expected = z / (2 * np.abs(z).max()) + 0.5
    got = _to_numpy(scores).astype(np.float64)
    ok = got.shape == expected.shape and np.allclose(got, expected, atol=1e-5)
    return _check(ok, "memorization scores in [0, 1], 1/2 at the mean loss", "standardise (population std), divide by twice the largest |z|, add 1/2",
                  f"scores differ from the formula (first values {got.reshape(-1)[:3]}, expected {expected[:3]}).")


def check_bcl_magnitude(magnitudes, scores) -> bool:
    """Notebook 11: BCL's k = 1 RandAugment magnitude m = 10 + 20 M on the 0..30 scale."""
    _answer_is_missing(magnitudes, "magnitudes", None)
    expected = 10 + 20 * _to_numpy(scores).astype(np.float64)
    got = _to_numpy(magnitudes).astype(np.float64)
    ok = got.shape == expected.shape and np.allclose(got, expected, atol=1e-5)
    return _check(ok, "magnitude grows linearly from 10 (M = 0) to 30 (M = 1)", "m = 10 + (30 - 10) * M",
                  f"magnitudes differ from 10 + 20 M (first values {got.reshape(-1)[:3]}).")


def check_simplex_etf(vectors) -> bool:
    """Notebook 12: K unit vectors with all pairwise inner products -1/(K-1)."""
    _answer_is_missing(vectors, "vectors", None)
    v = _to_numpy(vectors).astype(np.float64)
    _require(v.ndim == 2 and v.shape[0] >= 2, f"vectors must be K x d with K >= 2; got shape {v.shape}.", None)
    k = v.shape[0]
    gram = v @ v.T
    expected = (k / (k - 1)) * np.eye(k) - 1.0 / (k - 1)
    return _check(np.allclose(gram, expected, atol=1e-4), f"{k} unit vectors, every pair at inner product {-1 / (k - 1):.4f}",
                  "centre the identity (I - 11^T/K), scale by sqrt(K/(K-1)); rows are the vertices",
                  "the Gram matrix is not (K/(K-1)) I - 1/(K-1).")


def check_sinkhorn_allocation(q, prior) -> bool:
    """Notebook 12: an N x K allocation with rows summing to 1 and columns to N * prior."""
    _answer_is_missing(q, "q", None)
    q = _to_numpy(q).astype(np.float64)
    p = _to_numpy(prior).astype(np.float64)
    n = q.shape[0]
    hint = "alternate: divide each column by its sum and multiply by N*prior_k; then divide each row by its sum"
    _require((q >= 0).all() and np.allclose(q.sum(1), 1, atol=1e-3), "rows of q must be non-negative and sum to 1.", hint)
    return _check(np.allclose(q.sum(0), n * p, atol=1e-2 * n), "columns carry N * prior: the long-tailed marginal is met",
                  hint, f"column sums {np.round(q.sum(0), 2)} differ from N * prior {np.round(n * p, 2)}.")


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
