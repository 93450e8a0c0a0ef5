"""SimCLR's CIFAR augmentation and BCL's RandAugment operations as batched tensor ops on the device.

RandomResizedCrop(32, scale (0.1, 1), bicubic), flip, ColorJitter(0.4, 0.4, 0.4, 0.1) w.p. 0.8, grayscale
w.p. 0.2 (Chen et al., ICML 2020), drawn per sample from a ``torch.Generator``. Notebooks 10-12.
"""

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ltutorial._validation import check_positive_int, check_probability

_LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale


@functools.lru_cache(maxsize=None)
def _constant(values: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small constant tensor, made once per device and dtype: a host-to-device copy at every step would wait."""
    return torch.tensor(values, device=device, dtype=dtype)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x
    return (x * _constant(_LUMA, x.device, x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (N x 3 x H x W) to HSV in [0, 1], element-wise (hue as a fraction of a turn)."""
    r, g, b = x.unbind(1)
    maxc, minc = x.max(1).values, x.min(1).values
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
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))
    # Row k of each channel's table is its value in hue sector k (the standard sector table).
    candidates = torch.stack([v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q], dim=1)
    candidates = candidates.view(x.shape[0], 3, 6, *x.shape[2:])
    return candidates.gather(2, i[:, None, None].expand(-1, 3, 1, -1, -1)).squeeze(2)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Downscale uint8 images to size x size with antialiasing, once (the CPU profiles use 16 px)."""
    _check_uint8(images)
    size = check_positive_int(size, name="size")
    if tuple(images.shape[-2:]) == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def _floats(value, n: int, name: str, condition: str, ok) -> tuple:
    """``value`` as n floats meeting ``ok``; else an error naming ``condition``."""
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != n or not ok(*out):
        raise ValueError(f"{name} must be {n} numbers with {condition}; got {value!r} instead.")
    return out


@dataclass
class ContrastiveAugment:
    """SimCLR's augmentation of a uint8 batch to float32, normalised (``normalize=False``: [0, 1]); jitter factors
    ~ U(1 - j, 1 + j), hue ~ U(-h, h), in random order, clamped after each step like torchvision."""

    size: int | None = 32
    scale: tuple = (0.1, 1.0)
    ratio: tuple = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple = (0.4, 0.4, 0.4, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    mean: tuple | None = None
    std: tuple | None = None

    def __post_init__(self):
        if self.size is not None:
            check_positive_int(self.size, name="size")
        self.scale = _floats(self.scale, 2, "scale", "0 <= min <= max <= 1, max > 0",
                             lambda a, b: 0 <= a <= b <= 1 and b > 0)
        self.ratio = _floats(self.ratio, 2, "ratio", "0 < min <= max", lambda a, b: 0 < a <= b)
        for name in ("flip_p", "jitter_p", "grayscale_p"):
            setattr(self, name, check_probability(getattr(self, name), name=name))
        self.jitter = _floats(self.jitter, 4, "jitter", "brightness/contrast/saturation in [0, 1), hue in [0, 0.5]",
                              lambda b, c, s, h: min(b, c, s, h) >= 0 and max(b, c, s) < 1 and h <= 0.5)
        if (self.mean is None) != (self.std is None):
            raise ValueError(f"mean and std must both be given or both be None; "
                             f"got mean={self.mean!r}, std={self.std!r} instead.")
        if self.mean is not None:  # plain floats: the key of the per-device constant cache (a tensor's is its id)
            n = len(self.mean) if hasattr(self.mean, "__len__") else 1
            self.mean = _floats(self.mean, n, "mean", "finite values", lambda *m: all(map(math.isfinite, m)))
            self.std = _floats(self.std, n, "std", "finite values > 0 (one per mean)",
                               lambda *s: all(math.isfinite(v) and v > 0 for v in s))

    def _crop_theta(self, n: int, h: int, w: int, device, g: torch.Generator) -> torch.Tensor:
        """n x 2 x 3 ``affine_grid`` matrices: |theta00|, theta11 the crop's size, theta[:, 2] its centre."""
        area = torch.empty(n, 10, device=device).uniform_(*self.scale, generator=g)  # ten tries
        r = torch.exp(torch.empty(n, 10, device=device).uniform_(*(math.log(v) for v in self.ratio), generator=g))
        # Width and height as fractions of the image side (a crop of area s*H*W, aspect w/h = r).
        fw, fh = torch.sqrt(area * r * h / w), torch.sqrt(area / r * w / h)
        valid = (fw <= 1) & (fh <= 1) & (fw > 0) & (fh > 0)
        first, any_valid = torch.argmax(valid.int(), dim=1, keepdim=True), valid.any(dim=1)
        fw, fh = (torch.where(any_valid, f.gather(1, first).squeeze(1), 1.0) for f in (fw, fh))
        u = torch.rand(n, 3, device=device, generator=g)
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = fw * torch.where(u[:, 2] < self.flip_p, -1.0, 1.0)  # a negative x scale flips
        theta[:, 0, 2] = 2 * (fw / 2 + u[:, 0] * (1 - fw)) - 1  # crop centre, from [0, 1] to [-1, 1]
        theta[:, 1, 1] = fh
        theta[:, 1, 2] = 2 * (fh / 2 + u[:, 1] * (1 - fh)) - 1
        return theta

    def _jitter(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, rgb, dev = x.shape[0], x.shape[1] == 3, x.device
        b, cj, s, hj = self.jitter
        u = torch.rand(n, 5, device=dev, generator=g)
        apply = (u[:, 4] < self.jitter_p).to(x.dtype)
        # A sample that skips jitter gets the identity factors (1, 1, 1, 0): no per-sample branching.
        fb, fc, fs = (1 + apply * j * (2 * u[:, i] - 1) for i, j in enumerate((b, cj, s)))
        fh = apply * hj * (2 * u[:, 3] - 1)
        ops = 4 if rgb else 2
        order = torch.argsort(torch.rand(n, ops, device=dev, generator=g), dim=1)  # torchvision's random order
        for stage in range(ops):  # every op runs at every stage, as the identity where it is not its turn
            k = order[:, stage]
            x = _blend(x, torch.zeros_like(x), torch.where(k == 0, fb, 1.0))
            x = _blend(x, _gray(x).mean(dim=(1, 2, 3), keepdim=True), torch.where(k == 1, fc, 1.0))
            if rgb:
                x = _blend(x, _gray(x), torch.where(k == 2, fs, 1.0))
                if hj > 0:
                    hsv = rgb_to_hsv(x)
                    hue = (hsv[:, :1] + torch.where(k == 3, fh, 0.0).view(n, 1, 1, 1)) % 1.0
                    x = hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1)).clamp_(0, 1)
        return x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / std per channel, for float images in [0, 1] (this form: the pre-training numbers as published
        in the notebooks; train's multiply-add differs in the last float bit)."""
        if self.mean is None:
            return x
        mean, std = (_constant(tuple(v), x.device, x.dtype).view(1, -1, 1, 1) for v in (self.mean, self.std))
        if mean.shape[1] != x.shape[1]:
            raise ValueError(f"mean and std must have one value per channel ({x.shape[1]}); got {mean.shape[1]} "
                             "instead.")
        return (x - mean) / std

    def __call__(self, images: torch.Tensor, generator=None, *, normalize: bool = True) -> torch.Tensor:
        g = generator or torch.Generator(device=images.device).manual_seed(int(torch.randint(0, 2**62, (1,))))
        n, c, h, w = _check_uint8(images).shape
        theta = self._crop_theta(n, h, w, images.device, g)  # random resized crop and flip: one bicubic resampling
        grid = F.affine_grid(theta.float(), [n, c, self.size or h, self.size or w], align_corners=False)
        x = F.grid_sample(images.float().div_(255), grid, mode="bicubic", padding_mode="border", align_corners=False)
        x = x.clamp_(0, 1)
        if self.jitter_p > 0:
            x = self._jitter(x, g)
        if self.grayscale_p > 0 and c == 3:  # per sample: the grey image in all three channels
            gray = torch.rand(n, device=x.device, generator=g) < self.grayscale_p
            x = torch.where(gray.view(-1, 1, 1, 1), _gray(x).expand_as(x), x)
        return self.normalize(x) if normalize else x


def _check_uint8(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be a 4-D uint8 tensor N x C x H x W; "
                         f"got {getattr(images, 'dtype', type(images).__name__)} instead.")
    return images


# ---------------------------------------------------------------------- RandAugment (BCL)
# Each op maps x (n x C x H x W in [0, 1]), level in [0, 1], a sign in {-1, +1} and two uniforms
# (n x 2, for a position) to the augmented batch, all per sample. Strength 0 = no change.
_FILL = 0.5


def _affine(x, entries: dict):
    """Resample x through identity matrices with the per-sample ``entries`` {(row, col): value} set."""
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    for (row, col), value in entries.items():
        theta[:, row, col] = value
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # Sampling x - fill with zero padding fills the uncovered area with the grey fill.
    return F.grid_sample(x - _FILL, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + _FILL


def _rotate(x, level, sign, pos):
    cos, sin = torch.cos(math.radians(60.0) * level * sign), torch.sin(math.radians(60.0) * level * sign)
    return _affine(x, {(0, 0): cos, (0, 1): -sin, (1, 0): sin, (1, 1): cos})


def _auto_contrast(x, level, sign, pos):
    lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    return torch.where(hi > lo, (x - lo) / (hi - lo).clamp_min(1e-8), x)


def _equalize(x, level, sign, pos):
    # Per image and channel: map each grey level through the normalised cumulative histogram.
    n, c, h, w = x.shape
    q = (x * 255).round().long().clamp(0, 255).view(n * c, h * w)
    hist = torch.zeros(n * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float32))
    cdf = hist.cumsum(1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).amin(1, keepdim=True)
    lut = ((cdf - cdf_min) / (h * w - cdf_min).clamp_min(1)).clamp(0, 1)
    return torch.where((h * w - cdf_min).view(n, c, 1, 1) <= 0, x, lut.gather(1, q).view(n, c, h, w))


def _posterize(x, level, sign, pos):
    # keep 8 - 4 level bits: stronger with the level like every op. BCL's official code keeps 4 + 4 level bits,
    # milder where the memorization score is high, against the method's idea, so we do not copy that direction.
    step = torch.pow(2.0, torch.round(4 * level)).view(-1, 1, 1, 1)
    return torch.floor(x * 255 / step) * step / 255


def _blend(x, other, factor):
    """other + factor (x - other) per sample, clamped to [0, 1]: brightness, contrast, saturation, sharpness."""
    return (other + factor.view(-1, 1, 1, 1) * (x - other)).clamp(0, 1)


def _sharpness(x, level, sign, pos):
    c = x.shape[1]
    kernel = _constant(((1.0, 1.0, 1.0), (1.0, 5.0, 1.0), (1.0, 1.0, 1.0)), x.device, x.dtype) / 13
    smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)
    return _blend(x, smooth, 1 + 0.9 * level * sign)


