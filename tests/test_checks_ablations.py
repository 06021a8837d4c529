"""The exercise checks of notebook 06: right answers pass, wrong ones get the hint for their slip.

The right answers are written here from the exercise statements, not taken from the library the
checks compare with.
"""

import math
from statistics import NormalDist

import numpy as np
import pytest
from check_helpers import not_attempted_test

from course_lib.checks.ablations import (
    check_epochs_to_threshold,
    check_images_needed,
    check_verdict,
)
from course_lib.checks.core import ExerciseError

ALL_CHECKS = [check_images_needed, check_verdict, check_epochs_to_threshold]


test_not_attempted_is_reported_not_failed = not_attempted_test(ALL_CHECKS)


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


def test_images_needed_right_answer_passes(capsys):
    assert check_images_needed(images_needed) is True
    assert "correct" in capsys.readouterr().out


def test_images_needed_numpy_integer_passes():
    assert check_images_needed(lambda d, p: np.int64(images_needed(d, p))) is True


def test_images_needed_matches_the_issue_figure():
    # notebook 02's figure: at 1,000 images and 25 % error about 5 points are detectable, so
    # detecting exactly 5 points needs a little over 1,000 images
    assert 1_000 < images_needed(0.05, 0.25) < 1_200


@pytest.mark.parametrize("wrong,match", [
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
def test_images_needed_wrong_answers_get_their_hint(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        check_images_needed(wrong)


def test_images_needed_message_names_the_case():
    with pytest.raises(ExerciseError, match="drop of 0.05 .* below an error of 0.25 expected "
                                            "1,094 images"):
        check_images_needed(lambda d, p: 1)


# --- exercise 2: the verdict ------------------------------------------------------------------


def verdict(difference, spread, mdd, claimed):
    threshold = max(mdd, 2 * spread)
    if abs(difference) > threshold:
        return "agree" if difference > 0 else "disagree"
    if claimed is not None and claimed - difference > threshold:
        return "disagree"
    return "undetectable here"


def test_verdict_right_answer_passes(capsys):
    assert check_verdict(verdict) is True
    assert "correct" in capsys.readouterr().out


def test_verdict_accepts_case_and_spaces():
    assert check_verdict(lambda *a: " " + verdict(*a).upper()) is True


def _slip(kind):
    def fn(difference, spread, mdd, claimed):
        threshold = {"no spread": mdd, "spread once": max(mdd, spread),
                     "no mdd": 2 * spread}.get(kind, max(mdd, 2 * spread))
        value = difference if kind == "no abs" else abs(difference)
        beyond = value >= threshold if kind == "at threshold" else value > threshold
        if beyond:
            return "agree" if difference > 0 else "disagree"
        if claimed is not None and kind != "no claim rule":
            if (claimed if kind == "claim alone" else claimed - difference) > threshold:
                return "disagree"
        return "undetectable here"
    return fn


@pytest.mark.parametrize("kind,match", [
    ("no spread", "twice the spread across seeds"),
    ("spread once", "twice the spread \\(2·spread\\)"),
    ("no mdd", "minimum detectable difference \\*and\\* twice"),
    ("no abs", "wrong direction"),
    ("no claim rule", "would have seen an effect of the paper's size"),
    ("claim alone", "claimed − difference > threshold"),
    ("at threshold", "strictly beyond"),
])
def test_verdict_wrong_answers_get_their_hint(kind, match):
    with pytest.raises(ExerciseError, match=match):
        check_verdict(_slip(kind))


def test_verdict_not_a_verdict_string():
    with pytest.raises(ExerciseError, match="Return one of the strings"):
        check_verdict(lambda *a: True)


def test_verdict_one_seed_never_detects():
    assert verdict(50.0, math.inf, 0.1, 1.0) == "undetectable here"


# --- exercise 3: epochs to threshold ------------------------------------------------------------


def epochs_to_threshold(train_errors, threshold):
    for epoch, error in enumerate(train_errors, start=1):
        if error <= threshold:
            return epoch
    return None


def test_epochs_right_answer_passes(capsys):
    assert check_epochs_to_threshold(epochs_to_threshold) is True
    assert "correct" in capsys.readouterr().out


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


@pytest.mark.parametrize("wrong,match", [
    (_zero_based, "numbered from 1"),
    (_strict, "at or below the threshold \\(≤\\)"),
    (_argmin, "lowest error"),
    (_last, "not the last"),
    (_cap, "return None \\(the caller reports the cap as a bound\\)"),
    (lambda e, t: -1 if epochs_to_threshold(e, t) is None else epochs_to_threshold(e, t),
     "return None"),
])
def test_epochs_wrong_answers_get_their_hint(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        check_epochs_to_threshold(wrong)
