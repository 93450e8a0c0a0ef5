"""``sampling_strategy`` -> how many samples to generate (over-sampling) or keep (under-sampling) per class.

imbalanced-learn's own ``check_sampling_strategy``, so our samplers and imblearn's resolve a
strategy to the same class counts by construction. Its forms:

- float a in (0, 1], binary only: over-sampling raises the minority to ``int(a * n_majority)``;
  under-sampling cuts the majority to ``int(n_minority / a)``.
- "auto" ("not majority" for over-samplers, "not minority" for under-samplers), "minority",
  "majority", "not minority", "not majority", "all": equalise the targeted classes at the
  majority count (over) or the minority count (under).
- dict ``{class: desired total}``; callable ``f(y, **kwargs) -> dict`` (y as a numpy array).

Ties are broken like imbalanced-learn: the first class in sorted order with the largest (smallest)
count is the majority (minority).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import torch
from imblearn.utils import check_sampling_strategy as imblearn_check_sampling_strategy

from ltutorial._validation import check_choice

SAMPLING_TYPES = ("over-sampling", "under-sampling")
# the strings a sampling_strategy may be (imbalanced-learn's; "majority" only for under-samplers,
# "minority" only for over-samplers)
STRATEGY_NAMES = ("auto", "minority", "majority", "not minority", "not majority", "all")


def check_sampling_strategy(sampling_strategy, y, sampling_type: str, **kwargs) -> "OrderedDict":
    """Resolve ``sampling_strategy`` into ``{class: n}`` sorted by class: imbalanced-learn's function.

    For ``sampling_type="over-sampling"`` n is the number of samples to GENERATE for that class;
    for ``"under-sampling"`` n is the number of samples to KEEP. Classes absent from the dict are
    left untouched. ``y`` may be a numpy array, a list or a torch tensor (any device; copied to the
    host); ``kwargs`` are passed on to a callable strategy. Used by every sampler in
    ``ltutorial.sampling`` (notebook 02).
    """
    check_choice(sampling_type, list(SAMPLING_TYPES), name="sampling_type")
    y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if y_np.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y_np.shape} instead.")
    if isinstance(sampling_strategy, str):
        check_choice(sampling_strategy, STRATEGY_NAMES, name="sampling_strategy")
    elif callable(sampling_strategy):
        requested = sampling_strategy(y_np, **kwargs)
        if not isinstance(requested, Mapping):
            raise ValueError("a callable sampling_strategy must return a dict {class: count}; "
                             f"got {type(requested).__name__} instead.")
        sampling_strategy = dict(requested)
    if isinstance(sampling_strategy, Mapping):
        bad = {c: n for c, n in sampling_strategy.items() if isinstance(n, bool) or not isinstance(n, Integral)}
        if bad:
            raise ValueError(f"sampling_strategy must give whole numbers of samples; got {bad!r} instead.")
    return imblearn_check_sampling_strategy(sampling_strategy, y_np, sampling_type, **kwargs)
