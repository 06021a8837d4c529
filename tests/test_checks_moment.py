"""The exercise checks of notebook 10 (the 2012 moment): right answers pass, each anticipated
wrong answer is caught with its own hint (unfinished ones: test_hostile_answers.py).

The right answers here are written from the exercise statements, and checked against
independent references (scipy's binomial test, the library's two-proportion test, numpy's
interpolation, a simulation of fresh test sets), not taken from the check module.
"""

import math
from statistics import NormalDist

import numpy as np
import pytest
from check_helpers import answers_test
from scipy import stats

from course_lib.checks.moment import (
    CROSSOVER_CASES,
    SIGNIFICANCE_CASES,
    check_color_histogram,
    check_crossover,
    check_implied_images_per_s,
    check_mcnemar_p,
    check_significant_test_size,
)
from course_lib.scoring import compare_error_rates

# --- the baseline's colour histogram ----------------------------------------------------------
# Written pixel by pixel from the statement (not vectorised like the library), and the slips in
# a learner's own styles: np.histogramdd, a hand-made bin number, RGB.


def _hsv(images):
    from skimage.color import rgb2hsv

    return rgb2hsv(np.asarray(images).transpose(0, 2, 3, 1))


def pixel_loop_histogram(images, bins):
    hsv = _hsv(images)
    out = np.zeros((len(images), math.prod(bins)))
    for i, image in enumerate(hsv):
        for pixel in image.reshape(-1, 3):
            cells = [min(int(v * b), b - 1) for v, b in zip(pixel, bins)]
            out[i, np.ravel_multi_index(cells, bins)] += 1
        out[i] /= image.shape[0] * image.shape[1]
    return out


def histogramdd_histogram(images, bins, density=True, edges_last=True):
    """np.histogramdd per image; its last bin includes 1.0 on its right edge."""
    hsv = _hsv(images)
    rows = []
    for image in hsv:
        counts, _ = np.histogramdd(image.reshape(-1, 3), bins=bins, range=[(0, 1)] * 3)
        rows.append(counts.ravel() / (counts.sum() if density else 1))
    return np.array(rows)


def clipped_less(images, bins):
    """Bins from floor(value · count) with no cap: 1.0 falls off the end and is lost."""
    hsv = _hsv(images)
    out = np.zeros((len(images), math.prod(bins)))
    for i, image in enumerate(hsv):
        levels = (image * np.array(bins)).astype(int).reshape(-1, 3)
        inside = (levels < np.array(bins)).all(axis=1)
        np.add.at(out[i], np.ravel_multi_index(levels[inside].T, bins), 1)
        out[i] /= len(levels)
    return out


def value_first(images, bins):
    hsv = _hsv(images)[..., ::-1]  # value, saturation, hue: the bin number the other way round
    out = np.zeros((len(images), math.prod(bins)))
    for i, image in enumerate(hsv):
        levels = np.minimum((image * np.array(bins[::-1])).astype(int), np.array(bins[::-1]) - 1)
        np.add.at(out[i], np.ravel_multi_index(levels.reshape(-1, 3).T, bins[::-1]), 1)
        out[i] /= image.shape[0] * image.shape[1]
    return out


def rgb_histogram(images, bins):
    rgb = np.asarray(images).transpose(0, 2, 3, 1) / 255.0
    rows = []
    for image in rgb:
        counts, _ = np.histogramdd(image.reshape(-1, 3), bins=bins, range=[(0, 1)] * 3)
        rows.append(counts.ravel() / counts.sum())
    return np.array(rows)


def batch_normalised(images, bins):
    counts = histogramdd_histogram(images, bins, density=False)
    return counts / counts.sum()


def marginals(images, bins):
    hsv = _hsv(images)
    return np.array([np.concatenate([np.histogram(image[..., c], bins=b, range=(0, 1))[0]
                                     for c, b in enumerate(bins)]) / image[..., 0].size
                     for image in hsv])


