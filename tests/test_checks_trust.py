"""The exercise checks of notebook 10 (trusting the benchmark): right answers pass, each
anticipated wrong answer is caught with its own hint, unfinished exercises are reported, and
each check's reference agrees with the library (the evaluation server, the label statistics,
the rate comparison)."""

import math
from statistics import NormalDist

import numpy as np
import pytest
from check_helpers import not_attempted_test

from course_lib.checks import trust
from course_lib.checks.core import ExerciseError
from course_lib.checks.trust import (
    check_accuracy_drop,
    check_fraction_not_in_real,
    check_ladder_reported,
)
from course_lib.labels import label_statistics
from course_lib.scoring import EvaluationServer, compare_error_rates

ALL_CHECKS = [check_ladder_reported, check_fraction_not_in_real, check_accuracy_drop]


test_not_attempted_is_reported_not_failed = not_attempted_test(ALL_CHECKS)


# --- exercise 1: the Ladder --------------------------------------------------------------------

def ladder(errors, step):
    best, out = float("inf"), []
    for e in errors:
        if e < best - step:
            best = round(e / step) * step
        out.append(best)
    return np.array(out)


def test_ladder_right_answer_passes(capsys):
    assert check_ladder_reported(ladder) is True
    assert "correct" in capsys.readouterr().out


def test_ladder_reference_is_what_the_server_reports():
    """Submissions with exactly the check's public errors, sent to an EvaluationServer with
    ladder_step: the server's reported scores are the check's reference."""
    n = 10_000
    server = EvaluationServer(np.zeros(n, dtype=np.int64), k=1, quota=None, num_classes=2,
                              ladder_step=trust.LADDER_STEP)
    reported = []
    for error in trust.LADDER_ERRORS:
        guesses = np.zeros(n, dtype=np.int64)
        guesses[:round(error * n)] = 1
        reported.append(server.submit("team", guesses).reported_error)
    np.testing.assert_allclose(reported, trust.ladder_reference(trust.LADDER_ERRORS,
                                                                trust.LADDER_STEP), atol=1e-12)


# The slips as a learner would write them, each in its own style (not the check's model of
# them): the check must recognise them by what they return.
def against_last(errors, step):
    """Compares each submission with the previous submission, not with the best so far."""
    shown = []
    for i, error in enumerate(errors):
        if i == 0 or error < errors[i - 1] - step:
            shown.append(step * round(error / step))
        else:
            shown.append(shown[-1])
    return shown


def unrounded(errors, step):
    """Moves at the right time, but shows the raw error."""
    best, shown = np.inf, np.empty(len(errors))
    for i, error in enumerate(np.asarray(errors, dtype=float)):
        best = error if error < best - step else best
        shown[i] = best
    return shown.tolist()


def any_gain(errors, step):
    """Moves on any gain at all, rounding what it shows."""
    shown, best = [], None
    for error in errors:
        if best is None or error < best:
            best = step * round(error / step)
        shown.append(best)
    return shown


def against_raw_best(errors, step):
    """Needs a gain of more than the step, but over the best raw error, not the shown one."""
    shown, best_raw, score = [], float("inf"), None
    for error in errors:
        if best_raw - error > step:
            best_raw, score = error, step * round(error / step)
        shown.append(score)
    return shown


