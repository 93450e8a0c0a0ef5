"""COG, torch k-means and the balanced-accuracy plug-in rule against sklearn and known answers."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, balanced_accuracy_score
from sklearn.svm import LinearSVC
from sklearn.utils.class_weight import compute_class_weight

from ltutorial.classic import COG, PlugInClassifier, WeightedERMClassifier, kmeans
from ltutorial.data.synthetic import make_imbalanced_gaussians, make_multimodal_rare


# ---- k-means -------------------------------------------------------------------------------------

def test_kmeans_recovers_separated_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    truth = np.repeat(np.arange(4), 50)
    X = centers[truth] + rng.normal(scale=0.5, size=(200, 2))
    res = kmeans(X, 4, random_state=0)
    assert adjusted_rand_score(truth, res.labels) == 1.0
    assert isinstance(res.centers, np.ndarray) and res.centers.shape == (4, 2)


def test_kmeans_inertia_close_to_sklearn_and_consistent():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    res = kmeans(X, 6, random_state=0, n_init=5)
    ref = KMeans(6, n_init=5, random_state=0).fit(X)
    assert res.inertia <= ref.inertia_ * 1.05
    # inertia is what its labels and centers say it is
    np.testing.assert_allclose(res.inertia, ((X - res.centers[res.labels]) ** 2).sum(), rtol=1e-4)
    # centers are the means of their clusters (Lloyd's fixed point)
    for j in range(6):
        np.testing.assert_allclose(res.centers[j], X[res.labels == j].mean(0), atol=1e-4)


@pytest.mark.parametrize("offset", [1e4, 1e5])
def test_kmeans_is_translation_invariant_far_from_zero(offset):
    # k-means on X + offset is k-means on X; uncentred float32 distances cancelled away and broke clusters
    rng = np.random.default_rng(3)
    truth = np.repeat(np.arange(3), 100)
    X = np.array([[0.0, 0], [6, 0], [0, 6]])[truth] + rng.normal(size=(300, 2))
    near, far = kmeans(X, 3, random_state=0), kmeans(X + offset, 3, random_state=0)
    assert adjusted_rand_score(near.labels, far.labels) == 1.0 and adjusted_rand_score(truth, far.labels) > 0.9
    assert far.inertia == pytest.approx(near.inertia, rel=1e-3)
    assert far.inertia == pytest.approx(((X + offset - far.centers[far.labels]) ** 2).sum(), rel=1e-3)
    assert far.inertia == pytest.approx(KMeans(3, n_init=3, random_state=0).fit(X + offset).inertia_, rel=1e-3)


def test_kmeans_seed_and_types():
    X = np.random.default_rng(2).normal(size=(100, 3))
    a, b = kmeans(X, 3, random_state=5), kmeans(X, 3, random_state=5)
    np.testing.assert_array_equal(a.labels, b.labels)
    t = kmeans(torch.tensor(X), 3, random_state=5)
    assert isinstance(t.labels, torch.Tensor) and t.labels.dtype == torch.int64
    np.testing.assert_array_equal(t.labels.numpy(), a.labels)


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_plus_plus_never_picks_a_covered_point(seed):
    # 3 distinct points, 100 copies each: D(x)^2 sampling gives a chosen point's copies weight 0,
    # so the 3 seeds are the 3 distinct points (a uniform draw would repeat one 7 times in 9)
    from ltutorial.classic.kmeans import plus_plus
    from ltutorial._validation import make_generator

    X = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]).repeat(100, 1)
    seeds = plus_plus(X, 3, make_generator(seed))
    assert len({tuple(c.tolist()) for c in seeds}) == 3
    # all points identical: no D^2 mass left, the draw falls back to uniform instead of failing
    same = kmeans(np.ones((10, 2)), 2, random_state=seed)
    assert same.inertia == 0.0 and same.labels.shape == (10,)


@pytest.mark.parametrize("args,match", [
    ((np.zeros((5, 2)), 6), "n_clusters must be <="),
    ((np.zeros(5), 2), "2-D"),
    ((np.array([[np.nan, 1.0], [0, 0]]), 1), "NaN"),
    ((np.zeros((5, 2)), 0), "n_clusters"),
])
def test_kmeans_errors(args, match):
    with pytest.raises(ValueError, match=match):
        kmeans(*args)


# ---- COG -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def multimodal():
    X, y = make_multimodal_rare(600, 30, 4, random_state=0)
    Xt, yt = make_multimodal_rare(2000, 500, 4, random_state=1)
    return X, y, Xt, yt


def test_cog_beats_plain_linear_on_multimodal_majority(multimodal):
    X, y, Xt, yt = multimodal
    plain = balanced_accuracy_score(yt, LogisticRegression(max_iter=2000).fit(X, y).predict(Xt))
    cog = COG(n_clusters=4, random_state=0).fit(X, y)
    cog_os = COG(n_clusters=4, oversample=True, random_state=0).fit(X, y)
    ba, ba_os = balanced_accuracy_score(yt, cog.predict(Xt)), balanced_accuracy_score(yt, cog_os.predict(Xt))
    assert plain < 0.7  # no line separates the ring of majority clusters from the rare centre
    assert ba > plain + 0.2 and ba_os > plain + 0.2
    assert ba_os >= ba - 0.01  # replication helps (or at least does not hurt) the rare class
    assert cog.n_subclasses_ == 5 and cog.subclass_counts_.sum() == len(y)
    # each majority sub-class is one generating cluster (k-means finds the 4 blobs)
    _, _, comp = make_multimodal_rare(600, 30, 4, random_state=0, return_clusters=True)
    major = y == 0
    assert adjusted_rand_score(comp[major], cog.train_subclasses_[major]) > 0.95
    assert cog.subclass_counts_[4] == 30 and (cog.train_subclasses_[~major] == 4).all()


def test_cog_predict_proba_and_types(multimodal):
    X, y, Xt, _ = multimodal
    cog = COG(n_clusters=4, random_state=0).fit(torch.tensor(X), torch.tensor(y))
    proba = cog.predict_proba(torch.tensor(Xt))
    assert isinstance(proba, torch.Tensor) and proba.shape == (len(Xt), 2)
    torch.testing.assert_close(proba.sum(1), torch.ones(len(Xt), dtype=proba.dtype))
    # each class's probability is the sum of its sub-classes' (4 majority clusters, 1 rare)
    p_sub = cog.estimator_.predict_proba(Xt)
    assert p_sub.shape[1] == 5 and (cog.subclass_parent_ == [0, 0, 0, 0, 1]).all()
    np.testing.assert_allclose(proba.numpy(), np.stack([p_sub[:, :4].sum(1), p_sub[:, 4]], 1), rtol=1e-6, atol=1e-9)
    pred = cog.predict(torch.tensor(Xt))
    assert isinstance(pred, torch.Tensor)
    # the same fit on numpy input gives the same predictions
    np.testing.assert_array_equal(COG(n_clusters=4, random_state=0).fit(X, y).predict(Xt), pred.numpy())


def test_cog_options(multimodal):
    X, y, _, _ = multimodal
    svc = COG(n_clusters=4, base_estimator=LinearSVC(), random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="predict_proba"):
        svc.predict_proba(X)
    assert set(np.unique(svc.predict(X))) <= {0, 1}


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_clusters="many"), "n_clusters"),
    (dict(n_clusters=0), "n_clusters"),
    (dict(n_clusters=10_000), "<= its"),
    (dict(oversample="yes"), "oversample"),
])
def test_cog_errors(multimodal, kwargs, match):
    X, y, _, _ = multimodal
    with pytest.raises(ValueError, match=match):
        COG(**kwargs).fit(X, y)


def test_cog_unfitted_and_bad_input():
    with pytest.raises(ValueError, match="not fitted"):
        COG().predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="one label per row"):
        COG().fit(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        COG().fit(np.zeros((4, 2)), np.zeros(4))


# ---- plug-in and weighted ERM --------------------------------------------------------------------

@pytest.fixture(scope="module")
def gaussians():
    X, y, problem = make_imbalanced_gaussians(3000, 0.05, 2.0, dim=2, random_state=0, return_problem=True)
    Xt, yt = problem.sample(40_000, random_state=1)
    return X, y, Xt, yt, problem


def test_plugin_threshold_is_empirical_rate_and_rule(gaussians):
    X, y, Xt, _, _ = gaussians
    clf = PlugInClassifier().fit(X, y)
    assert clf.threshold_ == y.mean()
    eta = clf.estimator_.predict_proba(Xt)[:, 1]
    np.testing.assert_array_equal(clf.predict(Xt), (eta > y.mean()).astype(int))
    assert PlugInClassifier(threshold="half").fit(X, y).threshold_ == 0.5
    assert PlugInClassifier(threshold=0.2).fit(X, y).threshold_ == 0.2
    assert PlugInClassifier(0.3).fit(X, y).threshold_ == 0.3  # threshold stays the first positional parameter
    # labels other than 0/1: the positive class is the larger label
    ys = np.where(y == 1, "pos", "neg")
    assert PlugInClassifier().fit(X, ys).threshold_ == pytest.approx(np.mean(ys == "pos"))
    assert set(PlugInClassifier().fit(X, ys).predict(Xt[:100])) <= {"pos", "neg"}


def test_plugin_and_weighted_erm_near_bayes_while_half_is_not(gaussians):
    X, y, Xt, yt, problem = gaussians
    bayes = problem.balanced_accuracy()
    emp = balanced_accuracy_score(yt, PlugInClassifier().fit(X, y).predict(Xt))
    half = balanced_accuracy_score(yt, PlugInClassifier(threshold="half").fit(X, y).predict(Xt))
    werm = balanced_accuracy_score(yt, WeightedERMClassifier().fit(X, y).predict(Xt))
    assert bayes - emp < 0.01 and bayes - werm < 0.01
    assert bayes - half > 0.1


def test_weighted_erm_weights_match_sklearn_balanced(gaussians):
    X, y, Xt, _, _ = gaussians
    w = WeightedERMClassifier().fit(X, y)
    np.testing.assert_allclose(w.class_weight_, compute_class_weight("balanced", classes=np.array([0, 1]), y=y))
    np.testing.assert_allclose(w.class_weight_, [1 / (2 * (1 - y.mean())), 1 / (2 * y.mean())])
    ref = LogisticRegression(max_iter=2000, class_weight="balanced").fit(X, y)
    np.testing.assert_allclose(w.estimator_.coef_, ref.coef_, rtol=1e-3, atol=1e-4)
    assert np.mean(w.predict(Xt) == ref.predict(Xt)) > 0.999


@pytest.mark.parametrize("make,match", [
    (lambda: PlugInClassifier(threshold="median"), "threshold must be one of"),
    (lambda: PlugInClassifier(threshold=1.0), "threshold must be one of"),
    (lambda: PlugInClassifier(estimator=LinearSVC()), "predict_proba"),
])
def test_plugin_errors(gaussians, make, match):
    X, y, _, _, _ = gaussians
    with pytest.raises(ValueError, match=match):
        make().fit(X, y)


def test_plugin_needs_binary_and_fit():
    with pytest.raises(ValueError, match="exactly 2 classes"):
        PlugInClassifier().fit(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="not fitted"):
        PlugInClassifier().predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        WeightedERMClassifier().predict(np.zeros((2, 2)))


# ---- exact regret of linear rules (notebook 05) ---------------------------------------------------

def test_linear_rule_balanced_accuracy_matches_bayes_and_monte_carlo(gaussians):
    from ltutorial.classic import linear_rule_balanced_accuracy

    _, _, Xt, yt, problem = gaussians
    w = problem.weights
    b_log_odds = problem.log_odds(np.zeros((1, problem.dim)))[0]
    # the Bayes BA rule is log-odds > log(p / (1 - p))
    exact = linear_rule_balanced_accuracy(problem, w, b_log_odds - problem.prior_log_odds)
    assert exact == pytest.approx(problem.balanced_accuracy(), abs=1e-12)
    # an arbitrary rule against a Monte-Carlo estimate on 40,000 points
    w2, b2 = np.array([1.0, 0.5]), -0.3
    mc = balanced_accuracy_score(yt, (Xt @ w2 + b2 > 0).astype(int))
    assert linear_rule_balanced_accuracy(problem, w2, b2) == pytest.approx(mc, abs=0.01)
    assert linear_rule_balanced_accuracy(problem, np.zeros(2), 1.0) == 0.5


def test_regret_shrinks_for_consistent_rules_only():
    from ltutorial.classic import REGRET_METHODS, balanced_accuracy_regret

    _, _, problem = make_imbalanced_gaussians(100, 0.05, 2.0, dim=2, random_state=0, return_problem=True)
    res = balanced_accuracy_regret(problem, [200, 20_000], repeats=3, random_state=0)
    assert set(res) == set(REGRET_METHODS) | {"n"}
    emp, half, werm = (res[m].mean(1) for m in REGRET_METHODS)
    assert (res[REGRET_METHODS[0]] >= -1e-12).all()  # nothing beats Bayes
    assert emp[-1] < 0.005 and werm[-1] < 0.005 and half[-1] > 0.1
    assert emp[-1] < emp[0]
    again = balanced_accuracy_regret(problem, [200], repeats=2, random_state=0)
    np.testing.assert_array_equal(again[REGRET_METHODS[0]], res[REGRET_METHODS[0]][:1, :2])