def test_color_histogram_reference_is_what_the_baseline_uses():
    """The baseline's colour features are the whole image's and each quadrant's histograms of
    the check's reference (so the learner's function, once it passes, changes nothing)."""
    from course_lib.models.baselines import color_histograms

    images = np.random.default_rng(3).integers(0, 256, (4, 3, 10, 12), dtype=np.uint8)
    features = color_histograms(images, bins=(8, 3, 3), histogram=pixel_loop_histogram)
    np.testing.assert_allclose(features, color_histograms(images, bins=(8, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(features[:, :72], pixel_loop_histogram(images, (8, 3, 3)),
                               atol=1e-6)


test_color_histogram = answers_test(check_color_histogram, right=[
    pixel_loop_histogram, histogramdd_histogram,
], wrong=[
    (lambda images, bins: histogramdd_histogram(images, bins, density=False), "pixel counts"),
    (batch_normalised, "whole batch sums to 1"),
    (clipped_less, "exactly 1.0 .* are missing"),
    (value_first, "wrong order"),
    (rgb_histogram, "histogram of R, G and B"),
    (marginals, "one histogram per channel"),
    (lambda images, bins: histogramdd_histogram(images, bins).sum(axis=0), "one histogram for "
                                                                           "all the images"),
], ids=["counts", "batch-normalised", "last-bin-dropped", "value-first", "rgb", "marginals",
        "one-for-all"])


# --- exercise 1: images per second implied by the paper's run -------------------------------


def implied_images_per_s(epochs, images, days):
    return epochs * images / (days * 24 * 60 * 60)


def test_implied_images_per_s_gives_the_papers_range():
    # 90 epochs of ILSVRC-2012's 1,281,167 training images in five to six days
    assert 222 < implied_images_per_s(90, 1_281_167, 6) < 223
    assert 266 < implied_images_per_s(90, 1_281_167, 5) < 267


test_implied_images_per_s = answers_test(check_implied_images_per_s, right=[
    implied_images_per_s,
], wrong=[
    (lambda e, n, d: e * n / d, "images per day"),
    (lambda e, n, d: e * n / (d * 3600), "24 × 3,600"),
    (lambda e, n, d: e * n / (d * 1440), "images per minute"),
    (lambda e, n, d: n / (d * 86_400), "one pass over the images"),
    (lambda e, n, d: d * 86_400 / (e * n), "seconds per image"),
    (lambda e, n, d: 250.0, "expected"),  # no known slip: still an error
], ids=["per-day", "per-hour-times-24", "per-minute", "one-epoch", "seconds-per-image",
        "other"])


# --- exercise 2: McNemar's exact p-value -----------------------------------------------------


def mcnemar_p(errors_a, errors_b):
    errors_a, errors_b = np.asarray(errors_a), np.asarray(errors_b)
    b = int(np.sum((errors_a == 1) & (errors_b == 0)))
    c = int(np.sum((errors_a == 0) & (errors_b == 1)))
    if b + c == 0:
        return 1.0
    return min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5))


def mcnemar_p_by_hand(errors_a, errors_b):
    """The same from the binomial formula with integers only (no scipy)."""
    b = sum(1 for x, y in zip(errors_a, errors_b) if x == 1 and y == 0)
    c = sum(1 for x, y in zip(errors_a, errors_b) if x == 0 and y == 1)
    if b + c == 0:
        return 1.0
    tail = sum(math.comb(b + c, i) for i in range(min(b, c) + 1)) / 2 ** (b + c)
    return min(1.0, 2 * tail)


def with_binomtest(a, b):
    a, b = np.asarray(a), np.asarray(b)
    only_a, only_b = int(np.sum(a > b)), int(np.sum(a < b))
    if only_a + only_b == 0:
        return 1.0
    return stats.binomtest(only_a, only_a + only_b, 0.5).pvalue


def _counts(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))


def _all_errors(a, b):
    ea, eb = int(np.sum(a)), int(np.sum(b))
    return stats.binomtest(min(ea, eb), ea + eb, 0.5).pvalue if ea + eb else 1.0


