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


def _u8(x):
    return (x * 255).round().to(torch.uint8)


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
    # BCL's per-image loss pairs anchor i with i + N (view 1 and view 2 of image i), not i with i + 1
    from ltutorial.ssl.simclr import per_image
    assert torch.equal(per_image(torch.arange(6.0)), torch.tensor([1.5, 2.5, 3.5]))
    # Swapping the views permutes the anchors, so the mean is unchanged.
    assert abs(float(ssl.nt_xent(z2, z1, 0.2)) - float(expected.mean())) < 1e-4


def test_nt_xent_random_vectors_near_log_2n_minus_1_and_validation():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(256, 128, generator=g), torch.randn(256, 128, generator=g)
    # Random directions in 128-d are nearly orthogonal: every logit ~ 0 at tau = 1.
    assert abs(float(ssl.nt_xent(z1, z2, 1.0)) - math.log(511)) < 0.05
    with pytest.raises(ValueError, match="same shape"):
        ssl.nt_xent(z1, z2[:10])
    with pytest.raises(ValueError, match="same shape"):
        ssl.nt_xent(z1, z2.numpy())
    with pytest.raises(ValueError, match="temperature"):
        ssl.nt_xent(z1, z2, 0)


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
    wide = torch.randint(0, 256, (2, 3, 8, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert aug(wide, torch.Generator().manual_seed(3)).shape == wide.shape  # size=None: the input's h x w, not h x h
    u = ssl.ContrastiveAugment(size=8, mean=(0.5,) * 3, std=(0.2,) * 3)(x, torch.Generator().manual_seed(3),
                                                                        normalize=False)
    assert u.shape == (6, 3, 8, 8) and u.dtype == torch.float32 and 0 <= float(u.min()) <= float(u.max()) <= 1
    v1, v2 = aug(torch.cat([x, x]), torch.Generator().manual_seed(3)).chunk(2)
    assert v1.shape == x.shape and not torch.equal(v1, v2)
    with pytest.raises(ValueError, match="uint8"):
        aug(x.float())
    with pytest.raises(ValueError, match="scale"):
        ssl.ContrastiveAugment(scale=(0.5, 0.1))


def test_full_crop_with_flip_equals_mirror_and_grayscale_matches_torchvision():
    import torchvision.transforms.v2.functional as TF

    x = _images(4, 3, 8)
    flip_only = ssl.ContrastiveAugment(
        size=None, scale=(1, 1), ratio=(1, 1), flip_p=1.0, jitter_p=0.0, grayscale_p=0.0
    )
    assert torch.equal(_u8(flip_only(x, torch.Generator().manual_seed(0))), torch.flip(x, dims=[3]))
    gray = ssl.ContrastiveAugment(
        size=None, scale=(1, 1), ratio=(1, 1), flip_p=0.0, jitter_p=0.0, grayscale_p=1.0
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


def test_magnitude_pruning_count_is_the_ceiling_of_p_n():
    # issue 13: the official mask code prunes ceil(p N) weights (its threshold is sorted |w| at index ceil(p N))
    torch.manual_seed(0)
    enc = _TwoConv()  # 108 + 216 = 324 conv weights
    for ratio, expected in ((0.3, 98), (0.5, 162), (0.9, 292), (0.001, 1)):  # 97.2 -> 98, 291.6 -> 292, 0.324 -> 1
        masks = ssl.magnitude_prune_masks(enc, ratio)
        assert sum(int((m == 0).sum()) for m in masks.values()) == expected == math.ceil(ratio * 324)
    # a product that is an integer up to float rounding is that integer: 0.07 * 100 = 7.000000000000001 in floats
    hundred = nn.Conv2d(1, 100, 1, bias=False)
    assert 0.07 * 100 > 7 and int((ssl.magnitude_prune_masks(hundred, 0.07)["weight"] == 0).sum()) == 7
    assert int((ssl.magnitude_prune_masks(hundred, 0.071)["weight"] == 0).sum()) == 8  # 7.1 -> 8
    assert int((ssl.magnitude_prune_masks(hundred, 0.0)["weight"] == 0).sum()) == 0


def test_pruned_forward_equals_forward_with_zeroed_weights():
    import copy

    torch.manual_seed(0)
    model = ssl.SimCLRNet(_TwoConv(), proj_dim=4)
    x = torch.randn(5, 3, 6, 6)
    model.train()
    model(x)  # move the dense BN statistics away from their initial values
    model.pruned_branch = branch = ssl.PrunedBranch(model)
    masks = ssl.magnitude_prune_masks(model, 0.6)
    model.eval()
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for name, m in masks.items():
            zeroed.get_parameter(name).mul_(m)
    assert torch.allclose(ssl.pruned_forward(model, x, masks, branch), zeroed(x), atol=1e-5)
    assert not torch.allclose(model(x), zeroed(x), atol=1e-3)

    # Training-mode pruned forwards update the branch's own BN statistics, not the dense ones.
    model.train()
    dense_mean = model.encoder.bn_a.running_mean.clone()
    branch_mean = model.pruned_branch.tensors()["encoder.bn_a.running_mean"].clone()
    out = ssl.pruned_forward(model, x, masks, branch)
    assert torch.equal(model.encoder.bn_a.running_mean, dense_mean)
    assert not torch.equal(model.pruned_branch.tensors()["encoder.bn_a.running_mean"], branch_mean)
    # The gradient reaches only the kept weights (shared with the dense branch).
    out.pow(2).sum().backward()
    grad = model.encoder.conv_a.weight.grad
    mask = masks["encoder.conv_a.weight"]
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
    gh = ssl.GH(config=ssl.GHConfig(num_vertices=3, start_epoch=4, ramp_epochs=2))
    gh.setup(ssl.SimCLRNet(_TwoConv(), proj_dim=4), 5, 10, "cpu")
    assert [gh.weight(e) for e in range(7)] == [0, 0, 0, 0, 0.5, 1.0, 1.0]


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
def test_pretrain_lr_is_warmup_then_cosine_per_step():
    # 24 images, batch 8: 3 steps per epoch; 1 warm-up epoch (3 steps) of 5 (15 steps); lr at each epoch's last step
    h = ssl.pretrain(_TwoConv(), _tiny_dataset(), epochs=5, batch_size=8, warmup_epochs=1, lr=1.0, min_lr=0.0,
                     proj_dim=8, device="cpu", progress=False)
    expected = [1.0] + [0.5 * (1 + math.cos(math.pi * (s - 3) / 12)) for s in (5, 8, 11, 14)]
    assert h.lr == pytest.approx(expected)
    early = ssl.pretrain(_TwoConv(), _tiny_dataset(), epochs=2, batch_size=12, warmup_epochs=2, lr=1.0, proj_dim=8,
                         device="cpu", progress=False)  # warm-up over every step: (s + 1) / 4
    assert early.lr == pytest.approx([0.5, 1.0])


def _method(name):
    return {"simclr": ssl.SimCLR(), "sdclr": ssl.SDCLR(prune_ratio=0.5), "bcl": ssl.BCL()}[name]


def test_augment_keeps_mean_and_std_as_floats_so_its_constants_are_cached_once():
    from ltutorial.ssl import augment

    aug = ssl.ContrastiveAugment(size=8, mean=torch.tensor([0.5, 0.4, 0.3]), std=torch.tensor([0.25, 0.5, 1.0]))
    assert aug.mean == pytest.approx((0.5, 0.4, 0.3)) and aug.std == (0.25, 0.5, 1.0)
    assert all(type(v) is float for v in aug.mean + aug.std)
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    aug(x, torch.Generator().manual_seed(0))
    cached = augment._constant.cache_info().currsize
    for _ in range(3):  # tensors as keys hash by id: every call used to add two entries and copy them to the device
        aug(x, torch.Generator().manual_seed(0))
    assert augment._constant.cache_info().currsize == cached
    with pytest.raises(ValueError, match=r"std must be 3 numbers with finite values > 0"):
        ssl.ContrastiveAugment(mean=(0.5, 0.5, 0.5), std=(0.2, 0.0, 0.2))


def test_a_last_batch_of_one_image_joins_the_one_before():
    # 17 images in batches of 8: BCL's moving average must see every image every epoch (BatchNorm needs 2 per batch),
    # so the per-image losses that L_t = beta L_{t-1} + (1 - beta) l_t implies average to the epoch's training loss
    h = ssl.pretrain(_TwoConv(), _tiny_dataset(n=17), ssl.BCL(), epochs=2, batch_size=8, warmup_epochs=1, proj_dim=8,
                     device="cpu", progress=False)
    beta, (ema_1, ema_2) = h.method.beta, h.method.loss_history[-2:]
    assert float(((ema_2 - beta * ema_1) / (1 - beta)).mean()) == pytest.approx(h.train_loss[-1], rel=1e-4)


def test_pretrain_returns_the_supervised_history_type():
    # one history type (issue 12): pretrain's record is train.History, with the net, the method and no test metrics
    method = ssl.SDCLR(prune_ratio=0.5)
    h = ssl.pretrain(_TwoConv(), _tiny_dataset(), method, epochs=3, batch_size=8, warmup_epochs=1, proj_dim=8,
                     device="cpu", progress=False)
    assert type(h) is lt.train.History and isinstance(h.model, ssl.SimCLRNet)
    assert type(h.method) is ssl.SDCLR and h.method is not method and h.method.sparsity == method.sparsity
    assert h.encoder is h.model.encoder and h.epoch == [0, 1, 2] and len(h.lr) == len(h.epoch_seconds) == 3
    assert all(math.isnan(v) for v in h.test_balanced_accuracy) and h.final_balanced_accuracy is None
    assert h.seconds == pytest.approx(sum(h.epoch_seconds)) and h.seconds > 0
    assert h.config == {**vars(ssl.PretrainConfig(epochs=3, batch_size=8, warmup_epochs=1, proj_dim=8)), "amp": False,
                        "seed": 0}  # amp as resolved (bf16 autocast on CUDA only), as fit records it
    assert repr(h).startswith("History(SDCLR, epochs=3, last loss=") and "on cpu" in repr(h)
    with pytest.raises(AttributeError, match="only the History of ssl.pretrain"):
        lt.train.History().encoder
    with pytest.raises(ValueError, match="encoder must be pretrain.s History"):  # a History of fit holds no model
        ssl.linear_probe(lt.train.History(), _tiny_dataset(), _tiny_dataset(), group_counts=[1] * 3)


@pytest.mark.parametrize("method", ["simclr", "sdclr", "bcl"])
def test_pretrain_runs_and_is_reproducible(method):
    data = _tiny_dataset()
    kw = dict(epochs=2, batch_size=8, warmup_epochs=1, proj_dim=8, device="cpu", seed=0, progress=False)
    torch.manual_seed(0)
    h1 = ssl.pretrain(_TwoConv(), data, _method(method), **kw)
    torch.manual_seed(0)
    h2 = ssl.pretrain(_TwoConv(), data, _method(method), **kw)
    assert len(h1.train_loss) == 2 and all(np.isfinite(h1.train_loss))
    assert h1.train_loss == h2.train_loss
    if method == "sdclr":
        assert h1.method.sparsity == [pytest.approx(0.5, abs=0.01)] * 2
    if method == "bcl":
        scores = h1.method.score_history[-1]
        assert scores.shape == (24,) and float(scores.min()) >= 0 and float(scores.max()) <= 1
        assert float((2 * scores - 1).abs().max()) == pytest.approx(1.0)
        # one row per epoch (not the live moving average): m_2 = beta m_1 + (1 - beta) l_2, l_2 averaging to loss[1]
        m1, m2 = h1.method.loss_history
        assert float(((m2 - 0.97 * m1) / 0.03).mean()) == pytest.approx(h1.train_loss[1], rel=1e-4)
        assert float(m1.mean()) == pytest.approx(h1.train_loss[0], rel=1e-5)  # m_1 = l_1


def test_pretrain_with_gh_and_linear_probe():
    data = _tiny_dataset()
    gh = ssl.GHConfig(num_vertices=4, start_epoch=1, ramp_epochs=1, refresh_every=1, iterations=20)
    h = ssl.pretrain(_TwoConv(), data, ssl.GH(config=gh), epochs=2, batch_size=8, warmup_epochs=0, proj_dim=8,
                     device="cpu", progress=False)
    assert h.method.weights == [0.0, 1.0]
    prior = h.method.prior
    assert prior.shape == (4,) and float(prior.min()) > 0 and float(prior.sum()) == pytest.approx(1.0)
    res = ssl.linear_probe(h, data, data, group_counts=[10, 5, 1], epochs=3)
    assert set(res) >= {"many", "medium", "few", "all", "accuracy", "per_class_accuracy"}
    assert res["all"] == pytest.approx(float(np.nanmean(res["per_class_accuracy"])))
    with pytest.raises(ValueError, match="method"):
        ssl.pretrain(_TwoConv(), data, "byol", epochs=1)


def test_class_geometry_on_known_points():
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    geo = ssl.class_geometry(feats, torch.tensor([0, 0, 1, 1]))
    assert geo["spread"][0] == pytest.approx(0.0, abs=1e-6)
    # class 1: mean direction at 67.5 degrees; cosines cos(22.5) to both points.
    assert geo["spread"][1] == pytest.approx(1 - math.cos(math.radians(22.5)), abs=1e-5)
    assert geo["nearest_cos"][0] == pytest.approx(math.cos(math.radians(67.5)), abs=1e-5)


def test_class_geometry_with_an_absent_class_id():
    # classes 0 and 2 point opposite ways (cos -1); id 1 has no sample: NaN, not a zero direction at cos 0
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1]])
    geo = ssl.class_geometry(feats, torch.tensor([0, 0, 2, 2]))
    assert geo["nearest_cos"][[0, 2]] == pytest.approx([-1.0, -1.0], abs=1e-2)
    assert np.isnan(geo["nearest_cos"][1]) and np.isnan(geo["spread"][1]) and not np.isnan(geo["spread"][[0, 2]]).any()
    assert np.isnan(ssl.class_geometry(feats, torch.zeros(4, dtype=torch.int64))["nearest_cos"]).all()  # one class


