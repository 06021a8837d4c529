"""Checks for the exercises of notebook 09 (the 2012 moment).

Each check compares the learner's function with a reference on a few inputs (the library's own
McNemar test, or the formula the exercise describes or asks the learner to derive) and, when
the answer is wrong, recognises the usual slips and names them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import numpy as np
from scipy import stats

from ..scoring.stats import mcnemar_exact
from .core import ExerciseError, as_number, attempt, describe, passed, slip_hint

SECONDS_PER_DAY = 86_400
# The paper's run (Krizhevsky et al. 2012, Sec. 5): "roughly 90 cycles through the training set
# of 1.2 million images, which took five to six days on two NVIDIA GTX 580 3GB GPUs"; the
# ILSVRC-2012 training set has 1,281,167 images (devkit readme).
PAPER_EPOCHS = 90
ILSVRC2012_TRAIN_IMAGES = 1_281_167
PAPER_DAYS = (5, 6)


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# --------------------------------------------------------------------------------------------
# exercise 1: the throughput the paper's run implies


def implied_images_per_s_reference(epochs: float, images: float, days: float) -> float:
    """Training images per second of ``epochs`` passes over ``images`` images in ``days`` days."""
    return epochs * images / (days * SECONDS_PER_DAY)


def check_implied_images_per_s(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(epochs, images, days)`` returns the training images per
    second implied by ``epochs`` passes over ``images`` training images in ``days`` days."""
    name = "implied_images_per_s"
    cases = [(PAPER_EPOCHS, ILSVRC2012_TRAIN_IMAGES, 5), (PAPER_EPOCHS, ILSVRC2012_TRAIN_IMAGES, 6),
             (30, 50_000, 0.25)]
    for epochs, images, days in cases:
        ok, got = attempt(name, fn, epochs, images, days)
        if not ok:
            return False
        want = implied_images_per_s_reference(epochs, images, days)
        value = as_number(got)
        if _close(value, want):
            continue
        hint = ""
        if _close(value, want * SECONDS_PER_DAY):
            hint = " That is images per day: divide by the 86,400 seconds in a day."
        elif _close(value, want * 24):
            hint = " That divides by days × 3,600: a day has 24 × 3,600 = 86,400 seconds."
        elif _close(value, want * 60):
            hint = " That is images per minute: a day has 86,400 seconds, not 1,440 minutes."
        elif _close(value, want * 3600):
            hint = " That is images per hour: a day has 86,400 seconds."
        elif _close(value, want / epochs):
            hint = (f" That is one pass over the images; the run made {epochs} passes (epochs), "
                    "each over every training image.")
        elif value and _close(1 / value, want):
            hint = " That is seconds per image; return images per second."
        raise ExerciseError(f"{name}: {epochs} epochs of {images:,} images in {days} days: "
                            f"expected {want:.6g} images/s, got {describe(got)}.{hint}")
    return passed(name, f"Checked {len(cases)} runs, the paper's 5 and 6 days among them.")


# --------------------------------------------------------------------------------------------
# exercise 2: McNemar's exact p-value


def _discordant(errors_a, errors_b) -> tuple[int, int]:
    a, b = np.asarray(errors_a), np.asarray(errors_b)
    return int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))


def _mcnemar_cases():
    """``(description, errors_a (N,), errors_b (N,))`` with known discordant counts."""
    rng = np.random.default_rng(9)
    cases = []
    for n, only_a, only_b, both in ((200, 30, 12, 25), (1000, 135, 264, 150), (60, 7, 7, 10),
                                    (500, 40, 22, 300)):
        a = np.zeros(n, dtype=np.int64)
        b = np.zeros(n, dtype=np.int64)
        a[:only_a] = 1
        b[only_a:only_a + only_b] = 1
        a[only_a + only_b:only_a + only_b + both] = 1
        b[only_a + only_b:only_a + only_b + both] = 1
        order = rng.permutation(n)
        cases.append((f"{n} images, {only_a} only a wrong, {only_b} only b wrong, {both} both "
                      "wrong", a[order], b[order]))
    return cases


