"""checks/core.check_cases, the harness every exercise check runs through, on a toy exercise:
``double(x) = 2 x``, with slips written here (not taken from any chapter's check)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.checks.core import ExerciseError, check_cases, describe

CASES = [(1,), (2,), (5,)]
SLIPS = [(lambda x: x + 2, " Added 2, not doubled."),  # the same as 2x on x = 2 only
         (lambda x: x * x, " Squared, not doubled."),  # the same as 2x on x = 2 only
         (lambda x: 1 / (x - 2), " Never right."),  # undefined on x = 2: not this slip there
         (lambda x: lambda got: isinstance(got, str), " A string, not a number.")]


def run(fn, slips=SLIPS):
    return check_cases("double", fn, CASES, reference=lambda x: 2 * x, slips=slips,
                       where=lambda x: f"for x = {x}", done="Checked 3 numbers.")


def test_a_right_answer_passes_and_an_unattempted_one_is_not_failed(capsys):
    assert run(lambda x: 2 * x) is True
    assert "✅ double: correct. Checked 3 numbers." in capsys.readouterr().out
    assert run(None) is False and "not attempted" in capsys.readouterr().out


def test_the_slip_that_explains_every_answer_is_named():
    # squaring and adding 2 both give 4 on x = 2; only squaring explains 1 and 25 as well
    with pytest.raises(ExerciseError, match=r"double: for x = 1: expected 2, got 1\. Squared"):
        run(lambda x: x * x)
    with pytest.raises(ExerciseError, match=r"for x = 1: expected 2, got 3\. Added 2"):
        run(lambda x: x + 2)


def test_a_slip_that_is_a_test_of_the_answer_and_an_unknown_slip():
    with pytest.raises(ExerciseError, match=r"got 'two'\. A string, not a number\.$"):
        run(lambda x: "two")
    with pytest.raises(ExerciseError, match=r"for x = 1: expected 2, got 7\.$"):  # no slip
        run(lambda x: 7)


def test_slips_given_case_by_case_name_the_same_slip():
    def per_case(x):  # row k is the same slip on every case; its hint may use the case
        return [(x + 2, " Added 2."), (x * x, f" Squared {x}.")]

    with pytest.raises(ExerciseError, match=r"for x = 1: .*Squared 1\.$"):
        run(lambda x: x * x, slips=per_case)


def test_a_few_numbers_are_shown_as_they_are_and_many_by_shape():
    assert describe(np.array([0.25, 0.5])) == "ndarray [0.25, 0.5]"
    assert describe(torch.tensor([1, 2])) == "Tensor [1, 2]"
    assert describe((np.float64(0.123456789), 2)) == "(0.123457, 2)"
    assert describe(np.zeros((3, 4))) == "ndarray of shape (3, 4)"
    assert describe("x" * 100).endswith("...") and len(describe("x" * 100)) == 60
