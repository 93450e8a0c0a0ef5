"""ltutorial.sampling against imbalanced-learn (counts) and against the SMOTE definition (geometry)."""

from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

imblearn = pytest.importorskip("imblearn")
from imblearn.over_sampling import SMOTE as ImbSMOTE  # noqa: E402
from imblearn.over_sampling import RandomOverSampler as ImbROS  # noqa: E402
from imblearn.pipeline import Pipeline  # noqa: E402
from imblearn.under_sampling import RandomUnderSampler as ImbRUS  # noqa: E402

from ltutorial.sampling import (  # noqa: E402
    SMOTE,
    RandomOverSampler,
    RandomUnderSampler,
    SMOTEUnderSampler,
    check_sampling_strategy,
    kneighbors,
    make_smote_under,
)
from ltutorial.sampling import neighbors  # noqa: E402
from ltutorial.sampling.neighbors import cpu_workers  # noqa: E402


def _data(counts, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)]).astype(np.int64)
    X = rng.normal(size=(len(y), dim)) + y[:, None] * 1.5
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


BINARY = (80, 20)
MULTI = (60, 25, 12, 30)
# tied largest / smallest classes: imblearn takes the first in sorted class order as THE one
TIED_MAJORITY = (10, 30, 30)
TIED_MINORITY = (30, 10, 10)


def _cb_binary(y):
    return {1: 40}


def _cb_multi(y):
    return {1: 50, 2: 12, 3: 45}


OVER_BINARY = [0.5, 1.0, "auto", "minority", "not minority", "not majority", "all", {1: 50}, {0: 90, 1: 20}, _cb_binary]
OVER_MULTI = ["auto", "minority", "not minority", "not majority", "all", {1: 50, 2: 12, 3: 45}, _cb_multi]
def _cb_under(y):
    return {0: 25}


UNDER_BINARY = [0.5, 1.0, "auto", "majority", "not minority", "not majority", "all", {0: 30}, _cb_under]
UNDER_MULTI = ["auto", "majority", "not minority", "not majority", "all", {0: 20, 3: 12}]


def _counts(y):
    y = y.cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return dict(sorted(Counter(y.tolist()).items()))


@pytest.mark.parametrize("as_torch", [False, True], ids=["numpy", "torch"])
@pytest.mark.parametrize(
    "counts,strategy",
    [(BINARY, s) for s in OVER_BINARY] + [(MULTI, s) for s in OVER_MULTI]
    + [(TIED_MINORITY, s) for s in ("minority", "not minority")],
)
def test_smote_counts_match_imblearn(counts, strategy, as_torch):
    X, y = _data(counts)
    Xi, yi = ImbSMOTE(sampling_strategy=strategy, k_neighbors=3, random_state=0).fit_resample(X, y)
    sm = SMOTE(sampling_strategy=strategy, k_neighbors=3, random_state=0)
    Xo, yo = sm.fit_resample(torch.as_tensor(X), torch.as_tensor(y)) if as_torch else sm.fit_resample(X, y)
    assert _counts(yo) == _counts(yi)
    assert Xo.shape == Xi.shape
    ref = ImbSMOTE(sampling_strategy=strategy, k_neighbors=3)
    ref.fit_resample(X, y)
    assert dict(sm.sampling_strategy_) == {k: int(v) for k, v in ref.sampling_strategy_.items()}
    assert sm.n_synthetic_ == len(yi) - len(y)


@pytest.mark.parametrize("counts,strategy", [(BINARY, s) for s in OVER_BINARY] + [(MULTI, s) for s in OVER_MULTI])
def test_random_over_counts_match_imblearn(counts, strategy):
    X, y = _data(counts)
    _, yi = ImbROS(sampling_strategy=strategy, random_state=0).fit_resample(X, y)
    ros = RandomOverSampler(sampling_strategy=strategy, random_state=0)
    Xo, yo = ros.fit_resample(X, y)
    assert _counts(yo) == _counts(yi)
    # each added row is a copy of a row of the same class
    np.testing.assert_array_equal(Xo, X[ros.sample_indices_])
    np.testing.assert_array_equal(yo, y[ros.sample_indices_])
    np.testing.assert_array_equal(Xo[: len(X)], X)


@pytest.mark.parametrize("as_torch", [False, True], ids=["numpy", "torch"])
@pytest.mark.parametrize("counts,strategy", [(BINARY, s) for s in UNDER_BINARY] + [(MULTI, s) for s in UNDER_MULTI]
                         + [(TIED_MAJORITY, s) for s in ("majority", "not majority")])
