"""Checks for the exercises of notebook 01 (building ImageNet)."""

from __future__ import annotations

import math
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
from .core import ExerciseError, as_number, attempt, passed


def tiny_hierarchy():
    """A hand-made hierarchy whose LCA heights are easy to work out on paper."""
    parents = {
        "animal": ["root"], "vehicle": ["root"], "cat": ["animal"], "dog": ["animal"],
        "Siamese": ["cat"], "Burmese": ["cat"], "husky": ["dog"], "car": ["vehicle"],
    }
    return Hierarchy(parents, ["Siamese", "Burmese", "husky", "car"])


def _primary_path_lca_height(h, a, b) -> int:
    """The wrong answer of a learner who follows only each synset's first parent."""
    on_b = set(h.primary_path(b))
    common = [node for node in h.primary_path(a) if node in on_b]
    return h.height(common[-1])


def check_lca_height(fn: Callable | None) -> bool:
    """Exercise of notebook 01: ``fn(hierarchy, a, b)`` returns the height of the lowest common
    ancestor of ``a`` and ``b`` (leaves have height 0)."""
    name = "lca_height"
    tiny = tiny_hierarchy()
    imagenet = load_imagenet_hierarchy()
    cases = [(tiny, "Siamese", "Burmese"), (tiny, "Siamese", "husky"), (tiny, "husky", "car"),
             (tiny, "car", "car")]
    leaves = imagenet.leaves
    cases += [(imagenet, leaves[i], leaves[j]) for i, j in [(281, 284), (151, 268), (0, 999),
                                                            (281, 281), (404, 817)]]
    # Siamese cat vs Eskimo dog: "dog" has two parents (canine and domestic animal), so the LCA
    # is "domestic animal" (height 6), not "carnivore" (7) where the first-parent paths meet.
    cases.append((imagenet, "n02123597", "n02109961"))
    for h, a, b in cases:
        ok, got = attempt(name, fn, h, a, b)
        if not ok:
            return False
        want = h.lca_height(a, b)
        if got != want:
            hint = ""
            if isinstance(got, str):
                hint = " Return the LCA's height (an int), not the node: h.height(node)."
            elif got == _primary_path_lca_height(h, a, b):
                hint = (" That is the height where the first-parent paths meet. WordNet is not "
                        "a tree: a synset can have two parents ('dog' is a 'canine' and a "
                        "'domestic animal'), so intersect the full sets h.ancestors(a) and "
                        "h.ancestors(b).")
            elif got == h.depth(h.lca(a, b)):
                hint = " That is the LCA's depth (distance from the root), not its height."
            raise ExerciseError(
                f"{name}: for {h.name(a)!r} and {h.name(b)!r} expected height {want} "
                f"(LCA {h.name(h.lca(a, b))!r}), got {got!r}.{hint}"
            )
    return passed(name, f"Checked {len(cases)} pairs, in a toy tree and in ImageNet's.")


def check_majority_vote(fn: Callable | None) -> bool:
    """Exercise of notebook 01: ``fn(votes)`` with ``votes (N, k) bool`` returns ``(N,) bool``,
    True where more than half of the k votes are yes (a tie is rejected)."""
    name = "majority_vote"
    rng = np.random.default_rng(0)
    cases = [np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]], dtype=bool),
             np.array([[1, 0], [1, 1], [0, 0]], dtype=bool),
             rng.random((50, 5)) < 0.5, rng.random((50, 4)) < 0.5]
    for votes in cases:
        ok, got = attempt(name, fn, votes.copy())
        if not ok:
            return False
        want = majority_vote(votes)
        got = np.asarray(got)
        if got.shape != want.shape:
            raise ExerciseError(f"{name}: for votes of shape {votes.shape} expected a result of "
                                f"shape {want.shape} (one label per image), got {got.shape}")
        if not np.array_equal(got.astype(bool), want):
            i = int(np.argmax(got.astype(bool) != want))
            hint = ""
            if 2 * votes[i].sum() == votes.shape[1]:
                hint = " A tie is not a convincing majority: reject it (use > half, not >=)."
            raise ExerciseError(f"{name}: image {i} with votes {votes[i].astype(int).tolist()} "
                                f"should be {bool(want[i])}, got {bool(got[i])}.{hint}")
    return passed(name, f"Checked {len(cases)} vote matrices, ties included.")


