"""The notebook 01 exercise checks (appended to ltutorial/exercises.py): hand-computed answers pass,
wrong ones raise AssertionError with a hint, bad inputs raise ValueError naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from ltutorial import exercises as ex

CIFAR10_LT = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # 12,406 images (LDAM-DRW)


def test_imbalance_summary_hand_computed(capsys):
    # top 20 % of 10 classes = the 2 largest: (5000 + 2997) / 12406
    assert ex.check_imbalance_summary(100.0, 7997 / 12406, CIFAR10_LT)
    assert "Correct" in capsys.readouterr().out
    # order of the counts does not matter; a 5-class set keeps its single largest class
    assert ex.check_imbalance_summary(8.0, 0.5, [2, 8, 4, 1, 1])
    with pytest.raises(AssertionError, match="Hint: divide the largest"):
        ex.check_imbalance_summary(50.0, 7997 / 12406, CIFAR10_LT)
    with pytest.raises(AssertionError, match="share of the top 2 classes"):
        ex.check_imbalance_summary(100.0, 5000 / 12406, CIFAR10_LT)


def test_risk_decomposition_hand_computed():
    # perfect on the 5 head classes, always wrong on the 5 tail classes
    risks = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    tail = (387 + 232 + 139 + 83 + 50) / 12406  # 891 / 12406 = 0.0718
    assert ex.check_risk_decomposition(tail, 0.5, risks, CIFAR10_LT)
    with pytest.raises(AssertionError, match="prior-weighted risk"):
        ex.check_risk_decomposition(0.5, 0.5, risks, CIFAR10_LT)
    with pytest.raises(AssertionError, match="balanced risk"):
        ex.check_risk_decomposition(tail, tail, risks, CIFAR10_LT)


def test_risk_check_given_the_runs_risks_catches_accuracies_used_as_risks():
    # notebook 01's check cell passes 1 - the run's per-class accuracy, not the learner's per_class_risk: a learner
    # who forgets the "1 -" gets prior-weighted "risk" 1 - 0.0718 here and must fail
    accuracy = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    risks = 1 - accuracy
    with pytest.raises(AssertionError, match="prior-weighted risk"):
        ex.check_risk_decomposition(accuracy @ CIFAR10_LT / 12406, accuracy.mean(), risks, CIFAR10_LT)
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "01_imbalance_nature.ipynb").read_text())
    check = next("".join(c["source"]) for c in nb["cells"] if "check_risk_decomposition(" in "".join(c["source"]))
    assert "per_class_risk" not in check and '1 - np.asarray(result["per_class_accuracy"])' in check


def test_balanced_accuracy_from_confusion_matches_sklearn():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 0, 2]  # recalls 2/3, 1/2, 1 -> 0.7222 (reference sheet, section 6)
    cm = confusion_matrix(y_true, y_pred)
    expected = balanced_accuracy_score(y_true, y_pred)
    assert expected == pytest.approx(0.7222, abs=1e-4)
    assert ex.check_balanced_accuracy_from_confusion(expected, cm)
    with pytest.raises(AssertionError, match="expected 0.722"):
        ex.check_balanced_accuracy_from_confusion(4 / 6, cm)  # plain accuracy is not the answer
    # a class absent from the test set (empty row) is left out, as scikit-learn does
    padded = np.zeros((4, 4), dtype=int)
    padded[:3, :3] = cm
    assert ex.check_balanced_accuracy_from_confusion(expected, padded)


def test_missing_answer_and_bad_inputs():
    with pytest.raises(AssertionError, match="still None"):
        ex.check_imbalance_summary(None, 0.5, CIFAR10_LT)
    with pytest.raises(ValueError, match="class_counts must hold finite counts > 0"):
        ex.check_imbalance_summary(1.0, 1.0, [5, 0, 3])
    with pytest.raises(ValueError, match="per_class_risk must hold one finite risk per class"):
        ex.check_risk_decomposition(0.1, 0.1, [0.1, 0.2], CIFAR10_LT)
    with pytest.raises(ValueError, match="confusion must be a square matrix"):
        ex.check_balanced_accuracy_from_confusion(0.5, np.ones((2, 3)))
    with pytest.raises(ValueError, match="all-zero"):
        ex.check_balanced_accuracy_from_confusion(0.5, np.zeros((2, 2)))


def test_imbalance_summary_takes_counts_as_a_range_or_a_pandas_series():
    pd = pytest.importorskip("pandas")
    # counts 1..5: ratio 5, top 20 % = the largest class: 5 / 15
    assert ex.check_imbalance_summary(5.0, 5 / 15, range(1, 6))
    assert ex.check_imbalance_summary(5.0, 5 / 15, pd.Series([3, 1, 5, 2, 4]))
