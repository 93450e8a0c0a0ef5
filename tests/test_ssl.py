"""Tests of ltutorial.ssl: NT-Xent, augmentation, SDCLR pruning, BCL scores, GH geometry, subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import ltutorial as lt
from ltutorial import ssl
from ltutorial.data import ImageDataset


# ------------------------------------------------------------------ helpers
def _images(n=6, c=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


def _tiny_dataset(n=24, size=8, num_classes=3, seed=0):
    labels = torch.arange(n) % num_classes
    return ImageDataset(_images(n, 3, size, seed), labels, [str(c) for c in range(num_classes)])


class _TwoConv(nn.Module):
    """A minimal encoder with the forward_features/feature_dim contract."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(4)
        self.conv_b = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 2)
        self.feature_dim = 6

    def forward_features(self, x):
        x = F.relu(self.bn_a(self.conv_a(x)))
        x = F.relu(self.bn_b(self.conv_b(x)))
        return x.mean(dim=(2, 3))


# ------------------------------------------------------------------ NT-Xent
def _nt_xent_loop(z1, z2, tau):
    z = F.normalize(torch.cat([z1, z2]), dim=1).double()
    n2 = z.shape[0]
    n = n2 // 2
    losses = []
    for i in range(n2):
        pos = (i + n) % n2
        num = math.exp(float(z[i] @ z[pos]) / tau)
        den = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(n2) if j != i)
        losses.append(-math.log(num / den))
    return torch.tensor(losses, dtype=torch.float64)


def test_nt_xent_matches_loop_over_anchors():
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    expected = _nt_xent_loop(z1, z2, 0.2)
    assert torch.allclose(ssl.nt_xent_per_anchor(z1, z2, 0.2).double(), expected, atol=1e-4)
    assert abs(float(ssl.nt_xent(z1, z2, 0.2)) - float(expected.mean())) < 1e-4
    per_sample = ssl.nt_xent_per_sample(z1, z2, 0.2)
    assert torch.allclose(per_sample.double(), 0.5 * (expected[:5] + expected[5:]), atol=1e-4)
    # Swapping the views permutes the anchors, so the mean is unchanged.
    assert abs(float(ssl.nt_xent(z2, z1, 0.2)) - float(expected.mean())) < 1e-4


def test_nt_xent_random_vectors_near_log_2n_minus_1_and_validation():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(256, 128, generator=g), torch.randn(256, 128, generator=g)
    # Random directions in 128-d are nearly orthogonal: every logit ~ 0 at tau = 1.
    assert abs(float(ssl.nt_xent(z1, z2, 1.0)) - math.log(511)) < 0.05
    with pytest.raises(ValueError, match="same shape"):
        ssl.nt_xent(z1, z2[:10])
    with pytest.raises(ValueError, match="temperature"):
        ssl.nt_xent(z1, z2, 0)
    with pytest.raises(ValueError, match="per"):
        ssl.nt_xent_per_sample(z1, z2, per="image")


