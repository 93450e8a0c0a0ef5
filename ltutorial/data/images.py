"""``ImageDataset``: the image tensors, labels and metadata every training function takes.

Images stay uint8 (N x C x H x W) so a whole CIFAR-10-LT set is 38 MB and fits on any device;
the training loop converts each batch to float and normalises with ``mean``/``std``.
See docs/ARCHITECTURE.md ("Data objects"). Used by every notebook that trains a network.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from ltutorial._validation import as_tensor, check_labels
from ltutorial.device import get_device

__all__ = ["ImageDataset", "channel_mean_std", "short_source"]


def channel_mean_std(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images in [0, 1] units.

    mean_c = E[x / 255], std_c = sqrt(E[(x / 255)^2] - mean_c^2) over all pixels of channel c
    (population std, as the usual CIFAR constants 0.4914/0.2470 are computed). Summed in float64
    chunks so 50,000 images need neither a float copy of the set nor lose precision. A channel whose
    pixels are all equal gets std exactly 0 (the formula would leave a rounding residue ~1e-9).
    """
    if images.ndim != 4:
        raise ValueError(f"images must be 4-D (N x C x H x W); got shape {tuple(images.shape)} instead.")
    n_channels = images.shape[1]
    total = torch.zeros(n_channels, dtype=torch.float64, device=images.device)
    total_sq = torch.zeros(n_channels, dtype=torch.float64, device=images.device)
    n = images.shape[0] * images.shape[2] * images.shape[3]
    if n == 0:
        raise ValueError("images must hold at least one pixel to compute a mean; got an empty tensor instead.")
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    mean = total / n
    var = (total_sq / n - mean * mean).clamp_min(0)
    # A constant channel leaves a rounding residue (~1e-17) instead of 0: such tiny variances are
    # checked exactly (one more pass over that channel only; a real one is >= ~1.5e-5 / n).
    for c in torch.nonzero(var < 1e-10).flatten().tolist():
        channel = images[:, c]
        if bool((channel == channel.flatten()[0]).all()):
            var[c] = 0.0
    std = var.sqrt()
    return tuple(float(v) for v in mean.cpu()), tuple(float(v) for v in std.cpu())


def _check_stats(value, *, name: str, n_channels: int, positive: bool) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of {n_channels} floats (one per channel); got {value!r} instead.") from None
    if len(values) != n_channels or not all(math.isfinite(v) for v in values) or (positive and any(v <= 0 for v in values)):
        kind = "positive floats" if positive else "floats"
        raise ValueError(f"{name} must be {n_channels} {kind} (finite, one per channel); got {value!r} instead.")
    return values


def short_source(source: str) -> str:
    """``source`` with a trailing folder path (``"... at /a/b/cifar10"``) cut to the folder's name.

    What notebooks print about a data set: the kind of copy and its folder's name, never a path of
    the machine that ran them (outputs are shared, paths differ per machine).
    """
    if not isinstance(source, str):
        raise ValueError(f"source must be a str; got {type(source).__name__} instead.")
    head, sep, tail = source.rpartition(" at ")
    if not sep or not tail.strip():
        return source
    name = tail.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return f"{head} in a folder named {name!r}"


@dataclass(repr=False)
class ImageDataset:
    """Images (uint8 N x C x H x W), int64 labels and the metadata a notebook prints and trains with.

    ``mean``/``std`` are per-channel, in [0, 1] units; left as None they are computed from
    ``images`` (loaders pass the training split's values to both splits). ``augment`` says whether
    random crop + flip suits the images (True for CIFAR, False for 8x8 digits). ``source`` records
    which copy of the data was read, so a reported number can name it.
    """

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
            raise ValueError(
                f"labels must be 1-D with one label per image ({images.shape[0]}); got shape {tuple(labels.shape)} instead."
            )
        classes = list(self.classes)
        if not classes:
            classes = [str(c) for c in range(int(labels.max()) + 1)] if labels.numel() else []
        if not all(isinstance(c, str) for c in classes):
            raise ValueError(f"classes must be a list of class names (str); got {self.classes!r} instead.")
        labels = check_labels(labels, num_classes=len(classes))
        if labels.device != images.device:
            labels = labels.to(images.device)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be True or False; got {self.augment!r} instead.")
        self.images, self.labels, self.classes = images, labels, classes
        n_channels = images.shape[1]
        if self.mean is None or self.std is None:
            if images.shape[0] == 0:
                raise ValueError("mean and std must be given for an empty dataset; got None instead.")
            mean, std = channel_mean_std(images)
            if self.std is None and min(std) == 0:
                raise ValueError(f"images must vary within every channel to compute std; got channel {std.index(0.0)} "
                                 "with all pixels equal (std 0, normalising would divide by 0) instead. Pass std=.")
            self.mean = mean if self.mean is None else self.mean
            self.std = std if self.std is None else self.std
        self.mean = _check_stats(self.mean, name="mean", n_channels=n_channels, positive=False)
        self.std = _check_stats(self.std, name="std", n_channels=n_channels, positive=True)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_counts(self) -> torch.Tensor:
        """Images per class, int64 CPU tensor of length ``num_classes`` (zeros for absent classes)."""
        # bincount where the labels live; only the C counts cross to the host
        return torch.bincount(self.labels, minlength=self.num_classes).cpu()

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
        """The images at ``indices`` (int sequence/tensor, or a boolean mask of length N); same metadata.

        ``mean``/``std`` are kept, not recomputed: a long-tailed subset is normalised with the
        statistics of the full training split, as the CIFAR-LT papers do.
        """
        idx = as_tensor(indices, name="indices")
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise ValueError(f"indices as a boolean mask must have shape ({len(self)},); got {tuple(idx.shape)} instead.")
            idx = torch.nonzero(idx).flatten()
        elif idx.is_floating_point() or idx.is_complex() or idx.ndim != 1:
            raise ValueError(f"indices must be a 1-D integer sequence or boolean mask; got dtype {idx.dtype}, shape {tuple(idx.shape)} instead.")
        idx = idx.to(torch.int64)
        if idx.numel() and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise ValueError(f"indices must lie in [-{len(self)}, {len(self)}); got values from {int(idx.min())} to {int(idx.max())} instead.")
        idx = idx.to(self.images.device)
        return dataclasses.replace(self, images=self.images[idx], labels=self.labels[idx])

    def __repr__(self) -> str:
        counts = self.class_counts
        span = f"{int(counts.max())}..{int(counts.min())}" if counts.numel() else "-"
        shape = "x".join(str(s) for s in self.image_shape)
        return (
            f"ImageDataset(name={self.name!r}, n={len(self)}, image={shape}, classes={self.num_classes}, "
            f"per-class {span}, device={self.device.type}, source={short_source(self.source)!r})"
        )
