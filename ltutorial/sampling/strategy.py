"""``sampling_strategy`` -> how many samples to generate (over-sampling) or keep (under-sampling) per class.

Same semantics as imbalanced-learn's ``check_sampling_strategy`` so that a notebook can swap our
samplers for imblearn's and get the same class counts (checked in ``tests/test_sampling.py``):

- float a in (0, 1], binary only: over-sampling raises the minority to ``int(a * n_majority)``;
  under-sampling cuts the majority to ``int(n_minority / a)``.
- "auto" ("not majority" for over-samplers, "not minority" for under-samplers), "minority",
  "majority", "not minority", "not majority", "all": equalise the targeted classes at the
  majority count (over) or the minority count (under).
- dict ``{class: desired total}``; callable ``f(y) -> dict`` (called with y as a numpy array).

Ties are broken like imbalanced-learn: the first class in sorted order with the largest (smallest)
count is the majority (minority).
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch

from ltutorial._validation import check_choice

SAMPLING_TYPES = ("over-sampling", "under-sampling")


def _labels_numpy(y) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        return y.detach().cpu().numpy()
    return np.asarray(y)


def _count(y: np.ndarray) -> "OrderedDict":
    classes, counts = np.unique(y, return_counts=True)
    return OrderedDict((c.item() if hasattr(c, "item") else c, int(n)) for c, n in zip(classes, counts))


def _majority(stats) -> object:
    return max(stats, key=stats.get)


def _minority(stats) -> object:
    return min(stats, key=stats.get)


def _equalise(stats, sampling_type: str, targeted) -> dict:
    # over: bring every targeted class up to the majority count (value = number to ADD);
    # under: cut every targeted class down to the minority count (value = number to KEEP).
    if sampling_type == "over-sampling":
        top = max(stats.values())
        return {c: top - n for c, n in stats.items() if c in targeted}
    low = min(stats.values())
    return {c: low for c in stats if c in targeted}


# "minority" / "majority" target one class; each makes no sense for one kind of sampler
# (removing from the smallest class, adding to the largest), so that kind is refused with the
# strings that do make sense for it.
_SINGLE_CLASS = {
    "minority": (_minority, "under-sampling", "an under-sampler", "remove samples from the smallest class",
                 "'majority', 'not minority', 'auto' or a dict"),
    "majority": (_majority, "over-sampling", "an over-sampler", "add samples to the largest class",
                 "'minority', 'not majority', 'auto' or a dict"),
}


def _strategy_single(name, stats, sampling_type):
    pick, refused, sampler, why, instead = _SINGLE_CLASS[name]
    if sampling_type == refused:
        raise ValueError(
            f"sampling_strategy={name!r} cannot be used with {sampler} (it would {why}); use {instead} instead."
        )
    return _equalise(stats, sampling_type, {pick(stats)})


def _strategy_not_minority(stats, sampling_type):
    return _equalise(stats, sampling_type, set(stats) - {_minority(stats)})


def _strategy_not_majority(stats, sampling_type):
    return _equalise(stats, sampling_type, set(stats) - {_majority(stats)})


def _strategy_all(stats, sampling_type):
    return _equalise(stats, sampling_type, set(stats))


def _strategy_auto(stats, sampling_type):
    if sampling_type == "over-sampling":
        return _strategy_not_majority(stats, sampling_type)
    return _strategy_not_minority(stats, sampling_type)


STRATEGY_NAMES = {
    "auto": _strategy_auto,
    "minority": partial(_strategy_single, "minority"),
    "majority": partial(_strategy_single, "majority"),
    "not minority": _strategy_not_minority,
    "not majority": _strategy_not_majority,
    "all": _strategy_all,
}


def _strategy_dict(requested, stats, sampling_type):
    missing = [c for c in requested if c not in stats]
    if missing:
        raise ValueError(
            f"sampling_strategy names classes that are not present in y: {missing}; "
            f"the classes of y are {list(stats)}."
        )
    out = {}
    for c, n in requested.items():
        if isinstance(n, bool) or not isinstance(n, Integral):
            raise ValueError(f"sampling_strategy[{c!r}] must be an integer number of samples; got {n!r} instead.")
        n = int(n)
        if n < 0:
            raise ValueError(f"sampling_strategy[{c!r}] must be >= 0; got {n} instead.")
        have = stats[c]
        if sampling_type == "over-sampling":
            if n < have:
                raise ValueError(
                    f"sampling_strategy[{c!r}] asks an over-sampler for {n} samples but class {c!r} already "
                    f"has {have}; with over-sampling the requested total must be >= the original count."
                )
            out[c] = n - have
        else:
            if n > have:
                raise ValueError(
                    f"sampling_strategy[{c!r}] asks an under-sampler for {n} samples but class {c!r} has only "
                    f"{have}; with under-sampling the requested total must be <= the original count."
                )
            out[c] = n
    return out


def _strategy_float(ratio, stats, sampling_type):
    if len(stats) != 2:
        raise ValueError(
            f"sampling_strategy can be a float only for a binary target; got {len(stats)} classes instead. "
            "For multi-class data use a dict {class: count}, a string or a callable."
        )
    if sampling_type == "over-sampling":
        top, major = max(stats.values()), _majority(stats)
        out = {c: int(top * ratio - n) for c, n in stats.items() if c != major}
        if any(v <= 0 for v in out.values()):
            raise ValueError(
                f"sampling_strategy={ratio} would require removing samples from the minority class while "
                "over-sampling (ratio * n_majority <= n_minority); increase the ratio."
            )
        return out
    low, minor = min(stats.values()), _minority(stats)
    out = {c: int(low / ratio) for c in stats if c != minor}
    if any(v > stats[c] for c, v in out.items()):
        raise ValueError(
            f"sampling_strategy={ratio} would require adding samples to the majority class while "
            "under-sampling (n_minority / ratio > n_majority); increase the ratio."
        )
    return out


def check_sampling_strategy(sampling_strategy, y, sampling_type: str) -> "OrderedDict":
    """Resolve ``sampling_strategy`` into ``{class: n}`` sorted by class, as imbalanced-learn does.

    For ``sampling_type="over-sampling"`` n is the number of samples to GENERATE for that class;
    for ``"under-sampling"`` n is the number of samples to KEEP. Classes absent from the dict are
    left untouched. Used by every sampler in ``ltutorial.sampling`` (notebook 02).
    """
    check_choice(sampling_type, list(SAMPLING_TYPES), name="sampling_type")
    y_np = _labels_numpy(y)
    if y_np.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y_np.shape} instead.")
    return resolve_sampling_strategy(sampling_strategy, _count(y_np), sampling_type, lambda: y_np)


def resolve_sampling_strategy(sampling_strategy, stats, sampling_type: str, y_numpy) -> "OrderedDict":
    """``check_sampling_strategy`` from the class counts ``stats`` (an ordered ``{class: count}``).

    ``y_numpy`` is a zero-argument function giving y as a numpy array, called only for a callable
    strategy (so samplers whose labels live on a GPU copy them to the host only then).
    """
    check_choice(sampling_type, list(SAMPLING_TYPES), name="sampling_type")
    if len(stats) < 2:
        raise ValueError(f"y must contain more than one class to be resampled; got {len(stats)} class instead.")

    if isinstance(sampling_strategy, str):
        if sampling_strategy not in STRATEGY_NAMES:
            raise ValueError(
                f"sampling_strategy must be one of {list(STRATEGY_NAMES)} when it is a string; "
                f"got {sampling_strategy!r} instead."
            )
        result = STRATEGY_NAMES[sampling_strategy](stats, sampling_type)
    elif isinstance(sampling_strategy, dict):
        result = _strategy_dict(sampling_strategy, stats, sampling_type)
    elif isinstance(sampling_strategy, Real) and not isinstance(sampling_strategy, bool):
        ratio = float(sampling_strategy)
        if not (0 < ratio <= 1):
            raise ValueError(f"sampling_strategy must be in (0, 1] when it is a float; got {sampling_strategy!r} instead.")
        result = _strategy_float(ratio, stats, sampling_type)
    elif callable(sampling_strategy):
        requested = sampling_strategy(y_numpy())
        if not isinstance(requested, dict):
            raise ValueError(
                f"a callable sampling_strategy must return a dict {{class: count}}; got {type(requested).__name__} instead."
            )
        result = _strategy_dict(requested, stats, sampling_type)
    else:
        raise ValueError(
            "sampling_strategy must be a float in (0, 1], one of "
            f"{list(STRATEGY_NAMES)}, a dict {{class: count}} or a callable; got {sampling_strategy!r} instead."
        )
    return OrderedDict(sorted(result.items()))
