"""ltutorial.exercises: the generic checks pass on right answers and fail with a hint on wrong ones."""

import numpy as np
import pytest
import torch

from ltutorial import exercises as ex


def test_check_close_pass_prints_correct(capsys):
    assert ex.check_close(0.72222, 13 / 18, "balanced accuracy") is True
    assert capsys.readouterr().out.startswith("Correct: balanced accuracy")
    assert ex.check_close(torch.tensor(0.5), 0.5, "t")
    assert ex.check_close(np.float32(2.0), 2, "n")
    assert ex.check_close(np.array([3.0]), 3.0, "one-element array")


def test_check_close_fail_raises_with_hint(capsys):
    with pytest.raises(AssertionError, match=r"(?s)balanced accuracy = 0\.8, expected 0\.722.*Hint: average the recalls"):
        ex.check_close(0.8, 13 / 18, "balanced accuracy", hint="average the recalls")
    assert "Correct" not in capsys.readouterr().out
    with pytest.raises(AssertionError, match="must be a single number"):
        ex.check_close([1.0, 2.0], 1.0, "x")
    with pytest.raises(AssertionError, match="must be a single number"):
        ex.check_close("0.5", 0.5, "x")
    with pytest.raises(AssertionError, match="still None; fill in"):
        ex.check_close(None, 0.5, "x")
    with pytest.raises(AssertionError, match="still Ellipsis"):
        ex.check_close(..., 0.5, "x")


def test_check_close_tolerance():
    assert ex.check_close(1.0009, 1.0, "x", rtol=1e-3)
    with pytest.raises(AssertionError):
        ex.check_close(1.0011, 1.0, "x", rtol=1e-3)
    assert ex.check_close(1e-9, 0.0, "x", rtol=0, atol=1e-8)
    with pytest.raises(AssertionError):
        ex.check_close(float("nan"), 0.0, "x")


def test_check_array_close():
    assert ex.check_array_close(torch.tensor([1.0, float("nan")]), np.array([1.0, np.nan]), "acc")
    with pytest.raises(AssertionError, match=r"must have shape \(3,\); got \(2,\)"):
        ex.check_array_close([1, 2], [1, 2, 3], "counts")
    with pytest.raises(AssertionError, match=r"(?s)1 of 3 entries of counts differ; first at index \(1,\).*Hint: h"):
        ex.check_array_close([1, 5, 3], [1, 2, 3], "counts", hint="h")
    with pytest.raises(AssertionError, match="must be numeric"):
        ex.check_array_close(np.array(["a", "b"]), [1, 2], "counts")
    assert ex.check_array_close(torch.ones(2, 2, dtype=torch.bfloat16), np.ones((2, 2)), "bf16")


def test_check_true_and_in_range(capsys):
    assert ex.check_true(3 > 2, "tail accuracy is below head accuracy")
    assert "Correct: tail accuracy is below head accuracy" in capsys.readouterr().out
    assert ex.check_true(torch.tensor([True, True]), "all")
    with pytest.raises(AssertionError, match=r"(?s)claim does not hold.*Hint: look again"):
        ex.check_true(False, "claim", hint="look again")
    with pytest.raises(AssertionError):
        ex.check_true(torch.tensor([True, False]), "all")
    assert ex.check_true(np.array([1, 2]) < 3, "numpy comparison")
    with pytest.raises(AssertionError, match="numpy comparison does not hold"):
        ex.check_true(np.array([1, 4]) < 3, "numpy comparison")
    assert ex.check_in_range(0.5, 0.4, 0.6, "acc")
    with pytest.raises(AssertionError, match=r"acc = 0.7 is outside \[0.4, 0.6\]"):
        ex.check_in_range(0.7, 0.4, 0.6, "acc")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ex.check_close(1.0, 1.0, "x", rtol=-1), "rtol must be a finite number >= 0"),
        (lambda: ex.check_array_close([1.0], [1.0], "x", atol=float("inf")), "atol must be a finite number >= 0"),
        (lambda: ex.check_in_range(0.5, 0.6, 0.4, "x"), "low must be <= high"),
        (lambda: ex.check_in_range(0.5, None, 0.4, "x"), "low must be a number; got None"),
        (lambda: ex.check_in_range(0.5, 0.1, float("nan"), "x"), "high must be a number; got nan"),
    ],
)
def test_misuse_by_the_notebook_author_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_marker_for_notebook_specific_checks_is_present():
    import inspect

    assert "# --- notebook-specific checks below ---" in inspect.getsource(ex)
