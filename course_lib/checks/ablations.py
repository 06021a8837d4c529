"""Checks for the exercises of notebook 06 (ablations).

* :func:`check_images_needed`: validation images per system for a d-point drop at error p,
  compared with :func:`course_lib.ablation.images_to_detect` and with the independent root
  finder behind :func:`course_lib.scoring.stats.minimum_detectable_difference`;
* :func:`check_verdict`: the decision rule (agree / disagree / undetectable here), whose
  threshold the learner derives (the MDD and a paired t test across seeds);
* :func:`check_epochs_to_threshold`: the first epoch whose training error reaches a threshold.

Each recognises the usual slips and names them in a hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy import stats

from ..ablation import decide, images_to_detect, seed_threshold
from ..scoring.stats import minimum_detectable_difference
from .core import ExerciseError, as_number, attempt, describe, passed

VERDICTS = ("agree", "disagree", "undetectable here")  # as course_lib.ablation.VERDICTS



# --------------------------------------------------------------------------------------------
# exercise 1: how many validation images a difference needs


def _z(q: float) -> float:
    return NormalDist().inv_cdf(q)


def _needed_slips(d: float, p: float) -> dict[str, float]:
    """The unrounded n each common slip gives (α = 0.05 two-sided, power 0.8)."""
    za, za1, zb = _z(0.975), _z(0.95), _z(0.8)
    p1, p2 = p, p - d
    pb = (p1 + p2) / 2
    pooled2, pooled1 = math.sqrt(2 * pb * (1 - pb)), math.sqrt(pb * (1 - pb))
    both = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return {
        "right": ((za * pooled2 + zb * both) / d) ** 2,
        "no power": (za * pooled2 / d) ** 2,
        "one proportion": ((za * pooled1 + zb * math.sqrt(p1 * (1 - p1))) / d) ** 2,
        "pooled without 2": ((za * pooled1 + zb * both) / d) ** 2,
        "one-sided": ((za1 * pooled2 + zb * both) / d) ** 2,
        "square root": (za * pooled2 + zb * both) / d,
        "points": ((za * pooled2 + zb * both) / (100 * d)) ** 2,
    }


NEEDED_HINTS = {
    "no power": " The power term is missing: add z(power)·√(p1(1 − p1) + p2(1 − p2)) to "
                "z(1 − α/2)·√(2·p̄(1 − p̄)) before dividing by the difference and squaring; "
                "without it only half the real effects of that size would be detected.",
    "one proportion": " That is the variance of one error rate. A *difference* of two "
                      "independent rates has the sum of their variances: 2·p̄(1 − p̄) under "
                      "the null, p1(1 − p1) + p2(1 − p2) under the alternative (the factor 2 "
                      "of a difference).",
    "pooled without 2": " The null-hypothesis term needs 2·p̄(1 − p̄), not p̄(1 − p̄): a "
                        "difference of two rates has twice the variance of one.",
    "one-sided": " Use the two-sided quantile z(1 − α/2) = 1.96, not z(1 − α) = 1.645: the "
                 "test asks whether the systems differ, in either direction.",
    "square root": " That is √n: square the ratio (z terms / difference) to get n.",
    "points": " Work in fractions: a 1.4-point difference is 0.014, and the error p is a "
              "fraction too.",
    "rounded down": " Round *up*: the answer is the smallest whole number of images that "
                    "reaches the power, so take the ceiling (math.ceil), not int() or round().",
    "not whole": " Return a whole number of images: round n up with math.ceil.",
}


def check_images_needed(fn: Callable | None) -> bool:
    """Exercise of notebook 06: ``fn(difference, error)`` returns the number of validation images
    each of two systems needs so that a two-sided two-proportion z-test at the 5 % level detects
    a drop of ``difference`` below ``error`` (fractions) with 80 % power: the smallest whole n
    with n ≥ ((z(0.975)·√(2p̄(1 − p̄)) + z(0.8)·√(p1(1 − p1) + p2(1 − p2))) / difference)²,
    p1 = error, p2 = error − difference, p̄ = (p1 + p2)/2."""
    name = "images_needed"
    cases = [(0.05, 0.25), (0.014, 0.30), (0.004, 0.30), (0.02, 0.10), (0.10, 0.50)]
    for d, p in cases:
        ok, got = attempt(name, fn, d, p)
        if not ok:
            return False
        want = images_to_detect(d, p)
        value = as_number(got)
        if value == want:
            continue
        slips = _needed_slips(d, p)
        hint = ""
        if math.isfinite(value) and value != int(value):
            hint = next((NEEDED_HINTS[s] for s in ("square root", "points") if
                         math.isclose(value, slips[s], rel_tol=1e-6)), NEEDED_HINTS["not whole"])
        elif value in (math.floor(slips["right"]), round(slips["right"])):
            hint = NEEDED_HINTS["rounded down"]
        else:
            for slip, hint_text in NEEDED_HINTS.items():
                if slip in slips and math.isfinite(value) and abs(value - slips[slip]) <= 1:
                    hint = hint_text
                    break
        mdd = minimum_detectable_difference(want, p)
        raise ExerciseError(
            f"{name}: to detect a drop of {d} (that is {100 * d:g} points) below an error of "
            f"{p} expected {want:,} images per system (at {want:,} the minimum detectable "
            f"difference is {mdd:.4f}), got {describe(got)}.{hint}")
    return passed(name, "Matches the Fleiss sample size for two proportions at five "
                        "(difference, error) pairs, and inverts "
                        "course_lib.scoring.minimum_detectable_difference.")


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


def _slip_thresholds(slip: str, values, mdd: float) -> list[float]:
    """The thresholds a verdict function with ``slip`` uses (one per variant of the slip)."""
    k = len(values)
    if k < 2:
        return [mdd] if slip in ("one seed", "no seeds") else [math.inf]
    mean = sum(values) / k
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (k - 1))
    t = float(stats.t.ppf(0.975, k - 1))
    variants = {
        "sd": [q * sd for q in (t, 1.96, 2.0)],
        "over k": [t * sd / k],
        "normal": [q * sd / math.sqrt(k) for q in (1.96, 2.0)],
        "k df": [float(stats.t.ppf(0.975, k)) * sd / math.sqrt(k)],
        "one-sided": [float(stats.t.ppf(0.95, k - 1)) * sd / math.sqrt(k)],
        "ddof 0": [t * sd * math.sqrt((k - 1) / k) / math.sqrt(k)],
        "no mdd": [t * sd / math.sqrt(k)],
        "no seeds": [mdd],
    }.get(slip, [t * sd / math.sqrt(k)])
    return variants if slip in ("no mdd", "no seeds") else [max(mdd, v) for v in variants]


def _slip_verdict(slip: str, mean: float, claimed, threshold: float) -> str:
    """What the verdict function with ``slip`` answers, given the threshold it uses."""
    value = mean if slip == "no abs" else abs(mean)
    beyond = value >= threshold if slip == "at threshold" else value > threshold
    if beyond:
        return "agree" if mean > 0 else "disagree"
    if claimed is not None and slip != "no claim rule":
        if (claimed if slip == "claim alone" else claimed - mean) > threshold:
            return "disagree"
    return "undetectable here"


def _slip_explains(slip: str, cases, answers) -> bool:
    """Whether one variant of ``slip`` gives every answer in ``answers`` for ``cases``."""
    per_case = [_slip_thresholds(slip, d, mdd) for d, mdd, _ in cases]
    variants = max(len(t) for t in per_case)
    return any(all(_slip_verdict(slip, sum(d) / len(d), claimed,
                                 thresholds[min(v, len(thresholds) - 1)]) == answer
                   for (d, _, claimed), thresholds, answer in zip(cases, per_case, answers))
               for v in range(variants))


def _as_given(values: list[float], i: int):
    """Case ``i``'s differences as a list, a numpy array or a pandas Series, in turn (a copy)."""
    return (list(values), np.array(values), pd.Series(values))[i % 3]


