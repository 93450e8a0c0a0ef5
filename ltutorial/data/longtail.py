"""Long-tailed class counts and the seeded long-tailed subset of a balanced training set.

The construction follows LDAM-DRW's ``IMBALANCECIFAR10/100`` (Cao et al., NeurIPS 2019), which
CB loss, LA, VS and most CIFAR-LT papers reuse: per-class counts from an ``"exp"`` or ``"step"``
profile, then for each class a random shuffle of its indices, keeping the first n_i.
Introduced in notebook 01 (the imbalance nature of data); used by every CIFAR-LT notebook.
"""

from __future__ import annotations

import torch

from ltutorial._validation import check_imbalance_ratio, check_labels, check_positive_int, make_generator

__all__ = ["PROFILES", "longtail_counts", "longtail_indices"]


def _exp_profile(n_max: int, num_classes: int, imbalance_ratio: float) -> list[int]:
    # LDAM writes the factor as imb_factor = 1/rho and truncates with int(); computing it the same
    # way keeps the counts bit-identical to the papers' (12,406 for CIFAR-10, rho = 100).
    if num_classes == 1:
        return [n_max]
    imb_factor = 1.0 / imbalance_ratio
    return [int(n_max * imb_factor ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def _step_profile(n_max: int, num_classes: int, imbalance_ratio: float) -> list[int]:
    # LDAM's loop gives C//2 head and C//2 tail classes, which drops a class when C is odd;
    # here the head takes the extra class, so there are always C counts and n_max/n_min = rho.
    n_tail_classes = num_classes // 2
    n_head_classes = num_classes - n_tail_classes
    tail = int(n_max * (1.0 / imbalance_ratio))
    return [n_max] * n_head_classes + [tail] * n_tail_classes


PROFILES = {"exp": _exp_profile, "step": _step_profile}


def check_profile(profile) -> str:
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}; got {profile!r} instead.")
    return profile


def longtail_counts(n_max: int, num_classes: int, imbalance_ratio: float, profile: str = "exp") -> list[int]:
    """Per-class training counts of a long-tailed set, class 0 the head and class C-1 the tail.

    ``"exp"``: n_i = int(n_max * rho^(-i/(C-1))), i = 0..C-1 (truncation, not rounding).
    ``"step"``: the first ceil(C/2) classes get n_max, the last floor(C/2) get int(n_max / rho).
    rho = ``imbalance_ratio`` = n_max / n_min >= 1. From LDAM-DRW (Cao et al., NeurIPS 2019):
    CIFAR-10 (n_max=5000) with rho=100 gives 12,406 images, CIFAR-100 (n_max=500) gives 10,847.
    Used in notebook 01 to draw the profiles, in notebooks 06, 07 and 09 for the class counts of
    the formulas, and by ``load_dataset``.

    Raises ValueError if a class would get 0 samples (``n_max`` too small for ``imbalance_ratio``).
    """
    n_max = check_positive_int(n_max, name="n_max")
    num_classes = check_positive_int(num_classes, name="num_classes")
    ratio = check_imbalance_ratio(imbalance_ratio)
    profile = check_profile(profile)
    counts = PROFILES[profile](n_max, num_classes, ratio)
    if min(counts) < 1:
        raise ValueError(
            f"n_max must be large enough for every class to keep at least one sample (n_max >= imbalance_ratio); "
            f"got n_max={n_max} with imbalance_ratio={imbalance_ratio!r}, which gives counts {counts} instead."
        )
    return counts


def longtail_indices(
    labels,
    imbalance_ratio: float,
    profile: str = "exp",
    seed: int | None = 0,
    n_max: int | None = None,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Indices of the long-tailed subset of a (balanced) labelled set; same seed, same subset.

    For each class c = 0..C-1 in turn, its indices (ascending) are shuffled with ``torch.randperm``
    driven by one ``torch.Generator`` seeded with ``seed``, and the first n_c are kept, where
    n_c = ``longtail_counts(n_max, C, imbalance_ratio, profile)[c]`` (LDAM-DRW's construction, with
    torch's generator instead of numpy's global one, so the subset differs from LDAM's while the
    counts are identical). Because each class's permutation depends only on the class sizes of
    ``labels``, a smaller ``n_c`` keeps a prefix of what a larger one keeps.

    ``n_max`` defaults to the smallest class count, so every class can supply its n_c.
    ``num_classes`` defaults to ``max(labels) + 1``. Returns a sorted int64 CPU tensor of indices
    into ``labels`` (for a set stored class by class, such as an ImageFolder tree, sorted order
    is also class order). Used by ``load_dataset`` (notebook 01 onward).
    """
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, name="num_classes")
    y = check_labels(labels, num_classes=num_classes).to("cpu")
    if y.numel() == 0:
        raise ValueError("labels must be non-empty; got 0 labels instead.")
    if num_classes is None:
        num_classes = int(y.max()) + 1
    available = torch.bincount(y, minlength=num_classes)
    if int(available.min()) == 0:
        missing = torch.nonzero(available == 0).flatten().tolist()
        raise ValueError(f"labels must contain every class 0..{num_classes - 1}; got no samples of classes {missing} instead.")
    if n_max is None:
        n_max = int(available.min())
    counts = longtail_counts(n_max, num_classes, imbalance_ratio, profile)
    short = [c for c in range(num_classes) if counts[c] > int(available[c])]
    if short:
        c = short[0]
        raise ValueError(
            f"n_max={n_max} asks for {counts[c]} samples of class {c} but labels hold only {int(available[c])}; "
            f"use n_max <= {int(available.min())} (the smallest class count) instead."
        )
    generator = make_generator(seed, name="seed")
    # Indices of each class in ascending order: a stable sort by label groups them in one pass.
    order = torch.sort(y, stable=True).indices
    starts = torch.cumsum(available, 0) - available
    kept = []
    for c in range(num_classes):
        idx_c = order[int(starts[c]) : int(starts[c]) + int(available[c])]
        perm = torch.randperm(idx_c.numel(), generator=generator)
        kept.append(idx_c[perm[: counts[c]]])
    return torch.sort(torch.cat(kept)).values
