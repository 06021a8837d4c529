"""``exercises.use``: later cells get the learner's function when it passes, else the reference."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.checks.benchmark import check_topk_error
from course_lib.exercises import use


def reference(scores, targets, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(~(top == targets[:, None]).any(axis=1)))


def learners_right(scores, targets, k):
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(1 - np.mean((top == targets[:, None]).any(axis=1)))


def learners_accuracy(scores, targets, k):
    return 1 - reference(scores, targets, k)


def not_started(scores, targets, k):
    raise NotImplementedError


def test_a_passing_answer_is_used(capsys):
    assert use(learners_right, check_topk_error, reference) is learners_right
    out = capsys.readouterr().out
    assert "topk_error" not in out or "use your function" in out
    assert "✅" in out and "correct." not in out  # one line, the check's own output swallowed


def test_not_attempted_falls_back_with_a_note(capsys):
    assert use(not_started, check_topk_error, reference) is reference
    assert use(None, check_topk_error, reference) is reference
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_a_wrong_answer_falls_back_and_says_why(capsys):
    assert use(learners_accuracy, check_topk_error, reference, name="topk_error") is reference
    out = capsys.readouterr().out
    assert "topk_error: your answer does not pass" in out and "*accuracy*" in out


def test_a_check_that_gives_no_verdict_still_hands_over(capsys):
    assert use(learners_right, lambda fn: None, reference, name="topk_error") is reference
    assert "topk_error: its check gave no verdict (None)" in capsys.readouterr().out


def test_the_answers_own_exception_is_handed_over_in_one_line(capsys):
    def crashes(scores, targets, k):
        return scores[k, k, k]  # IndexError: too many indices

    assert use(crashes, check_topk_error, reference) is reference
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "your function raised IndexError" in out


def test_a_copy_without_solutions_asks_for_the_exercise():
    from course_lib.exercises import UnsolvedExerciseError

    with pytest.raises(UnsolvedExerciseError, match="topk_error: not attempted yet: the cells "
                                                    "below need your function") as error:
        use(not_started, check_topk_error, None)
    assert "solution" not in str(error.value).lower()  # the learner's copy has none to mention
    with pytest.raises(UnsolvedExerciseError, match="does not pass its check yet.*accuracy"):
        use(learners_accuracy, check_topk_error, None)
    assert use(learners_right, check_topk_error, None) is learners_right