def check_verdict(fn: Callable | None) -> bool:
    """Exercise of notebook 06: ``fn(differences, mdd, claimed)`` returns "agree", "disagree"
    or "undetectable here". ``differences``: the per-seed differences in points (error without
    the component minus error with it; positive: the component helps, as the paper claims), a
    list, numpy array or pandas Series; ``mdd``: the minimum detectable difference in points;
    ``claimed``: the paper's effect in points, or None. The reference is
    :func:`course_lib.ablation.decide`.

    The learner gets a copy of each input; a function that changes it is refused. The hint
    names the slip that explains every answer given (else one that explains the first wrong
    one)."""
    name = "verdict"
    answers = []
    for i, (values, mdd, claimed) in enumerate(VERDICT_CASES):
        given = _as_given(values, i)
        if len(values) < 2:  # one seed: a function that cannot cope has made the slip
            try:
                ok, got = attempt(name, fn, given, mdd, claimed)
            except Exception as error:  # the learner's code: any error it raises
                raise ExerciseError(
                    f"{name}: with one seed (differences {values}) your function raised "
                    f"{type(error).__name__}: {error}.{VERDICT_HINTS['one seed']}") from None
        else:
            ok, got = attempt(name, fn, given, mdd, claimed)
        if not ok:
            return False
        answers.append(got.strip().lower() if isinstance(got, str) else got)
    wanted = [decide(d, mdd, claimed) for d, mdd, claimed in VERDICT_CASES]
    wrong = [(case, got, want) for case, got, want in zip(VERDICT_CASES, answers, wanted)
             if got != want]
    if not wrong:
        return passed(name, f"Right on all {len(VERDICT_CASES)} cases: one to six seeds, "
                            "edges included.")
    (values, mdd, claimed), got, want = wrong[0]
    if not isinstance(got, str) or got not in VERDICTS:
        hint = f" Return one of the strings {VERDICTS}."
    else:
        explains_all = [slip for slip in VERDICT_HINTS
                        if _slip_explains(slip, VERDICT_CASES, answers)]
        explains_this = [slip for slip in VERDICT_HINTS
                         if _slip_explains(slip, [(values, mdd, claimed)], [got])]
        slips = explains_all or explains_this
        hint = VERDICT_HINTS[slips[0]] if slips else ""
    threshold = max(mdd, seed_threshold(values))
    said = "infinite" if math.isinf(threshold) else f"{threshold:.3g} points"
    raise ExerciseError(
        f"{name}: per-seed differences {values}, mdd {mdd:g}, claimed {claimed}: the mean is "
        f"{sum(values) / len(values):+.3g} points and the threshold {said}, so expected "
        f"{want!r}, got {describe(got)}.{hint}")


