"""ltutorial.ssl.toys and ltutorial.ssl.experiment's probe helpers: the computed models of notebooks 10 and 12,
and the random-baseline / noise-margin helpers the SSL notebooks read their probes with."""

import math

import numpy as np
import pytest
import torch

from ltutorial import ssl
from ltutorial.ssl import toys


# ------------------------------------------------------------------ uniformity model (notebook 12)
def test_class_level_uniformity_gives_the_regular_tetrahedron():
    # K = 4 in R^3 with equal weights: the minimiser is the simplex ETF, all pairs at -1/3.
    u = toys.uniformity_centres([5, 5, 5, 5], dim=3, weighting="class")
    gram = u @ u.T
    assert np.allclose(np.diag(gram), 1, atol=1e-9)
    assert np.allclose(gram[~np.eye(4, dtype=bool)], -1 / 3, atol=1e-3)


def test_sample_weighting_equals_class_weighting_for_equal_counts():
    a = toys.uniformity_centres([7, 7, 7], dim=4, weighting="sample", seed=3)
    b = toys.uniformity_centres([7, 7, 7], dim=4, weighting="class", seed=3)
    assert np.allclose(a, b)


def test_two_heavy_and_two_light_classes_squeeze_the_light_ones():
    # Against the ETF's -1/3 for every pair, the heavy pair is pushed nearly antipodal and the
    # light pair pulled together: the sample-level term gains little from separating light classes.
    u = toys.uniformity_centres([100, 100, 1, 1], dim=3, weighting="sample")
    cos = u @ u.T
    assert cos[0, 1] < -0.8
    assert cos[2, 3] > 0


def test_disparity_sweep_is_the_etf_at_ratio_one_and_grows_with_the_ratio():
    out = toys.disparity_sweep([1, 10, 100], num_classes=10, dim=16, steps=600)
    assert out["sample_few"][0] == pytest.approx(-1 / 9, abs=1e-3)
    assert np.all(np.diff(out["sample_few"]) > 0)
    assert np.all(np.diff(out["sample_many"]) < 0)
    assert np.allclose(out["class_few"], -1 / 9, atol=1e-3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: toys.uniformity_centres([1, 2], dim=3, weighting="pair"), "weighting must be one of"),
        (lambda: toys.uniformity_centres([1, 0], dim=3), "class_counts"),
        (lambda: toys.uniformity_centres([1, 2], dim=1), "dim must be"),
        (lambda: toys.disparity_sweep([0.5]), "ratios must be a non-empty list of imbalance ratios >= 1"),
        (lambda: toys.disparity_sweep([10], num_classes=2), "num_classes must be"),
    ],
)
def test_toys_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ e1 / e2 model (notebook 10)
def test_supervised_drops_the_attribute_and_self_supervised_keeps_it():
    out = toys.label_vs_instance_features(n=600, steps=250, seed=1)
    sl, ssl_ = out["supervised"], out["self-supervised"]
    for r in out.values():
        assert r["share"].sum() == pytest.approx(1.0, abs=1e-6)
        assert r["label_probe"] > 0.95
    assert sl["share"][1] < 0.1 < 0.3 < ssl_["share"][1]
    assert ssl_["share"][2:].sum() < 0.1  # the nuisance the views redraw is dropped
    assert sl["attribute_probe"] < 0.7 and ssl_["attribute_probe"] > 0.9


def test_label_vs_instance_features_is_repeatable_and_checks_input():
    a = toys.label_vs_instance_features(n=100, steps=20, seed=4)
    b = toys.label_vs_instance_features(n=100, steps=20, seed=4)
    assert np.array_equal(a["self-supervised"]["share"], b["self-supervised"]["share"])
    with pytest.raises(ValueError, match="steps must be"):
        toys.label_vs_instance_features(steps=0)


# ------------------------------------------------------------------ report helpers
def test_accuracy_margin_is_two_standard_errors_of_a_difference():
    # p = 0.5, n = 200: sqrt(2 * 0.25 / 200) = 0.05, times 2
    assert ssl.accuracy_margin(0.5, 200) == pytest.approx(0.1)
    assert ssl.accuracy_margin(0.9, 1000) == pytest.approx(2 * math.sqrt(2 * 0.09 / 1000))
    assert ssl.accuracy_margin(1.0, 100) > 0
    with pytest.raises(ValueError, match="accuracy must be in \\[0, 1\\]; got 1.5"):
        ssl.accuracy_margin(1.5, 10)
    with pytest.raises(ValueError, match="n must be"):
        ssl.accuracy_margin(0.5, 0)


def test_group_difference_uses_the_group_test_size():
    # 3 classes, counts sorted 30 > 20 > 10: many = class 0, medium = 1, few = 2; 10 test images each
    labels = torch.arange(3).repeat_interleave(10)
    a = {"many": 0.8, "medium": 0.5, "few": 0.6, "all": 0.6333}
    b = {"many": 0.6, "medium": 0.5, "few": 0.4, "all": 0.5}
    diff, margin = ssl.group_difference(a, b, "few", labels, [30, 20, 10])
    assert diff == pytest.approx(20.0)
    assert margin == pytest.approx(100 * 2 * math.sqrt(2 * 0.5 * 0.5 / 10))
    _, margin_all = ssl.group_difference(a, b, "all", labels, [30, 20, 10])
    assert margin_all < margin  # 30 test images instead of 10
    with pytest.raises(ValueError, match="group must be one of"):
        ssl.group_difference(a, b, "tail", labels, [30, 20, 10])


def test_compare_with_random_flags_gains_beyond_the_margin():
    labels = torch.arange(3).repeat_interleave(100)
    base = {"many": 0.5, "medium": 0.5, "few": 0.5, "all": 0.5}
    probes = {"big": {**base, "all": 0.7}, "small": {**base, "all": 0.52}}
    out = ssl.compare_with_random(probes, base, labels, [30, 20, 10])
    assert out["big"]["learned"] and out["big"]["gain"] == pytest.approx(20.0)
    assert not out["small"]["learned"]


# ------------------------------------------------------------------ D_i vs D_b on vectors (notebook 10)
def test_imbalanced_pretraining_toy_shows_the_tail_loss_beside_a_random_baseline():
    out = toys.imbalanced_pretraining_toy(steps=300, seed=3, test_per_class=100)
    counts, labels = out.pop("class_counts"), out.pop("test_labels")
    # SDCLR's construction at n_max 500, rho 100: floor(500 * 0.01^(c/9))
    assert counts.tolist() == [int(500 * 0.01 ** (c / 9)) for c in range(10)]
    assert set(out) == {"SimCLR on D_b", "SimCLR on D_i", "random weights"}
    assert out["random weights"]["all"] < 0.3  # the nuisance hides the classes from a random network
    versus = ssl.compare_with_random({k: v for k, v in out.items() if k != "random weights"}, out["random weights"], labels, counts)
    assert all(v["learned"] for v in versus.values())
    gap, margin = ssl.group_difference(out["SimCLR on D_b"], out["SimCLR on D_i"], "few", labels, counts)
    assert gap > margin


def test_imbalanced_pretraining_toy_checks_input():
    with pytest.raises(ValueError, match="steps must be"):
        toys.imbalanced_pretraining_toy(steps=0)
