"""The exercise checks of notebook 07: right answers pass, wrong ones get the hint for their slip.

The right answers are written here from the exercise statements, not taken from the library the
checks compare with.
"""

import math
import statistics
from statistics import NormalDist

import numpy as np
import pytest
from check_helpers import answers_test
from scipy import stats as scipy_stats

from course_lib.checks.ablations import (
    check_epochs_to_threshold,
    check_images_needed,
    check_verdict,
)
from course_lib.checks.core import ExerciseError

# --- exercise 1: images needed --------------------------------------------------------------

Z_A, Z_B = NormalDist().inv_cdf(0.975), NormalDist().inv_cdf(0.8)


def _terms(d, p, pooled_factor=2.0, alt="both", z_a=Z_A, power=True):
    p1, p2 = p, p - d
    pb = (p1 + p2) / 2
    null = z_a * math.sqrt(pooled_factor * pb * (1 - pb))
    alt_var = p1 * (1 - p1) + p2 * (1 - p2) if alt == "both" else p1 * (1 - p1)
    return null + (Z_B * math.sqrt(alt_var) if power else 0.0)


def images_needed(d, p):
    return math.ceil((_terms(d, p) / d) ** 2)


def test_images_needed_matches_the_issue_figure():
    # notebook 02's figure: at 1,000 images and 25 % error about 5 points are detectable, so
    # detecting exactly 5 points needs a little over 1,000 images
    assert 1_000 < images_needed(0.05, 0.25) < 1_200


test_images_needed = answers_test(check_images_needed, right=[
    images_needed, lambda d, p: np.int64(images_needed(d, p)),
], wrong=[
    (lambda d, p: math.ceil((_terms(d, p, power=False) / d) ** 2), "power term is missing"),
    (lambda d, p: math.ceil((_terms(d, p, pooled_factor=1, alt="one") / d) ** 2),
     "variance of one error rate"),
    (lambda d, p: math.ceil((_terms(d, p, pooled_factor=1) / d) ** 2), "needs 2·p̄"),
    (lambda d, p: math.ceil((_terms(d, p, z_a=NormalDist().inv_cdf(0.95)) / d) ** 2),
     "two-sided quantile"),
    (lambda d, p: _terms(d, p) / d, "square the ratio"),
    (lambda d, p: (_terms(d, p) / (100 * d)) ** 2, "Work in fractions"),
    (lambda d, p: int((_terms(d, p) / d) ** 2), "Round \\*up\\*"),
    (lambda d, p: round((_terms(d, p) / d) ** 2), "Round \\*up\\*"),
    (lambda d, p: (_terms(d, p) / d) ** 2, "whole number"),
], ids=["no-power", "one-proportion", "pooled-without-2", "one-sided", "sqrt", "points",
        "int", "round", "float"])


def test_images_needed_message_names_the_case():
    with pytest.raises(ExerciseError, match="drop of 0.05 .* below an error of 0.25: expected "
                                            "1,094 images"):
        check_images_needed(lambda d, p: 1)


# --- exercise 2: the verdict ------------------------------------------------------------------
# The right answer and every slip are written here from the exercise statement, each as the
# function a learner would write (statistics.stdev and scipy's t quantile), not from the check's
# model of slips.


def _mean_sd(differences):
    values = [float(x) for x in differences]
    return statistics.fmean(values), statistics.stdev(values), len(values)


def _decision(mean, threshold, claimed):
    if abs(mean) > threshold:
        return "agree" if mean > 0 else "disagree"
    if claimed is not None and claimed - mean > threshold:
        return "disagree"
    return "undetectable here"


def verdict(differences, mdd, claimed):
    if len(differences) < 2:
        return "undetectable here"
    mean, sd, k = _mean_sd(differences)
    return _decision(mean, max(mdd, scipy_stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k)),
                     claimed)


def verdict_with_numpy(differences, mdd, claimed):
    # np.std(ddof=1) and a threshold of inf for one seed, the other common way to write it
    d = np.asarray(differences, dtype=float)
    k = d.size
    seeds = (scipy_stats.t.ppf(0.975, k - 1) * d.std(ddof=1) / np.sqrt(k)) if k > 1 \
        else math.inf
    return _decision(d.mean(), max(mdd, seeds), claimed)


