"""ltutorial.exercises: the generic checks pass on right answers and fail with a hint on wrong ones."""

import numpy as np
import pytest
import torch

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


def test_check_true_and_in_range(capsys):
    assert ex.check_true(3 > 2, "tail accuracy is below head accuracy")
    assert "Correct: tail accuracy is below head accuracy" in capsys.readouterr().out
    assert ex.check_true(torch.tensor([True, True]), "all")
    with pytest.raises(AssertionError, match=r"(?s)claim does not hold.*Hint: look again"):
        ex.check_true(False, "claim", hint="look again")
    with pytest.raises(AssertionError):
        ex.check_true(torch.tensor([True, False]), "all")
    assert ex.check_true(np.array([1, 2]) < 3, "numpy comparison")
    with pytest.raises(AssertionError, match="numpy comparison does not hold"):
        ex.check_true(np.array([1, 4]) < 3, "numpy comparison")
    assert ex.check_in_range(0.5, 0.4, 0.6, "acc")
    with pytest.raises(AssertionError, match=r"acc = 0.7 is outside \[0.4, 0.6\]"):
        ex.check_in_range(0.7, 0.4, 0.6, "acc")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ex.check_close(1.0, 1.0, "x", rtol=-1), "rtol must be a finite number >= 0"),
        (lambda: ex.check_array_close([1.0], [1.0], "x", atol=float("inf")), "atol must be a finite number >= 0"),
        (lambda: ex.check_in_range(0.5, 0.6, 0.4, "x"), "low must be <= high"),
        (lambda: ex.check_in_range(0.5, None, 0.4, "x"), "low must be a number; got None"),
        (lambda: ex.check_in_range(0.5, 0.1, float("nan"), "x"), "high must be a number; got nan"),
    ],
)
def test_misuse_by_the_notebook_author_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_marker_for_notebook_specific_checks_is_present():
    import inspect

    assert "# --- notebook-specific checks below ---" in inspect.getsource(ex)


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