def _one_sided(a, b):
    only_a, only_b = _counts(a, b)
    return stats.binom.cdf(min(only_a, only_b), only_a + only_b, 0.5) if only_a + only_b else 1.0


def _uncapped(a, b):
    only_a, only_b = _counts(a, b)
    return 2 * stats.binom.cdf(min(only_a, only_b), only_a + only_b, 0.5) if only_a + only_b else 1.0


def _chi2_p(a, b):
    only_a, only_b = _counts(a, b)
    d = only_a + only_b
    return stats.chi2.sf((abs(only_a - only_b) - 1) ** 2 / d, 1) if d else 1.0


def _chi2_statistic(a, b):
    only_a, only_b = _counts(a, b)
    d = only_a + only_b
    return (only_a - only_b) ** 2 / d if d else 1.0


def _over_all_images(a, b):
    only_a, only_b = _counts(a, b)
    return 2 * stats.binom.cdf(min(only_a, only_b), len(a), 0.5) if only_a + only_b else 1.0


def _raises_without_discordant(a, b):
    only_a, only_b = _counts(a, b)
    return stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue


test_mcnemar_p = answers_test(check_mcnemar_p, right=[
    mcnemar_p, mcnemar_p_by_hand, with_binomtest,
], wrong=[
    (_all_errors, "say nothing about which is better"),
    (_one_sided, "That is one-sided"),
    (_uncapped, "cap 2·P"),
    (_chi2_p, "chi-square approximation"),
    (_chi2_statistic, "chi-square statistic, not a p-value"),
    (_over_all_images, "not Binomial\\(N, 1/2\\)"),
    (_raises_without_discordant, "no discordant images"),
    (lambda a, b: 0.0, "no discordant images"),
], ids=["all-errors", "one-sided", "uncapped", "chi2-p", "chi2-statistic", "over-all-images",
        "raises-without-discordant", "zero"])


# --- exercise 3: the crossover ---------------------------------------------------------------


def crossover(sizes, cnn_errors, baseline_errors):
    for i in range(len(sizes) - 1):
        before = baseline_errors[i] - cnn_errors[i]
        after = baseline_errors[i + 1] - cnn_errors[i + 1]
        if before <= 0 < after:
            share = before / (before - after)  # how far along the log axis the gap reaches 0
            return sizes[i] * (sizes[i + 1] / sizes[i]) ** share
    return math.nan


def test_crossover_answer_is_where_the_log_interpolated_curves_meet():
    # independent of the formula: interpolate both curves on a fine log grid with numpy and
    # find where they meet
    sizes, cnn, base = CROSSOVER_CASES[0]
    grid = np.linspace(math.log(sizes[0]), math.log(sizes[-1]), 200_001)
    gap = np.interp(grid, np.log(sizes), base) - np.interp(grid, np.log(sizes), cnn)
    first = grid[np.argmax(gap > 0)]
    assert math.isclose(crossover(sizes, cnn, base), math.exp(first), rel_tol=1e-3)


def _linear(sizes, cnn, base):
    for i in range(len(sizes) - 1):
        g0, g1 = base[i] - cnn[i], base[i + 1] - cnn[i + 1]
        if g0 <= 0 < g1:
            return sizes[i] + (sizes[i + 1] - sizes[i]) * g0 / (g0 - g1)
    return math.nan


def _first_winning(sizes, cnn, base):
    return next((s for s, c, b in zip(sizes, cnn, base) if c < b), math.nan)


def _swapped(sizes, cnn, base):
    for i in range(len(sizes) - 1):
        g0, g1 = base[i] - cnn[i], base[i + 1] - cnn[i + 1]
        if g0 <= 0 < g1:
            return sizes[i] * (sizes[i + 1] / sizes[i]) ** (1 - g0 / (g0 - g1))
    return math.nan


def _log10_point(sizes, cnn, base):
    value = crossover(sizes, cnn, base)
    return math.log10(value) if not math.isnan(value) else value


