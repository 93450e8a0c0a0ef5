"""Threshold-moving (Zhou & Liu 2006) and post-hoc logit adjustment: hand values and their equivalence."""

import numpy as np
import pytest
import torch

from ltutorial.posthoc import cost_matrix_for_logit_adjustment, logit_adjust, softmax, threshold_moving


def test_threshold_moving_hand_example():
    # row sums of the cost matrix (true class in rows): class 0 -> 1, class 1 -> 3
    probs = np.array([[0.6, 0.4], [0.9, 0.1]])
    cost = np.array([[0.0, 1.0], [3.0, 0.0]])
    out = threshold_moving(probs, cost)
    np.testing.assert_allclose(out, [[0.6 / 1.8, 1.2 / 1.8], [0.9 / 1.2, 0.3 / 1.2]])
    assert out.argmax(1).tolist() == [1, 0]
    # a length-K vector of class costs is the same as the matrix with those row sums
    np.testing.assert_allclose(threshold_moving(probs, np.array([1.0, 3.0])), out)


def test_binary_threshold_moves_to_c2_over_c1_plus_c2():
    c1, c2 = 1.0, 4.0  # misclassifying class 1 (index 1) costs 4: predict it once p1 > c1 / (c1 + c2)
    p1 = np.linspace(0.01, 0.99, 99)
    probs = np.stack([1 - p1, p1], 1)
    pred = threshold_moving(probs, np.array([[0, c1], [c2, 0]])).argmax(1)
    np.testing.assert_array_equal(pred, (p1 > c1 / (c1 + c2)).astype(int))


def test_cost_matrix_for_logit_adjustment_rows():
    pri = np.array([0.7, 0.2, 0.1])
    for tau in (0.5, 1.0, 2.0):
        C = cost_matrix_for_logit_adjustment(pri, tau)
        np.testing.assert_allclose(C.sum(1), np.exp(-tau * np.log(pri)))
        np.testing.assert_allclose(np.diag(C), 0)
        off = C[~np.eye(3, dtype=bool)].reshape(3, 2)
        np.testing.assert_allclose(off[:, 0], off[:, 1])


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("as_torch", [False, True])
def test_threshold_moving_equals_logit_adjustment(tau, as_torch):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 6)) * 3
    counts = np.array([500, 200, 80, 30, 12, 5])
    if as_torch:
        logits = torch.tensor(logits)
    moved = threshold_moving(softmax(logits), cost_matrix_for_logit_adjustment(counts / counts.sum(), tau))
    adjusted = logit_adjust(logits, counts, tau)
    assert type(moved) is type(logits) and type(adjusted) is type(logits)
    if as_torch:
        moved, adjusted = moved.numpy(), adjusted.numpy()
    # identical predictions and identical renormalised probabilities
    np.testing.assert_array_equal(moved.argmax(1), adjusted.argmax(1))
    np.testing.assert_allclose(moved, softmax(adjusted), rtol=1e-9, atol=1e-12)
    if tau > 0:  # the adjustment does move some decisions toward the rare classes
        plain = np.asarray(logits).argmax(1)
        assert (adjusted.argmax(1) != plain).any()
        assert adjusted.argmax(1).mean() > plain.mean()


def test_logit_adjust_formula_and_priors_normalised():
    z = np.array([[1.0, 2.0, 0.5]])
    pri = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(logit_adjust(z, pri, 2.0), z - 2.0 * np.log(pri))
    np.testing.assert_allclose(logit_adjust(z, pri * 10, 2.0), z - 2.0 * np.log(pri))


def test_logit_adjust_of_float16_logits_with_a_large_count_total():
    # 118,000 images: the total overflowed float16 (max 65504), every prior became 0 and every logit +inf
    counts = np.r_[np.full(100, 1000.0), np.full(900, 20.0)]
    z = torch.randn(4, 1000, generator=torch.Generator().manual_seed(0))
    got = logit_adjust(z.half(), counts)
    assert got.dtype == torch.float16 and bool(torch.isfinite(got).all())
    expected = z.double() - torch.log(torch.as_tensor(counts / counts.sum()))
    torch.testing.assert_close(got.double(), expected, atol=1e-2, rtol=1e-3)