def _mcnemar_slips(errors_a, errors_b) -> list[tuple[float, str]]:
    """What the usual slips give, with the hint for each."""
    only_a, only_b = _discordant(errors_a, errors_b)
    d, k = only_a + only_b, min(only_a, only_b)
    total_a, total_b = int(np.sum(errors_a)), int(np.sum(errors_b))
    n = len(errors_a)
    slips = []
    if total_a + total_b:
        every = stats.binomtest(min(total_a, total_b), total_a + total_b, 0.5).pvalue
        slips.append((every, " That compares all the errors of each system. Images that both get "
                             "wrong (or both right) say nothing about which is better: count only "
                             "the discordant ones, b (only a wrong) and c (only b wrong)."))
    if d:
        one_sided = stats.binom.cdf(k, d, 0.5)
        slips.append((one_sided, " That is one-sided: the question is whether either system is "
                                 "better, so double the tail (and cap the result at 1)."))
        slips.append((2 * one_sided, " A p-value is a probability: cap 2·P(X ≤ min(b, c)) at 1."))
        slips.append((2 * stats.binom.cdf(k, n, 0.5),
                      " The coin is tossed once per discordant image: X ~ Binomial(b + c, 1/2), "
                      "not Binomial(N, 1/2) over all N images."))
        chi2 = (only_a - only_b) ** 2 / d
        chi2_corrected = (abs(only_a - only_b) - 1) ** 2 / d
        for statistic in (chi2, chi2_corrected):
            slips.append((statistic, " That is the chi-square statistic, not a p-value; and at "
                                     "these counts use the exact binomial test."))
            slips.append((stats.chi2.sf(statistic, 1),
                          " That is the chi-square approximation; the exercise asks for the "
                          "exact binomial p-value, 2·P(X ≤ min(b, c)) with X ~ Binomial(b + c, "
                          "1/2)."))
        slips.append((float(k), " Return the p-value, not the count min(b, c)."))
    return slips