def test_class_geometry_rejects_labels_of_the_wrong_length_or_kind():
    # issue 13: a wrong length failed inside index_add_ with a message naming neither argument
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"^labels must have one entry per row of features \(4\); got 3 instead\.$"):
        ssl.class_geometry(feats, torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match=r"^labels must have one entry per row of features \(4\); got 5 instead\.$"):
        ssl.class_geometry(feats, [0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=r"^labels must be >= 0; got a minimum of -1 instead"):
        ssl.class_geometry(feats, [0, 0, -1, 1])
    with pytest.raises(ValueError, match=r"^labels must hold integer class indices"):
        ssl.class_geometry(feats, [0, 0.5, 1, 1])
    with pytest.raises(ValueError, match=r"^features must be a 2-D tensor N x d"):
        ssl.class_geometry(feats[0], [0, 1])
    # numpy labels of the right length work like a tensor
    assert ssl.class_geometry(feats, np.array([0, 0, 1, 1]))["spread"][0] == pytest.approx(0.0, abs=1e-6)


def test_sinkhorn_matches_the_numpy_iteration_and_refuses_overflowing_scores():
    g = torch.Generator().manual_seed(4)
    s = F.normalize(torch.randn(32, 5, generator=g, dtype=torch.float64), dim=1)
    pi = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    q = ssl.sinkhorn(s, torch.tensor(pi), epsilon=0.05, iterations=2000)
    assert np.allclose(q.numpy(), _sinkhorn_numpy(s.numpy(), pi, 0.05, 2000), atol=1e-8)
    # |scores| / epsilon = 200: exp(200) and its inverse leave float64's safe range for the plain iteration
    with pytest.raises(ValueError, match=r"^scores / epsilon must lie within \[-50, 50\]"):
        ssl.sinkhorn(10 * s, torch.tensor(pi), epsilon=0.05)
    with pytest.raises(ValueError, match="epsilon"):
        ssl.GHConfig(epsilon=0.01)


# ------------------------------------------------------------------ review additions: recipe, per-sample draws, errors
def test_nt_xent_rejects_bad_input():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="z1 and z2 must be 2-D tensors"):
        ssl.nt_xent(torch.randn(4), torch.randn(4))
    with pytest.raises(ValueError, match="z1 and z2 must be 2-D tensors"):
        ssl.nt_xent(z, [[1.0]])
    with pytest.raises(ValueError, match="N >= 2"):
        ssl.nt_xent(z[:1], z[:1])
    with pytest.raises(ValueError, match="temperature"):
        ssl.nt_xent(z, z, True)


