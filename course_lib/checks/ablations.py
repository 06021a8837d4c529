"""Checks for the exercises of notebook 07 (ablations).

* :func:`check_images_needed`: validation images per system for a d-point drop at error p,
  compared with :func:`course_lib.ablation.images_to_detect` and with the independent root
  finder behind :func:`course_lib.scoring.stats.minimum_detectable_difference`;
* :func:`check_verdict`: the decision rule (agree / disagree / undetectable here), whose
  threshold the learner derives (the MDD and a paired t test across seeds);
* :func:`check_epochs_to_threshold`: the first epoch whose training error reaches a threshold.

Each runs its cases through :func:`.core.check_cases`, which names the usual slips in a hint;
a slip may be a test of the answer rather than a value.
"""

from __future__ import annotations

import functools
import math
import operator
import statistics
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy import stats

from ..ablation import VERDICTS, decide, images_to_detect, seed_threshold
from ..scoring.stats import minimum_detectable_difference
from .core import ExerciseError, as_number, check_cases

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them).
ANSWERS: dict[str, tuple[str, ...]] = {
    # the exercise's own example (0.014 below 0.30), then the images per claim the page prints
    "images_needed": ("16,590", "16590", "14,732", "20,018", "182,972", "245,273", "29,036",
                      "39,240", "7,157", "9,806",
                      # the sample-size formula the learner derives (Fleiss), as prose or code
                      "2·p̄(1 − p̄)", "p1(1 − p1) + p2(1 − p2)", "2 * pooled * (1 - pooled)",
                      "p1 * (1 - p1) + p2 * (1 - p2)", "/ d²"),
    # the quantile the learner derives, and its value for the page's four seeds (and for two)
    "verdict": ("0.975, k − 1", "0.975, k - 1", "t(0.975", "3.18", "12.7"),
    # nothing to declare: the answer is a first-hit loop, and what the page prints with it are
    # epoch counts of 2 to 5, which any text matches innocently
    "epochs_to_threshold": (),
}


def _as_given(values: list[float], i: int):
    """Case ``i``'s values as a list, a numpy array or a pandas Series, in turn (a copy)."""
    return (list(values), np.array(values), pd.Series(values))[i % 3]


def _listed(values) -> list[float]:
    return [float(x) for x in values]


# --------------------------------------------------------------------------------------------
# exercise 1: how many validation images a difference needs


def _fleiss(d: float, p: float, *, null: float = 2, both: bool = True, level: float = 0.975,
            power: bool = True, scale: float = 1, squared: bool = True) -> float:
    """The unrounded n (α = 0.05 two-sided, power 0.8) or a slip of it: ``null``·p̄(1 − p̄) under
    the null, ``both`` rates' variances under the alternative, the quantile at ``level``, the
    ``power`` term, the difference in points (``scale`` 100), ``squared`` or not."""
    p1, p2 = p, p - d
    pb = (p1 + p2) / 2
    alternative = p1 * (1 - p1) + (p2 * (1 - p2) if both else 0)
    terms = NormalDist().inv_cdf(level) * math.sqrt(null * pb * (1 - pb)) + (
        NormalDist().inv_cdf(0.8) * math.sqrt(alternative) if power else 0)
    return (terms / (scale * d)) ** (2 if squared else 1)


def _rounded(**slip) -> Callable:
    """The slip of :func:`_fleiss` with ``slip``, as a test of an answer: its n (within 10⁻⁶),
    or a whole number within 1 of it (n rounded any way)."""
    def test(d, p):
        n = _fleiss(d, p, **slip)
        return lambda v: abs(v - n) <= 1 if v == int(v) else math.isclose(v, n, rel_tol=1e-6)
    return test