# ------------------------------------------------------------------ augmentation
def test_augment_keeps_shape_dtype_device_and_is_seeded():
    x = _images(6, 3, 16)
    aug = ssl.ContrastiveAugment(size=None, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == torch.float32 and a.device == x.device
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    u = ssl.ContrastiveAugment(size=8, output="uint8")(x, torch.Generator().manual_seed(3))
    assert u.shape == (6, 3, 8, 8) and u.dtype == torch.uint8
    v1, v2 = ssl.TwoViews(aug)(x, torch.Generator().manual_seed(3))
    assert v1.shape == x.shape and not torch.equal(v1, v2)
    with pytest.raises(ValueError, match="uint8"):
        aug(x.float())
    with pytest.raises(ValueError, match="scale"):
        ssl.ContrastiveAugment(scale=(0.5, 0.1))


def test_full_crop_with_flip_equals_mirror_and_grayscale_matches_torchvision():
    import torchvision.transforms.v2.functional as TF

    x = _images(4, 3, 8)
    flip_only = ssl.ContrastiveAugment(
        size=None, scale=(1, 1), ratio=(1, 1), flip_p=1.0, jitter_p=0.0, grayscale_p=0.0, interpolation="bilinear", output="uint8"
    )
    assert torch.equal(flip_only(x, torch.Generator().manual_seed(0)), torch.flip(x, dims=[3]))
    gray = ssl.ContrastiveAugment(
        size=None, scale=(1, 1), ratio=(1, 1), flip_p=0.0, jitter_p=0.0, grayscale_p=1.0, interpolation="bilinear"
    )
    expected = TF.rgb_to_grayscale(x.float() / 255, num_output_channels=3)
    assert torch.allclose(gray(x, torch.Generator().manual_seed(0)), expected, atol=1e-5)


def test_hsv_roundtrip_and_hue_shift_match_torchvision():
    import torchvision.transforms.v2.functional as TF

    from ltutorial.ssl.augment import hsv_to_rgb, rgb_to_hsv

    x = torch.rand(3, 3, 5, 5, generator=torch.Generator().manual_seed(5))
    hsv = rgb_to_hsv(x)
    assert torch.allclose(hsv_to_rgb(hsv), x, atol=1e-5)
    shifted = hsv_to_rgb(torch.cat([(hsv[:, :1] + 0.1) % 1, hsv[:, 1:]], dim=1))
    assert torch.allclose(shifted, TF.adjust_hue(x, 0.1), atol=1e-5)


def test_jitter_factors_within_recipe_bounds():
    # Brightness only, always applied: every pixel is scaled by one factor in [0.6, 1.4].
    x = torch.full((64, 3, 4, 4), 100, dtype=torch.uint8)
    aug = ssl.ContrastiveAugment(
        size=None, scale=(1, 1), ratio=(1, 1), flip_p=0.0, jitter=(0.4, 0, 0, 0), jitter_p=1.0, grayscale_p=0.0
    )
    out = aug(x, torch.Generator().manual_seed(0))
    factors = out[:, 0, 0, 0] / (100 / 255)
    assert float(factors.min()) >= 0.6 - 1e-5 and float(factors.max()) <= 1.4 + 1e-5
    assert float(factors.std()) > 0.1  # per-sample, not one factor for the batch
    assert torch.allclose(out, out[:, :1, :1, :1].expand_as(out))


# ------------------------------------------------------------------ SDCLR
def test_magnitude_pruning_ratio_and_global_threshold():
    torch.manual_seed(0)
    enc = _TwoConv()
    with torch.no_grad():
        enc.conv_b.weight.mul_(10)  # the larger layer must keep more weights under a global threshold
    masks = ssl.magnitude_prune_masks(enc, 0.5)
    assert set(masks) == {"conv_a.weight", "conv_b.weight"}  # convs only, no Linear / BN
    total = sum(m.numel() for m in masks.values())
    zeros = sum(int((m == 0).sum()) for m in masks.values())
    assert zeros == round(0.5 * total)
    keep_a = float(masks["conv_a.weight"].mean())
    keep_b = float(masks["conv_b.weight"].mean())
    assert keep_b > 0.5 > keep_a
    kept = torch.cat([enc.conv_a.weight[masks["conv_a.weight"] == 1].abs(), enc.conv_b.weight[masks["conv_b.weight"] == 1].abs()])
    pruned = torch.cat([enc.conv_a.weight[masks["conv_a.weight"] == 0].abs(), enc.conv_b.weight[masks["conv_b.weight"] == 0].abs()])
    assert float(kept.detach().min()) >= float(pruned.detach().max())
    assert ssl.mask_sparsity(masks)["global"] == pytest.approx(zeros / total)
    with pytest.raises(ValueError, match="ratio"):
        ssl.magnitude_prune_masks(enc, 1.0)


def test_pruned_forward_equals_forward_with_zeroed_weights():
    import copy

    torch.manual_seed(0)
    model = ssl.SimCLR(_TwoConv(), proj_dim=4)
    x = torch.randn(5, 3, 6, 6)
    model.train()
    model(x)  # move the dense BN statistics away from their initial values
    model.pruned_branch = ssl.PrunedBranch(model)
    model.pruned_branch.update_masks(model, 0.6)
    model.eval()
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for name, m in model.pruned_branch.masks.items():
            zeroed.get_parameter(name).mul_(m)
    assert torch.allclose(model(x, branch="pruned"), zeroed(x), atol=1e-5)
    assert not torch.allclose(model(x), zeroed(x), atol=1e-3)

    # Training-mode pruned forwards update the branch's own BN statistics, not the dense ones.
    model.train()
    dense_mean = model.encoder.bn_a.running_mean.clone()
    branch_mean = model.pruned_branch.tensors()["encoder.bn_a.running_mean"].clone()
    out = model(x, branch="pruned")
    assert torch.equal(model.encoder.bn_a.running_mean, dense_mean)
    assert not torch.equal(model.pruned_branch.tensors()["encoder.bn_a.running_mean"], branch_mean)
    # The gradient reaches only the kept weights (shared with the dense branch).
    out.pow(2).sum().backward()
    grad = model.encoder.conv_a.weight.grad
    mask = model.pruned_branch.masks["encoder.conv_a.weight"]
    assert float(grad[mask == 0].abs().max()) == 0.0
    assert float(grad[mask == 1].abs().max()) > 0.0


# ------------------------------------------------------------------ BCL
def test_memorization_score_range_monotone_and_constant():
    losses = torch.tensor([2.0, 5.0, 3.0, 9.0, 4.0, 4.5])
    m = ssl.memorization_score(losses)
    assert float(m.min()) >= 0 and float(m.max()) <= 1
    assert float((2 * m - 1).abs().max()) == pytest.approx(1.0)
    assert torch.equal(torch.argsort(m), torch.argsort(losses))
    z = (losses - losses.mean()) / losses.std(unbiased=False)
    assert torch.allclose(m, z / (2 * z.abs().max()) + 0.5)
    assert torch.equal(ssl.memorization_score(torch.full((4,), 3.0)), torch.full((4,), 0.5))


def test_bcl_ema_closed_form():
    from ltutorial.ssl.bcl import ema_update

    state = torch.zeros(3)
    seen = torch.zeros(3, dtype=torch.bool)
    seq = [1.0, 2.0, 4.0]
    for t, loss in enumerate(seq):
        state = ema_update(state, torch.full((3,), loss), 0.97, seen)
        seen[:] = True
    expected = 0.97**2 * 1.0 + 0.97 * 0.03 * 2.0 + 0.03 * 4.0
    assert torch.allclose(state, torch.full((3,), expected))


def test_boosted_randaugment_zero_score_is_identity():
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = ssl.boosted_randaugment(x, torch.zeros(16), k=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, x)
    strong = ssl.boosted_randaugment(x, torch.ones(16), k=2, generator=torch.Generator().manual_seed(1))
    assert strong.shape == x.shape and float(strong.min()) >= 0 and float(strong.max()) <= 1
    assert int((strong - x).abs().flatten(1).amax(1).gt(1e-4).sum()) >= 12
    again = ssl.boosted_randaugment(x, torch.ones(16), k=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(strong, again)


# ------------------------------------------------------------------ GH
@pytest.mark.parametrize("k,d", [(10, 16), (5, 4), (100, 128)])
def test_simplex_etf_geometry(k, d):
    etf = ssl.simplex_etf(k, d, seed=3)
    gram = etf.double() @ etf.double().T
    expected = (k / (k - 1)) * torch.eye(k, dtype=torch.float64) - 1.0 / (k - 1)
    assert etf.shape == (k, d)
    assert torch.allclose(gram, expected, atol=1e-5)
    assert torch.allclose(etf.sum(0), torch.zeros(d), atol=1e-5)


def test_simplex_etf_rejects_too_many_vertices():
    with pytest.raises(ValueError, match="num_vertices"):
        ssl.simplex_etf(10, 5)


def test_sinkhorn_marginals_and_zero_prior():
    g = torch.Generator().manual_seed(0)
    scores = F.normalize(torch.randn(64, 6, generator=g), dim=1)
    prior = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.1, 0.0])
    q = ssl.sinkhorn(scores, prior, epsilon=0.05, iterations=300)
    assert q.shape == (64, 6) and float(q.min()) >= 0
    assert torch.allclose(q.sum(1), torch.ones(64), atol=1e-5)
    assert torch.allclose(q.sum(0), 64 * prior, atol=1e-3 * 64)
    assert float(q[:, 5].max()) == 0.0
    # Uniform scores carry no preference: each sample is split exactly by the prior.
    flat = ssl.sinkhorn(torch.zeros(8, 4), torch.full((4,), 0.25))
    assert torch.allclose(flat, torch.full((8, 4), 0.25))
    with pytest.raises(ValueError, match="prior"):
        ssl.sinkhorn(scores, torch.ones(6))


