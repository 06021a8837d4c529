"""Checks for the exercises of notebook 00 (start here)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from torch import nn

from ..profiles import PROFILES, Profile
from .core import ExerciseError, check_cases, close, describe

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them).
ANSWERS: dict[str, tuple[str, ...]] = {
    # the answer is code; the axis order it moves the channels with is what would give it away
    "to_display_image": ("1, 2, 0",),
    # what the page prints with it: the laptop profile's network and the paper's
    "count_parameters": ("6,219,988", "6219988", "60,965,224", "60965224"),
    # the laptop and full profiles' steps per epoch, and their totals over the epochs
    "batches_per_epoch": ("313", "10,157", "10157", "2,504", "914,130"),
}


def _same_count(got, want) -> bool:
    return not isinstance(got, bool) and got == want  # True == 1, but it is not a count


def _images(profile: Profile) -> int:
    return profile.num_classes * profile.train_per_class


def check_batches_per_epoch(fn: Callable[[Profile], int] | None) -> bool:
    """Exercise of notebook 00: batches per training epoch of a profile (last partial batch kept).

    Prints a confirmation when correct or a note when not attempted; raises
    :class:`ExerciseError` when wrong.
    """
    return check_cases(
        "batches_per_epoch", fn, [(profile,) for profile in PROFILES.values()],
        reference=lambda p: math.ceil(_images(p) / p.batch_size), same=_same_count,
        slips=[(lambda p: _images(p) // p.batch_size,
                " The last, partial batch counts too: round up, not down.")],
        where=lambda p: f"for the {p.name!r} profile ({_images(p)} training images, batch size "
                        f"{p.batch_size})",
        done=f"Checked on all {len(PROFILES)} profiles.")


def _small_models():
    """Three models whose parameter counts are easy to work out on paper (and one with buffers)."""
    return [
        (nn.Linear(3, 2), "nn.Linear(3, 2): 3·2 weights + 2 biases"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)),
         "conv 3→4 (3×3) + linear 144→5"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)),
         "conv without bias + BatchNorm2d(2) (which also keeps 5 buffers)"),
    ]


PARAMETER_SLIPS = [
    (lambda m: len(list(m.parameters())),
     " That is the number of parameter *tensors*; add up their sizes: "
     "sum(p.numel() for p in model.parameters())."),
    (lambda m: sum(p.numel() for p in m.parameters() if p.dim() > 1),
     " Biases are learned parameters too: count every tensor in model.parameters()."),
    (lambda m: sum(t.numel() for t in m.state_dict().values()),
     " state_dict() also holds buffers (BatchNorm's running mean and variance), which are not "
     "learned: count model.parameters() only."),
]


def check_count_parameters(fn: Callable | None) -> bool:
    """Exercise of notebook 00: ``fn(model)`` returns the number of learned parameters (an int:
    every weight and bias, buffers such as BatchNorm's running statistics excluded)."""
    models = _small_models()
    what = {id(model): text for model, text in models}
    return check_cases(
        "count_parameters", fn, [(model,) for model, _ in models], same=_same_count,
        reference=lambda m: sum(p.numel() for p in m.parameters()), slips=PARAMETER_SLIPS,
        where=lambda m: f"for {what[id(m)]}", done=f"Checked {len(models)} small models.")


_shows = functools.partial(close, rel=1e-5, abs_tol=1e-6)  # a picture, to float32's precision


DISPLAY_SLIPS = [  # (image (3, H, W) uint8) -> what a slip shows instead of (H, W, 3) in [0, 1]
    (lambda image: lambda got: got.shape == image.shape,
     " matplotlib wants the channels last, (height, width, 3): move the axes with "
     "image.transpose(1, 2, 0)."),
    (lambda image: lambda got: got.shape == (image.shape[2], image.shape[1], 3),
     " Height and width are swapped: transpose(2, 1, 0) moves them too; use "
     "transpose(1, 2, 0)."),
    (lambda image: image.transpose(1, 2, 0), " Scale the values to [0, 1]: divide by 255."),
    (lambda image: image.reshape(*image.shape[1:], 3) / 255.0,
     " reshape keeps the numbers in memory order, so it scrambles the pixels rather than moving "
     "the colour axis: use transpose(1, 2, 0)."),
    (lambda image: image.transpose(1, 2, 0) // 255,
     " Integer division (//) rounds every value down to 0 or 1: use / 255."),
    (lambda image: image[::-1].transpose(1, 2, 0) / 255.0,
     " The colour channels are reversed (BGR): keep them in the order R, G, B."),
]


def _display_array(got, image: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise ExerciseError(f"to_display_image: expected an array of shape "
                            f"{(*image.shape[1:], 3)}, got {describe(got)}") from None


def check_to_display_image(fn: Callable | None) -> bool:
    """Exercise of notebook 00: ``fn(image)`` with ``image (3, H, W) uint8`` returns
    ``(H, W, 3)`` floats in [0, 1], what ``plt.imshow`` shows as a colour picture."""
    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 256, size=(3, 5, 7), dtype=np.uint8),),
             (np.full((3, 2, 3), 255, dtype=np.uint8),)]
    return check_cases(
        "to_display_image", fn, cases, read=_display_array, same=_shows, slips=DISPLAY_SLIPS,
        reference=lambda image: image.transpose(1, 2, 0) / 255.0,
        where=lambda image: f"for an image of shape {image.shape}",
        shown=lambda want: f"{describe(want)} (height, width, channels) with pixel [0, 0] = "
                           f"{want[0, 0].round(3).tolist()}",
        done=f"Checked {len(cases)} images.")
