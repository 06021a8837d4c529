"""What every chapter's exercise-check tests share: a check's answers, written as a learner
would write them (never taken from the check's own models of slips), the right ones passing and
each wrong one refused with the hint for its slip."""

from __future__ import annotations

import pytest

from course_lib.checks.core import ExerciseError


def answers_test(check, right=(), wrong=(), ids=None):
    """The parametrised test that ``check`` passes every answer in ``right`` (returns True and
    says "correct") and refuses every ``(answer, pattern)`` in ``wrong`` with an
    :class:`ExerciseError` whose message matches the regular expression ``pattern``. ``ids``:
    the wrong answers' test ids. Assign it to a ``test_…`` name in the chapter's module."""
    cases = [(answer, None) for answer in right] + list(wrong)
    names = [f"right-{i}" for i in range(len(right))] + list(
        ids or (f"wrong-{i}" for i in range(len(wrong))))

    @pytest.mark.parametrize("answer, pattern", cases, ids=names)
    def test_answers(capsys, answer, pattern):
        if pattern is None:
            assert check(answer) is True
            assert "correct" in capsys.readouterr().out
        else:
            with pytest.raises(ExerciseError, match=pattern):
                check(answer)

    return test_answers