def test_gh_weight_schedule():
    assert [ssl.gh_weight(e, 4, 2) for e in range(7)] == [0, 0, 0, 0, 0.5, 1.0, 1.0]


# ------------------------------------------------------------------ subsets
def test_ssl_subsets_cifar10_sizes():
    labels = torch.arange(50_000) % 10
    s = ssl.ssl_subsets(labels, seed=1)
    di, db, sb, val = (set(s[k].tolist()) for k in ("imbalanced", "balanced", "few_shot", "val"))
    assert (len(di), len(db), len(sb), len(val)) == (11_165, 11_160, 450, 5_000)
    assert s["class_counts"].tolist() == [4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45]
    assert torch.equal(torch.bincount(labels[s["imbalanced"]], minlength=10), s["class_counts"])
    assert torch.equal(torch.bincount(labels[s["balanced"]], minlength=10), torch.full((10,), 1116))
    assert len(di & db) == sum(min(n, 1116) for n in s["class_counts"].tolist()) == 5_699
    assert sb <= (di & db)
    assert not (val & (di | db))


def test_ssl_subsets_cifar100_sizes_and_seed():
    labels = torch.arange(50_000) % 100
    s = ssl.ssl_subsets(labels, val_per_class=50)
    assert (s["imbalanced"].numel(), s["balanced"].numel(), s["few_shot"].numel()) == (9_754, 9_700, 400)
    again = ssl.ssl_subsets(labels, val_per_class=50)
    assert torch.equal(s["imbalanced"], again["imbalanced"])
    other = ssl.ssl_subsets(labels, val_per_class=50, seed=1)
    assert not torch.equal(s["imbalanced"], other["imbalanced"])
    with pytest.raises(ValueError, match="n_max"):
        ssl.ssl_subsets(labels, n_max=10_000)