def test_random_under_counts_match_imblearn(counts, strategy, as_torch):
    X, y = _data(counts)
    _, yi = ImbRUS(sampling_strategy=strategy, random_state=0).fit_resample(X, y)
    rus = RandomUnderSampler(sampling_strategy=strategy, random_state=0)
    Xo, yo = rus.fit_resample(torch.as_tensor(X), torch.as_tensor(y)) if as_torch else rus.fit_resample(X, y)
    assert _counts(yo) == _counts(yi)
    idx = rus.sample_indices_
    assert len(np.unique(idx)) == len(idx)  # without replacement
    Xo = Xo.numpy() if as_torch else Xo
    np.testing.assert_array_equal(Xo, X[idx])


@pytest.mark.parametrize("counts,strategy,kind", [
    (BINARY, "majority", "over-sampling"),
    (BINARY, "minority", "under-sampling"),
    (MULTI, 0.5, "over-sampling"),  # a float is for binary targets only
    (MULTI, 0.5, "under-sampling"),
    (BINARY, 0.1, "over-sampling"),  # 0.1 * 80 <= 20: would remove minority samples
    (BINARY, 0.25, "over-sampling"),  # 0.25 * 80 = 20: nothing to add
    (BINARY, 0.2, "under-sampling"),  # 20 / 0.2 = 100 > 80: would add majority samples
    (BINARY, 1.5, "over-sampling"),
    (BINARY, {1: 10}, "over-sampling"),
    (BINARY, {1: 30}, "under-sampling"),
    (BINARY, {7: 30}, "over-sampling"),
])
def test_strategy_errors_are_imblearns(counts, strategy, kind):
    # the same bad strategy gives the same error, word for word, from our sampler and imblearn's
    X, y = _data(counts)
    ours, theirs = (SMOTE, ImbSMOTE) if kind == "over-sampling" else (RandomUnderSampler, ImbRUS)
    with pytest.raises(ValueError) as expected:
        theirs(sampling_strategy=strategy).fit_resample(X, y)
    with pytest.raises(type(expected.value)) as got:
        ours(sampling_strategy=strategy).fit_resample(X, y)
    assert str(got.value) == str(expected.value)
    with pytest.raises(type(expected.value)) as got_torch:  # the tensor path resolves it the same way
        ours(sampling_strategy=strategy).fit_resample(torch.as_tensor(X), torch.as_tensor(y))
    assert str(got_torch.value) == str(expected.value)


@pytest.mark.parametrize("strategy,match", [
    ("bogus", "sampling_strategy must be one of"),
    ({1: -1}, "cannot be negative"),
    ({1: 25.5}, r"whole numbers of samples; got \{1: 25.5\}"),
    ([1], "cannot be a list"),
    (lambda y: [1, 2], "must return a dict"),
])
def test_strategy_bad_forms(strategy, match):
    _, y = _data(BINARY)
    with pytest.raises(ValueError, match=match):
        check_sampling_strategy(strategy, y, "over-sampling")


@pytest.mark.parametrize("make, bad", [
    (lambda: SMOTE(sampling_strategy={1: 25.5}), "{1: 25.5}"),
    (lambda: RandomOverSampler(sampling_strategy={1: 25.5}), "{1: 25.5}"),
    (lambda: RandomUnderSampler(sampling_strategy={0: 10.5}), "{0: 10.5}"),
    (lambda: SMOTEUnderSampler(over_sampling_strategy={1: 25.5}), "{1: 25.5}"),
])
def test_non_integer_dict_counts_refused_on_every_input_path(make, bad):
    # the numpy fast path once truncated 25.5 where the tensor path refused it: one error on every path
    X, y = _data(BINARY)
    inputs = {"numpy": (X, y), "tensor": (torch.as_tensor(X), torch.as_tensor(y)), "list": (X.tolist(), y.tolist())}
    for X_in, y_in in inputs.values():
        for method in ("fit_resample", "fit"):
            with pytest.raises(ValueError) as err:
                getattr(make(), method)(X_in, y_in)
            assert str(err.value) == f"sampling_strategy must give whole numbers of samples; got {bad} instead."


def test_strategy_callable_gets_keyword_arguments():
    # imblearn's contract: check_sampling_strategy(strategy, y, kind, **kwargs) calls strategy(y, **kwargs)
    _, y = _data(MULTI)

    def up_to(y, *, total):
        return {c: max(int(n), total) for c, n in zip(*np.unique(y, return_counts=True))}

    got = check_sampling_strategy(up_to, torch.as_tensor(y), "over-sampling", total=40)
    assert dict(got) == {0: 0, 1: 15, 2: 28, 3: 10}  # 40 - (60, 25, 12, 30), none below 0
    assert list(got) == sorted(got)


