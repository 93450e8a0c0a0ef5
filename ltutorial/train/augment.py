"""The CIFAR recipe's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip`` as one gather per batch (notebooks
01-09): out[n, c, i, j] = pad(x)[n, c, i + dy_n, j' + dx_n], j' = W-1-j when flipped; fused normalisation."""

import torch

__all__ = ["draw_crop_flip", "crop_flip", "normalize", "normalize_affine"]


def crop_flip(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flips: torch.Tensor,
              padding: int = 4) -> torch.Tensor:
    """Crop each image at (dy, dx) of the image zero-padded by ``padding`` (torchvision's RandomCrop), then flip
    it where ``flips``; same dtype and shape, laid out channels-last (the gather gives N x H x W x C)."""
    n, _, height, width = _check_images(images).shape
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0; got {padding!r} instead.")
    if padding >= min(height, width):
        raise ValueError(f"padding must be smaller than the image side ({min(height, width)}); got {padding} instead.")
    for name, t in (("dy", dy), ("dx", dx), ("flips", flips)):
        if not isinstance(t, torch.Tensor) or t.shape != (n,):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a tensor of shape ({n},); got {shape} instead.")
    device, padded = images.device, torch.nn.functional.pad(images, (padding,) * 4)
    dy, dx = (t.to(device)[:, None].clamp(0, 2 * padding) for t in (dy, dx))  # offsets into the padded image
    rows = torch.arange(height, device=device)[None, :] + dy  # N x H
    cols = torch.arange(width, device=device)[None, :]
    cols = torch.where(flips.to(device)[:, None].bool(), width - 1 - cols, cols) + dx  # N x W
    out = padded[torch.arange(n, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # N x H x W x C
    return out.permute(0, 3, 1, 2)


def draw_crop_flip(n: int, padding: int, *, generator: torch.Generator):
    """(dy, dx, flips): dy, dx ~ U{0..2p}, flips ~ U{0, 1}, int64 of length n, drawn in this order from
    ``generator`` (on its device), so the loop and the engine draw the same from one seed."""
    return tuple(torch.randint(0, k, (n,), generator=generator, device=generator.device)
                 for k in (2 * padding + 1, 2 * padding + 1, 2))


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """float32 (x / 255 - mean_c) / std_c as one multiply-add x a_c + b_c (float input: already in [0, 1]); keeps
    the memory layout (channels-last stays channels-last)."""
    scale, shift = normalize_affine(images, mean, std)
    return images.to(torch.float32) * scale + shift  # images first: layout kept


def normalize_affine(images: torch.Tensor, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of ``normalize`` for ``images``' dtype, 1 x C x 1 x 1 on their device: the engine's static step."""
    images = _check_images(images)
    mean_t, std_t = (torch.as_tensor(v, dtype=torch.float32, device=images.device).flatten() for v in (mean, std))
    if mean_t.numel() != images.shape[1] or std_t.numel() != images.shape[1]:
        raise ValueError(f"mean and std must have one value per channel ({images.shape[1]}); got {mean_t.numel()} and "
                         f"{std_t.numel()} values instead.")
    if images.device.type == "cpu" and not bool((std_t > 0).all()):
        raise ValueError(f"std must be positive; got {std_t.tolist()} instead.")
    scale = 1.0 / ((255.0 if images.dtype == torch.uint8 else 1.0) * std_t)
    return scale.view(1, -1, 1, 1), (-mean_t / std_t).view(1, -1, 1, 1)


def _check_images(images) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a 4-D tensor (N x C x H x W); got {shape} instead.")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"images must be uint8 or floating point; got dtype {images.dtype} instead.")
    return images
