"""Later cells use the learner's own work: :func:`use` picks the learner's function or the
reference, and says which.

Every exercise in the course follows one pattern::

    def topk_error(scores, targets, k):          # ✏️ the learner's cell
        raise NotImplementedError

    check_topk_error(topk_error)                  # the check explains what is wrong

    def topk_error_solution(scores, targets, k):  # hidden; CI proves it passes
        ...

    topk_error = use(topk_error, check_topk_error, topk_error_solution)

From then on ``topk_error`` is the learner's function when it passes its check, and the
reference solution otherwise, with a visible note saying so and why.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

from .checks.core import ExerciseError
from .errors import CourseError, one_line


class UnsolvedExerciseError(CourseError, RuntimeError):
    """A learner's copy of the course (``make student``: no reference to fall back on), and an
    exercise whose answer does not pass its check yet: the cells below need it."""


def use(answer: Callable | None, check: Callable[[Callable | None], bool],
        reference: Callable | None, name: str | None = None) -> Callable:
    """The learner's ``answer`` when ``check(answer)`` passes, else ``reference``.

    Prints one line: that the learner's function is used, or that the reference is used
    because the exercise is not attempted yet, or because the check failed (with the check's
    message, or the exception the answer raised during it, in one line). The check's own output
    is not repeated. Never raises for a wrong answer, whatever the answer does: a learner's slip
    must not stop the rest of the notebook from running — except in a copy
    without solutions (``reference=None``, made by ``make student``), where there is nothing
    to fall back on: :class:`UnsolvedExerciseError` then says which exercise to solve (in words
    that do not mention solutions the copy does not have).
    """
    label = name or getattr(reference, "__name__", None) \
        or getattr(check, "__name__", "exercise").removeprefix("check_")
    label = label.removesuffix("_solution")
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            ok = check(answer)
    except Exception as error:  # a wrong answer, the answer's own exception, anything: say it
        said = one_line(error) if isinstance(error, ExerciseError) else (
            f"your function raised {type(error).__name__}: {one_line(error)}")
        if reference is None:
            raise UnsolvedExerciseError(f"{label}: the cells below need your function, and it "
                                        f"does not pass its check yet: {said}") from None
        print(f"⚠️ {label}: your answer does not pass its check yet, so the cells below use the "
              f"reference solution. The check said: {said}")
        return reference
    if ok is True:
        print(f"✅ {label}: the cells below use your function.")
        return answer
    if reference is None:
        raise UnsolvedExerciseError(f"{label}: not attempted yet: the cells below need your "
                                    "function, so solve the exercise above first")
    if ok is False:
        print(f"ℹ️ {label}: not attempted yet, so the cells below use the reference solution.")
    else:  # a check that returned something else: the course's slip, not the learner's
        print(f"⚠️ {label}: its check gave no verdict ({ok!r}), so the cells below use the "
              "reference solution.")
    return reference