def _last_crossing(sizes, cnn, base):
    found = math.nan
    for i in range(len(sizes) - 1):
        g0, g1 = base[i] - cnn[i], base[i + 1] - cnn[i + 1]
        if g0 <= 0 < g1:
            found = sizes[i] * (sizes[i + 1] / sizes[i]) ** (g0 / (g0 - g1))
    return found


def _never_nan(sizes, cnn, base):
    value = crossover(sizes, cnn, base)
    return sizes[-1] if math.isnan(value) else value


test_crossover = answers_test(check_crossover, right=[crossover], wrong=[
    (_linear, "interpolate in log\\(size\\)"),
    (_first_winning, "first measured size where the CNN wins"),
    (_swapped, "wrong way round"),
    (_log10_point, "log10 of the size"),
    (_last_crossing, "later crossing"),
    (_never_nan, "never beats the baseline"),
], ids=["linear", "first-winning", "swapped", "log10", "last-crossing", "never-nan"])


# --- exercise 4: the test size at which a gap shows with a given power ----------------------
# The right answers are written from the exercise statement; the wrong ones are what a learner
# might write, each in its own way (searches, textbook formulas), not the check's slip list.


def significant_test_size(error_a, error_b, alpha=0.05, power=0.8):
    """sqrt(n)·|a − b| must reach z·sd0 + z_power·sd1 (sd0 the pooled test's, sd1 the true)."""
    z, z_power = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    p = (error_a + error_b) / 2
    sd0 = math.sqrt(2 * p * (1 - p))
    sd1 = math.sqrt(error_a * (1 - error_a) + error_b * (1 - error_b))
    return math.ceil(((z * sd0 + z_power * sd1) / abs(error_a - error_b)) ** 2)


def power_by_normal_approximation(a, b, n, alpha, both_tails=False):
    """P(the pooled z test is significant) when the true rates are a and b, n images each."""
    threshold = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(2 * ((a + b) / 2)
                                                                * (1 - (a + b) / 2) / n)
    observed = NormalDist(abs(a - b), math.sqrt((a * (1 - a) + b * (1 - b)) / n))
    return 1 - observed.cdf(threshold) + (observed.cdf(-threshold) if both_tails else 0.0)


def significant_test_size_by_search(error_a, error_b, alpha=0.05, power=0.8):
    n = 1
    while power_by_normal_approximation(error_a, error_b, n, alpha, both_tails=True) < power:
        n += 1
    return n


def simulated_power(a, b, n, alpha, trials=200_000, seed=0):
    """Share of fresh test sets (binomial errors, n images per system) on which notebook 02's
    pooled z test is significant: no normal approximation for the errors themselves."""
    rng = np.random.default_rng(seed)
    wrong_a, wrong_b = rng.binomial(n, a, trials), rng.binomial(n, b, trials)
    pooled = (wrong_a + wrong_b) / (2 * n)
    z = (wrong_a - wrong_b) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    return float(np.mean(stats.norm.sf(np.abs(z)) * 2 < alpha))


def test_the_2012_gap_needs_218_images_for_80_percent_power():
    n = significant_test_size(0.26172, 0.15315)
    assert n == 218
    assert simulated_power(0.26172, 0.15315, n, 0.05) == pytest.approx(0.80, abs=0.015)


def test_108_images_is_where_the_observed_rates_sit_at_p_005_a_coin_flip():
    n = 1
    while compare_error_rates(0.26172, 0.15315, n).p_value >= 0.05:
        n += 1
    assert n == 108
    assert significant_test_size(0.26172, 0.15315, power=0.5) == 108
    assert simulated_power(0.26172, 0.15315, n, 0.05) == pytest.approx(0.50, abs=0.03)


@pytest.mark.parametrize("a,b,alpha,power", SIGNIFICANCE_CASES)
def test_significant_test_size_has_the_asked_power_and_one_image_fewer_lacks_it(a, b, alpha,
                                                                               power):
    n = significant_test_size(a, b, alpha, power)
    assert power_by_normal_approximation(a, b, n, alpha) >= power
    assert power_by_normal_approximation(a, b, n - 1, alpha, both_tails=True) < power


