"""The exercise checks of notebook 08 (scoring): right answers pass, each anticipated wrong answer
is caught with its own hint (unfinished ones: test_hostile_answers.py)."""

import numpy as np
import pytest
import torch
from check_helpers import answers_test

from course_lib.checks.scoring import (
    check_average_softmax,
    check_ece_from_bins,
    check_error_kinds,
    check_submission_line,
)
from course_lib.evaluate import predict_ensemble

# --- exercise 1: average the softmax ---------------------------------------------------------

def average_softmax(logits):
    return torch.softmax(logits, dim=-1).mean(dim=0)


def average_softmax_numpy(logits):
    z = logits.numpy().astype(np.float64)
    e = np.exp(z - z.max(axis=2, keepdims=True))
    return (e / e.sum(axis=2, keepdims=True)).mean(axis=0)


def test_average_softmax_agrees_with_predict_ensemble():
    """The reference the check holds is what the library's ten-crop/ensemble code computes:
    three 'models' that return fixed logits, averaged by predict_ensemble over the models."""
    logits = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(0))

    class Fixed(torch.nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, x):
            return self.out[: len(x)]

    batches = [(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.arange(4))]
    got = predict_ensemble([Fixed(z) for z in logits], batches, mode="center", crop_size=8,
                           device="cpu", precision="fp32")
    torch.testing.assert_close(got.scores, average_softmax(logits))


test_average_softmax = answers_test(check_average_softmax, right=[
    average_softmax, average_softmax_numpy,
], wrong=[
    (lambda z: torch.softmax(z.mean(dim=0), dim=-1), r"averaged the logits and then took the softmax"),
    (lambda z: z.mean(dim=0), r"not probabilities"),
    (lambda z: torch.nn.functional.one_hot(z.argmax(-1), z.shape[-1]).float().mean(0), r"counts votes"),
    (lambda z: torch.softmax(z, dim=0).mean(dim=0), r"not\s+over the views"),
    (lambda z: torch.softmax(z, dim=1).mean(dim=0), r"not\s+over the images"),
    (lambda z: torch.softmax(z, dim=-1).sum(dim=0), r"sum over the views"),
    (lambda z: torch.softmax(z, dim=-1).mean(dim=1), r"not over the images"),
    (lambda z: torch.softmax(z, dim=-1).mean(dim=-1), r"one number per view and image"),
], ids=["mean-logits-softmax", "mean-logits", "votes", "softmax-dim0", "softmax-dim1", "sum",
        "mean-over-images", "mean-over-classes"])


# --- exercise 2: one submission line --------------------------------------------------------

def submission_line(scores):
    best = np.argsort(-np.asarray(scores))[:5]
    return " ".join(str(int(i) + 1) for i in best)


def test_submission_line_matches_the_library_writer(tmp_path):
    """The check's expected line is what course_lib.scoring.write_submission writes."""
    from course_lib.checks.scoring import _submission_cases
    from course_lib.scoring import write_submission

    for scores, labels in _submission_cases():
        path = write_submission(tmp_path / "s.txt", scores[None, :], num_classes=len(scores))
        assert path.read_text() == " ".join(map(str, labels)) + "\n"


def pad_to_five(scores):  # always five labels, even with three classes
    labels = [int(i) + 1 for i in np.argsort(-scores)[:5]]
    return " ".join(map(str, labels + [1] * (5 - len(labels))))


test_submission_line = answers_test(check_submission_line, right=[submission_line], wrong=[
    (lambda s: " ".join(str(int(i)) for i in np.argsort(-s)[:5]), r"0-based.*i \+ 1"),
    (lambda s: " ".join(str(int(i) + 1) for i in np.argsort(s)[:5]), r"lowest scores.*-scores"),
    (lambda s: " ".join(str(int(i)) for i in np.argsort(s)[:5]), r"lowest scores"),
    (lambda s: " ".join(str(int(i) + 1) for i in np.argsort(-s)[:5][::-1]), r"wrong order"),
    (lambda s: " ".join(str(int(i) + 1) for i in np.argsort(-s)[:3]), r"top 5 labels.*here 3"),
    (lambda s: str([int(i) + 1 for i in np.argsort(-s)[:5]]), r"no brackets, commas"),
    (lambda s: ",".join(str(int(i) + 1) for i in np.argsort(-s)[:5]), r"no brackets, commas"),
    (lambda s: submission_line(s) + "\n", r"Leave the newline out"),
    (lambda s: "  ".join(submission_line(s).split()), r"single spaces"),
    (lambda s: [int(i) + 1 for i in np.argsort(-s)[:5]], r"Join the labels into one string"),
    (pad_to_five, r"'2 3 1'.*top 3 labels.*here 5"),
], ids=["zero-based", "ascending", "ascending-zero-based", "reversed", "three", "list-repr",
        "commas", "newline", "double-spaces", "not-a-string", "always-five"])


