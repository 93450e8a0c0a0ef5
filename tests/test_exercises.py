"""ltutorial.exercises: the generic checks pass on right answers and fail with a hint on wrong ones."""

import numpy as np
import pytest
import torch

import ltutorial as lt
from ltutorial import exercises as ex


def test_check_close_pass_prints_correct(capsys):
    assert ex.check_close(0.72222, 13 / 18, "balanced accuracy") is True
    assert capsys.readouterr().out.startswith("Correct: balanced accuracy")
    assert ex.check_close(torch.tensor(0.5), 0.5, "t")
    assert ex.check_close(np.float32(2.0), 2, "n")
    assert ex.check_close(np.array([3.0]), 3.0, "one-element array")


def test_check_close_fail_raises_with_hint(capsys):
    with pytest.raises(AssertionError, match=r"(?s)balanced accuracy = 0\.8, expected 0\.722.*Hint: average the recalls"):
        ex.check_close(0.8, 13 / 18, "balanced accuracy", hint="average the recalls")
    assert "Correct" not in capsys.readouterr().out
    with pytest.raises(AssertionError, match="must be a single number"):
        ex.check_close([1.0, 2.0], 1.0, "x")
    with pytest.raises(AssertionError, match="must be a single number"):
        ex.check_close("0.5", 0.5, "x")
    with pytest.raises(AssertionError, match="still None; fill in"):
        ex.check_close(None, 0.5, "x")
    with pytest.raises(AssertionError, match="still Ellipsis"):
        ex.check_close(..., 0.5, "x")


def test_check_close_tolerance():
    assert ex.check_close(1.0009, 1.0, "x", rtol=1e-3)
    with pytest.raises(AssertionError):
        ex.check_close(1.0011, 1.0, "x", rtol=1e-3)
    assert ex.check_close(1e-9, 0.0, "x", rtol=0, atol=1e-8)
    with pytest.raises(AssertionError):
        ex.check_close(float("nan"), 0.0, "x")


def test_check_array_close():
    assert ex.check_array_close(torch.tensor([1.0, float("nan")]), np.array([1.0, np.nan]), "acc")
    with pytest.raises(AssertionError, match=r"must have shape \(3,\); got \(2,\)"):
        ex.check_array_close([1, 2], [1, 2, 3], "counts")
    with pytest.raises(AssertionError, match=r"(?s)1 of 3 entries of counts differ; first at index \(1,\).*Hint: h"):
        ex.check_array_close([1, 5, 3], [1, 2, 3], "counts", hint="h")
    with pytest.raises(AssertionError, match="must be numeric"):
        ex.check_array_close(np.array(["a", "b"]), [1, 2], "counts")
    assert ex.check_array_close(torch.ones(2, 2, dtype=torch.bfloat16), np.ones((2, 2)), "bf16")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ex.check_close(1.0, 1.0, "x", rtol=-1), "rtol must be a finite number >= 0"),
        (lambda: ex.check_array_close([1.0], [1.0], "x", atol=float("inf")), "atol must be a finite number >= 0"),
    ],
)
def test_misuse_by_the_notebook_author_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_marker_for_notebook_specific_checks_is_present():
    import inspect

    assert "# --- notebook-specific checks below ---" in inspect.getsource(ex)


# --- notebooks 02-05 (issue 11): each check accepts the right answer (computed independently: by
# hand, with scikit-learn or imbalanced-learn) and rejects the known wrong answers ---


def _minority_set(seed=0, n=12):
    return np.random.default_rng(seed).normal(size=(n, 2))


def _smote_by_hand(X, k, n_new, seed=0, u=None):
    """Reference SMOTE: base point at random, one of its k nearest other points, x + u (x_nn - x)."""
    rng = np.random.default_rng(seed)
    d = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, 1)[:, :k]
    i = rng.integers(len(X), size=n_new)
    j = nn[i, rng.integers(k, size=n_new)]
    u = rng.uniform(size=(n_new, 1)) if u is None else u
    return X[i] + u * (X[j] - X[i])


def test_smote_samples_accepts_imbalanced_learn_and_hand_smote(capsys):
    from imblearn.over_sampling import SMOTE

    X_min = _minority_set()
    assert ex.check_smote_samples(_smote_by_hand(X_min, 3, 20), X_min, 3, 20)
    assert "Correct" in capsys.readouterr().out
    # imbalanced-learn's SMOTE on 40 majority + 12 minority points: its 28 new points pass
    X = np.vstack([np.random.default_rng(1).normal(5, 1, size=(40, 2)), X_min])
    y = np.r_[np.zeros(40, int), np.ones(12, int)]
    X_res, _ = SMOTE(k_neighbors=3, random_state=0).fit_resample(X, y)
    assert ex.check_smote_samples(X_res[len(X):], X_min, 3, 28)


