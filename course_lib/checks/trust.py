"""Checks for the exercises of notebook 10 (trusting the benchmark).

* :func:`check_ladder_reported`: the Ladder's reporting rule (Blum & Hardt 2015), as
  :class:`course_lib.scoring.EvaluationServer` applies it with ``ladder_step``;
* :func:`check_fraction_not_in_real`: the share of evaluated validation images whose original
  label is not among their ReaL labels (Beyer et al. 2020);
* :func:`check_accuracy_drop`: an accuracy drop between two independent test sets, with its
  confidence interval (as for ImageNetV2, Recht et al. 2019).

Each runs the learner's function on small inputs built so that the usual slips give different
answers, and names the slip it recognises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from statistics import NormalDist

import numpy as np

from ..scoring.stats import compare_error_rates
from .core import ExerciseError, check_cases, close

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them).
ANSWERS: dict[str, tuple[str, ...]] = {
    # the Ladder's scores on the check's own errors (LADDER_ERRORS, step 0.02), which the check
    # prints once the answer is right: with them in view a learner could return the list as is
    "ladder_reported": ("[0.5, 0.4, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3, 0.24]",),
    # on the real ILSVRC-2012 validation labels: 4,673 of the 46,837 images with ReaL labels;
    # the original labels then score 90.02 % ReaL accuracy
    "fraction_not_in_real": ("9.98%", "9.98 %", "0.0998", "4,673", "90.02%", "90.02 %"),
    # the drops' intervals: the shifted SynthNet split in the laptop run (+6.2 points, [+2.0,
    # +10.4]) and torchvision's AlexNet on ImageNetV2 (56.52 % → 43.97 %: [+11.5, +13.6])
    "accuracy_drop": ("+10.4%", "+11.5%", "+13.6%", "11.5 to 13.6"),
}


def _numbers(got, n: int, wanted: str, finite: bool = False) -> list[float]:
    """The answer as ``n`` numbers (finite ones with ``finite``), else :class:`ExerciseError`
    saying what was ``wanted``."""
    try:
        values = [float(v) for v in got]
    except (TypeError, ValueError, RuntimeError):  # not a sequence of numbers
        values = []
    if len(values) != n or (finite and not all(map(math.isfinite, values))):
        raise ExerciseError(f"{wanted}, got {got!r:.80}")
    return values


# --------------------------------------------------------------------------------------------
# exercise 1: the Ladder


LADDER_ERRORS = (0.50, 0.40, 0.45, 0.42, 0.385, 0.309, 0.295, 0.287, 0.31, 0.2449)
"""A team's true public errors, submission after submission, on which the Ladder and the usual
slips report different scores (step 0.02)."""
LADDER_STEP = 0.02


def ladder_reference(errors: Sequence[float], step: float, against: str = "reported",
                     rounded: bool = True, gain: float | None = None) -> list[float]:
    """The Ladder's reported scores ``(R,)`` for a team's public errors ``(R,)`` in order: a
    submission changes the score only when its error is below the best reported score by more
    than ``step``, and the new score is its error rounded to a multiple of ``step``.

    The usual slips, for the hints: compared ``against`` the best "raw" error or the "last"
    one, not ``rounded``, a ``gain`` other than the step."""
    best = raw = last = math.inf
    reported = []
    for error in errors:
        if error < {"reported": best, "raw": raw, "last": last}[against] - (
                step if gain is None else gain):
            best, raw = round(round(error / step) * step, 12) if rounded else error, error
        last = error
        reported.append(best)
    return reported


LADDER_SLIPS = [
    (partial(ladder_reference, against="last"),
     " You compared each submission with the previous submission's error. The Ladder compares "
     "it with the team's best score so far (the reported one): a worse submission followed by a "
     "slightly better one must not move the score."),
    (partial(ladder_reference, rounded=False),
     " The moves are right but the scores are the raw errors. The Ladder rounds a new best to a "
     "multiple of the step (round(error / step) * step), so it reveals no digits beyond the "
     "step."),
    (partial(ladder_reference, gain=0),
     " You update the score on any gain. The Ladder needs a gain of more than the step: "
     "error < best - step."),
    (lambda errors, step: list(errors),
     " That is the raw error of each submission: what an ordinary leaderboard reports, and what "
     "an adaptive attack feeds on."),
    (partial(ladder_reference, against="raw"),
     " You compared with the best raw error. The Ladder compares with its own (rounded) best "
     "reported score."),
]


def check_ladder_reported(fn: Callable | None) -> bool:
    """Exercise of notebook 10: ``fn(errors (R,), step)`` returns the ``(R,)`` scores the
    Ladder reports after each of a team's submissions."""
    errors, step = list(LADDER_ERRORS), LADDER_STEP
    return check_cases(
        "ladder_reported", fn, [(errors, step)], reference=ladder_reference,
        read=lambda got, errors, step: _numbers(
            got, len(errors), f"ladder_reported: for {len(errors)} submissions expected "
                              f"{len(errors)} reported scores (one after each submission)"),
        same=partial(close, abs_tol=1e-9), slips=LADDER_SLIPS,
        where=lambda errors, step: f"for errors {errors} and step {step}",
        done=f"For errors {errors} and step {step} the Ladder reports "
             f"{ladder_reference(errors, step)}: only gains larger than the step move the score.")


