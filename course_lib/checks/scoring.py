"""Checks for the exercises of notebook 07 (scoring).

Each check runs the learner's function on small inputs built so that the usual slips give a
different answer, compares it with the library's own computation (:mod:`course_lib.scoring`,
:mod:`course_lib.evaluate`), and, when the answer is wrong, names the slip it recognises.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..hierarchy import Hierarchy
from ..scoring import calibration_bins, expected_calibration_error
from .core import ExerciseError, as_number, attempt, describe, passed, slip_hint

CORRECT, NEAR_MISS, ABSURD = 0, 1, 2
"""The codes of :func:`check_error_kinds`: a right guess, a wrong guess in the same part of the
tree (LCA height at most ``near_height``), a wrong guess elsewhere."""


def _to_numpy(got):
    """``got`` as a float64 numpy array (torch tensors included), or None if it is not one."""
    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# exercise 1: average the softmax outputs over views (crops) or models


def _softmax_logits():
    """``(V, N, C) = (4, 6, 5)`` float32 logits on which averaging logits, averaging
    probabilities and counting votes pick different classes for some images."""
    generator = torch.Generator().manual_seed(7)
    logits = 3.0 * torch.randn(4, 6, 5, generator=generator)
    # image 0: one very confident view against three mild ones that agree on another class
    logits[:, 0] = torch.tensor([[12.0, 0, 0, 0, 0], [0, 1.5, 0, 0, 0], [0, 1.5, 0, 0, 0],
                                 [0, 1.5, 0, 0, 0]])
    return logits


def check_average_softmax(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(logits (V, N, C))`` returns ``(N, C)`` probabilities, the
    mean over the V views (crops or models) of each view's softmax over the C classes."""
    name = "average_softmax"
    logits = _softmax_logits()
    ok, got = attempt(name, fn, logits.clone())
    if not ok:
        return False
    want = logits.softmax(dim=2).mean(dim=0).numpy().astype(np.float64)
    value = _to_numpy(got)
    shape = tuple(logits.shape)
    if value is None or value.shape != want.shape:
        hint = ""
        if value is not None and value.shape == shape[:2]:
            hint = (" That is one number per view and image: average over the views (dim 0) "
                    "and keep the classes.")
        elif value is not None and value.shape in ((shape[0], shape[2]), (shape[2],)):
            hint = " Average over the views (dim 0), not over the images."
        raise ExerciseError(f"{name}: for logits of shape {shape} (views, images, classes) "
                            f"expected probabilities of shape {want.shape}, got "
                            f"{describe(got)}.{hint}")
    if np.allclose(value, want, atol=1e-5):
        return passed(name, "The mean of the per-view softmax, as the paper's ten-crop and "
                            "ensembles average it.")
    mean_logits = logits.mean(dim=0)
    votes = torch.nn.functional.one_hot(logits.argmax(dim=2), shape[2]).double().mean(dim=0)
    slips = {
        "softmax of the averaged logits": (
            mean_logits.softmax(dim=1),
            " You averaged the logits and then took the softmax. The paper averages the "
            "softmax *outputs* [Krizhevsky et al. 2012, Sec. 4.1]: take the softmax of each "
            "view first, then the mean. (Image 0 shows the difference: one very confident "
            "view against three mild ones.)"),
        "averaged logits": (
            mean_logits,
            " These are averaged logits, not probabilities (a row should sum to 1): take "
            "the softmax of each view over the classes first."),
        "votes": (
            votes,
            " That counts votes (the share of views whose top class is each class). Average "
            "the probabilities instead: a confident view then counts for more than a hesitant "
            "one, and ties between classes are rare."),
        "softmax over the views": (
            logits.softmax(dim=0).mean(dim=0),
            " The softmax runs over the classes, the last dimension (dim=-1 or dim=2), not "
            "over the views."),
        "softmax over the images": (
            logits.softmax(dim=1).mean(dim=0),
            " The softmax runs over the classes, the last dimension (dim=-1 or dim=2), not "
            "over the images."),
        "sum": (
            logits.softmax(dim=2).sum(dim=0),
            " That is the sum over the views; divide by their number (the mean), so each "
            "row sums to 1."),
    }
    hint = slip_hint(value, slips, lambda got, slip: np.allclose(
        got, slip.numpy().astype(np.float64), atol=1e-5))
    raise ExerciseError(f"{name}: for logits of shape {shape} the probabilities differ from "
                        f"the mean of the per-view softmax (largest gap "
                        f"{np.nanmax(np.abs(value - want)):.3g}).{hint}")


# --------------------------------------------------------------------------------------------
# exercise 2: one line of an ILSVRC submission file


def _submission_cases():
    """``[(scores (C,), expected labels)]``: 12 classes, and 3 classes (fewer than five)."""
    rng = np.random.default_rng(3)
    many = rng.permutation(12).astype(np.float64) / 12 + rng.uniform(0, 0.01, 12)
    few = np.array([0.2, 0.5, 0.3])
    return [(scores, (np.argsort(-scores)[:5] + 1).tolist()) for scores in (many, few)]