def _observed_at_threshold(a, b, alpha, power):
    n = 1
    while compare_error_rates(a, b, n).p_value >= alpha:
        n += 1
    return n


def _power_term_subtracted(a, b, alpha, power):
    z_beta = NormalDist().inv_cdf(1 - power)  # the lower tail's z, negative for power > 1/2
    p = (a + b) / 2
    root_n = (_z(alpha) * math.sqrt(2 * p * (1 - p))
              + z_beta * math.sqrt(a * (1 - a) + b * (1 - b))) / abs(a - b)
    return math.ceil(root_n ** 2)


def _one_sided_alpha(a, b, alpha, power):
    n = 1
    while True:
        threshold = NormalDist().inv_cdf(1 - alpha) * math.sqrt((a + b) * (1 - (a + b) / 2) / n)
        sd = math.sqrt((a * (1 - a) + b * (1 - b)) / n)
        if 1 - NormalDist(abs(a - b), sd).cdf(threshold) >= power:
            return n
        n += 1


def _textbook_pooled(a, b, alpha, power):
    # the common shortcut: the pooled variance under the alternative too
    p_bar = (a + b) / 2
    return math.ceil((_z(alpha) + NormalDist().inv_cdf(power)) ** 2 * 2 * p_bar * (1 - p_bar)
                     / (a - b) ** 2)


def _unpooled_threshold(a, b, alpha, power):
    return math.ceil((_z(alpha) + NormalDist().inv_cdf(power)) ** 2
                     * (a * (1 - a) + b * (1 - b)) / (a - b) ** 2)


def _squares_added(a, b, alpha, power):
    p = (a + b) / 2
    n = (_z(alpha) ** 2 * 2 * p * (1 - p)
         + NormalDist().inv_cdf(power) ** 2 * (a * (1 - a) + b * (1 - b))) / (a - b) ** 2
    return math.ceil(n)


def _one_variance_each(a, b, alpha, power):
    p = (a + b) / 2
    n = ((_z(alpha) * math.sqrt(p * (1 - p)) + NormalDist().inv_cdf(power)
          * math.sqrt((a * (1 - a) + b * (1 - b)) / 2)) / (a - b)) ** 2
    return math.ceil(n)


def _both_systems(a, b, alpha, power):
    return 2 * significant_test_size_by_search(a, b, alpha, power)


def _rounded_down(a, b, alpha, power):
    return significant_test_size_by_search(a, b, alpha, power) - 1


def _not_rounded(a, b, alpha, power):
    z, zp = _z(alpha), NormalDist().inv_cdf(power)
    p = (a + b) / 2
    return ((z * (2 * p * (1 - p)) ** 0.5 + zp * (a * (1 - a) + b * (1 - b)) ** 0.5)
            / (a - b)) ** 2


def _z(alpha):
    return NormalDist().inv_cdf(1 - alpha / 2)


test_significant_test_size = answers_test(check_significant_test_size, right=[
    significant_test_size, significant_test_size_by_search,
], wrong=[
    (_observed_at_threshold, "sit exactly at p = 0.05"),
    (_power_term_subtracted, "wrong sign"),
    (_one_sided_alpha, "one-sided z"),
    (_textbook_pooled, "each system's own variance"),
    (_unpooled_threshold, "not each rate's own variance"),
    (_squares_added, "square the whole sum"),
    (_one_variance_each, "factor 2 is missing"),
    (_both_systems, "images of both systems"),
    (_rounded_down, "not down"),
    (_not_rounded, "Round up"),
    (lambda a, b, alpha, power: 218, "expected 369 images per system"),
], ids=["observed-at-threshold", "power-term-subtracted", "one-sided", "textbook-pooled",
        "unpooled-threshold", "squares-added", "one-variance-each", "both-systems",
        "rounded-down", "not-rounded", "other"])
