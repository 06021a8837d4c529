"""What every exercise check shares: the error it raises and how it reports.

A check takes the learner's answer, compares it with a reference, and

* returns ``True`` after printing a confirmation when the answer is right;
* returns ``False`` after printing a note when the exercise is not attempted yet (``None``, or a
  function raising ``NotImplementedError``), so a notebook still runs from top to bottom;
* raises :class:`ExerciseError` saying what is wrong (which input, expected, got, a hint).

:func:`course_lib.exercises.use` builds on this to hand later cells the learner's own function.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import CourseError


class ExerciseError(CourseError, AssertionError):
    """The answer to an exercise is wrong; the message says how."""


def not_attempted(name: str) -> bool:
    """Report an exercise not attempted yet; returns False (what a check returns then)."""
    print(f"{name}: not attempted yet. Write your answer above (or open the solution below).")
    return False


def passed(name: str, detail: str) -> bool:
    """Report a correct answer; returns True (what a check returns then)."""
    print(f"✅ {name}: correct. {detail}")
    return True


def attempt(name: str, fn: Callable | None, *args):
    """``(True, fn(*args))``, or ``(False, None)`` after reporting "not attempted"."""
    if fn is None:
        not_attempted(name)
        return False, None
    try:
        return True, fn(*args)
    except NotImplementedError:
        not_attempted(name)
        return False, None


def as_number(got) -> float:
    """``float(got)`` for any number-like answer (Python, numpy or 0-d torch); NaN otherwise."""
    try:
        return float(got)
    except (TypeError, ValueError, RuntimeError):  # torch raises RuntimeError for >1 element
        return math.nan
