"""SMOTE, then random under-sampling of the majority: better ROC points than under-sampling alone (Chawla et al.,
JAIR 2002); the slide: "increase minority diversity and decrease majority diversity". Notebook 02."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from imblearn.base import BaseSampler
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.under_sampling.base import BaseUnderSampler
from imblearn.utils import check_sampling_strategy, check_target_type

from ltutorial.sampling.base import DEVICE_CONSTRAINT, labels_numpy, scalar
from ltutorial.sampling.random_sampling import RandomUnderSampler
from ltutorial.sampling.smote import SMOTE


class SMOTEUnderSampler(BaseSampler):
    """``SMOTE(over_sampling_strategy)``, then ``RandomUnderSampler(under_sampling_strategy)`` on its output.

    As an imblearn ``Pipeline([SMOTE, RandomUnderSampler])``; binary default: the minority up to half the
    majority, the majority down to it. ``random_state`` s seeds SMOTE with s, the under-sampler with s + 1.
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
        self.over_sampling_strategy, self.under_sampling_strategy = over_sampling_strategy, under_sampling_strategy
        self.k_neighbors, self.random_state, self.device = k_neighbors, random_state, device

    def fit_resample(self, X, y, **params):
        """SMOTE, then random under-sampling: ``(X_resampled, y_resampled)`` of the kind X and y came in."""
        X_res, y_res = self._stages().under_.fit_resample(*self.smote_.fit_resample(X, y))
        self._copy_feature_attributes()
        y_np = labels_numpy(y_res)
        if y_np.ndim == 2:  # a column vector, or one-hot (whose classes are its columns, as in imblearn)
            y_np = y_np.argmax(axis=1) if y_np.shape[1] > 1 else y_np.ravel()
        self.sampling_strategy_ = {scalar(c): int(n) for c, n in zip(*np.unique(y_np, return_counts=True))}
        return X_res, y_res

    def fit(self, X, y, **params):
        """Check X and y and resolve both strategies, nothing resampled (imbalanced-learn's ``fit``)."""
        self._stages().smote_.fit(X, y)
        self._copy_feature_attributes()
        y_np = labels_numpy(y)
        y_np = check_target_type(y_np, indicate_one_vs_all=True)[0].reshape(len(y_np), -1)[:, 0]
        added = [np.full(int(n), c, dtype=y_np.dtype) for c, n in self.smote_.sampling_strategy_.items()]
        y_mid = np.concatenate([y_np, *added])
        kept = check_sampling_strategy(self.under_sampling_strategy, y_mid, "under-sampling")
        labels, counts = np.unique(y_mid, return_counts=True)
        self.sampling_strategy_ = {scalar(c): int(kept.get(c, n)) for c, n in zip(labels, counts)}
        return self

    def _stages(self):
        """``smote_`` seeded with s and ``under_`` with s + 1 for an int s, two draws from a ``RandomState``."""
        self._validate_params()
        seeds = [self.random_state] * 2
        if isinstance(self.random_state, np.random.RandomState):
            seeds = [int(s) for s in self.random_state.randint(np.iinfo(np.int32).max, size=2)]
        elif self.random_state is not None:
            seeds = [int(self.random_state), int(self.random_state) + 1]
        self.smote_ = SMOTE(self.over_sampling_strategy, k_neighbors=self.k_neighbors, random_state=seeds[0],
                            device=self.device)
        self.under_ = RandomUnderSampler(self.under_sampling_strategy, random_state=seeds[1], device=self.device)
        return self

    def _copy_feature_attributes(self) -> None:
        for attr in ("n_features_in_", "feature_names_in_"):  # the input's, as SMOTE saw it
            self.__dict__.pop(attr, None)
            if hasattr(self.smote_, attr):
                setattr(self, attr, getattr(self.smote_, attr))

    def _fit_resample(self, X, y):  # pragma: no cover - fit_resample runs the two stages itself
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


MEET_AT = {"median": np.median, "mean": np.mean}  # m from the class counts when n_per_class is a name


@dataclass(frozen=True)
class MeetAt:
    """Strategy ``y -> {class: count}``: every class up (``step="over"``) or down to m = ``n_per_class`` (a name:
    the median / mean count before over-sampling, the smallest after it). Not a closure, so clone and pickle work."""

    step: str
    n_per_class: object

    def __call__(self, y) -> dict:
        classes, counts = np.unique(y, return_counts=True)
        n = self.n_per_class
        if self.step == "over":
            m = int(round(float(MEET_AT[n](counts)))) if isinstance(n, str) else int(n)
            return {scalar(c): max(int(k), m) for c, k in zip(classes, counts)}
        m = int(counts.min()) if isinstance(n, str) else int(n)
        return {scalar(c): min(int(k), m) for c, k in zip(classes, counts)}


def make_smote_under(n_per_class="median", *, k_neighbors: int = 5, random_state=None, device=None):
    """A ``SMOTEUnderSampler`` that SMOTEs every class up to m = ``n_per_class`` (an int, "median" or "mean")
    and under-samples every larger one down to m (notebook 02)."""
    valid = n_per_class in MEET_AT if isinstance(n_per_class, str) else (
        isinstance(n_per_class, Integral) and not isinstance(n_per_class, bool) and n_per_class >= 1)
    if not valid:
        raise ValueError(f"n_per_class must be a positive int or one of {list(MEET_AT)}; got {n_per_class!r} instead.")
    return SMOTEUnderSampler(MeetAt("over", n_per_class), MeetAt("under", n_per_class), k_neighbors=k_neighbors,
                             random_state=random_state, device=device)
