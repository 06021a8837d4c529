"""Checks for the exercises of notebook 08 (scoring).

Each check runs the learner's function on small inputs built so that the usual slips give a
different answer, compares it with the library's own computation (:mod:`course_lib.scoring`,
:mod:`course_lib.evaluate`), and, when the answer is wrong, names the slip it recognises.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from ..hierarchy import Hierarchy
from ..scoring import calibration_bins, expected_calibration_error
from .core import as_array, as_number, check_cases, close, wrong_answer

CORRECT, NEAR_MISS, ABSURD = 0, 1, 2
"""The codes of :func:`check_error_kinds`: a right guess, a wrong guess in the same part of the
tree (LCA height at most ``near_height``), a wrong guess elsewhere."""

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them). Each exercise is a function; declared are
# the results its use prints right after it in the laptop run's kept outputs (update them when a
# re-execution changes those outputs).
ANSWERS: dict[str, tuple[str, ...]] = {
    # section 2's table: top-1 error with ten crops, and with three networks × ten crops
    "average_softmax": ("31.2%", "26.6%"),
    # nothing: the lines it writes are the model's guesses, and the statement's own example
    # ("2 3 1" for [0.1, 0.6, 0.3]) is the format the exercise asks for, not a result
    "submission_line": (),
    # the near-miss share of the errors: centre crop, ten crops
    "error_kinds": ("96%", "97%"),
    # the ECE of the centre crop and of the ten crops, and the bin-weighted sum the learner
    # derives from the per-image definition
    "ece_from_bins": ("7.3%", "13.1%", "n_b / N", "Σ_b", "counts / counts.sum()",
                      "counts[used] / counts[used].sum()"),
}


# --------------------------------------------------------------------------------------------
# exercise 1: average the softmax outputs over views (crops) or models


_NOT_OVER = (" The softmax runs over the classes, the last dimension (dim=-1 or dim=2), not over "
             "the ")
AVERAGE_SOFTMAX_SLIPS = [
    (lambda z: z.mean(dim=0).softmax(dim=1),
     " You averaged the logits and then took the softmax. The paper averages the softmax "
     "*outputs* [Krizhevsky et al. 2012, Sec. 4.1]: take the softmax of each view first, then "
     "the mean. (Image 0 shows the difference: one very confident view against three mild "
     "ones.)"),
    (lambda z: z.mean(dim=0), " These are averaged logits, not probabilities (a row should sum "
                              "to 1): take the softmax of each view over the classes first."),
    (lambda z: torch.nn.functional.one_hot(z.argmax(dim=2), z.shape[2]).double().mean(dim=0),
     " That counts votes (the share of views whose top class is each class). Average the "
     "probabilities instead: a confident view then counts for more than a hesitant one, and "
     "ties between classes are rare."),
    (lambda z: z.softmax(dim=0).mean(dim=0), _NOT_OVER + "views."),
    (lambda z: z.softmax(dim=1).mean(dim=0), _NOT_OVER + "images."),
    (lambda z: z.softmax(dim=2).sum(dim=0), " That is the sum over the views; divide by their "
                                            "number (the mean), so each row sums to 1."),
]


def check_average_softmax(fn: Callable | None) -> bool:
    """Exercise of notebook 08: ``fn(logits (V, N, C))`` returns ``(N, C)`` probabilities, the
    mean over the V views (crops or models) of each view's softmax over the C classes."""
    logits = 3.0 * torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(7))
    # image 0: one very confident view against three mild ones that agree on another class, so
    # averaging logits, averaging probabilities and counting votes pick different classes
    logits[:, 0] = torch.tensor([[12.0, 0, 0, 0, 0], *[[0, 1.5, 0, 0, 0]] * 3])
    views, images, classes = logits.shape
    where = f"for logits of shape {(views, images, classes)} (views, images, classes)"

    def read(got, _):
        value = as_array(got)
        shape = getattr(value, "shape", None)
        if shape != (images, classes):
            hint = (" That is one number per view and image: average over the views (dim 0) "
                    "and keep the classes." if shape == (views, images) else
                    " Average over the views (dim 0), not over the images."
                    if shape in ((views, classes), (classes,)) else "")
            raise wrong_answer("average_softmax", where,
                           f"probabilities of shape {(images, classes)}", got, hint)
        return value

    return check_cases(
        "average_softmax", fn, [(logits,)], read=read, slips=AVERAGE_SOFTMAX_SLIPS,
        reference=lambda z: z.softmax(dim=2).mean(dim=0), where=lambda _: where,
        same=functools.partial(close, rel=1e-5, abs_tol=1e-5),
        shown=lambda _: "the mean of the per-view softmax",
        done="The mean of the per-view softmax, as the paper's ten-crop and ensembles average it.")


