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
from statistics import NormalDist

import numpy as np

from ..scoring.stats import compare_error_rates
from .core import ExerciseError, as_number, attempt, passed, slip_hint

# --------------------------------------------------------------------------------------------
# exercise 1: the Ladder


LADDER_ERRORS = (0.50, 0.40, 0.45, 0.42, 0.385, 0.309, 0.295, 0.287, 0.31, 0.2449)
"""A team's true public errors, submission after submission, on which the Ladder and the usual
slips report different scores (step 0.02)."""
LADDER_STEP = 0.02


def ladder_reference(errors: Sequence[float], step: float) -> list[float]:
    """The Ladder's reported scores ``(R,)`` for a team's public errors ``(R,)`` in order: a
    submission changes the score only when its error is below the best reported score by more
    than ``step``, and the new score is its error rounded to a multiple of ``step``."""
    best, reported = math.inf, []
    for error in errors:
        if error < best - step:
            best = round(round(error / step) * step, 12)
        reported.append(best)
    return reported


def _ladder_against_last(errors, step):
    last, best, reported = math.inf, math.inf, []
    for error in errors:
        if error < last - step:
            best = round(round(error / step) * step, 12)
        last = error
        reported.append(best)
    return reported


def _ladder_unrounded(errors, step):
    best, reported = math.inf, []
    for error in errors:
        if error < best - step:
            best = error
        reported.append(best)
    return reported


def _ladder_any_gain(errors, step):
    best, reported = math.inf, []
    for error in errors:
        if error < best:
            best = round(round(error / step) * step, 12)
        reported.append(best)
    return reported


def _ladder_against_raw_best(errors, step):
    raw, best, reported = math.inf, math.inf, []
    for error in errors:
        if error < raw - step:
            raw = error
            best = round(round(error / step) * step, 12)
        reported.append(best)
    return reported


def _as_floats(got) -> list[float] | None:
    try:
        values = [float(v) for v in got]
    except (TypeError, ValueError):
        return None
    return values