# --------------------------------------------------------------------------------------------
# exercise 2: original labels outside the ReaL sets


def _real_case():
    """``(real, original)``: 12 images of 5 classes, 3 without ReaL labels."""
    real = [(0,), (), (1, 2), (3,), (4, 0), (), (2,), (1,), (0, 3, 4), (), (2,), (4,)]
    original = [0, 1, 2, 1, 0, 3, 4, 1, 3, 2, 2, 4]
    return real, original


def _not_in(real, original, empty: bool = False) -> int:
    """Images whose original label is not in their ReaL set (those with an empty set too)."""
    return sum(o not in s for s, o in zip(real, original, strict=True) if empty or len(s))


def fraction_not_in_real_reference(real, original) -> float:
    """Among images with a non-empty ReaL set, the share whose original label is not in it."""
    return _not_in(real, original) / sum(len(s) > 0 for s in real)


REAL_SLIPS = [
    (lambda real, original: _not_in(real, original) / len(real),
     " Your denominator counts all images, including the ones with no ReaL label. Those are "
     "left out of every ReaL evaluation (the raters found no valid label): divide by the number "
     "of images with a non-empty set."),
    (lambda real, original: _not_in(real, original, empty=True) / len(real),
     " You counted the images with no ReaL label as 'not among them' and kept them in the "
     "denominator. Leave them out of both."),
    (lambda r, o: _not_in(r, o, empty=True) / sum(len(s) > 0 for s in r),
     " You counted the images with no ReaL label in the numerator: leave them out of both "
     "counts."),
    (lambda *case: 1 - fraction_not_in_real_reference(*case),
     " That is the share whose original label IS among the ReaL labels."),
    (lambda *case: 100 * fraction_not_in_real_reference(*case),
     " That is a percentage: return a fraction in [0, 1]."),
    (lambda real, original: float(_not_in(real, original)),
     " That is a count: divide it by the number of images with ReaL labels."),
]


def check_fraction_not_in_real(fn: Callable | None) -> bool:
    """Exercise of notebook 10: ``fn(real, original)`` with ``real`` N label sets (tuples;
    empty: no valid label) and ``original`` ``(N,)`` labels returns the fraction (in [0, 1]) of
    the images *with* ReaL labels whose original label is not among them."""
    want = fraction_not_in_real_reference(*_real_case())
    return check_cases(
        "fraction_not_in_real", fn, [_real_case()], reference=fraction_not_in_real_reference,
        same=partial(close, abs_tol=1e-9), slips=REAL_SLIPS, shown=lambda want: f"{want:.4f}",
        where=lambda real, original: f"on {len(real)} images "
                                     f"({sum(not s for s in real)} without ReaL labels)",
        done=f"{round(want * 9)} of the 9 images with ReaL labels ({want:.1%}); the 3 without "
             "any are left out.")


# --------------------------------------------------------------------------------------------
# exercise 3: an accuracy drop and its interval


def _drop_case():
    """Per-image correctness on two independent test sets: 1,600 images at 70 % accuracy and
    1,200 at 58 % (booleans)."""
    rng = np.random.default_rng(10)
    return rng.permutation(np.arange(1600) < 1120), rng.permutation(np.arange(1200) < 696)


def accuracy_drop_reference(correct_before, correct_after, confidence: float = 0.95):
    """``(drop, low, high)``: accuracy before − after, with the Wald interval for a difference
    of two independent proportions."""
    n1, n2 = len(correct_before), len(correct_after)
    p1, p2 = sum(map(bool, correct_before)) / n1, sum(map(bool, correct_after)) / n2
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2, p1 - p2 - half, p1 - p2 + half


