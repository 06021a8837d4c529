"""The pre-2012 pipeline against a trained network, on the same images, by the same rules.

:func:`compare_with_baseline` fits :class:`course_lib.models.HandcraftedBaseline` (HOG + colour
histograms + logistic regression) on the centre crops of the training images, scores it on the
validation images' centre crops (what the network is validated on) and compares the two per
image with McNemar's exact test. The ``train --baseline`` command and notebook 10 use it.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .datasets.augment import IMAGENET_MEAN, IMAGENET_STD, center_offsets
from .datasets.loader import UInt8Loader
from .errors import CourseValueError
from .evaluate import predict
from .models import HandcraftedBaseline
from .scoring.metrics import per_image_topk_error, topk_error
from .scoring.stats import mcnemar_exact

BASELINE_MAX_IMAGES = 100_000  # HOG features take about 2 ms an image on one core
METHOD = "HOG + color histograms + logistic regression (HandcraftedBaseline)"


def check_baseline_inputs(train, val) -> None:
    """Refuse a comparison that could not run, before any training is spent on it.

    ``train``, ``val``: ``(images, labels)`` pairs (``val`` may be None, which is refused).
    """
    if val is None:
        raise CourseValueError("the baseline comparison needs validation images to score on")
    if len(train[1]) > BASELINE_MAX_IMAGES:
        raise CourseValueError(f"the baseline fits hand-made features on every training image: "
                         f"{len(train[1]):,} is more than {BASELINE_MAX_IMAGES:,} (hours on a CPU)")


def center_crops(images, crop_size: int) -> np.ndarray:
    """``(N, 3, S, S) uint8`` → the ``(N, 3, crop, crop)`` centre crops as a *view* (no copy:
    a memmap stays on disk, and the baseline reads it a chunk at a time). Offsets are
    :func:`course_lib.datasets.augment.center_crop`'s (torchvision's)."""
    side = images.shape[-1]
    if not 1 <= crop_size <= min(images.shape[-2:]):
        raise CourseValueError(f"crop_size={crop_size}: must be 1..{side} for {side}-px images")
    top, left = center_offsets((crop_size, crop_size), tuple(images.shape[-2:]))
    return images[:, :, top:top + crop_size, left:left + crop_size]


def fit_baseline(train, val, crop_size: int, *, num_classes: int | None = None,
                 baseline=None) -> dict:
    """Fit the baseline on the centre crops of ``train`` and score it on those of ``val``.

    ``train``, ``val``: ``(images (N, 3, S, S) uint8, labels (N,) int)``. ``baseline``: an
    unfitted :class:`~course_lib.models.HandcraftedBaseline` (default settings when None).
    Returns ``method``, ``val_top1_error`` and ``val_top5_error`` (top-k with k = min(5, C)),
    ``seconds`` (fit + score) and the per-image ``baseline_scores (N_val, C)``: what
    :func:`against_baseline` compares a network with, so one fit can serve several networks
    trained on the same images.
    """
    check_baseline_inputs(train, val)
    labels = np.asarray(val[1])
    num_classes = num_classes or int(max(np.max(train[1]), np.max(labels))) + 1
    start = time.perf_counter()
    fitted = (baseline or HandcraftedBaseline()).fit(center_crops(train[0], crop_size),
                                                     np.asarray(train[1]))
    scores = fitted.scores(center_crops(val[0], crop_size), num_classes=num_classes)
    seconds = time.perf_counter() - start
    k = min(5, num_classes)  # with fewer classes than five, every class is a guess
    return {"method": METHOD, "val_top1_error": topk_error(scores, labels, 1),
            "val_top5_error": topk_error(scores, labels, k), "seconds": seconds,
            "baseline_scores": scores}


def against_baseline(model: torch.nn.Module, val, crop_size: int, baseline_scores, *,
                     batch_size: int = 256, normalize=None) -> dict:
    """Score ``model`` on the centre crops of ``val`` and compare it, image by image, with
    ``baseline_scores (N, C)`` (:func:`fit_baseline`'s, on the same ``val``).

    ``val``: ``(images (N, 3, S, S) uint8, labels (N,) int)``; ``model``: a trained network
    taking ``(N, 3, crop_size, crop_size)`` normalized floats; ``normalize``: its ``(mean,
    std)`` (default ImageNet's). Returns ``network_top1_error``, ``only_network_wrong`` /
    ``only_baseline_wrong`` (images only one of the two gets wrong at top-1) and ``mcnemar_p``
    (exact, two-sided).
    """
    labels = np.asarray(val[1])
    baseline_scores = np.asarray(baseline_scores)
    if baseline_scores.ndim != 2 or len(baseline_scores) != len(labels):
        raise CourseValueError(f"baseline_scores must be (N, C) for the N = {len(labels):,} "
                         f"validation images, got shape {baseline_scores.shape}")
    device = next(model.parameters()).device
    network = predict(model, UInt8Loader(val[0], labels, batch_size, shuffle=False),
                      mode="center", crop_size=crop_size, device=device,
                      normalize=normalize or (IMAGENET_MEAN, IMAGENET_STD))
    network_wrong = per_image_topk_error(network.scores, labels, 1)
    test = mcnemar_exact(network_wrong, per_image_topk_error(baseline_scores, labels, 1))
    return {"network_top1_error": float(np.mean(network_wrong)),
            "only_network_wrong": test.only_a_wrong, "only_baseline_wrong": test.only_b_wrong,
            "mcnemar_p": test.p_value}


def compare_with_baseline(model: torch.nn.Module, train, val, crop_size: int, *,
                          batch_size: int = 256, normalize=None, num_classes: int | None = None,
                          baseline=None) -> dict:
    """Fit the baseline on ``train`` and compare it with ``model`` on ``val``:
    :func:`fit_baseline` then :func:`against_baseline`.

    ``train``, ``val``: ``(images (N, 3, S, S) uint8, labels (N,) int)``. ``model``: a trained
    network taking ``(N, 3, crop_size, crop_size)`` normalized floats. ``normalize``: its
    ``(mean, std)`` (default ImageNet's). ``baseline``: an unfitted
    :class:`~course_lib.models.HandcraftedBaseline` (default settings when None).

    Returns ``method``, ``val_top1_error`` and ``val_top5_error`` of the baseline (top-k with
    k = min(5, C)), ``seconds`` (fit + score), ``network_top1_error``, ``only_network_wrong`` /
    ``only_baseline_wrong`` (images only one of the two gets wrong at top-1) and ``mcnemar_p``
    (exact, two-sided), plus the per-image ``baseline_scores (N, C)``.
    """
    fitted = fit_baseline(train, val, crop_size, num_classes=num_classes, baseline=baseline)
    compared = against_baseline(model, val, crop_size, fitted["baseline_scores"],
                                batch_size=batch_size, normalize=normalize)
    return {**fitted, **compared}