def test_crop_parameters_follow_the_recipe_and_torchvision_sampler():
    from torchvision.transforms import RandomResizedCrop

    n = 4000
    aug = ssl.ContrastiveAugment()  # scale (0.1, 1), ratio (3/4, 4/3), flip 0.5
    theta = aug._crop_theta(n, 32, 32, torch.device("cpu"), torch.Generator().manual_seed(0))
    fw, fh = theta[:, 0, 0].abs(), theta[:, 1, 1]
    area, aspect = fw * fh, fw / fh
    assert float(area.min()) >= 0.1 - 1e-6 and float(area.max()) <= 1 + 1e-6
    assert float(aspect.min()) >= 3 / 4 - 1e-6 and float(aspect.max()) <= 4 / 3 + 1e-6
    # The crop lies inside the image: |centre| + half-size <= 1 in grid units.
    assert bool((theta[:, 0, 2].abs() + fw <= 1 + 1e-6).all()) and bool((theta[:, 1, 2].abs() + fh <= 1 + 1e-6).all())
    assert abs(float((theta[:, 0, 0] < 0).float().mean()) - 0.5) < 0.04
    # torchvision's sampler (same ten-try rejection rule, integer pixels) gives the same mean area.
    torch.manual_seed(0)
    img = torch.zeros(3, 32, 32)
    ref = [p[2] * p[3] / 1024 for p in (RandomResizedCrop.get_params(img, [0.1, 1.0], [3 / 4, 4 / 3]) for _ in range(n))]
    assert abs(float(area.mean()) - float(np.mean(ref))) < 0.02