def test_strategy_needs_two_classes_and_known_type():
    with pytest.raises(ValueError, match="more than 1 class"):
        check_sampling_strategy("auto", np.zeros(5, dtype=int), "over-sampling")
    with pytest.raises(ValueError, match="sampling_type"):
        check_sampling_strategy("auto", np.array([0, 1]), "clean-sampling")


def _segment_residual(points, starts, ends):
    """For each point, the smallest distance to any segment [start, end] (u clipped to [0, 1])."""
    d = ends - starts  # S x D
    rel = points[:, None, :] - starts[None, :, :]  # P x S x D
    u = np.clip((rel * d[None]).sum(-1) / np.maximum((d * d).sum(-1), 1e-12)[None], 0, 1)
    return np.linalg.norm(rel - u[..., None] * d[None], axis=-1).min(axis=1)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_synthetic_points_lie_on_segments_to_k_nearest_neighbours(k):
    X, y = _data(MULTI, dim=4, seed=1)
    Xo, yo = SMOTE(k_neighbors=k, random_state=3).fit_resample(X, y)
    new_X, new_y = Xo[len(X):], yo[len(X):]
    assert len(new_y) > 0
    for c in np.unique(new_y):
        Xc = X[y == c].astype(np.float32)
        nn = NearestNeighbors(n_neighbors=k + 1).fit(Xc).kneighbors(Xc, return_distance=False)[:, 1:]
        starts = np.repeat(Xc, k, axis=0)
        ends = Xc[nn.reshape(-1)]
        good = _segment_residual(new_X[new_y == c], starts, ends)
        assert good.max() < 1e-4, good.max()
        # and not merely anywhere in the class hull: segments to the farthest point do not explain them
        far = np.argsort(((Xc[:, None] - Xc[None]) ** 2).sum(-1), axis=1)[:, -1]
        bad = _segment_residual(new_X[new_y == c], Xc, Xc[far])
        assert np.mean(bad > 1e-3) > 0.5


def test_kneighbors_matches_sklearn_and_blocking(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 7)).astype(np.float32) * 100 + 1000  # offset: centring must cope
    ref = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X, return_distance=False)[:, 1:]
    ours = kneighbors(torch.from_numpy(X), 5).numpy()
    np.testing.assert_array_equal(ours, ref)
    monkeypatch.setitem(neighbors.BLOCK_ELEMENTS, "cpu", 300)  # 1 row per block
    blocked = kneighbors(torch.from_numpy(X), 5).numpy()
    np.testing.assert_array_equal(blocked, ref)


def test_kneighbors_of_selected_rows_match_sklearn(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 5)).astype(np.float32)
    ref = NearestNeighbors(n_neighbors=4).fit(X).kneighbors(X, return_distance=False)[:, 1:]
    rows = torch.tensor([149, 0, 7, 7, 80])  # any order, repeats allowed
    np.testing.assert_array_equal(kneighbors(torch.from_numpy(X), 3, rows=rows).numpy(), ref[rows.numpy()])
    monkeypatch.setitem(neighbors.BLOCK_ELEMENTS, "cpu", 150)
    np.testing.assert_array_equal(kneighbors(torch.from_numpy(X), 3, rows=rows).numpy(), ref[rows.numpy()])


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_worker_pool_gives_the_same_output_and_restores_threads(two_torch_threads):
    # on the CPU the work is split over torch.get_num_threads() single-threaded workers; the
    # result must not depend on that split, and torch's thread count must come back unchanged
    X, y = _data((600, 150, 40, 9), dim=6, seed=2)
    with_pool = SMOTE(k_neighbors=4, random_state=5).fit_resample(X, y)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    without = SMOTE(k_neighbors=4, random_state=5).fit_resample(X, y)
    np.testing.assert_array_equal(with_pool[0], without[0])
    np.testing.assert_array_equal(with_pool[1], without[1])
    torch.set_num_threads(2)
    with pytest.raises(ValueError, match="class 3 has 9"):
        SMOTE(k_neighbors=9).fit_resample(X, y)
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="inside"):
        with cpu_workers(torch.device("cpu")) as pool:
            assert pool is not None and torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 2
    with cpu_workers(torch.device("meta")) as pool:  # not the CPU: no pool, threads untouched
        assert pool is None and torch.get_num_threads() == 2


