"""ltutorial.metrics against scikit-learn / imbalanced-learn and hand-computed fixtures."""

import math

import numpy as np
import pytest
import torch
from imblearn.metrics import geometric_mean_score
from sklearn import metrics as skm

from ltutorial import metrics as M

CONVERTERS = {
    "numpy": lambda a: np.asarray(a),
    "torch": lambda a: torch.as_tensor(a),
    "list": lambda a: list(np.asarray(a).tolist()),
    "torch-int32": lambda a: torch.as_tensor(a, dtype=torch.int32),
}


def _random_pair(seed, num_classes=7, n=300, all_predicted_in_true=True):
    rng = np.random.default_rng(seed)
    # long-tailed test labels; every class appears at least once
    p = 0.6 ** np.arange(num_classes)
    y_true = np.concatenate([np.arange(num_classes), rng.choice(num_classes, size=n, p=p / p.sum())])
    y_pred = np.where(rng.random(y_true.size) < 0.6, y_true, rng.integers(0, num_classes, y_true.size))
    if not all_predicted_in_true:
        y_pred[:3] = num_classes  # a class that only occurs among the predictions
    return y_true, y_pred


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", list(CONVERTERS))
def test_against_sklearn_and_imblearn(seed, kind):
    y_true, y_pred = _random_pair(seed)
    c = CONVERTERS[kind]
    yt, yp = c(y_true), c(y_pred)
    labels = np.arange(7)
    assert M.accuracy(yt, yp) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert M.balanced_accuracy(yt, yp) == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    np.testing.assert_allclose(M.per_class_accuracy(yt, yp), skm.recall_score(y_true, y_pred, average=None))
    assert M.macro_f1(yt, yp) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert M.g_mean(yt, yp) == pytest.approx(geometric_mean_score(y_true, y_pred, average="multiclass"))
    np.testing.assert_array_equal(M.confusion_matrix(yt, yp), skm.confusion_matrix(y_true, y_pred, labels=labels))


def test_class_only_in_predictions_matches_sklearn():
    y_true, y_pred = _random_pair(5, all_predicted_in_true=False)
    # sklearn warns about the class with no true sample and drops its recall, as we do
    with pytest.warns(UserWarning):
        expected = skm.balanced_accuracy_score(y_true, y_pred)
    assert M.balanced_accuracy(y_true, y_pred) == pytest.approx(expected)
    assert M.macro_f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    acc = M.per_class_accuracy(y_true, y_pred)
    assert acc.shape == (8,) and math.isnan(acc[7]) and not np.isnan(acc[:7]).any()
    # imbalanced-learn counts the class only predicted with recall 0: the G-mean is 0 (it dropped the class)
    with pytest.warns(UserWarning):
        expected = geometric_mean_score(y_true, y_pred, average="multiclass")
    assert M.g_mean(y_true, y_pred) == expected == 0.0
    with pytest.warns(UserWarning):
        assert M.g_mean([0, 0, 1, 1], [0, 0, 1, 2]) == geometric_mean_score([0, 0, 1, 1], [0, 0, 1, 2]) == 0.0


def test_accuracy_needs_no_class_count_for_large_labels():
    # accuracy sizes no array by the labels: a label of 150000 is fine (it asked for a num_classes it does not take)
    assert M.accuracy([3, 150_000], [3, 7]) == pytest.approx(skm.accuracy_score([3, 150_000], [3, 7])) == 0.5


def test_reference_example_from_fact_sheet():
    # classic.md §6: recalls 2/3, 1/2, 1; balanced accuracy 0.7222; G-mean (1/3)^(1/3)
    y_true, y_pred = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 0, 2]
    np.testing.assert_allclose(M.per_class_accuracy(y_true, y_pred), [2 / 3, 1 / 2, 1])
    assert M.balanced_accuracy(y_true, y_pred) == pytest.approx(13 / 18)
    assert M.g_mean(y_true, y_pred) == pytest.approx((1 / 3) ** (1 / 3))
    assert M.accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_g_mean_zero_recall():
    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 0, 0]
    assert M.g_mean(y_true, y_pred) == 0.0 == geometric_mean_score(y_true, y_pred)


def test_num_classes_pads_absent_classes_with_nan():
    acc = M.per_class_accuracy([0, 1, 1], [0, 1, 0], num_classes=4)
    np.testing.assert_allclose(acc[:2], [1.0, 0.5])
    assert np.isnan(acc[2:]).all()
    cm = M.confusion_matrix([0, 1, 1], [0, 1, 0], num_classes=4)
    assert cm.shape == (4, 4) and cm.sum() == 3 and cm[1, 0] == 1


