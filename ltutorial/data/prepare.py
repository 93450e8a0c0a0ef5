"""Every dataset the notebooks and ``reproduce`` name: ``load_dataset(name)``: (long-tailed train, balanced test);
``resolve_dataset("auto")``: CIFAR-10-LT when a copy is found, else digits-lt (``load_digits_lt``);
``prepare_experiment``: them shrunk for a quick experiment (notebooks 06-09): stratified subsets, smaller images."""

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from ltutorial._validation import (check_choice, check_imbalance_ratio, check_labels, check_positive_int,
                                   check_random_state, make_generator)
from ltutorial.data.cifar import default_root, download_cifar, how_to_get, load_cifar_split, locate_cifar
from ltutorial.data.images import ImageDataset, channel_mean_std
from ltutorial.data.large_lt import (LARGE_LT, find_large_lt_root, how_to_get_large_lt, load_large_lt_pair,
                                    refuse_large_lt)
from ltutorial.data.longtail import check_profile, longtail_indices
from ltutorial.profiles import PROFILES, SIZES

__all__ = ["DATASETS", "downsample", "load_dataset", "prepare_experiment", "resolve_dataset", "stratified_subset"]

DATASETS = ("cifar10-lt", "cifar100-lt", "digits-lt", *LARGE_LT)
DIGITS_TEST_PER_CLASS = 50


