"""Input checks shared across the package: one helper per concept, imbalanced-learn style.

Each raises ``ValueError`` naming the argument, what was expected and what was received.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _type_name(x: Any) -> str:
    return type(x).__name__


def as_tensor(x, *, name: str, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """Convert numpy arrays, lists or tensors to a tensor; keep tensors on their device."""
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, (np.ndarray, list, tuple)) or np.isscalar(x):
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers; got an array of dtype {arr.dtype} instead.")
        t = torch.as_tensor(arr)
    else:
        raise ValueError(f"{name} must be a numpy array, list or torch tensor; got {_type_name(x)} instead.")
    if dtype is not None:
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    return t


def check_class_counts(class_counts, *, name: str = "class_counts", num_classes: int | None = None) -> torch.Tensor:
    """Validate per-class training counts: 1-D, non-empty, finite, all > 0. Returns float64 CPU tensor."""
    counts = as_tensor(class_counts, name=name).detach().to("cpu", torch.float64)
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of per-class counts; got shape {tuple(counts.shape)} instead.")
    if not torch.isfinite(counts).all() or (counts <= 0).any():
        raise ValueError(f"{name} must hold finite counts > 0 for every class; got {counts.tolist()} instead.")
    if num_classes is not None and counts.numel() != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}); got {counts.numel()} entries instead.")
    return counts


def check_labels(labels, *, name: str = "labels", num_classes: int | None = None) -> torch.Tensor:
    """Validate integer class labels in [0, num_classes). Returns an int64 tensor on the input's device."""
    y = as_tensor(labels, name=name)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {tuple(y.shape)} instead.")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise ValueError(f"{name} must hold integer class indices; got non-integer values instead.")
    elif y.dtype == torch.bool or y.is_complex():
        raise ValueError(f"{name} must hold integer class indices; got dtype {y.dtype} instead.")
    y = y.to(torch.int64)
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"{name} must be >= 0; got a minimum of {int(y.min())} instead.")
    if num_classes is not None and y.numel() and int(y.max()) >= num_classes:
        raise ValueError(f"{name} must be < num_classes={num_classes}; got a maximum of {int(y.max())} instead.")
    return y


def check_imbalance_ratio(imbalance_ratio, *, name: str = "imbalance_ratio") -> float:
    """Validate an imbalance ratio n_max / n_min: a finite number >= 1."""
    if isinstance(imbalance_ratio, bool) or not isinstance(imbalance_ratio, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite number >= 1; got {imbalance_ratio!r} instead.")
    value = float(imbalance_ratio)
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{name} must be a finite number >= 1; got {imbalance_ratio!r} instead.")
    return value


def check_choice(value, choices, *, name: str):
    """``value`` if it is one of ``choices`` (a name from a registry, a mode ...), else a ValueError
    listing ``choices`` in the given order."""
    choices = list(choices)
    try:
        ok = any(value is c or bool(value == c) for c in choices)
    except (TypeError, ValueError, RuntimeError):  # an array or tensor has no single truth value
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {choices}; got {value!r} instead.")
    return value


def check_positive_int(value, *, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r} instead.")
    return int(value)


def check_number(value, *, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= ``minimum`` (``strict``: > ``minimum``) as a float: NaN, inf, bools and
    non-numbers raise a ValueError naming ``name``. The float-range check for hyperparameters."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > minimum if strict else v >= minimum)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum:g}; got {value!r} instead.")
    return float(value)


def check_probability(value, *, name: str, inclusive_low: bool = True, inclusive_high: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r} instead.")
    v = float(value)
    lo_ok = v >= 0 if inclusive_low else v > 0
    hi_ok = v <= 1 if inclusive_high else v < 1
    if not (math.isfinite(v) and lo_ok and hi_ok):
        lo = "[" if inclusive_low else "("
        hi = "]" if inclusive_high else ")"
        raise ValueError(f"{name} must be in {lo}0, 1{hi}; got {value!r} instead.")
    return v


def check_random_state(random_state, *, name: str = "random_state") -> int | None:
    """Accept None or a non-negative int seed (the package seeds torch.Generator objects from it)."""
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ValueError(f"{name} must be None or a non-negative integer; got {random_state!r} instead.")
    return int(random_state)


def make_generator(random_state, device=None, *, name: str = "random_state") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``random_state`` (None: a fresh random seed)."""
    seed = check_random_state(random_state, name=name)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return torch.Generator(device=dev).manual_seed(seed)


def check_writable_dir(path, *, name: str) -> Path:
    """``path`` as a folder this user can write into, created if missing: a file in its place, or a folder
    that cannot be created or written, raises a ValueError naming ``name`` (checked before any work)."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise ValueError(f"{name} must be a folder path; got {path!r} instead.")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name} must be a folder to write into; got {str(folder)!r}, which is a file, instead.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{name} must be a folder this user can write into; got {str(folder)!r} ({reason}) instead.") from None
    return folder
