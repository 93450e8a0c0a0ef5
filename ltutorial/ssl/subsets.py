"""The pre-training subsets of SDCLR / BCL: a long-tailed D_i and a balanced D_b of about the same size.

SDCLR's splits (Jiang et al., ICML 2021, Table 1), per class from one random permutation: the first
``val_per_class`` held out (500); of the rest (the pool), D_i takes the first n_c = floor(n_max
rho^(-c/(C-1))) (11,165 images on CIFAR-10), D_b the first floor(|D_i| / C) = 1,116, S_b the first 1%
(so S_b lies in both). Notebooks 10-12.
"""

from __future__ import annotations

import dataclasses

import torch

from ltutorial._validation import check_imbalance_ratio, check_labels, check_positive_int, make_generator
from ltutorial.data import load_dataset
from ltutorial.data.large_lt import refuse_large_lt
from ltutorial.data.longtail import longtail_counts
from ltutorial.ssl.augment import resize_images

__all__ = ["ssl_subsets", "load_ssl_data"]


def ssl_subsets(labels, *, imbalance_ratio: float = 100, n_max: int | None = None, val_per_class: int | None = None,
                seed: int = 0) -> dict:
    """Sorted int64 index tensors ``imbalanced`` (D_i), ``balanced`` (D_b), ``few_shot`` (S_b), ``val``,
    plus D_i's ``class_counts`` and ``balanced_per_class``, from balanced training ``labels``.
    ``val_per_class`` defaults to 10% of the smallest class, ``n_max`` to the pool per class."""
    y = check_labels(labels).cpu()
    if y.numel() == 0:
        raise ValueError("labels must be non-empty; got 0 labels instead.")
    num_classes = int(y.max()) + 1
    ratio = check_imbalance_ratio(imbalance_ratio)
    available = torch.bincount(y, minlength=num_classes)
    smallest = int(available.min())
    if smallest == 0:
        raise ValueError(f"labels must contain every class 0..{num_classes - 1}; got an empty class instead.")
    if val_per_class is None:
        val_per_class = smallest // 10
    val_per_class = check_positive_int(val_per_class, name="val_per_class", minimum=0)
    pool = smallest - val_per_class
    if pool < 1:
        raise ValueError(f"val_per_class must leave images in the pool (< {smallest}); got {val_per_class} instead.")
    n_max = pool if n_max is None else check_positive_int(n_max, name="n_max")
    if n_max > pool:
        raise ValueError(f"n_max must be <= {pool} (the smallest class minus val_per_class); got {n_max} instead.")
    counts = longtail_counts(n_max, num_classes, ratio)
    per_class_b, few = sum(counts) // num_classes, max(1, n_max // 100)
    g = make_generator(seed, name="seed")
    class_counts = torch.tensor(counts, dtype=torch.int64)
    order = torch.sort(y, stable=True).indices
    starts = torch.cumsum(available, 0) - available
    parts = {"imbalanced": [], "balanced": [], "few_shot": [], "val": []}
    for c in range(num_classes):
        idx_c = order[int(starts[c]) : int(starts[c]) + int(available[c])]
        perm = idx_c[torch.randperm(idx_c.numel(), generator=g)]
        parts["val"].append(perm[:val_per_class])
        rest = perm[val_per_class:]
        parts["imbalanced"].append(rest[: int(class_counts[c])])
        parts["balanced"].append(rest[:per_class_b])
        parts["few_shot"].append(rest[:few])
    out = {k: torch.sort(torch.cat(v)).values for k, v in parts.items()}
    return {**out, "class_counts": class_counts, "balanced_per_class": per_class_b}


def load_ssl_data(dataset: str = "cifar10-lt", *, n_max: int | None = None, val_per_class: int | None = None,
                  image_size: int | None = None, test_per_class: int | None = None, imbalance_ratio: float = 100,
                  seed: int = 0, root=None) -> dict:
    """The balanced training split of ``dataset`` cut by :func:`ssl_subsets`: ``ImageDataset``s
    ``imbalanced``, ``balanced``, ``probe_train`` (the held-out ``val``: the probe's labelled set) and
    ``test`` (``test_per_class`` per class), resized to ``image_size``; plus ``class_counts``, ``subsets``."""
    refuse_large_lt(dataset, argument="dataset")  # issue 15: the large benchmarks are file-backed
    train, test = load_dataset(dataset, root=root, imbalance_ratio=1, seed=seed)
    sub = ssl_subsets(train.labels, imbalance_ratio=imbalance_ratio, n_max=n_max, val_per_class=val_per_class,
                      seed=seed)
    if image_size is not None:
        train, test = (dataclasses.replace(d, images=resize_images(d.images, image_size)) for d in (train, test))
    if test_per_class is not None:
        per, y = check_positive_int(test_per_class, name="test_per_class"), test.labels.cpu()
        keep = torch.cat([torch.nonzero(y == c).flatten()[:per] for c in range(test.num_classes)])
        test = test.subset(torch.sort(keep).values)
    return {"imbalanced": train.subset(sub["imbalanced"]), "balanced": train.subset(sub["balanced"]),
            "probe_train": train.subset(sub["val"]), "test": test, "class_counts": sub["class_counts"], "subsets": sub}
