"""Checks for the exercises of notebook 00 (start here)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from torch import nn

from ..profiles import PROFILES, Profile
from .core import ExerciseError, describe, not_attempted, passed


def check_batches_per_epoch(fn: Callable[[Profile], int] | None) -> bool:
    """Exercise of notebook 00: batches per training epoch of a profile (last partial batch kept).

    Prints a confirmation when correct or a note when not attempted; raises
    :class:`ExerciseError` when wrong.
    """
    name = "batches_per_epoch"
    if fn is None:
        return not_attempted(name)
    for profile in PROFILES.values():
        try:
            got = fn(profile)
        except NotImplementedError:
            return not_attempted(name)
        images = profile.num_classes * profile.train_per_class
        want = math.ceil(images / profile.batch_size)
        if got != want:
            hint = ""
            if got == images // profile.batch_size:
                hint = " The last, partial batch counts too: round up, not down."
            raise ExerciseError(
                f"{name}: for the {profile.name!r} profile ({images} training images, batch size "
                f"{profile.batch_size}) expected {want}, got {got!r}.{hint}"
            )
    return passed(name, f"Checked on all {len(PROFILES)} profiles.")


def _small_models():
    """Three models whose parameter counts are easy to work out on paper (and one with buffers)."""
    return [
        (nn.Linear(3, 2), "nn.Linear(3, 2): 3·2 weights + 2 biases"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)),
         "conv 3→4 (3×3) + linear 144→5"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)),
         "conv without bias + BatchNorm2d(2) (which also keeps 5 buffers)"),
    ]


def check_count_parameters(fn: Callable | None) -> bool:
    """Exercise of notebook 00: ``fn(model)`` returns the number of learned parameters (an int:
    every weight and bias, buffers such as BatchNorm's running statistics excluded)."""
    name = "count_parameters"
    if fn is None:
        return not_attempted(name)
    for model, what in _small_models():
        try:
            got = fn(model)
        except NotImplementedError:
            return not_attempted(name)
        want = sum(p.numel() for p in model.parameters())
        if got == want and not isinstance(got, bool):
            continue
        hint = ""
        tensors = list(model.parameters())
        if got == len(tensors):
            hint = (" That is the number of parameter *tensors*; add up their sizes: "
                    "sum(p.numel() for p in model.parameters()).")
        elif got == sum(p.numel() for p in tensors if p.dim() > 1):
            hint = " Biases are learned parameters too: count every tensor in model.parameters()."
        elif got == sum(t.numel() for t in model.state_dict().values()):
            hint = (" state_dict() also holds buffers (BatchNorm's running mean and variance), "
                    "which are not learned: count model.parameters() only.")
        raise ExerciseError(f"{name}: for {what} expected {want}, got {describe(got)}.{hint}")
    return passed(name, f"Checked {len(_small_models())} small models.")


def check_to_display_image(fn: Callable | None) -> bool:
    """Exercise of notebook 00: ``fn(image)`` with ``image (3, H, W) uint8`` returns
    ``(H, W, 3)`` floats in [0, 1], what ``plt.imshow`` shows as a colour picture."""
    name = "to_display_image"
    if fn is None:
        return not_attempted(name)
    rng = np.random.default_rng(0)
    cases = [rng.integers(0, 256, size=(3, 5, 7), dtype=np.uint8),
             np.full((3, 2, 3), 255, dtype=np.uint8)]
    for image in cases:
        try:
            got = fn(image.copy())
        except NotImplementedError:
            return not_attempted(name)
        want = image.transpose(1, 2, 0) / 255.0
        try:
            arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            raise ExerciseError(f"{name}: expected an array of shape {want.shape}, got "
                                f"{describe(got)}") from None
        _, h, w = image.shape
        if arr.shape != want.shape:
            hint = ""
            if arr.shape == image.shape:
                hint = (" matplotlib wants the channels last, (height, width, 3): move the axes "
                        "with image.transpose(1, 2, 0).")
            elif arr.shape == (w, h, 3):
                hint = (" Height and width are swapped: transpose(2, 1, 0) moves them too; "
                        "use transpose(1, 2, 0).")
            raise ExerciseError(f"{name}: for an image of shape {image.shape} expected shape "
                                f"{want.shape} (height, width, channels), got {arr.shape}.{hint}")
        if np.allclose(arr, want, atol=1e-6):
            continue
        hint = ""
        if np.allclose(arr, want * 255):
            hint = " Scale the values to [0, 1]: divide by 255."
        elif np.allclose(arr, image.reshape(h, w, 3) / 255.0):
            hint = (" reshape keeps the numbers in memory order, so it scrambles the pixels "
                    "rather than moving the colour axis: use transpose(1, 2, 0).")
        elif np.allclose(arr, image.transpose(1, 2, 0) // 255):
            hint = " Integer division (//) rounds every value down to 0 or 1: use / 255."
        elif np.allclose(arr, image[::-1].transpose(1, 2, 0) / 255.0):
            hint = " The colour channels are reversed (BGR): keep them in the order R, G, B."
        raise ExerciseError(f"{name}: the right shape {want.shape}, but the values differ "
                            f"(expected pixel [0, 0] = {want[0, 0].round(3).tolist()}, got "
                            f"{arr[0, 0].round(3).tolist()}).{hint}")
    return passed(name, f"Checked {len(cases)} images.")