def check_submission_line(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(scores (C,))`` returns one line of an ILSVRC submission for
    one image, as a string: the labels of the ``min(5, C)`` highest-scoring classes, best first,
    1-based (class index i is written i + 1), separated by single spaces, no newline."""
    name = "submission_line"
    for scores, want in _submission_cases():
        ok, got = attempt(name, fn, scores.copy())
        if not ok:
            return False
        where = f"for scores {np.round(scores, 3).tolist()}"
        expected = " ".join(map(str, want))
        if not isinstance(got, str):
            raise ExerciseError(f"{name}: {where} expected the string {expected!r}, got "
                                f"{describe(got)}. Join the labels into one string: "
                                "' '.join(str(label) for label in labels).")
        if got == expected:
            continue
        if got.rstrip("\r\n") == expected:
            raise ExerciseError(f"{name}: {where} expected {expected!r}, got {got!r}. Leave the "
                                "newline out: the code that writes the file adds one per line.")
        tokens = got.split()
        if not tokens or not all(t.lstrip("-").isdigit() for t in tokens):
            raise ExerciseError(f"{name}: {where} expected {expected!r}, got {got!r}. A line "
                                "holds only integers separated by single spaces (no brackets, "
                                "commas or names): ' '.join(str(label) for label in labels).")
        labels = [int(t) for t in tokens]
        k = len(want)
        ascending = (np.argsort(scores) + 1).tolist()
        hint = ""
        if labels == [x - 1 for x in want]:
            hint = (" Those are 0-based class indices; ILSVRC labels are 1-based: write "
                    "index i as i + 1.")
        elif labels == ascending[:k] or labels == [x - 1 for x in ascending[:k]]:
            hint = (" Those are the lowest scores: np.argsort sorts in ascending order, so sort "
                    "-scores (or reverse the order) to get the best first.")
        elif labels == want[::-1] or labels == [x - 1 for x in want[::-1]]:
            hint = " Right labels, wrong order: the best guess comes first."
        elif len(labels) != k:
            hint = (f" A line holds the top {k} labels (five, or every class when there are "
                    f"fewer than five), here {len(labels)}.")
        elif got != " ".join(tokens):
            hint = " Separate the labels by single spaces, with nothing before or after."
        raise ExerciseError(f"{name}: {where} expected {expected!r}, got {got!r}.{hint}")
    return passed(name, "Five labels, best first, 1-based; fewer when there are fewer classes.")


# --------------------------------------------------------------------------------------------
# exercise 3: near miss or absurd, from the height of the lowest common ancestor


def _kinds_case():
    """A toy tree of height 3, with guesses covering every kind of error."""
    parents = {"animal": ["root"], "thing": ["root"], "cat": ["animal"], "dog": ["animal"],
               "Siamese": ["cat"], "Burmese": ["cat"], "husky": ["dog"], "beagle": ["dog"],
               "car": ["thing"], "boat": ["thing"]}
    tree = Hierarchy(parents, ["Siamese", "Burmese", "husky", "beagle", "car", "boat"])
    lca = np.asarray(tree.lca_height_matrix())
    targets = np.array([0, 0, 0, 0, 2, 2, 4, 4, 5, 3])
    guesses = np.array([0, 1, 2, 4, 3, 2, 5, 0, 5, 1])
    return tree, lca, guesses, targets


def _kinds(guesses, targets, lca, near_height):
    height = lca[guesses, targets]
    return np.where(guesses == targets, CORRECT,
                    np.where(height <= near_height, NEAR_MISS, ABSURD)).astype(np.int64)


def check_error_kinds(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(guesses (N,) int, targets (N,) int, lca_heights (C, C) int,
    near_height int)`` returns ``(N,) int``: 0 where the guess is right, 1 (a near miss) where it
    is wrong but the lowest common ancestor of guess and truth has height ≤ ``near_height``,
    2 (absurd) where that height is larger."""
    name = "error_kinds"
    tree, lca, guesses, targets = _kinds_case()
    for near_height in (1, 2):
        ok, got = attempt(name, fn, guesses.copy(), targets.copy(), lca.copy(), near_height)
        if not ok:
            return False
        want = _kinds(guesses, targets, lca, near_height)
        value = _to_numpy(got)
        where = (f"guesses {guesses.tolist()} for targets {targets.tolist()} in a toy tree "
                 f"(cats, dogs, vehicles; root height 3) with near_height = {near_height}")
        if value is None or value.shape != want.shape:
            raise ExerciseError(f"{name}: {where}: expected one code per image, shape "
                                f"{want.shape}, got {describe(got)}.")
        if np.array_equal(value, want):
            continue
        height = lca[guesses, targets]
        hint = ""
        no_correct = np.where(height <= near_height, NEAR_MISS, ABSURD)
        strict = np.where(guesses == targets, CORRECT,
                          np.where(height < near_height, NEAR_MISS, ABSURD))
        swapped = np.where(want == CORRECT, CORRECT, 3 - want)
        if np.array_equal(value, no_correct):
            hint = (" A right guess has LCA height 0, which is also ≤ near_height: test "
                    "guess == target first, and give those images code 0.")
        elif np.array_equal(value, strict):
            hint = (" An LCA of height exactly near_height is still a near miss: use <=, "
                    "not <.")
        elif np.array_equal(value, swapped):
            hint = " The codes are swapped: 1 is a near miss (small height), 2 is absurd."
        elif np.array_equal(value, (want != CORRECT).astype(int)):
            hint = " That only says right (0) or wrong (1); split the wrong ones into 1 and 2."
        first = int(np.argmax(value != want))
        raise ExerciseError(
            f"{name}: {where}: expected {want.tolist()}, got {value.astype(int).tolist()} "
            f"(first difference at image {first}: guess {tree.leaves[guesses[first]]!r} for "
            f"{tree.leaves[targets[first]]!r}, LCA height {int(height[first])}).{hint}")
    return passed(name, "Right, near miss and absurd, for two thresholds.")


# --------------------------------------------------------------------------------------------
# exercise 4: expected calibration error from a reliability table


def _ece_table():
    """A reliability table (10 bins) of over- and under-confident predictions with empty bins:
    ``(counts, accuracy, confidence, expected ECE)``."""
    rng = np.random.default_rng(11)
    n, c = 400, 4
    top = np.concatenate([rng.uniform(0.3, 0.45, n // 2), rng.uniform(0.8, 0.99, n // 2)])
    scores = np.empty((n, c))
    scores[:, 0] = top
    scores[:, 1:] = ((1 - top) / (c - 1))[:, None]
    # the hesitant half is under-confident (right 70 % of the time), the sure half
    # over-confident (right 60 % of the time)
    right = np.concatenate([rng.uniform(size=n // 2) < 0.7, rng.uniform(size=n // 2) < 0.6])
    labels = np.where(right, 0, rng.integers(1, c, n))
    table = calibration_bins(scores, labels, n_bins=10)
    want = expected_calibration_error(scores, labels, n_bins=10)
    return (table["count"].to_numpy(), table["accuracy"].to_numpy(),
            table["confidence"].to_numpy(), want)


def check_ece_from_bins(fn: Callable | None) -> bool:
    """Exercise of notebook 07: ``fn(counts (B,) int, accuracy (B,) float, confidence (B,)
    float)`` returns the expected calibration error, a fraction: the mean over images of
    ``|accuracy − confidence|`` of their bin, i.e. ``Σ_b (n_b / N) |acc_b − conf_b|``. Empty
    bins have ``count`` 0 and NaN accuracy and confidence."""
    name = "ece_from_bins"
    counts, accuracy, confidence, want = _ece_table()
    ok, got = attempt(name, fn, counts.copy(), accuracy.copy(), confidence.copy())
    if not ok:
        return False
    value = as_number(got)
    if math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-12):
        return passed(name, "Matches course_lib.scoring.expected_calibration_error.")
    used = counts > 0
    gap = accuracy[used] - confidence[used]
    weights = counts[used] / counts[used].sum()
    hint = ""
    if np.size(got) > 1:
        hint = " That is one value per bin: weight them by the bins' shares and add them up."
    elif math.isnan(value):
        hint = (" The empty bins hold NaN (no images, so no accuracy): leave out the bins with "
                "count 0, e.g. with a mask counts > 0.")
    elif math.isclose(value, np.abs(gap).mean(), rel_tol=1e-6):
        hint = (" That is the unweighted mean over the bins: weight each bin by its share of "
                "the images, counts / counts.sum(), so a bin of 3 images counts less than one "
                "of 200.")
    elif math.isclose(value, abs(float((weights * gap).sum())), rel_tol=1e-6):
        hint = (" Take the absolute gap |accuracy − confidence| per bin before adding: "
                "over- and under-confident bins must not cancel out.")
    elif math.isclose(value, 100 * want, rel_tol=1e-6):
        hint = " Return a fraction, not a percentage."
    elif math.isclose(value, np.abs(gap).max(), rel_tol=1e-6):
        hint = " That is the largest gap (the maximum calibration error); ECE is the weighted mean."
    elif math.isclose(value, (counts[used] * np.abs(gap)).sum() / len(counts), rel_tol=1e-6) or \
            math.isclose(value, (counts[used] * np.abs(gap)).sum() / used.sum(), rel_tol=1e-6):
        hint = " Divide by the number of images N = counts.sum(), not by the number of bins."
    raise ExerciseError(f"{name}: for a 10-bin table of {int(counts.sum())} images "
                        f"({int((~used).sum())} bins empty) expected {want:.4f}, got "
                        f"{describe(got)}.{hint}")