# ------------------------------------------------------------------ training
def test_cosine_warmup_lr():
    lrs = [ssl.cosine_warmup_lr(s, 10, 2, 1.0, 0.0) for s in range(10)]
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0) and lrs[2] == pytest.approx(1.0)
    assert lrs[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))


@pytest.mark.parametrize("method", ["simclr", "sdclr", "bcl"])
def test_pretrain_runs_and_is_reproducible(method):
    data = _tiny_dataset()
    kw = dict(method=method, epochs=2, batch_size=8, warmup_epochs=1, proj_dim=8, device="cpu", seed=0, progress=False)
    if method == "sdclr":
        kw["prune_ratio"] = 0.5
    torch.manual_seed(0)
    h1 = ssl.pretrain(_TwoConv(), data, **kw)
    torch.manual_seed(0)
    h2 = ssl.pretrain(_TwoConv(), data, **kw)
    assert len(h1.loss) == 2 and all(np.isfinite(h1.loss))
    assert h1.loss == h2.loss
    if method == "sdclr":
        assert h1.sparsity == [pytest.approx(0.5, abs=0.01)] * 2
    if method == "bcl":
        scores = h1.bcl.score_history[-1]
        assert scores.shape == (24,) and float(scores.min()) >= 0 and float(scores.max()) <= 1
        assert float((2 * scores - 1).abs().max()) == pytest.approx(1.0)


def test_pretrain_with_gh_and_linear_probe():
    data = _tiny_dataset()
    gh = ssl.GHConfig(num_vertices=4, start_epoch=1, ramp_epochs=1, refresh_every=1, iterations=20)
    h = ssl.pretrain(_TwoConv(), data, epochs=2, batch_size=8, warmup_epochs=0, proj_dim=8, gh=gh, device="cpu", progress=False)
    assert h.gh_weight == [0.0, 1.0]
    prior = h.gh.prior
    assert prior.shape == (4,) and float(prior.min()) > 0 and float(prior.sum()) == pytest.approx(1.0)
    res = ssl.linear_probe(h, data, data, group_counts=[10, 5, 1], epochs=3)
    assert set(res) >= {"many", "medium", "few", "all", "accuracy", "per_class_accuracy"}
    assert res["all"] == pytest.approx(float(np.nanmean(res["per_class_accuracy"])))
    with pytest.raises(ValueError, match="method"):
        ssl.pretrain(_TwoConv(), data, method="byol", epochs=1)