# --------------------------------------------------------------------------------------------
# exercise 2: one line of an ILSVRC submission file


def _best_first(scores) -> list[int]:
    """The 1-based labels of the ``min(5, C)`` highest of ``scores (C,)``, best first."""
    return (np.argsort(-scores)[:5] + 1).tolist()


def _submission_cases():
    """``[(scores (C,), expected labels)]``: 12 classes, and 3 classes (fewer than five)."""
    rng = np.random.default_rng(3)
    many = rng.permutation(12).astype(np.float64) / 12 + rng.uniform(0, 0.01, 12)
    return [(scores, _best_first(scores)) for scores in (many, np.array([0.2, 0.5, 0.3]))]


_LOWEST = (" Those are the lowest scores: np.argsort sorts in ascending order, so sort -scores "
           "(or reverse the order) to get the best first.")
_ORDER = " Right labels, wrong order: the best guess comes first."
SUBMISSION_SLIPS = [
    (lambda s: [x - 1 for x in _best_first(s)],
     " Those are 0-based class indices; ILSVRC labels are 1-based: write index i as i + 1."),
    (lambda s: (np.argsort(s)[:5] + 1).tolist(), _LOWEST),
    (lambda s: np.argsort(s)[:5].tolist(), _LOWEST),
    (lambda s: _best_first(s)[::-1], _ORDER),
    (lambda s: [x - 1 for x in _best_first(s)[::-1]], _ORDER),
]


def _submission_where(scores) -> str:
    return f"for scores {np.round(scores, 3).tolist()}"


def _read_line(got, scores) -> list[int]:
    """The labels of a line, once it is a string of single-spaced integers and no newline."""
    line, k = " ".join(map(str, _best_first(scores))), min(5, len(scores))
    text = got if isinstance(got, str) else ""
    tokens = text.split()
    hint = next((hint for wrong, hint in [
        (not isinstance(got, str),
         " Join the labels into one string: ' '.join(str(label) for label in labels)."),
        (text != line and text.rstrip("\r\n") == line,
         " Leave the newline out: the code that writes the file adds one per line."),
        (not tokens or not all(t.lstrip("-").isdigit() for t in tokens),
         " A line holds only integers separated by single spaces (no brackets, commas or "
         "names): ' '.join(str(label) for label in labels)."),
        (len(tokens) != k, f" A line holds the top {k} labels (five, or every class when there "
                           f"are fewer than five), here {len(tokens)}."),
        (text != " ".join(tokens),
         " Separate the labels by single spaces, with nothing before or after."),
    ] if wrong), None)
    if hint is not None:
        raise wrong_answer("submission_line", _submission_where(scores), repr(line), got, hint)
    return [int(t) for t in tokens]


def check_submission_line(fn: Callable | None) -> bool:
    """Exercise of notebook 08: ``fn(scores (C,))`` returns one line of an ILSVRC submission for
    one image, as a string: the labels of the ``min(5, C)`` highest-scoring classes, best first,
    1-based (class index i is written i + 1), separated by single spaces, no newline."""
    return check_cases(
        "submission_line", fn, [(scores,) for scores, _ in _submission_cases()],
        read=_read_line, reference=_best_first, slips=SUBMISSION_SLIPS, where=_submission_where,
        shown=lambda labels: repr(" ".join(map(str, labels))),
        done="Five labels, best first, 1-based; fewer when there are fewer classes.")


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


def _kinds(guesses, targets, lca, near_height, right=CORRECT, near=NEAR_MISS, far=ABSURD,
           strict=False):
    """The codes, or a slip of them: other codes, or ``<`` for ``<=`` when ``strict``."""
    height = lca[guesses, targets]
    is_near = height < near_height if strict else height <= near_height
    return np.where(guesses == targets, right, np.where(is_near, near, far)).astype(np.int64)


