"""``digits-lt``: a long-tailed image set built from scikit-learn's bundled digits, fully offline.

scikit-learn ships 1,797 handwritten digits (8x8, values 0..16, 174 to 183 per class), so every
notebook can run without CIFAR-10 and without network access. Construction, for a given seed:

1. a balanced test set of ``test_per_class`` = 50 images per class (500 in all) is drawn first;
2. the long-tailed train set comes from the remaining 1,297 images with ``longtail_indices``,
   ``n_max`` = the smallest remaining class count (124), so every class can supply its n_i.
   With rho = 100 and the exp profile the counts are 124, 74, 44, 26, 16, 9, 5, 3, 2, 1 (304
   images); with rho = 10 they are 124, 96, 74, 57, 44, 34, 26, 20, 16, 12 (503 images).

Images are uint8 1 x 8 x 8, the 0..16 values scaled by 255/16 and rounded; ``augment`` is False
(random crops of an 8x8 digit destroy it). The fallback data set of every CIFAR notebook.
"""

from __future__ import annotations

import numpy as np
import torch

from ltutorial._validation import check_positive_int, make_generator
from ltutorial.data.images import ImageDataset, channel_mean_std
from ltutorial.data.longtail import longtail_indices

__all__ = ["load_digits_lt", "DIGITS_TEST_PER_CLASS"]

DIGITS_TEST_PER_CLASS = 50


def _digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    images = torch.from_numpy(pixels).unsqueeze(1)  # N x 1 x 8 x 8
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return images, labels


def balanced_split(labels: torch.Tensor, per_class: int, seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out, rest) index tensors: ``per_class`` random samples of every class, seeded; both sorted."""
    num_classes = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=num_classes)
    if int(counts.min()) <= per_class:
        raise ValueError(f"test_per_class must be below the smallest class count ({int(counts.min())}); got {per_class} instead.")
    generator = make_generator(seed, name="seed")
    held = []
    for c in range(num_classes):
        idx_c = torch.nonzero(labels == c).flatten()
        held.append(idx_c[torch.randperm(idx_c.numel(), generator=generator)[:per_class]])
    held_idx = torch.sort(torch.cat(held)).values
    mask = torch.ones(labels.numel(), dtype=torch.bool)
    mask[held_idx] = False
    return held_idx, torch.nonzero(mask).flatten()


def load_digits_lt(
    imbalance_ratio: float = 100,
    profile: str = "exp",
    seed: int | None = 0,
    test_per_class: int = DIGITS_TEST_PER_CLASS,
) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) of digits-lt: long-tailed train, balanced test of ``test_per_class`` per class.

    The same ``seed`` draws the test set and then the long-tailed subset of the rest.
    mean/std come from all non-test images (the balanced pool), as CIFAR's come from its full
    train split. Used by every CIFAR notebook when CIFAR-10 is absent (notebook 01 onward).
    """
    test_per_class = check_positive_int(test_per_class, name="test_per_class")
    images, labels = _digits_tensors()
    test_idx, pool_idx = balanced_split(labels, test_per_class, seed)
    pool_labels = labels[pool_idx]
    keep = longtail_indices(pool_labels, imbalance_ratio, profile, seed=seed, num_classes=10)
    train_idx = pool_idx[keep]
    mean, std = channel_mean_std(images[pool_idx])
    classes = [str(d) for d in range(10)]
    source = "scikit-learn digits (sklearn.datasets.load_digits, 1,797 8x8 images, bundled)"
    common = dict(classes=classes, name="digits-lt", source=source, mean=mean, std=std, augment=False)
    train = ImageDataset(images[train_idx].contiguous(), labels[train_idx].contiguous(), **common)
    test = ImageDataset(images[test_idx].contiguous(), labels[test_idx].contiguous(), **common)
    return train, test
