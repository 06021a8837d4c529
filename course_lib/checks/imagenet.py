"""Checks for the exercises of notebook 01 (building ImageNet)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import numpy as np
from scipy.stats import binom

from ..crowd import (
    BURMESE_CAT,
    ConfidenceTable,
    confidence_table,
    dynamic_consensus,
    majority_vote,
    votes_for_majority_accuracy,
)
from ..hierarchy import Hierarchy, load_imagenet_hierarchy
from .core import ExerciseError, as_number, attempt, check_cases, passed, slip_hint

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them). Each answer is code, so these are what its
# first use on the page prints (the laptop profile's kept outputs), which a learner could copy.
ANSWERS: dict[str, tuple[str, ...]] = {
    # Siamese cat vs Eskimo dog: LCA 'domestic animal' through dog's second parent, not
    # 'carnivore' (height 7) where the first-parent paths meet; and the algorithm, in code and
    # in words
    "lca_height": ("height 6", "set(h.ancestors(a)) & set(h.ancestors(b))",
                   "common ancestor with the smallest height", "intersect the two ancestor sets",
                   "Intersect the two ancestor sets"),
    # the share of the 1,000 Burmese-cat seeds whose 10-vote majority is wrong
    "majority_vote": ("16.6%", "16.6 %"),
    # votes per image and precision of the whole loop at threshold 0.99, cat and Burmese cat; and
    # the rejection rule the learner works out from "sure it is bad"
    "label_image": ("4.48 votes", "6.10 votes", "0.884", "88.4%", "88.4 %",
                    "1 - confidence >= threshold", "1 − c ≥ threshold", "1 - c >= threshold",
                    "c ≤ 1 − threshold", "c <= 1 - threshold", "≤ 1 − threshold",
                    "<= 1 - threshold"),
    # the majority of k votes right 99.7 % of the time, votes right with p = 0.8 and 0.7; and the
    # binomial tail the learner derives
    "votes_needed": ("17 votes", "43 votes", "k = 17", "k = 43", "binom.sf(k // 2",
                     "more than k/2", "P(X > k/2)", "P(X > k // 2)", "a binomial tail"),
}


def tiny_hierarchy():
    """A hand-made hierarchy whose LCA heights are easy to work out on paper."""
    parents = {
        "animal": ["root"], "vehicle": ["root"], "cat": ["animal"], "dog": ["animal"],
        "Siamese": ["cat"], "Burmese": ["cat"], "husky": ["dog"], "car": ["vehicle"],
    }
    return Hierarchy(parents, ["Siamese", "Burmese", "husky", "car"])


LCA_SLIPS = [
    (lambda h, a, b: lambda got: isinstance(got, str),
     " Return the LCA's height (an int), not the node: h.height(node)."),
    # following each synset's first parent only: the lowest node where the two paths meet
    (lambda h, a, b: h.height([n for n in h.primary_path(a) if n in h.primary_path(b)][-1]),
     " That is the height where the first-parent paths meet. WordNet is not a tree: a synset "
     "can have two parents ('dog' is a 'canine' and a 'domestic animal'), so intersect the full "
     "sets h.ancestors(a) and h.ancestors(b)."),
    (lambda h, a, b: h.depth(h.lca(a, b)),
     " That is the LCA's depth (distance from the root), not its height."),
]


def check_lca_height(fn: Callable | None) -> bool:
    """Exercise of notebook 01: ``fn(hierarchy, a, b)`` returns the height of the lowest common
    ancestor of ``a`` and ``b`` (leaves have height 0)."""
    tiny, imagenet = tiny_hierarchy(), load_imagenet_hierarchy()
    cases = [(tiny, "Siamese", "Burmese"), (tiny, "Siamese", "husky"), (tiny, "husky", "car"),
             (tiny, "car", "car")]
    cases += [(imagenet, imagenet.leaves[i], imagenet.leaves[j])
              for i, j in [(281, 284), (151, 268), (0, 999), (281, 281), (404, 817)]]
    # Siamese cat vs Eskimo dog: "dog" has two parents (canine and domestic animal), so the LCA
    # is "domestic animal" (height 6), not "carnivore" (7) where the first-parent paths meet.
    cases.append((imagenet, "n02123597", "n02109961"))
    return check_cases(
        "lca_height", fn, cases, reference=lambda h, a, b: h.lca_height(a, b),
        slips=LCA_SLIPS, shown=lambda height: f"height {height}",
        where=lambda h, a, b: f"for {h.name(a)!r} and {h.name(b)!r} (LCA "
                              f"{h.name(h.lca(a, b))!r})",
        done=f"Checked {len(cases)} pairs, in a toy tree and in ImageNet's.")


def check_majority_vote(fn: Callable | None) -> bool:
    """Exercise of notebook 01: ``fn(votes)`` with ``votes (N, k) bool`` returns ``(N,) bool``,
    True where more than half of the k votes are yes (a tie is rejected)."""
    # Not check_cases: the message names the first image the answer gets wrong.
    name = "majority_vote"
    rng = np.random.default_rng(0)
    cases = [np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]], dtype=bool),
             np.array([[1, 0], [1, 1], [0, 0]], dtype=bool),
             rng.random((50, 5)) < 0.5, rng.random((50, 4)) < 0.5]
    for votes in cases:
        ok, got = attempt(name, fn, votes)
        if not ok:
            return False
        want, got = majority_vote(votes), np.asarray(got)
        if got.shape != want.shape:
            raise ExerciseError(f"{name}: for votes of shape {votes.shape} expected a result of "
                                f"shape {want.shape} (one label per image), got {got.shape}")
        wrong = np.flatnonzero(got.astype(bool) != want)
        if wrong.size:
            i = wrong[0]  # the slip: a tie accepted (>= half), which differs only at a tie
            hint = slip_hint(bool(got[i]), [(
                bool(2 * votes[i].sum() >= votes.shape[1]),
                " A tie is not a convincing majority: reject it (use > half, not >=).")],
                same=operator.eq)
            raise ExerciseError(f"{name}: image {i} with votes {votes[i].astype(int).tolist()} "
                                f"should be {bool(want[i])}, got {bool(got[i])}.{hint}")
    return passed(name, f"Checked {len(cases)} vote matrices, ties included.")


def _smallest_odd_k(accuracy: float, target: float, offset: int) -> int | None:
    """The answer of ``binom.sf(k // 2 + offset, k, accuracy) >= target`` over odd k (None
    when no k <= 99 reaches it): offset 0 is right, +1 and -1 are off-by-one tails."""
    return next((k for k in range(1, 100, 2) if binom.sf(k // 2 + offset, k, accuracy) >= target),
                None)


VOTES_SLIPS = [  # the hints are formatted with the answer, k
    (lambda p, t: lambda k: 0 < k < 1, " Return k, the number of votes, not a probability."),
    (lambda p, t: lambda k: k.is_integer() and k % 2 == 0,
     " k = {k:g} is even: with an even number of votes a tie is possible, and a tie is not a "
     "majority. Try odd k only: 1, 3, 5, ..."),
    (lambda p, t: _smallest_odd_k(p, t, +1),
     " Off by one in the tail: binom.sf(x, k, p) is P(X > x), strictly greater, and a majority "
     "of odd k is X > k // 2, so use binom.sf(k // 2, k, p)."),
    (lambda p, t: _smallest_odd_k(p, t, -1),
     " Off by one in the tail: binom.sf(k // 2 - 1, k, p) = P(X >= k // 2) counts k // 2 right "
     "votes, a minority, as a majority. Use binom.sf(k // 2, k, p) = P(X > k // 2)."),
]
VOTES_SLOW_HINT = (
    " A loop that never ends? binom.cdf(k // 2, k, accuracy) is the probability that the "
    "majority is *wrong* (at most k // 2 right votes); it falls towards 0 as k grows, so a loop "
    "`while binom.cdf(...) < target` never stops. The majority is right with probability "
    "binom.sf(k // 2, k, accuracy) = 1 - binom.cdf(k // 2, k, accuracy).")


def check_votes_needed(fn: Callable | None) -> bool:
    """Exercise of notebook 01: ``fn(accuracy, target)`` returns the smallest odd k whose
    majority vote is right with probability >= target.

    Each call may run at most 2 s: a loop that never ends is stopped and explained.
    """
    cases = [(0.8, 0.8), (0.8, 0.89), (0.8, 0.9), (0.9, 0.99), (0.7, 0.95), (0.95, 0.997)]
    answers: dict = {}  # case -> k, in order: an error before the last case is a time-out
    try:
        return check_cases(
            "votes_needed", fn, cases, reference=votes_for_majority_accuracy,
            read=lambda got, *case: answers.setdefault(case, as_number(got)),
            slips=[(slip, lambda *case, text=text: text.format(k=answers[case]))
                   for slip, text in VOTES_SLIPS], shown=lambda k: f"k = {k}",
            where=lambda p, t: f"with per-vote accuracy {p} and target {t}",
            seconds=2, slow_hint="", done=f"Checked {len(cases)} (accuracy, target) pairs.")
    except ExerciseError as error:
        if len(answers) == len(cases):
            raise
        p, t = cases[len(answers)]  # the case it was stopped on (core's slow_hint can't say)
        raise ExerciseError(f"{error} (With per-vote accuracy {p} and target {t} the answer is "
                            f"{votes_for_majority_accuracy(p, t)}.){VOTES_SLOW_HINT}") from None


def _decisions(all_votes: np.ndarray, table: np.ndarray, threshold: float) -> list[tuple]:
    """``(accepted, votes_used)`` of each image of ``all_votes (N, V) bool`` by the library."""
    lib = dynamic_consensus(all_votes, ConfidenceTable(table, np.ones_like(table)), threshold)
    return [(bool(accepted), int(used)) for accepted, used in zip(lib.accepted, lib.votes_used)]


def check_label_image(fn: Callable | None) -> bool:
    """Exercise of notebook 01, the loop of dynamic consensus for one image.

    ``fn(votes, table, threshold)``: ``votes (V,) bool`` the votes the image would get, in
    order; ``table (V+1, V+1) float`` P(good | #yes, #no), NaN where no seed image had those
    votes; returns ``(accepted, votes_used)``. Compared image by image with
    :func:`course_lib.crowd.dynamic_consensus` (the library's vectorised version).
    """
    # Not check_cases: the hints depend on where the answer stopped and what the table holds
    # there, and the swapped table is the slip only when it explains a whole vote matrix.
    name = "label_image"
    # A hand-made table over 4 votes, indexed [yes, no]; (1, 2) was never seen (NaN).
    hand = np.full((5, 5), np.nan)
    hand[1, 0], hand[2, 0], hand[3, 0], hand[4, 0] = 0.8, 0.95, 0.99, 0.99
    hand[0, 1], hand[1, 1], hand[2, 1], hand[3, 1] = 0.02, 0.5, 0.85, 0.85
    hand[0, 2], hand[2, 2], hand[1, 3], hand[0, 3] = 0.01, 0.6, 0.1, 0.01
    hand_votes = np.array([[1, 1, 0, 0],   # accepted after 2 votes
                           [0, 1, 1, 0],   # rejected after 1
                           [1, 0, 1, 1],   # undecided after 4 (3 yes of 4): rejected
                           [1, 0, 0, 1],   # passes the unseen (1, 2), undecided at 4: rejected
                           [1, 0, 0, 0]],  # passes the unseen (1, 2), rejected at 4
                          dtype=bool)
    seeds = BURMESE_CAT.simulate(200, 10, seed=7)[1]
    learned = confidence_table(seeds).probability
    votes = BURMESE_CAT.simulate(150, 10, seed=8)[1]
    cases = [(hand, hand_votes, 0.9), (learned, votes, 0.9), (learned, votes, 0.97)]
    for table, all_votes, threshold in cases:
        answers = []
        for image_votes in all_votes:
            ok, got = attempt(name, fn, image_votes, table, threshold)
            if not ok:
                return False
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise ExerciseError(f"{name}: expected a pair (accepted, votes_used), got "
                                    f"{got!r}: return accepted, votes_used")
            answers.append((bool(got[0]), as_number(got[1])))
        wants = _decisions(all_votes, table, threshold)
        wrong = [i for i, (got, want) in enumerate(zip(answers, wants)) if got != want]
        if wrong:
            swapped = slip_hint(answers, [(_decisions(all_votes, table.T, threshold),
                                           " The table is indexed [yes, no]: look up "
                                           "table[yes, no], not [no, yes].")], same=operator.eq)
            raise ExerciseError(_label_image_problem(all_votes[wrong[0]], table, threshold,
                                                     wants[wrong[0]], answers[wrong[0]], swapped))
    return passed(name, f"Same decisions and vote counts as crowd.dynamic_consensus on "
                        f"{sum(len(all_votes) for _, all_votes, _ in cases)} images.")


def _label_image_problem(votes, table, threshold, want, got, hint: str) -> str:
    """What is wrong with one image's (accepted, votes_used): ``hint``, else the first that
    fits how the answer differs from ``want``."""
    yes = np.cumsum(votes)
    no = np.arange(1, len(votes) + 1) - yes
    trail = ", ".join(f"({y}, {n}) -> {table[y, n]:.2f}" for y, n in zip(yes, no))
    (want_accepted, want_used), (accepted, used) = want, got
    last = table[yes[want_used - 1], no[want_used - 1]]
    hint = hint or next(text for fits, text in [  # (whether it fits the answer, hint)
        (1 <= used < want_used and math.isnan(table[yes[int(used) - 1], no[int(used) - 1]]),
         " A NaN cell means no seed image ever had those votes: it decides nothing (every "
         "comparison with NaN is False), so keep asking."),
        (used == want_used - 1, " votes_used counts the votes cast, including the one that "
                                "settled the image: after the first vote it is 1."),
        (used > want_used and 1 - last >= threshold, f" After {want_used} votes the confidence "
         f"{last:.2f} is at most 1 - threshold: stop there and reject the image."),
        (used > want_used, f" After {want_used} votes the confidence {last:.2f} reaches the "
                           "threshold: stop asking as soon as it does."),
        (used == want_used and accepted and not want_accepted and not last >= threshold,
         " An image still undecided after its last vote is rejected: its votes never made a "
         "convincing majority."),
        (True, " Accept when the confidence is >= threshold, reject when it is <= 1 - "
               "threshold, and otherwise ask for the next vote.")] if fits)
    return (f"label_image: votes {votes.astype(int).tolist()} at threshold {threshold} (cells "
            f"(yes, no) -> confidence: {trail}): expected (accepted, votes_used) = {want}, got "
            f"({got[0]}, {got[1]:g}).{hint}")
