"""ltutorial.losses: each loss against its formula computed independently with numpy/math."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ltutorial import losses as L
from ltutorial.methods import METHODS

CIFAR10_LT = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
COUNTS = [40, 10, 1]
LOGITS = np.array([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2], [-1.5, 2.5, 1.0], [0.0, 0.0, 3.0]])
TARGETS = np.array([0, 1, 2, 2])


def _z(dtype=torch.float32):
    return torch.tensor(LOGITS, dtype=dtype)


def _y():
    return torch.tensor(TARGETS)


def np_log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def np_ce(z, y):
    return -np_log_softmax(z)[np.arange(len(y)), y]


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_cb_weights(counts, beta):
    n = np.asarray(counts, dtype=np.float64)
    w = (1 - beta) / (1 - beta**n)
    return w / w.sum() * len(n)


def np_log_prior(counts):
    n = np.asarray(counts, dtype=np.float64)
    return np.log(n / n.sum())


def tla_adrw(counts, **kw):
    """A VS loss (DDC's gamma 0.05, tau 1) that the TLA-ADRW hook has switched to phase 1 (t0 = 0)."""
    loss = L.VSLoss(counts, gamma=0.05, tau=1.0)
    L.TLAADRW(loss, counts, t0=0, **kw)(SimpleNamespace(epoch=0))
    return loss


def all_losses(counts):
    return {
        "ce": L.CrossEntropyLoss(counts),
        "focal": L.FocalLoss(2.0),
        "focal-sigmoid": L.FocalLoss(1.0, form="sigmoid"),
        "cb-softmax": L.ClassBalancedLoss(counts, 0.99, "softmax"),
        "cb-sigmoid": L.ClassBalancedLoss(counts, 0.99, "sigmoid"),
        "cb-focal": L.ClassBalancedLoss(counts, 0.99, "focal", gamma=0.5),
        "ldam": L.LDAMLoss(counts),
        "la": L.LogitAdjustedLoss(counts, tau=1.5),
        "vs": L.VSLoss(counts, gamma=0.3, tau=1.2),
        "tla-adrw": tla_adrw(counts),
    }


# ---------------------------------------------------------------- formulas

def test_cross_entropy_matches_formula():
    assert L.CrossEntropyLoss()(_z(), _y()).item() == pytest.approx(np_ce(LOGITS, TARGETS).mean(), rel=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_softmax_focal_matches_formula(gamma):
    p = np.exp(np_log_softmax(LOGITS))[np.arange(4), TARGETS]
    expected = np.mean((1 - p) ** gamma * -np.log(p))
    assert L.FocalLoss(gamma)(_z(), _y()).item() == pytest.approx(expected, rel=1e-5)


def test_focal_gamma_zero_is_cross_entropy():
    z = torch.randn(16, 7, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 7, (16,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(L.FocalLoss(0.0)(z, y), torch.nn.functional.cross_entropy(z, y))


def np_sigmoid_focal_rows(z, y, gamma):
    t = np.eye(z.shape[1])[y]
    p = np_sigmoid(z)
    pt = np.where(t == 1, p, 1 - p)
    return ((1 - pt) ** gamma * -np.log(pt)).sum(axis=1)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_sigmoid_focal_matches_formula(gamma):
    expected = np_sigmoid_focal_rows(LOGITS, TARGETS, gamma).mean()
    assert L.FocalLoss(gamma, form="sigmoid")(_z(), _y()).item() == pytest.approx(expected, rel=1e-5)


def test_effective_number_formula_and_limits():
    n = np.array([1, 10, 1000])
    for beta in (0.9, 0.999):
        np.testing.assert_allclose(L.effective_number(n, beta).numpy(), (1 - beta**n) / (1 - beta), rtol=1e-10)
    np.testing.assert_allclose(L.effective_number(n, 0.0).numpy(), 1.0)
    # E_n -> n as beta -> 1
    np.testing.assert_allclose(L.effective_number(n, 1 - 1e-9).numpy(), n, rtol=1e-5)


def test_class_balanced_weights_cifar10_lt_sheet_values():
    w = L.class_balanced_weights(CIFAR10_LT, beta=0.9999)
    assert w[0].item() == pytest.approx(0.0506, abs=5e-5)
    assert w[-1].item() == pytest.approx(3.9927, abs=5e-4)
    assert w.sum().item() == pytest.approx(10.0, rel=1e-6)
    np.testing.assert_allclose(w.numpy(), np_cb_weights(CIFAR10_LT, 0.9999), rtol=1e-6)
    # mean weight over training samples (sheet: 0.171)
    n = np.array(CIFAR10_LT)
    assert (w.numpy() * n).sum() / n.sum() == pytest.approx(0.171, abs=1e-3)


def test_class_balanced_weights_beta_zero_uniform():
    np.testing.assert_allclose(L.class_balanced_weights(CIFAR10_LT, 0.0).numpy(), 1.0)


def test_cb_softmax_matches_formula():
    wy = np_cb_weights(COUNTS, 0.99)[TARGETS]
    expected = np.sum(wy * np_ce(LOGITS, TARGETS)) / len(TARGETS)
    loss = L.ClassBalancedLoss(COUNTS, 0.99, "softmax")
    assert loss(_z(), _y()).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("loss_type,gamma", [("sigmoid", 0.0), ("focal", 0.5), ("focal", 2.0)])
def test_cb_sigmoid_and_focal_match_formula(loss_type, gamma):
    wy = np_cb_weights(COUNTS, 0.99)[TARGETS]
    expected = np.sum(wy * np_sigmoid_focal_rows(LOGITS, TARGETS, gamma)) / len(TARGETS)
    loss = L.ClassBalancedLoss(COUNTS, 0.99, loss_type, gamma=gamma)
    assert loss(_z(), _y()).item() == pytest.approx(expected, rel=1e-5)


def test_ldam_margins_and_loss_match_formula():
    m = L.ldam_margins(CIFAR10_LT, max_m=0.5).numpy()
    assert m[-1] == pytest.approx(0.5) and m[0] == pytest.approx(0.5 / 100**0.25, rel=1e-5)
    np.testing.assert_allclose(m, 0.5 * (50 / np.array(CIFAR10_LT)) ** 0.25, rtol=1e-5)

    delta = 0.5 * (min(COUNTS) / np.array(COUNTS, dtype=float)) ** 0.25
    zc = np.clip(LOGITS / 3.0, -1, 1)  # cosine-like logits
    shifted = zc.copy()
    shifted[np.arange(4), TARGETS] -= delta[TARGETS]
    expected = np_ce(30.0 * shifted, TARGETS).mean()
    got = L.LDAMLoss(COUNTS, max_m=0.5, s=30.0)(torch.tensor(zc, dtype=torch.float32), _y()).item()
    assert got == pytest.approx(expected, rel=1e-5)

    w = np.array([0.2, 1.0, 2.5])
    expected_w = np.sum(w[TARGETS] * np_ce(30.0 * shifted, TARGETS)) / w[TARGETS].sum()
    got_w = L.LDAMLoss(COUNTS, weight=w)(torch.tensor(zc, dtype=torch.float32), _y()).item()
    assert got_w == pytest.approx(expected_w, rel=1e-5)


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_logit_adjusted_matches_formula_and_pairwise_form(tau):
    lp = np_log_prior(COUNTS)
    expected = np_ce(LOGITS + tau * lp, TARGETS).mean()
    got = L.LogitAdjustedLoss(COUNTS, tau=tau)(_z(), _y()).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # slide form: log[1 + sum_{y' != y} (pi_y'/pi_y)^tau exp(f_y' - f_y)]
    pi = np.exp(lp)
    pair = [np.log1p(sum((pi[j] / pi[y]) ** tau * np.exp(LOGITS[i, j] - LOGITS[i, y]) for j in range(3) if j != y))
            for i, y in enumerate(TARGETS)]
    assert got == pytest.approx(np.mean(pair), rel=1e-5)


def test_vs_matches_formula_and_special_cases():
    n = np.array(COUNTS, dtype=float)
    gamma, tau = 0.3, 1.2
    zp = LOGITS * (n / n.max()) ** gamma + tau * np_log_prior(COUNTS)
    got = L.VSLoss(COUNTS, gamma=gamma, tau=tau)(_z(), _y()).item()
    assert got == pytest.approx(np_ce(zp, TARGETS).mean(), rel=1e-5)
    w = np.array([1.0, 2.0, 4.0])
    expected_w = np.sum(w[TARGETS] * np_ce(zp, TARGETS)) / w[TARGETS].sum()
    assert L.VSLoss(COUNTS, gamma, tau, weight=w)(_z(), _y()).item() == pytest.approx(expected_w, rel=1e-5)
    # gamma 0 -> LA; the sheet's sanity value: tail factor 0.01^0.2 = 0.398
    torch.testing.assert_close(L.VSLoss(COUNTS, 0.0, 0.7)(_z(), _y()), L.LogitAdjustedLoss(COUNTS, 0.7)(_z(), _y()))
    assert L.vs_scales(CIFAR10_LT, 0.2)[-1].item() == pytest.approx(0.398, abs=1e-3)


def test_adrw_weights_formula():
    pi = np.array(COUNTS, float) / sum(COUNTS)
    for nu in (0.0, 0.15, 1.0):
        w = pi**-nu
        np.testing.assert_allclose(L.adrw_weights(COUNTS, nu).numpy(), w / w.sum() * 3, rtol=1e-6)
    # nu = 200: pi^-nu overflowed to inf before normalising (NaN weights); the weight sits on the rarest class
    w = L.adrw_weights([5000, 500, 50], 200.0)
    assert torch.isfinite(w).all() and float(w.sum()) == pytest.approx(3) and float(w[2]) == pytest.approx(3)


# ---------------------------------------------------------------- hooks

def test_drw_switches_at_start_epoch_in_place():
    loss = L.LDAMLoss(CIFAR10_LT)
    buf = loss.weight
    hook = L.DeferredReweighting(loss, CIFAR10_LT, start_epoch=3, beta=0.9999)
    cb = np_cb_weights(CIFAR10_LT, 0.9999)
    for epoch in range(6):
        hook(SimpleNamespace(epoch=epoch, loss_fn=loss))
        assert loss.weight is buf  # same tensor: a captured graph keeps seeing it
        expected = cb if epoch >= 3 else np.ones(10)
        np.testing.assert_allclose(loss.weight.numpy(), expected, rtol=1e-6)
    # the weighted loss changes accordingly
    z = torch.randn(8, 10, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8)
    ref = L.LDAMLoss(CIFAR10_LT, weight=cb)(z, y)
    torch.testing.assert_close(loss(z, y), ref)


def test_vs_defaults_are_the_readme_run_and_the_vs_method_row():
    # deep_lt.md section 6: the official README's CIFAR-10-LT example uses gamma 0.2, tau 1.2 (argparse: 0.3, 1.0)
    loss = L.VSLoss(COUNTS)
    vs_row = METHODS["vs"].params
    assert (loss.gamma, loss.tau) == (0.2, 1.2) == (vs_row["gamma"], vs_row["tau"])


def test_drw_on_a_vs_loss_and_bad_loss():
    loss = L.VSLoss(COUNTS)
    hook = L.DeferredReweighting(loss, COUNTS, start_epoch=1, beta=0.99)
    hook(SimpleNamespace(epoch=1))
    np.testing.assert_allclose(loss.weight.numpy(), np_cb_weights(COUNTS, 0.99), rtol=1e-6)
    with pytest.raises(ValueError, match="weight"):
        L.DeferredReweighting(L.LogitAdjustedLoss(COUNTS), COUNTS)
    with pytest.raises(ValueError, match="state.epoch"):
        hook(SimpleNamespace(epoch=-1))


def test_tla_adrw_hook_switches_vs_at_t0():
    counts = np.array(CIFAR10_LT, float)
    loss = L.VSLoss(CIFAR10_LT, gamma=0.05, tau=1.0)
    bufs = (loss.scale, loss.shift, loss.weight)
    hook = L.TLAADRW(loss, CIFAR10_LT, t0=4, tau_after=0.75, nu=0.15)
    z = torch.randn(8, 10, generator=torch.Generator().manual_seed(4)) * 3
    y = torch.tensor([0, 1, 2, 3, 9, 9, 8, 5])
    lp = np_log_prior(CIFAR10_LT)
    pi = np.exp(lp)
    adrw = pi**-0.15 / (pi**-0.15).sum() * 10
    for epoch in [*range(7), 6, 2]:  # idempotent after t0; an epoch before t0 restores VS
        hook(SimpleNamespace(epoch=epoch))
        assert all(a is b for a, b in zip((loss.scale, loss.shift, loss.weight), bufs))  # in place
        if epoch < 4:  # VS: alpha = 1, beta_y = (n/nmax)^gamma, Delta = tau log pi
            expected = np_ce(z.numpy() * (counts / counts.max()) ** 0.05 + lp, y.numpy()).mean()
        else:  # TLA + ADRW: beta = 1, Delta = tau_after log pi, alpha ~ pi^-nu
            ce = np_ce(z.numpy() + 0.75 * lp, y.numpy())
            expected = np.sum(adrw[y] * ce) / adrw[y].sum()
        assert loss(z, y).item() == pytest.approx(expected, rel=1e-5), epoch
    with pytest.raises(ValueError, match="VSLoss"):
        L.TLAADRW(L.LDAMLoss(COUNTS), COUNTS)


def test_tla_adrw_hook_nu_and_tau_after():
    loss = L.VSLoss(COUNTS, gamma=0.05, tau=1.0)
    hook = L.TLAADRW(loss, COUNTS, t0=1, nu=1.0, tau_after=0.5)
    assert (hook.t0, hook.nu, hook.tau_after) == (1, 1.0, 0.5)
    assert L.TLAADRW(loss, COUNTS).tau_after == 1.0  # None: the loss's tau
    n = np.array(COUNTS, float)
    hook(SimpleNamespace(epoch=1))
    np.testing.assert_allclose(loss.scale.numpy(), 1.0)
    np.testing.assert_allclose(loss.weight.numpy(), (1 / n) / (1 / n).sum() * 3, rtol=1e-6)  # nu = 1: 1/n
    np.testing.assert_allclose(loss.shift.numpy(), 0.5 * np_log_prior(COUNTS), rtol=1e-6)
    hook(SimpleNamespace(epoch=0))  # back to VS (weights 1) before t0
    np.testing.assert_allclose(loss.weight.numpy(), 1.0)
    np.testing.assert_allclose(loss.scale.numpy(), (n / n.max()) ** 0.05, rtol=1e-6)
    np.testing.assert_allclose(loss.shift.numpy(), np_log_prior(COUNTS), rtol=1e-6)


# ---------------------------------------------------------------- numerics and validation

EXTREME = [[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [1e4, 1e4, -1e4], [0.0, -1e4, 1e4]]


@pytest.mark.parametrize("name", list(all_losses(COUNTS)))
def test_extreme_logits_finite_loss_and_grads(name):
    loss = all_losses(COUNTS)[name]
    z = torch.tensor(EXTREME, requires_grad=True)
    value = loss(z, _y())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all(), name


def test_extreme_logits_values_match_the_formulas():
    """Not only finite: the right numbers (float64 numpy formulas, shifted log-sum-exp)."""
    z = np.array(EXTREME)
    zt = torch.tensor(EXTREME)
    ce = np_ce(z, TARGETS)  # per sample: 0, 1e4 + log 2 - 1e4 ... computed in float64
    assert L.CrossEntropyLoss()(zt, _y()).item() == pytest.approx(ce.mean(), rel=1e-6)
    p = np.exp(-ce)
    assert L.FocalLoss(2.0)(zt, _y()).item() == pytest.approx(np.mean((1 - p) ** 2 * ce), rel=1e-6)
    lp = np_log_prior(COUNTS)
    assert L.LogitAdjustedLoss(COUNTS, 1.5)(zt, _y()).item() == pytest.approx(np_ce(z + 1.5 * lp, TARGETS).mean(), rel=1e-6)
    n = np.array(COUNTS, float)
    zvs = z * (n / n.max()) ** 0.3 + 1.2 * lp
    assert L.VSLoss(COUNTS, 0.3, 1.2)(zt, _y()).item() == pytest.approx(np_ce(zvs, TARGETS).mean(), rel=1e-6)
    t = np.eye(3)[TARGETS]
    bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))  # the textbook stable form
    expected_sig = bce.sum(axis=1).mean()
    assert L.FocalLoss(0.0, form="sigmoid")(zt, _y()).item() == pytest.approx(expected_sig, rel=1e-6)


@pytest.mark.parametrize("name", list(all_losses(COUNTS)))
def test_single_sample_class_and_bf16(name):
    loss = all_losses([1000, 1, 1])[name]  # two classes with one training sample
    ref = loss(_z(), _y())
    zb = _z(torch.bfloat16).requires_grad_(True)
    vb = loss(zb, _y())
    vb.backward()
    assert vb.dtype == torch.float32 and torch.isfinite(vb) and torch.isfinite(zb.grad.float()).all()
    # the same loss on the bf16-rounded logits computed in float32
    torch.testing.assert_close(vb, loss(_z(torch.bfloat16).float(), _y()))
    assert torch.isfinite(ref)


@pytest.mark.parametrize("bad,message", [
    ([], r"class_counts must be a non-empty 1-D sequence of per-class counts; got shape \(0,\) instead"),
    ([[1, 2], [3, 4]], r"class_counts must be a non-empty 1-D sequence .*got shape \(2, 2\) instead"),
    ([10, 0, 3], r"class_counts must hold finite counts > 0 for every class; got \[10.0, 0.0, 3.0\] instead"),
    ([5, -1, 2], r"class_counts must hold finite counts > 0 for every class; got \[5.0, -1.0, 2.0\] instead"),
    ([1.0, float("nan"), 2.0], r"class_counts must hold finite counts > 0 .*nan"),
    (["a", "b"], r"class_counts must hold numbers"),
])
@pytest.mark.parametrize("make", [
    L.ClassBalancedLoss, L.LDAMLoss, L.LogitAdjustedLoss, L.VSLoss, L.CrossEntropyLoss, L.effective_number,
    L.class_balanced_weights,
    L.ldam_margins, L.vs_scales, L.adrw_weights,
    lambda c: L.DeferredReweighting(L.LDAMLoss(COUNTS), c), lambda c: L.TLAADRW(L.VSLoss(COUNTS), c),
])
def test_bad_counts_raise(make, bad, message):
    with pytest.raises(ValueError, match=message):
        make(bad)


@pytest.mark.parametrize("name", ["cb-softmax", "ldam", "la", "vs", "tla-adrw", "ce"])
def test_counts_length_mismatch_raises_at_forward(name):
    loss = all_losses([10, 5, 2, 1])[name]
    with pytest.raises(ValueError, match="class_counts must have one entry per logit column"):
        loss(_z(), _y())


def test_counts_length_mismatch_raises_in_hooks_and_weights():
    with pytest.raises(ValueError, match=r"class_counts must have one entry per class \(3\); got 4 entries instead"):
        L.DeferredReweighting(L.LDAMLoss(COUNTS), [10, 5, 2, 1])
    with pytest.raises(ValueError, match=r"class_counts must have one entry per class \(3\); got 4 entries instead"):
        L.TLAADRW(L.VSLoss(COUNTS), [10, 5, 2, 1])
    with pytest.raises(ValueError, match=r"weight must be a 1-D sequence of 3 finite non-negative class weights; "
                                         r"got \[1.0, 2.0\] instead"):
        L.LDAMLoss(COUNTS, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"weight must be a 1-D sequence of 3 .*got \[1.0, -1.0, 1.0\] instead"):
        L.VSLoss(COUNTS, weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="weight must be .*nan"):
        L.CrossEntropyLoss(COUNTS, weight=[1.0, float("nan"), 1.0])
    # weights without counts size the loss: a 4-column input is then a mismatch
    with pytest.raises(ValueError, match="^weight must have one entry per logit column; got 3 entries for logits "
                                         "with 4 columns"):  # the error names weight, the argument given
        L.CrossEntropyLoss(weight=[1.0, 1.0, 1.0])(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="^class_counts must have one entry per logit column; got 3 entries"):
        L.CrossEntropyLoss(COUNTS, weight=[1.0, 1.0, 1.0])(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))


def test_bad_logits_and_targets():
    loss = L.LDAMLoss(COUNTS)
    with pytest.raises(ValueError, match=r"targets must be a 1-D tensor with one label per logit row \(4\); got \(2,\) instead"):
        loss(_z(), _y()[:2])
    with pytest.raises(ValueError, match=r"logits must be a 2-D tensor \(batch, num_classes\); got \(3,\) instead"):
        L.VSLoss(COUNTS)(_z()[0], _y())
    with pytest.raises(ValueError, match=r"logits must be a 2-D tensor .*got ndarray instead"):
        L.VSLoss(COUNTS)(LOGITS, _y())
    with pytest.raises(ValueError, match="logits must be a floating-point tensor; got dtype torch.int64 instead"):
        L.LogitAdjustedLoss(COUNTS)(_z().long(), _y())
    with pytest.raises(ValueError, match="targets must hold integer class indices; got dtype torch.float32 instead"):
        L.VSLoss(COUNTS)(_z(), _y().float())
    with pytest.raises(ValueError, match=r"targets must be a 1-D tensor .*got list instead"):
        L.FocalLoss()(_z(), TARGETS.tolist())


@pytest.mark.parametrize("name", list(all_losses(COUNTS)))
@pytest.mark.parametrize("bad", [3, -1, 10**9])
def test_out_of_range_targets_on_the_cpu_name_targets(name, bad):
    # issue 13: torch's own index error ("index 3 is out of bounds ...") named no argument
    loss = all_losses(COUNTS)[name]
    y = _y().clone()
    y[1] = bad
    low, high = min(bad, int(_y().min())), max(bad, int(_y().max()))
    with pytest.raises(ValueError, match=rf"^targets must be class indices in \[0, 3\) \(one per logit column\); got "
                                         rf"values from {low} to {high} instead\.$"):
        loss(_z(), y)
    with pytest.raises(ValueError, match=r"^targets must be class indices in \[0, 3\)"):
        loss(logits=_z(), targets=y)  # by keyword too
    assert torch.isfinite(loss(_z(), _y()))  # in-range targets still pass


@pytest.mark.parametrize("make", [
    lambda w: L.CrossEntropyLoss(COUNTS, weight=w), lambda w: L.LDAMLoss(COUNTS, weight=w),
    lambda w: L.VSLoss(COUNTS, weight=w),
])
def test_all_zero_class_weights_are_refused(make):
    # issue 13: sum_i w_{y_i} l_i / sum_i w_{y_i} was 0 / 0, a NaN loss from the first step
    with pytest.raises(ValueError, match=r"^weight must have at least one positive class weight; got all zeros "
                                         r"\[0.0, 0.0, 0.0\] instead\.$"):
        make([0.0, 0.0, 0.0])
    assert torch.isfinite(make([0.0, 1.0, 0.0])(_z(), _y()))  # one positive weight is a valid (odd) choice


NONNEG = "must be a finite number >= 0; got {} instead"
POS = "must be a finite number > 0; got {} instead"


@pytest.mark.parametrize("make,message", [
    (lambda: L.FocalLoss(-1), "gamma " + NONNEG.format(-1)),
    (lambda: L.FocalLoss(float("inf")), "gamma " + NONNEG.format("inf")),
    (lambda: L.FocalLoss(True), "gamma " + NONNEG.format(True)),
    (lambda: L.FocalLoss("1"), "gamma " + NONNEG.format("'1'")),
    (lambda: L.FocalLoss(1.0, form="tanh"), r"form must be one of \['softmax', 'sigmoid'\]; got 'tanh' instead"),
    (lambda: L.ClassBalancedLoss(COUNTS, loss_type="hinge"),
     r"loss_type must be one of \['softmax', 'sigmoid', 'focal'\]; got 'hinge' instead"),
    (lambda: L.ClassBalancedLoss(COUNTS, beta=1.0), r"beta must be in \[0, 1\); got 1.0 instead"),
    (lambda: L.ClassBalancedLoss(COUNTS, beta=-0.1), r"beta must be in \[0, 1\); got -0.1 instead"),
    (lambda: L.ClassBalancedLoss(COUNTS, loss_type="focal", gamma=-0.5), "gamma " + NONNEG.format(-0.5)),
    (lambda: L.effective_number(COUNTS, beta=float("nan")), r"beta must be in \[0, 1\); got nan instead"),
    (lambda: L.class_balanced_weights(COUNTS, beta=2), r"beta must be in \[0, 1\); got 2 instead"),
    (lambda: L.LDAMLoss(COUNTS, max_m=0), "max_m " + POS.format(0)),
    (lambda: L.LDAMLoss(COUNTS, s=-30.0), "s " + POS.format(-30.0)),
    (lambda: L.ldam_margins(COUNTS, max_m=float("nan")), "max_m " + POS.format("nan")),
    (lambda: L.LogitAdjustedLoss(COUNTS, tau=-1), "tau " + NONNEG.format(-1)),
    (lambda: L.VSLoss(COUNTS, gamma=-0.2), "gamma " + NONNEG.format(-0.2)),
    (lambda: L.VSLoss(COUNTS, tau=float("inf")), "tau " + NONNEG.format("inf")),
    (lambda: L.vs_scales(COUNTS, gamma=-1), "gamma " + NONNEG.format(-1)),
    (lambda: L.adrw_weights(COUNTS, nu=-0.1), "nu " + NONNEG.format(-0.1)),
    (lambda: L.TLAADRW(L.VSLoss(COUNTS), COUNTS, nu=-1), "nu " + NONNEG.format(-1)),
    (lambda: L.TLAADRW(L.VSLoss(COUNTS), COUNTS, nu=None), "nu " + NONNEG.format(None)),
    (lambda: L.TLAADRW(L.VSLoss(COUNTS), COUNTS, tau_after=-2.0), "tau_after " + NONNEG.format(-2.0)),
    (lambda: L.TLAADRW(L.VSLoss(COUNTS), COUNTS, t0=-1), "t0 must be an integer >= 0; got -1 instead"),
    (lambda: L.TLAADRW(L.LDAMLoss(COUNTS), COUNTS), "loss must be a VSLoss; got LDAMLoss instead"),
    (lambda: L.DeferredReweighting(L.LDAMLoss(COUNTS), COUNTS, start_epoch=1.5),
     "start_epoch must be an integer >= 0; got 1.5 instead"),
    (lambda: L.DeferredReweighting(L.LDAMLoss(COUNTS), COUNTS, beta=1.0), r"beta must be in \[0, 1\); got 1.0 instead"),
    (lambda: L.DeferredReweighting(L.LogitAdjustedLoss(COUNTS), COUNTS),
     "loss must have a per-class 'weight' buffer .*got LogitAdjustedLoss instead"),
    (lambda: L.DeferredReweighting(L.LDAMLoss(COUNTS), COUNTS)(SimpleNamespace(epoch=-1)),
     "state.epoch must be an integer >= 0; got -1 instead"),
    (lambda: L.TLAADRW(L.VSLoss(COUNTS), COUNTS)(SimpleNamespace()),
     "state.epoch must be an integer >= 0; got None instead"),
])
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_every_loss_gives_a_finite_scalar_and_keeps_float32_buffers():
    for name, loss in all_losses(COUNTS).items():
        value = loss(_z(), _y())
        assert value.ndim == 0 and torch.isfinite(value), name
        assert all(buf.dtype == torch.float32 for buf in loss.buffers()), name  # per-class state in buffers
    assert L.LDAMLoss(COUNTS, max_m=0.3).max_m == 0.3
    assert {"class_counts", "margins", "weight"} <= set(dict(L.LDAMLoss(COUNTS).named_buffers()))
    assert {"class_counts", "scale", "shift", "weight"} <= set(dict(L.VSLoss(COUNTS).named_buffers()))


@pytest.mark.parametrize("name", list(all_losses(COUNTS)))
def test_forward_uses_only_the_modules_buffers(name):
    """On the meta device any CPU-side tensor in forward would raise: the per-class state follows .to()."""
    loss = all_losses(COUNTS)[name].to("meta")
    if name == "tla-adrw":  # the hook writes into buffers on any device
        L.TLAADRW(loss, COUNTS, t0=0)(SimpleNamespace(epoch=0))
    z = torch.empty(4, 3, device="meta", requires_grad=True)
    value = loss(z, torch.zeros(4, dtype=torch.long, device="meta"))
    value.backward()
    assert value.device.type == "meta" and value.shape == () and z.grad.device.type == "meta"


def test_init_sigmoid_bias():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    layer = L.init_sigmoid_bias(model, 10)
    assert layer is model[2]
    np.testing.assert_allclose(model[2].bias.detach().numpy(), -math.log(9), rtol=1e-6)
    # sigmoid outputs start at about 1/C when the features are small
    assert torch.sigmoid(model[2].bias).mean().item() == pytest.approx(0.1, rel=1e-6)
    with pytest.raises(ValueError, match="model"):
        L.init_sigmoid_bias(model, 3)


# ---------------------------------------------------------------- exercise checks of notebooks 06-09

def test_notebook_exercise_checks_agree_with_the_package():
    from ltutorial import exercises as ex

    counts = [1000, 100, 10]
    z = torch.tensor([[1.0, 0.5, -0.5], [0.2, 2.0, 1.0]])
    y = torch.tensor([0, 2])
    assert ex.check_cb_weights(L.class_balanced_weights(counts, 0.99), counts, 0.99)
    assert ex.check_ldam_margins(L.ldam_margins(counts, 0.5), counts, 0.5)
    assert ex.check_logit_adjusted_loss(L.LogitAdjustedLoss(counts, 0.5)(z, y), z, y, counts, 0.5)
    vs = L.VSLoss(counts, 0.2, 1.2)
    assert ex.check_vs_logits(z * vs.scale + vs.shift, z, counts, 0.2, 1.2)
    assert ex.check_adrw_weights(L.adrw_weights(counts, 0.25), counts, 0.25)
    post = np.array([[0.7, 0.2, 0.1], [0.5, 0.1, 0.4]])
    assert ex.check_balanced_bayes_prediction([2, 2], post, [0.8, 0.15, 0.05])  # 0.1/0.05 and 0.4/0.05 win
    with pytest.raises(AssertionError, match="Hint"):
        ex.check_cb_weights(np.ones(3), counts, 0.99)
    with pytest.raises(AssertionError):
        ex.check_balanced_bayes_prediction([0, 0], post, [0.8, 0.15, 0.05])
    with pytest.raises(AssertionError):
        ex.check_vs_logits(z.numpy(), z, counts, 0.2, 1.2)


def test_hooks_take_the_loss_s_own_counts_by_default():
    """DRW and TLA-ADRW need the counts the loss already holds: None takes them, other counts are refused."""
    given, own = L.DeferredReweighting(L.LDAMLoss(COUNTS), COUNTS), L.DeferredReweighting(L.LDAMLoss(COUNTS))
    assert torch.equal(given.deferred_weight, own.deferred_weight)
    a, b = L.TLAADRW(L.VSLoss(COUNTS), COUNTS, t0=1), L.TLAADRW(L.VSLoss(COUNTS), t0=1)
    assert all(torch.equal(x, y) for x, y in zip(a.before + a.after, b.before + b.after))
    with pytest.raises(ValueError, match="class_counts must be the loss's own counts"):
        L.TLAADRW(L.VSLoss(COUNTS), list(reversed(COUNTS)))
    with pytest.raises(ValueError, match="class_counts must be given for a loss without class counts"):
        L.DeferredReweighting(L.CrossEntropyLoss(weight=[1.0, 1.0, 1.0]))


def test_loaded_state_carries_the_class_counts_that_hooks_read():
    # TLA-ADRW reads loss.counts when it is built: after load_state_dict they are the loaded counts, not the old ones
    donor, loss = L.VSLoss([90, 30, 10], gamma=0.3), L.VSLoss([5, 5, 5], gamma=0.3)
    loss.load_state_dict(donor.state_dict())
    assert torch.equal(loss.counts, torch.tensor([90.0, 30.0, 10.0], dtype=torch.float64))
    hook = L.TLAADRW(loss, t0=1)
    assert torch.equal(hook.before[0], L.vs_scales([90, 30, 10], 0.3))
    assert torch.equal(hook.after[2], L.adrw_weights([90, 30, 10], hook.nu))
    # a state without class_counts (strict=False) leaves the counts as they were, not rounded through float32
    odd = L.VSLoss([100.1, 30.3, 10.7])
    odd.load_state_dict({}, strict=False)
    assert torch.equal(odd.counts, torch.tensor([100.1, 30.3, 10.7], dtype=torch.float64))