NEEDED_SLIPS = [
    (lambda d, p: math.floor(_fleiss(d, p)),
     " Round *up*: the answer is the smallest whole number of images that reaches the power, "
     "so take the ceiling (math.ceil), not int() or round()."),
    (_rounded(power=False),
     " The power term is missing: add z(power)·√(p1(1 − p1) + p2(1 − p2)) to "
     "z(1 − α/2)·√(2·p̄(1 − p̄)) before dividing by the difference and squaring; without it "
     "only half the real effects of that size would be detected."),
    (_rounded(null=1, both=False),
     " That is the variance of one error rate. A *difference* of two independent rates has the "
     "sum of their variances: 2·p̄(1 − p̄) under the null, p1(1 − p1) + p2(1 − p2) under the "
     "alternative (the factor 2 of a difference)."),
    (_rounded(null=1),
     " The null-hypothesis term needs 2·p̄(1 − p̄), not p̄(1 − p̄): a difference of two rates "
     "has twice the variance of one."),
    (_rounded(level=0.95),
     " Use the two-sided quantile z(1 − α/2) = 1.96, not z(1 − α) = 1.645: the test asks "
     "whether the systems differ, in either direction."),
    (_rounded(squared=False), " That is √n: square the ratio (z terms / difference) to get n."),
    (_rounded(scale=100),
     " Work in fractions: a 1.4-point difference is 0.014, and the error p is a fraction too."),
    (lambda d, p: lambda v: v != int(v),
     " Return a whole number of images: round n up with math.ceil."),
]


