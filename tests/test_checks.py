import pytest

from course_lib.checks.core import ExerciseError
from course_lib.checks.start import check_batches_per_epoch


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


# --- count_parameters --------------------------------------------------------------------
def count(model):
    return sum(p.numel() for p in model.parameters())


def test_count_parameters_right_answer_passes(capsys):
    from course_lib.checks.start import check_count_parameters

    assert check_count_parameters(count) is True
    assert "correct" in capsys.readouterr().out


def test_count_parameters_counts_match_hand_arithmetic():
    # nn.Linear(3, 2): 3*2 + 2 = 8; conv 3->4 3x3: 4*3*9 + 4 = 112, linear 144->5: 725;
    # conv 1->2 3x3 without bias: 18, BatchNorm2d(2): weight + bias = 4.
    from course_lib.checks.start import _small_models

    assert [count(m) for m, _ in _small_models()] == [8, 112 + 725, 18 + 4]


@pytest.mark.parametrize("wrong, hint", [
    (lambda m: len(list(m.parameters())), "number of parameter \\*tensors\\*"),
    (lambda m: sum(p.numel() for p in m.parameters() if p.dim() > 1), "Biases are learned"),
    (lambda m: sum(t.numel() for t in m.state_dict().values()), "buffers"),
    (lambda m: True, r"expected 8, got True"),
])
def test_count_parameters_wrong_answers_are_explained(wrong, hint):
    from course_lib.checks.start import check_count_parameters

    with pytest.raises(ExerciseError, match=hint):
        check_count_parameters(wrong)


def test_count_parameters_not_attempted(capsys):
    from course_lib.checks.start import check_count_parameters

    def todo(model):
        raise NotImplementedError

    assert check_count_parameters(None) is False
    assert check_count_parameters(todo) is False
    assert capsys.readouterr().out.count("not attempted") == 2


# --- to_display_image --------------------------------------------------------------------
def test_to_display_image_right_answers_pass(capsys):
    import numpy as np
    import torch

    from course_lib.checks.start import check_to_display_image

    assert check_to_display_image(lambda im: im.transpose(1, 2, 0) / 255) is True
    assert check_to_display_image(lambda im: np.moveaxis(im, 0, -1).astype(np.float32) / 255.0)
    assert check_to_display_image(lambda im: torch.from_numpy(im).permute(1, 2, 0) / 255)
    assert capsys.readouterr().out.count("correct") == 3


@pytest.mark.parametrize("wrong, hint", [
    (lambda im: im / 255, "channels last"),
    (lambda im: im.transpose(2, 1, 0) / 255, "Height and width are swapped"),
    (lambda im: im.transpose(1, 2, 0), "divide by 255"),
    (lambda im: im.reshape(im.shape[1], im.shape[2], 3) / 255, "scrambles the pixels"),
    (lambda im: im.transpose(1, 2, 0) // 255, "Integer division"),
    (lambda im: im[::-1].transpose(1, 2, 0) / 255, "BGR"),
    (lambda im: "a picture", "expected an array of shape"),
])
def test_to_display_image_wrong_answers_are_explained(wrong, hint):
    from course_lib.checks.start import check_to_display_image

    with pytest.raises(ExerciseError, match=hint):
        check_to_display_image(wrong)


def test_to_display_image_not_attempted(capsys):
    from course_lib.checks.start import check_to_display_image

    def todo(image):
        raise NotImplementedError

    assert check_to_display_image(None) is False
    assert check_to_display_image(todo) is False
    assert capsys.readouterr().out.count("not attempted") == 2
