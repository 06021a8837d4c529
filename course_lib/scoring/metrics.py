"""Top-k error, per-class error, confusion matrix and the ILSVRC 2010–2011 hierarchical cost.

Every function takes ``predictions`` in one of three forms (torch tensors or numpy arrays):

* **scores** ``(N, C)`` floating point: the guesses for an image are the ``k`` highest-scoring
  classes, exactly as ``torch.topk(scores, k, dim=1)`` picks them (see *Ties* below);
* **guesses** ``(N, G)`` integer, best first, ``-1`` meaning "no guess" (padding for images with
  fewer than ``G`` guesses; what :func:`course_lib.scoring.read_submission` returns);
* **predictions** ``(N,)`` integer: one guess per image (so top-5 error equals top-1 error).

An integer 2-D array is always read as guesses, a floating one always as scores.
``targets`` is ``(N,)`` integer, one true class index per image.

Ties
----
When several classes have the same score, which of them make the top ``k`` is decided by
``torch.topk(scores, k)`` itself: the functions call it on the scores as given (numpy arrays
are wrapped without a copy). PyTorch documents no order among equal values, and in practice the
choice depends on ``k``, the row length and the device (on a CPU, ``topk([1, 1, 1, 0], 1)`` may
return index 1 rather than 0), so for tied scores ``topk_error(s, t, 1)`` is not necessarily the
first column of ``top_guesses(s, 5)``. Scores from a trained network are almost never tied;
saturated low-precision probabilities can be, so compare such results on one device. NaN
scores are rejected (``torch.topk`` would rank NaN above every number).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import CourseValueError

MAX_GUESSES = 5
"""ILSVRC allows at most five guesses per image (FACTS.md §2.3, devkit readme)."""


def is_tensor(array) -> bool:
    # torch is imported only when scores need ranking: reading and scoring files does not
    # need it, and a tensor cannot exist unless torch has been imported already.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(array, torch.Tensor)


def _as_tensor(array):
    """A tensor view of ``array`` (no copy for numpy input; tensors stay on their device)."""
    import torch  # import course_lib.scoring must not load torch: only tensor input reaches here

    if isinstance(array, torch.Tensor):
        return array.detach()
    array = np.asarray(array)
    with warnings.catch_warnings():  # read-only arrays (memmaps) are only read here
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(array))


def as_numpy(array) -> np.ndarray:
    if is_tensor(array):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def is_float(array) -> bool:
    if is_tensor(array):
        return array.is_floating_point()
    return np.issubdtype(np.asarray(array).dtype, np.floating)


def _check_targets(targets, n: int, num_classes: int | None) -> np.ndarray:
    targets = as_numpy(targets)
    if targets.ndim != 1:
        raise CourseValueError(f"targets must be (N,) class indices, got shape {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise CourseValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if len(targets) != n:
        raise CourseValueError(f"{n} predictions but {len(targets)} targets")
    if n and targets.min() < 0:
        i = int(np.argmin(targets))
        raise CourseValueError(f"targets[{i}] = {targets[i]} is negative; targets are 0-based indices")
    if n and num_classes is not None and targets.max() >= num_classes:
        i = int(np.argmax(targets))
        raise CourseValueError(f"targets[{i}] = {targets[i]} is outside 0..{num_classes - 1} "
                         f"(the scores have {num_classes} classes)")
    return targets.astype(np.int64, copy=False)


def top_guesses(predictions, k: int = MAX_GUESSES) -> np.ndarray:
    """The first ``k`` guesses per image, best first: ``(N, min(k, G or C))`` int64, -1 = none.

    ``predictions``: ``(N, C)`` float scores (``torch.topk``), ``(N, G)`` integer guesses
    (the first ``k`` columns) or ``(N,)`` integer predictions (one column).
    """
    if k < 1:
        raise CourseValueError(f"k must be at least 1, got {k}")
    if is_float(predictions):
        import torch  # as in _as_tensor: scores are tensors here, so torch is loaded already

        scores = _as_tensor(predictions)
        if scores.ndim != 2:
            raise CourseValueError(f"scores must be (N, C), got shape {tuple(scores.shape)}")
        values, indices = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        if torch.isnan(values).any():  # topk ranks NaN first, so any NaN in a row shows here
            row = int(torch.isnan(values).any(dim=1).nonzero()[0])
            raise CourseValueError(f"scores contain NaN (first in row {row})")
        return indices.cpu().numpy().astype(np.int64, copy=False)
    guesses = as_numpy(predictions)
    if guesses.dtype == bool or not np.issubdtype(guesses.dtype, np.integer):
        raise CourseValueError(f"predictions must be float scores or integer labels, got {guesses.dtype}")
    if guesses.ndim == 1:
        guesses = guesses[:, None]
    if guesses.ndim != 2:
        raise CourseValueError(f"guesses must be (N,) or (N, G), got shape {guesses.shape}")
    if guesses.size and guesses.min() < -1:
        i, j = np.unravel_index(np.argmin(guesses), guesses.shape)
        raise CourseValueError(f"guess [{i}, {j}] = {guesses[i, j]}: class indices are >= 0 "
                         "(-1 means no guess)")
    return guesses[:, :k].astype(np.int64, copy=False)


def num_classes_of(predictions) -> int | None:
    """The width C of ``(N, C)`` scores; None for guesses and labels."""
    if not is_float(predictions):
        return None
    shape = predictions.shape if hasattr(predictions, "shape") else np.shape(predictions)
    return int(shape[1]) if len(shape) == 2 else None


def per_image_topk_error(predictions, targets, k: int = MAX_GUESSES) -> np.ndarray:
    """``(N,)`` bool: True where ``targets[i]`` is not among the first ``k`` guesses of image i.

    ``predictions``: ``(N, C)`` scores, ``(N, G)`` guesses (-1 = none) or ``(N,)`` labels;
    ``targets``: ``(N,)`` int.
    """
    guesses = top_guesses(predictions, k)
    targets = _check_targets(targets, len(guesses), num_classes_of(predictions))
    return ~(guesses == targets[:, None]).any(axis=1)


def topk_error(predictions, targets, k: int = 1) -> float:
    """Flat top-``k`` error: the fraction of images whose target is not among the first ``k`` guesses.

    This is the ILSVRC flat cost with one ground-truth label per image (FACTS.md §2.3):
    ``e_i = min_j d(l_j, g_i)``, ``d = 0`` if equal else 1, averaged over the N images.
    ``predictions``: ``(N, C)`` scores, ``(N, G)`` guesses or ``(N,)`` labels (module docstring);
    ``targets``: ``(N,)`` int. Ties follow ``torch.topk`` (module docstring).
    """
    errors = per_image_topk_error(predictions, targets, k)
    if len(errors) == 0:
        raise CourseValueError("no images to score")
    return float(errors.mean())


def confusion_matrix(predictions, targets, num_classes: int | None = None) -> np.ndarray:
    """``(C, C)`` int64 counts: row = true class, column = first guess.

    ``predictions``: ``(N, C)`` scores, ``(N, G)`` guesses or ``(N,)`` labels; ``targets``:
    ``(N,)`` int. ``C`` is ``num_classes``, else the width of the scores, else one more than
    the largest label seen. Every image must have a first guess.
    """
    first = top_guesses(predictions, 1)[:, 0]
    targets = _check_targets(targets, len(first), num_classes_of(predictions))
    if (first < 0).any():
        raise CourseValueError(f"image {int(np.argmax(first < 0))} has no guess")
    c = num_classes or num_classes_of(predictions) or int(max(first.max(initial=0),
                                                           targets.max(initial=0))) + 1
    for what, labels in (("first guess", first), ("target", targets)):
        if labels.max(initial=0) >= c:
            i = int(np.argmax(labels))
            raise CourseValueError(f"image {i}: {what} {labels[i]} is >= num_classes = {c}")
    return np.bincount(targets * c + first, minlength=c * c).reshape(c, c).astype(np.int64)


# --- hierarchical cost ---------------------------------------------------------------------

RAW_FORM = "raw: height of LCA(guess, truth), leaves height 0 (ILSVRC 2010 devkit eval_hie.m)"
NORMALIZED_FORM = "normalized: LCA height / maximum possible height (ILSVRC 2011 page)"


@dataclass(frozen=True)
class HierarchicalCost:
    """The hierarchical cost of a set of guesses: ``mean`` is the mean of ``per_image``.

    ``per_image``: ``(N,)`` float, the min over guesses of the (normalized) LCA height.
    """

    mean: float
    per_image: np.ndarray
    normalized: bool
    max_height: float
    k: int

    @property
    def form(self) -> str:
        """Which definition this is, for printing next to the number."""
        return NORMALIZED_FORM if self.normalized else RAW_FORM


def _lca_matrix_and_height(hierarchy_or_matrix, max_height) -> tuple[np.ndarray, float]:
    if hasattr(hierarchy_or_matrix, "lca_height_matrix"):
        matrix = np.asarray(hierarchy_or_matrix.lca_height_matrix())
        height = hierarchy_or_matrix.max_height if max_height is None else max_height
    else:
        matrix = as_numpy(hierarchy_or_matrix)
        height = matrix.max() if max_height is None else max_height
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise CourseValueError(f"the LCA-height matrix must be (C, C), got shape {matrix.shape}")
    if np.any(np.diagonal(matrix) != 0):
        i = int(np.argmax(np.diagonal(matrix) != 0))
        raise CourseValueError(f"LCA-height matrix [{i}, {i}] = {matrix[i, i]}: a leaf's own height "
                         "must be 0 (devkit convention, FACTS.md §2.3)")
    if height <= 0 or height < matrix.max():
        raise CourseValueError(f"max_height = {height} must be positive and >= every entry of the "
                         f"matrix (largest: {matrix.max()})")
    return matrix, float(height)


def hierarchical_cost(predictions, targets, hierarchy_or_matrix, normalize: bool = False,
                      max_height: float | None = None,
                      k: int = MAX_GUESSES) -> HierarchicalCost:
    """ILSVRC 2010–2011 hierarchical cost: per image, min over the first ``k`` guesses of the
    height of the lowest common ancestor of guess and truth; 0 when a guess is correct.

    ``hierarchy_or_matrix``: a :class:`course_lib.hierarchy.Hierarchy` (labels index its
    ``leaves``; uses ``.lca_height_matrix()`` and ``.max_height``) or a ``(C, C)`` matrix of LCA
    heights with a zero diagonal. ``max_height`` (the height of the root) defaults to the
    hierarchy's ``max_height``, or for a bare matrix to its largest entry; pass the root height
    if no pair of leaves meets at the root.
    ``normalize=False``: the raw heights, as the 2010 devkit's ``eval_hie.m`` (its demo baseline
    scores 6.7695 with 5 guesses); ``normalize=True``: divided by ``max_height``, as the 2011
    page defines it (FACTS.md §2.3). An image with no guess at all costs ``max_height`` (1.0
    normalized), like a maximally wrong guess. The result's :attr:`~HierarchicalCost.form`
    says which form it is.
    """
    matrix, height = _lca_matrix_and_height(hierarchy_or_matrix, max_height)
    c = matrix.shape[0]
    guesses = top_guesses(predictions, k)
    width = num_classes_of(predictions)
    if width is not None and width != c:
        raise CourseValueError(f"scores have {width} classes, the hierarchy {c} leaves")
    targets = _check_targets(targets, len(guesses), c)
    if guesses.size and guesses.max() >= c:
        i, j = np.unravel_index(np.argmax(guesses), guesses.shape)
        raise CourseValueError(f"guess [{i}, {j}] = {guesses[i, j]} is outside 0..{c - 1}")
    if len(guesses) == 0:
        raise CourseValueError("no images to score")
    valid = guesses >= 0
    costs = matrix[np.where(valid, guesses, 0), targets[:, None]].astype(float)
    costs[~valid] = height
    per_image = costs.min(axis=1)
    if normalize:
        per_image = per_image / height
    return HierarchicalCost(float(per_image.mean()), per_image, bool(normalize), height, k)


def lca_matrix_in_order(hierarchy, order) -> np.ndarray:
    """``hierarchy.lca_height_matrix()`` with rows and columns in ``order`` (a list of leaf ids).

    Use it when class indices follow another table than ``hierarchy.leaves``, e.g. the
    course's class table: ``lca_matrix_in_order(h, load_class_table()["wnid"])``.
    """
    leaves = list(hierarchy.leaves)
    order = list(order)
    position = {leaf: i for i, leaf in enumerate(leaves)}
    missing = [leaf for leaf in order if leaf not in position]
    if missing or len(order) != len(leaves):
        raise CourseValueError(f"order has {len(order)} ids, the hierarchy {len(leaves)} leaves; "
                         f"not leaves: {missing[:5]}")
    matrix = np.asarray(hierarchy.lca_height_matrix())
    if order == leaves:
        return matrix
    perm = np.array([position[leaf] for leaf in order])
    return matrix[np.ix_(perm, perm)]