def test_smote_samples_rejects_copies_off_segment_points_and_wrong_counts():
    X_min = _minority_set()
    rng = np.random.default_rng(2)
    with pytest.raises(AssertionError, match="copies of minority points"):
        ex.check_smote_samples(X_min[rng.integers(12, size=20)], X_min, 3, 20)   # replication
    with pytest.raises(AssertionError, match="lie on no segment"):
        ex.check_smote_samples(_smote_by_hand(X_min, 11, 20), X_min, 3, 20)      # k too large: chords
    with pytest.raises(AssertionError, match="lie on no segment"):
        ex.check_smote_samples(_smote_by_hand(X_min, 3, 20) + rng.normal(0, 0.05, (20, 2)), X_min, 3, 20)  # noise
    with pytest.raises(AssertionError, match="19 synthetic points, expected 20"):
        ex.check_smote_samples(_smote_by_hand(X_min, 3, 19), X_min, 3, 20)
    for u in (0.5, 0.3):  # one gap for every point (one rng.uniform() call, or the midpoints) passed before
        with pytest.raises(AssertionError, match="every new point has the same gap u"):
            ex.check_smote_samples(_smote_by_hand(X_min, 3, 20, u=u), X_min, 3, 20)


def test_smote_samples_with_a_repeated_minority_point():
    X_min = _minority_set()
    X_min[5] = X_min[4]  # a zero-length segment must not hide the others (it used to reject every point)
    assert ex.check_smote_samples(_smote_by_hand(X_min, 3, 20), X_min, 3, 20)
    with pytest.raises(AssertionError, match="lie on no segment"):
        ex.check_smote_samples(_smote_by_hand(X_min, 3, 20) + 0.05, X_min, 3, 20)
    one_segment = X_min[0] + np.linspace(0.1, 0.9, 20)[:, None] * (X_min[_smote_nn(X_min)] - X_min[0])
    with pytest.raises(AssertionError, match="same segment"):
        ex.check_smote_samples(one_segment, X_min, 3, 20)
    with pytest.raises(ValueError, match="k_neighbors must be an int in"):
        ex.check_smote_samples(X_min[:2], X_min, 0, 2)


def _smote_nn(X):
    d = ((X - X[0]) ** 2).sum(1)
    d[0] = np.inf
    return int(d.argmin())


def test_segment_positions_recovers_u():
    X_min = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]])
    pos = ex.segment_positions([[0.25, 0.0], [5.0, 5.0]], X_min, 1)
    assert pos[0].tolist()[:2] in ([0, 1], [1, 0]) and min(pos[0, 2], 1 - pos[0, 2]) == pytest.approx(0.25)
    assert pos[1, 0] == -1 and np.isnan(pos[1, 2])   # (5, 5) lies between 0 and 2, but 2 is not 0's nearest


def test_smote_count_rule_rejects_one_per_minority_sample():
    assert ex.check_smote_count_rule(lambda c, r: int(r * max(c)) - min(c))
    with pytest.raises(AssertionError, match=r"n_synthetic\(\[90, 12\], 0.4\) = 12, expected 24"):
        ex.check_smote_count_rule(lambda c, r: min(c))              # one synthetic point per minority sample
    with pytest.raises(AssertionError, match="expected"):
        ex.check_smote_count_rule(lambda c, r: int(r * c[0]) - c[1])  # assumes the majority comes first
    with pytest.raises(AssertionError, match="expected"):
        ex.check_smote_count_rule(lambda c, r: max(c) - min(c))       # full balance whatever the ratio
    with pytest.raises(AssertionError, match="must be a function"):
        ex.check_smote_count_rule(20)
    with pytest.raises(AssertionError, match=r"n_synthetic\(\[303, 7\], 0.25\) = 69, expected 68"):
        ex.check_smote_count_rule(lambda c, r: round(r * max(c)) - min(c))  # imbalanced-learn truncates


def test_cost_matrix_rejects_a_diagonal_matrix():
    prior = np.array([0.6, 0.3, 0.1])
    K = 3
    off = (prior**-0.5)[:, None] / (K - 1) * (1 - np.eye(K))   # row k sums to pi_k^-0.5, C[k][k] = 0
    assert ex.check_cost_matrix_for_priors(off, prior, tau=0.5)
    assert ex.check_cost_matrix_for_priors(7 * off, prior, tau=0.5)   # a common factor cancels
    with pytest.raises(AssertionError, match="diagonal"):
        ex.check_cost_matrix_for_priors(np.diag(prior**-0.5), prior, tau=0.5)
    with pytest.raises(AssertionError, match="entries of threshold-moved probabilities differ"):
        ex.check_cost_matrix_for_priors((prior**-1.0)[:, None] * (1 - np.eye(K)), prior, tau=0.5)  # wrong tau


