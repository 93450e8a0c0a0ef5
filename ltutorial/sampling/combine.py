"""SMOTE followed by random under-sampling of the majority, the combination Chawla et al. recommend.

The SMOTE paper's abstract: over-sampling the minority with synthetic points AND under-sampling
the majority reaches better ROC points than under-sampling alone. The slide's reading: interpolation
is limited by the existing samples, so SMOTE is run together with under-sampling ("increase
minority diversity and decrease majority diversity"). Notebook 02 uses it.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

from ltutorial.sampling.random_sampling import RandomUnderSampler
from ltutorial.sampling.smote import SMOTE
from ltutorial.sampling.base import BaseSampler


class SMOTEUnderSampler(BaseSampler):
    """``SMOTE(over_sampling_strategy)`` then ``RandomUnderSampler(under_sampling_strategy)``.

    Both strategies have imbalanced-learn's meaning; the under-sampling one is resolved on the
    labels AFTER SMOTE, exactly like an imblearn ``Pipeline([SMOTE(...), RandomUnderSampler(...)])``.
    Binary default: raise the minority to half the majority, then cut the majority to the new
    minority count (0.5, 1.0). For multi-class data see ``make_smote_under``.
    Fitted: ``smote_`` and ``under_`` (the fitted samplers), ``sampling_strategy_`` (final counts).
    Notebook 02.
    """

    def __init__(self, over_sampling_strategy=0.5, under_sampling_strategy=1.0, k_neighbors: int = 5,
                 random_state=None, device=None):
        self.over_sampling_strategy = over_sampling_strategy
        self.under_sampling_strategy = under_sampling_strategy
        self.k_neighbors = k_neighbors
        self.random_state = random_state
        self.device = device

    def fit_resample(self, X, y):
        self.smote_ = SMOTE(self.over_sampling_strategy, k_neighbors=self.k_neighbors,
                            random_state=self.random_state, device=self.device)
        X_mid, y_mid = self.smote_.fit_resample(X, y)
        # a different stream for the second stage, still fixed by random_state
        seed = None if self.random_state is None else int(self.random_state) + 1
        self.under_ = RandomUnderSampler(self.under_sampling_strategy, random_state=seed, device=self.device)
        X_res, y_res = self.under_.fit_resample(X_mid, y_mid)
        y_np = y_res.detach().cpu().numpy() if hasattr(y_res, "detach") else np.asarray(y_res)
        classes, counts = np.unique(y_np, return_counts=True)
        self.sampling_strategy_ = {c.item(): int(n) for c, n in zip(classes, counts)}
        return X_res, y_res


class _MeetAt:
    """Strategies that bring every class to the same count m: SMOTE the small ones up, cut the big ones down."""

    def __init__(self, n_per_class):
        self.n_per_class = n_per_class
        self.m = None

    def _resolve(self, counts: np.ndarray) -> int:
        if isinstance(self.n_per_class, str):
            return int(round(float({"median": np.median, "mean": np.mean}[self.n_per_class](counts))))
        return int(self.n_per_class)

    def over(self, y: np.ndarray) -> dict:
        classes, counts = np.unique(y, return_counts=True)
        self.m = self._resolve(counts)
        return {c.item(): max(int(n), self.m) for c, n in zip(classes, counts)}

    def under(self, y: np.ndarray) -> dict:
        classes, counts = np.unique(y, return_counts=True)
        return {c.item(): min(int(n), self.m) for c, n in zip(classes, counts)}


_MEET_NAMES = ("median", "mean")


def make_smote_under(n_per_class="median", *, k_neighbors: int = 5, random_state=None, device=None) -> SMOTEUnderSampler:
    """A ``SMOTEUnderSampler`` that ends with ``n_per_class`` samples in every class (multi-class friendly).

    Classes smaller than m are SMOTE'd up to m, larger ones randomly under-sampled to m, where m is
    ``n_per_class`` (an int) or the median / mean class count of the training labels.
    Notebook 02.
    """
    if isinstance(n_per_class, str):
        if n_per_class not in _MEET_NAMES:
            raise ValueError(f"n_per_class must be a positive int or one of {list(_MEET_NAMES)}; got {n_per_class!r} instead.")
    elif isinstance(n_per_class, bool) or not isinstance(n_per_class, Integral) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int or one of {list(_MEET_NAMES)}; got {n_per_class!r} instead.")
    meet = _MeetAt(n_per_class)
    return SMOTEUnderSampler(meet.over, meet.under, k_neighbors=k_neighbors, random_state=random_state, device=device)
