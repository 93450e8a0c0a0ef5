"""Device selection and seeding, called by every notebook's derived-settings cell."""

import random

import numpy as np
import torch

from ltutorial._validation import check_choice, check_positive_int


def get_device(device: str | torch.device | None = "auto", *, verbose: bool = False) -> torch.device:
    """``"auto"`` (or None): CUDA, then Apple MPS, then the CPU; an explicit device this machine lacks raises."""
    auto = device is None or (isinstance(device, str) and device == "auto")
    if auto:
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    elif isinstance(device, str):
        check_choice(device.split(":")[0], ["auto", "cpu", "cuda", "mps"], name="device")
    elif not isinstance(device, torch.device):
        raise ValueError(f"device must be a string or torch.device; got {type(device).__name__} instead.")
    try:
        requested = torch.device(device)
    except RuntimeError:  # "cuda:abc", "cpu:x": torch's message names no argument
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r} instead.") from None
    check_choice(requested.type, ["cpu", "cuda", "mps"], name="device's type")  # torch.device("meta") too
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
    if requested.type in available and not available[requested.type]():
        raise ValueError(f"device={requested.type!r} was requested but {requested.type.upper()} is not available on "
                         "this machine; use 'auto' or 'cpu'.")
    if requested.type == "cuda" and requested.index is not None and requested.index >= torch.cuda.device_count():
        raise ValueError(f"device must name an existing GPU (this machine has {torch.cuda.device_count()}); got "
                         f"{str(requested)!r} instead.")
    if verbose:
        print(f"device: {requested}" + (" (auto)" if auto else ""))
    return requested


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded alike."""
    seed = check_positive_int(seed, name="seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