# --- exercise 3: near miss or absurd -------------------------------------------------------

def error_kinds(guesses, targets, lca, near_height):
    height = lca[guesses, targets]
    return np.where(guesses == targets, 0, np.where(height <= near_height, 1, 2))


def test_error_kinds_reference_agrees_with_hierarchical_cost():
    """A brute-force reading of the toy tree: the code is 0 exactly where the one-guess
    hierarchical cost is 0, and 1 exactly where it is between 1 and near_height."""
    from course_lib.checks.scoring import _kinds_case
    from course_lib.scoring import hierarchical_cost

    tree, lca, guesses, targets = _kinds_case()
    cost = hierarchical_cost(guesses, targets, tree, k=1).per_image
    for near in (1, 2):
        want = [0 if c == 0 else 1 if c <= near else 2 for c in cost]
        assert error_kinds(guesses, targets, lca, near).tolist() == want


test_error_kinds = answers_test(check_error_kinds, right=[
    error_kinds, lambda g, t, lca, n: torch.as_tensor(error_kinds(g, t, lca, n)),
], wrong=[
    (lambda g, t, lca, n: np.where(lca[g, t] <= n, 1, 2), r"test\s+guess == target first"),
    (lambda g, t, lca, n: np.where(g == t, 0, np.where(lca[g, t] < n, 1, 2)), r"use <=, not <"),
    (lambda g, t, lca, n: np.where(g == t, 0, np.where(lca[g, t] <= n, 2, 1)), r"codes are swapped"),
    (lambda g, t, lca, n: (g != t).astype(int), r"only says right \(0\) or wrong \(1\)"),
    (lambda g, t, lca, n: lca[g, t], r"first difference at image"),
    (lambda g, t, lca, n: error_kinds(g, t, lca, n)[:-1], r"one code per image"),
], ids=["correct-as-near", "strict", "swapped", "binary", "heights", "short"])


# --- exercise 4: ECE from the reliability table ----------------------------------------------

def ece_from_bins(counts, accuracy, confidence):
    used = counts > 0
    weights = counts[used] / counts[used].sum()
    return float((weights * np.abs(accuracy[used] - confidence[used])).sum())


def test_ece_reference_matches_a_brute_force_loop_over_images():
    """The check's expected value is the per-image definition: the mean over images of the gap
    of the bin each image falls in (computed here from scratch, image by image)."""
    from course_lib.checks.scoring import _ece_table

    counts, accuracy, confidence, want = _ece_table()
    per_image = []
    for b, n in enumerate(counts):
        per_image += [abs(accuracy[b] - confidence[b])] * int(n)
    assert want == pytest.approx(np.mean(per_image), rel=1e-12)
    assert (counts == 0).any(), "the table must have empty bins to catch the NaN slip"


test_ece_from_bins = answers_test(check_ece_from_bins, right=[ece_from_bins], wrong=[
    (lambda c, a, f: float(np.nanmean(np.abs(a - f))), r"unweighted mean"),
    (lambda c, a, f: float((c / c.sum() * np.abs(a - f)).sum()), r"leave out the bins"),
    (lambda c, a, f: abs(float(np.nansum(c / c.sum() * (a - f)))), r"absolute gap"),
    (lambda c, a, f: 100 * ece_from_bins(c, a, f), r"not a percentage"),
    (lambda c, a, f: float(np.nanmax(np.abs(a - f))), r"maximum calibration error"),
    (lambda c, a, f: float(np.nansum(c * np.abs(a - f)) / len(c)), r"not by the number of bins"),
    (lambda c, a, f: c / c.sum() * np.abs(a - f), r"one value per bin"),
], ids=["unweighted", "nan", "signed", "percent", "max", "per-bin", "array"])
