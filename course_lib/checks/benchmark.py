"""Checks for the exercises of notebook 02 (the benchmark)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from ..scoring import compare_error_rates, hierarchical_cost, topk_error
from .core import as_number, check_cases, close
from .imagenet import tiny_hierarchy

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them). 15.315 % against 26.172 % (ILSVRC-2012's
# top two) on 100,000 test images: a margin of 0.415, z = 59.9.
ANSWERS: dict[str, tuple[str, ...]] = {
    # the answer is code: what its first use prints, the near-miss classifier's top-1 and top-5
    # errors on the laptop profile's 5,000 simulated images, and the sort that finds the k guesses
    "topk_error": ("43.5%", "43.5 %", "10.1%", "10.1 %", "argsort(-scores", "[:, :k]"),
    # the answer is code: the same classifier's raw and normalised cost with five guesses
    "hierarchical_cost": ("0.195", "0.0108"),
    # 2012 with the headline entry and with the five-CNN entry (16.422 % against 26.172 %), and
    # the formula the three properties lead to, in code and in words
    "relative_margin": ("0.415", "41.5 %", "41.5%", "0.4148", "37.3 %", "37.3%",
                        "1 - winner_error / runner_up_error", "(runner_up_error - winner_error)",
                        "fraction of the runner-up's error", "much of the runner-up's error"),
    # z for 2012's gap, and the standard error of a difference the exercise derives
    "error_difference_z": ("z = 59.9", "59.87", "z = 60", "59.9", "59.874", "sixty standard errors",
                           "60 standard errors", "2 * p * (1 - p) / n", "2 * pooled * (1 - pooled)",
                           "2·p(1 − p)/n", "2·p(1 - p)/n", "2p(1−p)/n", "2p(1 − p)/n",
                           "√(2p(1−p)/n)"),
}

_matches = functools.partial(close, rel=1e-6, abs_tol=1e-9)  # float32's precision


def _one_per_image(what: str) -> tuple:
    """The slip of an answer with one value per image (whatever its values), and its hint."""
    return (lambda _, targets, *rest: lambda got: np.size(got) == len(targets),
            f" That is one {what} per image: return their mean over the images, a single number.")


TOPK_SLIPS = [
    _one_per_image("value"),
    (lambda s, t, k: 1 - topk_error(s, t, k),
     " That is the top-k *accuracy*: error = 1 - accuracy."),
    (lambda s, t, k: 100 * topk_error(s, t, k), " Return a fraction, not a percentage."),
    (lambda s, t, k: topk_error(-s, t, k),  # the k lowest scores: an ascending sort's first k
     " np.argsort sorts in ascending order, so its first k columns are the k *lowest* scores: "
     "sort -scores, or take the last k columns."),
]


def check_topk_error(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(scores (N, C) float, targets (N,) int, k)`` returns the
    top-k error as a fraction in [0, 1]."""
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(200, 12))
    targets = rng.integers(0, 12, size=200)
    scores[np.arange(100), targets[:100]] += 2.0  # half the images are easy
    return check_cases(
        "topk_error", fn, [(scores, targets, k) for k in (1, 2, 5)], reference=topk_error,
        same=_matches, slips=TOPK_SLIPS, shown=lambda error: f"{error:.4f}",
        where=lambda s, t, k: f"for k = {k} on 200 random images (scores of shape {s.shape})",
        done="Matches course_lib.scoring.topk_error for k = 1, 2, 5.")


HIERARCHICAL_SLIPS = [
    _one_per_image("cost"),
    (lambda g, t, m: m[g, t[:, None]].mean(),
     " Take the best (smallest) cost among an image's guesses, not the mean."),
    (lambda g, t, m: m[g[:, 0], t].mean(),
     " Every guess counts: take the smallest cost among all of them."),
    (lambda g, t, m: hierarchical_cost(g, t, m, normalize=True, k=2).mean,  # / the largest
     " Return the raw heights (2010 devkit form), not divided by the maximum."),
]


