"""The samplers as scikit-learn / imbalanced-learn estimators: clone, pipelines, grid search, parameters, input kinds."""

from collections import Counter

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import NearestNeighbors

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
    kneighbors,
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
                                     RandomOverSampler(shrinkage=0.2, random_state=1),
                                     RandomUnderSampler(replacement=True, random_state=2),
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
        "over": (RandomOverSampler(random_state=0), {"s__shrinkage": [None, 0.5]}),
        "under": (RandomUnderSampler(random_state=0), {"s__replacement": [False, True]}),
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


def test_smoothed_bootstrap_matches_the_formula():
    # imblearn's smoothed bootstrap: new = source row + N(0, (shrinkage * h * std_c)^2) per feature,
    # h = (4 / ((d + 2) n)) ** (1 / (d + 4)); checked on many draws, and against imblearn's own noise
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(300, 2)) * [1.0, 4.0], rng.normal(size=(100, 2)) * [2.0, 0.5] + 5]
    y = np.repeat([0, 1], [300, 100])
    strategy, shrink = {1: 20100}, 0.7
    ros = RandomOverSampler(strategy, shrinkage=shrink, random_state=0)
    Xo, yo = ros.fit_resample(X, y)
    noise = Xo[len(X):] - X[ros.sample_indices_[len(X):]]
    h = (4 / ((2 + 2) * len(X))) ** (1 / (2 + 4))
    expected = shrink * h * X[y == 1].std(axis=0)
    np.testing.assert_allclose(noise.std(axis=0), expected, rtol=0.03)
    np.testing.assert_allclose(noise.mean(axis=0), 0, atol=0.05 * expected.max())
    np.testing.assert_array_equal(Xo[: len(X)], X)
    imb = ImbROS(sampling_strategy=strategy, shrinkage=shrink, random_state=0)
    Xi, _ = imb.fit_resample(X, y)
    np.testing.assert_allclose(noise.std(axis=0), (Xi[len(X):] - X[imb.sample_indices_[len(X):]]).std(axis=0), rtol=0.05)
    assert ros.shrinkage_ == {1: shrink}
    # shrinkage 0 is the plain bootstrap; a dict must cover every resampled class
    plain = RandomOverSampler(random_state=0).fit_resample(X, y)[0]
    np.testing.assert_array_equal(RandomOverSampler(random_state=0, shrinkage=0.0).fit_resample(X, y)[0], plain)
    with pytest.raises(ValueError, match=r"shrinkage must give a factor for every class .* got none for \[1\]"):
        RandomOverSampler(shrinkage={0: 1.0}).fit_resample(X, y)
    with pytest.raises(ValueError, match="'shrinkage' parameter of RandomOverSampler"):
        RandomOverSampler(shrinkage=-1.0).fit_resample(X, y)


def test_under_sampling_with_replacement():
    X, y = _data((1000, 500))
    rus = RandomUnderSampler(replacement=True, random_state=0)
    _, yo = rus.fit_resample(X, y)
    assert Counter(yo.tolist()) == Counter(ImbRUS(replacement=True).fit_resample(X, y)[1].tolist())
    majority = rus.sample_indices_[yo == 0]
    assert len(np.unique(majority)) < len(majority)  # 500 draws from 1000 with replacement repeat
    rus = RandomUnderSampler(random_state=0)
    rus.fit_resample(X, y)
    assert len(np.unique(rus.sample_indices_)) == len(rus.sample_indices_)


def test_k_neighbors_as_a_nearest_neighbours_object():
    X, y = _data((80, 30), dim=4)
    by_int = SMOTE(k_neighbors=3, random_state=0).fit_resample(X, y)[0]
    unfitted = SMOTE(k_neighbors=NearestNeighbors(n_neighbors=4), random_state=0).fit_resample(X, y)[0]
    fitted_elsewhere = NearestNeighbors(n_neighbors=4).fit(np.zeros((5, 4)))
    fitted = SMOTE(k_neighbors=fitted_elsewhere, random_state=0).fit_resample(X, y)[0]
    np.testing.assert_allclose(unfitted, by_int, rtol=1e-12, atol=1e-12)  # both exact Euclidean
    np.testing.assert_array_equal(fitted, unfitted)
    # another metric: every synthetic point lies on a segment to one of its Manhattan neighbours
    sm = SMOTE(k_neighbors=NearestNeighbors(n_neighbors=3, metric="manhattan"), random_state=0)
    Xo, _ = sm.fit_resample(X, y)
    Xc = X[y == 1]
    nn = NearestNeighbors(n_neighbors=3, metric="manhattan").fit(Xc).kneighbors(Xc, return_distance=False)[:, 1:]
    starts, ends = np.repeat(Xc, 2, axis=0), Xc[nn.reshape(-1)]
    new = Xo[len(X):]
    d = ends - starts
    u = np.clip(((new[:, None] - starts[None]) * d[None]).sum(-1) / (d * d).sum(-1)[None], 0, 1)
    residual = np.linalg.norm(new[:, None] - starts[None] - u[..., None] * d[None], axis=-1).min(1)
    assert residual.max() < 1e-9
    assert sm.nn_k_ is not sm.k_neighbors  # cloned, as in imbalanced-learn
    sm.set_params(k_neighbors=2).fit_resample(X, y)  # a refit with an int left the old object in nn_k_
    assert not hasattr(sm, "nn_k_")