def test_integer_valued_float_labels_are_accepted():
    assert M.accuracy(np.array([0.0, 1.0, 2.0]), torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- shot groups
def test_shot_accuracy_hand_computed():
    # training counts: many = {0, 1} (> 100), medium = {2, 3} (20..100 inclusive), few = {4, 5} (< 20)
    train_counts = [500, 101, 100, 20, 19, 5]
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 3, 4, 4, 5]
    y_pred = [0, 0, 0, 1, 1, 1, 2, 0, 0, 4, 3, 5]
    # recalls: 3/4, 1, 1/2, 0, 1/2, 1
    out = M.shot_accuracy(y_true, y_pred, train_counts)
    assert set(out) == {"many", "medium", "few", "all"}
    assert out["many"] == pytest.approx((0.75 + 1.0) / 2)
    assert out["medium"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["few"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["all"] == pytest.approx(3.75 / 6)
    assert out["all"] == pytest.approx(M.balanced_accuracy(y_true, y_pred))


def test_shot_accuracy_thresholds_and_empty_group():
    train_counts = torch.tensor([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])  # CIFAR-10-LT, ratio 100
    y = np.arange(10)
    out = M.shot_accuracy(y, y, train_counts)
    assert math.isnan(out["few"])  # CIFAR-10-LT has no few-shot class
    assert out["many"] == 1.0 and out["medium"] == 1.0
    # > 100 many, 20..100 medium (both ends), < 20 few: classes 0-1 right, 2-4 wrong, 5 right
    out = M.shot_accuracy(np.arange(6), [0, 1, 0, 0, 0, 5], [101, 500, 100, 20, 19, 3])
    assert out["many"] == 1.0 and out["medium"] == 0.0 and out["few"] == 0.5


def test_shot_accuracy_group_whose_classes_are_absent_from_test_is_nan():
    out = M.shot_accuracy([0, 0], [0, 1], [200, 10])
    assert out["many"] == 0.5 and math.isnan(out["medium"]) and math.isnan(out["few"])


def test_shot_means_hand_computed():
    # per-class accuracy of 6 classes, one NaN (absent from the test set): many {0, 1}, medium {2, 3}, few {4, 5}
    acc = [0.75, np.nan, 0.5, 0.0, 0.25, 1.0]
    out = M.shot_means(acc, [500, 101, 100, 20, 19, 5])
    expected = {"many": 0.75, "medium": 0.25, "few": 0.625, "all": 2.5 / 5}  # NaN ignored, not counted as 0
    assert out.keys() == expected.keys() and all(out[k] == pytest.approx(v) for k, v in expected.items())
    assert all(isinstance(v, float) for v in out.values())
    # an empty group is NaN; tensors are taken; shot_accuracy is shot_means of the per-class accuracy
    empty = M.shot_means(torch.tensor([1.0, 0.5]), torch.tensor([200, 150]))
    assert empty["many"] == 0.75 and math.isnan(empty["medium"]) and math.isnan(empty["few"])
    y_true, y_pred = [0, 0, 0, 0, 1, 1, 2, 2, 3, 4, 4, 5], [0, 0, 0, 1, 1, 1, 2, 0, 0, 4, 3, 5]
    counts = [500, 101, 100, 20, 19, 5]
    assert M.shot_means(M.per_class_accuracy(y_true, y_pred), counts) == M.shot_accuracy(y_true, y_pred, counts)
    with pytest.raises(ValueError, match=r"^per_class_accuracy must hold one entry per class \(6"):
        M.shot_means([0.5, 0.5], counts)
    with pytest.raises(ValueError, match="^counts must hold finite counts >= 0"):
        M.shot_means([0.5, 0.5], [10, -1])


def test_thirds_cifar10_split_is_4_3_3_on_shuffled_classes():
    counts = np.array([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
    perm = np.random.default_rng(0).permutation(10)
    shuffled = counts[perm]  # class c has count counts[perm[c]]
    split = M.thirds_split(shuffled)
    assert [len(split[k]) for k in ("many", "medium", "few")] == [4, 3, 3]
    rank = np.argsort(perm)  # rank[r] = class whose count is the r-th largest
    assert set(split["many"]) == set(rank[:4])
    assert set(split["medium"]) == set(rank[4:7])
    assert set(split["few"]) == set(rank[7:])

    # class c: 10 test samples, k[c] of them correct
    k = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    y_true = np.repeat(np.arange(10), 10)
    within = np.tile(np.arange(10), 10)
    y_pred = np.where(within < k[y_true], y_true, (y_true + 1) % 10)
    out = M.group_accuracy_by_thirds(y_true, y_pred, shuffled)
    assert out["many"] == pytest.approx(k[rank[:4]].mean() / 10)
    assert out["medium"] == pytest.approx(k[rank[4:7]].mean() / 10)
    assert out["few"] == pytest.approx(k[rank[7:]].mean() / 10)
    assert out["all"] == pytest.approx(k.mean() / 10)
    # SDCLR's identity on CIFAR-10: All = (4 Many + 3 Medium + 3 Few) / 10
    assert out["all"] == pytest.approx((4 * out["many"] + 3 * out["medium"] + 3 * out["few"]) / 10)


def test_thirds_cifar100_sizes_and_ties():
    counts = np.floor(500 * 0.01 ** (np.arange(100) / 99)).astype(int)
    split = M.thirds_split(counts)
    assert [len(split[k]) for k in ("many", "medium", "few")] == [34, 33, 33]
    np.testing.assert_array_equal(split["few"], np.arange(67, 100))
    tie = M.thirds_split([3, 3, 3])
    assert list(tie["many"]) == [0] and list(tie["medium"]) == [1] and list(tie["few"]) == [2]
    two = M.group_accuracy_by_thirds([0, 1], [0, 0], [10, 5])
    assert two["many"] == 0.5 and math.isnan(two["medium"]) and math.isnan(two["few"])


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.accuracy([0, 1, 2], [0, 1]), "same length"),
        (lambda: M.accuracy([], []), "y_true must be 1-D and non-empty"),
        (lambda: M.accuracy([0, -1], [0, 1]), "y_true must be >= 0"),
        (lambda: M.accuracy([0, 1], [0, -2]), "y_pred must be >= 0"),
        (lambda: M.accuracy([[0, 1]], [[0, 1]]), "y_true must be 1-D"),
        (lambda: M.accuracy([0.5, 1.0], [0, 1]), "y_true must hold integer class indices"),
        (lambda: M.accuracy(np.array([True, False]), [0, 1]), "y_true must hold integer"),
        (lambda: M.accuracy("01", [0, 1]), "y_true must hold integer class indices"),
        (lambda: M.accuracy([0, 1], ["a", "b"]), "y_pred must hold integer class indices"),
        (lambda: M.accuracy({0: 1}, [0]), "y_true must be a numpy array"),
        (lambda: M.per_class_accuracy([0, 3], [0, 1], num_classes=3), "y_true must be < num_classes=3"),
        (lambda: M.per_class_accuracy([0, 1], [0, 5], num_classes=3), "y_pred must be < num_classes=3"),
        (lambda: M.per_class_accuracy([0, 1], [0, 1], num_classes=0), "num_classes must be an integer >= 1"),
        (lambda: M.shot_accuracy([0, 2], [0, 1], [200, 10]), "y_true must be < num_classes=2"),
        (lambda: M.shot_accuracy([0, 1], [0, 1], [200, -1]), "train_counts must hold finite counts >= 0"),
        (lambda: M.shot_accuracy([0, 1], [0, 1], [200, float("nan")]), "train_counts must hold finite"),
        (lambda: M.shot_accuracy([0, 1], [0, 1], [[200, 10]]), "train_counts must be a non-empty 1-D"),
        (lambda: M.group_accuracy_by_thirds([0, 1], [0, 1], []), "train_counts must be a non-empty"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan")])
def test_non_finite_predictions_are_named_not_cast(bad):
    # issue 13: inf became the int64 -9223372036854775808 and was reported as a huge negative label
    for func in (M.accuracy, M.balanced_accuracy, M.macro_f1, M.confusion_matrix):
        with pytest.raises(ValueError, match=r"^y_pred must hold (finite )?integer class indices"):
            func([0, 1, 1], np.array([0.0, bad, 1.0]))
    with pytest.raises(ValueError, match=r"^y_true must hold finite integer class indices; got inf instead\.$"):
        M.per_class_accuracy(np.array([0.0, np.inf]), [0, 1])


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_one_stray_huge_label_is_refused_not_allocated():
    # issue 13: C = max label + 1 = 10**9 + 1 made the metrics allocate a C x C (or C-long) array
    y_true, y_pred = [0, 1, 2, 1], [0, 1, 10**9, 1]
    # metrics sized by the label ids refuse it; those over the classes present renumber them (as sklearn)
    for func in (M.per_class_accuracy, M.confusion_matrix):
        with pytest.raises(ValueError, match=r"^y_pred must hold labels < \d+ when num_classes is not given .*got a "
                                             r"maximum of 1000000000 instead"):
            func(y_true, y_pred)
    with pytest.raises(ValueError, match=r"^y_true must hold labels < 4096 when num_classes is not given"):
        M.confusion_matrix([0, 5000], [0, 1])
    assert M.balanced_accuracy(y_true, y_pred) == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert M.macro_f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    # below the limits the label is a class like any other (sklearn counts a predicted-only class in macro-F1)
    big = [0, 1, 5000, 1]
    assert M.balanced_accuracy(y_true, big) == pytest.approx(skm.balanced_accuracy_score(y_true, big))
    assert M.macro_f1(y_true, big) == pytest.approx(skm.f1_score(y_true, big, average="macro"))
    assert M.confusion_matrix(y_true, big, num_classes=5001).sum() == 4  # an explicit num_classes is honoured


def test_no_python_loop_over_samples_large_input_is_fast():
    import time

    rng = np.random.default_rng(0)
    y_true = torch.as_tensor(rng.integers(0, 100, 2_000_000))
    y_pred = torch.as_tensor(rng.integers(0, 100, 2_000_000))
    t0 = time.perf_counter()
    acc = M.per_class_accuracy(y_true, y_pred)
    assert time.perf_counter() - t0 < 2.0
    assert acc.shape == (100,) and np.all(np.abs(acc - 0.01) < 0.005)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_match_cpu():
    y_true, y_pred = _random_pair(3)
    cpu = M.shot_accuracy(y_true, y_pred, [300, 200, 100, 50, 20, 10, 5])
    gpu = M.shot_accuracy(torch.as_tensor(y_true).cuda(), torch.as_tensor(y_pred).cuda(), [300, 200, 100, 50, 20, 10, 5])
    for k in cpu:
        assert cpu[k] == pytest.approx(gpu[k], nan_ok=True)
    # y_pred on another device than y_true still works
    assert M.accuracy(torch.as_tensor(y_true).cuda(), y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))


# ---------------------------------------------------------------- class_mean / group_mean_by_thirds
# Hand-computed fixture: 6 classes whose training counts put classes 1, 3 in many, 5, 4 in medium and
# 0, 2 in few (sorted by count: 50, 40 | 30, 20 | 10, 5). Class means of the values:
# c0 (1+3)/2 = 2, c1 2, c2 (0+3+6)/3 = 3, c3 5, c4 7, c5 (1+2)/2 = 1.5.
_GM_COUNTS = [10, 50, 5, 40, 20, 30]
_GM_LABELS = [0, 0, 1, 2, 2, 2, 3, 4, 5, 5]
_GM_VALUES = [1.0, 3.0, 2.0, 0.0, 3.0, 6.0, 5.0, 7.0, 1.0, 2.0]


def test_class_mean_hand_computed_and_empty_classes_nan():
    assert np.allclose(M.class_mean(_GM_VALUES, _GM_LABELS), [2, 2, 3, 5, 7, 1.5])
    padded = M.class_mean(torch.tensor(_GM_VALUES), torch.tensor(_GM_LABELS), num_classes=8)
    assert np.allclose(padded[:6], [2, 2, 3, 5, 7, 1.5]) and np.isnan(padded[6:]).all()
    rows = M.class_mean(np.stack([_GM_VALUES, np.multiply(_GM_VALUES, 2)]), _GM_LABELS)
    assert rows.shape == (2, 6) and np.allclose(rows[1], 2 * rows[0])


def test_group_mean_by_thirds_hand_computed():
    by_class = M.group_mean_by_thirds(_GM_VALUES, _GM_LABELS, _GM_COUNTS)
    expected = {"many": (2 + 5) / 2, "medium": (1.5 + 7) / 2, "few": (2 + 3) / 2, "all": 20.5 / 6}
    assert by_class.keys() == expected.keys() and all(by_class[k] == pytest.approx(v) for k, v in expected.items())
    assert all(isinstance(v, float) for v in by_class.values())
    by_tensor = M.group_mean_by_thirds(torch.tensor(_GM_VALUES), torch.tensor(_GM_LABELS), _GM_COUNTS)
    assert all(by_tensor[k] == pytest.approx(v) for k, v in expected.items())
    # one value per class already (labels=None) gives the class-weighted result
    per_class = M.group_mean_by_thirds(np.array([2, 2, 3, 5, 7, 1.5]), None, _GM_COUNTS)
    assert all(per_class[k] == pytest.approx(by_class[k]) for k in by_class)


def test_group_mean_by_thirds_rows_and_empty_class():
    two = np.stack([_GM_VALUES, np.multiply(_GM_VALUES, 3)])
    out = M.group_mean_by_thirds(two, _GM_LABELS, _GM_COUNTS)  # few: classes 0 and 2, class means 2 and 3
    assert out["few"].shape == (2,) and out["few"] == pytest.approx([2.5, 7.5])
    # a 7th class with training images but none in `labels` is skipped, not counted as 0: with 7 classes
    # the split is 3 / 2 / 2 (many 1, 3, 5; medium 4, 0; few 2, 6), so few is class 2's mean alone
    seven = M.group_mean_by_thirds(_GM_VALUES, _GM_LABELS, _GM_COUNTS + [1])
    assert seven["few"] == pytest.approx(3.0) and seven["medium"] == pytest.approx((7 + 2) / 2)
    assert seven["all"] == pytest.approx(20.5 / 6)


@pytest.mark.parametrize("seed", [0, 1])
def test_group_mean_of_correctness_is_group_accuracy_by_thirds(seed):
    y_true, y_pred = _random_pair(seed)
    counts = np.random.default_rng(seed).integers(1, 500, size=int(max(y_true.max(), y_pred.max())) + 1)
    acc = M.group_accuracy_by_thirds(y_true, y_pred, counts)
    mean = M.group_mean_by_thirds((np.asarray(y_true) == np.asarray(y_pred)).astype(float), y_true, counts)
    for k in acc:
        assert mean[k] == pytest.approx(acc[k], nan_ok=True)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.group_mean_by_thirds([1.0, 2.0], None, _GM_COUNTS), "values must hold one entry per class"),
        (lambda: M.group_mean_by_thirds(_GM_VALUES[:5], _GM_LABELS, _GM_COUNTS), "labels must have one entry"),
        (lambda: M.group_mean_by_thirds(_GM_VALUES, [7] * 10, _GM_COUNTS), "labels must be < num_classes=6; got a maximum of 7"),
        (lambda: M.group_mean_by_thirds(np.zeros((2, 2, 10)), _GM_LABELS, _GM_COUNTS), "values must be a non-empty"),
        (lambda: M.class_mean(["a"] * 10, _GM_LABELS), "values must hold numbers"),
        (lambda: M.class_mean(_GM_VALUES, _GM_LABELS, num_classes=0), "num_classes must be an integer >= 1"),
    ],
)
def test_group_mean_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_present_class_metrics_take_large_label_ids_like_sklearn():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    y_true = np.array([0, 1, 200_000, 200_000, 7])
    y_pred = np.array([0, 200_000, 200_000, 1, 9])
    assert M.balanced_accuracy(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert M.macro_f1(y_true, y_pred) == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    with pytest.raises(ValueError, match="same length"):
        M.macro_f1([0, 1], [0])


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(5))
def test_training_loops_summary_matches_sklearn(seed):
    # train.common.accuracy_summary (the loops' per-epoch evaluation, on metrics.class_recall) against sklearn;
    # predictions may name classes the test set lacks (a model with more outputs than classes)
    from ltutorial.train.common import accuracy_summary

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 200)
    y[y == 3] = 0  # class 3 absent from the labels: NaN recall, left out of the balanced accuracy
    p = np.where(rng.random(200) < 0.6, y, rng.integers(0, 9, 200))
    acc, bal, per_class = accuracy_summary(torch.from_numpy(y), torch.from_numpy(p), 6)
    assert acc == pytest.approx(skm.accuracy_score(y, p))
    assert bal == pytest.approx(skm.balanced_accuracy_score(y, np.where(p < 6, p, -1)))
    expected = skm.recall_score(y, p, labels=range(6), average=None, zero_division=np.nan)
    np.testing.assert_allclose(per_class, expected)
    assert np.isnan(per_class[3])


def test_training_loops_summary_leaves_out_labels_beyond_num_classes():
    # a dataset naming fewer classes than its labels: the summary covers classes 0..C-1, as the loops always did
    from ltutorial.train.common import accuracy_summary

    y, p = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0])
    acc, bal, per_class = accuracy_summary(y, p, 2)
    np.testing.assert_allclose(per_class, [0.5, 1.0])
    assert (acc, bal) == (pytest.approx(3 / 5), pytest.approx(0.75))