def test_long_tailed_digits_threshold_moving_matches_logit_adjustment_and_helps():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    want = np.round(85 * 20.0 ** (-np.arange(10) / 9)).astype(int)
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.choice(np.flatnonzero(ytr == c), want[c], replace=False) for c in range(10)])
    Xtr, ytr = Xtr[keep], ytr[keep]
    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(max_iter=3000).fit(sc.transform(Xtr), ytr)
    logits = clf.decision_function(sc.transform(Xte))
    prior = np.bincount(ytr) / len(ytr)
    plain = balanced_accuracy_score(yte, logits.argmax(1))
    la = logit_adjust(logits, prior).argmax(1)
    tm = threshold_moving(clf.predict_proba(sc.transform(Xte)), cost_matrix_for_logit_adjustment(prior)).argmax(1)
    np.testing.assert_array_equal(la, tm)
    assert balanced_accuracy_score(yte, la) > plain + 0.01


@pytest.mark.parametrize("call,match", [
    (lambda: threshold_moving(np.ones(3), np.ones((3, 3))), "probs must be 2-D"),
    (lambda: threshold_moving(-np.ones((2, 3)), np.ones((3, 3))), "non-negative"),
    (lambda: threshold_moving(np.ones((2, 3)), np.ones((2, 2))), r"shape \(3, 3\) or \(3,\)"),
    (lambda: threshold_moving(np.ones((2, 3)), -np.ones((3, 3))), "non-negative"),
    (lambda: threshold_moving(np.ones((2, 2)), np.array([[0, 1], [0, 0]])), "row sum > 0"),
    (lambda: threshold_moving(np.array([[0.5, 0.5], [0.0, 0.0]]), np.ones(2)),
     r"^probs must have a positive sum in every row; got a row of zeros instead\.$"),
    (lambda: threshold_moving(np.array([[1.5, -0.5]]), np.ones(2)),
     r"^probs must be non-negative probabilities; got negative values instead\.$"),
    (lambda: threshold_moving(np.array([[np.nan, 1.0]]), np.ones((2, 2))), "finite"),
    (lambda: threshold_moving("p", np.ones((2, 2))), "numpy array or a torch tensor"),
    (lambda: logit_adjust(np.ones((2, 3)), [0.5, 0.5]), "one entry per class"),
    (lambda: logit_adjust(np.ones((2, 2)), [0.5, 0.0]), "> 0"),
    (lambda: logit_adjust(np.ones((2, 2)), [0.5, 0.5], tau="1"), "tau"),
    (lambda: logit_adjust(np.ones(2), [0.5, 0.5]), "logits must be 2-D"),
    (lambda: cost_matrix_for_logit_adjustment([1.0]), "at least 2"),
    (lambda: cost_matrix_for_logit_adjustment([0.5, 0.5], tau=float("nan")),
     r"^tau must be a finite number; got nan instead\.$"),
    (lambda: logit_adjust(np.ones((2, 2)), [0.5, 0.5], tau=float("inf")),
     r"^tau must be a finite number; got inf instead\.$"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_output_types_follow_input():
    p32 = np.full((2, 3), 1 / 3, dtype=np.float32)
    assert threshold_moving(p32, np.ones(3)).dtype == np.float32
    assert logit_adjust(np.zeros((2, 3), dtype=np.float32), [1, 2, 3]).dtype == np.float32
    assert logit_adjust(np.zeros((2, 3), dtype=np.int64), [1, 2, 3]).dtype == np.float64
    t = threshold_moving(torch.full((2, 3), 1 / 3), torch.ones(3))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert softmax(np.zeros((2, 3), dtype=np.float32)).dtype == np.float32
    np.testing.assert_allclose(softmax(np.log(np.array([[1.0, 3.0]]))), [[0.25, 0.75]])
    C = cost_matrix_for_logit_adjustment(torch.tensor([0.5, 0.5]))
    assert isinstance(C, torch.Tensor)


# ------------------------------------------------------------------ tau_sweep (notebooks 03 and 08)
def _sweep_problem(seed=0, n=300, k=5):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    # logits favour the head classes (low index) on top of a weak signal for the true class
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[labels] + np.linspace(2.0, 0.0, k)
    counts = np.array([400, 200, 100, 50, 25], dtype=float)[:k]
    return logits, labels, counts / counts.sum()


def test_tau_sweep_matches_a_direct_sklearn_loop():
    from sklearn.metrics import balanced_accuracy_score, recall_score

    from ltutorial.posthoc import tau_sweep

    logits, labels, prior = _sweep_problem()
    taus = np.linspace(0, 3, 7)
    out = tau_sweep(logits, labels, prior, taus)
    # independent: the adjustment by hand in numpy, scored by scikit-learn
    expected = [balanced_accuracy_score(labels, np.argmax(logits - t * np.log(prior), axis=1)) for t in taus]
    recalls = [recall_score(labels, np.argmax(logits - t * np.log(prior), axis=1), average=None, labels=range(5),
                            zero_division=0) for t in taus]
    np.testing.assert_allclose(out.balanced_accuracy, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.per_class_accuracy, recalls, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out.taus, taus)
    assert out.best_index == int(np.argmax(expected)) and out.best_tau == taus[int(np.argmax(expected))]
    assert out.balanced_accuracy[out.best_index] == max(expected)
    # the head-biased logits gain from adjustment, so the sweep's best tau is not 0
    assert out.best_tau > 0 and max(expected) > expected[0]
    as_dict = out.as_dict()
    assert list(as_dict) == taus.tolist()
    np.testing.assert_allclose(list(as_dict.values()), expected, rtol=0, atol=1e-12)


def test_tau_sweep_torch_input_and_first_maximum():
    from ltutorial.posthoc import tau_sweep

    logits, labels, prior = _sweep_problem(seed=1)
    a = tau_sweep(torch.tensor(logits, dtype=torch.float64), torch.tensor(labels), torch.tensor(prior), [0.0, 1.0])
    b = tau_sweep(logits, labels, prior, [0.0, 1.0])
    np.testing.assert_array_equal(a.balanced_accuracy, b.balanced_accuracy)
    # equal priors: every tau gives the same predictions, so the first tau is the (first) best
    flat = tau_sweep(logits, labels, np.full(5, 0.2), [0.5, 1.0, 2.0])
    assert flat.best_index == 0 and len(set(flat.balanced_accuracy.tolist())) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"logits": np.zeros(5)}, "^logits must be 2-D"),
        ({"labels": np.zeros(3, dtype=int)}, "^labels must be 1-D"),
        ({"labels": np.full(300, 7)}, "^labels must be < num_classes=5"),
        ({"labels": np.full(300, 0.5)}, "^labels must hold integer class indices"),
        ({"taus": []}, "^taus must be a non-empty"),
        ({"taus": [0.0, np.nan]}, "^taus must be a non-empty"),
        ({"taus": "1"}, "^taus must be"),
        ({"class_priors": np.ones(3)}, "^class_priors must be 1-D"),
    ],
)
def test_tau_sweep_rejects_bad_input(kwargs, match):
    from ltutorial.posthoc import tau_sweep

    logits, labels, prior = _sweep_problem()
    args = {"logits": logits, "labels": labels, "class_priors": prior, "taus": [0.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=match):
        tau_sweep(**args)


def test_threshold_moving_of_float16_probabilities_with_large_costs():
    # float16 row sums over 65504 became inf and the rows 0 * inf = NaN; float64 inside, the result cast back
    counts = np.array([1280.0, 200, 20, 5])
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    cost = cost_matrix_for_logit_adjustment(counts, tau=2)
    got = threshold_moving(softmax(z).half(), cost)
    assert got.dtype == torch.float16 and bool(torch.isfinite(got).all())
    torch.testing.assert_close(got.float(), threshold_moving(softmax(z), cost).float(), atol=2e-3, rtol=1e-2)
    # float16 priors: pi^-2 = 1e6 cannot be a float16 (inf), but the diagonal stays 0 (it was inf * 0 = NaN)
    half = cost_matrix_for_logit_adjustment(torch.tensor([1.0, 1000.0]).half(), tau=2)
    assert not bool(torch.isnan(half).any()) and half[0, 0] == 0 and half[1, 1] == 0