def test_phase1_relabelling_any_numbering_passes():
    y = np.array([0, 0, 0, 0, 1, 1, 0])
    clusters = np.array([0, 1, 1, 2, 0])          # the 5 majority points, in order
    sub = np.array([0, 1, 1, 2, 3, 3, 0])
    assert ex.check_phase1_relabelling(sub, [0, 0, 0, 1], y, clusters)
    perm = np.array([2, 0, 3, 1])                # renumbered sub-classes
    assert ex.check_phase1_relabelling(perm[sub], np.array([0, 0, 0, 1])[np.argsort(perm)], y, clusters)
    with pytest.raises(AssertionError, match="not the clusters"):
        ex.check_phase1_relabelling(np.array([0, 1, 1, 2, 0, 0, 0]), [0, 0, 0], y, clusters)   # rare joins cluster 0
    with pytest.raises(AssertionError, match="map back to the wrong class"):
        ex.check_phase1_relabelling(sub, [0, 0, 0, 0], y, clusters)
    with pytest.raises(AssertionError, match="not the clusters"):
        ex.check_phase1_relabelling(y, [0, 1], y, clusters)    # no relabelling at all
    with pytest.raises(ValueError, match="one cluster per majority point"):
        ex.check_phase1_relabelling(sub, [0, 0, 0, 1], y, clusters[:3])


def test_phase1_relabelling_with_negative_and_gapped_labels():
    # majority class 5; other classes -1 and 9: each one new label above the clusters, not clusters.max() + 1 + y
    y = np.array([5, 5, 5, -1, 9, 9, -1])
    clusters = np.array([0, 1, 0])
    sub = np.array([0, 1, 0, 2, 3, 3, 2])
    assert ex.check_phase1_relabelling(sub, [5, 5, -1, 9], y, clusters, majority_class=5)
    with pytest.raises(AssertionError, match="not the clusters"):
        ex.check_phase1_relabelling(np.array([0, 1, 0, 1, 2, 2, 1]), [5, 5, 9], y, clusters, majority_class=5)


def test_plugin_predictions_and_balanced_accuracy_from_rates():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    y = (rng.uniform(size=600) < 0.1).astype(int)
    X = rng.normal(size=(600, 2)) + 1.5 * y[:, None]
    X_test = rng.normal(size=(400, 2)) + 1.5 * (rng.uniform(size=400) < 0.5)[:, None]
    est = LogisticRegression().fit(X, y)
    right = (est.predict_proba(X_test)[:, 1] > y.mean()).astype(int)
    assert ex.check_plugin_predictions(right, est, X_test, y)
    with pytest.raises(AssertionError, match="threshold 1/2"):
        ex.check_plugin_predictions(est.predict(X_test), est, X_test, y)
    with pytest.raises(AssertionError, match="differ"):
        ex.check_plugin_predictions((est.predict_proba(X_test)[:, 0] > y.mean()).astype(int), est, X_test, y)
    y_true = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    assert ex.check_balanced_accuracy_from_rates(balanced_accuracy_score(y_true, y_pred), y_true, y_pred)
    with pytest.raises(AssertionError, match="expected"):
        ex.check_balanced_accuracy_from_rates((y_true == y_pred).mean() + 0.01, y_true, y_pred)
    assert ex.check_balanced_accuracy_from_rates(0.75, torch.tensor([True, True, False, False]), [1, 0, 0, 0])
    for bad_true, bad_pred in [([0, 1, 2, 1], [0, 1, 1, 1]), ([1, 1, 1, 1], [1, 0, 1, 1]), ([0, 1, 1], [0, 1])]:
        with pytest.raises(ValueError, match="0/1 arrays of one length with both classes in y_true"):
            ex.check_balanced_accuracy_from_rates(0.5, bad_true, bad_pred)
    # scores truncated to 0 would make [0.2, 0.9, 0.6, 0.1] the labels [0, 0, 0, 0]: refused, not graded
    with pytest.raises(ValueError, match=r"y_pred must hold integer class indices.*argmax"):
        ex.check_balanced_accuracy_from_rates(0.5, [0, 1, 1, 0], [0.2, 0.9, 0.6, 0.1])
    with pytest.raises(ValueError, match="y_true must be 1-D"):
        ex.check_balanced_accuracy_from_rates(0.5, np.eye(2)[[0, 1, 1, 0]], [0, 1, 1, 0])


# --- notebooks 10-12 (issue 11): each check accepts right answers, equivalent forms included,
# and rejects the known wrong answers (the learner review's and the usual mistakes).


def _sdclr_example():
    g = np.random.default_rng(3)
    z_dense = 2.0 * g.normal(size=(5, 4))
    return z_dense, z_dense + g.normal(size=(5, 4))