def _within(value, want) -> bool:
    """Whether ``(drop, low, high)`` is one of the accepted answers ``want`` (within 10⁻⁴)."""
    return any(
        all(math.isclose(v, w, abs_tol=1e-4) for v, w in zip(value, ref, strict=True))
        for ref in want)


def _drop_slip(drop: Callable = lambda d: d, tol: float = 1e-4, half: Callable | None = None):
    """A slip, as a test of an answer ``(drop, low, high)``: its drop is ``drop(d)`` (``d`` the
    right one) within ``tol`` and, if given, its half-width ``half(se1, se2, z)`` (the two sets'
    standard errors, the normal quantile)."""
    def slip(before, after, confidence):
        p1, p2, n1, n2 = before.mean(), after.mean(), len(before), len(after)
        width = half and half(math.sqrt(p1 * (1 - p1) / n1), math.sqrt(p2 * (1 - p2) / n2),
                              NormalDist().inv_cdf(0.5 + confidence / 2))
        return lambda v: math.isclose(v[0], drop(p1 - p2), abs_tol=tol) and (
            not half or math.isclose((v[2] - v[1]) / 2, width, abs_tol=2e-4))
    return slip


def _z_of(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


DROP_SLIPS = [
    (_drop_slip(lambda d: -d), " The sign is reversed: the drop is accuracy before minus after."),
    (_drop_slip(lambda d: 100 * d, tol=1e-2), " That is a percentage: return fractions."),
    (_drop_slip(half=lambda se1, se2, z: z * se1),
     " Your interval has the width of the first set's error bar alone: the difference of two "
     "independent estimates carries both uncertainties, se = sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)."),
    (_drop_slip(half=lambda se1, se2, z: z * se2),
     " Your interval has the width of the second set's error bar alone: add the variances of "
     "both, se = sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)."),
    (_drop_slip(half=lambda se1, se2, z: z * (se1 + se2)),
     " You added the standard errors; add the variances and take the square root (independent "
     "samples)."),
    (_drop_slip(half=lambda se1, se2, z: _z_of(0.95) * math.hypot(se1, se2)),
     lambda b, a, c: f" Your interval is the 95 % one whatever `confidence` says ({c:.0%} here): "
                     "take z from it, NormalDist().inv_cdf(0.5 + confidence / 2)."),
    (_drop_slip(half=lambda se1, se2, z: _z_of(0.90) * math.hypot(se1, se2)),
     lambda b, a, c: f" That is a 90 % interval (z = 1.645); {c:.0%} needs z = {_z_of(c):.3f}."),
    (_drop_slip(half=lambda se1, se2, z: math.hypot(se1, se2)),
     lambda b, a, c: f" That is one standard error: multiply by z = {_z_of(c):.3f} for "
                     f"{c:.0%}."),
]


def _accepted(before, after, confidence) -> list[tuple]:
    """The answers accepted for a case: the Wald interval (the reference) and Newcombe's
    hybrid score interval (:func:`course_lib.scoring.compare_error_rates`)."""
    nc = compare_error_rates(1 - after.mean(), 1 - before.mean(), len(after), len(before),
                             confidence=confidence)
    return [accuracy_drop_reference(before, after, confidence), (nc.difference, *nc.ci)]


def check_accuracy_drop(fn: Callable | None) -> bool:
    """Exercise of notebook 10: ``fn(correct_before (N1,) bool, correct_after (N2,) bool,
    confidence)`` returns ``(drop, low, high)``: accuracy on the first set minus accuracy on the
    second and a ``confidence`` interval for it, the two sets being independent samples.
    The Wald interval is expected; Newcombe's hybrid score interval
    (:func:`course_lib.scoring.compare_error_rates`) is accepted too."""
    before, after = _drop_case()
    drop, low, high = accuracy_drop_reference(before, after)
    # a second confidence level, so an answer that ignores `confidence` shows
    return check_cases(
        "accuracy_drop", fn, [(before, after, 0.95), (before, after, 0.90)], same=_within,
        read=lambda got, *case: _numbers(got, 3, "accuracy_drop: expected a tuple (drop, low, "
                                                 "high) of three numbers", finite=True),
        reference=_accepted, slips=DROP_SLIPS,
        where=lambda b, a, c: f"accuracy {b.mean():.4f} on {len(b)} images and {a.mean():.4f} "
                              f"on {len(a)}, confidence {c}",
        shown=lambda want: "a drop of {:.4f}, interval [{:.4f}, {:.4f}]".format(*want[0]),
        done=f"accuracy {before.mean():.1%} → {after.mean():.1%}: a drop of {drop:.1%}, 95 % "
             f"CI [{low:.1%}, {high:.1%}].")
