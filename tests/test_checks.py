import pytest

from course_lib.checks import ExerciseError, check_batches_per_epoch


def test_correct_answer_passes(capsys):
    check_batches_per_epoch(lambda p: -(-(p.num_classes * p.train_per_class) // p.batch_size))
    assert "correct" in capsys.readouterr().out


def test_rounding_down_is_caught_with_a_hint():
    with pytest.raises(ExerciseError, match="round up"):
        check_batches_per_epoch(lambda p: (p.num_classes * p.train_per_class) // p.batch_size)


def test_wrong_answer_names_the_profile_and_values():
    with pytest.raises(ExerciseError, match=r"'smoke'.*192 training images.*expected 6, got 0"):
        check_batches_per_epoch(lambda p: 0)


@pytest.mark.parametrize("answer", [None, "raises"])
def test_not_attempted_is_reported_not_failed(capsys, answer):
    def todo(profile):
        raise NotImplementedError

    check_batches_per_epoch(None if answer is None else todo)
    assert "not attempted" in capsys.readouterr().out