def _close(a: Sequence[float], b: Sequence[float], tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def check_ladder_reported(fn: Callable | None) -> bool:
    """Exercise of notebook 10: ``fn(errors (R,), step)`` returns the ``(R,)`` scores the
    Ladder reports after each of a team's submissions."""
    name = "ladder_reported"
    errors, step = list(LADDER_ERRORS), LADDER_STEP
    ok, got = attempt(name, fn, list(errors), step)
    if not ok:
        return False
    want = ladder_reference(errors, step)
    values = _as_floats(got)
    if values is None or len(values) != len(want):
        raise ExerciseError(f"{name}: for {len(errors)} submissions expected {len(want)} "
                            f"reported scores (one after each submission), got {got!r:.80}")
    if _close(values, want):
        return passed(name, f"For errors {errors} and step {step} the Ladder reports {want}: "
                            "only gains larger than the step move the score.")
    slips = {
        "last": (_ladder_against_last, " You compared each submission with the previous "
                 "submission's error. The Ladder compares it with the team's best score so far "
                 "(the reported one): a worse submission followed by a slightly better one must "
                 "not move the score."),
        "unrounded": (_ladder_unrounded, " The moves are right but the scores are the raw "
                      "errors. The Ladder rounds a new best to a multiple of the step "
                      "(round(error / step) * step), so it reveals no digits beyond the step."),
        "any": (_ladder_any_gain, " You update the score on any gain. The Ladder needs a gain "
                "of more than the step: error < best - step."),
        "raw": (lambda e, s: list(e), " That is the raw error of each submission: what an "
                "ordinary leaderboard reports, and what an adaptive attack feeds on."),
        "raw best": (_ladder_against_raw_best, " You compared with the best raw error. The "
                     "Ladder compares with its own (rounded) best reported score."),
    }
    hint = slip_hint(values, {k: (slip(errors, step), text) for k, (slip, text) in slips.items()},
                     _close)
    raise ExerciseError(f"{name}: for errors {errors} and step {step} expected {want}, got "
                        f"{[round(v, 4) for v in values]}.{hint}")


# --------------------------------------------------------------------------------------------
# exercise 2: original labels outside the ReaL sets


def _real_case():
    """``(real, original)``: 12 images of 5 classes, 3 without ReaL labels."""
    real = [(0,), (), (1, 2), (3,), (4, 0), (), (2,), (1,), (0, 3, 4), (), (2,), (4,)]
    original = [0, 1, 2, 1, 0, 3, 4, 1, 3, 2, 2, 4]
    return real, original


def fraction_not_in_real_reference(real, original) -> float:
    """Among images with a non-empty ReaL set, the share whose original label is not in it."""
    evaluated = [(set(s), o) for s, o in zip(real, original, strict=True) if len(s)]
    return sum(o not in s for s, o in evaluated) / len(evaluated)


def check_fraction_not_in_real(fn: Callable | None) -> bool:
    """Exercise of notebook 10: ``fn(real, original)`` with ``real`` N label sets (tuples;
    empty: no valid label) and ``original`` ``(N,)`` labels returns the fraction (in [0, 1]) of
    the images *with* ReaL labels whose original label is not among them."""
    name = "fraction_not_in_real"
    real, original = _real_case()
    ok, got = attempt(name, fn, [tuple(s) for s in real], list(original))
    if not ok:
        return False
    want = fraction_not_in_real_reference(real, original)
    value = as_number(got)
    if math.isclose(value, want, abs_tol=1e-9):
        return passed(name, f"{round(want * 9)} of the 9 images with ReaL labels "
                            f"({want:.1%}); the 3 without any are left out.")
    n = len(real)
    not_in = sum(len(s) > 0 and o not in s for s, o in zip(real, original, strict=True))
    empty = sum(len(s) == 0 for s in real)
    slips = [
        (not_in / n, " Your denominator counts all images, including the ones with no ReaL "
         "label. Those are left out of every ReaL evaluation (the raters found no valid label): "
         "divide by the number of images with a non-empty set."),
        ((not_in + empty) / n, " You counted the images with no ReaL label as 'not among "
         "them' and kept them in the denominator. Leave them out of both."),
        ((not_in + empty) / (n - empty), " You counted the images with no ReaL label in the "
         "numerator: leave them out of both counts."),
        (1 - want, " That is the share whose original label IS among the ReaL labels."),
        (100 * want, " That is a percentage: return a fraction in [0, 1]."),
        (float(not_in), " That is a count: divide it by the number of images with ReaL "
         "labels."),
    ]
    hint = slip_hint(value, slips, lambda got, slip: math.isclose(got, slip, abs_tol=1e-9))
    raise ExerciseError(f"{name}: on {n} images ({empty} without ReaL labels) expected "
                        f"{want:.4f}, got {got!r:.60}.{hint}")


# --------------------------------------------------------------------------------------------
# exercise 3: an accuracy drop and its interval


def _drop_case():
    """Per-image correctness on two independent test sets: 1,600 images at 70 % accuracy and
    1,200 at 58 % (booleans)."""
    rng = np.random.default_rng(10)
    before = np.zeros(1600, dtype=bool)
    before[:1120] = True
    after = np.zeros(1200, dtype=bool)
    after[:696] = True
    return rng.permutation(before), rng.permutation(after)


def accuracy_drop_reference(correct_before, correct_after, confidence: float = 0.95):
    """``(drop, low, high)``: accuracy before − after, with the Wald interval for a difference
    of two independent proportions."""
    n1, n2 = len(correct_before), len(correct_after)
    p1, p2 = sum(map(bool, correct_before)) / n1, sum(map(bool, correct_after)) / n2
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2, p1 - p2 - half, p1 - p2 + half


def check_accuracy_drop(fn: Callable | None) -> bool:
    """Exercise of notebook 10: ``fn(correct_before (N1,) bool, correct_after (N2,) bool,
    confidence)`` returns ``(drop, low, high)``: accuracy on the first set minus accuracy on the
    second and a ``confidence`` interval for it, the two sets being independent samples.
    The Wald interval is expected; Newcombe's hybrid score interval
    (:func:`course_lib.scoring.compare_error_rates`) is accepted too."""
    name = "accuracy_drop"
    before, after = _drop_case()
    ok, got = attempt(name, fn, before.copy(), after.copy(), 0.95)
    if not ok:
        return False
    try:
        values = [as_number(v) for v in got]
    except TypeError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ExerciseError(f"{name}: expected a tuple (drop, low, high) of three numbers, got "
                            f"{got!r:.80}")
    drop, low, high = values
    want = accuracy_drop_reference(before, after)
    p1, p2 = before.mean(), after.mean()
    n1, n2 = len(before), len(after)
    newcombe = compare_error_rates(1 - p2, 1 - p1, n2, n1)
    accepted = [want, (newcombe.difference, *newcombe.ci)]
    if any(all(math.isclose(v, w, abs_tol=1e-4) for v, w in zip(values, ref, strict=True))
           for ref in accepted):
        return passed(name, f"accuracy {p1:.1%} → {p2:.1%}: a drop of {want[0]:.1%}, 95 % CI "
                            f"[{want[1]:.1%}, {want[2]:.1%}].")
    if math.isclose(drop, -want[0], abs_tol=1e-4):
        raise ExerciseError(f"{name}: the drop is {want[0]:.4f} (accuracy before minus after), "
                            f"got {drop:.4f}: the sign is reversed.")
    if math.isclose(drop, 100 * want[0], abs_tol=1e-2):
        raise ExerciseError(f"{name}: got {drop:.4f}, a percentage: return fractions.")
    if not math.isclose(drop, want[0], abs_tol=1e-4):
        raise ExerciseError(f"{name}: accuracy {p1:.4f} on {n1} images and {p2:.4f} on {n2}: "
                            f"expected a drop of {want[0]:.4f}, got {drop:.4f}.")
    half, got_half = (want[2] - want[1]) / 2, (high - low) / 2
    se1, se2 = math.sqrt(p1 * (1 - p1) / n1), math.sqrt(p2 * (1 - p2) / n2)
    z = half / math.hypot(se1, se2)
    slips = [
        (z * se1, " Your interval has the width of the first set's error bar alone: the "
         "difference of two independent estimates carries both uncertainties, "
         "se = sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)."),
        (z * se2, " Your interval has the width of the second set's error bar alone: add the "
         "variances of both, se = sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)."),
        (z * (se1 + se2), " You added the standard errors; add the variances and take the "
         "square root (independent samples)."),
        (half * 1.6449 / z, " That is a 90 % interval (z = 1.645); 95 % needs z = 1.96."),
        (math.hypot(se1, se2), " That is one standard error: multiply by z = 1.96 for 95 %."),
    ]
    hint = slip_hint(got_half, slips,
                     lambda got, width: math.isclose(got, width, abs_tol=2e-4))
    raise ExerciseError(f"{name}: the drop {drop:.4f} is right but the 95 % interval "
                        f"[{low:.4f}, {high:.4f}] should be [{want[1]:.4f}, {want[2]:.4f}] "
                        f"(half-width {half:.4f}, got {got_half:.4f}).{hint}")
