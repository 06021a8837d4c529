"""Checks for the exercises of notebook 11 (trusting the benchmark).

* :func:`check_hill_climb`: the hill-climbing attack on an evaluation server
  (:func:`course_lib.scoring.adaptive_attack`), run on the same server and seeds as the
  library's;
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
from functools import partial, wraps
from statistics import NormalDist

import numpy as np

from ..scoring.server import WEEK, EvaluationServer, adaptive_attack
from ..scoring.stats import compare_error_rates
from .core import ExerciseError, check_cases, close, wrong_answer

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them).
ANSWERS: dict[str, tuple[str, ...]] = {
    # the climb's own moves: keep a change only when the reported score goes strictly down,
    # and start each round from the kept submission
    "hill_climb": ("result.reported_error < best.reported_error",
                   "best, current = result, candidate", "candidate = current.copy()"),
    # the rule the learner works out from the Ladder's idea (what a submission must beat, and
    # the rounding), and the Ladder's scores on the check's own errors (LADDER_ERRORS, step
    # 0.02), which the check prints once the answer is right: with them in view a learner could
    # return the list as is
    "ladder_reported": ("[0.5, 0.4, 0.4, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3, 0.24]",
                        "error < best - step", "round(error / step) * step",
                        "best score so far** by more than"),
    # on the real ILSVRC-2012 validation labels: 4,673 of the 46,837 images with ReaL labels;
    # the original labels then score 90.02 % ReaL accuracy
    "fraction_not_in_real": ("9.98%", "9.98 %", "0.0998", "4,673", "90.02%", "90.02 %"),
    # the drops' intervals: the shifted SynthNet split in the laptop run (+6.2 points, [+2.0,
    # +10.4]) and torchvision's AlexNet on ImageNetV2 (56.52 % → 43.97 %: [+11.5, +13.6])
    # and the standard error the learner derives (the sum of the two sets' variances)
    "accuracy_drop": ("+10.4%", "+11.5%", "+13.6%", "11.5 to 13.6",
                      "p1 * (1 - p1) / len(", "p1(1 − p1)/N1 + p2(1 − p2)/N2",
                      "sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)", "variance of a difference of"),
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
# exercise: the hill-climbing attack


class _Clock:
    """A fake clock: each reading moves time forward by ``tick`` seconds."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


class RecordingServer:
    """An :class:`~course_lib.scoring.EvaluationServer` that keeps a copy of every submission
    (what the check compares), built afresh from its settings by :meth:`fresh`. Copying it
    gives the same server: submitting to it is what an attack is for, not a change to refuse."""

    def __init__(self, labels, teams_quota: int | None, tick: float) -> None:
        self.settings = (np.array(labels), teams_quota, tick)
        self._server = EvaluationServer(labels, k=1, quota=teams_quota, period=WEEK,
                                        clock=_Clock(tick), num_classes=int(max(labels)) + 1,
                                        public_fraction=0.5, seed=5)
        self.submitted: list[np.ndarray] = []

    def fresh(self) -> RecordingServer:
        return RecordingServer(*self.settings)

    @property
    def n_images(self) -> int:
        return self._server.n_images

    def submit(self, team, submission):
        self.submitted.append(np.array(submission, copy=True))
        return self._server.submit(team, submission)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._server, name)

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __repr__(self) -> str:
        return f"EvaluationServer({self.n_images} test images)"


def _attack_cases() -> list[tuple]:
    """``(server, teams, num_classes, rounds, flips, seed, start)``: an open server (60 rounds,
    one team), and one with a quota of two a week and a daily clock that refuses the fifth
    submission of two accounts taking turns (the attack must stop there)."""
    rng = np.random.default_rng(61)
    labels = rng.integers(0, 6, 80)
    start = np.where(rng.random(80) < 0.4, rng.integers(0, 6, 80), labels)
    return [(RecordingServer(labels, None, 1.0), ["team"], 6, 60, 3, 1, start.copy()),
            (RecordingServer(labels, 2, 24 * 3600.0), ["account 1", "account 2"], 6, 10, 2, 2,
             start.copy())]


def _attack_run(server, teams, num_classes, rounds, flips, seed, start, *, keep_all=False,
                ties=False, from_last=False, show_last=False, flip_first=False, one_team=False,
                go_on=False):
    """The hill-climber with one slip switched in, on a fresh copy of ``server``: what it
    returns and what it submitted (see :func:`_attack_value`)."""
    server = server.fresh()
    rng = np.random.default_rng(seed)
    n = server.n_images
    current, last = np.array(start, dtype=np.int64), np.array(start, dtype=np.int64)
    best, reported, kept = None, [], []
    for i in range(rounds):
        candidate = (last if from_last else current).copy()
        if best is not None or flip_first:
            where = rng.choice(n, size=min(flips, n), replace=False)
            candidate[where] = rng.integers(0, num_classes, len(where))
        last = candidate
        result = server.submit(teams[0 if one_team else i % len(teams)], candidate)
        if not result.accepted:
            if go_on:
                continue
            break
        if (best is None or keep_all or result.reported_error < best.reported_error
                or (ties and result.reported_error == best.reported_error)):
            best, current = result, candidate
        shown = result if show_last else best
        reported.append(shown.reported_error)
        kept.append(shown.number)
    return _attack_value(reported, kept, server)


