"""Shrinking a long-tailed dataset for a quick experiment: stratified subsets and smaller images.

The supervised notebooks (06-09) train several methods on CIFAR-10-LT within minutes on a laptop
CPU, so their ``smoke`` and ``cpu`` profiles keep a class-stratified share of the images and
area-average them to 16x16. :func:`prepare_experiment` is that whole data step in one call;
:func:`stratified_subset` and :func:`downsample` are its two operations (``ltutorial reproduce``
uses them too).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice, check_positive_int, check_random_state
from ltutorial.data.images import ImageDataset
from ltutorial.profiles import PROFILES, pick

__all__ = ["EXPERIMENT_SIZES", "downsample", "prepare_experiment", "stratified_subset"]

# Per profile: (max_train, max_test, image_size); None keeps the split whole / the images' size.
# smoke: a CI run in seconds; cpu: the whole long-tailed train split (12,406 CIFAR-10-LT images)
# at 16x16 and a 2,000-image test set; full: the papers' data (32x32, all 10,000 test images).
EXPERIMENT_SIZES = {
    "max_train": {"smoke": 3000, "cpu": None, "full": None},
    "max_test": {"smoke": 1000, "cpu": 2000, "full": None},
    "image_size": {"smoke": 16, "cpu": 16, "full": 32},
}


def _check_labels_1d(labels) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a 1-D integer torch.Tensor; got {type(labels).__name__} instead.")
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"labels must be a 1-D integer torch.Tensor; got shape {tuple(labels.shape)}, "
                         f"dtype {labels.dtype} instead.")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"labels must be >= 0; got a minimum of {int(labels.min())} instead.")
    return labels.cpu().long()


def stratified_subset(labels: torch.Tensor, max_size: int, *, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a seeded subset of about ``max_size`` samples keeping each class's share.

    Class c keeps k_c = max(1, floor(n_c * max_size / n)) of its n_c samples (never more than n_c),
    chosen by one seeded ``torch.randperm``: the same labels, size and seed give the same subset.
    Flooring makes the total at most ``max_size`` unless the one-per-class floor adds a few.
    ``max_size >= n`` returns every index. Notebooks 06-09 (through :func:`prepare_experiment`)
    and ``ltutorial reproduce``.
    """
    labels = _check_labels_1d(labels)
    max_size = check_positive_int(max_size, name="max_size")
    seed = check_random_state(seed, name="seed")
    if seed is None:
        raise ValueError("seed must be a non-negative integer (the subset must be reproducible); got None instead.")
    n = labels.numel()
    if max_size >= n:
        return torch.arange(n)
    counts = torch.bincount(labels)
    keep = torch.clamp((counts.double() * max_size / n).floor().long(), min=1)
    keep = torch.minimum(keep, counts)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    # Each sample's rank within its class in the random order; a class keeps its first keep[c].
    lab = labels[order]
    sort_idx = torch.argsort(lab, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[sort_idx] = torch.arange(n) - starts[lab[sort_idx]]
    return order[rank < keep[lab]].sort().values


def downsample(data: ImageDataset, size: int) -> ImageDataset:
    """A copy of an ``ImageDataset`` with its images area-averaged to ``size`` x ``size`` (uint8 kept).

    Each output pixel is the mean of the input block it covers (``F.interpolate(mode="area")``;
    for 32 -> 16 the mean of a 2x2 block), rounded to the nearest integer. Images already of that
    size come back unchanged; a larger ``size`` is refused (this only shrinks). The ``cpu``
    profile of notebooks 06-09 trains on 16x16 CIFAR so that several methods fit in minutes on a
    laptop CPU; the long-tailed effects the slides show survive the lower resolution.
    """
    if not isinstance(data, ImageDataset):
        raise ValueError(f"data must be an ltutorial.data.ImageDataset; got {type(data).__name__} instead.")
    size = check_positive_int(size, name="size")
    height_width = tuple(data.images.shape[-2:])
    if height_width == (size, size):
        return data
    if size > min(height_width):
        raise ValueError(f"size must be at most the image size {height_width} (this only shrinks); got {size} instead.")
    x = F.interpolate(data.images.float(), size=(size, size), mode="area").round_().clamp_(0, 255).to(torch.uint8)
    return dataclasses.replace(data, images=x)


def prepare_experiment(
    name: str,
    *,
    profile: str,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
    image_size: int | None = None,
    imbalance_ratio: float = 100,
    root=None,
    verbose: bool = True,
) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) of ``name`` shrunk to the profile's size: the data step of notebooks 06-09.

    Loads ``load_dataset(name, imbalance_ratio=..., seed=0)`` (the long-tailed split is fixed, as
    in the papers), then keeps a :func:`stratified_subset` of ``max_train`` training and
    ``max_test`` test images drawn with ``seed``, and area-averages the images to ``image_size``
    (:func:`downsample`). Each size left at None takes the profile's value from
    ``EXPERIMENT_SIZES`` (smoke: 3000 / 1000 / 16, cpu: all / 2000 / 16, full: all / all / 32), the
    way ``lt.pick(..., override=...)`` does. Images already smaller than ``image_size`` (the 8x8
    digits-lt fallback) are kept as they are, which ``verbose`` says. ``verbose`` prints both
    datasets. Notebooks 06, 07, 08 and 09.
    """
    from ltutorial.data import load_dataset
    from ltutorial.data.large_lt import refuse_large_lt

    check_choice(profile, list(PROFILES), name="profile")
    seed = check_random_state(seed, name="seed")
    if seed is None:
        raise ValueError("seed must be a non-negative integer (the subsets must be reproducible); got None instead.")
    sizes = {}
    for key, value in (("max_train", max_train), ("max_test", max_test), ("image_size", image_size)):
        if value is not None:
            check_positive_int(value, name=key)
        sizes[key] = pick(profile, **EXPERIMENT_SIZES[key], override=value)
    if not isinstance(verbose, bool):
        raise ValueError(f"verbose must be True or False; got {verbose!r} instead.")

    refuse_large_lt(name)  # issue 15: ImageNet-LT & co. are file-backed, not ImageDatasets
    train, test = load_dataset(name, root=root, imbalance_ratio=imbalance_ratio, seed=0)
    if sizes["max_train"] is not None and sizes["max_train"] < len(train):
        train = train.subset(stratified_subset(train.labels, sizes["max_train"], seed=seed))
    if sizes["max_test"] is not None and sizes["max_test"] < len(test):
        test = test.subset(stratified_subset(test.labels, sizes["max_test"], seed=seed))
    side = train.images.shape[-1]
    if sizes["image_size"] < side:
        train, test = downsample(train, sizes["image_size"]), downsample(test, sizes["image_size"])
    elif sizes["image_size"] > side and verbose:
        print(f"{name} images are {side}x{side}, smaller than image_size={sizes['image_size']}: kept at {side}x{side}.")
    if verbose:
        print(train)
        print(test)
    return train, test