def _nt_xent_by_hand(z1, z2, tau):
    # written out per anchor with a loop: l_i = -log(exp(s_ip) / sum_{j != i} exp(s_ij))
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n2, n = len(z), len(z1)
    total = 0.0
    for i in range(n2):
        p = (i + n) % n2
        denom = sum(np.exp(z[i] @ z[j] / tau) for j in range(n2) if j != i)
        total += -np.log(np.exp(z[i] @ z[p] / tau) / denom)
    return total / n2


def test_check_sdclr_loss_accepts_the_loss_and_rejects_the_usual_mistakes():
    from ltutorial import ssl

    zd, zp = _sdclr_example()
    assert ex.check_sdclr_loss(_nt_xent_by_hand(zd, zp, 0.2), zd, zp, 0.2)
    # the same loss as a torch scalar, and from the package, in either branch order (it is symmetric)
    assert ex.check_sdclr_loss(ssl.nt_xent(torch.tensor(zp), torch.tensor(zd), 0.2), zd, zp, 0.2)
    unit = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)
    wrong = {}
    # unnormalised projections: the same loss without the normalisation
    z = np.concatenate([zd, zp])
    s = z @ z.T / 0.2
    np.fill_diagonal(s, -np.inf)
    pos = s[np.arange(10), (np.arange(10) + 5) % 10]
    wrong["without L2-normalising"] = float(np.mean(np.log(np.exp(s).sum(1)) - pos))
    wrong["temperature 1"] = _nt_xent_by_hand(zd, zp, 1.0)
    # only the other branch's views as negatives (a CLIP-style loss)
    u = np.concatenate([unit(zd), unit(zp)])
    s = u @ u.T / 0.2
    cross = np.concatenate([s[:5, 5:], s[5:, :5]])
    wrong["cross-branch negatives only"] = float(np.mean(np.log(np.exp(cross).sum(1)) - s[np.arange(10), (np.arange(10) + 5) % 10]))
    wrong["mean over the dense anchors only"] = float(ssl.nt_xent_per_anchor(torch.tensor(zd), torch.tensor(zp), 0.2)[:5].mean())
    for name, value in wrong.items():
        with pytest.raises(AssertionError):
            ex.check_sdclr_loss(value, zd, zp, 0.2)
    with pytest.raises(AssertionError, match="the other branch"):
        ex.check_sdclr_loss(wrong["cross-branch negatives only"], zd, zp, 0.2)
    with pytest.raises(AssertionError, match="single number"):
        ex.check_sdclr_loss([1.0, 2.0], zd, zp, 0.2)
    # at tau = 1 the "temperature 1" mistake is the right answer, so it must pass; the anchor in its own
    # denominator is named as that mistake
    assert ex.check_sdclr_loss(_nt_xent_by_hand(zd, zp, 1.0), zd, zp, 1.0)
    s = u @ u.T / 0.2
    with_self = float(np.mean(np.log(np.exp(s).sum(1)) - s[np.arange(10), (np.arange(10) + 5) % 10]))
    with pytest.raises(AssertionError, match="the anchor itself in the denominator"):
        ex.check_sdclr_loss(with_self, zd, zp, 0.2)


def test_check_global_prune_masks_rejects_per_tensor_pruning():
    weights = {"a": torch.tensor([0.1, -0.2, 0.3, 0.05]), "b": torch.tensor([1.0, -2.0, 0.4, -0.01])}
    # pooled |w| sorted: 0.01 0.05 0.1 0.2 | 0.3 0.4 1 2 -> keep 0.3 (a) and 1, 2, 0.4 (b)
    assert ex.check_global_prune_masks({"a": [0, 0, 1, 0], "b": [1, 1, 1, 0]}, weights, ratio=0.5)
    with pytest.raises(AssertionError):
        ex.check_global_prune_masks({"a": [0, 1, 1, 0], "b": [1, 1, 0, 0]}, weights, ratio=0.5)
    # boolean masks (numpy or torch), as torch.abs(w) >= threshold gives them
    right = {"a": np.array([False, False, True, False]), "b": torch.tensor([True, True, True, False])}
    assert ex.check_global_prune_masks(right, weights, ratio=0.5)
    with pytest.raises(AssertionError, match="mask 'b'"):
        ex.check_global_prune_masks({"a": right["a"], "b": torch.tensor([True, True, False, False])}, weights, 0.5)


