"""Shrinking a long-tailed dataset for a quick experiment (notebooks 06-09): stratified subsets, smaller images."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice, check_labels, check_positive_int, check_random_state
from ltutorial.data.datasets import load_dataset
from ltutorial.data.images import ImageDataset
from ltutorial.data.large_lt import refuse_large_lt
from ltutorial.profiles import PROFILES, SIZES

__all__ = ["downsample", "prepare_experiment", "stratified_subset"]


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
    # each sample's rank within its class in the random order; a class keeps its first keep[c]
    lab = labels[order]
    sort_idx = torch.argsort(lab, stable=True)
    rank = torch.empty(n, dtype=torch.long)
    rank[sort_idx] = torch.arange(n) - (torch.cumsum(counts, 0) - counts)[lab[sort_idx]]
    return order[rank < keep[lab]].sort().values


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
    elif size > side and verbose:
        print(f"{name} images are {side}x{side}, smaller than image_size={size}: kept at {side}x{side}.")
    if verbose:
        print(f"{train}\n{test}")
    return train, test
