"""Top-k error, per-class error, confusion matrix and hierarchical cost against brute-force loops."""

import numpy as np
import pytest
import torch

from course_lib.hierarchy import Hierarchy
from course_lib.scoring import (
    NORMALIZED_FORM,
    RAW_FORM,
    confusion_matrix,
    hierarchical_cost,
    lca_matrix_in_order,
    per_image_topk_error,
    top_guesses,
    topk_error,
)


def brute_top_guesses(scores, k):
    """Per row: the k classes with the largest scores, best first (no ties in random floats)."""
    out = []
    for row in np.asarray(scores).tolist():
        ranked = sorted(range(len(row)), key=lambda j: row[j], reverse=True)
        out.append(ranked[:k])
    return out


def brute_topk_error(guess_rows, targets, k):
    """guess_rows: list of lists (any length, -1 = none)."""
    wrong = 0
    for row, t in zip(guess_rows, targets):
        first = [g for g in row[:k] if g >= 0]
        if t not in first:
            wrong += 1
    return wrong / len(targets)


def random_guess_rows(rng, n, c, max_guesses=5):
    """Rows of 1..5 guesses (some with fewer than five, some with repeats), padded with -1."""
    rows = []
    for _ in range(n):
        g = int(rng.integers(1, max_guesses + 1))
        rows.append(list(rng.integers(0, c, g)) + [-1] * (max_guesses - g))
    return np.array(rows, dtype=np.int64)


@pytest.mark.parametrize("n,c", [(200, 10), (300, 1000), (64, 3)])
def test_topk_error_on_scores_matches_brute_force(n, c):
    rng = np.random.default_rng(n + c)
    scores = rng.standard_normal((n, c)).astype(np.float32)
    targets = rng.integers(0, c, n)
    for k in (1, 2, 5):
        ref = brute_topk_error(brute_top_guesses(scores, k), targets, k)
        assert topk_error(scores, targets, k) == pytest.approx(ref, abs=1e-12)
        assert topk_error(torch.from_numpy(scores), torch.from_numpy(targets), k) == \
            pytest.approx(ref, abs=1e-12)


def test_top_guesses_order_matches_brute_force():
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((50, 30))
    assert top_guesses(scores, 5).tolist() == brute_top_guesses(scores, 5)
    assert top_guesses(scores, 50).shape == (50, 30)  # k > C: all classes


def test_topk_error_on_guess_arrays_with_fewer_than_five_guesses():
    rng = np.random.default_rng(2)
    guesses = random_guess_rows(rng, 500, 12)
    targets = rng.integers(0, 12, 500)
    assert (guesses == -1).any(), "the case under test: lines with fewer than five guesses"
    for k in range(1, 6):
        ref = brute_topk_error(guesses.tolist(), targets, k)
        assert topk_error(guesses, targets, k) == pytest.approx(ref, abs=1e-12)
        assert topk_error(torch.from_numpy(guesses), targets, k) == pytest.approx(ref, abs=1e-12)


def test_one_dimensional_predictions():
    preds = np.array([0, 1, 2, 3])
    targets = np.array([0, 1, 0, 0])
    assert topk_error(preds, targets, 1) == 0.5
    assert topk_error(preds, targets, 5) == 0.5  # one guess per image: top-5 = top-1


def test_hand_computed_topk():
    scores = np.array([[0.1, 0.5, 0.3, 0.2],    # ranking 1, 2, 3, 0
                       [0.9, 0.05, 0.03, 0.02],  # ranking 0, 1, 2, 3
                       [0.2, 0.3, 0.4, 0.1]])    # ranking 2, 1, 0, 3
    targets = np.array([2, 0, 3])
    assert topk_error(scores, targets, 1) == pytest.approx(2 / 3)  # only image 2 right
    assert topk_error(scores, targets, 2) == pytest.approx(1 / 3)  # image 0 joins
    assert topk_error(scores, targets, 3) == pytest.approx(1 / 3)  # image 2's 3 is last
    assert topk_error(scores, targets, 4) == 0.0


def test_ties_follow_torch_topk():
    """Heavily tied scores: which tied classes count is exactly what torch.topk returns."""
    rng = np.random.default_rng(3)
    for c in (4, 10, 100, 1000):
        scores = rng.integers(0, 3, (300, c)).astype(np.float32)
        targets = rng.integers(0, c, 300)
        for k in (1, 2, 5):
            chosen = torch.topk(torch.from_numpy(scores), min(k, c), dim=1).indices.numpy()
            ref = brute_topk_error(chosen.tolist(), targets, k)
            assert topk_error(scores, targets, k) == pytest.approx(ref, abs=1e-12)
            assert np.array_equal(top_guesses(scores, k), chosen)
            # whatever the tie-break, it is bracketed by the optimistic and pessimistic counts
            target_scores = scores[np.arange(300), targets]
            above = (scores > target_scores[:, None]).sum(axis=1)
            at_or_above = (scores >= target_scores[:, None]).sum(axis=1)
            optimistic, pessimistic = np.mean(above >= k), np.mean(at_or_above > k)
            assert optimistic <= topk_error(scores, targets, k) <= pessimistic