def _with_threshold(seed_part, floor=True):
    """A verdict function whose threshold is max(mdd, seed_part(differences)) (or seed_part
    alone when floor is False); one seed gives an infinite seed part."""
    def fn(differences, mdd, claimed):
        if len(differences) < 2:
            return "undetectable here"
        seeds = seed_part([float(x) for x in differences])
        return _decision(statistics.fmean(float(x) for x in differences),
                         max(mdd, seeds) if floor else seeds, claimed)
    return fn


def _t(q, df):
    return scipy_stats.t.ppf(q, df)


sd_not_se = _with_threshold(lambda d: _t(0.975, len(d) - 1) * statistics.stdev(d))
two_sd = _with_threshold(lambda d: 2 * statistics.stdev(d))  # the rule of the first edition
over_k = _with_threshold(lambda d: _t(0.975, len(d) - 1) * statistics.stdev(d) / len(d))
normal_quantile = _with_threshold(lambda d: 1.96 * statistics.stdev(d) / math.sqrt(len(d)))
two_se = _with_threshold(lambda d: 2 * statistics.stdev(d) / math.sqrt(len(d)))
k_degrees = _with_threshold(lambda d: _t(0.975, len(d)) * statistics.stdev(d) / math.sqrt(len(d)))
one_sided = _with_threshold(lambda d: _t(0.95, len(d) - 1) * statistics.stdev(d)
                            / math.sqrt(len(d)))
ddof_0 = _with_threshold(lambda d: _t(0.975, len(d) - 1) * statistics.pstdev(d)
                         / math.sqrt(len(d)))
no_mdd = _with_threshold(lambda d: _t(0.975, len(d) - 1) * statistics.stdev(d)
                         / math.sqrt(len(d)), floor=False)


def no_seeds(differences, mdd, claimed):
    return _decision(statistics.fmean(float(x) for x in differences), mdd, claimed)


def no_abs(differences, mdd, claimed):
    mean, sd, k = (_mean_sd(differences) if len(differences) > 1
                   else (float(differences[0]), math.inf, 1))
    threshold = max(mdd, _t(0.975, k - 1) * sd / math.sqrt(k)) if k > 1 else math.inf
    if mean > threshold:  # a negative mean is never "beyond"
        return "agree"
    if claimed is not None and claimed - mean > threshold:
        return "disagree"
    return "undetectable here"


def no_claim_rule(differences, mdd, claimed):
    return verdict(differences, mdd, None)


def claim_alone(differences, mdd, claimed):
    if len(differences) < 2:
        return "undetectable here"
    mean, sd, k = _mean_sd(differences)
    threshold = max(mdd, _t(0.975, k - 1) * sd / math.sqrt(k))
    if abs(mean) > threshold:
        return "agree" if mean > 0 else "disagree"
    return "disagree" if claimed is not None and claimed > threshold else "undetectable here"


def at_threshold(differences, mdd, claimed):
    if len(differences) < 2:
        return "undetectable here"
    mean, sd, k = _mean_sd(differences)
    threshold = max(mdd, _t(0.975, k - 1) * sd / math.sqrt(k))
    if abs(mean) >= threshold:
        return "agree" if mean > 0 else "disagree"
    if claimed is not None and claimed - mean > threshold:
        return "disagree"
    return "undetectable here"


def one_seed_as_mdd(differences, mdd, claimed):
    # one seed: no seed part at all, only the MDD
    if len(differences) < 2:
        return _decision(float(differences[0]), mdd, claimed)
    return verdict(differences, mdd, claimed)


def one_seed_raises(differences, mdd, claimed):
    mean, sd, k = _mean_sd(differences)  # statistics.stdev raises with one value
    return _decision(mean, max(mdd, _t(0.975, k - 1) * sd / math.sqrt(k)), claimed)


