"""SMOTE, then random under-sampling of the majority, as Chawla et al. (JAIR 2002) recommend (notebook 02).

The slide: "increase minority diversity and decrease majority diversity" (better ROC points, the paper's abstract)."""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from imblearn.base import BaseSampler
from imblearn.utils import check_target_type

from ltutorial.sampling.base import DEVICE_CONSTRAINT, check_sampling_strategy, as_numpy
from ltutorial.sampling.random_sampling import RandomUnderSampler
from ltutorial.sampling.smote import SMOTE


class SMOTEUnderSampler(BaseSampler):
    """``SMOTE(over_sampling_strategy)``, then ``RandomUnderSampler(under_sampling_strategy)``, as an imblearn Pipeline.

    Binary default: the minority up to half the majority, the majority down to it. ``random_state`` s seeds SMOTE
    with s, the under-sampler with s + 1."""

    _sampling_type = "over-sampling"
    _parameter_constraints: dict = {
        "over_sampling_strategy": SMOTE._parameter_constraints["sampling_strategy"],  # those of the two stages
        "under_sampling_strategy": RandomUnderSampler._parameter_constraints["sampling_strategy"],
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
        (X_mid, y_mid), under_seed = self._smote_stage(X, y, resample=True)
        self.under_ = RandomUnderSampler(self.under_sampling_strategy, random_state=under_seed, device=self.device)
        X_res, y_res = self.under_.fit_resample(X_mid, y_mid)
        labels, counts = np.unique(check_target_type(as_numpy(y_res)), return_counts=True)  # one-hot: columns
        self.sampling_strategy_ = dict(zip(labels.tolist(), counts.tolist()))
        return X_res, y_res

    def fit(self, X, y, **params):
        """Check X and y and resolve both strategies, nothing resampled (imbalanced-learn's ``fit``)."""
        self._smote_stage(X, y, resample=False)
        labels, counts = np.unique(check_target_type(as_numpy(y)), return_counts=True)  # after SMOTE: + added
        counts = counts + np.asarray([int(self.smote_.sampling_strategy_.get(c, 0)) for c in labels.tolist()])
        kept = check_sampling_strategy(self.under_sampling_strategy, np.repeat(labels, counts), "under-sampling")
        self.sampling_strategy_ = {c: int(kept.get(c, n)) for c, n in zip(labels.tolist(), counts)}
        return self

    def _smote_stage(self, X, y, resample: bool):
        """SMOTE fitted (and run if ``resample``) with seed s; its output, and s + 1 for the under-sampler."""
        self._validate_params()
        rs = self.random_state
        seeds = ([int(s) for s in rs.randint(np.iinfo(np.int32).max, size=2)] if isinstance(rs, np.random.RandomState)
                 else [None, None] if rs is None else [int(rs), int(rs) + 1])
        self.smote_ = SMOTE(self.over_sampling_strategy, k_neighbors=self.k_neighbors, random_state=seeds[0],
                            device=self.device)
        out = self.smote_.fit_resample(X, y) if resample else self.smote_.fit(X, y)
        self.__dict__.pop("feature_names_in_", None)  # a refit without column names has none
        self.__dict__.update({a: v for a, v in vars(self.smote_).items() if a.endswith("_in_")})  # n_features_in_ ...
        return out, seeds[1]

    _fit_resample = None  # imbalanced-learn's abstract hook: fit_resample above runs the two stages itself

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


MEET_AT = {"median": np.median, "mean": np.mean}  # m from the class counts when n_per_class is a name


@dataclass(frozen=True)
class MeetAt:
    """Strategy ``y -> {class: count}``: every class up (``step="over"``) or down to m = ``n_per_class``.

    A name: m is the median / mean count before over-sampling, the smallest after it. A value object, not a closure,
    so it survives ``clone`` and pickling."""

    step: str
    n_per_class: object

    def __call__(self, y) -> dict:
        classes, counts = np.unique(y, return_counts=True)
        m, over = self.n_per_class, self.step == "over"
        if isinstance(m, str):
            m = round(float(MEET_AT[m](counts))) if over else counts.min()
        return {c: int(max(k, m) if over else min(k, m)) for c, k in zip(classes.tolist(), counts)}


def make_smote_under(n_per_class="median", *, k_neighbors: int = 5, random_state=None, device=None):
    """A ``SMOTEUnderSampler`` that SMOTEs every class up to m = ``n_per_class`` (an int, "median" or "mean")
    and under-samples every larger one down to m (notebook 02)."""
    if not (n_per_class in MEET_AT if isinstance(n_per_class, str) else
            isinstance(n_per_class, Integral) and not isinstance(n_per_class, bool) and n_per_class >= 1):
        raise ValueError(f"n_per_class must be a positive int or one of {list(MEET_AT)}; got {n_per_class!r} instead.")
    return SMOTEUnderSampler(MeetAt("over", n_per_class), MeetAt("under", n_per_class), k_neighbors=k_neighbors,
                             random_state=random_state, device=device)
