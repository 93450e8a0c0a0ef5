"""The pre-training subsets of SDCLR / BCL: an imbalanced set D_i and a balanced D_b of the same size.

To ask "is self-supervised learning robust to imbalance?" (the slides' table, from SDCLR's
Table 1), the papers pre-train once on a long-tailed subset D_i and once on a balanced subset D_b
of (almost) the same size drawn from the same pool, then compare linear probes. Construction
(reconstructed from SDCLR's split files; ssl_lt.md section 1.1):

1. per class, one random permutation of that class's training indices;
2. the first ``val_per_class`` of each permutation are held out (SDCLR: 500 per class, the 5,000
   validation images); the rest is the pool (4,500 per class on CIFAR-10);
3. D_i takes the first n_c of class c's pool with n_c = floor(n_max * rho^(-c/(C-1))), n_max =
   the pool size per class, rho = 100: 4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45 =
   **11,165** images on CIFAR-10;
4. D_b takes the first floor(|D_i| / C) = 1,116 of every class = **11,160** images (the 5 lost
   to the floor are why the sizes differ);
5. the balanced few-shot set S_b takes the first 1% of the pool per class (45), so S_b lies in
   both D_i and D_b, and |D_i intersect D_b| = sum_c min(n_c, 1116) = 5,699.

Class c = 0 is the head unless ``shuffle_classes`` (SDCLR's splits assign counts to classes at
random). Notebooks 10-12.
"""

from __future__ import annotations

import math

import torch

from ltutorial._validation import check_imbalance_ratio, check_labels, check_positive_int, make_generator
from ltutorial.data.longtail import longtail_counts

__all__ = ["ssl_subsets", "load_ssl_data"]


def ssl_subsets(
    labels,
    *,
    imbalance_ratio: float = 100,
    n_max: int | None = None,
    val_per_class: int | None = None,
    few_shot_fraction: float = 0.01,
    shuffle_classes: bool = False,
    seed: int = 0,
) -> dict:
    """Index tensors of D_i (``"imbalanced"``), D_b (``"balanced"``), S_b (``"few_shot"``) and ``"val"``.

    ``labels`` are the balanced training labels (CIFAR-10: 5,000 per class). ``val_per_class``
    defaults to 10% of the smallest class (500 on CIFAR-10); ``n_max`` defaults to the pool size
    per class (4,500), and a smaller value gives a proportionally smaller pair of subsets for CPU
    runs. ``few_shot_fraction`` of n_max per class (at least 1) goes to S_b. Also returned:
    ``"class_counts"`` (D_i's per-class counts, the grouping key for many/medium/few) and
    ``"balanced_per_class"``. Same seed, same subsets. Indices are sorted int64 CPU tensors.
    Notebook 10.
    """
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
    if isinstance(few_shot_fraction, bool) or not (isinstance(few_shot_fraction, (int, float)) and 0 < few_shot_fraction <= 1):
        raise ValueError(f"few_shot_fraction must be in (0, 1]; got {few_shot_fraction!r} instead.")
    counts = longtail_counts(n_max, num_classes, ratio)
    total = sum(counts)
    per_class_b = total // num_classes
    few = max(1, int(math.floor(few_shot_fraction * n_max + 1e-9)))
    g = make_generator(seed, name="seed")
    class_of_rank = torch.randperm(num_classes, generator=g) if shuffle_classes else torch.arange(num_classes)
    class_counts = torch.zeros(num_classes, dtype=torch.int64)
    class_counts[class_of_rank] = torch.tensor(counts, dtype=torch.int64)
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
    out["class_counts"] = class_counts
    out["balanced_per_class"] = per_class_b
    return out


def load_ssl_data(
    dataset: str = "cifar10-lt",
    *,
    n_max: int | None = None,
    val_per_class: int | None = None,
    image_size: int | None = None,
    test_per_class: int | None = None,
    imbalance_ratio: float = 100,
    seed: int = 0,
    root=None,
) -> dict:
    """The pre-training subsets and probe sets of notebooks 10-12 in one call.

    Loads the *balanced* training split of ``dataset`` ("cifar10-lt", "cifar100-lt" or
    "digits-lt", read with imbalance_ratio 1), draws :func:`ssl_subsets`, optionally shrinks the
    images to ``image_size`` (CPU profiles) and the test split to ``test_per_class`` images per
    class. Returns a dict of ``ImageDataset``s: ``imbalanced`` (D_i), ``balanced`` (D_b),
    ``probe_train`` (the held-out ``val`` images, balanced: the linear probe's labelled set, disjoint
    from the pre-training pool), ``test``; plus ``class_counts`` (D_i's, the many/medium/few key)
    and ``subsets`` (the index tensors).
    """
    from ltutorial.data import load_dataset
    from ltutorial.data.large_lt import refuse_large_lt
    from ltutorial.ssl.augment import resize_dataset

    refuse_large_lt(dataset, argument="dataset")  # issue 15: the large benchmarks are file-backed
    train, test = load_dataset(dataset, root=root, imbalance_ratio=1, seed=seed)
    sub = ssl_subsets(train.labels, imbalance_ratio=imbalance_ratio, n_max=n_max, val_per_class=val_per_class, seed=seed)
    if image_size is not None:
        train, test = resize_dataset(train, image_size), resize_dataset(test, image_size)
    if test_per_class is not None:
        per = check_positive_int(test_per_class, name="test_per_class")
        y = test.labels.cpu()
        keep = torch.cat([torch.nonzero(y == c).flatten()[:per] for c in range(test.num_classes)])
        test = test.subset(torch.sort(keep).values)
    return {
        "imbalanced": train.subset(sub["imbalanced"]),
        "balanced": train.subset(sub["balanced"]),
        "probe_train": train.subset(sub["val"]),
        "test": test,
        "class_counts": sub["class_counts"],
        "subsets": sub,
    }