def test_one_hot_y_keeps_a_column_without_rows():
    # a class column with no rows (a tail class missing from this subset) was dropped and the next ones shifted left
    X, y = torch.randn(40, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([0] * 30 + [2] * 10)
    for sampler in (RandomOverSampler(random_state=0), SMOTE(random_state=0), RandomUnderSampler(random_state=0)):
        _, Y = sampler.fit_resample(X, torch.eye(3)[y])
        assert Y.shape[1] == 3 and float(Y[:, 1].sum()) == 0 and Y[:, 0].sum() == Y[:, 2].sum()


@pytest.mark.parametrize("device", ["tpu", "cuda:abc"])
def test_random_samplers_check_device_for_numpy_input_too(device):
    X, y = _data((30, 10))  # numpy rows are picked without a device: a bad one passed unchecked
    for sampler in (RandomOverSampler(device=device), RandomUnderSampler(device=device)):
        with pytest.raises(ValueError, match="^device must be"):
            sampler.fit_resample(X, y)


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
    Xo, _ = RandomOverSampler(random_state=0, shrinkage=0.5).fit_resample(Xs, y)
    assert sparse.issparse(Xo) and Xo.shape == (120, 3)
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
    # numpy X with tensor y: X comes back numpy, y a tensor of y's dtype (SMOTE returned a numpy y)
    Xm, ym = clone(sampler).fit_resample(X.astype(np.float32), torch.from_numpy(y).to(torch.int32))
    assert isinstance(Xm, np.ndarray) and isinstance(ym, torch.Tensor) and ym.dtype == torch.int32
    np.testing.assert_array_equal(ym.numpy(), yn)
    np.testing.assert_allclose(Xm, Xn, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_kneighbors_refuses_a_k_that_is_not_a_positive_int(k):
    X = torch.randn(10, 3)
    with pytest.raises(ValueError, match=rf"^k must be an integer >= 1; got {k!r} instead\.$"):
        kneighbors(X, k)


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


def test_smoothed_bootstrap_on_integer_x_is_float64_without_wrapping_like_imblearn():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.integers(0, 4, size=(30, 1)), rng.integers(253, 256, size=(30, 1))], axis=1).astype(np.uint8)
    y = np.array([0] * 24 + [1] * 6)
    Xr, yr = RandomOverSampler(shrinkage=3.0, random_state=0).fit_resample(X, y)
    Xi, _ = ImbROS(shrinkage=3.0, random_state=0).fit_resample(X, y)
    assert Xr.dtype == Xi.dtype == np.float64
    np.testing.assert_array_equal(Xr[: len(X)], X.astype(np.float64))  # the originals, unchanged
    new = Xr[len(X):]
    # noise of a few units around 0..3 and 253..255: negative or > 255 values, never a wrap to the other end
    assert new[:, 0].max() < 20 and new[:, 1].min() > 230, new
    assert np.bincount(yr).tolist() == [24, 24]


class _KNeighborsOnly(BaseEstimator):
    """A neighbours object with kneighbors and no kneighbors_graph: all that our SMOTE calls."""

    def __init__(self, n_neighbors=6):
        self.n_neighbors = n_neighbors

    def fit(self, X):
        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(X)
        return self

    def kneighbors(self, X, return_distance=True):
        return self.nn_.kneighbors(X, return_distance=return_distance)


def test_parameters_we_accept_beyond_imbalanced_learns_constraints():
    # built on imbalanced-learn's samplers, whose constraints ask SMOTE's object for kneighbors_graph too and
    # RandomOverSampler's shrinkage for a dict: ours take any kneighbors object and any Mapping, and give the points
    # of the equivalent NearestNeighbors / dict
    from types import MappingProxyType

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.r_[np.zeros(50, int), np.ones(10, int)]
    ours = SMOTE(k_neighbors=_KNeighborsOnly(), random_state=0).fit_resample(X, y)[0]
    plain = SMOTE(k_neighbors=NearestNeighbors(n_neighbors=6), random_state=0).fit_resample(X, y)[0]
    np.testing.assert_array_equal(ours, plain)
    proxy = RandomOverSampler(shrinkage=MappingProxyType({1: 0.5}), random_state=0).fit_resample(X, y)[0]
    np.testing.assert_array_equal(proxy, RandomOverSampler(shrinkage={1: 0.5}, random_state=0).fit_resample(X, y)[0])