ERROR_KINDS_SLIPS = [
    (lambda *case: _kinds(*case, right=NEAR_MISS),
     " A right guess has LCA height 0, which is also ≤ near_height: test guess == target "
     "first, and give those images code 0."),
    (lambda *case: _kinds(*case, strict=True),
     " An LCA of height exactly near_height is still a near miss: use <=, not <."),
    (lambda *case: _kinds(*case, near=ABSURD, far=NEAR_MISS),
     " The codes are swapped: 1 is a near miss (small height), 2 is absurd."),
    (lambda *case: _kinds(*case, far=NEAR_MISS),
     " That only says right (0) or wrong (1); split the wrong ones into 1 and 2."),
]


def check_error_kinds(fn: Callable | None) -> bool:
    """Exercise of notebook 08: ``fn(guesses (N,) int, targets (N,) int, lca_heights (C, C) int,
    near_height int)`` returns ``(N,) int``: 0 where the guess is right, 1 (a near miss) where it
    is wrong but the lowest common ancestor of guess and truth has height ≤ ``near_height``,
    2 (absurd) where that height is larger."""
    tree, lca, guesses, targets = _kinds_case()
    codes = {}  # near_height -> the answer's codes, whose first difference the message names
    said = (f"guesses {guesses.tolist()} for targets {targets.tolist()} in a toy tree (cats, "
            "dogs, vehicles; root height 3) with near_height = {}")

    def read(got, *case):
        codes[case[3]] = value = as_array(got)
        if getattr(value, "shape", None) != guesses.shape:
            raise wrong_answer("error_kinds", said.format(case[3]),
                           f"one code per image, shape {guesses.shape}", got)
        return value

    def where(g, t, heights, near):
        i = int(np.argmax(codes[near] != _kinds(g, t, heights, near)))
        return (f"{said.format(near)}, your codes {codes[near].astype(int).tolist()} (first "
                f"difference at image {i}: guess {tree.leaves[g[i]]!r} for "
                f"{tree.leaves[t[i]]!r}, LCA height {int(heights[g[i], t[i]])})")

    return check_cases(
        "error_kinds", fn, [(guesses, targets, lca, near) for near in (1, 2)], read=read,
        reference=_kinds, slips=ERROR_KINDS_SLIPS, where=where,
        shown=lambda want: str(want.tolist()),
        done="Right, near miss and absurd, for two thresholds.")


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
    """Exercise of notebook 08: ``fn(counts (B,) int, accuracy (B,) float, confidence (B,)
    float)`` returns the expected calibration error, a fraction: the mean over images of
    ``|accuracy − confidence|`` of their bin, i.e. ``Σ_b (n_b / N) |acc_b − conf_b|``. Empty
    bins have ``count`` 0 and NaN accuracy and confidence."""
    counts, accuracy, confidence, want = _ece_table()
    used = counts > 0
    n, gap = counts[used], accuracy[used] - confidence[used]
    where = f"for a 10-bin table of {int(counts.sum())} images ({int((~used).sum())} bins empty)"

    def read(got, *_):
        hint = (" That is one value per bin: weight them by the bins' shares and add them up."
                if np.size(got) > 1 else
                " The empty bins hold NaN (no images, so no accuracy): leave out the bins with "
                "count 0, e.g. with a mask counts > 0." if math.isnan(as_number(got)) else None)
        if hint is not None:
            raise wrong_answer("ece_from_bins", where, f"{want:.4f}", got, hint)
        return as_number(got)

    per_bin = " Divide by the number of images N = counts.sum(), not by the number of bins."
    slips = [
        (lambda *_: np.abs(gap).mean(), " That is the unweighted mean over the bins: weight "
         "each bin by its share of the images, counts / counts.sum(), so a bin of 3 images "
         "counts less than one of 200."),
        (lambda *_: abs((n * gap).sum() / n.sum()), " Take the absolute gap |accuracy − "
         "confidence| per bin before adding: over- and under-confident bins must not cancel "
         "out."),
        (lambda *_: 100 * want, " Return a fraction, not a percentage."),
        (lambda *_: np.abs(gap).max(), " That is the largest gap (the maximum calibration "
                                       "error); ECE is the weighted mean."),
        (lambda *_: (n * np.abs(gap)).sum() / len(counts), per_bin),
        (lambda *_: (n * np.abs(gap)).sum() / used.sum(), per_bin),
    ]
    return check_cases(
        "ece_from_bins", fn, [(counts, accuracy, confidence)], read=read,
        reference=lambda *_: want, slips=slips, same=functools.partial(close, rel=1e-6),
        where=lambda *_: where, shown=lambda want: f"{want:.4f}",
        done="Matches course_lib.scoring.expected_calibration_error.")
