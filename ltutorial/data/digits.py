"""``digits-lt``: a long-tailed image set from scikit-learn's bundled 8x8 digits, fully offline.

50 images per class form a balanced test set; the long-tailed train set is ``longtail_indices`` of the other
1,297 with n_max = 124 (rho = 100, exp: 124, 74, 44, 26, 16, 9, 5, 3, 2, 1). Pixels 0..16 are scaled by 255/16;
``augment`` is False (random crops destroy an 8x8 digit). The fallback of every CIFAR notebook.
"""

from __future__ import annotations

import numpy as np
import torch

from ltutorial._validation import make_generator
from ltutorial.data.images import ImageDataset, channel_mean_std
from ltutorial.data.longtail import longtail_indices

__all__ = ["load_digits_lt", "DIGITS_TEST_PER_CLASS"]

DIGITS_TEST_PER_CLASS = 50


def load_digits_lt(imbalance_ratio: float = 100, profile: str = "exp", seed: int | None = 0):
    """(train, test) ``ImageDataset``s: long-tailed train, 50 test images per class, both drawn with ``seed``.

    mean/std come from all non-test images (the balanced pool), as CIFAR's from its full train split.
    """
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
    counts = torch.bincount(labels)
    if int(counts.min()) <= per_class:
        raise ValueError(f"test_per_class must be below the smallest class count ({int(counts.min())}); got "
                         f"{per_class} instead.")
    generator = make_generator(seed, name="seed")
    held = []
    for c in range(counts.numel()):
        idx_c = torch.nonzero(labels == c).flatten()
        held.append(idx_c[torch.randperm(idx_c.numel(), generator=generator)[:per_class]])
    held_idx = torch.sort(torch.cat(held)).values
    mask = torch.ones(labels.numel(), dtype=torch.bool)
    mask[held_idx] = False
    return held_idx, torch.nonzero(mask).flatten()
