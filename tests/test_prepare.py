"""ltutorial.data.prepare: stratified subsets, area downsampling and the notebooks' data step."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ltutorial as lt
from ltutorial.data import ImageDataset, downsample, prepare_experiment, stratified_subset
from ltutorial.data import cifar as C


def _longtail_labels():
    # 10 classes with 500, 250, ..., 5 samples (ratio 100), shuffled so classes interleave.
    counts = torch.as_tensor(lt.data.longtail_counts(500, 10, 100))
    labels = torch.repeat_interleave(torch.arange(10), counts)
    return labels[torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(1))], counts


# ---------------------------------------------------------------- stratified_subset
def test_subset_keeps_each_class_share_floor_and_at_least_one():
    labels, counts = _longtail_labels()
    n, size = labels.numel(), 300
    idx = stratified_subset(labels, size, seed=0)
    got = torch.bincount(labels[idx], minlength=10)
    # k_c = max(1, floor(n_c * size / n)), computed here in exact integer arithmetic
    expected = torch.tensor([max(1, int(c) * size // n) for c in counts])
    assert torch.equal(got, expected)
    assert idx.unique().numel() == idx.numel() and bool((idx[1:] > idx[:-1]).all())  # sorted, no repeats
    shares_full = counts.double() / n
    shares_sub = got.double() / got.sum()
    assert float((shares_full - shares_sub).abs().max()) < 0.01


def test_subset_is_deterministic_per_seed_and_returns_all_when_large():
    labels, _ = _longtail_labels()
    a = stratified_subset(labels, 200, seed=3)
    assert torch.equal(a, stratified_subset(labels, 200, seed=3))
    assert not torch.equal(a, stratified_subset(labels, 200, seed=4))
    assert torch.equal(stratified_subset(labels, labels.numel(), seed=0), torch.arange(labels.numel()))
    assert torch.equal(stratified_subset(labels, 10**6, seed=0), torch.arange(labels.numel()))


def test_subset_is_the_first_k_of_each_class_in_the_seeded_permutation():
    # A plain per-class loop as the reference: walk torch.randperm(n) seeded with `seed` and keep
    # a sample while its class has fewer than k_c kept (the notebooks' subsets must not change).
    labels, counts = _longtail_labels()
    n, size, seed = labels.numel(), 250, 5
    keep = [max(1, int(c) * size // n) for c in counts]
    taken, chosen = [0] * 10, []
    for i in torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist():
        c = int(labels[i])
        if taken[c] < keep[c]:
            taken[c] += 1
            chosen.append(i)
    assert stratified_subset(labels, size, seed=seed).tolist() == sorted(chosen)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: stratified_subset(torch.tensor([[0, 1]]), 1), r"labels must be 1-D; got shape \(1, 2\)"),
        (lambda: stratified_subset(torch.tensor([0.5, 1.0]), 1), "labels must hold integer class indices"),
        (lambda: stratified_subset(torch.tensor([0, -1]), 1), "labels must be >= 0"),
        (lambda: stratified_subset(torch.tensor([0, 1]), 0), "max_size must be an integer >= 1"),
        (lambda: stratified_subset(torch.tensor([0, 1]), 1, seed=-1), "seed must be"),
        (lambda: stratified_subset(torch.tensor([0, 1]), 1, seed=None), "seed must be a non-negative integer"),
    ],
)
def test_subset_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- downsample
def _images(n=3, c=3, side=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, side, side), generator=g, dtype=torch.int64).to(torch.uint8)
    return ImageDataset(x, torch.arange(n) % 2, ["a", "b"], name="toy")


def test_downsample_is_the_rounded_2x2_block_mean():
    data = _images()
    small = downsample(data, 16)
    assert small.images.dtype == torch.uint8 and small.images.shape == (3, 3, 16, 16)
    x = data.images.double()
    block = (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) / 4
    # round half to even, as torch.round does; the block mean is a multiple of 0.25
    assert torch.equal(small.images, torch.round(block).to(torch.uint8))
    assert torch.equal(small.labels, data.labels) and small.classes == data.classes and small.name == "toy"
    assert data.images.shape[-1] == 32  # the input is not modified


def test_downsample_non_integer_factor_matches_adaptive_avg_pool():
    data = _images(side=10)
    small = downsample(data, 4)
    expected = F.adaptive_avg_pool2d(data.images.double(), 4).round().to(torch.uint8)
    assert torch.equal(small.images, expected)


def test_downsample_same_size_returns_input_and_larger_is_refused():
    data = _images(side=8)
    assert downsample(data, 8) is data
    with pytest.raises(ValueError, match=r"size must be at most the image size \(8, 8\).*got 16 instead"):
        downsample(data, 16)
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        downsample(data, 0)
    with pytest.raises(ValueError, match="data must be an ltutorial.data.ImageDataset"):
        downsample(data.images, 4)


# ---------------------------------------------------------------- prepare_experiment
def test_prepare_digits_subsets_with_the_seed_and_keeps_8x8(capsys):
    full_train, full_test = lt.data.load_dataset("digits-lt", seed=0)
    train, test = prepare_experiment("digits-lt", profile="cpu", seed=2, max_train=100, max_test=200)
    out = capsys.readouterr().out
    assert "kept at 8x8" in out and "ImageDataset(" in out
    assert torch.equal(train.images, full_train.subset(stratified_subset(full_train.labels, 100, seed=2)).images)
    assert torch.equal(test.labels, full_test.subset(stratified_subset(full_test.labels, 200, seed=2)).labels)
    assert train.images.shape[-2:] == (8, 8) and len(test) == 200  # balanced test: 20 per class
    assert torch.equal(test.class_counts, torch.full((10,), 20))
    again, _ = prepare_experiment("digits-lt", profile="cpu", seed=2, max_train=100, max_test=200, verbose=False)
    # verbose=False hides the datasets' summary, not that the images stay smaller than asked (notebooks 06-09)
    assert torch.equal(again.images, train.images)
    assert capsys.readouterr().out == "digits-lt images are 8x8, smaller than image_size=16: kept at 8x8.\n"


def test_prepare_digits_profile_sizes_are_larger_than_the_data(capsys):
    # smoke asks for 3000 / 1000 images at 16x16: digits-lt is smaller on every count, so it comes back whole.
    full_train, full_test = lt.data.load_dataset("digits-lt", seed=0)
    train, test = prepare_experiment("digits-lt", profile="smoke", seed=0, verbose=False)
    assert torch.equal(train.images, full_train.images) and torch.equal(test.labels, full_test.labels)
    assert {p: lt.profiles.SIZES[p]["data"]["max_test"] for p in lt.PROFILES} == {"smoke": 1000, "cpu": 2000,
                                                                                   "full": None}


def _write_tiny_cifar10(dst: Path, per_batch=40, n_test=60):
    """The official pickle layout with random pixels: 200 train and 60 test images, classes cycling."""
    dst.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if batch == "test_batch" else per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(dst / batch, "wb") as fh:
            pickle.dump({"labels": [int(v) for v in np.arange(n) % 10], "data": data}, fh, protocol=2)
    with open(dst / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, fh, protocol=2)


def test_prepare_tiny_cifar_subsets_then_downsamples(tmp_path, monkeypatch):
    monkeypatch.setenv("LTUTORIAL_CACHE", str(tmp_path / "cache"))
    _write_tiny_cifar10(tmp_path / "cifar-10-batches-py")
    full_train, full_test = lt.data.load_dataset("cifar10-lt", root=tmp_path, imbalance_ratio=10)
    train, test = prepare_experiment("cifar10-lt", profile="cpu", seed=1, root=tmp_path, imbalance_ratio=10,
                                     max_train=40, max_test=30, verbose=False)
    sub_train = full_train.subset(stratified_subset(full_train.labels, 40, seed=1))
    sub_test = full_test.subset(stratified_subset(full_test.labels, 30, seed=1))
    assert train.images.shape[1:] == (3, 16, 16) and test.images.shape[1:] == (3, 16, 16)  # the cpu profile's 16x16
    assert torch.equal(train.images, downsample(sub_train, 16).images)
    assert torch.equal(test.labels, sub_test.labels) and torch.equal(test.class_counts, torch.full((10,), 3))
    # an explicit image_size overrides the profile; 32 keeps the originals
    big, _ = prepare_experiment("cifar10-lt", profile="cpu", seed=1, root=tmp_path, imbalance_ratio=10,
                                max_train=40, max_test=30, image_size=32, verbose=False)
    assert torch.equal(big.images, sub_train.images)


def _real_cifar_root():
    for candidate in (os.environ.get("LTUTORIAL_DATA"), "/work/shared/data"):
        if candidate and C.locate_cifar(candidate, "cifar10") is not None:
            return candidate
    return None


@pytest.mark.skipif(_real_cifar_root() is None, reason="CIFAR-10 not found (LTUTORIAL_DATA)")
def test_prepare_real_cifar10_smoke_profile():
    train, test = prepare_experiment("cifar10-lt", profile="smoke", seed=0, root=_real_cifar_root(), verbose=False)
    counts = train.class_counts
    # CIFAR-10-LT (ratio 100) has 12,406 images; a stratified 3000 keeps the 100:1 shape (floored shares)
    assert 2990 <= len(train) <= 3000 and int(counts[0]) == 5000 * 3000 // 12406 and int(counts[-1]) >= 12
    assert len(test) == 1000 and torch.equal(test.class_counts, torch.full((10,), 100))
    assert train.images.shape[1:] == (3, 16, 16) and train.images.dtype == torch.uint8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(profile="laptop"), r"profile must be one of \['smoke', 'cpu', 'full'\]; got 'laptop'"),
        (dict(profile="cpu", max_train=0), "max_train must be an integer >= 1"),
        (dict(profile="cpu", max_test=2.5), "max_test must be an integer >= 1"),
        (dict(profile="cpu", image_size=-4), "image_size must be an integer >= 1"),
        (dict(profile="cpu", seed=None), "seed must be a non-negative integer"),
        (dict(profile="cpu", verbose="yes"), "verbose must be True or False"),
    ],
)
def test_prepare_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prepare_experiment("digits-lt", **kwargs)


def test_prepare_unknown_dataset_lists_the_names():
    with pytest.raises(ValueError, match="name must be one of .*digits-lt"):
        prepare_experiment("mnist-lt", profile="cpu")
