"""Differential test: our samplers against imbalanced-learn's over many seeded random problems.

Same class counts, same ``sampling_strategy_``, same X and y dtypes, the original rows first and
unchanged (over-samplers), and rows of X with their own labels (random samplers).
"""

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("imblearn")
from imblearn.over_sampling import SMOTE as ImbSMOTE  # noqa: E402
from imblearn.over_sampling import RandomOverSampler as ImbROS  # noqa: E402
from imblearn.under_sampling import RandomUnderSampler as ImbRUS  # noqa: E402

from ltutorial.sampling import SMOTE, RandomOverSampler, RandomUnderSampler  # noqa: E402

N_PROBLEMS = 120
OVER_NAMES = ["auto", "minority", "not minority", "not majority", "all"]
UNDER_NAMES = ["auto", "majority", "not minority", "not majority", "all"]


def _problem(seed):
    """Random classes, counts, width, dtype and label type; a strategy of each kind valid for them."""
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 6))
    counts = rng.integers(7, 90, size=n_classes)
    labels = rng.choice([-3, 0, 1, 2, 5, 9, 11], size=n_classes, replace=False)
    if rng.random() < 0.3:
        labels = np.array([f"c{v}" for v in labels])
    y = np.repeat(labels, counts)
    dtype = rng.choice([np.float32, np.float64])
    X = (rng.normal(size=(len(y), int(rng.integers(1, 7)))) * 3).astype(dtype)
    perm = rng.permutation(len(y))
    X, y = X[perm], y[perm]
    if n_classes == 2 and rng.random() < 0.4:
        low, high = counts.min(), counts.max()
        over = float(rng.uniform(low / high + 0.05, 1.0)) if low / high < 0.95 else "auto"
        under = float(rng.uniform(low / high + 0.01, 1.0)) if low / high < 0.99 else "auto"
    elif rng.random() < 0.3:
        target = dict(zip(labels.tolist(), counts.tolist()))
        over = {c: n + int(rng.integers(0, 40)) for c, n in target.items() if rng.random() < 0.7}
        under = {c: int(rng.integers(1, n + 1)) for c, n in target.items() if rng.random() < 0.7}
    else:
        over, under = rng.choice(OVER_NAMES).item(), rng.choice(UNDER_NAMES).item()
    return X, y, over, under, int(rng.integers(1, 6))


def _same_fit(ours, theirs, X, y):
    Xo, yo = ours.fit_resample(X, y)
    Xi, yi = theirs.fit_resample(X, y)
    assert Counter(yo.tolist()) == Counter(yi.tolist())
    assert dict(ours.sampling_strategy_) == dict(theirs.sampling_strategy_)
    assert list(ours.sampling_strategy_) == list(theirs.sampling_strategy_)  # sorted the same way
    assert Xo.dtype == Xi.dtype == X.dtype and yo.dtype == yi.dtype == y.dtype
    assert Xo.shape == Xi.shape
    return Xo, yo


@pytest.mark.parametrize("seed", range(N_PROBLEMS))
def test_samplers_agree_with_imblearn(seed):
    X, y, over, under, k = _problem(seed)
    # SMOTE: every over-sampled class needs k + 1 samples; the counts start at 7 > k
    Xo, yo = _same_fit(SMOTE(over, k_neighbors=k, random_state=seed),
                       ImbSMOTE(sampling_strategy=over, k_neighbors=k, random_state=seed), X, y)
    np.testing.assert_array_equal(Xo[: len(X)], X)  # the originals first, bit-identical
    np.testing.assert_array_equal(yo[: len(y)], y)
    ros = RandomOverSampler(over, random_state=seed)
    Xo, yo = _same_fit(ros, ImbROS(sampling_strategy=over, random_state=seed), X, y)
    np.testing.assert_array_equal(Xo[: len(X)], X)
    np.testing.assert_array_equal(Xo, X[ros.sample_indices_])
    np.testing.assert_array_equal(yo, y[ros.sample_indices_])
    rus = RandomUnderSampler(under, random_state=seed)
    Xo, yo = _same_fit(rus, ImbRUS(sampling_strategy=under, random_state=seed), X, y)
    np.testing.assert_array_equal(Xo, X[rus.sample_indices_])
    np.testing.assert_array_equal(yo, y[rus.sample_indices_])
    assert len(np.unique(rus.sample_indices_)) == len(rus.sample_indices_)
