"""The baseline comparison: its centre crops are a view, exactly the crops torchvision cuts; one
baseline fit can be compared with several networks, and the counts are right by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from course_lib.comparison import (
    against_baseline,
    center_crops,
    compare_with_baseline,
    fit_baseline,
)


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


# --- one baseline fit, several networks: fit_baseline + against_baseline ----------------------


class PixelClassifier(torch.nn.Module):
    """Predicts class k for an image whose red channel is 10·k everywhere (0–255 scale), on
    inputs scaled to 0–1 without normalising (``normalize=((0, 0, 0), (1, 1, 1))``)."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.unused = torch.nn.Parameter(torch.zeros(1))  # a device to read, nothing else

    def forward(self, x):
        value = x[:, 0].mean(dim=(1, 2)) * 255 / 10
        return -(value[:, None] - torch.arange(self.num_classes, dtype=x.dtype)) ** 2


def _images_predicted_as(classes, side=8):
    """(N, 3, side, side) uint8 images that PixelClassifier puts in ``classes``."""
    images = np.zeros((len(classes), 3, side, side), np.uint8)
    images[:, 0] = 10 * np.asarray(classes, np.uint8)[:, None, None]
    return images


def test_against_baseline_counts_the_images_each_gets_wrong_by_hand():
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    network_says = np.array([0, 1, 2, 3, 1, 2, 3, 0, 0, 1, 0, 0])  # wrong on 4, 5, 6, 7, 10, 11
    baseline_says = np.array([0, 1, 0, 0, 0, 1, 2, 3, 1, 1, 2, 0])  # wrong on 2, 3, 8, 11
    baseline_scores = np.eye(4)[baseline_says]
    got = against_baseline(PixelClassifier(4), (_images_predicted_as(network_says), labels), 6,
                           baseline_scores, normalize=((0, 0, 0), (1, 1, 1)))
    only_network = sum(1 for n, b, y in zip(network_says, baseline_says, labels)
                       if n != y and b == y)
    only_baseline = sum(1 for n, b, y in zip(network_says, baseline_says, labels)
                        if n == y and b != y)
    assert (only_network, only_baseline) == (5, 3)  # images 4, 5, 6, 7, 10 and 2, 3, 8
    assert got["only_network_wrong"] == only_network
    assert got["only_baseline_wrong"] == only_baseline
    assert got["network_top1_error"] == pytest.approx(6 / 12)
    # exact two-sided binomial test on the 8 discordant images, by hand
    tail = sum(math.comb(8, i) for i in range(3 + 1)) / 2 ** 8
    assert got["mcnemar_p"] == pytest.approx(min(1.0, 2 * tail))


def test_against_baseline_refuses_scores_for_other_images():
    labels = np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"\(N, C\) for the N = 3 validation images, got shape "
                                         r"\(4, 3\)"):
        against_baseline(PixelClassifier(3), (_images_predicted_as(labels), labels), 6,
                         np.eye(3)[[0, 1, 2, 0]], normalize=((0, 0, 0), (1, 1, 1)))


def test_one_baseline_fit_gives_what_the_whole_comparison_gives():
    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(3), 8)
    images = _images_predicted_as(classes, side=32)
    images[:, 1:] = rng.integers(0, 256, (len(classes), 2, 32, 32), dtype=np.uint8)
    train, val = (images[::2], classes[::2]), (images[1::2], classes[1::2])
    whole = compare_with_baseline(PixelClassifier(3), train, val, 28, num_classes=3,
                                  normalize=((0, 0, 0), (1, 1, 1)))
    fitted = fit_baseline(train, val, 28, num_classes=3)
    compared = against_baseline(PixelClassifier(3), val, 28, fitted["baseline_scores"],
                                normalize=((0, 0, 0), (1, 1, 1)))
    assert np.allclose(whole["baseline_scores"], fitted["baseline_scores"])
    assert whole["val_top1_error"] == fitted["val_top1_error"]
    assert whole["network_top1_error"] == compared["network_top1_error"] == 0.0
    assert whole["only_baseline_wrong"] == compared["only_baseline_wrong"]
    assert whole["mcnemar_p"] == compared["mcnemar_p"]