def _smallest_odd_k(accuracy: float, target: float, offset: int) -> int | None:
    """The answer of ``binom.sf(k // 2 + offset, k, accuracy) >= target`` over odd k (None
    when no k <= 99 reaches it): offset 0 is right, +1 and -1 are off-by-one tails."""
    for k in range(1, 100, 2):
        if binom.sf(k // 2 + offset, k, accuracy) >= target:
            return k
    return None


def check_votes_needed(fn: Callable | None, seconds: float = 2.0) -> bool:
    """Exercise of notebook 01: ``fn(accuracy, target)`` returns the smallest odd k whose
    majority vote is right with probability >= target.

    Each call may run at most ``seconds``: a loop that never ends is stopped and explained.
    """
    name = "votes_needed"
    cases = [(0.8, 0.8), (0.8, 0.89), (0.8, 0.9), (0.9, 0.99), (0.7, 0.95), (0.95, 0.997)]
    for accuracy, target in cases:
        ok, got = attempt(
            name, fn, accuracy, target, seconds=seconds, slow_hint=(
                f" (With per-vote accuracy {accuracy} and target {target} the answer is "
                f"{votes_for_majority_accuracy(accuracy, target)}.) A loop that never ends? "
                "binom.cdf(k // 2, k, accuracy) is the probability that the majority is *wrong* "
                "(at most k // 2 right votes); it falls towards 0 as k grows, so a loop `while "
                "binom.cdf(...) < target` never stops. The majority is right with probability "
                "binom.sf(k // 2, k, accuracy) = 1 - binom.cdf(k // 2, k, accuracy)."))
        if not ok:
            return False
        want = votes_for_majority_accuracy(accuracy, target)
        value = as_number(got)
        if value == want:
            continue
        hint = ""
        if 0 < value < 1 and not value.is_integer():
            hint = " Return k, the number of votes, not a probability."
        elif value.is_integer() and value % 2 == 0:
            hint = (f" k = {value:g} is even: with an even number of votes a tie is possible, and "
                    "a tie is not a majority. Try odd k only: 1, 3, 5, ...")
        elif value == _smallest_odd_k(accuracy, target, +1):
            hint = (" Off by one in the tail: binom.sf(x, k, p) is P(X > x), strictly greater, "
                    "and a majority of odd k is X > k // 2, so use binom.sf(k // 2, k, p).")
        elif value == _smallest_odd_k(accuracy, target, -1):
            hint = (" Off by one in the tail: binom.sf(k // 2 - 1, k, p) = P(X >= k // 2) "
                    "counts k // 2 right votes, a minority, as a majority. Use "
                    "binom.sf(k // 2, k, p) = P(X > k // 2).")
        raise ExerciseError(f"{name}: with per-vote accuracy {accuracy} and target "
                            f"{target} expected k = {want}, got {got!r}.{hint}")
    return passed(name, f"Checked {len(cases)} (accuracy, target) pairs.")


def check_label_image(fn: Callable | None) -> bool:
    """Exercise of notebook 01, the loop of dynamic consensus for one image.

    ``fn(votes, table, threshold)``: ``votes (V,) bool`` the votes the image would get, in
    order; ``table (V+1, V+1) float`` P(good | #yes, #no), NaN where no seed image had those
    votes; returns ``(accepted, votes_used)``. Compared image by image with
    :func:`course_lib.crowd.dynamic_consensus` (the library's vectorised version).
    """
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
    checked = 0
    for table, all_votes, threshold in cases:
        lib = dynamic_consensus(all_votes, ConfidenceTable(table, np.ones_like(table)), threshold)
        for i, image_votes in enumerate(all_votes):
            ok, got = attempt(name, fn, image_votes.copy(), table.copy(), threshold)
            if not ok:
                return False
            want = (bool(lib.accepted[i]), int(lib.votes_used[i]))
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise ExerciseError(f"{name}: expected a pair (accepted, votes_used), got "
                                    f"{got!r}: return accepted, votes_used")
            accepted, used = bool(got[0]), as_number(got[1])
            checked += 1
            if (accepted, used) == want:
                continue
            swapped = _agrees_with_swapped_table(fn, all_votes, table, threshold)
            raise ExerciseError(_label_image_problem(name, image_votes, table, threshold, want,
                                                     (accepted, used), swapped))
    return passed(name, f"Same decisions and vote counts as crowd.dynamic_consensus on "
                        f"{checked} images.")


def _agrees_with_swapped_table(fn, all_votes, table, threshold) -> bool:
    """True when ``fn`` decides every image as the library does with the table transposed
    (a learner who looks up ``table[no, yes]``)."""
    swapped = dynamic_consensus(all_votes, ConfidenceTable(table.T, np.ones_like(table)),
                                threshold)
    for i, votes in enumerate(all_votes):
        try:
            accepted, used = fn(votes.copy(), table.copy(), threshold)
        except Exception:  # noqa: BLE001 - any failure means "not this mistake"
            return False
        if (bool(accepted), used) != (bool(swapped.accepted[i]), int(swapped.votes_used[i])):
            return False
    return True


def _label_image_problem(name, votes, table, threshold, want, got, swapped: bool) -> str:
    """What is wrong with one image's (accepted, votes_used), with a hint."""
    yes = np.cumsum(votes)
    no = np.arange(1, len(votes) + 1) - yes
    trail = ", ".join(f"({y}, {n}) -> {table[y, n]:.2f}" for y, n in zip(yes, no))
    message = (f"{name}: votes {votes.astype(int).tolist()} at threshold {threshold} (cells "
               f"(yes, no) -> confidence: {trail}): expected (accepted, votes_used) = {want}, "
               f"got ({got[0]}, {got[1]:g}).")
    want_accepted, want_used = want
    accepted, used = got
    last = table[yes[want_used - 1], no[want_used - 1]]
    if swapped:
        return message + " The table is indexed [yes, no]: look up table[yes, no], not [no, yes]."
    if 1 <= used < want_used and math.isnan(table[yes[int(used) - 1], no[int(used) - 1]]):
        return message + (" A NaN cell means no seed image ever had those votes: it decides "
                          "nothing (every comparison with NaN is False), so keep asking.")
    if used == want_used - 1:
        return message + (" votes_used counts the votes cast, including the one that settled "
                          "the image: after the first vote it is 1.")
    if used > want_used and 1 - last >= threshold:
        return message + (f" After {want_used} votes the confidence {last:.2f} is at most "
                          f"1 - threshold: stop there and reject the image.")
    if used > want_used:
        return message + (f" After {want_used} votes the confidence {last:.2f} reaches the "
                          "threshold: stop asking as soon as it does.")
    if used == want_used and accepted and not want_accepted and not last >= threshold:
        return message + (" An image still undecided after its last vote is rejected: its "
                          "votes never made a convincing majority.")
    return message + (" Accept when the confidence is >= threshold, reject when it is "
                      "<= 1 - threshold, and otherwise ask for the next vote.")
