"""SMOTE followed by random under-sampling of the majority, the combination Chawla et al. recommend.

The SMOTE paper's abstract: over-sampling the minority with synthetic points AND under-sampling
the majority reaches better ROC points than under-sampling alone. The slide's reading: interpolation
is limited by the existing samples, so SMOTE is run together with under-sampling ("increase
minority diversity and decrease majority diversity"). Notebook 02 uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from imblearn.base import BaseSampler
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.under_sampling.base import BaseUnderSampler
from imblearn.utils import check_target_type

from ltutorial.sampling.base import DEVICE_CONSTRAINT, derived_seeds
from ltutorial.sampling.random_sampling import RandomUnderSampler
from ltutorial.sampling.smote import SMOTE
from ltutorial.sampling.strategy import check_sampling_strategy


def _scalar(label):
    return label.item() if hasattr(label, "item") else label


class SMOTEUnderSampler(BaseSampler):
    """``SMOTE(over_sampling_strategy)`` then ``RandomUnderSampler(under_sampling_strategy)``.

    Both strategies have imbalanced-learn's meaning; the under-sampling one is resolved on the
    labels AFTER SMOTE, exactly like an imblearn ``Pipeline([SMOTE(...), RandomUnderSampler(...)])``.
    Binary default: raise the minority to half the majority, then cut the majority to the new
    minority count (0.5, 1.0). For multi-class data see ``make_smote_under``. An imbalanced-learn
    sampler (clone, ``set_params``, pipelines, grid search); inputs and outputs as ``SMOTE`` (which
    refuses scipy.sparse X), torch tensors stay on their device. ``random_state`` (None, int or
    ``numpy.random.RandomState``) fixes both stages (an int s: SMOTE gets s, the under-sampler s + 1).
    Fitted: ``smote_`` and ``under_`` (the fitted samplers), ``sampling_strategy_`` (final counts).
    Notebook 02.
    """

    _sampling_type = "over-sampling"
    _parameter_constraints: dict = {
        "over_sampling_strategy": BaseOverSampler._parameter_constraints["sampling_strategy"],
        "under_sampling_strategy": BaseUnderSampler._parameter_constraints["sampling_strategy"],
        "k_neighbors": SMOTE._parameter_constraints["k_neighbors"],
        "random_state": ["random_state"],
        "device": DEVICE_CONSTRAINT,
    }

    def __init__(self, over_sampling_strategy=0.5, under_sampling_strategy=1.0, k_neighbors=5,
                 random_state=None, device=None):
        self.over_sampling_strategy = over_sampling_strategy
        self.under_sampling_strategy = under_sampling_strategy
        self.k_neighbors = k_neighbors
        self.random_state = random_state
        self.device = device

    def fit(self, X, y, **params):
        """Check X and y and resolve both strategies (as imbalanced-learn's ``fit``: nothing is resampled).

        Sets ``smote_`` (fitted, not run) and ``sampling_strategy_`` (the final class counts).
        """
        self._validate_params()
        over_seed, _ = derived_seeds(self.random_state, 2)
        self.smote_ = SMOTE(self.over_sampling_strategy, k_neighbors=self.k_neighbors,
                            random_state=over_seed, device=self.device).fit(X, y)
        self._copy_feature_attributes()
        y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        y_np = check_target_type(y_np, indicate_one_vs_all=True)[0].reshape(len(y_np), -1)[:, 0]
        added = [np.full(int(n), c, dtype=y_np.dtype) for c, n in self.smote_.sampling_strategy_.items()]
        y_mid = np.concatenate([y_np, *added])
        kept = check_sampling_strategy(self.under_sampling_strategy, y_mid, "under-sampling")
        labels, counts = np.unique(y_mid, return_counts=True)
        self.sampling_strategy_ = {_scalar(c): int(kept.get(c, n)) for c, n in zip(labels, counts)}
        return self

    def _copy_feature_attributes(self) -> None:
        self.n_features_in_ = self.smote_.n_features_in_
        if hasattr(self.smote_, "feature_names_in_"):
            self.feature_names_in_ = self.smote_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def fit_resample(self, X, y, **params):
        """SMOTE, then random under-sampling: ``(X_resampled, y_resampled)`` of the kind X and y came in."""
        self._validate_params()
        over_seed, under_seed = derived_seeds(self.random_state, 2)
        self.smote_ = SMOTE(self.over_sampling_strategy, k_neighbors=self.k_neighbors,
                            random_state=over_seed, device=self.device)
        X_mid, y_mid = self.smote_.fit_resample(X, y)
        self.under_ = RandomUnderSampler(self.under_sampling_strategy, random_state=under_seed, device=self.device)
        X_res, y_res = self.under_.fit_resample(X_mid, y_mid)
        self._copy_feature_attributes()
        y_np = y_res.detach().cpu().numpy() if isinstance(y_res, torch.Tensor) else np.asarray(y_res)
        if y_np.ndim == 2:  # a column vector, or one-hot (whose classes are its columns, as in imblearn)
            y_np = y_np.argmax(axis=1) if y_np.shape[1] > 1 else y_np.ravel()
        labels, counts = np.unique(y_np, return_counts=True)
        self.sampling_strategy_ = {_scalar(c): int(n) for c, n in zip(labels, counts)}
        return X_res, y_res

    def _fit_resample(self, X, y):  # pragma: no cover - fit_resample does the work
        raise NotImplementedError("SMOTEUnderSampler.fit_resample runs its two stages itself.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


# how m is found from the class counts when n_per_class is a name
MEET_AT = {"median": np.median, "mean": np.mean}


def meet_over(n_per_class, y: np.ndarray) -> dict:
    """Over-sampling strategy: every class up to m (``n_per_class``, or the median / mean class count of y)."""
    classes, counts = np.unique(y, return_counts=True)
    m = int(round(float(MEET_AT[n_per_class](counts)))) if isinstance(n_per_class, str) else int(n_per_class)
    return {_scalar(c): max(int(n), m) for c, n in zip(classes, counts)}


def meet_under(n_per_class, y: np.ndarray) -> dict:
    """Under-sampling strategy after ``meet_over``: every class down to the same m.

    For a name, m is the smallest count after the over-sampling step: the median or mean is at least
    the smallest original count, so the classes below it were raised to exactly m. Stateless, so the
    strategy survives ``clone`` and pickling (a grid search copies each parameter on its own).
    """
    classes, counts = np.unique(y, return_counts=True)
    m = int(counts.min()) if isinstance(n_per_class, str) else int(n_per_class)
    return {_scalar(c): min(int(n), m) for c, n in zip(classes, counts)}


@dataclass(frozen=True)
class MeetAt:
    """``meet_over`` (``step="over"``) or ``meet_under`` at ``n_per_class`` as a strategy callable ``y -> dict``.

    A value object rather than ``functools.partial``: its repr is stable across processes, so test ids
    and printed pipelines do not carry memory addresses.
    """

    step: str
    n_per_class: object

    def __call__(self, y) -> dict:
        return (meet_over if self.step == "over" else meet_under)(self.n_per_class, y)


def make_smote_under(n_per_class="median", *, k_neighbors: int = 5, random_state=None, device=None) -> SMOTEUnderSampler:
    """A ``SMOTEUnderSampler`` that ends with ``n_per_class`` samples in every class (multi-class friendly).

    Classes smaller than m are SMOTE'd up to m, larger ones randomly under-sampled to m, where m is
    ``n_per_class`` (an int) or the median / mean class count of the training labels.
    Notebook 02.
    """
    if isinstance(n_per_class, str):
        if n_per_class not in MEET_AT:
            raise ValueError(f"n_per_class must be a positive int or one of {list(MEET_AT)}; got {n_per_class!r} instead.")
    elif isinstance(n_per_class, bool) or not isinstance(n_per_class, Integral) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive int or one of {list(MEET_AT)}; got {n_per_class!r} instead.")
    return SMOTEUnderSampler(MeetAt("over", n_per_class), MeetAt("under", n_per_class),
                             k_neighbors=k_neighbors, random_state=random_state, device=device)