def test_check_global_prune_masks_with_ties_at_the_threshold():
    # sorted |w|: 0.01 0.05 0.1 0.2 0.2 0.2 1 2: ceil(0.5 * 8) = 4 pruned, so one of the three tied 0.2s goes (any
    # one is right; the package's argsort picks one); keeping all three (a test |w| >= 0.2) prunes only 3
    weights = {"a": torch.tensor([0.1, 0.2, 0.2, 0.05]), "b": torch.tensor([1.0, -2.0, 0.2, -0.01])}
    for right in ({"a": [0, 0, 1, 0], "b": [1, 1, 1, 0]}, {"a": [0, 1, 0, 0], "b": [1, 1, 1, 0]},
                  {"a": [0, 1, 1, 0], "b": [1, 1, 0, 0]}):
        assert ex.check_global_prune_masks(right, weights, ratio=0.5)
    with pytest.raises(AssertionError, match="mask 'a'"):  # 0.1 < 0.2 must go
        ex.check_global_prune_masks({"a": [1, 0, 1, 0], "b": [1, 1, 1, 0]}, weights, ratio=0.5)
    with pytest.raises(AssertionError, match="prune 3 weights, expected ceil"):
        ex.check_global_prune_masks({"a": [0, 1, 1, 0], "b": [1, 1, 1, 0]}, weights, ratio=0.5)
    import torch.nn as nn

    net = nn.Sequential(nn.Conv2d(1, 1, 2, bias=False), nn.Conv2d(1, 1, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(weights["a"].view(1, 1, 2, 2)), net[1].weight.copy_(weights["b"].view(1, 1, 2, 2))
    package = lt.ssl.magnitude_prune_masks(net, 0.5)  # the package's own masks pass
    assert ex.check_global_prune_masks({"a": package["0.weight"].flatten(), "b": package["1.weight"].flatten()},
                                       weights, ratio=0.5)


def test_check_global_prune_masks_prunes_everything_when_p_n_exceeds_n_minus_one():
    # 8 weights, p = 0.99: ceil(7.92) = 8 pruned, as magnitude_prune_masks counts; every mask is all zeros
    weights = {"a": torch.tensor([0.1, -0.2, 0.3, 0.05]), "b": torch.tensor([1.0, -2.0, 0.4, -0.01])}
    assert ex.check_global_prune_masks({"a": [0, 0, 0, 0], "b": [0, 0, 0, 0]}, weights, ratio=0.99)
    with pytest.raises(AssertionError, match="mask 'b'"):
        ex.check_global_prune_masks({"a": [0, 0, 0, 0], "b": [0, 1, 0, 0]}, weights, ratio=0.99)


def test_check_memorization_score_accepts_both_stds_and_the_plain_centred_form():
    ema = torch.tensor([3.1, 2.4, 5.0, 2.9, 3.6])
    # by hand: mean 3.4, deviations -0.3 -1.0 1.6 -0.5 0.2, max |dev| 1.6 -> M = (dev / 1.6 + 1) / 2
    by_hand = (np.array([-0.3, -1.0, 1.6, -0.5, 0.2]) / 1.6 + 1) / 2
    assert ex.check_memorization_score(by_hand, ema)
    for std in (ema.std(unbiased=False), ema.std(unbiased=True)):
        z = (ema - ema.mean()) / std
        assert ex.check_memorization_score(z / (2 * z.abs().max()) + 0.5, ema)
    with pytest.raises(AssertionError):  # min-max scaling is a different map
        ex.check_memorization_score((ema - ema.min()) / (ema.max() - ema.min()), ema)
    with pytest.raises(AssertionError):  # forgot the + 1/2
        ex.check_memorization_score(by_hand - 0.5, ema)


def _bcl_example():
    x = np.linspace(0.0, 0.5, 12).reshape(6, 2)
    m = np.array([0.0, 0.2, 0.5, 0.7, 0.9, 1.0])
    u = np.array([0.5, 0.1, 0.6, 0.3, 0.95, 0.4])
    operation = lambda row, strength: np.clip(row + strength / 30, 0, 1)
    return x, m, u, operation


def test_check_bcl_gating_accepts_the_gate_and_rejects_wrong_gates():
    x, m, u, op = _bcl_example()
    # by hand: u < M for samples 1 (0.1 < 0.2), 3 (0.3 < 0.7) and 5 (0.4 < 1.0) only
    right = x.copy()
    for i in (1, 3, 5):
        right[i] = np.clip(x[i] + m[i] * 30 / 30, 0, 1)
    assert ex.check_bcl_gating(right, x, m, u, 30, op)
    assert ex.check_bcl_gating(torch.tensor(np.where((u < m)[:, None], op(x, (m * 30)[:, None]), x)), x, m, u, 30, op)
    reversed_gate = np.where((u >= m)[:, None], op(x, (m * 30)[:, None]), x)
    always = op(x, (m * 30)[:, None])
    full_strength = np.where((u < m)[:, None], op(x, 30), x)
    for wrong, match in ((reversed_gate, "reversed"), (always, "every sample"), (full_strength, "M \\* zeta")):
        with pytest.raises(AssertionError, match=match):
            ex.check_bcl_gating(wrong, x, m, u, 30, op)
    with pytest.raises(AssertionError, match="shape"):
        ex.check_bcl_gating(right[:3], x, m, u, 30, op)


def test_check_simplex_etf_needs_the_asked_dimension():
    from ltutorial import ssl

    # a regular tetrahedron in R^3, by hand: four vertices of a cube, scaled to unit length
    tetra = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
    assert ex.check_simplex_etf(tetra, dim=3)
    assert ex.check_simplex_etf(ssl.simplex_etf(4, 3, seed=5), dim=3)
    centred = np.sqrt(4 / 3) * (np.eye(4) - 1 / 4)  # an ETF, but in R^4
    assert ex.check_simplex_etf(centred)
    with pytest.raises(AssertionError, match="4 x 3"):
        ex.check_simplex_etf(centred, dim=3)
    with pytest.raises(AssertionError, match="Gram"):
        ex.check_simplex_etf(np.eye(4)[:, :3], dim=3)  # not even 4 distinct unit vectors at equal angles


def test_check_sinkhorn_allocation_compares_the_plan_not_only_its_marginals():
    from ltutorial import ssl

    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.1, 0.9, 0.3], [0.2, 0.7, 0.1], [0.0, 0.3, 0.9], [0.6, 0.5, 0.4]])
    prior = np.array([0.5, 0.3, 0.2])
    q = ssl.sinkhorn(torch.tensor(scores), prior, epsilon=0.5, iterations=300)
    assert ex.check_sinkhorn_allocation(q, scores, prior, 0.5)
    # the learner review's wrong answer: every row equal to the prior meets both marginals
    tiled = np.tile(prior, (6, 1))
    assert np.allclose(tiled.sum(1), 1) and np.allclose(tiled.sum(0), 6 * prior)
    with pytest.raises(AssertionError, match="not the Sinkhorn plan"):
        ex.check_sinkhorn_allocation(tiled, scores, prior, 0.5)
    # one round only: marginals nearly met, plan not converged
    one = np.exp(scores / 0.5)
    one = one * (6 * prior / one.sum(0))
    one = one / one.sum(1, keepdims=True)
    with pytest.raises(AssertionError):
        ex.check_sinkhorn_allocation(one, scores, prior, 0.5)
    with pytest.raises(AssertionError):  # the wrong epsilon gives another plan
        ex.check_sinkhorn_allocation(ssl.sinkhorn(torch.tensor(scores), prior, epsilon=0.05), scores, prior, 0.5)
    with pytest.raises(AssertionError, match="row sums"):
        ex.check_sinkhorn_allocation(np.exp(scores), scores, prior, 0.5)


