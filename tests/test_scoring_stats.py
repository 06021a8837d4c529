"""Confidence intervals, paired tests and detectable differences against published and
hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats

from course_lib.scoring import (
    bootstrap_interval,
    compare_error_rates,
    mcnemar_exact,
    minimum_detectable_difference,
    paired_bootstrap,
    wilson_interval,
)

# Newcombe R. G. (1998), "Two-sided confidence intervals for the single proportion: comparison
# of seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
NEWCOMBE_WILSON = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize("k,n,lo,hi", NEWCOMBE_WILSON)
def test_wilson_matches_published_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)
    ref = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")  # scipy's own
    assert got == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_wilson_hand_derivation_at_zero_errors():
    # With p = 0 the formula reduces to [0, z²/(n + z²)]; z = 1.959964 for 95 %,
    # so for n = 20: 3.841459 / 23.841459 = 0.161125.
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.161125), abs=1e-6)
    # 99 % is wider than 95 %, which is wider than 50 %
    widths = [np.diff(wilson_interval(30, 100, c))[0] for c in (0.5, 0.95, 0.99)]
    assert widths == sorted(widths)


def test_wilson_rejects_nonsense():
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="n must be positive"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=95)


def test_bootstrap_interval_is_close_to_wilson():
    errors = np.zeros(2000)
    errors[:300] = 1  # 15 % error
    lo, hi = bootstrap_interval(errors, n_boot=4000, seed=1)
    w_lo, w_hi = wilson_interval(300, 2000)
    assert lo == pytest.approx(w_lo, abs=0.004) and hi == pytest.approx(w_hi, abs=0.004)
    assert lo < 0.15 < hi


def test_bootstrap_binary_shortcut_agrees_with_index_resampling():
    rng = np.random.default_rng(2)
    errors = (rng.random(500) < 0.3).astype(float)
    binary = bootstrap_interval(errors, n_boot=4000, seed=3)
    # 0/2 values are not binary, so they take the index-resampling path; halve the result
    general = np.array(bootstrap_interval(2 * errors, n_boot=4000, seed=3)) / 2
    assert binary == pytest.approx(tuple(general), abs=0.01)


def test_bootstrap_interval_of_real_valued_costs():
    costs = np.random.default_rng(4).exponential(2.0, 400)
    lo, hi = bootstrap_interval(costs, n_boot=2000)
    se = costs.std(ddof=1) / math.sqrt(400)
    assert lo == pytest.approx(costs.mean() - 1.96 * se, abs=0.4 * se)
    assert hi == pytest.approx(costs.mean() + 1.96 * se, abs=0.4 * se)


def test_mcnemar_hand_computed():
    # 10 images: a wrong and b right on 6, a right and b wrong on 1, the rest agree.
    a = np.array([1, 1, 1, 1, 1, 1, 0, 0, 1, 0])
    b = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 0])
    result = mcnemar_exact(a, b)
    assert (result.only_a_wrong, result.only_b_wrong) == (6, 1)
    # P(X <= 1), X ~ Binomial(7, 1/2) = (1 + 7) / 128; two-sided: 16 / 128 = 0.125
    assert result.p_value == pytest.approx(0.125, abs=1e-12)
    assert result.difference == pytest.approx(0.5)
    assert mcnemar_exact(b, a).p_value == pytest.approx(0.125)
    # 5 discordant pairs all one way: 2 / 32
    assert mcnemar_exact([1] * 5 + [0] * 5, [0] * 10).p_value == pytest.approx(0.0625)
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0  # no discordant pair


def test_mcnemar_matches_a_brute_force_binomial_sum():
    rng = np.random.default_rng(5)
    for _ in range(5):
        a = rng.random(200) < 0.3
        b = rng.random(200) < 0.25
        only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
        n = only_a + only_b
        tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2 ** n
        assert mcnemar_exact(a, b).p_value == pytest.approx(min(1.0, 2 * tail), rel=1e-9)
    with pytest.raises(ValueError, match="pair the same images"):
        mcnemar_exact([1, 0], [1])
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5, 0], [1, 0])
    with pytest.raises(ValueError, match=r"errors_b\[1\] = 2\.0"):
        mcnemar_exact([1, 0], [1, 2])
    with pytest.raises(ValueError, match=r"per_image_error\[2\] = nan"):
        bootstrap_interval([0, 1, np.nan])


def test_paired_bootstrap():
    rng = np.random.default_rng(6)
    a = (rng.random(3000) < 0.30).astype(float)
    b = a.copy()
    flip = rng.random(3000) < 0.2  # b fixes 20 % of a's errors
    b[flip & (a == 1)] = 0
    result = paired_bootstrap(a, b, n_boot=2000, seed=0)
    assert result.difference == pytest.approx(a.mean() - b.mean())
    lo, hi = result.ci
    assert 0 < lo < result.difference < hi
    assert result.p_value == pytest.approx(2 / 2001)  # every resample favours b
    same = paired_bootstrap(a, a, n_boot=500)
    assert same.difference == 0 and same.ci == (0.0, 0.0) and same.p_value == 1.0
    # index resampling of the real-valued differences gives about the same interval
    general = paired_bootstrap(2 * a, 2 * b, n_boot=2000, seed=0)
    assert np.array(general.ci) / 2 == pytest.approx(result.ci, abs=0.003)


def test_paired_bootstrap_is_tighter_than_unpaired_when_errors_correlate():
    rng = np.random.default_rng(7)
    a = (rng.random(2000) < 0.3).astype(float)
    b = a.copy()
    b[rng.choice(np.flatnonzero(a), 40, replace=False)] = 0  # 2 points better, same images
    paired = paired_bootstrap(a, b, seed=1)
    unpaired = compare_error_rates(a.mean(), b.mean(), 2000)
    assert np.diff(paired.ci)[0] < np.diff(unpaired.ci)[0] / 2


def test_minimum_detectable_difference_has_the_stated_power():
    n, p1, alpha = 2000, 0.30, 0.05
    delta = minimum_detectable_difference(n, p1, alpha=alpha, power=0.8)
    assert 0.03 < delta < 0.05
    # Monte Carlo: two independent test sets of n images, pooled two-sided z-test at alpha
    rng = np.random.default_rng(8)
    trials = 20_000
    e1 = rng.binomial(n, p1, trials) / n
    e2 = rng.binomial(n, p1 - delta, trials) / n
    pooled = (e1 + e2) / 2
    z = (e1 - e2) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    power = np.mean(np.abs(z) > stats.norm.ppf(1 - alpha / 2))
    assert power == pytest.approx(0.8, abs=0.015)
    # more images, smaller detectable differences; too few images: nothing is detectable
    assert minimum_detectable_difference(4 * n, p1) < delta / 1.9
    assert minimum_detectable_difference(5, 0.2) == math.inf


# Newcombe R. G. (1998), "Interval estimation for the difference between independent
# proportions: comparison of eleven methods", Statistics in Medicine 17:873-890, Table II,
# method 10 (score interval from Wilson limits).
NEWCOMBE_DIFFERENCE = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
]


@pytest.mark.parametrize("k1,n1,k2,n2,lo,hi", NEWCOMBE_DIFFERENCE)
def test_compare_error_rates_matches_published_difference_interval(k1, n1, k2, n2, lo, hi):
    result = compare_error_rates(k1 / n1, k2 / n2, n1, n2)
    assert result.ci == pytest.approx((lo, hi), abs=5e-5)
    # the pooled z statistic squared is Pearson's chi-square of the 2×2 table
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    chi2 = stats.chi2_contingency(table, correction=False).statistic
    assert result.z ** 2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(stats.chi2.sf(chi2, 1))


def test_the_2012_gap_is_not_noise():
    # FACTS.md §3: ISI 0.26172 vs SuperVision 0.15315, ILSVRC-2012 test set of 100,000 images
    result = compare_error_rates(0.26172, 0.15315, 100_000)
    assert result.difference == pytest.approx(0.10857)
    assert result.p_value < 1e-100
    assert result.ci[0] > 0.10 and result.ci[1] < 0.12
    assert result.minimum_detectable_difference < 0.01 < result.difference
    assert "10.86%" in result.summary()
    with pytest.raises(ValueError, match="percentage"):
        compare_error_rates(26.2, 15.3, 100_000)