def check_mcnemar_p(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(errors_a, errors_b)`` returns McNemar's exact two-sided
    p-value for two systems scored on the same N images (``(N,)`` 0/1 per-image errors)."""
    name = "mcnemar_p"
    same = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    try:
        ok, got = attempt(name, fn, same.copy(), same.copy())
    except (ValueError, ZeroDivisionError) as error:
        raise ExerciseError(f"{name}: two systems wrong on exactly the same images raised "
                            f"{type(error).__name__}: {error}. With no discordant images there "
                            "is no evidence either way: return 1.0.") from None
    if not ok:
        return False
    if not _close(as_number(got), 1.0):
        raise ExerciseError(f"{name}: two systems wrong on exactly the same images (no "
                            f"discordant images): expected 1.0, got {describe(got)}. With no "
                            "discordant images there is no evidence either way.")
    for what, errors_a, errors_b in _mcnemar_cases():
        ok, got = attempt(name, fn, errors_a.copy(), errors_b.copy())
        if not ok:
            return False
        want = mcnemar_exact(errors_a, errors_b).p_value
        value = as_number(got)
        if _close(value, want):
            continue
        hint = slip_hint(value, _mcnemar_slips(errors_a, errors_b), _close)
        raise ExerciseError(f"{name}: {what}: expected p = {want:.6g}, got "
                            f"{describe(got)}.{hint}")
    return passed(name, "Matches course_lib.scoring.mcnemar_exact on 5 pairs of systems.")


# --------------------------------------------------------------------------------------------
# exercise 3: where the CNN starts winning


def crossover_reference(sizes: Sequence[float], cnn_errors: Sequence[float],
                        baseline_errors: Sequence[float]) -> float:
    """The training-set size where the CNN's error curve crosses below the baseline's.

    The first ``i`` with ``baseline_errors[i] <= cnn_errors[i]`` and
    ``baseline_errors[i+1] > cnn_errors[i+1]``; between ``sizes[i]`` and ``sizes[i+1]`` the
    CNN's advantage ``g = baseline - cnn`` is interpolated linearly in ``log(size)`` and the
    size where ``g = 0`` is returned. ``nan`` when no such ``i`` exists.
    """
    gaps = [b - c for b, c in zip(baseline_errors, cnn_errors)]
    for i in range(len(sizes) - 1):
        if gaps[i] <= 0 < gaps[i + 1]:
            t = -gaps[i] / (gaps[i + 1] - gaps[i])
            lo, hi = math.log(sizes[i]), math.log(sizes[i + 1])
            return math.exp(lo + t * (hi - lo))
    return math.nan


# (sizes, cnn errors, baseline errors): one crossing, one late, one with two crossings (the
# first counts), and one where the CNN never wins
CROSSOVER_CASES = (
    ((100, 300, 1000), (0.80, 0.55, 0.27), (0.60, 0.50, 0.42)),
    ((50, 100, 200, 400, 800), (0.90, 0.70, 0.52, 0.40, 0.31), (0.62, 0.56, 0.50, 0.47, 0.45)),
    ((10, 100, 1000, 10_000), (0.70, 0.45, 0.38, 0.20), (0.50, 0.48, 0.35, 0.30)),
    ((100, 300, 1000), (0.90, 0.70, 0.50), (0.60, 0.50, 0.45)),
)


def _crossover_slips(sizes, cnn, base) -> list[tuple[float, str]]:
    gaps = [b - c for b, c in zip(base, cnn)]
    pairs = [i for i in range(len(sizes) - 1) if gaps[i] <= 0 < gaps[i + 1]]
    if not pairs:
        return []
    slips = []
    for rank, i in enumerate(pairs):
        t = -gaps[i] / (gaps[i + 1] - gaps[i])
        lo, hi = sizes[i], sizes[i + 1]
        log_point = math.log(lo) + t * (math.log(hi) - math.log(lo))
        later = rank > 0
        if later:
            slips.append((math.exp(log_point), " That is a later crossing: return the first "
                                               "size where the CNN starts winning."))
            continue
        slips += [
            (lo + t * (hi - lo), " That interpolates in the size itself. The sizes are spaced "
                                 "by factors (a log axis), so interpolate in log(size) and "
                                 "convert back."),
            (hi, " That is the first measured size where the CNN wins. Interpolate between it "
                 "and the size before, where the curves cross."),
            (lo, " That is the last measured size where the baseline wins. Interpolate between "
                 "it and the next size, where the curves cross."),
            (math.exp(math.log(lo) + (1 - t) * (math.log(hi) - math.log(lo))),
             " The interpolation weight is the wrong way round: the crossing is nearer the end "
             "where the gap between the curves is smaller."),
            (log_point, " That is the natural log of the size: convert back with math.exp."),
            (log_point / math.log(10), " That is log10 of the size: convert back with 10 ** x."),
            (float(i), " Return a number of images per class, not an index."),
            (float(i + 1), " Return a number of images per class, not an index."),
        ]
    return slips


def check_crossover(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(sizes, cnn_errors, baseline_errors)`` returns the
    training-set size where the CNN's error first drops below the baseline's, interpolated
    linearly in log(size) (:func:`crossover_reference`), or ``math.nan`` when it never does."""
    name = "crossover"
    for sizes, cnn, base in CROSSOVER_CASES:
        ok, got = attempt(name, fn, list(sizes), list(cnn), list(base))
        if not ok:
            return False
        want = crossover_reference(sizes, cnn, base)
        value = as_number(got)
        what = f"sizes {list(sizes)}, CNN errors {list(cnn)}, baseline errors {list(base)}"
        if math.isnan(want):
            if math.isnan(value):
                continue
            raise ExerciseError(f"{name}: {what}: the CNN never beats the baseline here, so "
                                f"expected math.nan, got {describe(got)}. Return math.nan when "
                                "no pair of neighbouring sizes goes from the baseline better (or "
                                "tied) to the CNN better.")
        if _close(value, want, rel=1e-6):
            continue
        hint = slip_hint(value, _crossover_slips(sizes, cnn, base),
                         lambda got, slip: _close(got, slip, rel=1e-6))
        raise ExerciseError(f"{name}: {what}: expected {want:.6g} images per class, got "
                            f"{describe(got)}.{hint}")
    return passed(name, f"Checked {len(CROSSOVER_CASES)} pairs of curves, one that never "
                        "crosses among them.")


# --------------------------------------------------------------------------------------------
# exercise 4: how many test images a gap needs to show, with a given power


def significant_test_size_reference(error_a: float, error_b: float, alpha: float = 0.05,
                                    power: float = 0.8) -> int:
    """The smallest n (images per system) at which the pooled two-sided z test at level
    ``alpha`` comes out significant with probability at least ``power`` when the *true* error
    rates are ``error_a`` and ``error_b`` (normal approximation; a significant result in the
    wrong direction is ignored).

    The test is significant when the observed gap reaches ``z·sqrt(2·p·(1 − p)/n)`` (p the
    mean of the two rates, z for ``alpha / 2``); the observed gap scatters around the true one
    with standard deviation ``sqrt((a·(1 − a) + b·(1 − b))/n)``. Power ``power`` needs the
    true gap ``z_power`` of those deviations above the threshold:
    ``sqrt(n)·|a − b| ≥ z·sqrt(2·p·(1 − p)) + z_power·sqrt(a·(1 − a) + b·(1 − b))``.
    """
    z = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    pooled = (error_a + error_b) / 2
    spread = z * math.sqrt(2 * pooled * (1 - pooled)) + \
        z_power * math.sqrt(error_a * (1 - error_a) + error_b * (1 - error_b))
    return math.ceil((spread / abs(error_a - error_b)) ** 2)


# (error_a, error_b, alpha, power): 2012's two winning entries against the runner-up, a gap the
# size of this notebook's laptop run at 1 %, and a small gap between two strong systems
SIGNIFICANCE_CASES = ((0.26172, 0.15315, 0.05, 0.8), (0.26172, 0.16422, 0.05, 0.9),
                      (0.42, 0.27, 0.01, 0.8), (0.068, 0.051, 0.05, 0.8))


def _significance_slips(a: float, b: float, alpha: float,
                        power: float) -> list[tuple[float, str]]:
    """What the usual slips give (as unrounded sizes, each also tried rounded), with hints."""
    normal = NormalDist()
    z, z_one = normal.inv_cdf(1 - alpha / 2), normal.inv_cdf(1 - alpha)
    z_power = normal.inv_cdf(power)
    pooled = (a + b) / 2
    null_sd = math.sqrt(2 * pooled * (1 - pooled))
    true_sd = math.sqrt(a * (1 - a) + b * (1 - b))
    gap2 = (a - b) ** 2

    def size(z_alpha, sd0, z_pow, sd1):
        return (z_alpha * sd0 + z_pow * sd1) ** 2 / gap2

    right = size(z, null_sd, z_power, true_sd)
    return [
        (size(z, null_sd, 0.0, true_sd),
         f" That is the size at which the observed rates would sit exactly at p = {alpha}: a "
         "fresh test set of that size is significant only about half the time. For a power of "
         f"{power:.0%} the true gap must clear the threshold by NormalDist().inv_cdf(power) "
         "standard deviations of the observed gap."),
        (size(z, null_sd, -z_power, true_sd),
         " The power term has the wrong sign: the true gap must lie z_power = "
         "NormalDist().inv_cdf(power) standard deviations *above* the threshold, so it adds to "
         "n."),
        (size(z_one, null_sd, z_power, true_sd),
         " That uses the one-sided z for alpha: the test is two-sided, so z = "
         "NormalDist().inv_cdf(1 - alpha / 2) (1.96 at 5 %)."),
        (size(z, null_sd, z_power, null_sd),
         " The threshold uses the pooled rate (that is the test), but the observed gap "
         "scatters around the true one with each system's own variance: sqrt((a·(1 − a) + "
         "b·(1 − b))/n)."),
        (size(z, true_sd, z_power, true_sd),
         " The significance threshold is notebook 02's pooled test: z·sqrt(2·p·(1 − p)/n) with "
         "p = (error_a + error_b) / 2, not each rate's own variance."),
        ((z * z * null_sd ** 2 + z_power ** 2 * true_sd ** 2) / gap2,
         " That adds the squares of the two terms: sqrt(n)·gap must exceed z·sd₀ + "
         "z_power·sd₁, so square the whole sum."),
        (size(z, null_sd / math.sqrt(2), z_power, true_sd / math.sqrt(2)),
         " The factor 2 is missing: both rates are noisy, so the variance of their difference "
         "is the sum of two variances."),
        (2 * right, " That counts the images of both systems; return n, the images each system "
                    "is scored on."),
    ]


def check_significant_test_size(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(error_a, error_b, alpha, power)`` returns the smallest
    number of test images per system at which the pooled two-sided z test at level ``alpha``
    comes out significant with probability ``power`` when the true error rates are ``error_a``
    and ``error_b`` (:func:`significant_test_size_reference`)."""
    name = "significant_test_size"
    for a, b, alpha, power in SIGNIFICANCE_CASES:
        ok, got = attempt(name, fn, a, b, alpha, power)
        if not ok:
            return False
        want = significant_test_size_reference(a, b, alpha, power)
        value = as_number(got)
        if value == want:
            continue
        what = f"true errors {a} and {b}, alpha = {alpha}, power = {power}"
        if math.isclose(value, want, abs_tol=1) and value != round(value):
            hint = " Round up (math.ceil) to a whole number of images."
        elif value == want - 1:
            hint = (" Round up (math.ceil), not down or to the nearest: one image fewer falls "
                    "short of the power.")
        else:
            hint = slip_hint(value, _significance_slips(a, b, alpha, power), lambda got, slip: (
                got in (math.ceil(slip), math.floor(slip), round(slip))
                or _close(got, slip, rel=1e-9)))
        raise ExerciseError(f"{name}: {what}: expected {want:,} images per system, got "
                            f"{describe(got)}.{hint}")
    return passed(name, f"Checked {len(SIGNIFICANCE_CASES)} pairs of error rates at different "
                        "levels and powers.")
