"""Device selection and seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def get_device(device: str | torch.device | None = "auto", *, verbose: bool = False) -> torch.device:
    """Resolve a device request to a ``torch.device``.

    ``"auto"`` (or None) picks CUDA, then Apple MPS, then the CPU. An explicit request that this
    machine cannot serve raises instead of quietly running elsewhere. Every notebook's
    derived-settings cell calls ``lt.get_device(DEVICE, verbose=True)``.
    """
    if isinstance(device, torch.device):
        requested = device
    elif device is None or device == "auto":
        if torch.cuda.is_available():
            requested = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            requested = torch.device("mps")
        else:
            requested = torch.device("cpu")
        if verbose:
            print(f"device: {requested} (auto)")
        return requested
    elif isinstance(device, str):
        base = device.split(":")[0]
        if base not in _DEVICE_NAMES:
            raise ValueError(f"device must be one of {list(_DEVICE_NAMES)} (optionally 'cuda:N'); got {device!r} instead.")
        requested = torch.device(device)
    else:
        raise ValueError(f"device must be a string or torch.device; got {type(device).__name__} instead.")
    if requested.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but CUDA is not available on this machine; use 'auto' or 'cpu'.")
    if requested.type == "cuda" and requested.index is not None and requested.index >= torch.cuda.device_count():
        raise ValueError(
            f"device must name an existing GPU (this machine has {torch.cuda.device_count()}); got {str(requested)!r} instead."
        )
    if requested.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was requested but MPS is not available on this machine; use 'auto' or 'cpu'.")
    if verbose:
        print(f"device: {requested}")
    return requested


def seed_everything(seed: int, *, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded alike.

    Every notebook's derived-settings cell calls ``lt.seed_everything(SEED)``; ``deterministic=True``
    also asks for deterministic kernels (slower, and only where torch has them).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r} instead.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)
