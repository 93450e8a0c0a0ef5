"""The samplers as scikit-learn / imbalanced-learn estimators: clone, pipelines, grid search, parameters, input kinds."""

from collections import Counter

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

pd = pytest.importorskip("pandas")
pytest.importorskip("imblearn")
from imblearn.over_sampling import SMOTE as ImbSMOTE  # noqa: E402
from imblearn.over_sampling import RandomOverSampler as ImbROS  # noqa: E402
from imblearn.pipeline import Pipeline  # noqa: E402
from imblearn.under_sampling import RandomUnderSampler as ImbRUS  # noqa: E402

from ltutorial.sampling import (  # noqa: E402
    SMOTE,
    RandomOverSampler,
    RandomUnderSampler,
    SMOTEUnderSampler,
    make_smote_under,
)

SAMPLERS = {
    "smote": (lambda **kw: SMOTE(k_neighbors=3, **kw), ImbSMOTE),
    "over": (RandomOverSampler, ImbROS),
    "under": (RandomUnderSampler, ImbRUS),
}


def _data(counts=(80, 20), dim=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng.normal(size=(len(y), dim)) + y[:, None] * 1.5
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


class CountingClassifier(ClassifierMixin, BaseEstimator):
    """Remembers the class counts it was trained on; predicts the class nearest to the class means."""

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.counts_ = dict(zip(self.classes_.tolist(), counts.tolist()))
        self.means_ = np.stack([np.asarray(X)[y == c].mean(0) for c in self.classes_])
        return self

    def predict(self, X):
        d = ((np.asarray(X)[:, None, :] - self.means_[None]) ** 2).sum(-1)
        return self.classes_[d.argmin(1)]


@pytest.mark.parametrize("sampler", [SMOTE(k_neighbors=4, random_state=3, device="cpu"),
                                     RandomOverSampler(sampling_strategy=0.5, random_state=1),
                                     RandomUnderSampler(sampling_strategy=0.5, random_state=2),
                                     SMOTEUnderSampler(0.6, 1.0, k_neighbors=2, random_state=4)])
def test_clone_get_set_params_repr(sampler):
    params = sampler.get_params(deep=True)
    copy = clone(sampler)
    assert copy is not sampler and copy.get_params() == params
    assert repr(copy) == repr(sampler) and type(sampler).__name__ + "(" in repr(sampler)
    assert copy.set_params(random_state=11) is copy and copy.random_state == 11
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        copy.set_params(bogus=1)
    # a clone gives the same result as the original (same parameters, same seed)
    X, y = _data()
    a, b = sampler.fit_resample(X, y), clone(sampler).fit_resample(X, y)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_pipeline_trains_on_the_resampled_counts(name):
    ours, theirs = SAMPLERS[name]
    X, y = _data((60, 25, 12))
    pipe = Pipeline([("s", ours(random_state=0)), ("clf", CountingClassifier())]).fit(X, y)
    reference = Counter(theirs(random_state=0).fit_resample(X, y)[1].tolist())
    assert pipe.named_steps["clf"].counts_ == dict(reference)
    assert pipe.predict(X).shape == y.shape  # the sampler is skipped at predict time
    names = pipe[:-1].get_feature_names_out(["a", "b", "c"])
    assert list(names) == ["a", "b", "c"]


def test_pipeline_with_the_combination_and_a_callable_strategy():
    X, y = _data((60, 25, 12))
    pipe = Pipeline([("s", make_smote_under("median", k_neighbors=3, random_state=0)), ("clf", CountingClassifier())])
    pipe.fit(X, y)
    assert pipe.named_steps["clf"].counts_ == {0: 25, 1: 25, 2: 25}  # the median count of (60, 25, 12)


def test_grid_search_over_a_pipeline_with_each_sampler():
    X, y = _data((120, 30), seed=1)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    grids = {
        "smote": (SMOTE(random_state=0), {"s__k_neighbors": [2, 4], "s__sampling_strategy": [0.5, 1.0]}),
        "over": (RandomOverSampler(random_state=0), {"s__sampling_strategy": [0.5, 1.0]}),
        "under": (RandomUnderSampler(random_state=0), {"s__sampling_strategy": [0.5, 1.0]}),
        "combo": (SMOTEUnderSampler(random_state=0), {"s__over_sampling_strategy": [0.5, 0.8]}),
    }
    for name, (sampler, grid) in grids.items():
        pipe = Pipeline([("s", sampler), ("clf", LogisticRegression())])
        search = GridSearchCV(pipe, grid, cv=cv, scoring="balanced_accuracy", error_score="raise").fit(X, y)
        n_candidates = int(np.prod([len(v) for v in grid.values()]))
        assert len(search.cv_results_["params"]) == n_candidates, name
        assert np.isfinite(search.cv_results_["mean_test_score"]).all(), name
        best = search.best_estimator_.named_steps["s"]
        assert best.get_params()[next(iter(grid))[3:]] == search.best_params_[next(iter(grid))]
    # the refitted best SMOTE pipeline trained on the counts imblearn's SMOTE gives for those parameters
    pipe = Pipeline([("s", SMOTE(random_state=0)), ("clf", CountingClassifier())])
    search = GridSearchCV(pipe, {"s__sampling_strategy": [0.5, 0.75]}, cv=cv).fit(X, y)
    ratio = search.best_params_["s__sampling_strategy"]
    expected = Counter(ImbSMOTE(sampling_strategy=ratio, random_state=0).fit_resample(X, y)[1].tolist())
    assert search.best_estimator_.named_steps["clf"].counts_ == dict(expected)


def test_random_state_kinds():
    X, y = _data()
    for make in (lambda rs: SMOTE(random_state=rs), lambda rs: RandomOverSampler(random_state=rs)):
        a = make(np.random.RandomState(5)).fit_resample(X, y)[0]
        b = make(np.random.RandomState(5)).fit_resample(X, y)[0]
        np.testing.assert_array_equal(a, b)  # a fresh RandomState with the same seed: the same draws
        rs = np.random.RandomState(5)
        sampler = make(rs)
        first, second = sampler.fit_resample(X, y)[0], sampler.fit_resample(X, y)[0]
        assert not np.array_equal(first, second)  # one RandomState advances, as in scikit-learn
        c, d = make(None).fit_resample(X, y)[0], make(None).fit_resample(X, y)[0]
        assert not np.array_equal(c, d)


def test_pandas_in_pandas_out():
    X, y = _data((60, 20))
    df = pd.DataFrame({"a": X[:, 0].astype(np.float32), "b": X[:, 1], "c": X[:, 2]})
    ys = pd.Series(y, name="target")
    for ours, theirs in SAMPLERS.values():
        Xo, yo = ours(random_state=0).fit_resample(df, ys)
        Xi, yi = theirs(random_state=0).fit_resample(df, ys)
        assert isinstance(Xo, pd.DataFrame) and isinstance(yo, pd.Series)
        assert list(Xo.columns) == ["a", "b", "c"] and Xo.dtypes.tolist() == Xi.dtypes.tolist() == df.dtypes.tolist()
        assert yo.name == "target" and yo.dtype == yi.dtype and (yo.index == Xo.index).all()
        assert Counter(yo.tolist()) == Counter(yi.tolist())
        sampler = ours(random_state=0).fit(df, ys)
        assert sampler.feature_names_in_.tolist() == ["a", "b", "c"]
        assert sampler.get_feature_names_out().tolist() == ["a", "b", "c"]


def test_lists_and_target_shapes_like_imblearn():
    X, y = _data((40, 15, 10))
    onehot = np.eye(3, dtype=np.int64)[y]
    for ours, theirs in SAMPLERS.values():
        Xo, yo = ours(random_state=0).fit_resample(X.tolist(), y.tolist())
        assert isinstance(Xo, list) and isinstance(yo, list) and len(Xo) == len(yo)
        assert Counter(yo) == Counter(theirs(random_state=0).fit_resample(X.tolist(), y.tolist())[1])
        for y_in in (y[:, None], onehot):
            _, yo = ours(random_state=0).fit_resample(X, y_in)
            _, yi = theirs(random_state=0).fit_resample(X, y_in)
            assert yo.shape == yi.shape and yo.dtype == yi.dtype
            assert Counter(np.asarray(yo).reshape(len(yo), -1).argmax(1).tolist()) == \
                Counter(np.asarray(yi).reshape(len(yi), -1).argmax(1).tolist())
        # tensors: a one-hot target comes back one-hot, as a tensor
        _, yt = ours(random_state=0).fit_resample(torch.from_numpy(X), torch.from_numpy(onehot))
        assert isinstance(yt, torch.Tensor) and yt.shape == yi.shape and yt.dtype == torch.int64
        assert Counter(yt.argmax(1).tolist()) == Counter(np.asarray(yi).argmax(1).tolist())


def test_sparse_supported_by_random_samplers_refused_by_smote():
    X, y = _data((60, 20))
    X[np.abs(X) < 1] = 0
    Xs = sparse.csr_matrix(X)
    for cls in (RandomOverSampler, RandomUnderSampler):
        Xo, yo = cls(random_state=0).fit_resample(Xs, y)
        assert sparse.issparse(Xo) and Xo.format == "csr"
        np.testing.assert_array_equal(Xo.toarray(), cls(random_state=0).fit_resample(X, y)[0])
    for sampler in (SMOTE(), SMOTEUnderSampler()):
        with pytest.raises(ValueError, match=r"^SMOTE does not support sparse X \(scipy.sparse\).*X.toarray\(\)\.$") as err:
            sampler.fit_resample(Xs, y)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", list(SAMPLERS) + ["combo"])
def test_tensors_in_tensors_out(name):
    X, y = _data((60, 20))
    sampler = make_smote_under(30, k_neighbors=3, random_state=0) if name == "combo" else SAMPLERS[name][0](random_state=0)
    Xn, yn = clone(sampler).fit_resample(X.astype(np.float32), y)
    Xt, yt = sampler.fit_resample(torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y))
    assert isinstance(Xt, torch.Tensor) and Xt.dtype == torch.float32 and Xt.device.type == "cpu"
    assert isinstance(yt, torch.Tensor) and yt.dtype == torch.int64
    np.testing.assert_array_equal(yt.numpy(), yn)  # the same seed: the same rows for numpy and tensors
    np.testing.assert_allclose(Xt.numpy(), Xn, rtol=1e-6, atol=1e-6)
    assert sampler.n_features_in_ == 3 and not hasattr(sampler, "feature_names_in_")
    assert clone(sampler).fit(torch.from_numpy(X), torch.from_numpy(y)).sampling_strategy_ == sampler.sampling_strategy_


def test_tags_and_sampler_protocol_like_imblearn():
    from imblearn.base import is_sampler
    from imblearn.utils._tags import get_tags

    for name, (ours, theirs) in SAMPLERS.items():
        mine, ref = get_tags(ours()), get_tags(theirs())
        assert is_sampler(ours()) and mine.estimator_type == ref.estimator_type == "sampler"
        assert mine.sampler_tags.sample_indices == ref.sampler_tags.sample_indices, name
        assert (mine.input_tags.allow_nan, mine.input_tags.string) == (ref.input_tags.allow_nan, ref.input_tags.string)
        assert mine.target_tags.required
        # sparse: as imblearn for the random samplers; refused (and so declared) by SMOTE
        assert mine.input_tags.sparse == (name != "smote")
    assert is_sampler(SMOTEUnderSampler()) and get_tags(SMOTEUnderSampler()).input_tags.sparse is False