def test_flip_grayscale_and_jitter_are_drawn_per_sample_with_the_recipe_probabilities():
    n = 2000
    x = _images(1, 3, 4, seed=7).expand(n, -1, -1, -1).contiguous()
    ident = dict(size=None, scale=(1, 1), ratio=(1, 1))
    g = torch.Generator().manual_seed(0)
    out = _u8(ssl.ContrastiveAugment(**ident, jitter_p=0.0, grayscale_p=0.0)(x, g))
    flipped = (out == torch.flip(x, dims=[3])).flatten(1).all(1)
    same = (out == x).flatten(1).all(1)
    assert bool((flipped ^ same).all()) and abs(float(flipped.float().mean()) - 0.5) < 0.04
    out = ssl.ContrastiveAugment(**ident, flip_p=0.0, jitter_p=0.0)(x, g)  # grayscale_p 0.2
    gray = ((out[:, 0] - out[:, 1]).abs().amax((1, 2)) < 1e-6) & ((out[:, 1] - out[:, 2]).abs().amax((1, 2)) < 1e-6)
    assert abs(float(gray.float().mean()) - 0.2) < 0.03
    out = ssl.ContrastiveAugment(**ident, flip_p=0.0, jitter=(0.4, 0, 0, 0), grayscale_p=0.0)(x, g)  # jitter_p 0.8
    changed = (out - x.float() / 255).abs().flatten(1).amax(1) > 1e-3
    assert abs(float(changed.float().mean()) - 0.8) < 0.03


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(size=0), "size must be an integer >= 1"),
        (dict(scale=(0.0, 0.0)), "scale must be 2 numbers with 0 <= min <= max <= 1, max > 0"),
        (dict(scale=(0.1, 1.5)), "scale must be 2 numbers"),
        (dict(ratio=(2.0, 1.0)), "ratio must be 2 numbers with 0 < min <= max"),
        (dict(ratio=3), "ratio must be 2 numbers"),
        (dict(flip_p=1.5), "flip_p"),
        (dict(jitter_p=-0.1), "jitter_p"),
        (dict(grayscale_p=2), "grayscale_p"),
        (dict(jitter=(1.2, 0, 0, 0)), "jitter must be 4 numbers with brightness"),
        (dict(jitter=(0.4, 0.4)), "jitter must be 4 numbers"),
        (dict(mean=(0.5, 0.5, 0.5)), "mean and std must both be given"),
    ],
)
def test_contrastive_augment_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ssl.ContrastiveAugment(**kwargs)


