"""The baseline comparison's centre crops: a view, exactly the crops torchvision cuts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from course_lib.comparison import center_crops


@pytest.mark.parametrize("side,crop", [(64, 56), (32, 28), (33, 28), (64, 64)])
def test_center_crops_are_torchvisions_and_share_memory(side, crop):
    images = np.random.default_rng(0).integers(0, 256, (5, 3, side, side), dtype=np.uint8)
    got = center_crops(images, crop)
    want = TF.center_crop(torch.from_numpy(images), [crop, crop]).numpy()
    assert np.array_equal(got, want)
    assert np.shares_memory(got, images)  # a view: no second copy of the training set


def test_a_crop_larger_than_the_images_is_an_error():
    with pytest.raises(ValueError, match="crop_size=40: must be 1..32"):
        center_crops(np.zeros((1, 3, 32, 32), np.uint8), 40)