def test_float16_and_float64_scores():
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((100, 20))
    targets = rng.integers(0, 20, 100)
    ref = brute_topk_error(brute_top_guesses(scores, 5), targets, 5)
    assert topk_error(scores, targets, 5) == pytest.approx(ref)
    half = torch.from_numpy(scores).half()
    chosen = torch.topk(half, 5).indices.numpy()
    assert topk_error(half, targets, 5) == pytest.approx(brute_topk_error(chosen.tolist(),
                                                                          targets, 5))


def test_confusion_matrix_matches_brute_force():
    rng = np.random.default_rng(6)
    c = 5
    scores = rng.standard_normal((300, c))
    targets = rng.integers(0, c, 300)
    ref = np.zeros((c, c), dtype=int)
    for row, t in zip(brute_top_guesses(scores, 1), targets):
        ref[t, row[0]] += 1
    assert np.array_equal(confusion_matrix(scores, targets), ref)
    guesses = top_guesses(scores, 5)
    assert np.array_equal(confusion_matrix(guesses, targets, num_classes=c), ref)
    assert np.trace(ref) / 300 == pytest.approx(1 - topk_error(scores, targets, 1))


# --- hierarchical cost ---------------------------------------------------------------------
# A hand-drawn tree (leaves have height 0; a node's height is its longest path to a leaf):
#
#   root (3) ── animal (2) ── dog (1) ── husky (0), beagle (0)
#        │                └── cat (0)
#        └── tool (1) ── hammer (0), saw (0)
#
# LCA heights, in the leaf order husky, beagle, cat, hammer, saw:
LEAVES = ["husky", "beagle", "cat", "hammer", "saw"]
HAND_MATRIX = np.array([
    [0, 1, 2, 3, 3],
    [1, 0, 2, 3, 3],
    [2, 2, 0, 3, 3],
    [3, 3, 3, 0, 1],
    [3, 3, 3, 1, 0],
])
PARENTS = {"husky": ["dog"], "beagle": ["dog"], "dog": ["animal"], "cat": ["animal"],
           "animal": ["root"], "hammer": ["tool"], "saw": ["tool"], "tool": ["root"]}


def brute_hierarchical(guess_rows, targets, matrix, max_height, k=5):
    total = 0.0
    for row, t in zip(guess_rows, targets):
        costs = [matrix[g][t] for g in row[:k] if g >= 0]
        total += min(costs) if costs else max_height
    return total / len(targets)


def test_hierarchical_cost_hand_computed():
    guesses = np.array([[0, -1], [2, 3], [4, 1], [3, -1]])
    targets = np.array([0, 1, 3, 1])
    # image 0 right: 0; image 1: min(LCA(cat, beagle)=2, LCA(hammer, beagle)=3) = 2;
    # image 2: min(LCA(saw, hammer)=1, LCA(beagle, hammer)=3) = 1; image 3: LCA(hammer, beagle)=3
    raw = hierarchical_cost(guesses, targets, HAND_MATRIX, max_height=3)
    assert raw.mean == pytest.approx((0 + 2 + 1 + 3) / 4)
    assert raw.per_image.tolist() == [0, 2, 1, 3]
    assert raw.form == RAW_FORM and not raw.normalized
    norm = hierarchical_cost(guesses, targets, HAND_MATRIX, normalize=True, max_height=3)
    assert norm.mean == pytest.approx(6 / 4 / 3)
    assert norm.form == NORMALIZED_FORM and "2011" in norm.form and "2010" in raw.form
    # only the first guess counts with k=1
    assert hierarchical_cost(guesses, targets, HAND_MATRIX, k=1).per_image.tolist() == [0, 2, 1, 3]
    # the default max height of a bare matrix is its largest entry
    assert hierarchical_cost(guesses, targets, HAND_MATRIX, normalize=True).max_height == 3