def test_augment_helpers_reject_bad_input_and_resize_keeps_constants():
    aug = ssl.ContrastiveAugment(size=None, mean=(0.5,), std=(0.2,))
    with pytest.raises(ValueError, match="mean and std must have one value per channel"):
        aug(_images(2, 3, 8), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="images must be a 4-D uint8"):
        ssl.resize_images(torch.zeros(2, 3, 8, 8), 4)
    with pytest.raises(ValueError, match="size must be an integer >= 1; got 0"):
        ssl.resize_images(_images(2, 3, 8), 0)
    const = torch.full((2, 3, 8, 8), 77, dtype=torch.uint8)
    small = ssl.resize_images(const, 4)
    assert small.shape == (2, 3, 4, 4) and small.dtype == torch.uint8 and bool((small == 77).all())


def test_sdclr_masks_are_recomputed_from_the_current_weights_each_epoch():
    data = _tiny_dataset()
    weights, masks = [], []

    class Snapshot(ssl.SDCLR):
        def on_epoch(self, net, epoch):  # the weights at each epoch start, then the masks computed from them
            weights.append({k: v.detach().clone() for k, v in net.named_parameters()
                            if k.endswith(("conv_a.weight", "conv_b.weight"))})
            super().on_epoch(net, epoch)
            masks.append({k: v.clone() for k, v in self.masks.items()})

    torch.manual_seed(0)
    h = ssl.pretrain(_TwoConv(), data, Snapshot(prune_ratio=0.3), epochs=3, batch_size=8, warmup_epochs=0, proj_dim=8,
                     device="cpu", progress=False)
    assert len(weights) == len(masks) == 3
    n = sum(m.numel() for m in masks[0].values())
    assert h.method.sparsity == [math.ceil(0.3 * n) / n] * 3  # ceil(p N) / N, not p: 0.3 N is not a whole number
    for w, m in zip(weights, masks):
        flat = np.concatenate([w[k].abs().flatten().numpy() for k in sorted(w)])
        threshold = np.sort(flat)[math.ceil(0.3 * flat.size) - 1]  # the largest pruned magnitude
        for k in w:
            assert torch.equal(m[k], (w[k].abs() > threshold).float())
    assert any(not torch.equal(masks[0][k], masks[-1][k]) for k in masks[0])


def test_pruning_sensitivity_is_zero_without_pruning_and_positive_with_it():
    data = _tiny_dataset()
    torch.manual_seed(0)
    model = ssl.SimCLRNet(_TwoConv(), proj_dim=4)
    none = ssl.pruning_sensitivity(model, data, ratio=0.0, batch_size=8)
    assert float(none["output_change"].abs().max()) < 1e-6
    some = ssl.pruning_sensitivity(model, data, ratio=0.9, batch_size=8)
    # An untrained net in eval mode moves little, but every image moves.
    assert float(some["output_change"].min()) > 1e-5 and torch.equal(some["labels"], data.labels)
    with pytest.raises(ValueError, match="batch_size"):
        ssl.pruning_sensitivity(model, data, batch_size=0)


def test_sdclr_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="model must contain convolution layers"):
        ssl.magnitude_prune_masks(nn.Linear(3, 2), 0.5)
    model = ssl.SimCLRNet(_TwoConv(), proj_dim=4)
    with pytest.raises(ValueError, match="masks must be keyed by the model's parameter names"):
        ssl.pruned_forward(model, torch.randn(2, 3, 6, 6), {"nope.weight": torch.ones(1)})
    with pytest.raises(ValueError, match="encoder must define forward_features"):
        ssl.SimCLRNet(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="prune_ratio"):
        ssl.SDCLR(prune_ratio=1.0)


def test_bcl_strength_formulas_state_and_errors():
    from ltutorial.ssl.bcl import augmentation_strength

    m = torch.tensor([0.0, 0.25, 1.0])
    assert torch.allclose(augmentation_strength(m, 1), torch.tensor([10.0, 15.0, 30.0]))
    u = torch.rand(3, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(augmentation_strength(m, 2, torch.Generator().manual_seed(2)), 5 + 25 * m * u)
    state = ssl.BCL()
    state.setup(None, 3, 1, "cpu")
    state.on_epoch_end(None, 0)  # before any sample was seen: every score stays 0
    assert state.scores.tolist() == [0.0, 0.0, 0.0] and len(state.score_history) == 1
    state.setup(None, 3, 1, "cpu")
    state.ema[[0, 2]], state.seen[[0, 2]] = torch.tensor([1.0, 3.0]), True
    state.on_epoch_end(None, 0)  # sample 1 unseen: score 0, as before BCL's first update
    assert state.scores.tolist() == [0.0, 0.0, 1.0] and len(state.score_history) == 1
    assert ssl.BCL().k == 1 and ssl.BCL(ssl.SDCLR()).k == 2  # BCL-I and BCL-D
    with pytest.raises(ValueError, match="ema_losses must be a non-empty 1-D"):
        ssl.memorization_score(torch.ones(2, 2))
    with pytest.raises(ValueError, match="ema_losses must be finite"):
        ssl.memorization_score(torch.tensor([1.0, float("nan")]))
    for kwargs, match in [(dict(beta=-1), "beta"), (dict(beta=1.5), "beta"), (dict(k=0), "k must be an integer")]:
        with pytest.raises(ValueError, match=match):
            ssl.BCL(**kwargs)


def test_boosted_randaugment_rejects_bad_input():
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match="x must be a float tensor"):
        ssl.boosted_randaugment(x.to(torch.uint8), torch.zeros(4))
    with pytest.raises(ValueError, match="scores must be 4 memorization scores in"):
        ssl.boosted_randaugment(x, torch.zeros(3))
    with pytest.raises(ValueError, match="scores must be 4 memorization scores in"):
        ssl.boosted_randaugment(x, torch.full((4,), 1.5))
    with pytest.raises(ValueError, match="k must be an integer"):
        ssl.boosted_randaugment(x, torch.zeros(4), k=0)


