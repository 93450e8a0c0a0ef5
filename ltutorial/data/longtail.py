"""Long-tailed class counts and the seeded long-tailed subset of a balanced set (notebook 01 on): LDAM-DRW's
``IMBALANCECIFAR10/100`` (Cao et al., NeurIPS 2019), n_i = int(n_max * rho^(-i/(C-1))) ("exp") or two-level "step"."""

import torch

from ltutorial._validation import check_choice, check_imbalance_ratio, check_labels, check_positive_int, make_generator

__all__ = ["longtail_counts", "longtail_indices"]


def check_profile(profile) -> str:
    return check_choice(profile, ["exp", "step"], name="profile")


def longtail_counts(n_max: int, num_classes: int, imbalance_ratio: float, profile: str = "exp") -> list[int]:
    """Per-class counts, class 0 the head: "exp" n_i = int(n_max * rho^(-i/(C-1))), "step" ceil(C/2) classes of
    n_max and floor(C/2) of int(n_max * (1/rho)) (CIFAR-10: n_max = 5000, rho = 100 gives 12,406 images)."""
    n_max = check_positive_int(n_max, name="n_max")
    num_classes = check_positive_int(num_classes, name="num_classes")
    ratio = check_imbalance_ratio(imbalance_ratio)
    if check_profile(profile) == "step":  # LDAM drops a class when C is odd; here the head takes it: n_max/n_min = rho
        counts = [n_max] * (num_classes - num_classes // 2) + [int(n_max * (1.0 / ratio))] * (num_classes // 2)
    else:  # LDAM's 1/rho and int() keep the counts bit-identical to the papers' (12,406 for CIFAR-10 at rho = 100)
        counts = [int(n_max * (1.0 / ratio) ** (i / max(num_classes - 1.0, 1.0))) for i in range(num_classes)]
    if min(counts) < 1:
        raise ValueError(f"n_max must be large enough for every class to keep a sample (int(n_max * (1/rho)) >= 1); "
                         f"got n_max={n_max} with imbalance_ratio={imbalance_ratio!r} (counts {counts}) instead.")
    return counts


def longtail_indices(labels, imbalance_ratio: float, profile: str = "exp", seed: int | None = 0, *,
                     num_classes: int | None = None) -> torch.Tensor:
    """Sorted indices of the long-tailed subset: class c keeps the first n_c = ``longtail_counts(n_max, C, rho,
    profile)[c]`` of its indices shuffled by ``torch.Generator(seed)`` (a smaller n_c: a prefix), n_max = min class."""
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, name="num_classes")
    y = check_labels(labels, num_classes=num_classes, allow_empty=False).to("cpu")
    num_classes = num_classes or int(y.max()) + 1
    available = torch.bincount(y, minlength=num_classes)
    if int(available.min()) == 0:
        missing = torch.nonzero(available == 0).flatten().tolist()
        raise ValueError(f"labels must contain every class 0..{num_classes - 1}; got no samples of classes {missing} "
                         "instead.")
    counts = longtail_counts(int(available.min()), num_classes, imbalance_ratio, profile)
    generator = make_generator(seed, name="seed")
    by_class = torch.split(torch.sort(y, stable=True).indices, available.tolist())  # each class's indices, ascending
    kept = [idx[torch.randperm(idx.numel(), generator=generator)[:k]] for idx, k in zip(by_class, counts)]
    return torch.sort(torch.cat(kept)).values
