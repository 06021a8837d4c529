"""The exercise checks of notebooks 01 and 02: right answers pass, wrong ones say what is wrong."""

import math

import numpy as np
import pytest
from check_helpers import answers_test
from scipy.stats import binom

from course_lib.checks import benchmark, imagenet
from course_lib.checks.core import ExerciseError, attempt


# --- notebook 01 -------------------------------------------------------------------------
def lca_height(h, a, b):
    common = set(h.ancestors(a)) & set(h.ancestors(b))
    return min(h.height(n) for n in common)


def first_parent_lca_height(h, a, b):
    """A plausible wrong answer: walk only each synset's first parent."""
    on_b = set(h.primary_path(b))
    return h.height([n for n in h.primary_path(a) if n in on_b][-1])


test_lca_height = answers_test(imagenet.check_lca_height, right=[lca_height], wrong=[
    (lambda h, a, b: h.depth(h.lca(a, b)), "depth"),
    (lambda h, a, b: h.lca(a, b),
     r"'Siamese' and 'Burmese' \(LCA 'cat'\): expected height 1, .*not the node"),
    # Siamese cat vs Eskimo dog: the first-parent paths meet at 'carnivore' (height 7), but
    # 'dog' is also a 'domestic animal' (height 6), a common ancestor of both.
    (first_parent_lca_height, r"'Siamese cat, Siamese' and 'Eskimo dog, husky' \(LCA .*\): "
                              r"expected height 6, got 7\. .*two parents"),
], ids=["depth", "the-node", "first-parent-only"])

test_majority_vote = answers_test(imagenet.check_majority_vote, right=[
    lambda v: 2 * v.sum(axis=1) > v.shape[1],
], wrong=[
    (lambda v: 2 * v.sum(axis=1) >= v.shape[1], r"image 0 with votes \[1, 0\].*tie"),
    (lambda v: v.sum() > 0, "shape"),
], ids=["ties-accepted", "one-value"])