def check_images_needed(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(difference, error)`` returns the number of validation images
    each of two systems needs so that a two-sided two-proportion z-test at the 5 % level detects
    a drop of ``difference`` below ``error`` (fractions) with 80 % power: the smallest whole n
    with n ≥ ((z(0.975)·√(2p̄(1 − p̄)) + z(0.8)·√(p1(1 − p1) + p2(1 − p2))) / difference)²,
    p1 = error, p2 = error − difference, p̄ = (p1 + p2)/2."""
    cases = [(0.05, 0.25), (0.014, 0.30), (0.004, 0.30), (0.02, 0.10), (0.10, 0.50)]
    mdd = {n: minimum_detectable_difference(n, p)  # every case needs another n
           for n, p in ((images_to_detect(d, p), p) for d, p in cases)}
    return check_cases(
        "images_needed", fn, cases, reference=images_to_detect, same=operator.eq, slips=NEEDED_SLIPS,
        read=lambda got, d, p: as_number(got),
        where=lambda d, p: f"to detect a drop of {d} (that is {100 * d:g} points) below an "
                           f"error of {p}",
        shown=lambda n: f"{n:,} images per system (at {n:,} the minimum detectable difference "
                        f"is {mdd[n]:.4f})",
        done="Matches the Fleiss sample size for two proportions at five (difference, error) "
             "pairs, and inverts course_lib.scoring.minimum_detectable_difference.")


# --------------------------------------------------------------------------------------------
# exercise 2: the decision rule


# (per-seed differences, mdd, claimed): each case after the first catches one slip or more
VERDICT_CASES = [
    ([2.6, 2.8, 3.2, 3.4], 1.0, 1.4),
    ([0.6, 1.4, 2.2, 3.0], 0.5, None),  # the SD instead of the SE
    ([0.4, 1.0, 1.8, 2.6], 0.5, None),  # every threshold that is too small
    ([0.2, 0.8, 1.6, 2.6], 0.5, None),  # the normal or one-sided quantile, s/k
    ([-0.2, 0.5, 1.1, 2.2], 0.5, None),  # s/k, the MDD alone
    ([0.0, 0.6, 1.4, 2.4], 0.5, None),  # the normal quantile (1.96 or 2)
    ([1.0, 2.0, 3.0], 0.5, None),  # three seeds: k degrees of freedom
    ([1.2, 2.2, 3.2], 0.5, None),  # three seeds: ddof=0
    ([1.8, 1.9, 2.0, 2.1, 2.2], 2.5, None),  # the MDD forgotten
    ([-0.5, 1.0, 3.0, 4.5], 0.5, None),  # the seeds forgotten
    ([-3.4, -3.2, -2.8, -2.6], 1.0, None),  # a detection in the wrong direction
    ([0.0, 0.1, 0.3, 0.4], 0.8, 1.4),  # the claim rule forgotten
    ([0.3, 0.4, 0.6, 0.7], 0.8, 1.2),  # the claim compared alone
    ([1.5, 1.5, 1.5], 1.5, None),  # exactly at the threshold
    ([5.0], 1.0, 1.4),  # one seed
    ([-0.5, -0.4, -0.3, -0.3, -0.2, -0.1], 0.6, 2.0),  # a miss of the claimed size
]

VERDICT_HINTS = {
    "sd": " The seed part of the threshold uses the standard deviation of single differences. "
          "The mean of k differences varies less than one of them: its standard error is "
          "s/√k, and that is what the quantile multiplies.",
    "over k": " Divide the standard deviation by √k, not by k: the variance of a mean of k "
              "independent differences is s²/k, so its standard error is s/√k.",
    "normal": " With a handful of seeds the standard error is itself estimated from k values, "
              "so the 5 % point is Student's t quantile with k − 1 degrees of freedom "
              "(scipy.stats.t.ppf(0.975, k − 1): 3.18 for four seeds), not the normal 1.96 "
              "(or 2), which calls seed noise an effect far more often than 5 % of the time.",
    "k df": " Use k − 1 degrees of freedom, not k: estimating the mean uses one of them up.",
    "one-sided": " The rule is two-sided (a choice may help or hurt): take the 0.975 quantile of "
                 "t, not the 0.95 one.",
    "ddof 0": " Use the sample standard deviation (ddof=1): np.std divides by k by default, "
              "which understates the spread of a few seeds.",
    "no mdd": " The threshold must also be at least the minimum detectable difference: the "
              "validation images add their own noise, whatever the seeds say.",
    "no seeds": " The minimum detectable difference covers only the validation images: the "
                "per-seed differences vary too, and their mean must also beat what that "
                "variation alone would produce.",
    "no abs": " A difference detected in the wrong direction (negative: the component hurts) "
              "is a disagreement: compare the absolute value of the mean with the threshold.",
    "no claim rule": " When nothing is detected but the paper's claimed effect exceeds the "
                     "measured mean by more than the threshold, this set-up would have seen an "
                     "effect of the paper's size: that is 'disagree', not 'undetectable here'.",
    "claim alone": " Compare the claim with the measurement: 'disagree' without a detection "
                   "needs claimed − mean > threshold, not just claimed > threshold.",
    "at threshold": " Detected means strictly beyond the threshold (>), not equal to it.",
    "one seed": " With one seed there is no estimate of run-to-run noise (the standard deviation "
                "of one value is undefined), so nothing can be detected: the threshold is "
                "infinite and the verdict 'undetectable here'.",
}


def _slip_verdict(differences, mdd: float, claimed, slip: str = "", q: float | None = None) -> str:
    """What a verdict function with ``slip`` (a key of :data:`VERDICT_HINTS`) answers; ``q``: the
    quantile of a slip that has several ("sd": t, 1.96 or 2; "normal": 1.96 or 2)."""
    values = _listed(differences)
    k, mean = len(values), statistics.fmean(values)
    if k < 2:
        threshold = mdd if slip in ("one seed", "no seeds") else math.inf
    else:
        s, t, root = statistics.stdev(values), float(stats.t.ppf(0.975, k - 1)), math.sqrt(k)
        q = t if q is None else q
        seeds = {"sd": q * s, "over k": t * s / k, "normal": q * s / root,
                 "k df": float(stats.t.ppf(0.975, k)) * s / root,
                 "one-sided": float(stats.t.ppf(0.95, k - 1)) * s / root,
                 "ddof 0": t * statistics.pstdev(values) / root, "no seeds": 0.0,
                 }.get(slip, t * s / root)
        threshold = seeds if slip == "no mdd" else max(mdd, seeds)
    value = mean if slip == "no abs" else abs(mean)
    if value >= threshold if slip == "at threshold" else value > threshold:
        return "agree" if mean > 0 else "disagree"
    if claimed is not None and slip != "no claim rule" and (
            claimed if slip == "claim alone" else claimed - mean) > threshold:
        return "disagree"
    return "undetectable here"


VERDICT_SLIPS = [
    (lambda *case: lambda v: not isinstance(v, str) or v not in VERDICTS,
     f" Return one of the strings {VERDICTS}."),
    *((functools.partial(_slip_verdict, slip=slip, q=q), hint)
      for slip, hint in VERDICT_HINTS.items()
      for q in {"sd": (None, 1.96, 2.0), "normal": (1.96, 2.0)}.get(slip, (None,)))]


def _one_seed_guarded(fn: Callable) -> Callable:
    """``fn``, an error it raises for one seed turned into the hint for that slip."""
    @functools.wraps(fn)  # the learner's argument names, for the in-place guard of attempt
    def guarded(differences, mdd, claimed):
        try:
            return fn(differences, mdd, claimed)
        except Exception as error:  # the learner's code: any error it raises
            if isinstance(error, NotImplementedError) or len(differences) > 1:
                raise
            raise ExerciseError(
                f"verdict: with one seed (differences {_listed(differences)}) your function "
                f"raised {type(error).__name__}: {error}.{VERDICT_HINTS['one seed']}") from None
    return guarded


def _verdict_case(differences, mdd: float, claimed) -> str:
    values, threshold = _listed(differences), max(mdd, seed_threshold(differences))
    said = "infinite" if math.isinf(threshold) else f"{threshold:.3g} points"
    return (f"per-seed differences {values}, mdd {mdd:g}, claimed {claimed}: the mean is "
            f"{statistics.fmean(values):+.3g} points and the threshold {said}")


def check_verdict(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(differences, mdd, claimed)`` returns "agree", "disagree"
    or "undetectable here". ``differences``: the per-seed differences in points (error without
    the component minus error with it; positive: the component helps, as the paper claims), a
    list, numpy array or pandas Series; ``mdd``: the minimum detectable difference in points;
    ``claimed``: the paper's effect in points, or None. The reference is
    :func:`course_lib.ablation.decide`."""
    cases = [(_as_given(d, i), mdd, claimed) for i, (d, mdd, claimed) in enumerate(VERDICT_CASES)]
    return check_cases(
        "verdict", fn if fn is None else _one_seed_guarded(fn), cases, reference=decide,
        same=operator.eq, slips=VERDICT_SLIPS, where=_verdict_case,
        read=lambda got, *case: got.strip().lower() if isinstance(got, str) else got,
        done=f"Right on all {len(cases)} cases: one to six seeds, edges included.")


# --------------------------------------------------------------------------------------------
# exercise 3: epochs to a training-error threshold


EPOCH_CASES = [([0.9, 0.5, 0.3, 0.2, 0.1], 0.25), ([0.9, 0.25, 0.3], 0.25),
               ([0.5, 0.24, 0.3, 0.1], 0.25), ([0.8, 0.6, 0.4], 0.25), ([0.2, 0.1], 0.25),
               ([0.7, 0.55, 0.45, 0.41], 0.5), ([0.6, 0.1, 0.2, 0.9], 0.25)]


def _hits(errors, threshold: float, strict: bool = False) -> list[int]:
    """The 1-based epochs at or below ``threshold`` (strictly below with ``strict``)."""
    return [e for e, x in enumerate(errors, 1) if (x < threshold if strict else x <= threshold)]


EPOCH_SLIPS = [
    (lambda e, t: min((h - 1 for h in _hits(e, t)), default=None),
     " Epochs are numbered from 1: the first epoch is epoch 1, not index 0."),
    (lambda e, t: min(_hits(e, t, strict=True), default=None),
     " 'Reaches 25 %' means at or below the threshold (≤), not strictly below."),
    (lambda e, t: int(np.argmin(list(e))) + 1 if _hits(e, t) else None,
     " That is the epoch with the lowest error; the question is the *first* epoch at or below "
     "the threshold."),
    (lambda e, t: max(_hits(e, t), default=None),
     " Return the first epoch at or below the threshold, not the last."),
    (lambda e, t: min(_hits(e, t), default=len(e)),
     " When no epoch reaches the threshold, return None (the caller reports the cap as a "
     "bound), not the number of epochs run."),
    (lambda e, t: lambda v: v is not None and not _hits(e, t),  # any answer but None
     " No epoch reaches the threshold here: return None."),
]


def check_epochs_to_threshold(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(train_errors, threshold)`` returns the 1-based number of the
    first epoch whose training error is at or below ``threshold`` (``train_errors``: one value per
    epoch, epoch 1 first, a list, numpy array or pandas Series), or None if no epoch reaches it."""
    cases = [(_as_given(errors, i), t) for i, (errors, t) in enumerate(EPOCH_CASES)]
    return check_cases(
        "epochs_to_threshold", fn, cases, same=operator.eq, slips=EPOCH_SLIPS,
        reference=lambda e, t: min(_hits(e, t), default=None),
        read=lambda got, e, t: None if got is None else as_number(got),
        where=lambda e, t: f"training errors {_listed(e)} per epoch and threshold {t}",
        done=f"Right on {len(cases)} histories (lists, numpy arrays, pandas Series), the "
             "never-reached case included.")
