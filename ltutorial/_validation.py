"""Input checks run once at a public entry; each ValueError names the argument, what was expected and received."""

import math
import tempfile
from pathlib import Path

import numpy as np
import torch


def as_tensor(x, *, name: str, what: str = "numbers") -> torch.Tensor:
    """Numpy arrays, lists and numbers (of ``what``) as a tensor; tensors are returned as they are."""
    if not isinstance(x, torch.Tensor):
        if not isinstance(x, (np.ndarray, list, tuple)) and not np.isscalar(x):
            raise ValueError(f"{name} must be a numpy array, list or torch tensor; got {type(x).__name__} instead.")
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold {what}; got an array of dtype {arr.dtype} instead.")
        x = torch.as_tensor(arr if arr.flags.writeable else arr.copy())  # torch warns on read-only memory (pandas)
    return x


def check_class_counts(class_counts, *, name: str = "class_counts", num_classes: int | None = None,
                       allow_zero: bool = False) -> torch.Tensor:
    """Per-class training counts, 1-D, non-empty, finite, all > 0 (``allow_zero``: >= 0), as a float64 CPU tensor."""
    counts = as_tensor(class_counts, name=name).detach().to("cpu", torch.float64)
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of per-class counts; got shape "
                         f"{tuple(counts.shape)} instead.")
    if not torch.isfinite(counts).all() or (counts < 0 if allow_zero else counts <= 0).any():
        raise ValueError(f"{name} must hold finite counts {'>=' if allow_zero else '>'} 0 for every class; "
                         f"got {counts.tolist()} instead.")
    if num_classes is not None and counts.numel() != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}); got {counts.numel()} entries instead.")
    return counts


def check_labels(labels, *, name: str = "labels", num_classes: int | None = None,
                 allow_empty: bool = True) -> torch.Tensor:
    """Integer class labels in [0, num_classes) as an int64 tensor on the input's device."""
    y = as_tensor(labels, name=name, what="integer class indices")
    if y.ndim != 1 or not (allow_empty or y.numel()):
        raise ValueError(f"{name} must be 1-D{'' if allow_empty else ' and non-empty'}; got shape {tuple(y.shape)} "
                         "instead.")
    if y.dtype == torch.bool or y.is_complex():
        raise ValueError(f"{name} must hold integer class indices; got dtype {y.dtype} instead.")
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name} must hold finite integer class indices; got {float(y[~torch.isfinite(y)][0])} "
                         "instead.")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ValueError(f"{name} must hold integer class indices; got non-integer values instead (for scores or "
                         "logits take .argmax(1) first).")
    y = y.to(torch.int64)
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"{name} must be >= 0; got a minimum of {int(y.min())} instead.")
    if num_classes is not None and y.numel() and int(y.max()) >= num_classes:
        raise ValueError(f"{name} must be < num_classes={num_classes}; got a maximum of {int(y.max())} instead.")
    return y


def check_choice(value, choices, *, name: str):
    """``value`` if it is one of the strings ``choices``, else a ValueError listing them in order."""
    choices = list(choices)
    if not (isinstance(value, str) and value in choices):
        raise ValueError(f"{name} must be one of {choices}; got {value!r} instead.")
    return value


def _is_real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_positive_int(value, *, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (bools refused) as an int."""
    if not (_is_real(value) and isinstance(value, (int, np.integer)) and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r} instead.")
    return int(value)


def check_number(value, *, name: str, minimum: float = 0.0, strict: bool = False, maximum: float = math.inf,
                 strict_max: bool = False) -> float:
    """A finite real number >= ``minimum`` (``strict``: >; -inf: any) and <= ``maximum`` (``strict_max``: <) as a
    float; NaN, inf, bools and strings refused. The package's one float-range check."""
    if _is_real(value) and math.isfinite(value) and (value > minimum if strict else value >= minimum) and (
            value < maximum if strict_max else value <= maximum):
        return float(value)
    if maximum == math.inf:
        bound = "" if minimum == -math.inf else f" {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"{name} must be a finite number{bound}; got {value!r} instead.")
    interval = f"{'(' if strict else '['}{minimum:g}, {maximum:g}{')' if strict_max else ']'}"
    expected = f"in {interval}" if _is_real(value) else f"a number in [{minimum:g}, {maximum:g}]"
    raise ValueError(f"{name} must be {expected}; got {value!r} instead.")


def check_imbalance_ratio(imbalance_ratio, *, name: str = "imbalance_ratio") -> float:
    """An imbalance ratio n_max / n_min: a finite number >= 1."""
    return check_number(imbalance_ratio, name=name, minimum=1)


def check_probability(value, *, name: str, inclusive_low: bool = True, inclusive_high: bool = True) -> float:
    """A number in [0, 1] (either end may be excluded) as a float."""
    return check_number(value, name=name, strict=not inclusive_low, maximum=1.0, strict_max=not inclusive_high)


def check_random_state(random_state, *, name: str = "random_state") -> int | None:
    """None or a non-negative int seed (the package seeds torch.Generator objects from it)."""
    if random_state is not None and not (isinstance(random_state, (int, np.integer)) and _is_real(random_state)
                                         and random_state >= 0):
        raise ValueError(f"{name} must be None or a non-negative integer; got {random_state!r} instead.")
    return None if random_state is None else int(random_state)


def make_generator(random_state, device=None, *, name: str = "random_state") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` (default CPU) seeded from ``random_state`` (None: a random seed)."""
    seed = check_random_state(random_state, name=name)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    return torch.Generator(device=torch.device(device if device is not None else "cpu")).manual_seed(seed)


def check_writable_dir(path, *, name: str) -> Path:
    """``path`` as a folder this user can write into, created if missing (checked before any work)."""
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
        raise ValueError(f"{name} must be a folder this user can write into; got {str(folder)!r} "
                         f"({exc.strerror or type(exc).__name__}) instead.") from None
    return folder