def test_hierarchical_cost_matches_brute_force_on_random_guesses():
    rng = np.random.default_rng(7)
    c = 30
    # random tree: LCA heights from a random ultrametric (heights of merges)
    depth = rng.integers(1, 6, (c, c))
    matrix = np.maximum(depth, depth.T)
    np.fill_diagonal(matrix, 0)
    guesses = random_guess_rows(rng, 400, c)
    guesses[5] = -1  # an image with no guess at all costs max_height
    targets = rng.integers(0, c, 400)
    for k in (1, 3, 5):
        for normalize in (False, True):
            got = hierarchical_cost(guesses, targets, matrix, normalize=normalize,
                                    max_height=7, k=k)
            ref = brute_hierarchical(guesses.tolist(), targets, matrix, 7, k)
            assert got.mean == pytest.approx(ref / 7 if normalize else ref)
    # scores: the top five by score are the guesses
    scores = rng.standard_normal((400, c))
    ref = brute_hierarchical(brute_top_guesses(scores, 5), targets, matrix, 7)
    assert hierarchical_cost(scores, targets, matrix, max_height=7).mean == pytest.approx(ref)


def test_hierarchical_cost_accepts_a_hierarchy():
    h = Hierarchy(PARENTS, LEAVES)
    assert np.array_equal(h.lca_height_matrix(), HAND_MATRIX)  # our hand drawing is right
    guesses = np.array([[2, 4], [0, 1]])
    targets = np.array([1, 4])
    got = hierarchical_cost(guesses, targets, h, normalize=True)
    assert got.max_height == 3
    assert got.per_image.tolist() == pytest.approx([2 / 3, 1.0])


def test_lca_matrix_in_order_permutes_rows_and_columns():
    h = Hierarchy(PARENTS, LEAVES)
    order = ["saw", "cat", "husky", "hammer", "beagle"]
    m = lca_matrix_in_order(h, order)
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            assert m[i, j] == HAND_MATRIX[LEAVES.index(a), LEAVES.index(b)]
    with pytest.raises(ValueError, match="not leaves"):
        lca_matrix_in_order(h, ["saw", "cat", "husky", "hammer", "dog"])


def test_per_image_topk_error_flags_each_image_by_brute_force():
    rng = np.random.default_rng(8)
    scores = rng.standard_normal((120, 9))
    targets = rng.integers(0, 9, 120)
    guesses = random_guess_rows(rng, 120, 9)
    for k in (1, 3, 5):
        top = brute_top_guesses(scores, k)
        ref = [t not in row for row, t in zip(top, targets)]
        got = per_image_topk_error(scores, targets, k)
        assert got.dtype == bool and got.tolist() == ref
        ref = [t not in [g for g in row[:k] if g >= 0] for row, t in zip(guesses.tolist(), targets)]
        assert per_image_topk_error(guesses, targets, k).tolist() == ref


NAN_ROW_1 = np.zeros((3, 4), dtype=np.float32)
NAN_ROW_1[1, 2] = np.nan
BAD_INPUTS = [  # (the call, what its message must say)
    (lambda: topk_error(NAN_ROW_1, np.array([0, 1, 2]), 5), "NaN.*row 1"),
    (lambda: topk_error(np.zeros((3, 4)), np.array([0, 1, 4]), 1),
     r"targets\[2\] = 4 is outside 0..3"),
    (lambda: topk_error(np.zeros((3, 4)), np.array([0, 1]), 1), "3 predictions but 2 targets"),
    (lambda: topk_error(np.zeros((3, 4)), np.array([0, 1, 2]), 0), "k must be at least 1"),
    (lambda: topk_error(np.array([0, 1]), np.array([0, -1]), 1), "negative"),
    (lambda: topk_error(np.array([[0], [-2]]), np.array([0, 1]), 1), r"guess \[1, 0\] = -2"),
    (lambda: topk_error(np.array([True, False]), np.array([0, 1]), 1),
     "float scores or integer labels"),
    (lambda: confusion_matrix(np.array([[0], [-1]]), np.array([0, 1])), "image 1 has no guess"),
    (lambda: confusion_matrix(np.array([0, 5]), np.array([0, 1]), num_classes=4),
     r"image 1: first guess 5 is >= num_classes = 4"),
    (lambda: confusion_matrix(np.array([0, 1]), np.array([4, 1]), num_classes=4),
     r"image 0: target 4 is >= num_classes = 4"),
    (lambda: hierarchical_cost(np.array([0]), np.array([0]), HAND_MATRIX + 1), "must be 0"),
    (lambda: hierarchical_cost(np.array([0]), np.array([0]), HAND_MATRIX, max_height=2),
     "max_height"),
    (lambda: hierarchical_cost(np.array([5]), np.array([0]), HAND_MATRIX),
     r"guess \[0, 0\] = 5 is outside 0..4"),
    (lambda: hierarchical_cost(np.zeros((2, 6)), np.array([0, 1]), HAND_MATRIX),
     "6 classes, the hierarchy 5"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_is_named_with_its_position(call, message):
    with pytest.raises(ValueError, match=message):
        call()