def _sinkhorn_numpy(t, prior, eps, iters):
    p = np.exp(t / eps)
    n = t.shape[0]
    b = np.ones(t.shape[1])
    for _ in range(iters):
        a = 1.0 / (p @ b)  # rows sum to 1
        b = n * prior / (p.T @ a)  # columns sum to N * prior
    a = 1.0 / (p @ b)
    return a[:, None] * p * b[None, :]


def _geometric_logits_numpy(z, etf):
    t = z.detach().double().numpy() @ etf.double().numpy().T
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def _gh_term_numpy(n1, n2, prior, temperature, eps, iters):
    """L_GH in float64 from the two views' geometric logits: Sinkhorn labels, then the swapped cross-entropies."""
    def log_softmax(v):
        v = v - v.max(1, keepdims=True)
        return v - np.log(np.exp(v).sum(1, keepdims=True))

    q1, q2 = _sinkhorn_numpy(n1, prior, eps, iters), _sinkhorn_numpy(n2, prior, eps, iters)
    return -np.mean((q1 * log_softmax(n2 / temperature)).sum(1) + (q2 * log_softmax(n1 / temperature)).sum(1))


def test_gh_loss_matches_the_swapped_prediction_formula():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    etf = ssl.simplex_etf(4, 5, seed=1)
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    t1, t2 = ssl.gh.geometric_logits(z1, etf), ssl.gh.geometric_logits(z2, etf)
    loss = ssl.gh_loss(t1, t2, torch.tensor(prior), temperature=0.1, epsilon=0.5, iterations=2000)
    n1, n2 = _geometric_logits_numpy(z1, etf), _geometric_logits_numpy(z2, etf)
    assert float(loss) == pytest.approx(_gh_term_numpy(n1, n2, prior, 0.1, 0.5, 2000), rel=1e-4)
    assert np.allclose(t1.numpy(), n1, atol=1e-5) and np.allclose(t2.numpy(), n2, atol=1e-5)
    assert np.allclose(_sinkhorn_numpy(n1, prior, 0.5, 2000).sum(0), 6 * prior, atol=1e-6)  # the reference's marginals


@pytest.mark.parametrize("k", [4, 10])
def test_gh_term_is_2_log_k_for_uniform_predictions(k):
    """Notebook 12's sentence: with uniform geometric predictions and a uniform prior, L_GH = 2 log K."""
    from ltutorial.ssl.gh import gh_loss

    zeros, prior = torch.zeros(6, k), torch.full((k,), 1.0 / k)
    assert float(gh_loss(zeros, zeros, prior, 0.1, 0.05, 10)) == pytest.approx(2 * math.log(k), rel=1e-6)


@pytest.mark.parametrize("base", ["simclr", "sdclr"])
def test_gh_loss_is_the_base_loss_plus_the_weighted_gh_term(base):
    # L = L_base + w(epoch) L_GH on one batch: w = 0 before start_epoch, then 0.5 and 1 (ramp of 2 epochs);
    # L_GH by hand in float64 from the base's own projections z1, z2, the ETF and a set prior.
    torch.manual_seed(0)
    net, x, idx = ssl.SimCLRNet(_TwoConv(), proj_dim=5), torch.randn(12, 3, 6, 6), torch.arange(6)
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    method = ssl.GH({"simclr": ssl.SimCLR(), "sdclr": ssl.SDCLR(prune_ratio=0.5)}[base],
                    ssl.GHConfig(num_vertices=4, start_epoch=1, ramp_epochs=2, epsilon=0.5, iterations=2000))
    method.setup(net, 6, 3, "cpu")
    for epoch, w in enumerate((0.0, 0.5, 1.0)):
        method.on_epoch(net, epoch)
        method.prior = torch.tensor(prior)
        loss, z1, z2, _ = method.loss(net, x, idx)
        base_loss, b1, b2, _ = method.base.loss(net, x, idx)
        assert torch.equal(z1, b1) and torch.equal(z2, b2)
        n1, n2 = _geometric_logits_numpy(z1, method.etf), _geometric_logits_numpy(z2, method.etf)
        term = _gh_term_numpy(n1, n2, prior, 0.1, 0.5, 2000)
        assert method.w == w and term > 0.1
        if w == 0:
            assert torch.equal(loss, base_loss)
        else:
            assert float((loss - base_loss).detach()) == pytest.approx(w * term, rel=1e-4)