def votes_needed(accuracy, target):
    k = 1
    while sum(math.comb(k, j) * accuracy**j * (1 - accuracy) ** (k - j)
              for j in range(k // 2 + 1, k + 1)) < target:
        k += 2
    return k


def votes_needed_any_k(accuracy, target):
    """A plausible wrong answer: every k, counting a tie as a majority (P(X >= k/2))."""
    k = 1
    while sum(math.comb(k, j) * accuracy**j * (1 - accuracy) ** (k - j)
              for j in range(math.ceil(k / 2), k + 1)) < target:
        k += 1
    return k


def odd_k_with_tail(offset):
    """A plausible wrong answer: odd k, the majority's tail off by ``offset``."""
    def answer(accuracy, target):
        k = 1
        while binom.sf(k // 2 + offset, k, accuracy) < target:
            k += 2
        return k
    return answer


def endless(accuracy, target):  # cdf(k // 2) is P(majority wrong): it never reaches target
    k = 1
    while binom.cdf(k // 2, k, accuracy) < target:
        k += 2
    return k


test_votes_needed = answers_test(imagenet.check_votes_needed, right=[
    votes_needed, lambda a, t: np.int64(votes_needed(a, t)),
], wrong=[
    (lambda a, t: votes_needed(a, t) + 1, r"expected k = 1, got 2.*odd"),
    # accuracy 0.8, target 0.89: k = 2 with ties counted gives 0.64 + 0.32 = 0.96 >= 0.89.
    (votes_needed_any_k, r"expected k = 3, got 2\. k = 2 is even.*tie"),
    (odd_k_with_tail(+1), r"got 7\. Off by one.*strictly greater"),
    (odd_k_with_tail(-1), r"got 1\. Off by one.*minority"),
    (lambda a, t: 0.95, "not a probability"),
    (endless, r"still running after 2 s.*binom\.sf\(k // 2"),
], ids=["even", "ties-counted", "tail-plus-one", "tail-minus-one", "probability", "endless"])


def test_the_time_limit_holds_against_a_bare_except():
    """A learner's loop that swallows every exception (``except: pass``) used to defeat the
    limit and hang the check for ever; the call is now stopped at the limit, and nothing of it
    keeps running."""
    import multiprocessing
    import time

    from course_lib.checks.core import call_with_time_limit

    def stubborn(accuracy, target):
        k = 1
        while True:
            try:
                while binom.cdf(k // 2, k, accuracy) < target:
                    k += 2
            except:  # noqa: E722 - the point of the test
                pass

    start = time.perf_counter()
    with pytest.raises(ExerciseError, match=r"still running after 0\.3 s"):
        attempt("votes_needed", stubborn, 0.8, 0.9, seconds=0.3)
    assert time.perf_counter() - start < 3
    assert not [p for p in multiprocessing.active_children() if p.name == "exercise-answer"]
    assert call_with_time_limit(lambda x: x + 1, (1,), 1.0) == (2, (1,))
    with pytest.raises(ZeroDivisionError):  # the answer's own errors come back as they were
        call_with_time_limit(lambda x: x / 0, (1,), 1.0)


def test_an_in_place_change_inside_the_time_limited_child_is_refused_by_name():
    """The time limit runs the answer in a forked child, whose changes to its inputs the parent
    cannot see unless they come back: they do, and the answer is refused by name."""
    def sorts_in_place(values, k):
        values.sort()  # the slip: the caller's array
        return float(values[-k:].sum())

    with pytest.raises(ExerciseError, match="changed its input `values` in place"):
        attempt("top_sum", sorts_in_place, np.array([3.0, 1.0, 2.0]), 2, seconds=5)
    ok, value = attempt("top_sum", lambda values, k: float(np.sort(values)[-k:].sum()),
                        np.array([3.0, 1.0, 2.0]), 2, seconds=5)
    assert ok and value == 5.0


# --- dynamic consensus, one image --------------------------------------------------------
def label_image(votes, table, threshold):
    yes = no = 0
    for vote in votes:
        if vote:
            yes += 1
        else:
            no += 1
        confidence = table[yes, no]
        if confidence >= threshold or 1 - confidence >= threshold:
            break
    return bool(confidence >= threshold), yes + no


def test_label_image_right_answer_passes(capsys):
    assert imagenet.check_label_image(label_image) is True
    assert "crowd.dynamic_consensus" in capsys.readouterr().out


def never_rejects_early(votes, table, threshold):
    yes = no = 0
    for vote in votes:
        yes, no = yes + bool(vote), no + (not vote)
        confidence = table[yes, no]
        if confidence >= threshold:
            break
    return bool(confidence >= threshold), yes + no


def counts_from_zero(votes, table, threshold):
    accepted, used = label_image(votes, table, threshold)
    return accepted, used - 1


def swapped_index(votes, table, threshold):
    return label_image(votes, table.T, threshold)


def nan_decides(votes, table, threshold):
    yes = no = 0
    for vote in votes:
        yes, no = yes + bool(vote), no + (not vote)
        confidence = table[yes, no]
        if not confidence < threshold or 1 - confidence >= threshold:
            break
    return bool(confidence >= threshold), yes + no


def undecided_by_majority(votes, table, threshold):
    accepted, used = label_image(votes, table, threshold)
    if used == len(votes) and not accepted:
        return bool(2 * np.sum(votes) > len(votes)), used
    return accepted, used


def never_stops(votes, table, threshold):
    return bool(table[int(np.sum(votes)), len(votes) - int(np.sum(votes))] >= threshold), len(votes)


test_label_image = answers_test(imagenet.check_label_image, wrong=[
    (never_rejects_early, "at most 1 - threshold: stop there and reject"),
    (never_rejects_early,  # the message shows the votes and the cells
     r"votes \[0, 1, 1, 0\] at threshold 0.9 \(cells \(yes, no\) -> confidence: \(0, 1\) -> 0.02"),
    (counts_from_zero, "including the one that settled"),
    (swapped_index, r"indexed \[yes, no\]"),
    (nan_decides, "NaN cell"),
    (undecided_by_majority, "still undecided after its last vote is rejected"),
    (never_stops, "stop asking as soon as it does"),
    (lambda v, t, th: True, r"expected a pair \(accepted, votes_used\)"),
], ids=["never-rejects-early", "votes-and-cells", "from-zero", "swapped-index", "nan-decides",
        "undecided-by-majority", "never-stops", "not-a-pair"])


# --- notebook 02 -------------------------------------------------------------------------
def topk(scores, targets, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(~(top == targets[:, None]).any(axis=1)))


def test_numbers_of_any_kind_are_accepted_and_non_numbers_refused(capsys):
    import torch

    benchmark.check_topk_error(lambda s, t, k: torch.tensor(topk(s, t, k)))  # a 0-d tensor
    benchmark.check_hierarchical_cost(lambda g, t, m: np.array(hier(g, t, m)))  # a 0-d array
    assert capsys.readouterr().out.count("correct") == 2
    with pytest.raises(ExerciseError, match="expected .* got 'high'"):
        benchmark.check_topk_error(lambda s, t, k: "high")
    with pytest.raises(ExerciseError, match=r"got ndarray \[0.0, 0.0, 0.0\]"):
        benchmark.check_hierarchical_cost(lambda g, t, m: np.zeros(3))
    with pytest.raises(ExerciseError, match=r"got ndarray of shape \(30,\)"):
        benchmark.check_hierarchical_cost(lambda g, t, m: np.zeros(30))


def per_image_topk(scores, targets, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return ~(top == targets[:, None]).any(axis=1)


def ascending_topk(scores, targets, k):
    top = np.argsort(scores, axis=1)[:, :k]  # the k lowest scores
    return float(np.mean(~(top == targets[:, None]).any(axis=1)))


test_topk_error = answers_test(benchmark.check_topk_error, right=[topk], wrong=[
    (lambda s, t, k: 1 - topk(s, t, k), "accuracy"),
    (lambda s, t, k: 100 * topk(s, t, k), "percentage"),
    (lambda s, t, k: topk(s, t, 1), "k = 2"),
    (ascending_topk, "ascending order"),
    (per_image_topk, r"got ndarray of shape \(200,\)\. That is one value per image"),
], ids=["accuracy", "percentage", "top-1-only", "ascending", "per-image"])


def test_topk_error_message_never_dumps_an_array():
    with pytest.raises(ExerciseError) as info:
        benchmark.check_topk_error(per_image_topk)
    assert len(str(info.value)) < 300 and "True" not in str(info.value)


def hier(guesses, targets, lca):
    return float(lca[guesses, targets[:, None]].min(axis=1).mean())


test_hierarchical_cost = answers_test(benchmark.check_hierarchical_cost, right=[hier], wrong=[
    (lambda g, t, m: float(m[g, t[:, None]].mean()), "smallest"),
    (lambda g, t, m: float(m[g[:, 0], t].mean()), "Every guess"),
    (lambda g, t, m: hier(g, t, m) / m.max(), "raw heights"),
    (lambda g, t, m: m[g, t[:, None]].min(axis=1), "one cost per image"),
], ids=["mean", "first-guess", "normalized", "per-image"])


def z_pooled(a, b, n):
    p = (a + b) / 2
    return (a - b) / math.sqrt(2 * p * (1 - p) / n)


test_error_difference_z = answers_test(benchmark.check_error_difference_z, right=[z_pooled], wrong=[
    (lambda a, b, n: (a - b) / math.sqrt(a * (1 - a) / n + b * (1 - b) / n), "pooled"),
    (lambda a, b, n: -z_pooled(a, b, n), "Sign"),
    (lambda a, b, n: (a - b) / math.sqrt(((a + b) / 2) * (1 - (a + b) / 2) / n),
     "factor 2 is missing"),
    (lambda a, b, n: (a - b) / (2 * ((a + b) / 2) * (1 - (a + b) / 2) / n), "square root"),
    (lambda a, b, n: [z_pooled(a, b, n)] * 2, r"got \[59\.87"),
    (lambda a, b, n: abs(z_pooled(a, b, n)), "z keeps its sign"),
], ids=["unpooled", "sign", "no-factor-2", "no-square-root", "a-list", "absolute"])


def test_error_difference_z_accepts_n_minus_1_and_says_so(capsys):
    def z_n_minus_1(a, b, n):
        p = (a + b) / 2
        return (a - b) / math.sqrt(2 * p * (1 - p) / (n - 1))

    assert benchmark.check_error_difference_z(z_n_minus_1) is True
    assert "n - 1" in capsys.readouterr().out


def test_error_difference_z_n_minus_1_is_not_accepted_as_a_loose_tolerance():
    # A z off by as much as the n - 1 change, but the other way, is still wrong.
    def too_big(a, b, n):
        return z_pooled(a, b, n) * math.sqrt(n / (n - 1))

    with pytest.raises(ExerciseError, match="expected z ="):
        benchmark.check_error_difference_z(too_big)


# --- relative margin ---------------------------------------------------------------------
def test_relative_margin_has_the_three_properties_the_exercise_states():
    """0 at equal errors, 1 for a perfect winner, straight in the winner's error, unit-free: the
    properties the notebook asks the learner to build the measure from."""
    def margin(w, r):
        return (r - w) / r
    assert margin(0.26, 0.26) == 0 and margin(0.0, 0.26) == 1
    steps = [margin(w, 0.3) for w in (0.3, 0.2, 0.1, 0.0)]
    assert all(math.isclose(b - a, steps[1] - steps[0]) for a, b in zip(steps, steps[1:]))
    assert math.isclose(margin(0.15315, 0.26172), margin(15.315, 26.172))


def test_relative_margin_an_unnormalised_design_fails_without_a_false_hint():
    """A measure with the first property but curved in the winner's error is wrong, and no
    slip's hint is claimed for it."""
    with pytest.raises(ExerciseError) as error:
        benchmark.check_relative_margin(lambda w, r: 1 - (w / r) ** 2)
    assert error.value.args[0].endswith("expected 0.4148, got 0.6575791673157427.")


def test_relative_margin_reference_values():
    # 2012: (26.172 - 15.315) / 26.172 = 41.5 %; 2014: (7.32 - 6.67) / 7.32 = 8.9 % (FACTS.md §3)
    assert (0.26172 - 0.15315) / 0.26172 == pytest.approx(0.4148, abs=1e-4)
    assert (7.32 - 6.67) / 7.32 == pytest.approx(0.0888, abs=1e-4)


test_relative_margin = answers_test(benchmark.check_relative_margin, right=[
    lambda w, r: (r - w) / r, lambda w, r: 1 - w / r,
], wrong=[
    (lambda w, r: (r - w) / w, "Divide by the runner-up's error"),
    (lambda w, r: r - w, "gap in points.*percents"),
    (lambda w, r: 100 * (r - w) / r, "not a percentage"),
    (lambda w, r: (w - r) / r, "Sign"),
    (lambda w, r: w / r, "1 minus it"),
], ids=["over-winner", "points", "percentage", "sign", "ratio"])


def test_the_thread_fallback_stops_a_plain_endless_loop():
    """Where the call cannot be forked (macOS, Windows) it runs in a thread that is stopped
    from outside; a loop without a bare except: ends at the limit."""
    import time

    from course_lib.checks import core

    def spin(x):
        while True:
            x += 1

    start = time.perf_counter()
    with pytest.raises(BaseException) as info:
        core._in_thread(spin, (0,), 0.2)
    assert type(info.value).__name__ == "_TooSlow" and time.perf_counter() - start < 3
    assert core._in_thread(lambda x: x * 2, (4,), 1.0) == (8, (4,))
    with pytest.raises(NotImplementedError):
        core._in_thread(_not_implemented, (), 1.0)


def _not_implemented():
    raise NotImplementedError


def test_a_child_that_dies_without_an_answer_is_said_not_timed_out():
    import os

    from course_lib.checks.core import call_with_time_limit

    with pytest.raises(RuntimeError, match="ended without an answer"):
        call_with_time_limit(lambda: os._exit(3), (), 5.0)
