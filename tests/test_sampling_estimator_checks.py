"""scikit-learn's and imbalanced-learn's own estimator checks, run on every ltutorial sampler."""

import pytest

pytest.importorskip("imblearn")
from imblearn.utils.estimator_checks import parametrize_with_checks as imblearn_checks  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks as sklearn_checks  # noqa: E402

from ltutorial.sampling import (  # noqa: E402
    SMOTE,
    RandomOverSampler,
    RandomUnderSampler,
    SMOTEUnderSampler,
    make_smote_under,
)

SAMPLERS = [
    SMOTE(random_state=0),
    RandomOverSampler(random_state=0),
    RandomUnderSampler(random_state=0),
    # the checks use 3-class data: the binary default (0.5, 1.0) of SMOTEUnderSampler refuses it
    make_smote_under("median", random_state=0),
]


SPARSE_REFUSED = "SMOTE refuses sparse X (its torch kernel is dense); a one-line error says so (see test_sampling_sklearn)"


def expected_failures(estimator) -> dict:
    """Checks a sampler fails on purpose, with the reason (run as xfail: they must still fail)."""
    if isinstance(estimator, (SMOTE, SMOTEUnderSampler)):
        return {"check_samplers_pandas_sparse": SPARSE_REFUSED}
    return {}


@sklearn_checks(SAMPLERS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _as_list(mark):
    """imblearn's decorator parametrizes with a generator, which pytest deprecates: the same cases as a list."""
    argnames, argvalues = mark.args
    return pytest.mark.parametrize(argnames, list(argvalues), **mark.kwargs)


@_as_list(imblearn_checks(SAMPLERS, expected_failed_checks=expected_failures))
def test_imblearn_sampler_checks(estimator, check):
    check(estimator)
