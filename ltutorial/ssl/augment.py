"""SimCLR's augmentation for CIFAR as batched tensor operations on the device.

The CIFAR recipe of SDCLR / BCL / GH (docs: reference ssl_lt.md, section 2): RandomResizedCrop to
32 px with scale (0.1, 1) and bicubic interpolation, horizontal flip, ColorJitter(0.4, 0.4, 0.4,
0.1) with probability 0.8, RandomGrayscale with probability 0.2, no blur. Torchvision applies
these to one PIL image at a time in DataLoader workers, which cannot feed a GPU (performance.md:
about a third of the bare SimCLR step on 16 cores). Here one call transforms a whole uint8 batch:
every random parameter is drawn per sample from a ``torch.Generator`` on the batch's device, the
crop and the flip are one ``affine_grid`` + ``grid_sample``, and the colour operations are
element-wise tensor maths. Same generator seed, same views (on the same device).

Used by :func:`ltutorial.ssl.pretrain` and notebooks 10-12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice, check_probability

__all__ = ["ContrastiveAugment", "TwoViews", "rgb_to_hsv", "hsv_to_rgb", "resize_images", "resize_dataset"]

_INTERPOLATIONS = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest"}
_OUTPUTS = ("float", "uint8")
# ITU-R 601 luma weights, the ones torchvision's rgb_to_grayscale uses.
_LUMA = (0.2989, 0.587, 0.114)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (N x 3 x H x W) to HSV in [0, 1], element-wise (hue as a fraction of a turn)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    chroma = maxc - minc
    s = chroma / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(chroma > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] back to RGB in [0, 1]; the inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    h6 = h * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = i.long() % 6
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    # Row k of each table is the channel's value in hue sector k (the standard sector table).
    candidates = torch.stack([v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q], dim=1)
    candidates = candidates.view(x.shape[0], 3, 6, *x.shape[2:])
    return candidates.gather(2, i[:, None, None].expand(-1, 3, 1, -1, -1)).squeeze(2)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _check_range(value, *, name: str, low: float, high: float | None = None) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max); got {value!r} instead.") from None
    if not (low <= a <= b) or (high is not None and b > high):
        top = "" if high is None else f" and <= {high}"
        raise ValueError(f"{name} must satisfy {low} <= min <= max{top}; got {value!r} instead.")
    return a, b


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Downscale uint8 images (N x C x H x W) to size x size with antialiasing, once, up front.

    The CPU profiles of notebooks 10-12 pre-train on 16x16 CIFAR to make contrastive learning
    fit in minutes (a quarter of the pixels, about a quarter of the compute).
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a 4-D uint8 tensor; got dtype {images.dtype}, shape {tuple(images.shape)} instead.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer; got {size!r} instead.")
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


@dataclass
class ContrastiveAugment:
    """The SimCLR CIFAR augmentation applied to a whole uint8 batch in one call.

    Per sample i: RandomResizedCrop (area fraction s ~ U(scale), log aspect ratio ~ U(log ratio),
    ten tries as torchvision does, then the whole image), horizontal flip with ``flip_p``,
    ColorJitter with probability ``jitter_p`` (brightness, contrast, saturation factors
    ~ U(1 - j, 1 + j), hue shift ~ U(-h, h); ``random_order`` applies the four in a random order
    per sample, as torchvision's ColorJitter does per image), and grayscale with ``grayscale_p``.
    The crop and flip are one affine resampling (``affine_grid`` + ``grid_sample``); colour
    operations clamp to [0, 1] after each step like torchvision's tensor path. For one-channel
    images the saturation, hue and grayscale steps are skipped (they need RGB).

    ``__call__(images, generator)`` takes uint8 N x C x H x W on any device and returns
    ``output="float"``: float32 normalised with ``mean``/``std`` (raw [0, 1] values when
    ``normalize=False`` is passed to the call, or when mean/std are None), or ``output="uint8"``:
    rounded uint8 images. ``size`` None keeps the input size.
    """

    size: int | None = 32
    scale: tuple = (0.1, 1.0)
    ratio: tuple = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    random_order: bool = True
    interpolation: str = "bicubic"
    mean: tuple | None = None
    std: tuple | None = None
    output: str = "float"

    def __post_init__(self):
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"size must be None or a positive integer; got {self.size!r} instead.")
        self.scale = _check_range(self.scale, name="scale", low=0.0, high=1.0)
        if self.scale[1] <= 0:
            raise ValueError(f"scale must have max > 0; got {self.scale!r} instead.")
        self.ratio = _check_range(self.ratio, name="ratio", low=1e-6)
        for name in ("flip_p", "jitter_p", "grayscale_p"):
            setattr(self, name, check_probability(getattr(self, name), name=name))
        try:
            b, c, s, h = (float(v) for v in self.jitter)
        except (TypeError, ValueError):
            raise ValueError(f"jitter must be 4 numbers (brightness, contrast, saturation, hue); got {self.jitter!r} instead.") from None
        if min(b, c, s, h) < 0 or max(b, c, s) >= 1 or h > 0.5:
            raise ValueError(f"jitter must have brightness/contrast/saturation in [0, 1) and hue in [0, 0.5]; got {self.jitter!r} instead.")
        self.jitter = (b, c, s, h)
        check_choice(self.interpolation, list(_INTERPOLATIONS), name="interpolation")
        check_choice(self.output, list(_OUTPUTS), name="output")
        if (self.mean is None) != (self.std is None):
            raise ValueError(f"mean and std must both be given or both be None; got mean={self.mean!r}, std={self.std!r} instead.")

    @classmethod
    def for_dataset(cls, data, **kwargs) -> "ContrastiveAugment":
        """The recipe with ``data``'s mean/std and image size (an ``ImageDataset``)."""
        kwargs.setdefault("size", int(data.images.shape[-1]))
        kwargs.setdefault("mean", tuple(data.mean))
        kwargs.setdefault("std", tuple(data.std))
        return cls(**kwargs)

    # ------------------------------------------------------------------ pieces
    def _crop_theta(self, n: int, h: int, w: int, device, g: torch.Generator) -> torch.Tensor:
        """Per-sample affine matrices (n x 2 x 3) of the random resized crop and flip, in
        ``affine_grid`` units: |theta[0, 0]| and theta[1, 1] are the crop's width and height as
        fractions of the image, theta[:, 2] its centre in [-1, 1], a negative theta[0, 0] a flip."""
        dev = device
        tries = 10
        area = torch.empty(n, tries, device=dev).uniform_(*self.scale, generator=g)
        log_r = torch.empty(n, tries, device=dev).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1]), generator=g)
        r = torch.exp(log_r)
        # Width and height as fractions of the image side (a crop of area s*H*W, aspect w/h = r).
        fw = torch.sqrt(area * r * h / w)
        fh = torch.sqrt(area / r * w / h)
        valid = (fw <= 1) & (fh <= 1) & (fw > 0) & (fh > 0)
        first = torch.argmax(valid.int(), dim=1, keepdim=True)
        any_valid = valid.any(dim=1)
        one = torch.ones(n, device=dev)
        fw = torch.where(any_valid, fw.gather(1, first).squeeze(1), one)
        fh = torch.where(any_valid, fh.gather(1, first).squeeze(1), one)
        u = torch.rand(n, 3, device=dev, generator=g)
        cx = (fw / 2) + u[:, 0] * (1 - fw)  # crop centre in [0, 1] image units
        cy = (fh / 2) + u[:, 1] * (1 - fh)
        flip = torch.where(u[:, 2] < self.flip_p, -one, one)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0] = fw * flip  # a negative x scale mirrors the crop: flip for free
        theta[:, 0, 2] = 2 * cx - 1
        theta[:, 1, 1] = fh
        theta[:, 1, 2] = 2 * cy - 1
        return theta

    def _crop_flip(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        out = self.size or h
        theta = self._crop_theta(n, h, w, x.device, g)
        grid = F.affine_grid(theta.to(x.dtype), [n, c, out, out], align_corners=False)
        y = F.grid_sample(x, grid, mode=_INTERPOLATIONS[self.interpolation], padding_mode="border", align_corners=False)
        return y.clamp_(0, 1)

    def _jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, c = x.shape[:2]
        dev = x.device
        b, cj, s, hj = self.jitter
        u = torch.rand(n, 5, device=dev, generator=g)
        apply = (u[:, 4] < self.jitter_p).to(x.dtype)
        # A sample that skips jitter gets the identity factors (1, 1, 1, 0), so the whole batch
        # goes through the same kernels and no per-sample branching is needed.
        fb = 1 + apply * b * (2 * u[:, 0] - 1)
        fc = 1 + apply * cj * (2 * u[:, 1] - 1)
        fs = 1 + apply * s * (2 * u[:, 2] - 1)
        fh = apply * hj * (2 * u[:, 3] - 1)
        rgb = c == 3
        ops = 4 if rgb else 2
        if self.random_order:
            order = torch.argsort(torch.rand(n, ops, device=dev, generator=g), dim=1)
        else:
            order = torch.arange(ops, device=dev).expand(n, ops)
        view = (n, 1, 1, 1)
        for stage in range(ops):
            k = order[:, stage]
            # At each stage every op runs with its factor for the samples whose order puts it
            # here and with the identity factor for the rest.
            f = torch.where(k == 0, fb, torch.ones_like(fb)).view(view)
            x = (x * f).clamp_(0, 1)
            f = torch.where(k == 1, fc, torch.ones_like(fc)).view(view)
            m = (_gray(x) if rgb else x).mean(dim=(1, 2, 3), keepdim=True)
            x = ((x - m) * f + m).clamp_(0, 1)
            if rgb:
                f = torch.where(k == 2, fs, torch.ones_like(fs)).view(view)
                gr = _gray(x)
                x = ((x - gr) * f + gr).clamp_(0, 1)
                shift = torch.where(k == 3, fh, torch.zeros_like(fh))
                if hj > 0:
                    hsv = rgb_to_hsv(x)
                    hue = (hsv[:, :1] + shift.view(view)) % 1.0
                    x = hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1)).clamp_(0, 1)
        return x

    def _grayscale(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if x.shape[1] != 3:
            return x
        u = torch.rand(x.shape[0], device=x.device, generator=g)
        mask = (u < self.grayscale_p).view(-1, 1, 1, 1)
        return torch.where(mask, _gray(x).expand_as(x), x)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / std per channel, for float images in [0, 1]."""
        if self.mean is None:
            return x
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        if mean.shape[1] != x.shape[1]:
            raise ValueError(f"mean must have one value per channel ({x.shape[1]}); got {len(self.mean)} values instead.")
        return (x - mean) / std

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None, *, normalize: bool = True) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be a uint8 tensor N x C x H x W; got {getattr(images, 'dtype', type(images).__name__)} "
                f"with shape {tuple(getattr(images, 'shape', ()))} instead."
            )
        if generator is not None and generator.device.type != images.device.type:
            raise ValueError(f"generator must live on the images' device ({images.device}); got one on {generator.device} instead.")
        g = generator if generator is not None else torch.Generator(device=images.device).manual_seed(
            int(torch.randint(0, 2**62, (1,)).item())
        )
        x = images.float().div_(255)
        x = self._crop_flip(x, g)
        if self.jitter_p > 0:
            x = self._jitter(x, g)
        if self.grayscale_p > 0:
            x = self._grayscale(x, g)
        if self.output == "uint8":
            return (x * 255).round_().to(torch.uint8)
        return self.normalize(x) if normalize else x


class TwoViews:
    """Two independent augmentations of the same batch, as SimCLR needs: ``v1, v2 = TwoViews(aug)(x, g)``.

    Both views are made in ONE call on the doubled batch (half the kernel launches of two calls);
    view 1 is the first half. Extra keyword arguments go to the augmentation.
    """

    def __init__(self, augment: ContrastiveAugment):
        if not callable(augment):
            raise ValueError(f"augment must be callable (e.g. a ContrastiveAugment); got {type(augment).__name__} instead.")
        self.augment = augment

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        both = self.augment(torch.cat([images, images], dim=0), generator, **kwargs)
        return both.chunk(2, dim=0)


def resize_dataset(data, size: int):
    """A copy of an ``ImageDataset`` with its images downscaled by :func:`resize_images`."""
    import dataclasses

    return dataclasses.replace(data, images=resize_images(data.images, size))