def check_hierarchical_cost(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(guesses (N, G) int, targets (N,) int, lca_heights (C, C))``
    returns the mean over images of the smallest LCA height among the guesses (raw form)."""
    case = (np.array([[0, 2], [3, 1], [2, 3], [1, 0]]), np.array([0, 0, 1, 1]),
            np.asarray(tiny_hierarchy().lca_height_matrix()))
    return check_cases(
        "hierarchical_cost", fn, [case], same=_matches, slips=HIERARCHICAL_SLIPS,
        reference=lambda g, t, m: hierarchical_cost(g, t, m, normalize=False, k=2).mean,
        where=lambda g, t, m: f"guesses {g.tolist()} for targets {t.tolist()} in a toy tree",
        done="Matches course_lib.scoring.hierarchical_cost on a toy tree.")


def _z(a: float, b: float, n: int) -> float:
    return compare_error_rates(a, b, n).z


Z_SLIPS = [
    (lambda a, b, n: (a - b) / math.sqrt(a * (1 - a) / n + b * (1 - b) / n),
     " Use the pooled rate p = (a + b) / 2 in the standard error."),
    (lambda a, b, n: -_z(a, b, n), " Sign: z is (error_a - error_b) / standard error."),
    (lambda a, b, n: abs(_z(a, b, n)),
     " z keeps its sign: it is negative when error_a is the smaller error. The 5 % rule compares "
     "|z| with 1.96, but the statistic itself is (error_a - error_b) / standard error."),
    (lambda a, b, n: _z(a, b, n) * math.sqrt(2),
     " The factor 2 is missing: each rate has variance p(1 - p)/n, and the difference of two "
     "independent rates has their sum, 2·p(1 - p)/n."),
    (lambda a, b, n: (a - b) / ((a + b) * (1 - (a + b) / 2) / n),  # over 2·p(1 - p)/n
     " Divide by the standard error, the square root of 2·p(1 - p)/n."),
]


def check_error_difference_z(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(error_a, error_b, n)`` returns the pooled two-proportion z
    statistic of two error rates each measured on n images.

    The standard error with n - 1 in place of n (a sample-variance habit) is accepted too and
    named after the confirmation: at these sizes it changes z by less than 0.04 %.
    """
    # the last case puts the smaller error first: z is then negative (|z| shows)
    cases = [(0.26172, 0.15315, 100_000), (0.068, 0.051, 1500), (0.30, 0.29, 10_000),
             (0.15315, 0.26172, 100_000)]
    n_minus_1 = []  # the cases answered with n - 1, read as the z they stand for

    def read(got, a, b, n):
        if close(got, _z(a, b, n) * math.sqrt((n - 1) / n), rel=1e-6):
            n_minus_1.append(n)
            return _z(a, b, n)
        return as_number(got)

    ok = check_cases(
        "error_difference_z", fn, cases, reference=_z, read=read, slips=Z_SLIPS,
        same=functools.partial(close, rel=1e-6), shown=lambda z: f"z = {z:.3f}",
        where=lambda a, b, n: f"for errors {a} and {b} on n = {n:,} images",
        done=f"Checked {len(cases)} comparisons.")
    if ok and n_minus_1:  # `done` is fixed before the answers are known: said on its own line
        print("(You used n - 1 in the standard error; with thousands of images it makes no "
              "visible difference, and the course uses n.)")
    return ok


MARGIN_SLIPS = [
    (lambda w, r: (r - w) / w,
     " Divide by the runner-up's error, the one the winner improved on: divided by the winner's "
     "error the gap grows without bound as that error falls, so a perfect winner would not score "
     "1, and the same gap looks larger."),
    (lambda w, r: r - w, " That is the gap in points: it changes when the errors are given as "
                         "percents instead of fractions. Divide it by the runner-up's error."),
    (lambda w, r: 100 * (r - w) / r, " Return a fraction (0.415), not a percentage (41.5): a "
                                     "winner with no errors scores 1."),
    (lambda w, r: (w - r) / r,
     " Sign: runner-up minus winner, positive when the winner is better."),
    (lambda w, r: w / r, " That is the ratio winner / runner-up: it is 1 when the two are equal "
                         "and 0 for a perfect winner, the other way round. The measure is 1 "
                         "minus it."),
]


def check_relative_margin(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(winner_error, runner_up_error)`` returns the winner's
    relative reduction of the runner-up's error, ``(runner_up - winner) / runner_up``, a
    fraction (0.415 for 15.315 % against 26.172 %). Works the same for fractions or percents.

    The learner derives it from three properties (0 at equal errors, 1 for a perfect winner,
    straight in the winner's error; unit-free). No case has a perfect winner: the common slip,
    dividing by the winner's error, would raise there instead of getting its hint."""
    cases = [(0.15315, 0.26172), (6.67, 7.32), (20.0, 25.0)]
    return check_cases(
        "relative_margin", fn, cases, reference=lambda w, r: (r - w) / r, slips=MARGIN_SLIPS,
        where=lambda w, r: f"winner {w}, runner-up {r}", shown=lambda margin: f"{margin:.4f}",
        done=f"Checked {len(cases)} pairs, in fractions and in percent.")
