"""compare_samplers (notebook 02): the same numbers as a hand-written loop, scored with scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

from ltutorial.sampling import RandomOverSampler, RandomUnderSampler, SMOTE, SamplerComparison, compare_samplers


def _split(seed):
    rng = np.random.default_rng(seed)
    counts = [60, 20, 8]
    X = np.concatenate([rng.normal(loc=2.0 * c, size=(n, 2)) for c, n in enumerate(counts)])
    y = np.repeat(np.arange(3), counts)
    X_test = np.concatenate([rng.normal(loc=2.0 * c, size=(30, 2)) for c in range(3)])
    return X, y, X_test, np.repeat(np.arange(3), 30)


SAMPLERS = {
    "none": None,
    "over": lambda s: RandomOverSampler(random_state=s),
    "under": lambda s: RandomUnderSampler(random_state=s),
    "smote": lambda s: SMOTE(k_neighbors=3, random_state=s),
}


def _lr(seed):
    return LogisticRegression(max_iter=500)


def _sk_scores(y_true, pred):
    recalls = recall_score(y_true, pred, average=None)
    return [balanced_accuracy_score(y_true, pred), float(np.prod(recalls) ** (1 / len(recalls))),
            f1_score(y_true, pred, average="macro")]


def test_compare_samplers_matches_a_manual_loop():
    out = compare_samplers(SAMPLERS, _split, estimator_factory=_lr, seeds=[3, 4])
    assert isinstance(out, SamplerComparison)
    assert out.metrics == ("balanced accuracy", "G-mean", "macro-F1") and out.seeds == (3, 4)
    manual = {name: [] for name in SAMPLERS}
    for seed in (3, 4):
        X, y, X_te, y_te = _split(seed)
        for name, factory in SAMPLERS.items():
            X_fit, y_fit = (X, y) if factory is None else factory(seed).fit_resample(X, y)
            manual[name].append(_sk_scores(y_te, LogisticRegression(max_iter=500).fit(X_fit, y_fit).predict(X_te)))
    for name in SAMPLERS:
        np.testing.assert_allclose(out.scores[name], manual[name], rtol=0, atol=1e-12)
        np.testing.assert_allclose(out.mean[name], np.mean(manual[name], axis=0), rtol=0, atol=1e-12)
    assert out.scores["none"].shape == (2, 3)


def test_compare_samplers_fixed_split():
    split = _split(0)
    out = compare_samplers({"none": None, "over": SAMPLERS["over"]}, split, estimator_factory=_lr, seeds=range(2))
    X, y, X_te, y_te = split
    # no re-sampling on a fixed split with a deterministic estimator: both seeds give the same score
    expected = f1_score(y_te, LogisticRegression(max_iter=500).fit(X, y).predict(X_te), average="macro")
    np.testing.assert_allclose(out.scores["none"][:, 2], [expected, expected], rtol=0, atol=1e-12)
    assert (out.scores["none"][0] == out.scores["none"][1]).all()
    # random over-sampling reaches the majority count, so it matches the manual call for seed 1
    X1, y1 = RandomOverSampler(random_state=1).fit_resample(X, y)
    assert np.bincount(y1).tolist() == [60, 60, 60]
    expected1 = f1_score(y_te, LogisticRegression(max_iter=500).fit(X1, y1).predict(X_te), average="macro")
    assert abs(out.scores["over"][1, 2] - expected1) < 1e-12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"samplers": {}}, "^samplers must be a non-empty dict"),
        ({"samplers": {"smote": SMOTE()}}, r"^samplers\['smote'\] must be None or a callable"),
        ({"samplers": {"bad": lambda s: 3}}, r"^samplers\['bad'\]\(0\) must return None or an object with fit_resample"),
        ({"data": (1, 2, 3)}, "^data must be a tuple"),
        ({"data": lambda s: None}, r"^data\(0\) must be a tuple"),
        ({"data": (np.zeros((3, 2)), np.zeros(2), np.zeros((1, 2)), np.zeros(1))}, r"equal length; got \[3, 2, 1, 1\]"),
        ({"estimator_factory": None}, "^estimator_factory must be a callable"),
        ({"seeds": 3}, "^seeds must be a non-empty sequence of integers"),
        ({"seeds": []}, "^seeds must be a non-empty sequence of integers"),
        ({"seeds": [0.5]}, "^seeds must be a non-empty sequence of integers"),
    ],
)
def test_compare_samplers_rejects_bad_input(kwargs, match):
    args = {"samplers": {"none": None}, "data": _split(0), "estimator_factory": _lr, "seeds": [0], **kwargs}
    with pytest.raises(ValueError, match=match):
        compare_samplers(args.pop("samplers"), args.pop("data"), **args)