def test_gh_state_prior_floor_ema_and_refresh_schedule():
    cfg = ssl.GHConfig(num_vertices=3, start_epoch=2, refresh_every=3, floor=1.0, ema_beta_warmup=0.9, ema_beta=0.999)
    state = ssl.GH(config=cfg)
    state.setup(ssl.SimCLRNet(_TwoConv(), proj_dim=4), 5, 10, "cpu")
    assert torch.allclose(state.prior, torch.full((3,), 1 / 3))
    t = torch.tensor([[1.0, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]])
    idx = torch.arange(5)
    # issue 13: the EMA starts from each image's first logits as they are (official), not from 0.1 of them
    state.update(idx[:3], t[:3], epoch=0)
    assert torch.equal(state.ema[:3], t[:3]) and torch.equal(state.ema[3:], torch.zeros(2, 3))
    state.update(idx[3:], t[3:], epoch=0)  # another batch of the same epoch: also its first update
    assert torch.equal(state.ema, t)
    t2 = torch.tensor([[0.0, 0, 1]] * 5)
    state.update(idx, t2, epoch=1)  # warm-up: beta 0.9
    assert torch.allclose(state.ema, 0.9 * t + 0.1 * t2)
    state.update(idx, t, epoch=2)  # from start_epoch: beta 0.999
    assert torch.allclose(state.ema, 0.999 * (0.9 * t + 0.1 * t2) + 0.001 * t)
    # Counts (3, 2, 0) plus the floor 1 each: vertex 2 keeps a positive share.
    assert torch.allclose(state.estimate_prior(), torch.tensor([4 / 8, 3 / 8, 1 / 8]))
    for e in range(10):
        state.on_epoch(None, e)
    assert [e for e, _ in state.prior_history] == [2, 5, 8]
    assert [state.weight(e) for e in (1, 2, 11, 12)] == [0.0, 0.1, 1.0, 1.0]  # ramp_epochs 10


def test_gh_prior_counts_only_the_images_seen():
    # start_epoch 0 estimates pi before any step: uniform, not every (all-zero) row voting for vertex 0
    state = ssl.GH(config=ssl.GHConfig(num_vertices=4, start_epoch=0))
    state.setup(ssl.SimCLRNet(_TwoConv(), proj_dim=4), 6, 3, "cpu")
    state.on_epoch(None, 0)
    assert torch.allclose(state.prior_history[0][1], torch.full((4,), 0.25))
    state.update(torch.tensor([1, 4]), torch.tensor([[0.0, 0, 1, 0], [0, 0, 1, 0]]), epoch=0)
    assert torch.allclose(state.estimate_prior(), torch.tensor([1, 1, 3, 1]) / 6)  # 2 seen, floor 1 each


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(floor=0.0), "floor"),
        (dict(temperature=0), "temperature"),
        (dict(epsilon=-1), "epsilon"),
        (dict(iterations=0), "iterations"),
        (dict(refresh_every=0), "refresh_every"),
        (dict(ema_beta=1.5), "ema_beta"),
        (dict(num_vertices=1), "num_vertices"),
        (dict(ramp_epochs=-1), "ramp_epochs"),
        (dict(start_epoch=-2), "start_epoch"),
    ],
)
def test_gh_config_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ssl.GHConfig(**kwargs)


def test_sinkhorn_rejects_bad_input():
    with pytest.raises(ValueError, match="scores must be a 2-D tensor"):
        ssl.sinkhorn(torch.zeros(4), torch.full((4,), 0.25))
    with pytest.raises(ValueError, match="epsilon"):
        ssl.sinkhorn(torch.zeros(4, 2), [0.5, 0.5], epsilon=0)
    with pytest.raises(ValueError, match="iterations"):
        ssl.sinkhorn(torch.zeros(4, 2), [0.5, 0.5], iterations=0)


def test_ssl_subsets_counts_and_errors():
    labels = torch.arange(5_000) % 10
    s = ssl.ssl_subsets(labels, seed=3)
    expected = [int(450 * 0.01 ** (c / 9)) for c in range(10)]  # pool 450 per class after 50 held out
    assert s["class_counts"].tolist() == expected
    assert torch.equal(torch.bincount(labels[s["imbalanced"]], minlength=10), s["class_counts"])
    with pytest.raises(ValueError, match="labels must be non-empty and contain every class"):
        ssl.ssl_subsets(torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be non-empty and contain every class"):
        ssl.ssl_subsets(torch.tensor([0, 0, 2, 2]))
    with pytest.raises(ValueError, match="val_per_class must leave images"):
        ssl.ssl_subsets(labels, val_per_class=500)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=1), "batch_size"),
        (dict(warmup_epochs=3), "warmup_epochs must be <= epochs"),
        (dict(min_lr=1.0), "min_lr must be <= lr"),
        (dict(method=ssl.GHConfig()), "method must be a method object"),
        (dict(seed=-1), "seed"),
    ],
)
def test_pretrain_rejects_bad_settings(kwargs, match):
    kw = dict(epochs=2, batch_size=8, warmup_epochs=0, device="cpu", progress=False)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ssl.pretrain(_TwoConv(), _tiny_dataset(), **kw)


@pytest.mark.parametrize("name", ["lr", "weight_decay", "min_lr", "temperature", "momentum"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -0.5])
def test_pretrain_refuses_non_finite_or_negative_rates(name, value):
    # NaN/inf used to train to NaN weights and return them (issue 13); now refused before training.
    strict = name in ("lr", "temperature")
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number {'>' if strict else '>='} 0; got "):
        if name == "temperature":
            ssl.SimCLR(temperature=value)
        else:
            ssl.PretrainConfig(epochs=1, warmup_epochs=0, **{name: value})


