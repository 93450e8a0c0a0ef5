"""Data for the tutorial: long-tailed CIFAR-10/100, the offline digits-lt set and 2-D synthetic data.

``load_dataset(name)`` returns ``(train, test)`` ``ImageDataset``s: a long-tailed train split and
a balanced test split. ``resolve_dataset("auto")`` picks CIFAR-10-LT when a copy is found and
otherwise digits-lt, saying so in one line. See docs/ARCHITECTURE.md ("Data objects").
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ltutorial._validation import check_choice, check_imbalance_ratio, check_random_state
from ltutorial.data.cifar import (
    CIFAR_SPECS,
    default_root,
    download_cifar,
    find_cifar_root,
    how_to_get,
    load_cifar_split,
    locate_cifar,
)
from ltutorial.data.digits import load_digits_lt
from ltutorial.data.images import ImageDataset, channel_mean_std, short_source
from ltutorial.data.large_lt import (
    LARGE_LT,
    LargeLTDataset,
    find_large_lt_root,
    how_to_get_large_lt,
    load_large_lt,
    load_large_lt_pair,
)
from ltutorial.data.longtail import PROFILES, check_profile, longtail_counts, longtail_indices
from ltutorial.data.prepare import EXPERIMENT_SIZES, downsample, prepare_experiment, stratified_subset
from ltutorial.data.synthetic import (
    GaussianBinaryProblem,
    bayes_optimal_rule,
    make_gaussian_mixture,
    make_imbalanced_gaussians,
    make_longtail_blobs,
    make_multimodal_rare,
)

__all__ = [
    "DATASETS",
    "EXPERIMENT_SIZES",
    "ImageDataset",
    "LARGE_LT",
    "LargeLTDataset",
    "PROFILES",
    "GaussianBinaryProblem",
    "bayes_optimal_rule",
    "channel_mean_std",
    "downsample",
    "find_cifar_root",
    "load_dataset",
    "load_large_lt",
    "longtail_counts",
    "longtail_indices",
    "make_gaussian_mixture",
    "make_imbalanced_gaussians",
    "make_longtail_blobs",
    "make_multimodal_rare",
    "pack_cifar",
    "prepare_experiment",
    "resolve_dataset",
    "short_source",
    "stratified_subset",
]


def _select_longtail(entry, imbalance_ratio, profile, seed, num_classes: int) -> torch.Tensor:
    """Positions in ``entry`` (a cached train split) of the requested long-tailed subset.

    The subset is defined on the full train split (``entry["full_labels"]``); a pack may hold
    only part of it, so the requested full-split indices are mapped to the rows it holds.
    """
    # n_max = the smallest class count of the full split: 5000 for CIFAR-10, 500 for CIFAR-100.
    wanted = longtail_indices(entry["full_labels"], imbalance_ratio, profile, seed=seed, num_classes=num_classes)
    held = entry["indices"]
    if held.numel() == entry["full_labels"].numel():
        return wanted
    row_of = torch.full((entry["full_labels"].numel(),), -1, dtype=torch.int64)
    row_of[held] = torch.arange(held.numel())
    rows = row_of[wanted]
    if bool((rows < 0).any()):
        raise ValueError(
            f"imbalance_ratio={imbalance_ratio!r}, profile={profile!r}, seed={seed!r} select training images that "
            f"{entry['source']} does not hold (it holds only a long-tailed subset); request that subset (or a larger "
            f"imbalance_ratio with the same profile and seed), or pack the full train split (omit --imbalance-ratio)."
        )
    return rows


def _load_cifar_lt(name: str, *, root, imbalance_ratio, profile, seed, download, verbose):
    spec = CIFAR_SPECS[name]
    if download and locate_cifar(root, name) is None:
        target = root if root is not None else find_root_for_download()
        download_cifar(target, name)
        root = target
    train_entry = load_cifar_split(name, "train", root, verbose=verbose)
    test_entry = load_cifar_split(name, "test", root, verbose=verbose)
    rows = _select_longtail(train_entry, imbalance_ratio, profile, seed, spec["num_classes"])
    common = dict(
        classes=list(train_entry["classes"]),
        mean=tuple(train_entry["mean"]),
        std=tuple(train_entry["std"]),
        augment=True,
    )
    train = ImageDataset(
        train_entry["images"][rows], train_entry["labels"][rows], name=f"{name}-lt", source=train_entry["source"], **common
    )
    test = ImageDataset(test_entry["images"], test_entry["labels"], name=f"{name}-lt", source=test_entry["source"], **common)
    if verbose:
        print(f"{name}-lt: {len(train)} train images (per class {train.class_counts.tolist()}), {len(test)} test images")
    return train, test


def find_root_for_download() -> Path:
    """Where ``download=True`` puts the files when no root is given: LTUTORIAL_DATA, else ./data."""
    return Path(os.environ.get("LTUTORIAL_DATA") or "data")


def _load_cifar10_lt(**kw):
    return _load_cifar_lt("cifar10", **kw)


def _load_cifar100_lt(**kw):
    return _load_cifar_lt("cifar100", **kw)


def _load_digits_lt(*, root, imbalance_ratio, profile, seed, download, verbose):
    # root and download do not apply: the digits ship inside scikit-learn.
    train, test = load_digits_lt(imbalance_ratio, profile, seed)
    if verbose:
        print(f"digits-lt: {len(train)} train images (per class {train.class_counts.tolist()}), {len(test)} test images")
    return train, test


def _load_large(name: str, *, root, imbalance_ratio, profile, seed, download, verbose):
    # Issue 15. The official split files fix the long tail: imbalance_ratio, profile and seed do not apply.
    if download:
        raise ValueError(f"download must be False for {name} (its images cannot be redistributed); got True "
                         f"instead. {how_to_get_large_lt(name)}")
    train, test = load_large_lt_pair(name, root=root)
    if verbose:
        print(f"{name}: {len(train)} train images in {train.num_classes} classes (per class "
              f"{int(train.class_counts.max())}..{int(train.class_counts.min())}), {len(test)} {test.split} images")
    return train, test


def _load_imagenet_lt(**kw):
    return _load_large("imagenet-lt", **kw)


def _load_places_lt(**kw):
    return _load_large("places-lt", **kw)


def _load_inat2018(**kw):
    return _load_large("inat2018", **kw)


DATASETS = {
    "cifar10-lt": _load_cifar10_lt,
    "cifar100-lt": _load_cifar100_lt,
    "digits-lt": _load_digits_lt,
    # file-backed (LargeLTDataset, decoded in DataLoader workers); see ltutorial.data.large_lt
    "imagenet-lt": _load_imagenet_lt,
    "places-lt": _load_places_lt,
    "inat2018": _load_inat2018,
}


def _check_dataset_name(name) -> str:
    return check_choice(name, sorted(DATASETS), name="name")


def load_dataset(
    name: str,
    *,
    root=None,
    imbalance_ratio: float = 100,
    profile: str = "exp",
    seed: int = 0,
    download: bool = False,
    verbose: bool = False,
) -> tuple[ImageDataset, ImageDataset]:
    """(train, test) ``ImageDataset``s of ``name``: long-tailed train split, balanced test split.

    "cifar10-lt" / "cifar100-lt": the LDAM-DRW construction (``longtail_indices`` on the full
    train split, n_max = 5000 / 500), read from the copy ``find_cifar_root(root)`` finds (``source``
    says which) and cached on disk after the first decode; ``download=True`` fetches the official
    files with torchvision when no copy is found. "digits-lt": scikit-learn's digits (offline).
    "imagenet-lt" / "places-lt" / "inat2018": ``LargeLTDataset``s read from the official split files
    under ``root`` (no download; a missing file raises naming the files), decoded when indexed.
    mean/std come from the full (balanced) train split. Prints only with ``verbose=True``.
    Notebook 01 onward.
    """
    name = _check_dataset_name(name)
    # Checked before any file is read, so a typo fails at once rather than after decoding CIFAR.
    check_imbalance_ratio(imbalance_ratio)
    check_profile(profile)
    check_random_state(seed, name="seed")
    for flag, value in (("download", download), ("verbose", verbose)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False; got {value!r} instead.")
    return DATASETS[name](
        root=root, imbalance_ratio=imbalance_ratio, profile=profile, seed=seed, download=download, verbose=verbose
    )


def resolve_dataset(name: str = "auto", root=None) -> str:
    """The dataset name a notebook uses: ``name`` itself, or for "auto" CIFAR-10-LT if found, else digits-lt.

    The fallback prints exactly one line saying digits-lt is used and how to get CIFAR-10.
    The derived-settings cell of every notebook with a ``DATASET`` parameter calls it.
    """
    if name != "auto":
        if not isinstance(name, str) or name not in DATASETS:
            raise ValueError(f"name must be 'auto' or one of {sorted(DATASETS)}; got {name!r} instead.")
        if name in LARGE_LT:  # fail here, naming the expected files, rather than at the first load
            find_large_lt_root(name, root)
        return name
    if locate_cifar(root, "cifar10") is not None:
        return "cifar10-lt"
    base, origin = default_root(root)
    print(
        f"CIFAR-10 not found under {str(base)!r} ({origin}); using digits-lt (scikit-learn digits, offline) instead. "
        f"To use CIFAR-10, {how_to_get('cifar10')}."
    )
    return "digits-lt"


def __getattr__(name: str):
    # The pack writer is in the engine tier, imported on first use (`python -m ltutorial.data.pack` runs it fresh).
    if name == "pack_cifar":
        from ltutorial.fast.pack import pack_cifar

        return pack_cifar
    raise AttributeError(f"module 'ltutorial.data' has no attribute {name!r}")
