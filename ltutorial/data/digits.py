"""``digits-lt``, the offline fallback of every CIFAR notebook: scikit-learn's 8x8 digits (x 255/16), 50 test
images per class, train = ``longtail_indices`` of the other 1,297 (rho = 100: 124, 74, ..., 1); no crop + flip."""

from __future__ import annotations

import numpy as np
import torch

from ltutorial._validation import make_generator
from ltutorial.data.images import ImageDataset, channel_mean_std
from ltutorial.data.longtail import longtail_indices

__all__ = ["load_digits_lt", "DIGITS_TEST_PER_CLASS"]

DIGITS_TEST_PER_CLASS = 50


def load_digits_lt(imbalance_ratio: float = 100, profile: str = "exp", seed: int | None = 0):
    """(train, test) ``ImageDataset``s drawn with ``seed``; mean/std of the balanced non-test pool, as CIFAR's."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    test_idx, pool_idx = balanced_split(labels, DIGITS_TEST_PER_CLASS, seed)
    train_idx = pool_idx[longtail_indices(labels[pool_idx], imbalance_ratio, profile, seed=seed, num_classes=10)]
    mean, std = channel_mean_std(images[pool_idx])
    source = "scikit-learn digits (sklearn.datasets.load_digits, 1,797 8x8 images, bundled)"
    common = dict(classes=[str(d) for d in range(10)], name="digits-lt", source=source, mean=mean, std=std)
    return tuple(ImageDataset(images[i].contiguous(), labels[i].contiguous(), **common) for i in (train_idx, test_idx))


def balanced_split(labels: torch.Tensor, per_class: int, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out, rest) sorted index tensors: ``per_class`` seeded random samples of every class are held out."""
    generator, held = make_generator(seed, name="seed"), torch.zeros(labels.numel(), dtype=torch.bool)
    for c in range(int(labels.max()) + 1):
        idx_c = torch.nonzero(labels == c).flatten()
        held[idx_c[torch.randperm(idx_c.numel(), generator=generator)[:per_class]]] = True
    return torch.nonzero(held).flatten(), torch.nonzero(~held).flatten()