# --- notebooks 06-09 (issue 11): each check accepts the right answer (and its equivalent forms) and
# rejects the known wrong answers. Right answers come from ltutorial.losses / scipy, not from the checks.

COUNTS_0609 = np.array([1000, 100, 10])


def _rejected(call):
    with pytest.raises(AssertionError, match="Not yet"):
        call()


def test_cb_weights_check_rejects_inverse_frequency_and_unnormalised():
    from ltutorial import losses as L

    assert ex.check_cb_weights(L.class_balanced_weights(COUNTS_0609, 0.99), COUNTS_0609, 0.99)
    inv = 1 / COUNTS_0609
    _rejected(lambda: ex.check_cb_weights(inv / inv.sum() * 3, COUNTS_0609, 0.99))     # plain inverse frequency
    e = (1 - 0.99 ** COUNTS_0609) / (1 - 0.99)
    _rejected(lambda: ex.check_cb_weights(1 / e, COUNTS_0609, 0.99))                     # not normalised to sum C


def test_cb_beta_for_ratio_check():
    from scipy.optimize import brentq

    from ltutorial import data, losses as L

    counts = data.longtail_counts(5000, 10, 100)

    def ratio(b):
        w = L.class_balanced_weights(counts, b).double().numpy()
        return w[-1] / w[0] - 10

    beta = brentq(ratio, 1e-6, 1 - 1e-9, xtol=1e-14)
    assert ex.check_cb_beta_for_ratio(beta, counts, 10)
    _rejected(lambda: ex.check_cb_beta_for_ratio(0.9999, counts, 10))   # the paper's beta: ratio ~ 79
    _rejected(lambda: ex.check_cb_beta_for_ratio(0.99, counts, 10))     # ratio ~ 2
    _rejected(lambda: ex.check_cb_beta_for_ratio(1.0, counts, 10))      # beta must stay in (0, 1)


def test_ldam_margin_check_rejects_square_root_and_unscaled():
    from ltutorial import losses as L

    assert ex.check_ldam_margins(L.ldam_margins([400, 100, 25], 0.5), [400, 100, 25], 0.5)
    n = np.array([400, 100, 25.0])
    _rejected(lambda: ex.check_ldam_margins(n ** -0.5 * 0.5 / (n ** -0.5).max(), n, 0.5))  # n^(-1/2)
    _rejected(lambda: ex.check_ldam_margins(n ** -0.25, n, 0.5))                          # not scaled to max_m