# --------------------------------------------------------------------------------------------
# exercise 3: epochs to a training-error threshold


def _epochs_to_threshold(errors, threshold: float) -> int | None:
    for epoch, error in enumerate(errors, start=1):
        if error <= threshold:
            return epoch
    return None


EPOCH_CASES = [
    ([0.9, 0.5, 0.3, 0.2, 0.1], 0.25),
    ([0.9, 0.25, 0.3], 0.25),
    ([0.5, 0.24, 0.3, 0.1], 0.25),
    ([0.8, 0.6, 0.4], 0.25),
    ([0.2, 0.1], 0.25),
    ([0.7, 0.55, 0.45, 0.41], 0.5),
    ([0.6, 0.1, 0.2, 0.9], 0.25),
]


def _epoch_slips(errors, threshold: float) -> dict[str, object]:
    """What each common slip returns for one history."""
    right = _epochs_to_threshold(errors, threshold)
    hits = [e for e, x in enumerate(errors, 1) if x <= threshold]
    best = min(range(len(errors)), key=lambda i: errors[i]) + 1
    return {
        "zero-based": None if right is None else right - 1,
        "strict": next((e for e, x in enumerate(errors, 1) if x < threshold), None),
        "lowest": best if hits else None,
        "last": hits[-1] if hits else None,
        "cap": len(errors) if right is None else right,
    }


EPOCH_HINTS = {
    "zero-based": " Epochs are numbered from 1: the first epoch is epoch 1, not index 0.",
    "strict": " 'Reaches 25 %' means at or below the threshold (≤), not strictly below.",
    "lowest": " That is the epoch with the lowest error; the question is the *first* epoch at or "
              "below the threshold.",
    "last": " Return the first epoch at or below the threshold, not the last.",
    "cap": " When no epoch reaches the threshold, return None (the caller reports the cap as a "
           "bound), not the number of epochs run.",
}


def _same_epoch(got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return as_number(got) == want


def check_epochs_to_threshold(fn: Callable | None) -> bool:
    """Exercise of notebook 06: ``fn(train_errors, threshold)`` returns the 1-based number of the
    first epoch whose training error is at or below ``threshold`` (``train_errors``: one value per
    epoch, epoch 1 first, a list, numpy array or pandas Series), or None if no epoch reaches it.

    The hint names the slip that explains every answer given (else the first wrong one)."""
    name = "epochs_to_threshold"
    answers = []
    for i, (errors, threshold) in enumerate(EPOCH_CASES):
        wrapped = (list(errors), np.array(errors), pd.Series(errors))[i % 3]
        ok, got = attempt(name, fn, wrapped, threshold)
        if not ok:
            return False
        answers.append(got)
    wrong = [(case, got) for case, got in zip(EPOCH_CASES, answers)
             if not _same_epoch(got, _epochs_to_threshold(*case))]
    if not wrong:
        return passed(name, f"Right on {len(EPOCH_CASES)} histories (lists, numpy arrays, "
                            "pandas Series), the never-reached case included.")
    (errors, threshold), got = wrong[0]
    want = _epochs_to_threshold(errors, threshold)
    slips = [s for s in EPOCH_HINTS if all(_same_epoch(a, _epoch_slips(*c)[s])
                                           for c, a in zip(EPOCH_CASES, answers))]
    slips = slips or [s for s in EPOCH_HINTS if _same_epoch(got, _epoch_slips(errors, threshold)[s])]
    if slips:
        hint = EPOCH_HINTS[slips[0]]
    elif want is None:
        hint = " No epoch reaches the threshold here: return None."
    else:
        hint = ""
    raise ExerciseError(f"{name}: training errors {errors} per epoch and threshold "
                        f"{threshold}: expected {want}, got {describe(got)}.{hint}")