def _cutout(x, level, sign, pos):
    h, w = x.shape[2:]
    side = (0.4 * level * min(h, w)).view(-1, 1, 1)
    ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w) + 0.5
    cy, cx = (pos[:, 0] * h).view(-1, 1, 1), (pos[:, 1] * w).view(-1, 1, 1)
    box = ((ys - cy).abs() <= side / 2) & ((xs - cx).abs() <= side / 2)
    return torch.where(box[:, None], torch.full_like(x, _FILL), x)


RANDAUGMENT_OPS = {
    "shear_x": lambda x, lv, s, p: _affine(x, {(0, 1): 0.6 * lv * s}),
    "shear_y": lambda x, lv, s, p: _affine(x, {(1, 0): 0.6 * lv * s}),
    "translate_x": lambda x, lv, s, p: _affine(x, {(0, 2): 2 * 0.66 * lv * s}),  # a fraction f of the side is 2f
    "translate_y": lambda x, lv, s, p: _affine(x, {(1, 2): 2 * 0.66 * lv * s}),
    "rotate": _rotate,
    "auto_contrast": _auto_contrast,
    "invert": lambda x, lv, s, p: 1 - x,
    "equalize": _equalize,
    # stronger = lower threshold: level 0 inverts nothing, level 1 pixels above 146/255
    "solarize": lambda x, lv, s, p: torch.where(x >= ((256 - 110 * lv) / 255).view(-1, 1, 1, 1), 1 - x, x),
    "posterize": _posterize,
    # blend factors 1 +- 0.9 level in [0.1, 1.9], centred on the identity
    "contrast": lambda x, lv, s, p: _blend(x, _gray(x).mean(dim=(1, 2, 3), keepdim=True), 1 + 0.9 * lv * s),
    "color": lambda x, lv, s, p: _blend(x, _gray(x).expand_as(x), 1 + 0.9 * lv * s),
    "brightness": lambda x, lv, s, p: _blend(x, torch.zeros_like(x), 1 + 0.9 * lv * s),
    "sharpness": _sharpness,
    "cutout": _cutout,
}
