"""The ``check_*()`` helpers behind the notebook exercises.

Each check takes the learner's answer, compares it with a reference computed here, and raises
an :class:`ExerciseError` that says what is wrong (which input, expected, got). An exercise
not attempted yet (``None`` or a function raising ``NotImplementedError``) is reported, not
failed, so a notebook still runs from top to bottom before the learner has solved it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .profiles import PROFILES, Profile


class ExerciseError(AssertionError):
    """The answer to an exercise is wrong; the message says how."""


def _not_attempted(name: str) -> None:
    print(f"{name}: not attempted yet. Write your answer above (or open the solution below).")


def _passed(name: str, detail: str) -> None:
    print(f"✅ {name}: correct. {detail}")


def check_batches_per_epoch(fn: Callable[[Profile], int] | None) -> None:
    """Exercise of notebook 00: batches per training epoch of a profile (last partial batch kept).

    Prints a confirmation when correct or a note when not attempted; raises
    :class:`ExerciseError` when wrong.
    """
    name = "batches_per_epoch"
    if fn is None:
        _not_attempted(name)
        return
    for profile in PROFILES.values():
        try:
            got = fn(profile)
        except NotImplementedError:
            _not_attempted(name)
            return
        images = profile.num_classes * profile.train_per_class
        want = math.ceil(images / profile.batch_size)
        if got != want:
            hint = ""
            if got == images // profile.batch_size:
                hint = " The last, partial batch counts too: round up, not down."
            raise ExerciseError(
                f"{name}: for the {profile.name!r} profile ({images} training images, batch size "
                f"{profile.batch_size}) expected {want}, got {got!r}.{hint}"
            )
    _passed(name, f"Checked on all {len(PROFILES)} profiles.")


# ---------------------------------------------------------------- notebooks 01 and 02
def _attempt(name: str, fn: Callable | None, *args):
    """``(True, fn(*args))``, or ``(False, None)`` after reporting "not attempted"."""
    if fn is None:
        _not_attempted(name)
        return False, None
    try:
        return True, fn(*args)
    except NotImplementedError:
        _not_attempted(name)
        return False, None


def _as_number(got) -> float:
    """``float(got)`` for any number-like answer (Python, numpy or 0-d torch); NaN otherwise."""
    try:
        return float(got)
    except (TypeError, ValueError, RuntimeError):  # torch raises RuntimeError for >1 element
        return math.nan


def _tiny_hierarchy():
    """A hand-made hierarchy whose LCA heights are easy to work out on paper."""
    from .hierarchy import Hierarchy

    parents = {
        "animal": ["root"], "vehicle": ["root"], "cat": ["animal"], "dog": ["animal"],
        "Siamese": ["cat"], "Burmese": ["cat"], "husky": ["dog"], "car": ["vehicle"],
    }
    return Hierarchy(parents, ["Siamese", "Burmese", "husky", "car"])


def check_lca_height(fn: Callable | None) -> None:
    """Exercise of notebook 01: ``fn(hierarchy, a, b)`` returns the height of the lowest common
    ancestor of ``a`` and ``b`` (leaves have height 0)."""
    from .hierarchy import load_imagenet_hierarchy

    name = "lca_height"
    tiny = _tiny_hierarchy()
    imagenet = load_imagenet_hierarchy()
    cases = [(tiny, "Siamese", "Burmese"), (tiny, "Siamese", "husky"), (tiny, "husky", "car"),
             (tiny, "car", "car")]
    leaves = imagenet.leaves
    cases += [(imagenet, leaves[i], leaves[j]) for i, j in [(281, 284), (151, 268), (0, 999),
                                                            (281, 281), (404, 817)]]
    for h, a, b in cases:
        ok, got = _attempt(name, fn, h, a, b)
        if not ok:
            return
        want = h.lca_height(a, b)
        if got != want:
            hint = ""
            if isinstance(got, str):
                hint = " Return the LCA's height (an int), not the node: h.height(node)."
            elif got == h.depth(h.lca(a, b)):
                hint = " That is the LCA's depth (distance from the root), not its height."
            raise ExerciseError(
                f"{name}: for {h.name(a)!r} and {h.name(b)!r} expected height {want} "
                f"(LCA {h.name(h.lca(a, b))!r}), got {got!r}.{hint}"
            )
    _passed(name, f"Checked {len(cases)} pairs, in a toy tree and in ImageNet's.")


def check_majority_vote(fn: Callable | None) -> None:
    """Exercise of notebook 01: ``fn(votes)`` with ``votes (N, k) bool`` returns ``(N,) bool``,
    True where more than half of the k votes are yes (a tie is rejected)."""
    import numpy as np

    from .crowd import majority_vote

    name = "majority_vote"
    rng = np.random.default_rng(0)
    cases = [np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]], dtype=bool),
             np.array([[1, 0], [1, 1], [0, 0]], dtype=bool),
             rng.random((50, 5)) < 0.5, rng.random((50, 4)) < 0.5]
    for votes in cases:
        ok, got = _attempt(name, fn, votes.copy())
        if not ok:
            return
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
    _passed(name, f"Checked {len(cases)} vote matrices, ties included.")


def check_votes_needed(fn: Callable | None) -> None:
    """Exercise of notebook 01: ``fn(accuracy, target)`` returns the smallest odd k whose
    majority vote is right with probability >= target."""
    from .crowd import votes_for_majority_accuracy

    name = "votes_needed"
    cases = [(0.8, 0.8), (0.8, 0.89), (0.8, 0.9), (0.9, 0.99), (0.7, 0.95), (0.95, 0.997)]
    for accuracy, target in cases:
        ok, got = _attempt(name, fn, accuracy, target)
        if not ok:
            return
        want = votes_for_majority_accuracy(accuracy, target)
        if got != want:
            hint = ""
            if isinstance(got, int) and got % 2 == 0:
                hint = " Only odd k: an even number of votes can tie."
            raise ExerciseError(f"{name}: with per-vote accuracy {accuracy} and target "
                                f"{target} expected k = {want}, got {got!r}.{hint}")
    _passed(name, f"Checked {len(cases)} (accuracy, target) pairs.")


def check_topk_error(fn: Callable | None) -> None:
    """Exercise of notebook 02: ``fn(scores (N, C) float, targets (N,) int, k)`` returns the
    top-k error as a fraction in [0, 1]."""
    import numpy as np

    from .scoring import topk_error

    name = "topk_error"
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(200, 12))
    targets = rng.integers(0, 12, size=200)
    scores[np.arange(100), targets[:100]] += 2.0  # half the images are easy
    for k in (1, 2, 5):
        ok, got = _attempt(name, fn, scores.copy(), targets.copy(), k)
        if not ok:
            return
        want = topk_error(scores, targets, k)
        value = _as_number(got)
        if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):  # float32 is fine; NaN fails
            hint = ""
            if abs(value - (1 - want)) < 1e-9:
                hint = " That is the top-k *accuracy*: error = 1 - accuracy."
            elif abs(value - 100 * want) < 1e-6:
                hint = " Return a fraction, not a percentage."
            raise ExerciseError(f"{name}: for k = {k} on 200 random images expected "
                                f"{want:.4f}, got {got!r}.{hint}")
    _passed(name, "Matches course_lib.scoring.topk_error for k = 1, 2, 5.")


def check_hierarchical_cost(fn: Callable | None) -> None:
    """Exercise of notebook 02: ``fn(guesses (N, G) int, targets (N,) int, lca_heights (C, C))``
    returns the mean over images of the smallest LCA height among the guesses (raw form)."""
    import numpy as np

    from .scoring import hierarchical_cost

    name = "hierarchical_cost"
    h = _tiny_hierarchy()
    matrix = np.asarray(h.lca_height_matrix())
    guesses = np.array([[0, 2], [3, 1], [2, 3], [1, 0]])
    targets = np.array([0, 0, 1, 1])
    ok, got = _attempt(name, fn, guesses.copy(), targets.copy(), matrix.copy())
    if not ok:
        return
    want = hierarchical_cost(guesses, targets, matrix, normalise=False, k=2).mean
    value = _as_number(got)
    if not math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-9):  # float32 is fine; NaN fails
        per_guess_mean = matrix[guesses, targets[:, None]].mean()
        first_only = matrix[guesses[:, 0], targets].mean()
        hint = ""
        if abs(value - per_guess_mean) < 1e-9:
            hint = " Take the best (smallest) cost among an image's guesses, not the mean."
        elif abs(value - first_only) < 1e-9:
            hint = " Every guess counts: take the smallest cost among all of them."
        elif abs(value - want / matrix.max()) < 1e-9:
            hint = " Return the raw heights (2010 devkit form), not divided by the maximum."
        raise ExerciseError(f"{name}: guesses {guesses.tolist()} for targets {targets.tolist()} "
                            f"in a toy tree: expected {want}, got {got!r}.{hint}")
    _passed(name, "Matches course_lib.scoring.hierarchical_cost on a toy tree.")


def check_error_difference_z(fn: Callable | None) -> None:
    """Exercise of notebook 02: ``fn(error_a, error_b, n)`` returns the pooled two-proportion z
    statistic of two error rates each measured on n images."""
    from .scoring import compare_error_rates

    name = "error_difference_z"
    cases = [(0.26172, 0.15315, 100_000), (0.068, 0.051, 1500), (0.30, 0.29, 10_000)]
    for a, b, n in cases:
        ok, got = _attempt(name, fn, a, b, n)
        if not ok:
            return
        want = compare_error_rates(a, b, n).z
        value = _as_number(got)
        if not math.isclose(value, want, rel_tol=1e-6):
            unpooled = (a - b) / math.sqrt(a * (1 - a) / n + b * (1 - b) / n)
            hint = ""
            if math.isclose(value, unpooled, rel_tol=1e-6):
                hint = " Use the pooled rate p = (a + b) / 2 in the standard error."
            elif math.isclose(value, -want, rel_tol=1e-6):
                hint = " Sign: z is (error_a - error_b) / standard error."
            raise ExerciseError(f"{name}: for errors {a} and {b} on n = {n:,} images expected "
                                f"z = {want:.3f}, got {got!r}.{hint}")
    _passed(name, f"Checked {len(cases)} comparisons.")