def test_class_geometry_on_known_points():
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    geo = ssl.class_geometry(feats, torch.tensor([0, 0, 1, 1]))
    assert geo["spread"][0] == pytest.approx(0.0, abs=1e-6)
    # class 1: mean direction at 67.5 degrees; cosines cos(22.5) to both points.
    assert geo["spread"][1] == pytest.approx(1 - math.cos(math.radians(22.5)), abs=1e-5)
    assert geo["nearest_cos"][0] == pytest.approx(math.cos(math.radians(67.5)), abs=1e-5)


def test_sinkhorn_plain_and_log_domain_agree_and_large_scores_stay_finite():
    from ltutorial.ssl.gh import _sinkhorn

    g = torch.Generator().manual_seed(4)
    s = F.normalize(torch.randn(2, 32, 5, generator=g, dtype=torch.float64), dim=2)
    pi = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05], dtype=torch.float64)
    assert torch.allclose(_sinkhorn(s, pi, 0.05, 300, False), _sinkhorn(s, pi, 0.05, 300, True), atol=1e-10)
    # |scores| / epsilon = 200: exp would overflow float64 outside the log domain.
    q = ssl.sinkhorn(10 * s[0], pi, epsilon=0.05)
    assert bool(torch.isfinite(q).all()) and torch.allclose(q.sum(1), torch.ones(32, dtype=q.dtype), atol=1e-6)


# ------------------------------------------------------------------ exercise checks of notebooks 10-12
def test_exercise_checks_accept_right_and_reject_wrong_answers():
    ex = lt.exercises
    counts = [int(4500 * 0.01 ** (c / 9)) for c in range(10)]
    assert ex.check_sdclr_subset_sizes(counts, 11_160)
    with pytest.raises(AssertionError):
        ex.check_sdclr_subset_sizes([round(4500 * 0.01 ** (c / 9)) for c in range(10)], 11_160)
    weights = {"a": torch.tensor([0.1, -0.2, 0.3, 0.05]), "b": torch.tensor([1.0, -2.0, 0.4, -0.01])}
    right = {"a": torch.tensor([0.0, 0.0, 1.0, 0.0]), "b": torch.tensor([1.0, 1.0, 1.0, 0.0])}
    assert ex.check_global_prune_masks(right, weights, ratio=0.5)
    per_layer = {"a": torch.tensor([0.0, 1.0, 1.0, 0.0]), "b": torch.tensor([1.0, 1.0, 0.0, 0.0])}
    with pytest.raises(AssertionError):
        ex.check_global_prune_masks(per_layer, weights, ratio=0.5)
    ema = torch.tensor([3.1, 2.4, 5.0, 2.9, 3.6])
    scores = ssl.memorization_score(ema)
    assert ex.check_memorization_score(scores, ema)
    with pytest.raises(AssertionError):
        ex.check_memorization_score((ema - ema.min()) / (ema.max() - ema.min()), ema)
    assert ex.check_bcl_magnitude(10 + 20 * scores, scores)
    with pytest.raises(AssertionError):
        ex.check_bcl_magnitude(30 * scores, scores)
    assert ex.check_simplex_etf(ssl.simplex_etf(5, 8))
    with pytest.raises(AssertionError):
        ex.check_simplex_etf(torch.eye(4))
    prior = torch.tensor([0.5, 0.3, 0.2])
    q = ssl.sinkhorn(torch.rand(6, 3, generator=torch.Generator().manual_seed(0)), prior, epsilon=0.5)
    assert ex.check_sinkhorn_allocation(q, prior)
    with pytest.raises(AssertionError):
        ex.check_sinkhorn_allocation(torch.full((6, 3), 1 / 3), prior)
