"""Random crop and horizontal flip as batch tensor operations, and fused normalisation.

The CIFAR recipe of the long-tailed papers (LDAM-DRW, CB, LA, VS: ``RandomCrop(32, padding=4)`` +
``RandomHorizontalFlip``) done on the whole batch at once on its device: each output pixel reads
its source pixel through one gather, so no padded copy, no PIL and no per-sample Python loop.
Used by ``ltutorial.train.fit`` in every notebook that trains a network.
"""

from __future__ import annotations

import torch

from ltutorial._validation import check_choice

__all__ = ["FILLS", "draw_crop_flip", "crop_flip", "random_crop_flip", "normalize"]

#: Border modes of the crop: "zero" pads with black (torchvision's RandomCrop default, the LDAM-DRW
#: recipe), "reflect" mirrors the image without repeating the edge (numpy/torch "reflect").
FILLS = ("zero", "reflect")


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a 4-D tensor (N x C x H x W); got {shape} instead.")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"images must be uint8 or floating point; got dtype {images.dtype} instead.")
    return images


def _check_padding(padding, height: int, width: int) -> int:
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0; got {padding!r} instead.")
    if padding >= min(height, width):
        raise ValueError(f"padding must be smaller than the image side ({min(height, width)}); got {padding} instead.")
    return padding


def _check_fill(fill) -> str:
    check_choice(fill, list(FILLS), name="fill")
    return fill


def draw_crop_flip(n: int, padding: int, *, flip: bool = True, generator: torch.Generator | None = None, device=None):
    """Per-sample crop offsets and flip flags: ``(dy, dx, flips)``, int64 tensors of length n.

    dy, dx ~ U{0..2p} (the top-left corner of the crop in the padded image), flips ~ U{0, 1}.
    Drawn in this order from ``generator`` (on ``device``), so the training loop and the graphed
    fast path draw identical augmentations from the same seed.
    """
    if generator is not None:
        device = generator.device
    side = 2 * padding + 1
    dy = torch.randint(0, side, (n,), generator=generator, device=device)
    dx = torch.randint(0, side, (n,), generator=generator, device=device)
    if flip:
        flips = torch.randint(0, 2, (n,), generator=generator, device=device)
    else:
        flips = torch.zeros(n, dtype=torch.int64, device=device)
    return dy, dx, flips


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    # Mirror about the edge pixel without repeating it: -1 -> 1, size -> size - 2 (valid while padding < size).
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def crop_flip(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flips: torch.Tensor, padding: int = 4,
              fill: str = "zero") -> torch.Tensor:
    """Crop each image at its offset (dy, dx) in the image padded by ``padding``, then flip it if ``flips``.

    out[n, c, i, j] = pad(x)[n, c, i + dy_n, j' + dx_n] with j' = W-1-j when flipped, else j.
    Implemented as one advanced-indexing gather with row/column index tensors; out-of-image reads
    give 0 (``fill="zero"``) or the mirrored pixel (``"reflect"``). Same dtype and shape as the
    input; the result is laid out channels-last in memory (the gather produces N x H x W x C),
    which is what convolutions in channels_last want.
    """
    images = _check_images(images)
    n, _, height, width = images.shape
    padding = _check_padding(padding, height, width)
    fill = _check_fill(fill)
    for name, t in (("dy", dy), ("dx", dx), ("flips", flips)):
        if not isinstance(t, torch.Tensor) or t.shape != (n,):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a tensor of shape ({n},); got {shape} instead.")
    device = images.device
    rows = torch.arange(height, device=device)[None, :] + (dy.to(device)[:, None] - padding)  # N x H
    cols = torch.arange(width, device=device)[None, :]
    cols = torch.where(flips.to(device)[:, None].bool(), width - 1 - cols, cols) + (dx.to(device)[:, None] - padding)
    if fill == "reflect":
        rows, cols = _reflect(rows, height), _reflect(cols, width)
        inside = None
    else:
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]  # N x H x W
        rows, cols = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    batch = torch.arange(n, device=device)[:, None, None]
    out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # N x H x W x C: advanced dims come first
    if inside is not None:
        out = out * inside[..., None].to(out.dtype)
    return out.permute(0, 3, 1, 2)


def random_crop_flip(images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None,
                     flip: bool = True, fill: str = "zero") -> torch.Tensor:
    """Random crop (pad ``padding``, crop back to H x W) and random horizontal flip of a batch.

    Equivalent to torchvision's ``RandomCrop(H, padding=p, padding_mode="constant"|"reflect")``
    followed by ``RandomHorizontalFlip(0.5)`` applied image by image, as in the LDAM-DRW recipe
    (Cao et al., NeurIPS 2019), but as batch tensor operations on the images' device. The same
    ``generator`` seed gives the same output. Notebooks 01, 03 and 06-09 train with it through ``fit``
    (when the data set's ``augment`` is True, i.e. on CIFAR).
    """
    images = _check_images(images)
    padding = _check_padding(padding, images.shape[2], images.shape[3])
    fill = _check_fill(fill)
    if generator is not None and generator.device != images.device:
        raise ValueError(f"generator must be on the images' device ({images.device}); got one on {generator.device} instead.")
    dy, dx, flips = draw_crop_flip(images.shape[0], padding, flip=flip, generator=generator, device=images.device)
    return crop_flip(images, dy, dx, flips, padding=padding, fill=fill)


def normalize(images: torch.Tensor, mean, std, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Fused uint8 -> float conversion and per-channel normalisation: (x / 255 - mean_c) / std_c.

    Written as x * a_c + b_c with a_c = 1 / (255 std_c) and b_c = -mean_c / std_c, one multiply-add
    per pixel. ``mean``/``std`` are in [0, 1] units (the dataset's). Float input is taken to be in
    [0, 1] already. The memory layout (e.g. channels-last) is kept.
    """
    images = _check_images(images)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating-point torch dtype; got {dtype!r} instead.")
    n_channels = images.shape[1]
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).flatten()
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).flatten()
    if mean_t.numel() != n_channels or std_t.numel() != n_channels:
        raise ValueError(
            f"mean and std must have one value per channel ({n_channels}); got {mean_t.numel()} and {std_t.numel()} values instead."
        )
    if images.device.type == "cpu" and not bool((std_t > 0).all()):
        raise ValueError(f"std must be positive; got {std_t.tolist()} instead.")
    unit = 255.0 if images.dtype == torch.uint8 else 1.0
    scale = (1.0 / (unit * std_t)).view(1, -1, 1, 1)
    shift = (-mean_t / std_t).view(1, -1, 1, 1)
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    # images first, so the result takes the images' memory layout (channels-last stays channels-last).
    out = images.to(compute) * scale.to(compute) + shift.to(compute)
    return out if out.dtype == dtype else out.to(dtype)
