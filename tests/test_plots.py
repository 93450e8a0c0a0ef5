"""ltutorial.plots: each figure returns labelled Axes with the promised scale and number of marks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ltutorial import plots  # noqa: E402

CIFAR10_LT = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def _labelled(ax):
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_class_counts_bars_log_scale_and_heights():
    ax = plots.plot_class_counts(torch.tensor(CIFAR10_LT), title="CIFAR-10-LT")
    bars = _bars(ax)
    assert len(bars) == 10
    assert [b.get_height() for b in bars] == CIFAR10_LT
    assert ax.get_yscale() == "log" and _labelled(ax) and ax.get_title() == "CIFAR-10-LT"
    assert tuple(ax.figure.get_size_inches()) == plots.FIGSIZE
    ax = plots.plot_class_counts([3, 2, 1], labels=["a", "b", "c"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_class_counts_draws_on_given_axes():
    fig, (a1, a2) = plt.subplots(1, 2)
    assert plots.plot_class_counts([5, 4], ax=a2) is a2
    assert len(_bars(a1)) == 0 and len(_bars(a2)) == 2


def test_longtail_profiles_one_line_per_profile():
    ax = plots.plot_longtail_profiles({"exp 100": CIFAR10_LT, "step 10": [500] * 5 + [50] * 5})
    assert len(ax.get_lines()) == 2
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [500] * 5 + [50] * 5)
    assert ax.get_yscale() == "log" and _labelled(ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["exp 100", "step 10"]


def test_per_class_accuracy_points_log_x_and_nan_dropped():
    acc = np.array([0.9, 0.8, np.nan, 0.5])
    ax = plots.plot_per_class_accuracy(acc, [1000, 100, 50, 10], label="ERM")
    offsets = ax.collections[0].get_offsets()
    assert offsets.shape == (3, 2)
    np.testing.assert_allclose(offsets[:, 0], [1000, 100, 10])
    np.testing.assert_allclose(offsets[:, 1], [0.9, 0.8, 0.5])
    assert ax.get_xscale() == "log" and _labelled(ax)
    plots.plot_per_class_accuracy([0.1, 0.2, 0.3, 0.4], [1000, 100, 50, 10], ax=ax, label="LDAM")
    assert len(ax.collections) == 2 and len(ax.get_legend().get_texts()) == 2


def test_shot_accuracy_grouped_bars():
    results = {
        "ERM": {"many": 0.9, "medium": 0.6, "few": float("nan"), "all": 0.7},
        "LDAM-DRW": {"many": 0.85, "medium": 0.75, "few": float("nan"), "all": 0.78},
        "LA": {"many": 0.8, "medium": 0.8, "few": float("nan"), "all": 0.8},
    }
    ax = plots.plot_shot_accuracy(results)
    bars = _bars(ax)
    assert len(bars) == 3 * 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["many", "medium", "few", "all"]
    # bars are drawn method by method: the LDAM-DRW medium bar is the 6th
    assert bars[5].get_height() == pytest.approx(0.75)
    assert sum(t.get_text() == "n/a" for t in ax.texts) == 3
    assert _labelled(ax) and len(ax.get_legend().get_texts()) == 3


def test_decision_regions_calls_predict_once_on_the_grid():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0.5).astype(int)  # unequal classes
    calls = []

    def predict(grid):
        calls.append(grid.shape)
        return torch.as_tensor(grid[:, 0] > 0).long()  # torch output is accepted

    ax = plots.plot_decision_regions(predict, X, y, title="threshold")
    assert calls == [(200 * 200, 2)]
    assert _labelled(ax) and ax.get_title() == "threshold"
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(len(c.get_offsets()) for c in scatters) == sorted(np.bincount(y).tolist())
    assert sum(isinstance(c, ContourSet) for c in ax.collections) == 1
    assert len(ax.get_legend().get_texts()) == 2


def test_decision_regions_fill_every_predicted_label_also_negative_ones():
    # labels {-1, 1}: the region predicted -1 lay below the first contour level and stayed white
    X = np.array([[-1.0, 0], [1, 0], [-1, 1], [1, 1]])
    fig, ax = plt.subplots()
    plots.plot_decision_regions(lambda g: np.where(g[:, 0] > 0, 1, -1), X, np.array([-1, 1, -1, 1]), ax=ax)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    h, w = img.shape[:2]
    left, right = img[h // 2, int(w * 0.3)], img[h // 2, int(w * 0.75)]
    assert (left < 250).any() and (right < 250).any() and not np.array_equal(left, right)
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections if isinstance(c, PathCollection)]
    assert len(set(colours)) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == ["class -1 (2)",
                                                                                             "class 1 (2)"]
    plt.close(fig)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plots.plot_class_counts([5, 0]), "counts must hold finite counts > 0"),
        # NaN was cast to class -9223372036854775808, 1.9 to class 1
        (lambda: plots.plot_decision_regions(lambda g: g[:, 0] > 0, np.ones((4, 2)), [np.nan, 0, 1, 1]),
         r"^y must hold integer class labels; got values such as \[nan\]"),
        (lambda: plots.plot_decision_regions(lambda g: g[:, 0] * 0 + 0.5, np.ones((4, 2)), [0, 1, 0, 1]),
         r"^predict_fn\(grid\) must hold integer class labels"),
        (lambda: plots.plot_longtail_profiles({"a": [100, 10, 0, -5]}), r"profiles\['a'\] must hold finite counts > 0"),
        (lambda: plots.plot_class_counts([5, float("nan")]), "counts must hold finite counts > 0"),
        (lambda: plots.plot_class_counts([[5, 1]]), "counts must be a non-empty 1-D"),
        (lambda: plots.plot_class_counts([5, 1], labels=["a"]), "labels must have one name per class"),
        (lambda: plots.plot_longtail_profiles([1, 2]), "profiles must be a non-empty dict"),
        (lambda: plots.plot_per_class_accuracy([0.5], [1, 2]), "must have one entry per class"),
        (lambda: plots.plot_per_class_accuracy([0.5, 0.1], [0, 2]), "class_counts must hold finite counts > 0"),
        (lambda: plots.plot_shot_accuracy({}), "results must be a non-empty dict"),
        (lambda: plots.plot_shot_accuracy({"ERM": {"many": 1}}), "results\\['ERM'\\] must have the keys"),
        (lambda: plots.plot_decision_regions(lambda g: g[:, 0], np.ones((4, 3)), [0, 1, 0, 1]), "X must have 2 features"),
        (lambda: plots.plot_decision_regions(lambda g: g[:, 0], np.ones((4, 2)), [0, 1]), "y must have one label"),
        (lambda: plots.plot_decision_regions(lambda g: g[:3, 0], np.ones((4, 2)), [0, 1, 0, 1]), "predict_fn must return"),
        (lambda: plots.plot_class_counts("abc"), "counts must hold numbers"),
        (lambda: plots.plot_decision_regions(None, np.ones((4, 2)), [0, 1, 0, 1]), "predict_fn must be a callable"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
