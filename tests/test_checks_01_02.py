"""The exercise checks of notebooks 01 and 02: right answers pass, wrong ones say what is wrong."""

import math

import numpy as np
import pytest

from course_lib import checks
from course_lib.checks import ExerciseError


def todo(*args):
    raise NotImplementedError


ALL_CHECKS = [checks.check_lca_height, checks.check_majority_vote, checks.check_votes_needed,
              checks.check_topk_error, checks.check_hierarchical_cost,
              checks.check_error_difference_z]


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("answer", [None, todo], ids=["None", "raises"])
def test_not_attempted_is_reported_not_failed(capsys, check, answer):
    check(answer)
    assert "not attempted" in capsys.readouterr().out


# --- notebook 01 -------------------------------------------------------------------------
def lca_height(h, a, b):
    common = set(h.ancestors(a)) & set(h.ancestors(b))
    return min(h.height(n) for n in common)


def test_lca_height_right_answer_passes(capsys):
    checks.check_lca_height(lca_height)
    assert "correct" in capsys.readouterr().out


def test_lca_height_depth_instead_of_height_gets_a_hint():
    with pytest.raises(ExerciseError, match="depth"):
        checks.check_lca_height(lambda h, a, b: h.depth(h.lca(a, b)))


def test_lca_height_returning_the_node_gets_a_hint():
    with pytest.raises(ExerciseError, match=r"'Siamese' and 'Burmese' expected height 1 .*not the node"):
        checks.check_lca_height(lambda h, a, b: h.lca(a, b))


def test_majority_vote_right_answer_passes(capsys):
    checks.check_majority_vote(lambda v: 2 * v.sum(axis=1) > v.shape[1])
    assert "correct" in capsys.readouterr().out


def test_majority_vote_accepting_ties_is_caught():
    with pytest.raises(ExerciseError, match=r"image 0 with votes \[1, 0\].*tie"):
        checks.check_majority_vote(lambda v: 2 * v.sum(axis=1) >= v.shape[1])


def test_majority_vote_wrong_shape_is_caught():
    with pytest.raises(ExerciseError, match="shape"):
        checks.check_majority_vote(lambda v: v.sum() > 0)


def votes_needed(accuracy, target):
    k = 1
    while sum(math.comb(k, j) * accuracy**j * (1 - accuracy) ** (k - j)
              for j in range(k // 2 + 1, k + 1)) < target:
        k += 2
    return k


def test_votes_needed_right_answer_passes(capsys):
    checks.check_votes_needed(votes_needed)
    assert "correct" in capsys.readouterr().out


def test_votes_needed_even_answer_gets_a_hint():
    with pytest.raises(ExerciseError, match=r"expected k = 1, got 2.*odd"):
        checks.check_votes_needed(lambda a, t: votes_needed(a, t) + 1)


# --- notebook 02 -------------------------------------------------------------------------
def topk(scores, targets, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(~(top == targets[:, None]).any(axis=1)))


def test_topk_error_right_answer_passes(capsys):
    checks.check_topk_error(topk)
    assert "correct" in capsys.readouterr().out


def test_numbers_of_any_kind_are_accepted_and_non_numbers_refused(capsys):
    import torch

    checks.check_topk_error(lambda s, t, k: torch.tensor(topk(s, t, k)))  # a 0-d tensor
    checks.check_hierarchical_cost(lambda g, t, m: np.array(hier(g, t, m)))  # a 0-d array
    assert capsys.readouterr().out.count("correct") == 2
    with pytest.raises(ExerciseError, match="expected .* got 'high'"):
        checks.check_topk_error(lambda s, t, k: "high")
    with pytest.raises(ExerciseError, match="got array"):
        checks.check_hierarchical_cost(lambda g, t, m: np.zeros(3))


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, t, k: 1 - topk(s, t, k), "accuracy"),
    (lambda s, t, k: 100 * topk(s, t, k), "percentage"),
    (lambda s, t, k: topk(s, t, 1), "k = 2"),
])
def test_topk_error_wrong_answers_are_explained(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        checks.check_topk_error(wrong)


def hier(guesses, targets, lca):
    return float(lca[guesses, targets[:, None]].min(axis=1).mean())


def test_hierarchical_cost_right_answer_passes(capsys):
    checks.check_hierarchical_cost(hier)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda g, t, m: float(m[g, t[:, None]].mean()), "smallest"),
    (lambda g, t, m: float(m[g[:, 0], t].mean()), "Every guess"),
    (lambda g, t, m: hier(g, t, m) / m.max(), "raw heights"),
])
def test_hierarchical_cost_wrong_answers_are_explained(wrong, hint):
    with pytest.raises(ExerciseError, match=hint):
        checks.check_hierarchical_cost(wrong)


def z_pooled(a, b, n):
    p = (a + b) / 2
    return (a - b) / math.sqrt(2 * p * (1 - p) / n)


def test_error_difference_z_right_answer_passes(capsys):
    checks.check_error_difference_z(z_pooled)
    assert "correct" in capsys.readouterr().out


def test_error_difference_z_unpooled_and_sign_are_explained():
    with pytest.raises(ExerciseError, match="pooled"):
        checks.check_error_difference_z(
            lambda a, b, n: (a - b) / math.sqrt(a * (1 - a) / n + b * (1 - b) / n))
    with pytest.raises(ExerciseError, match="Sign"):
        checks.check_error_difference_z(lambda a, b, n: -z_pooled(a, b, n))
