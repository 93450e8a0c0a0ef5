"""Fisher consistency on a discrete problem (Menon et al., ICLR 2021, Theorem 1): closed forms and Bayes rules."""

import numpy as np
import pytest
import torch

from ltutorial.fisher_consistency import (
    PLAIN_CE,
    balanced_error,
    fisher_consistency,
    minimise_pairwise_risk,
    pairwise_risk,
)


def test_two_class_minimiser_matches_closed_form():
    # K = 2 and a single x: the risk is a1 q1 log(1 + e^{D - m}) + a2 q2 log(1 + e^{m - D}) with
    # m = f_1 - f_2, D = log(d2/d1); setting the derivative to 0 gives m* = D + log(a1 q1 / (a2 q2)).
    q = np.array([[0.3], [0.7]])  # P(y, x) for the one x
    alpha = np.array([2.0, 0.5])
    log_delta = np.log(np.array([1.0, 3.0]))
    f = minimise_pairwise_risk(q, alpha, log_delta)
    margin = float(f[0, 0] - f[0, 1])
    expected = np.log(3.0) + np.log(2.0 * 0.3 / (0.5 * 0.7))
    assert abs(margin - expected) < 1e-6, (margin, expected)


def test_pairwise_risk_is_cross_entropy_for_alpha_one_and_no_margin():
    torch.manual_seed(0)
    f = torch.randn(4, 3, dtype=torch.float64)
    joint = torch.rand(3, 4, dtype=torch.float64)
    joint /= joint.sum()
    risk = pairwise_risk(f, joint, torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    ce = -(joint.T * torch.log_softmax(f, dim=1)).sum()
    assert torch.allclose(risk, ce, atol=1e-12)


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    return np.array([0.80, 0.15, 0.05]), rng.dirichlet(np.full(6, 0.7), size=3)


def test_fisher_consistency_recovers_the_balanced_bayes_rule():
    priors, cond = _toy()
    check = fisher_consistency(priors, cond, {"pi": priors, "one": np.ones(3), "other": [0.5, 1.7, 0.9]})
    # independent balanced Bayes rule: argmax_y P(y|x)/P(y) = argmax_y P(x|y)
    np.testing.assert_array_equal(check.balanced_bayes, cond.argmax(0))
    # brute force over all 3^6 classifiers: the Bayes rule has the smallest balanced error
    all_h = np.array(np.meshgrid(*[range(3)] * 6, indexing="ij")).reshape(6, -1).T
    best = min(balanced_error(cond, h) for h in all_h)
    assert abs(check.bayes_balanced_error - best) < 1e-12
    for name in ("pi", "one", "other"):
        np.testing.assert_array_equal(check.predictions[name], check.balanced_bayes, err_msg=name)
        assert abs(check.balanced_errors[name] - best) < 1e-12
    # plain CE's minimiser is the ordinary Bayes rule argmax_y P(y, x), not the balanced one
    joint = priors[:, None] * cond
    np.testing.assert_array_equal(check.predictions[PLAIN_CE], joint.argmax(0))
    assert not np.array_equal(check.predictions[PLAIN_CE], check.balanced_bayes)
    assert check.balanced_errors[PLAIN_CE] > best + 1e-9 and list(check.predictions)[-1] == PLAIN_CE
    assert check.minimisers["pi"].shape == (6, 3)


def test_balanced_error_hand_value():
    cond = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    # class 0 correct on x in {0}: 0.5; class 1 correct on x in {1, 2}: 0.9
    assert abs(balanced_error(cond, np.array([0, 1, 1])) - (1 - (0.5 + 0.9) / 2)) < 1e-12


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([0.5, 0.6], np.full((2, 3), 1 / 3), {}), {}, "^priors must hold"),
        (([0.5, 0.5], np.full((3, 3), 1 / 3), {}), {}, "^p_x_given_y must have one row per class"),
        (([0.5, 0.5], np.full((2, 3), 0.5), {}), {}, "^p_x_given_y must hold non-negative rows"),
        (([0.5, 0.5], np.full((2, 3), 1 / 3), [1, 1]), {}, "^deltas must be a dict"),
        (([0.5, 0.5], np.full((2, 3), 1 / 3), {"d": [1.0, -1.0]}), {}, r"^deltas\['d'\] must hold 2 positive"),
        (([0.5, 0.5], np.full((2, 3), 1 / 3), {PLAIN_CE: [1.0, 1.0]}), {}, "without the name"),
    ],
)
def test_fisher_consistency_rejects_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fisher_consistency(*args, **kwargs)



def test_balanced_error_checks_h():
    # an out-of-range label was accepted (0.75), a wrong length raised a bare IndexError
    from ltutorial.fisher_consistency import balanced_error

    cond = [[0.5, 0.5], [0.5, 0.5]]
    assert balanced_error(cond, [0, 1]) == pytest.approx(0.5)
    for bad in ([0, 7], [0, 1, 1], [0.0, 1.0]):
        with pytest.raises(ValueError, match=r"^h must hold one label in \[0, 2\) per x \(2\)"):
            balanced_error(cond, bad)