def test_pretrain_refuses_zero_lr_and_temperature_but_not_zero_decay():
    kw = dict(epochs=1, batch_size=8, warmup_epochs=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="^lr must be a finite number > 0; got 0 instead"):
        ssl.pretrain(_TwoConv(), _tiny_dataset(), lr=0, **kw)
    for method in (ssl.SimCLR, ssl.SDCLR):
        with pytest.raises(ValueError, match="^temperature must be a finite number > 0; got 0 instead"):
            method(temperature=0)
    h = ssl.pretrain(_TwoConv(), _tiny_dataset(), weight_decay=0, min_lr=0.0, momentum=0, **kw)
    assert all(np.isfinite(h.train_loss))


def test_pretrain_rejects_bad_encoder_and_data():
    with pytest.raises(ValueError, match="encoder must define forward_features"):
        ssl.pretrain(3, _tiny_dataset(), epochs=1, warmup_epochs=0, device="cpu")
    with pytest.raises(ValueError, match="data must hold at least 2 images"):
        ssl.pretrain(_TwoConv(), _tiny_dataset(n=1), epochs=1, warmup_epochs=0, device="cpu")


def test_linear_probe_groups_follow_pretraining_counts_and_errors():
    data = _tiny_dataset()
    torch.manual_seed(0)
    enc = _TwoConv()
    # Class 1 has the most pre-training images, class 0 the fewest: many = 1, medium = 2, few = 0.
    res = ssl.linear_probe(enc, data, data, group_counts=[1, 10, 5], epochs=5)
    per = res["per_class_accuracy"]
    assert (res["many"], res["medium"], res["few"]) == (pytest.approx(per[1]), pytest.approx(per[2]), pytest.approx(per[0]))
    assert res["accuracy"] == pytest.approx(float(np.mean(per)))  # balanced test set: 8 images per class
    with pytest.raises(ValueError, match="group_counts must have one entry per class"):
        ssl.linear_probe(enc, data, data, group_counts=[3, 2])
    with pytest.raises(ValueError, match="encoder must be pretrain.s History"):
        ssl.linear_probe(nn.Linear(2, 2), data, data, group_counts=[3, 2, 1])


@pytest.mark.parametrize("kwargs, match", [(dict(seed=None), "^seed must be an integer >= 0"),
                                           (dict(seed=-1), "^seed must be an integer >= 0"),
                                           (dict(n_train=1), "^train must hold at least 2 images")])
def test_linear_probe_names_a_bad_seed_or_too_small_train(kwargs, match):
    # both failed inside torch before (manual_seed(None); a size mismatch of an empty probe set's features)
    data, enc = _tiny_dataset(), _TwoConv()
    train = data.subset(torch.arange(kwargs.pop("n_train", len(data))))
    with pytest.raises(ValueError, match=match):
        ssl.linear_probe(enc, train, data, group_counts=[3, 2, 1], epochs=1, **kwargs)



def test_a_reused_method_object_leaves_the_first_history_as_it_was():
    # the History held the method object itself: a second pretrain with it re-ran setup() and rewrote the first
    # run's scores and EMA (2 epochs of 16 images became 3 epochs of 24)
    method = ssl.BCL(ssl.SDCLR(0.5))
    kw = dict(batch_size=8, warmup_epochs=0, proj_dim=8, device="cpu", progress=False)
    first = ssl.pretrain(_TwoConv(), _tiny_dataset(), method, epochs=2, **kw)
    ssl.pretrain(_TwoConv(), _tiny_dataset().subset(torch.arange(16)), method, epochs=3, **kw)
    n = len(_tiny_dataset())
    assert len(first.method.score_history) == 2 and first.method.ema.numel() == n and len(method.score_history) == 3
    assert first.method.base is not method.base and len(first.method.base.sparsity) == 2


@pytest.mark.parametrize("bad", [ssl.SimCLR, ssl.SDCLR, "simclr"])
def test_a_method_class_or_name_is_refused_with_the_argument_named(bad):
    with pytest.raises(ValueError, match="^method must be a method object"):
        ssl.pretrain(_TwoConv(), _tiny_dataset(), bad, epochs=1)
    for wrapper in (ssl.BCL, ssl.GH):  # GH failed later inside pretrain with a TypeError / AttributeError
        with pytest.raises(ValueError, match="^base must be a method object"):
            wrapper(bad)


def test_nt_xent_keeps_float64():
    z1, z2 = (torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(s)) for s in (0, 1))
    assert ssl.nt_xent(z1, z2).dtype == torch.float64 and ssl.nt_xent(z1.float(), z2.float()).dtype == torch.float32
    assert torch.autograd.gradcheck(lambda a, b: ssl.nt_xent(a, b), (z1.requires_grad_(), z2.requires_grad_()))


def test_boosted_randaugment_refuses_pixels_outside_0_1():
    # a 0..255 float batch (the /255 forgotten) was accepted and clamped mostly to white
    x = torch.randint(0, 256, (4, 3, 8, 8), generator=torch.Generator().manual_seed(0)).float()
    with pytest.raises(ValueError, match=r"^x must hold values in \[0, 1\] \(divide uint8 images by 255\); got values "
                                         r"from 0 to 255"):
        ssl.boosted_randaugment(x, torch.ones(4))
    assert ssl.boosted_randaugment(x / 255, torch.ones(4), generator=torch.Generator().manual_seed(0)).shape == x.shape
