"""How sure is an error rate, and is one system really better than another?

* :func:`wilson_interval`, :func:`bootstrap_interval`: a confidence interval for one error rate.
* :func:`mcnemar_exact`, :func:`paired_bootstrap`: two systems scored on the *same* images
  (per-image errors known), e.g. notebook 10's CNN against its pre-2012 baseline.
* :func:`compare_error_rates`: two error rates and the numbers of images only, as in the
  published ILSVRC tables (is 26.2 % → 15.3 % on 100,000 test images noise?), and
  :func:`minimum_detectable_difference` for planning a test-set size.

Per-image errors are ``(N,)`` arrays with 1 (or True) for a wrong image and 0 for a right one,
as :func:`course_lib.scoring.per_image_topk_error` returns; the bootstrap functions also accept
real-valued per-image costs (e.g. ``hierarchical_cost(...).per_image``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import optimize, stats

from ..errors import CourseValueError

_RESAMPLE_CHUNK = 4_000_000  # indices drawn at a time by the generic bootstrap


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise CourseValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(errors: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for an error rate: ``errors`` wrong out of ``n`` images.

    ``errors`` is a count (a rate r on n images is ``errors = r * n``). With ``p = errors / n``
    and ``z`` the normal quantile, the interval is
    ``(p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)`` (Wilson 1927; Newcombe 1998,
    method 3). Unlike the Wald interval it stays inside [0, 1] and is sensible at 0 errors.
    """
    if n <= 0:
        raise CourseValueError(f"n must be positive, got {n}")
    if not 0 <= errors <= n:
        raise CourseValueError(f"errors must be between 0 and n = {n}, got {errors}")
    z = _z(confidence)
    p = errors / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def _per_image(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise CourseValueError(f"{name} must be a non-empty (N,) array, got shape {values.shape}")
    if not np.isfinite(values).all():
        i = int(np.argmin(np.isfinite(values)))
        raise CourseValueError(f"{name} contains NaN or infinity: {name}[{i}] = {values[i]}")
    return values


def _paired(errors_a, errors_b) -> tuple[np.ndarray, np.ndarray]:
    a = _per_image(errors_a, "errors_a")
    b = _per_image(errors_b, "errors_b")
    if len(a) != len(b):
        raise CourseValueError(f"errors_a has {len(a)} images, errors_b {len(b)}: pair the same images")
    return a, b


def _check_n_boot(n_boot: int) -> None:
    if n_boot < 1:
        raise CourseValueError(f"n_boot must be at least 1, got {n_boot}")


def _is_binary(values: np.ndarray) -> bool:
    return bool(np.all((values == 0) | (values == 1)))


def _resampled_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot,)`` means of ``values`` ``(N,)``, each over N draws with replacement."""
    n = len(values)
    means = np.empty(n_boot)
    step = max(1, _RESAMPLE_CHUNK // n)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise CourseValueError(f"confidence must be in (0, 1), got {confidence}")
    lo, hi = np.quantile(samples, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def bootstrap_interval(per_image_error, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of ``per_image_error`` ``(N,)``.

    Resamples the N images with replacement ``n_boot`` times. For 0/1 errors the resampled
    error count is exactly Binomial(N, observed rate), so that is drawn directly (same
    distribution, no N × n_boot index array); real-valued costs are resampled index by index.
    """
    values = _per_image(per_image_error, "per_image_error")
    _check_n_boot(n_boot)
    rng = np.random.default_rng(seed)
    if _is_binary(values):
        samples = rng.binomial(len(values), values.mean(), size=n_boot) / len(values)
    else:
        samples = _resampled_means(values, n_boot, rng)
    return _percentile_interval(samples, confidence)


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test. ``only_a_wrong``/``only_b_wrong``: the discordant images."""

    only_a_wrong: int
    only_b_wrong: int
    n: int
    p_value: float

    @property
    def difference(self) -> float:
        """error(a) − error(b)."""
        return (self.only_a_wrong - self.only_b_wrong) / self.n


def mcnemar_exact(errors_a, errors_b) -> McNemarResult:
    """Exact (binomial) McNemar test of two systems on the same N images.

    ``errors_a``, ``errors_b``: ``(N,)`` 0/1 per-image errors in the same image order. Only the
    discordant images carry information: ``b`` = a wrong and b right, ``c`` = the reverse.
    Under "equally good", each discordant image is a fair coin, so the two-sided p-value is
    ``min(1, 2·P(X ≤ min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)`` (1 when ``b + c = 0``).
    """
    a, b = _paired(errors_a, errors_b)
    for name, values in (("errors_a", a), ("errors_b", b)):
        if not _is_binary(values):
            i = int(np.argmax((values != 0) & (values != 1)))
            raise CourseValueError(f"McNemar needs 0/1 per-image errors: {name}[{i}] = {values[i]}")
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else stats.binomtest(min(only_a, only_b), discordant, 0.5).pvalue
    return McNemarResult(only_a, only_b, len(a), float(min(1.0, p)))


@dataclass(frozen=True)
class PairedBootstrapResult:
    """``difference`` = mean error of a − mean error of b, its interval and a two-sided p-value."""

    difference: float
    ci: tuple[float, float]
    p_value: float
    n_boot: int


def paired_bootstrap(errors_a, errors_b, confidence: float = 0.95, n_boot: int = 2000,
                     seed: int = 0) -> PairedBootstrapResult:
    """Paired bootstrap of error(a) − error(b) on the same N images.

    ``errors_a``, ``errors_b``: ``(N,)`` per-image errors (0/1) or costs, in the same image order.

    Images are resampled with replacement, keeping each image's pair of errors together, so
    the correlation between the systems is kept. For 0/1 errors a resample's counts of the
    three kinds of image (only a wrong, only b wrong, both alike) are exactly
    Multinomial(N, observed frequencies), drawn directly.
    ``p_value``: twice the smaller fraction of resampled differences on either side of 0
    (with the usual +1 correction, so never below ``2 / (n_boot + 1)``).
    """
    a, b = _paired(errors_a, errors_b)
    _check_n_boot(n_boot)
    rng = np.random.default_rng(seed)
    n = len(a)
    if _is_binary(a) and _is_binary(b):
        cells = np.array([np.sum((a == 1) & (b == 0)), np.sum((a == 0) & (b == 1)),
                          np.sum(a == b)])
        counts = rng.multinomial(n, cells / n, size=n_boot)
        samples = (counts[:, 0] - counts[:, 1]) / n
    else:
        samples = _resampled_means(a - b, n_boot, rng)
    below, above = np.sum(samples <= 0), np.sum(samples >= 0)
    p = min(1.0, 2 * (min(below, above) + 1) / (n_boot + 1))
    return PairedBootstrapResult(float(a.mean() - b.mean()), _percentile_interval(samples, confidence),
                                 float(p), n_boot)


def _power_gap(delta: float, p1: float, n: int, z_alpha: float, z_beta: float) -> float:
    p2 = p1 - delta
    pooled = (p1 + p2) / 2
    needed = (z_alpha * math.sqrt(2 * pooled * (1 - pooled) / n)
              + z_beta * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n))
    return delta - needed


def minimum_detectable_difference(n: int, error: float, alpha: float = 0.05,
                                  power: float = 0.8) -> float:
    """Smallest drop Δ below a baseline ``error`` that a two-sided two-proportion z-test at level
    ``alpha`` detects with probability ``power``, when each system is scored on ``n`` images.

    Solves, for ``p1 = error`` and ``p2 = p1 − Δ``, ``p̄ = (p1 + p2)/2`` (Fleiss, *Statistical
    Methods for Rates and Proportions*, sample size for two independent proportions)::

        Δ = z(1 − α/2)·sqrt(2·p̄(1 − p̄)/n) + z(power)·sqrt((p1(1 − p1) + p2(1 − p2))/n)

    Returns ``inf`` when even Δ = ``error`` (a perfect system) is not detectable. Two systems
    scored on the *same* images can do better (the paired tests above); this unpaired figure
    is the conservative one.
    """
    if n <= 0 or not 0 < error <= 1:
        raise CourseValueError(f"need n > 0 and 0 < error <= 1, got n={n}, error={error}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise CourseValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_beta = NormalDist().inv_cdf(power)
    if _power_gap(error, error, n, z_alpha, z_beta) < 0:
        return math.inf
    return float(optimize.brentq(_power_gap, 0.0, error, args=(error, n, z_alpha, z_beta),
                                 xtol=1e-12))


@dataclass(frozen=True)
class RateComparison:
    """Two error rates measured on ``n_a`` and ``n_b`` images, compared without pairing."""

    error_a: float
    error_b: float
    n_a: int
    n_b: int
    difference: float
    ci: tuple[float, float]
    confidence: float
    z: float
    p_value: float
    minimum_detectable_difference: float

    def summary(self) -> str:
        """A sentence a notebook can print."""
        lo, hi = self.ci
        p = f"= {self.p_value:.2g}" if self.p_value >= 1e-300 else "< 1e-300"
        return (f"error {self.error_a:.2%} (n={self.n_a:,}) vs {self.error_b:.2%} "
                f"(n={self.n_b:,}): difference {self.difference:.2%}, "
                f"{self.confidence:.0%} CI [{lo:.2%}, {hi:.2%}], z = {self.z:.1f}, p {p}; "
                f"a drop below {self.minimum_detectable_difference:.2%} would be hard to "
                "detect at this size")


def compare_error_rates(error_a: float, error_b: float, n: int, n_b: int | None = None,
                        confidence: float = 0.95) -> RateComparison:
    """Is the gap between two published error rates larger than test-set noise?

    ``error_a``, ``error_b``: rates in [0, 1]; ``n`` (and ``n_b``, default ``n``): images each
    was measured on. Gives the difference ``a − b``, its Newcombe hybrid-score interval
    (Newcombe 1998, method 10, built from the two Wilson intervals), the pooled two-proportion
    z statistic with its two-sided p-value, and :func:`minimum_detectable_difference` for
    ``error_a`` at this ``n`` (5 % level, 80 % power). Treating the two as independent samples
    is conservative when both were scored on the same images (ILSVRC's test set), as their
    errors are correlated.
    """
    n_b = n if n_b is None else n_b
    for rate in (error_a, error_b):
        if not 0 <= rate <= 1:
            raise CourseValueError(f"error rates are in [0, 1], got {rate} (a percentage?)")
    lo_a, hi_a = wilson_interval(error_a * n, n, confidence)
    lo_b, hi_b = wilson_interval(error_b * n_b, n_b, confidence)
    d = error_a - error_b
    ci = (d - math.hypot(error_a - lo_a, hi_b - error_b),
          d + math.hypot(hi_a - error_a, error_b - lo_b))
    pooled = (error_a * n + error_b * n_b) / (n + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_b))
    z = d / se if se > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
    p = float(math.erfc(abs(z) / math.sqrt(2)))  # two-sided normal tail, 2·(1 − Φ(|z|))
    mdd = minimum_detectable_difference(n, error_a) if error_a > 0 else math.inf
    return RateComparison(error_a, error_b, n, n_b, d, ci, confidence, z, p, mdd)
