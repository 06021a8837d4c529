"""Checks for the exercises of notebook 02 (the benchmark)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..scoring import compare_error_rates, hierarchical_cost, topk_error
from .core import ExerciseError, as_number, attempt, describe, passed
from .imagenet import tiny_hierarchy


def check_topk_error(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(scores (N, C) float, targets (N,) int, k)`` returns the
    top-k error as a fraction in [0, 1]."""
    name = "topk_error"
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(200, 12))
    targets = rng.integers(0, 12, size=200)
    scores[np.arange(100), targets[:100]] += 2.0  # half the images are easy
    for k in (1, 2, 5):
        ok, got = attempt(name, fn, scores.copy(), targets.copy(), k)
        if not ok:
            return False
        want = topk_error(scores, targets, k)
        value = as_number(got)
        if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):  # float32 is fine; NaN fails
            lowest = np.argsort(scores, axis=1)[:, :k]  # an ascending sort's first k: the worst
            ascending = float(np.mean(~(lowest == targets[:, None]).any(axis=1)))
            hint = ""
            if np.size(got) == len(targets):
                hint = (" That is one value per image: return their mean over the images, a "
                        "single number.")
            elif abs(value - (1 - want)) < 1e-9:
                hint = " That is the top-k *accuracy*: error = 1 - accuracy."
            elif abs(value - 100 * want) < 1e-6:
                hint = " Return a fraction, not a percentage."
            elif abs(value - ascending) < 1e-9:
                hint = (" np.argsort sorts in ascending order, so its first k columns are the k "
                        "*lowest* scores: sort -scores, or take the last k columns.")
            raise ExerciseError(f"{name}: for k = {k} on 200 random images (scores of shape "
                                f"{scores.shape}) expected {want:.4f}, got {describe(got)}.{hint}")
    return passed(name, "Matches course_lib.scoring.topk_error for k = 1, 2, 5.")


def check_hierarchical_cost(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(guesses (N, G) int, targets (N,) int, lca_heights (C, C))``
    returns the mean over images of the smallest LCA height among the guesses (raw form)."""
    name = "hierarchical_cost"
    h = tiny_hierarchy()
    matrix = np.asarray(h.lca_height_matrix())
    guesses = np.array([[0, 2], [3, 1], [2, 3], [1, 0]])
    targets = np.array([0, 0, 1, 1])
    ok, got = attempt(name, fn, guesses.copy(), targets.copy(), matrix.copy())
    if not ok:
        return False
    want = hierarchical_cost(guesses, targets, matrix, normalize=False, k=2).mean
    value = as_number(got)
    if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):  # float32 is fine; NaN fails
        per_guess_mean = matrix[guesses, targets[:, None]].mean()
        first_only = matrix[guesses[:, 0], targets].mean()
        hint = ""
        if np.size(got) == len(targets):
            hint = (" That is one cost per image: return their mean over the images, a single "
                    "number.")
        elif abs(value - per_guess_mean) < 1e-9:
            hint = " Take the best (smallest) cost among an image's guesses, not the mean."
        elif abs(value - first_only) < 1e-9:
            hint = " Every guess counts: take the smallest cost among all of them."
        elif abs(value - want / matrix.max()) < 1e-9:
            hint = " Return the raw heights (2010 devkit form), not divided by the maximum."
        raise ExerciseError(f"{name}: guesses {guesses.tolist()} for targets {targets.tolist()} "
                            f"in a toy tree: expected {want}, got {describe(got)}.{hint}")
    return passed(name, "Matches course_lib.scoring.hierarchical_cost on a toy tree.")


def check_error_difference_z(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(error_a, error_b, n)`` returns the pooled two-proportion z
    statistic of two error rates each measured on n images.

    The standard error with n - 1 in place of n (a sample-variance habit) is accepted too and
    named in the confirmation: at these sizes it changes z by less than 0.04 %.
    """
    name = "error_difference_z"
    cases = [(0.26172, 0.15315, 100_000), (0.068, 0.051, 1500), (0.30, 0.29, 10_000)]
    used_n_minus_1 = False
    for a, b, n in cases:
        ok, got = attempt(name, fn, a, b, n)
        if not ok:
            return False
        want = compare_error_rates(a, b, n).z
        value = as_number(got)
        if math.isclose(value, want, rel_tol=1e-6):
            continue
        pooled = (a + b) / 2
        if math.isclose(value, want * math.sqrt((n - 1) / n), rel_tol=1e-6):
            used_n_minus_1 = True
            continue
        unpooled = (a - b) / math.sqrt(a * (1 - a) / n + b * (1 - b) / n)
        hint = ""
        if math.isclose(value, unpooled, rel_tol=1e-6):
            hint = " Use the pooled rate p = (a + b) / 2 in the standard error."
        elif math.isclose(value, -want, rel_tol=1e-6):
            hint = " Sign: z is (error_a - error_b) / standard error."
        elif math.isclose(value, want * math.sqrt(2), rel_tol=1e-6):
            hint = (" The factor 2 is missing: each rate has variance p(1 - p)/n, and the "
                    "difference of two independent rates has their sum, 2·p(1 - p)/n.")
        elif math.isclose(value, (a - b) / (2 * pooled * (1 - pooled) / n), rel_tol=1e-6):
            hint = " Divide by the standard error, the square root of 2·p(1 - p)/n."
        raise ExerciseError(f"{name}: for errors {a} and {b} on n = {n:,} images expected "
                            f"z = {want:.3f}, got {describe(got)}.{hint}")
    note = (" (You used n - 1 in the standard error; with thousands of images it makes no "
            "visible difference, and the course uses n.)" if used_n_minus_1 else "")
    return passed(name, f"Checked {len(cases)} comparisons.{note}")


def check_relative_margin(fn: Callable | None) -> bool:
    """Exercise of notebook 02: ``fn(winner_error, runner_up_error)`` returns the winner's
    relative reduction of the runner-up's error, ``(runner_up - winner) / runner_up``, a
    fraction (0.415 for 15.315 % against 26.172 %). Works the same for fractions or percents."""
    name = "relative_margin"
    cases = [(0.15315, 0.26172), (6.67, 7.32), (20.0, 25.0)]
    for winner, runner_up in cases:
        ok, got = attempt(name, fn, winner, runner_up)
        if not ok:
            return False
        want = (runner_up - winner) / runner_up
        value = as_number(got)
        if math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-12):
            continue
        hint = ""
        if math.isclose(value, (runner_up - winner) / winner, rel_tol=1e-9):
            hint = (" Divide by the runner-up's error, the one the winner improved on: relative "
                    "to the winner the same gap looks larger.")
        elif math.isclose(value, runner_up - winner, rel_tol=1e-9):
            hint = " That is the absolute difference; divide it by the runner-up's error."
        elif math.isclose(value, 100 * want, rel_tol=1e-9):
            hint = " Return a fraction (0.415), not a percentage (41.5)."
        elif math.isclose(value, -want, rel_tol=1e-9):
            hint = " Sign: runner-up minus winner, positive when the winner is better."
        elif math.isclose(value, winner / runner_up, rel_tol=1e-9):
            hint = " That is the ratio winner / runner-up; the reduction is 1 minus it."
        raise ExerciseError(f"{name}: winner {winner}, runner-up {runner_up}: expected "
                            f"{want:.4f}, got {describe(got)}.{hint}")
    return passed(name, f"Checked {len(cases)} pairs, in fractions and in percent.")