test_verdict = answers_test(check_verdict, right=[
    verdict, lambda *a: " " + verdict(*a).upper(), verdict_with_numpy,
], wrong=[
    (sd_not_se, "standard deviation of single differences"),
    (two_sd, "standard deviation of single differences"),
    (over_k, "not by k"),
    (normal_quantile, "Student's t quantile with k − 1"),
    (two_se, "Student's t quantile with k − 1"),
    (k_degrees, "k − 1 degrees of freedom, not k"),
    (one_sided, "two-sided"),
    (ddof_0, "ddof=1"),
    (no_mdd, "at least the minimum detectable difference"),
    (no_seeds, "per-seed differences vary too"),
    (no_abs, "wrong direction"),
    (no_claim_rule, "would have seen an effect of the paper's size"),
    (claim_alone, "claimed − mean > threshold"),
    (at_threshold, "strictly beyond"),
    (one_seed_as_mdd, "threshold is infinite"),
    (one_seed_raises, "your function raised StatisticsError.*threshold is infinite"),
    (lambda *a: True, "Return one of the strings"),
], ids=["sd", "two-sd", "over-k", "normal", "two-se", "k-df", "one-sided", "ddof-0", "no-mdd",
        "no-seeds", "no-abs", "no-claim-rule", "claim-alone", "at-threshold", "one-seed",
        "one-seed-raises", "not-a-verdict"])


def test_verdict_message_names_the_case_and_the_threshold():
    # four seeds [0.6, 1.4, 2.2, 3.0]: mean 1.8, s = 1.0328, t(0.975, 3) = 3.1824,
    # threshold 3.1824 · 1.0328 / 2 = 1.643 > the MDD of 0.5
    with pytest.raises(ExerciseError, match=r"differences \[0.6, 1.4, 2.2, 3.0\], mdd 0.5, "
                                            r"claimed None: the mean is \+1.8 points and the "
                                            r"threshold 1.64 points: expected 'agree', got "
                                            r"'undetectable here'"):
        check_verdict(sd_not_se)


def test_verdict_refuses_a_function_that_sorts_its_input():
    def sorts(differences, mdd, claimed):
        if isinstance(differences, list):
            differences.sort(reverse=True)
        return verdict(differences, mdd, claimed)
    with pytest.raises(ExerciseError, match=r"changed its input `differences` in place.*sorted\(x\) rather than x\.sort\(\)"):
        check_verdict(sorts)


def test_verdict_one_seed_never_detects():
    assert verdict([50.0], 0.1, 1.0) == "undetectable here"


def test_verdict_threshold_shrinks_with_more_seeds():
    # the same per-seed spread (±1 around 2) detected with eight seeds but not with two:
    # t(0.975, 1)·1.414/√2 = 12.7, t(0.975, 7)·1.069/√8 = 0.89
    assert verdict([1.0, 3.0], 0.5, None) == "undetectable here"
    assert verdict([1.0, 3.0] * 4, 0.5, None) == "agree"


# --- exercise 3: epochs to threshold ------------------------------------------------------------


def epochs_to_threshold(train_errors, threshold):
    for epoch, error in enumerate(train_errors, start=1):
        if error <= threshold:
            return epoch
    return None


def _zero_based(errors, threshold):
    e = epochs_to_threshold(errors, threshold)
    return None if e is None else e - 1


def _strict(errors, threshold):
    return next((i for i, x in enumerate(errors, 1) if x < threshold), None)


def _argmin(errors, threshold):
    errors = list(errors)
    return int(np.argmin(errors)) + 1 if min(errors) <= threshold else None


def _last(errors, threshold):
    hits = [i for i, x in enumerate(errors, 1) if x <= threshold]
    return hits[-1] if hits else None


def _cap(errors, threshold):
    e = epochs_to_threshold(errors, threshold)
    return len(list(errors)) if e is None else e


test_epochs_to_threshold = answers_test(check_epochs_to_threshold, right=[
    epochs_to_threshold,
], wrong=[
    (_zero_based, "numbered from 1"),
    (_strict, "at or below the threshold \\(≤\\)"),
    (_argmin, "lowest error"),
    (_last, "not the last"),
    (_cap, "return None \\(the caller reports the cap as a bound\\)"),
    (lambda e, t: -1 if epochs_to_threshold(e, t) is None else epochs_to_threshold(e, t),
     "return None"),
], ids=["zero-based", "strict", "argmin", "last", "cap", "minus-one"])