def load_dataset(name: str, *, root=None, imbalance_ratio: float = 100, profile: str = "exp", seed: int = 0,
                 download: bool = False, verbose: bool = False):
    """(long-tailed train, balanced test) of ``name`` (notebook 01 on). CIFAR-LT: ``longtail_indices`` of the full
    train split of ``find_cifar_root(root)``'s copy (``download``: fetch one), mean/std of the full split."""
    name = check_choice(name, sorted(DATASETS), name="name")
    check_imbalance_ratio(imbalance_ratio)  # before any file is read: a typo fails before CIFAR is decoded
    check_profile(profile)
    check_random_state(seed, name="seed")
    for flag, value in (("download", download), ("verbose", verbose)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False; got {value!r} instead.")
    if name in LARGE_LT:  # issue 15: the official split files fix the long tail; ratio, profile and seed do not apply
        if download:
            raise ValueError(f"download must be False for {name} (its images cannot be redistributed); got True "
                             f"instead. {how_to_get_large_lt(name)}")
        train, test = load_large_lt_pair(name, root=root)
    elif name == "digits-lt":  # root, download: the digits ship with scikit-learn
        train, test = load_digits_lt(imbalance_ratio, profile, seed)
    else:
        train, test = _cifar_lt(name, root, imbalance_ratio, profile, seed, download, verbose)
    if verbose:
        per_class = train.class_counts.tolist() if train.num_classes <= 100 else train.counts_span()
        print(f"{name}: {len(train)} train images (per class {per_class}), {len(test)} test images")
    return train, test


def _cifar_lt(name, root, imbalance_ratio, profile, seed, download, verbose):
    cifar = name.removesuffix("-lt")
    if download and locate_cifar(root, cifar) is None:
        download_cifar(default_root(root)[0], cifar)  # into the folder locate_cifar searches first
    train, test = (load_cifar_split(cifar, split, root, verbose=verbose) for split in ("train", "test"))
    # The subset is defined on the full train split (n_max = its smallest class); a pack may hold only part of it.
    wanted = longtail_indices(train["full_labels"], imbalance_ratio, profile, seed, num_classes=len(train["classes"]))
    row_of = torch.full((train["full_labels"].numel(),), -1, dtype=torch.int64)
    row_of[train["indices"]] = torch.arange(train["indices"].numel())
    rows = row_of[wanted]
    if bool((rows < 0).any()):
        raise ValueError(f"imbalance_ratio={imbalance_ratio!r}, profile={profile!r}, seed={seed!r} select training "
                         f"images that {train['source']} does not hold (a long-tailed subset); request that subset (or "
                         "a larger imbalance_ratio, same profile and seed) or pack the full train split.")
    common = dict(classes=list(train["classes"]), mean=tuple(train["mean"]), std=tuple(train["std"]), augment=True)
    return (ImageDataset(train["images"][rows], train["labels"][rows], name=name, source=train["source"], **common),
            ImageDataset(test["images"], test["labels"], name=name, source=test["source"], **common))


def load_digits_lt(imbalance_ratio: float = 100, profile: str = "exp", seed: int | None = 0):
    """``digits-lt`` (train, test) drawn with ``seed``, the offline fallback of every CIFAR notebook: scikit-learn's
    8x8 digits (x 255/16), 50 test images per class, train = ``longtail_indices`` of the other 1,297 (rho = 100: 124,
    74, ..., 1), mean/std of that balanced pool (as CIFAR's of its full train split); no crop + flip."""
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


def resolve_dataset(name: str = "auto", root=None) -> str:
    """``name``, or for "auto" "cifar10-lt" if a copy is found, else "digits-lt" with one line saying so and how
    to get CIFAR-10. The derived-settings cell of every notebook with a ``DATASET`` parameter calls it."""
    if name != "auto":
        if not isinstance(name, str) or name not in DATASETS:
            raise ValueError(f"name must be 'auto' or one of {sorted(DATASETS)}; got {name!r} instead.")
        if name in LARGE_LT:  # fail here, naming the expected files, rather than at the first load
            find_large_lt_root(name, root)
        return name
    if locate_cifar(root, "cifar10") is not None:
        return "cifar10-lt"
    base, origin = default_root(root)
    print(f"CIFAR-10 not found under {str(base)!r} ({origin}); using digits-lt (scikit-learn digits, offline) "
          f"instead. To use CIFAR-10, {how_to_get('cifar10')}.")
    return "digits-lt"


def stratified_subset(labels, max_size: int, *, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a seeded subset of about ``max_size`` samples that keeps each class's share: class c keeps
    its first k_c = min(n_c, max(1, floor(n_c * max_size / n))) samples in one seeded ``torch.randperm(n)``."""
    labels = check_labels(labels).cpu()
    max_size = check_positive_int(max_size, name="max_size")
    if check_random_state(seed, name="seed") is None:
        raise ValueError("seed must be a non-negative integer (the subset must be reproducible); got None instead.")
    n = labels.numel()
    if max_size >= n:
        return torch.arange(n)
    counts = torch.bincount(labels)
    keep = torch.minimum(torch.clamp((counts.double() * max_size / n).floor().long(), min=1), counts)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    # each class's positions in the random order, ascending: a class keeps its first keep[c]
    by_class = torch.split(torch.argsort(labels[order], stable=True), counts.tolist())
    return order[torch.cat([pos[:k] for pos, k in zip(by_class, keep.tolist())])].sort().values


def downsample(data: ImageDataset, size: int) -> ImageDataset:
    """``data`` with images area-averaged to ``size`` x ``size``, rounded (32 -> 16: 2x2 block means); only shrinks."""
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


def prepare_experiment(name: str, *, profile: str, seed: int = 0, max_train: int | None = None,
                       max_test: int | None = None, image_size: int | None = None, imbalance_ratio: float = 100,
                       root=None, verbose: bool = True) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) of ``load_dataset(name, seed=0)`` (the papers' fixed split) shrunk to the profile's
    ``profiles.SIZES`` "data" row (a size given overrides it): ``stratified_subset`` with ``seed``, then
    ``downsample``."""
    check_choice(profile, list(PROFILES), name="profile")
    if check_random_state(seed, name="seed") is None:
        raise ValueError("seed must be a non-negative integer (the subsets must be reproducible); got None instead.")
    given = {"max_train": max_train, "max_test": max_test, "image_size": image_size}
    max_train, max_test, size = (SIZES[profile]["data"][k] if v is None else check_positive_int(v, name=k)
                                 for k, v in given.items())
    if not isinstance(verbose, bool):
        raise ValueError(f"verbose must be True or False; got {verbose!r} instead.")
    refuse_large_lt(name)
    train, test = load_dataset(name, root=root, imbalance_ratio=imbalance_ratio, seed=0)
    train, test = (d if n is None or n >= len(d) else d.subset(stratified_subset(d.labels, n, seed=seed))
                   for d, n in ((train, max_train), (test, max_test)))
    side = train.images.shape[-1]
    if size < side:
        train, test = downsample(train, size), downsample(test, size)
    elif size > side:  # said even when not verbose: the data differ from what was asked
        print(f"{name} images are {side}x{side}, smaller than image_size={size}: kept at {side}x{side}.")
    if verbose:
        print(f"{train}\n{test}")
    return train, test
