"""Checks for the exercises of notebook 09 (inside AlexNet).

Each check runs the learner's function on small inputs built so that the usual slips give a
different answer, compares it with the library's own computation (:mod:`course_lib.interpret`),
and, when the answer is wrong, names the slip it recognises.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..interpret import (
    first_layer_reaching,
    linear_probe,
    nearest_neighbors,
    occlusion_map,
    occlusion_positions,
)
from .core import (
    ExerciseError,
    as_array,
    as_number,
    attempt,
    check_cases,
    close,
    describe,
    passed,
    slip_hint,
    wrong_answer,
)

_close = functools.partial(close, rel=1e-5, abs_tol=1e-6)

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them). The two builds declare their mechanism's
# distinctive code (the query left out of its own neighbours, the distances from one matrix
# product; a fresh copy per patch, the drop as clean minus occluded); what the page prints with
# them depends on the trained model. The probe and the first layer are applications, named
# tools and a loop the statement spells out; their page answers (probe accuracies, a layer
# name) are this model's, so nothing printed above could hand a learner a passing function.
ANSWERS: dict[str, tuple[str, ...]] = {
    "nearest_neighbors": ("fill_diagonal_", "- 2 * x @ x.T", "2a·b + ‖b‖²"),
    "occlusion_map": ("copy = image.clone()", "top:top + patch, left:left + patch",
                      "(clean - occluded)"),
    "probe_accuracy": (),  # code; the page prints each layer's probe accuracy for this model
    "first_layer_reaching": (),  # a loop; its page answer (a layer name) is this model's
}


# --------------------------------------------------------------------------------------------
# exercise 1: an occlusion map


def _occlusion_cases():
    """``[(model, image (3, H, W), target, patch, stride)]``: a small fixed CNN (3 → 5 classes,
    weights from their own generator, so the check never touches torch's global random state);
    a stride that tiles the image exactly and one that leaves a strip at the edge."""
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3),
                          nn.Flatten(), nn.Linear(54, 5))
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    generator = torch.Generator().manual_seed(12)
    return [(model.eval(), torch.randn(3, 12, 12, generator=generator), 1, 4, 2),
            (model, torch.randn(3, 13, 13, generator=generator), 3, 5, 3)]


def _occlusion_slip(model, image, target, patch, stride, *, centered=False, cumulative=False,
                    logits=False):
    """``(R, C)`` drops as three usual slips compute them: patches centred on the positions,
    patches that pile up on one copy, or drops of the logit of ``target``."""
    rows, cols = (occlusion_positions(side, patch, stride) for side in image.shape[1:])
    shift, copies, work = patch // 2 if centered else 0, [], image.clone()
    for top in rows:
        for left in cols:
            copy = work if cumulative else image.clone()
            copy[:, max(0, top - shift):top + patch - shift,
                 max(0, left - shift):left + patch - shift] = 0
            copies.append(copy.clone())  # a snapshot: the cumulative copy keeps changing
    with torch.no_grad():
        score = model(torch.stack([image, *copies]))
        score = (score if logits else score.softmax(dim=1))[:, target].double().numpy()
    return score[0] - score[1:].reshape(len(rows), len(cols))


def _map(model, image, target, patch, stride, fill=0.0):
    return occlusion_map(model, image, target, patch=patch, stride=stride, fill=fill)


_FILL = (" The patch is filled with {:g}; the image is normalized, so its mean colour (a neutral "
         "grey) is 0.")
OCCLUSION_SLIPS = [
    (lambda *case: -_map(*case).drops, " The sign is flipped: the drop is p(clean) − "
     "p(occluded), positive where hiding the patch lowered the class's probability."),
    (lambda *case: (m := _map(*case)).base - m.drops, " These are the probabilities with the "
     "patch greyed; the map is the drop from the clean image's probability: p(clean) − "
     "p(occluded)."),
    (lambda *case: _map(*case).drops.T, " Rows and columns are swapped: row r is the patch at "
     "top r·stride, column c the patch at left c·stride."),
    (lambda *case: _occlusion_slip(*case, logits=True), " Those are drops in the logit (the "
     "score before softmax); use the softmax probability of the target class."),
    (lambda *case: _occlusion_slip(*case, centered=True), " The patches sit centred on "
     "(r·stride, c·stride); put each patch's top-left corner there instead, so the whole patch "
     "stays inside the image."),
    *[(lambda *case, fill=fill: _map(*case, fill=fill).drops, _FILL.format(fill))
      for fill in (0.5, 1.0)],
    (lambda *case: _occlusion_slip(*case, cumulative=True), " The patches pile up: each "
     "position must grey a fresh copy of the clean image, not the image the previous patch "
     "already covered."),
    (lambda *case: np.zeros_like(_map(*case).drops), " Every drop is 0: is the softmax taken "
     "over the classes (dim=1 of a (1, classes) output), and is the occluded copy what goes "
     "into the model?"),
]


def _occlusion_where(model, image, target, patch, stride) -> str:
    return (f"for a {image.shape[1]}×{image.shape[2]} image, target {target}, patch {patch}, "
            f"stride {stride}")


def _read_map(got, model, image, target, patch, stride):
    """The answer as ``(R, C)`` float64, or :class:`ExerciseError` saying how many positions."""
    height, width = image.shape[1:]
    shape = tuple(len(occlusion_positions(side, patch, stride)) for side in (height, width))
    value = as_array(got)
    if getattr(value, "shape", None) == shape:
        return value
    hint = (f" That is one value per pixel; return one value per patch position ({shape})."
            if getattr(value, "shape", None) == (height, width) else
            f" There is one value per patch position: {shape[0]} positions per side (tops 0, "
            f"{stride}, … while top + {patch} ≤ {height}, i.e. range(0, H - patch + 1, stride)).")
    raise wrong_answer("occlusion_map", _occlusion_where(model, image, target, patch, stride),
                   f"an array of shape {shape}", got, hint)


def check_occlusion_map(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(model, image (3, H, W), target, patch, stride)`` returns
    an ``(R, C)`` array: for the patch whose top-left corner is at ``(r·stride, c·stride)``
    (``r`` over ``range(0, H - patch + 1, stride)``), the softmax probability of ``target`` on
    the clean image minus that probability with the patch set to 0 (the mean colour of a
    normalized image)."""
    return check_cases(
        "occlusion_map", fn, _occlusion_cases(), read=_read_map, slips=OCCLUSION_SLIPS,
        reference=lambda *case: _map(*case).drops, same=_close, where=_occlusion_where,
        shown=lambda want: f"course_lib.interpret.occlusion_map's drops ({describe(want)})",
        done="Your map equals course_lib.interpret.occlusion_map's, position by position.")


# --------------------------------------------------------------------------------------------
# exercise 2: nearest neighbours in feature space


def _ranked(distance, k: int, *, keep_self: bool = False):
    """``(N, k)``: the columns of the k smallest ``distance (N, N)`` of each row, smallest first,
    the row itself left out unless ``keep_self``."""
    own = 0 if keep_self else np.diag(np.full(len(distance), np.inf))
    return np.argsort(distance + own, axis=1, kind="stable")[:, :k]


NEIGHBOR_SLIPS = [
    (lambda x, k: _ranked(((x[:, None] - x[None]) ** 2).sum(axis=2), k, keep_self=True),
     " Each row's first neighbour is the row itself (distance 0): leave the query out, e.g. set "
     "the diagonal of the distance matrix to infinity before sorting."),
    (lambda x, k: _ranked(-((x[:, None] - x[None]) ** 2).sum(axis=2), k),
     " These are the farthest rows: sort the distances in ascending order."),
    (lambda x, k: _ranked(-(x @ x.T), k),
     " That ranks by the dot product (similarity), which is not the Euclidean distance unless "
     "all vectors have the same length: use ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖² (or torch.cdist)."),
    (lambda x, k: _ranked(np.abs(x[:, None] - x[None]).sum(axis=2), k),
     " That is the L1 (Manhattan) distance; the paper uses the Euclidean one."),
]


def check_nearest_neighbors(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(features (N, D), k)`` returns ``(indices, distances)``,
    both ``(N, k)``: for each row, the k *other* rows nearest in Euclidean distance, nearest
    first, and those distances."""
    # not through check_cases: the pair is compared in two stages (the indices, then the
    # distances of right indices), each with its own message
    name, k = "nearest_neighbors", 3
    x = np.random.default_rng(21).normal(size=(14, 6))  # distinct pairwise distances
    ok, got = attempt(name, fn, torch.from_numpy(x), k)
    if not ok:
        return False
    where = f"for {len(x)} random feature vectors of dimension {x.shape[1]} and k={k}"
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise wrong_answer(name, where, "a pair (indices, distances)", got,
                       " End with: return indices, distances.")
    indices, distances = as_array(got[0]), as_array(got[1])
    for label, value, answer in zip(("indices", "distances"), (indices, distances), got):
        if getattr(value, "shape", None) != (len(x), k):
            raise wrong_answer(name, where, f"{label} of shape {(len(x), k)}", answer)
    want_idx, want_dist = (t.numpy().astype(np.float64) for t in
                           nearest_neighbors(x, x, k, exclude=np.arange(len(x))))
    if np.array_equal(indices, want_idx):
        if _close(distances, want_dist):
            return passed(name, "The k nearest other images, nearest first, with their "
                                "Euclidean distances.")
        hint = slip_hint(distances, [(want_dist**2, " The indices are right: squared distances "
                                      "rank the neighbours exactly as distances do (the square "
                                      "root keeps the order), but the distances asked for are "
                                      "Euclidean: take the square root.")], _close)
        raise ExerciseError(f"{name}: {where}: the indices are right but the distances differ "
                            f"from the Euclidean ones (largest gap "
                            f"{np.max(np.abs(distances - want_dist)):.3g}).{hint}")
    hint = slip_hint(indices, [(slip(x, k), text) for slip, text in NEIGHBOR_SLIPS],
                     np.array_equal)
    if not hint and all(set(a) == set(b) for a, b in zip(indices.tolist(), want_idx.tolist())):
        hint = " The right neighbours, in the wrong order: put the nearest first."
    raise ExerciseError(f"{name}: {where}: the neighbours of "
                        f"{int((indices != want_idx).any(axis=1).sum())} of {len(x)} rows differ "
                        f"from course_lib.interpret.nearest_neighbors'.{hint}")


# --------------------------------------------------------------------------------------------
# exercise 3: a linear probe's validation accuracy

PROBE_TOLERANCE = 0.05
"""How far a probe's accuracy may sit from the library's: another solver or regularisation
may classify a few borderline images differently."""


def _probe_data():
    """Three well-separated Gaussian classes in 40 dimensions: 60 training and 60 validation
    points. 18 validation labels (30 %) are changed to another class, so any linear classifier
    fitted on the training points (which separates the clean classes) scores exactly 0.70 on
    validation and 1.0 on training; one fitted on the 60 validation points in 40 dimensions
    memorises most of the changed labels and scores far above 0.70 on them."""
    rng = np.random.default_rng(31)
    centers = rng.normal(size=(3, 40)) * 3
    train_y = np.repeat(np.arange(3), 20)
    val_y = np.repeat(np.arange(3), 20)
    train_x = centers[train_y] + rng.normal(size=(60, 40))
    val_x = centers[val_y] + rng.normal(size=(60, 40))
    noisy = val_y.copy()
    flip = rng.choice(60, size=18, replace=False)
    noisy[flip] = (noisy[flip] + rng.integers(1, 3, size=18)) % 3
    return train_x, train_y, val_x, noisy


def check_probe_accuracy(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(train_x (N, D), train_y (N,), val_x (M, D), val_y (M,))``
    fits a linear classifier (logistic regression) on the training features only and returns
    its accuracy on the validation features, a float in [0, 1]."""
    data = _probe_data()
    want = linear_probe(*data).val_accuracy
    where = ("for 3 well-separated classes (60 training points; 30 % of the 60 validation "
             "labels changed on purpose)")
    shown = f"a validation accuracy near {want:.2f} (the library's linear_probe)"

    def read(got, *_):
        value = as_number(got)
        if math.isnan(value):
            raise wrong_answer("probe_accuracy", where, "one number, the validation accuracy", got,
                           " probe.score(val_x, val_y) gives it.")
        if want + PROBE_TOLERANCE < value <= 1:
            raise wrong_answer("probe_accuracy", where, shown, got, (
                " That is more than a probe fitted on the training features can score here (30 "
                "% of the validation labels are wrong on purpose): it is what a probe scores on "
                "the very features it was fitted on. Fit on train_x, train_y; score on val_x, "
                "val_y."))
        # within the tolerance it reads as the library's accuracy: the slips are matched exactly
        return want if abs(value - want) <= PROBE_TOLERANCE else value

    slips = [
        (lambda *_: 1 - want, " That is the error; return the accuracy (the share right)."),
        (lambda *_: 100 * want, " That is a percentage; return a fraction in [0, 1]."),
        (lambda *_: 1 / 3, " That is chance: is the classifier fitted (probe.fit(train_x, "
                           "train_y)) and are the labels in the same order as the features?"),
        (lambda *_: np.bincount(data[3]).max() / len(data[3]), " That is the share of the most "
         "common class: a classifier that always predicts one class. Fit it on train_x and "
         "train_y."),
    ]
    return check_cases(
        "probe_accuracy", fn, [data], read=read, reference=lambda *_: want, slips=slips,
        same=functools.partial(close, rel=0.0, abs_tol=1e-6), where=lambda *_: where,
        shown=lambda _: shown, done=f"Within {PROBE_TOLERANCE} of the library's probe "
                                    f"({want:.2f}).")


# --------------------------------------------------------------------------------------------
# exercise 4: which layer first separates the classes?


def _first_layer_cases():
    """``[(accuracies, threshold, expected, what the case tests)]``."""
    curve = {"pixels": 0.30, "conv1": 0.45, "conv2": 0.62, "conv3": 0.80, "conv4": 0.90,
             "conv5": 0.86, "fc6": 0.95, "fc7": 0.93}
    pixels_first = {"pixels": 0.70, "conv1": 0.50, "conv2": 0.65, "conv3": 0.75}
    return [
        (curve, 0.6, "conv2", "a rising curve"),
        (curve, 0.8, "conv3", "an accuracy exactly at the threshold"),
        (curve, 0.99, None, "a threshold no layer reaches"),
        (pixels_first, 0.6, "pixels", "layers given in the network's order, pixels first"),
    ]


def _last_below(accuracies, threshold):
    names, first = list(accuracies), first_layer_reaching(accuracies, threshold)
    return names[names.index(first) - 1] if first and names.index(first) else first


_NO_LAYER = (" No layer reaches the threshold, so the answer is None (not the last or the best "
             "layer).")
FIRST_LAYER_SLIPS = [
    (lambda acc, t: acc.get(first_layer_reaching(acc, t)),
     " That is the layer's accuracy; return its name."),
    (lambda acc, t: first_layer_reaching(acc, t) or list(acc)[-1], _NO_LAYER),
    (lambda acc, t: max(acc, key=acc.get),
     lambda acc, t: _NO_LAYER if first_layer_reaching(acc, t) is None else (
         " That is the best layer; the question is which layer *first* reaches the threshold, "
         "going through the network in order.")),
    (lambda acc, t: next((n for n in acc if acc[n] > t), None),
     " An accuracy equal to the threshold counts: use ≥ (at least), not >."),
    (lambda acc, t: next((n for n in sorted(acc) if acc[n] >= t), None),
     " The layers are in the network's order already: do not sort them (alphabetically "
     "'pixels' comes last)."),
    (_last_below,
     " That is the last layer *below* the threshold; return the first one at or above it."),
]


def check_first_layer_reaching(fn: Callable | None) -> bool:
    """Exercise of notebook 09: ``fn(accuracies, threshold)`` takes ``{layer: accuracy}`` in
    the network's order and returns the name of the first layer whose accuracy is at least
    ``threshold``, or None when no layer reaches it."""
    cases = _first_layer_cases()
    what = {(tuple(acc), t): text for acc, t, _, text in cases}
    return check_cases(
        "first_layer_reaching", fn, [(acc, t) for acc, t, _, _ in cases],
        reference=first_layer_reaching, slips=FIRST_LAYER_SLIPS, same=operator.eq,
        where=lambda acc, t: f"for {acc} and threshold {t} ({what[tuple(acc), t]})",
        done="The first layer, in the network's order, at or above the threshold.")
