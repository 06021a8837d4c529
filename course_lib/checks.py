"""The ``check_*()`` helpers behind the notebook exercises.

Each check takes the learner's answer, compares it with a reference computed here, and raises
an :class:`ExerciseError` that says what is wrong (which input, expected, got). An exercise
not attempted yet (``None`` or a function raising ``NotImplementedError``) is reported, not
failed, so a notebook still runs from top to bottom before the learner has solved it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .profiles import PROFILES, Profile


class ExerciseError(AssertionError):
    """The answer to an exercise is wrong; the message says how."""


def _not_attempted(name: str) -> None:
    print(f"{name}: not attempted yet. Write your answer above (or open the solution below).")


def _passed(name: str, detail: str) -> None:
    print(f"✅ {name}: correct. {detail}")


def check_batches_per_epoch(fn: Callable[[Profile], int] | None) -> None:
    """Exercise of notebook 00: batches per training epoch of a profile (last partial batch kept).

    Prints a confirmation when correct or a note when not attempted; raises
    :class:`ExerciseError` when wrong.
    """
    name = "batches_per_epoch"
    if fn is None:
        _not_attempted(name)
        return
    for profile in PROFILES.values():
        try:
            got = fn(profile)
        except NotImplementedError:
            _not_attempted(name)
            return
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
    _passed(name, f"Checked on all {len(PROFILES)} profiles.")