def _ldam_wrong_answers(z, y, margins, s):
    """The known wrong LDAM losses: the hinge (LDAM-HG), s * hinge, margin after scaling, no margin, all margins."""
    rows = np.arange(len(y))
    others = np.where(np.eye(z.shape[1])[y] > 0, -np.inf, z).max(axis=1)
    hinge = np.maximum(others - z[rows, y] + margins[y], 0)

    def ce(a):
        a = a - a.max(axis=1, keepdims=True)
        return float(-(a[rows, y] - np.log(np.exp(a).sum(axis=1))).mean())

    onehot = np.eye(z.shape[1])[y]
    return {"hinge": float(hinge.mean()), "s * hinge": float(s * hinge.mean()),
            "margin after scaling": ce(s * z - margins[y][:, None] * onehot), "no margin": ce(s * z),
            "margin on every class": ce(s * (z - margins))}


def test_ldam_loss_check_accepts_the_package_and_rejects_hinge_and_misplaced_margins():
    from ltutorial import losses as L

    counts = [400, 100, 25]
    z = torch.tensor([[0.8, 0.1, -0.2], [0.1, 0.2, 0.4]])
    y = torch.tensor([0, 2])
    right = float(L.LDAMLoss(counts, max_m=0.5, s=10.0)(z, y))
    assert ex.check_ldam_loss(right, z, y, counts, 0.5, 10.0)
    margins = L.ldam_margins(counts, 0.5).double().numpy()
    for name, wrong in _ldam_wrong_answers(z.double().numpy(), y.numpy(), margins, 10.0).items():
        assert not np.isclose(wrong, right, rtol=1e-3), name
        _rejected(lambda wrong=wrong: ex.check_ldam_loss(wrong, z, y, counts, 0.5, 10.0))


def test_drw_weights_check_rejects_off_by_one_inverse_frequency_and_never_switching():
    from ltutorial import losses as L

    counts, t0, epochs = [400, 100, 25], 8, 10
    cb = L.class_balanced_weights(counts, 0.9999).double().numpy()
    ones = np.ones(3)
    assert ex.check_drw_weights(lambda e: ones if e < t0 else cb, counts, 0.9999, t0, epochs)
    inv = 1 / np.array(counts, float)
    wrong = {
        "switch one epoch late": lambda e: ones if e <= t0 else cb,
        "inverse frequency": lambda e: ones if e < t0 else inv / inv.sum() * 3,
        "never switching": lambda e: ones,
        "re-weighting from the start": lambda e: cb,
    }
    for name, fn in wrong.items():
        _rejected(lambda fn=fn: ex.check_drw_weights(fn, counts, 0.9999, t0, epochs))
    _rejected(lambda: ex.check_drw_weights(cb, counts, 0.9999, t0, epochs))  # an array, not a function of the epoch


def test_logit_adjusted_loss_check_accepts_n_max_form_and_rejects_sign_and_tau():
    from ltutorial import losses as L

    z = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3], [-0.5, 0.2, 1.5]])
    y = torch.tensor([0, 1, 2])
    counts = np.array([500, 50, 5])
    assert ex.check_logit_adjusted_loss(float(L.LogitAdjustedLoss(counts, 0.5)(z, y)), z, y, counts, 0.5)
    zn = z.double().numpy()

    def la(shift):
        a = zn + shift
        return float(-(a[np.arange(3), y.numpy()] - np.log(np.exp(a).sum(axis=1))).mean())

    assert ex.check_logit_adjusted_loss(la(0.5 * np.log(counts / counts.max())), z, y, counts, 0.5)  # same loss
    _rejected(lambda: ex.check_logit_adjusted_loss(la(-0.5 * np.log(counts / counts.sum())), z, y, counts, 0.5))
    _rejected(lambda: ex.check_logit_adjusted_loss(la(np.log(counts / counts.sum())), z, y, counts, 0.5))  # tau = 1


def test_balanced_bayes_check_rejects_the_ordinary_bayes_rule():
    post = np.array([[0.7, 0.2, 0.1], [0.5, 0.1, 0.4], [0.3, 0.6, 0.1]])
    priors = np.array([0.8, 0.15, 0.05])
    assert ex.check_balanced_bayes_prediction([2, 2, 1], post, priors)  # 0.1/0.05, 0.4/0.05, 0.6/0.15 win
    _rejected(lambda: ex.check_balanced_bayes_prediction(post.argmax(1), post, priors))
    _rejected(lambda: ex.check_balanced_bayes_prediction((post * priors).argmax(1), post, priors))