def test_smote_keeps_originals_first_then_appends_the_minority():
    X, y = _data(BINARY)
    Xo, yo = SMOTE(random_state=0).fit_resample(X, y)
    assert Xo.dtype == np.float64
    np.testing.assert_array_equal(Xo[: len(X)], X)  # bit-identical
    np.testing.assert_array_equal(yo[: len(y)], y)
    assert (yo[len(y):] == 1).all()


def test_same_random_state_same_output_and_different_seed_differs():
    X, y = _data(MULTI)
    a = SMOTE(random_state=7).fit_resample(X, y)[0]
    b = SMOTE(random_state=7).fit_resample(X, y)[0]
    c = SMOTE(random_state=8).fit_resample(X, y)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for cls in (RandomOverSampler, RandomUnderSampler):
        np.testing.assert_array_equal(cls(random_state=1).fit_resample(X, y)[0], cls(random_state=1).fit_resample(X, y)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_dtypes_kept_numpy_and_torch(dtype):
    # imblearn keeps X's dtype (integer X: the synthetic values are truncated); so do we, for
    # numpy and for tensors, with the original rows bit-identical
    X, y = _data(BINARY)
    X = (np.abs(X) * 10).astype(dtype)
    Xi, _ = ImbSMOTE(random_state=0).fit_resample(X, y)
    Xo, yo = SMOTE(random_state=0).fit_resample(X, y)
    assert Xo.dtype == Xi.dtype == dtype and yo.dtype == y.dtype
    np.testing.assert_array_equal(Xo[: len(X)], X)
    Xt, yt = SMOTE(random_state=0).fit_resample(torch.from_numpy(X), torch.from_numpy(y))
    assert isinstance(Xt, torch.Tensor) and Xt.dtype == torch.from_numpy(X).dtype and yt.dtype == torch.int64
    np.testing.assert_array_equal(Xt.numpy(), Xo)  # numpy and torch inputs give the same numbers


def test_string_labels_and_image_shaped_X():
    X, y = _data(BINARY)
    ys = np.where(y == 1, "rare", "common")
    _, yso = SMOTE(random_state=0).fit_resample(X, ys)
    assert Counter(yso.tolist()) == {"rare": 80, "common": 80}
    # the random samplers keep the dtype and accept image-shaped X (numpy or tensor)
    imgs = np.arange(100 * 2 * 2, dtype=np.uint8).reshape(100, 2, 2)
    Xi, _ = RandomOverSampler(random_state=0).fit_resample(imgs, y)
    assert Xi.dtype == np.uint8 and Xi.shape == (160, 2, 2)
    Xt, _ = RandomUnderSampler(random_state=0).fit_resample(torch.from_numpy(imgs), torch.from_numpy(y))
    assert Xt.dtype == torch.uint8 and Xt.shape == (40, 2, 2)


def test_smote_errors():
    X, y = _data((30, 4))
    with pytest.raises(ValueError, match=r"class 1 has 4 sample\(s\).*k_neighbors \+ 1 = 6"):
        SMOTE(k_neighbors=5).fit_resample(X, y)
    SMOTE(k_neighbors=3).fit_resample(X, y)  # 4 >= 3 + 1 is enough
    for bad in (np.nan, np.inf):
        Xn = X.copy()
        Xn[3, 1] = bad
        with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
            SMOTE(k_neighbors=3).fit_resample(Xn, y)
        with pytest.raises(ValueError, match=r"contains NaN or infinity; .* got 1 row"):
            SMOTE(k_neighbors=3).fit_resample(torch.from_numpy(Xn), torch.from_numpy(y))
    with pytest.raises(ValueError, match="dim 3"):
        SMOTE(k_neighbors=3).fit_resample(X[:, :, None], y)
    with pytest.raises(ValueError, match="2-D"):
        SMOTE(k_neighbors=3).fit_resample(torch.from_numpy(X[:, :, None]), torch.from_numpy(y))
    with pytest.raises(ValueError, match="Expected 2D array"):
        SMOTE(k_neighbors=3).fit_resample(X[:, 0], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SMOTE(k_neighbors=3).fit_resample(X, y[:-1])
    with pytest.raises(ValueError, match="same number of samples"):
        SMOTE(k_neighbors=3).fit_resample(torch.from_numpy(X), torch.from_numpy(y[:-1]))
    with pytest.raises(ValueError, match="'k_neighbors' parameter of SMOTE must be an int in the range"):
        SMOTE(k_neighbors=0).fit_resample(X, y)
    with pytest.raises(ValueError, match="'sampling_strategy' parameter of SMOTE"):
        SMOTE(sampling_strategy="majority", k_neighbors=3).fit_resample(X, y)
    with pytest.raises(ValueError, match="'random_state' parameter of SMOTE"):
        SMOTE(random_state=-1, k_neighbors=3).fit_resample(X, y)
    with pytest.raises(ValueError, match="'device' parameter of SMOTE"):
        SMOTE(device=3).fit_resample(X, y)
    with pytest.raises(ValueError, match="'sampling_strategy' parameter of RandomUnderSampler"):
        RandomUnderSampler(sampling_strategy="minority").fit_resample(X, y)


def test_small_class_not_over_sampled_is_fine():
    # a tiny class that the strategy leaves alone does not need k + 1 samples
    X, y = _data((40, 20, 3))
    _, yo = SMOTE(sampling_strategy={1: 40}, k_neighbors=5, random_state=0).fit_resample(X, y)
    assert _counts(yo) == {0: 40, 1: 40, 2: 3}


def test_smote_under_matches_imblearn_pipeline():
    X, y = _data((200, 20))
    pipe = Pipeline([("o", ImbSMOTE(sampling_strategy=0.5, random_state=0)), ("u", ImbRUS(sampling_strategy=1.0, random_state=0))])
    _, yi = pipe.fit_resample(X, y)
    s = SMOTEUnderSampler(0.5, 1.0, random_state=0)
    _, yo = s.fit_resample(X, y)
    assert _counts(yo) == _counts(yi) == {0: 100, 1: 100}
    assert s.sampling_strategy_ == {0: 100, 1: 100}


def test_make_smote_under_meets_at_median():
    X, y = _data(MULTI)
    _, yo = make_smote_under("median", k_neighbors=3, random_state=0).fit_resample(X, y)
    m = int(round(np.median(MULTI)))
    assert _counts(yo) == {c: m for c in range(len(MULTI))}
    _, yo = make_smote_under(40, k_neighbors=3, random_state=0).fit_resample(X, y)
    assert _counts(yo) == {c: 40 for c in range(len(MULTI))}
    with pytest.raises(ValueError, match="n_per_class"):
        make_smote_under("mode")
    with pytest.raises(ValueError, match="n_per_class"):
        make_smote_under(0)


@pytest.mark.parametrize("X,y", [
    (np.zeros(6), np.array([0, 0, 0, 1, 1, 1])),  # 1-D X
    (np.zeros((6, 2)), "labels"),
    (np.zeros((6, 2), dtype=complex), np.array([0, 0, 0, 1, 1, 1])),
    (np.zeros((6, 2)), np.zeros(6)),  # one class
    (np.zeros((6, 2)), np.linspace(0, 1, 6)),  # continuous labels
    (np.zeros((6, 2)), np.array([0, 1, np.nan, 0, 1, 1])),  # NaN label
])
@pytest.mark.parametrize("ours,theirs", [(RandomOverSampler, ImbROS), (RandomUnderSampler, ImbRUS), (SMOTE, ImbSMOTE)])
def test_input_errors_are_imblearns(X, y, ours, theirs):
    with pytest.raises(ValueError) as expected:
        theirs().fit_resample(X, y)
    with pytest.raises(type(expected.value)) as got:
        ours().fit_resample(X, y)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("y", [np.linspace(0, 1, 6), np.array([0, 1, np.nan, 0, 1, 1])], ids=["continuous", "nan"])
def test_tensor_labels_refused_as_imblearn_refuses_them(y):
    with pytest.raises(ValueError) as expected:
        ImbSMOTE().fit_resample(np.zeros((6, 2)), y)
    with pytest.raises(ValueError) as got:
        SMOTE().fit_resample(torch.zeros(6, 2), torch.from_numpy(y))
    assert str(got.value) == str(expected.value)


def test_random_samplers_take_nan_inf_and_object_X_like_imblearn():
    X, y = _data(BINARY)
    X = X.astype(object)
    X[0, 0], X[1, 1], X[2, 2] = np.nan, np.inf, "text"
    for ours, theirs in ((RandomOverSampler, ImbROS), (RandomUnderSampler, ImbRUS)):
        Xo, yo = ours(random_state=0).fit_resample(X, y)
        _, yi = theirs(random_state=0).fit_resample(X, y)
        assert Xo.dtype == object and _counts(yo) == _counts(yi)
        sampler = ours(random_state=0)
        Xo, _ = sampler.fit_resample(X, y)
        np.testing.assert_array_equal(Xo.astype(str), X[sampler.sample_indices_].astype(str))
