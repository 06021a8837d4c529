"""The exercise checks of notebook 11 (trusting the benchmark): right answers pass, each
anticipated wrong answer is caught with its own hint (unfinished ones:
test_hostile_answers.py), and each check's reference agrees with the library (the evaluation
server, the label statistics, the rate comparison)."""

import math
from statistics import NormalDist

import numpy as np
import pytest
from check_helpers import answers_test

from course_lib.checks import trust
from course_lib.checks.trust import (
    check_accuracy_drop,
    check_fraction_not_in_real,
    check_hill_climb,
    check_ladder_reported,
)
from course_lib.labels import label_statistics
from course_lib.scoring import EvaluationServer, compare_error_rates

# --- exercise 1: the hill-climber -------------------------------------------------------------
# Each answer is a loop a learner might write, in its own words (not the check's model of the
# slips): the right one, and one for each slip the check names.


def climber(server, teams, num_classes, rounds, flips, seed, start):
    draw = np.random.default_rng(seed)
    labels = np.asarray(start).copy()
    top = None
    scores, numbers = [], []
    for r in range(rounds):
        trial = labels.copy()
        if r > 0:
            idx = draw.choice(server.n_images, size=flips, replace=False)
            trial[idx] = draw.integers(0, num_classes, flips)
        answer = server.submit(teams[r % len(teams)], trial)
        if not answer.accepted:
            break
        if top is None or answer.reported_error < top.reported_error:
            top, labels = answer, trial
        scores.append(top.reported_error)
        numbers.append(top.number)
    return {"reported": np.array(scores), "submission": np.array(numbers)}


def test_hill_climb_reference_is_the_library_attack_on_the_notebook_settings():
    """The right answer written here and the library's attack make the same submissions and
    keep the same ones on a server like the notebook's (quota, two accounts)."""
    from course_lib.scoring import adaptive_attack

    labels = np.random.default_rng(0).integers(0, 4, 50)
    runs = []
    for attack in (climber, lambda s, t, c, r, f, seed, start: adaptive_attack(
            s, t, c, r, flips=f, seed=seed, start=start)):
        clock = iter(range(1, 10_000))
        server = EvaluationServer(labels, k=1, quota=3, period=10, clock=lambda clock=clock: next(clock),
                                  num_classes=4, public_fraction=0.5, seed=1)
        run = attack(server, ["a", "b"], 4, 40, 2, 7, np.zeros(50, dtype=np.int64))
        runs.append((list(run["reported"]), list(run["submission"]), len(server.log)))
    assert runs[0] == runs[1]


def _climber_with(**slip):
    """The right loop above, rewritten with one learner's slip in it."""
    def attack(server, teams, num_classes, rounds, flips, seed, start):
        draw = np.random.default_rng(seed)
        labels = np.asarray(start).copy()
        previous = labels
        top = None
        scores, numbers = [], []
        for r in range(rounds):
            trial = (previous if slip.get("from_previous") else labels).copy()
            if r > 0 or slip.get("flip_at_once"):
                idx = draw.choice(server.n_images, size=flips, replace=False)
                trial[idx] = draw.integers(0, num_classes, flips)
            previous = trial
            team = teams[0] if slip.get("first_account") else teams[r % len(teams)]
            answer = server.submit(team, trial)
            if not answer.accepted:
                if slip.get("ignore_refusals"):
                    continue
                break
            better = top is None or (answer.reported_error <= top.reported_error
                                     if slip.get("ties") else
                                     answer.reported_error < top.reported_error)
            if better or slip.get("keep_everything"):
                top, labels = answer, trial
            shown = answer if slip.get("latest") else top
            scores.append(shown.reported_error)
            numbers.append(shown.number)
        return {"reported": np.array(scores), "submission": np.array(numbers)}
    return attack


def _in_place(server, teams, num_classes, rounds, flips, seed, start):
    start[:flips] = 0  # works on the caller's labels
    return climber(server, teams, num_classes, rounds, flips, seed, start)


test_hill_climb = answers_test(check_hill_climb, right=[climber], wrong=[
    (_climber_with(keep_everything=True), "Every change is kept"),
    (_climber_with(ties=True), "only ties the best score"),
    (_climber_with(from_previous=True), "changes the previous submission"),
    (_climber_with(latest=True), "follow the latest submission"),
    (_climber_with(flip_at_once=True), "first round already changes labels"),
    (_climber_with(first_account=True), "Only the first account submits"),
    (_climber_with(ignore_refusals=True), "goes on after a refused submission"),
    (_in_place, "changed its input `start` in place"),
    (lambda *case: [0.3, 0.2], 'a dict with "reported" and "submission"'),
], ids=["keep-everything", "ties", "from-previous", "latest", "flip-at-once", "first-account",
        "ignore-refusals", "in-place", "a-list"])


# --- exercise 2: the Ladder --------------------------------------------------------------------

def ladder(errors, step):
    best, out = float("inf"), []
    for e in errors:
        if e < best - step:
            best = round(e / step) * step
        out.append(best)
    return np.array(out)


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


test_ladder_reported = answers_test(check_ladder_reported, right=[ladder], wrong=[
    (against_last, "previous submission's error"),
    (unrounded, "rounds a new best"),
    (any_gain, "gain of more than the step"),
    (lambda errors, step: list(errors), "raw error of each submission"),
    (against_raw_best, "best raw error"),
    (lambda errors, step: ladder(errors, step)[:-1], "expected 10 reported scores"),
    (lambda errors, step: 0.3, "expected 10 reported scores"),
], ids=["against-last", "unrounded", "any-gain", "raw-errors", "against-raw-best", "short",
        "one-number"])


# --- exercise 2: original labels outside the ReaL sets ------------------------------------------

def fraction(real, original):
    kept = [(s, o) for s, o in zip(real, original) if s]
    return sum(o not in s for s, o in kept) / len(kept)


def test_fraction_reference_agrees_with_label_statistics():
    real, original = trust._real_case()
    stats = label_statistics(real, np.array(original))
    assert trust.fraction_not_in_real_reference(real, original) \
        == stats.original_not_in_real_fraction == 2 / 9


def all_images(real, original):
    return sum(bool(s) and o not in s for s, o in zip(real, original)) / len(real)


test_fraction_not_in_real = answers_test(check_fraction_not_in_real, right=[fraction], wrong=[
    (all_images, "denominator counts all images"),
    (lambda r, o: sum(o_ not in s for s, o_ in zip(r, o)) / len(r), "as 'not among them'"),
    (lambda r, o: sum(o_ not in s for s, o_ in zip(r, o)) / sum(map(bool, r)),
     "in the numerator"),
    (lambda r, o: 1 - fraction(r, o), "IS among"),
    (lambda r, o: 100 * fraction(r, o), "percentage"),
    (lambda r, o: sum(bool(s) and o_ not in s for s, o_ in zip(r, o)), "That is a count"),
    (lambda r, o: 0.5, r"expected 0\.2222"),
], ids=["all-images", "empty-counted", "empty-in-numerator", "complement", "percentage",
        "count", "other"])


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


test_accuracy_drop = answers_test(check_accuracy_drop, right=[wald_drop, newcombe_drop], wrong=[
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
], ids=["sign", "percentage", "first-set-only", "second-set-only", "summed-se", "ninety",
        "always-95", "one-se", "other", "one-number"])