def test_vs_logits_check_accepts_n_max_form_and_rejects_known_mistakes():
    from ltutorial import losses as L

    z = np.array([[1.0, 0.5, -0.5], [0.2, 2.0, 1.0]])
    vs = L.VSLoss(COUNTS_0609, 0.2, 1.2)
    right = (torch.tensor(z) * vs.scale.double() + vs.shift.double()).numpy()
    assert ex.check_vs_logits(right, z, COUNTS_0609, 0.2, 1.2)
    beta = (COUNTS_0609 / COUNTS_0609.max()) ** 0.2
    assert ex.check_vs_logits(z * beta + 1.2 * np.log(COUNTS_0609 / COUNTS_0609.max()), z, COUNTS_0609, 0.2, 1.2)
    prior = np.log(COUNTS_0609 / COUNTS_0609.sum())
    _rejected(lambda: ex.check_vs_logits(z + 1.2 * prior, z, COUNTS_0609, 0.2, 1.2))          # no multiplicative part
    _rejected(lambda: ex.check_vs_logits(z / beta + 1.2 * prior, z, COUNTS_0609, 0.2, 1.2))   # (n_max / n)^gamma
    _rejected(lambda: ex.check_vs_logits(z * beta - 1.2 * prior, z, COUNTS_0609, 0.2, 1.2))   # wrong sign
    _rejected(lambda: ex.check_vs_logits((z + 1.2 * prior) * beta, z, COUNTS_0609, 0.2, 1.2))  # shift before scaling
    # one row (1-D) in the n_max form: a constant shift, accepted as for 2-D input
    assert ex.check_vs_logits(z[0] * beta + 1.2 * np.log(COUNTS_0609 / COUNTS_0609.max()), z[0], COUNTS_0609, 0.2, 1.2)


def test_adrw_weights_check_rejects_positive_exponent_and_cb_weights():
    from ltutorial import losses as L

    assert ex.check_adrw_weights(L.adrw_weights(COUNTS_0609, 0.25), COUNTS_0609, 0.25)
    pi = COUNTS_0609 / COUNTS_0609.sum()
    _rejected(lambda: ex.check_adrw_weights(pi ** 0.25 / (pi ** 0.25).sum() * 3, COUNTS_0609, 0.25))
    _rejected(lambda: ex.check_adrw_weights(L.class_balanced_weights(COUNTS_0609, 0.99), COUNTS_0609, 0.25))
    _rejected(lambda: ex.check_adrw_weights(pi ** -0.25, COUNTS_0609, 0.25))  # not normalised to sum C


def test_balanced_bayes_check_on_notebook_08_exercise():
    # notebook 08, exercise 1: posterior / prior by hand: rows -> [1.17, .67, 1.0], [.83, 1.0, 2.0], [.67, 1.4, 1.8],
    # [1.33, .5, .5], so the balanced rule is [0, 2, 2, 0] while the ordinary rule is [0, 0, 1, 0]
    post = np.array([[0.70, 0.20, 0.10], [0.50, 0.30, 0.20], [0.40, 0.42, 0.18], [0.80, 0.15, 0.05]])
    priors = np.array([0.6, 0.3, 0.1])
    assert ex.check_balanced_bayes_prediction([0, 2, 2, 0], post, priors)
    _rejected(lambda: ex.check_balanced_bayes_prediction([0, 0, 1, 0], post, priors))


def test_prune_mask_check_claims_only_what_the_masks_show(capsys):
    equal = {"a": np.array([1.0, 2, 3, 4]), "b": np.array([1.0, 2, 3, 4])}
    assert ex.check_global_prune_masks({k: np.array([0, 0, 1, 1]) for k in equal}, equal, 0.5)
    assert "larger weights keeps more" not in capsys.readouterr().out  # equal tensors keep equal shares
    unequal = {"a": np.array([1.0, 2, 3, 4]), "b": np.array([5.0, 6, 7, 8])}
    assert ex.check_global_prune_masks({"a": np.zeros(4), "b": np.ones(4)}, unequal, 0.5)
    assert "the tensor with larger weights keeps more" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\); got 1.0 instead"):
        ex.check_global_prune_masks({"a": np.zeros(4), "b": np.zeros(4)}, unequal, 1.0)


def test_plugin_check_wants_the_training_base_rate():
    # notebook 05's exercise: p_hat from the training labels; the test labels' rate or the true p must not pass
    from sklearn.linear_model import LogisticRegression

    _, _, problem = lt.data.synthetic.make_imbalanced_gaussians(100, 0.05, 2.0, random_state=0, return_problem=True)
    (X_tr, y_tr), (X_te, y_te) = problem.sample(1000, random_state=1), problem.sample(20_000, random_state=2)
    est = LogisticRegression().fit(X_tr, y_tr)
    eta = est.predict_proba(X_te)[:, 1]
    assert ex.check_plugin_predictions((eta > y_tr.mean()).astype(int), est, X_te, y_tr)
    for wrong in (y_te.mean(), 0.05):
        assert wrong != y_tr.mean()
        with pytest.raises(AssertionError, match="predictions differ from eta_hat"):
            ex.check_plugin_predictions((eta > wrong).astype(int), est, X_te, y_tr)
