"""``ImageDataset``: uint8 images (CIFAR-10-LT in 38 MB, on any device), labels and metadata for training."""

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from ltutorial._validation import as_tensor, check_labels
from ltutorial.device import get_device

__all__ = ["ClassCounts", "ImageDataset", "subset_indices", "channel_mean_std", "short_source"]


class ClassCounts:
    """``num_classes`` and ``class_counts`` of a dataset with ``classes`` and int64 ``labels`` (both dataset kinds)."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_counts(self) -> torch.Tensor:
        """Images per class, int64 CPU tensor of length ``num_classes`` (zeros for absent classes)."""
        return torch.bincount(self.labels, minlength=self.num_classes).cpu()  # only the C counts cross to the host

    def counts_span(self) -> str:
        """The largest and smallest class count as "max..min", for the reprs."""
        counts = self.class_counts
        return f"{int(counts.max())}..{int(counts.min())}" if counts.numel() else "-"


@dataclass(repr=False)
class ImageDataset(ClassCounts):
    """Images (uint8 N x C x H x W), int64 labels, class names, per-channel ``mean``/``std`` in [0, 1] units
    (None: computed from ``images``), whether crop + flip suit the images, and which copy was read."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list = field(default_factory=list)
    name: str = "custom"
    source: str = "in-memory tensors"
    mean: tuple | None = None
    std: tuple | None = None
    augment: bool = False

    def __post_init__(self):
        images = as_tensor(self.images, name="images")
        if images.dtype != torch.uint8:
            raise ValueError(f"images must be a uint8 tensor (pixel values 0..255); got dtype {images.dtype} instead.")
        if images.ndim != 4:
            raise ValueError(f"images must be 4-D (N x C x H x W); got shape {tuple(images.shape)} instead.")
        labels = as_tensor(self.labels, name="labels")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels must be 1-D with one label per image ({images.shape[0]}); got shape "
                             f"{tuple(labels.shape)} instead.")
        # a set would order the names by hash (another order each run), a str give one class per letter
        unordered = isinstance(self.classes, (str, set, frozenset, dict))
        classes = [] if unordered else list(self.classes)  # a numpy array of names too (np.str_ is a str)
        classes = classes or [str(c) for c in range(int(labels.max()) + 1 if labels.numel() else 0)]
        if unordered or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"classes must be a list of class names (str); got {self.classes!r} instead.")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be True or False; got {self.augment!r} instead.")
        self.images, self.classes = images, classes
        self.labels = check_labels(labels, num_classes=len(classes)).to(images.device)
        if self.mean is None or self.std is None:
            mean, std = channel_mean_std(images)
            if self.std is None and min(std) == 0:
                raise ValueError(f"images must vary within every channel to compute std; got channel {std.index(0.0)} "
                                 "with all pixels equal (std 0, normalising would divide by 0) instead. Pass std=.")
            self.mean, self.std = mean if self.mean is None else self.mean, std if self.std is None else self.std
        self.mean = _check_stats(self.mean, name="mean", n_channels=images.shape[1], positive=False)
        self.std = _check_stats(self.std, name="std", n_channels=images.shape[1], positive=True)

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device) -> "ImageDataset":
        """A copy with images and labels on ``device`` ("auto", "cpu", "cuda", ...; the metadata is shared)."""
        device = get_device(device)
        return dataclasses.replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def subset(self, indices) -> "ImageDataset":
        """The images at ``indices`` (ints or a boolean mask); ``mean``/``std`` kept, as the CIFAR-LT papers do."""
        idx = subset_indices(indices, len(self)).to(self.images.device)
        return dataclasses.replace(self, images=self.images[idx], labels=self.labels[idx])

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, image={'x'.join(map(str, self.image_shape))}, "
                f"classes={self.num_classes}, per-class {self.counts_span()}, device={self.device.type}, "
                f"source={short_source(self.source)!r})")


def subset_indices(indices, n: int) -> torch.Tensor:
    """``indices`` (ints, a range or a boolean mask of shape (n,)) of a dataset of ``n`` items as int64, checked: 1-D,
    integer, in [-n, n)."""
    indices = torch.arange(indices.start, indices.stop, indices.step) if isinstance(indices, range) else indices
    idx = as_tensor(indices, name="indices")
    if idx.numel() == 0 and not isinstance(indices, torch.Tensor):  # np.asarray([]) is float64: no image, not an error
        idx = idx.to(torch.int64)
    if idx.dtype == torch.bool and idx.shape != (n,):
        raise ValueError(f"indices as a boolean mask must have shape ({n},); got {tuple(idx.shape)} instead.")
    if idx.is_floating_point() or idx.is_complex() or idx.ndim != 1:
        raise ValueError(f"indices must be a 1-D integer sequence or boolean mask; got dtype {idx.dtype}, "
                         f"shape {tuple(idx.shape)} instead.")
    idx = torch.nonzero(idx).flatten() if idx.dtype == torch.bool else idx.to(torch.int64)
    if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise ValueError(f"indices must lie in [-{n}, {n}); got values from {int(idx.min())} to {int(idx.max())} "
                         "instead.")
    return idx


def channel_mean_std(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of uint8 images in [0, 1] units (CIFAR-10's 0.4914 / 0.2470):
    mean_c = E[x/255], std_c = sqrt(E[(x/255)^2] - mean_c^2), summed in float64 chunks (no float copy of the set)."""
    if images.ndim != 4:
        raise ValueError(f"images must be 4-D (N x C x H x W); got shape {tuple(images.shape)} instead.")
    n = images.shape[0] * images.shape[2] * images.shape[3]
    if n == 0:
        raise ValueError("images must hold at least one pixel to compute mean and std; got none instead (pass them).")
    total = torch.zeros(2, images.shape[1], dtype=torch.float64, device=images.device)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].to(torch.float64) / 255.0
        total[0] += x.sum(dim=(0, 2, 3))
        total[1] += (x * x).sum(dim=(0, 2, 3))
    mean = total[0] / n
    var = (total[1] / n - mean * mean).clamp_min(0)
    # a constant channel leaves a rounding residue (~1e-17), not 0: its variance is set to exactly 0
    var[images.amin(dim=(0, 2, 3)) == images.amax(dim=(0, 2, 3))] = 0.0
    return tuple(float(v) for v in mean.cpu()), tuple(float(v) for v in var.sqrt().cpu())


def _check_stats(value, *, name: str, n_channels: int, positive: bool) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != n_channels or not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        kind = "positive floats" if positive else "floats"
        raise ValueError(f"{name} must be {n_channels} {kind} (finite, one per channel); got {value!r} instead.")
    return values


def short_source(source: str) -> str:
    """``source`` with a trailing "... at /a/b/cifar10" cut to the folder's name: outputs name no machine path."""
    if not isinstance(source, str):
        raise ValueError(f"source must be a str; got {type(source).__name__} instead.")
    head, sep, tail = source.rpartition(" at ")
    if not sep or not tail.strip():
        return source
    name = tail.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return f"{head} in a folder named {name!r}"