@pytest.mark.parametrize("wrong, hint", [
    (against_last, "previous submission's error"),
    (unrounded, "rounds a new best"),
    (any_gain, "gain of more than the step"),
    (lambda errors, step: list(errors), "raw error of each submission"),
    (against_raw_best, "best raw error"),
    (lambda errors, step: ladder(errors, step)[:-1], "expected 10 reported scores"),
    (lambda errors, step: 0.3, "expected 10 reported scores"),
])
def test_ladder_wrong_answers_get_their_hint(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_ladder_reported(wrong)


# --- exercise 2: original labels outside the ReaL sets ------------------------------------------

def fraction(real, original):
    kept = [(s, o) for s, o in zip(real, original) if s]
    return sum(o not in s for s, o in kept) / len(kept)


def test_fraction_right_answer_passes(capsys):
    assert check_fraction_not_in_real(fraction) is True
    assert "correct" in capsys.readouterr().out


def test_fraction_reference_agrees_with_label_statistics():
    real, original = trust._real_case()
    stats = label_statistics(real, np.array(original))
    assert trust.fraction_not_in_real_reference(real, original) \
        == stats.original_not_in_real_fraction == 2 / 9


def all_images(real, original):
    return sum(bool(s) and o not in s for s, o in zip(real, original)) / len(real)


@pytest.mark.parametrize("wrong, hint", [
    (all_images, "denominator counts all images"),
    (lambda r, o: sum(o_ not in s for s, o_ in zip(r, o)) / len(r), "as 'not among them'"),
    (lambda r, o: sum(o_ not in s for s, o_ in zip(r, o)) / sum(map(bool, r)),
     "in the numerator"),
    (lambda r, o: 1 - fraction(r, o), "IS among"),
    (lambda r, o: 100 * fraction(r, o), "percentage"),
    (lambda r, o: sum(bool(s) and o_ not in s for s, o_ in zip(r, o)), "That is a count"),
    (lambda r, o: 0.5, r"expected 0\.2222"),
])
def test_fraction_wrong_answers_get_their_hint(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_fraction_not_in_real(wrong)


# --- exercise 3: an accuracy drop and its interval ----------------------------------------------

def wald_drop(before, after, confidence=0.95):
    p1, p2 = np.mean(before), np.mean(after)
    se = math.sqrt(p1 * (1 - p1) / len(before) + p2 * (1 - p2) / len(after))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return p1 - p2, p1 - p2 - z * se, p1 - p2 + z * se


def always_95(before, after, confidence=0.95):
    p1, p2 = np.mean(before), np.mean(after)
    half = 1.96 * math.sqrt(p1 * (1 - p1) / len(before) + p2 * (1 - p2) / len(after))
    return p1 - p2, p1 - p2 - half, p1 - p2 + half


def newcombe_drop(before, after, confidence=0.95):
    r = compare_error_rates(1 - np.mean(after), 1 - np.mean(before), len(after), len(before),
                            confidence=confidence)
    return r.difference, *r.ci


@pytest.mark.parametrize("answer", [wald_drop, newcombe_drop])
def test_drop_right_answers_pass(capsys, answer):
    assert check_accuracy_drop(answer) is True
    assert "correct" in capsys.readouterr().out


def test_drop_reference_matches_a_simulation():
    """The Wald half-width is the spread of the difference of two binomial accuracies: draw
    many pairs of test sets at the check's accuracies and sizes and compare the 95 % range."""
    before, after = trust._drop_case()
    p1, p2, n1, n2 = before.mean(), after.mean(), len(before), len(after)
    rng = np.random.default_rng(0)
    diffs = rng.binomial(n1, p1, 200_000) / n1 - rng.binomial(n2, p2, 200_000) / n2
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    drop, low, high = trust.accuracy_drop_reference(before, after)
    assert drop == pytest.approx(p1 - p2)
    assert (high - low) == pytest.approx(hi - lo, rel=0.02)


def one_side(before, after, confidence=0.95):
    p1, p2 = np.mean(before), np.mean(after)
    half = 1.96 * math.sqrt(p1 * (1 - p1) / len(before))
    return p1 - p2, p1 - p2 - half, p1 - p2 + half


def other_side(before, after, confidence=0.95):
    p1, p2 = np.mean(before), np.mean(after)
    half = 1.96 * math.sqrt(p2 * (1 - p2) / len(after))
    return p1 - p2, p1 - p2 - half, p1 - p2 + half


def summed_se(before, after, confidence=0.95):
    p1, p2 = np.mean(before), np.mean(after)
    half = 1.96 * (math.sqrt(p1 * (1 - p1) / len(before)) + math.sqrt(p2 * (1 - p2) / len(after)))
    return p1 - p2, p1 - p2 - half, p1 - p2 + half


def ninety(before, after, confidence=0.95):
    d, lo, hi = wald_drop(before, after)
    half = (hi - lo) / 2 * 1.6448536 / 1.959964
    return d, d - half, d + half


def one_se(before, after, confidence=0.95):
    d, lo, hi = wald_drop(before, after)
    half = (hi - lo) / 2 / 1.959964
    return d, d - half, d + half


@pytest.mark.parametrize("wrong, hint", [
    (lambda b, a, c: tuple(-v for v in wald_drop(b, a)), "sign is reversed"),
    (lambda b, a, c: tuple(100 * v for v in wald_drop(b, a)), "percentage"),
    (one_side, "first set's error bar alone"),
    (other_side, "second set's error bar alone"),
    (summed_se, "added the standard errors"),
    (ninety, "90 % interval"),
    (always_95, "95 % one whatever `confidence` says"),
    (one_se, "one standard error"),
    (lambda b, a, c: (0.1, 0.0, 0.2), "expected a drop of 0.1200"),
    (lambda b, a, c: 0.12, "tuple"),
])
def test_drop_wrong_answers_get_their_hint(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        check_accuracy_drop(wrong)
