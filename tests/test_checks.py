import numpy as np
import pytest
import torch
from check_helpers import answers_test

from course_lib.checks.core import ExerciseError
from course_lib.checks.start import (
    _small_models,
    check_batches_per_epoch,
    check_count_parameters,
    check_to_display_image,
)


def images(p):
    return p.num_classes * p.train_per_class


test_batches_per_epoch = answers_test(check_batches_per_epoch, right=[
    lambda p: -(-images(p) // p.batch_size),
], wrong=[
    (lambda p: images(p) // p.batch_size, "round up"),
], ids=["rounded-down"])


def test_wrong_answer_names_the_profile_and_values():
    with pytest.raises(ExerciseError, match=r"'smoke'.*192 training images.*expected 6, got 0"):
        check_batches_per_epoch(lambda p: 0)


# --- count_parameters --------------------------------------------------------------------
def count(model):
    return sum(p.numel() for p in model.parameters())


def test_count_parameters_counts_match_hand_arithmetic():
    # nn.Linear(3, 2): 3*2 + 2 = 8; conv 3->4 3x3: 4*3*9 + 4 = 112, linear 144->5: 725;
    # conv 1->2 3x3 without bias: 18, BatchNorm2d(2): weight + bias = 4.
    assert [count(m) for m, _ in _small_models()] == [8, 112 + 725, 18 + 4]


test_count_parameters = answers_test(check_count_parameters, right=[count], wrong=[
    (lambda m: len(list(m.parameters())), "number of parameter \\*tensors\\*"),
    (lambda m: sum(p.numel() for p in m.parameters() if p.dim() > 1), "Biases are learned"),
    (lambda m: sum(t.numel() for t in m.state_dict().values()), "buffers"),
    (lambda m: True, r"expected 8, got True"),
], ids=["tensors", "no-biases", "buffers", "a-bool"])


# --- to_display_image --------------------------------------------------------------------
test_to_display_image = answers_test(check_to_display_image, right=[
    lambda im: im.transpose(1, 2, 0) / 255,
    lambda im: np.moveaxis(im, 0, -1).astype(np.float32) / 255.0,
    lambda im: torch.from_numpy(im).permute(1, 2, 0) / 255,
], wrong=[
    (lambda im: im / 255, "channels last"),
    (lambda im: im.transpose(2, 1, 0) / 255, "Height and width are swapped"),
    (lambda im: im.transpose(1, 2, 0), "divide by 255"),
    (lambda im: im.reshape(im.shape[1], im.shape[2], 3) / 255, "scrambles the pixels"),
    (lambda im: im.transpose(1, 2, 0) // 255, "Integer division"),
    (lambda im: im[::-1].transpose(1, 2, 0) / 255, "BGR"),
    (lambda im: "a picture", "expected an array of shape"),
], ids=["channels-first", "swapped", "unscaled", "reshaped", "integer-division", "bgr",
        "not-an-array"])