def _attack_value(reported, kept, server) -> tuple:
    """``(reported, kept log numbers, submissions)`` as tuples: what is compared."""
    return (tuple(float(r) for r in reported), tuple(int(k) for k in kept),
            tuple(tuple(int(v) for v in np.ravel(s)) for s in server.submitted))


def _attack_reference(server, teams, num_classes, rounds, flips, seed, start) -> tuple:
    fresh = server.fresh()
    run = adaptive_attack(fresh, list(teams), num_classes, rounds, flips=flips, seed=seed,
                          start=start)
    return _attack_value(run["reported"], run["submission"], fresh)


ATTACK_SLIPS = [
    (partial(_attack_run, keep_all=True), " Every change is kept, better or not: keep a "
     "submission only when its reported score is lower than the best one so far."),
    (partial(_attack_run, ties=True), " A submission that only ties the best score is kept: "
     "keep it only when the reported score goes strictly down."),
    (partial(_attack_run, from_last=True), " Each round changes the previous submission, even "
     "one that was not kept: start each round from a copy of the kept (best) submission."),
    (partial(_attack_run, show_last=True), " `reported` and `submission` follow the latest "
     "submission; they should describe the submission kept after each round (the best so far)."),
    (partial(_attack_run, flip_first=True), " The first round already changes labels: submit "
     "the starting point itself first, so that its score is the one to beat."),
    (partial(_attack_run, one_team=True), " Only the first account submits: take the accounts "
     "in turn, teams[i % len(teams)] for round i."),
    (partial(_attack_run, go_on=True), " The attack goes on after a refused submission: stop at "
     "the first one (the quota or the deadline has been reached)."),
]


class _Answer:
    """What the learner's attack returned, with what it submitted: the call may run in a child
    process (the time limit), whose server the check cannot see, so the submissions come back
    with the answer. Shown as the answer alone."""

    def __init__(self, value, submitted, start_changed: bool = False) -> None:
        self.value, self.submitted, self.start_changed = value, submitted, start_changed

    def __repr__(self) -> str:
        return repr(self.value)


def _recording(fn: Callable | None) -> Callable | None:
    """``fn`` returning an :class:`_Answer` (its value and its server's submissions)."""
    if fn is None:
        return None

    @wraps(fn)
    def run(server, *case):
        start = np.array(case[-1], copy=True)  # seen here too: the call may run in a child
        value = fn(server, *case)
        return _Answer(value, server.submitted, not np.array_equal(start, case[-1]))
    return run


def _read_attack(answer, server, *case) -> tuple:
    if answer.start_changed:
        raise ExerciseError("hill_climb: your function changed its input `start` in place (its "
                            "values changed). Later cells start other attacks from the same "
                            "labels, which would be changed too: work on a copy "
                            "(np.array(start) or start.copy() first).")
    got = answer.value
    if not (isinstance(got, dict) and {"reported", "submission"} <= set(got)):
        raise wrong_answer("hill_climb", _attack_where(server, *case),
                           'a dict with "reported" and "submission"', got,
                           ' End with: return {"reported": np.array(reported), "submission": '
                           'np.array(kept)}.')
    try:
        values = _attack_value(np.ravel(got["reported"]), np.ravel(got["submission"]), server)
        return (*values[:2], tuple(tuple(int(v) for v in np.ravel(s)) for s in answer.submitted))
    except (TypeError, ValueError) as error:
        raise ExerciseError(f"hill_climb: {_attack_where(server, *case)}: \"reported\" and "
                            f"\"submission\" must be numbers, one per accepted round "
                            f"({error}).") from None


def _attack_where(server, teams, num_classes, rounds, flips, seed, start) -> str:
    quota = server.settings[1]
    return (f"on {server.n_images} test images ({num_classes} classes), {rounds} rounds of "
            f"{flips} flips, seed {seed}, teams {teams}"
            + (f", a quota of {quota} a week, one submission a day" if quota else ""))


def _attack_same(got: tuple, want: tuple) -> bool:
    return (len(got[0]) == len(want[0]) and np.allclose(got[0], want[0], atol=1e-12)
            and got[1:] == want[1:])


def _attack_shown(want: tuple) -> str:
    return (f"{len(want[2])} submissions, the last kept one reported at {want[0][-1]:.4f} "
            f"(log number {want[1][-1]})")


def check_hill_climb(fn: Callable | None) -> bool:
    """Exercise of notebook 11: ``fn(server, teams, num_classes, rounds, flips, seed, start)``
    hill-climbs ``server``'s reported score and returns ``{"reported": (R,), "submission":
    (R,)}`` over its R accepted rounds; it must submit exactly what
    :func:`course_lib.scoring.adaptive_attack` submits with the same seed, and return the
    same."""
    return check_cases(
        "hill_climb", _recording(fn), _attack_cases(), reference=_attack_reference, read=_read_attack,
        slips=ATTACK_SLIPS, same=_attack_same, where=_attack_where, shown=_attack_shown,
        seconds=60,
        done="Submission for submission, your attack is course_lib.scoring.adaptive_attack: "
             "on an open server and on one whose quota stops it.")


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
    """Exercise of notebook 11: ``fn(errors (R,), step)`` returns the ``(R,)`` scores the
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
    """Exercise of notebook 11: ``fn(real, original)`` with ``real`` N label sets (tuples;
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
    """Exercise of notebook 11: ``fn(correct_before (N1,) bool, correct_after (N2,) bool,
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
