"""Checks for the exercises of notebook 08 (inside AlexNet).

Each check runs the learner's function on small inputs built so that the usual slips give a
different answer, compares it with the library's own computation (:mod:`course_lib.interpret`),
and, when the answer is wrong, names the slip it recognises.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..interpret import linear_probe, nearest_neighbors, occlusion_map
from .core import ExerciseError, as_number, attempt, describe, passed, slip_hint


def _to_numpy(got):
    """``got`` as a float64 numpy array (torch tensors included), or None if it is not one."""
    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    try:
        value = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return value


def _same(a, b, atol=1e-6) -> bool:
    return a is not None and b is not None and a.shape == b.shape and np.allclose(a, b, atol=atol)


# --------------------------------------------------------------------------------------------
# exercise 1: an occlusion map


def _occlusion_model():
    """A small fixed CNN (3 → 5 classes) whose weights come from their own generator, so the
    check never touches torch's global random state."""
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3),
                          nn.Flatten(), nn.Linear(54, 5))
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model.eval()


def _occlusion_cases():
    """``[(image (3, H, W), target, patch, stride)]``: a stride that tiles the image exactly
    and one that leaves a strip at the edge."""
    generator = torch.Generator().manual_seed(12)
    return [(torch.randn(3, 12, 12, generator=generator), 1, 4, 2),
            (torch.randn(3, 13, 13, generator=generator), 3, 5, 3)]


def _occlusion_variant(model, image, target, patch, stride, *, fill=0.0, centered=False,
                       cumulative=False, logits=False):
    """Occlusion maps as the usual slips compute them: ``(base, occluded (R, C))`` values of
    the probability (or logit) of ``target``."""
    height, width = image.shape[1:]
    rows = range(0, height - patch + 1, stride)
    cols = range(0, width - patch + 1, stride)

    def score(x):  # (B, 3, H, W) -> (B,) numpy
        out = model(x)
        return (out if logits else out.softmax(dim=1))[:, target].double().numpy()

    copies, work = [], image.clone()
    for top in rows:
        for left in cols:
            copy = work if cumulative else image.clone()
            if centered:
                t, s = max(0, top - patch // 2), max(0, left - patch // 2)
                copy[:, t:top + patch - patch // 2, s:left + patch - patch // 2] = fill
            else:
                copy[:, top:top + patch, left:left + patch] = fill
            copies.append(copy.clone())  # a snapshot: the cumulative copy keeps changing
    with torch.no_grad():
        base = float(score(image[None])[0])
        values = score(torch.stack(copies)).reshape(len(rows), len(cols))
    return base, values


def check_occlusion_map(fn: Callable | None) -> bool:
    """Exercise of notebook 08: ``fn(model, image (3, H, W), target, patch, stride)`` returns
    an ``(R, C)`` array: for the patch whose top-left corner is at ``(r·stride, c·stride)``
    (``r`` over ``range(0, H - patch + 1, stride)``), the softmax probability of ``target`` on
    the clean image minus that probability with the patch set to 0 (the mean colour of a
    normalized image)."""
    name = "occlusion_map"
    model = _occlusion_model()
    for image, target, patch, stride in _occlusion_cases():
        ok, got = attempt(name, fn, model, image, target, patch, stride)
        if not ok:
            return False
        height, width = image.shape[1:]
        where = (f"for a {height}×{width} image, target {target}, patch {patch}, stride "
                 f"{stride}")
        want = occlusion_map(model, image, target, patch=patch, stride=stride).drops
        value = _to_numpy(got)
        if value is None or value.shape != want.shape:
            hint = (f" There is one value per patch position: {len(want)} positions per side "
                    f"(tops 0, {stride}, … while top + {patch} ≤ {height}, i.e. "
                    f"range(0, H - patch + 1, stride)).")
            if value is not None and value.shape == (height, width):
                hint = (" That is one value per pixel; return one value per patch position "
                        f"({want.shape}).")
            raise ExerciseError(f"{name}: {where} expected an array of shape {want.shape}, "
                                f"got {describe(got)}.{hint}")
        if _same(value, want):
            continue
        base, occluded = _occlusion_variant(model, image, target, patch, stride)
        slips = [
            (-want, " The sign is flipped: the drop is p(clean) − p(occluded), positive where "
                    "hiding the patch lowered the class's probability."),
            (occluded, " These are the probabilities with the patch greyed; the map is the drop "
                       "from the clean image's probability: p(clean) − p(occluded)."),
            (base - occluded.T, " Rows and columns are swapped: row r is the patch at top "
                                "r·stride, column c the patch at left c·stride."),
        ]
        lb, lo = _occlusion_variant(model, image, target, patch, stride, logits=True)
        slips.append((lb - lo, " Those are drops in the logit (the score before softmax); "
                               "use the softmax probability of the target class."))
        _, centered = _occlusion_variant(model, image, target, patch, stride, centered=True)
        slips.append((base - centered, " The patches sit centred on (r·stride, c·stride); put "
                                      "each patch's top-left corner there instead, so the "
                                      "whole patch stays inside the image."))
        for fill in (0.5, 1.0):
            _, filled = _occlusion_variant(model, image, target, patch, stride, fill=fill)
            slips.append((base - filled, f" The patch is filled with {fill:g}; the image is "
                                         "normalized, so its mean colour (a neutral grey) is 0."))
        _, piled = _occlusion_variant(model, image, target, patch, stride, cumulative=True)
        slips.append((base - piled, " The patches pile up: each position must grey a fresh "
                                    "copy of the clean image, not the image the previous "
                                    "patch already covered."))
        hint = slip_hint(value, slips, _same)
        if not hint and np.allclose(value, 0, atol=1e-9):
            hint = (" Every drop is 0: is the softmax taken over the classes (dim=1 of a "
                    "(1, classes) output), and is the occluded copy what goes into the model?")
        raise ExerciseError(f"{name}: {where} the map differs from the library's "
                            f"course_lib.interpret.occlusion_map (largest gap "
                            f"{np.max(np.abs(value - want)):.3g}).{hint}")
    return passed(name, "Your map equals course_lib.interpret.occlusion_map's, position by "
                        "position.")


# --------------------------------------------------------------------------------------------
# exercise 2: nearest neighbours in feature space


def _neighbor_features():
    """``(N, D) = (14, 6)`` float64 features with distinct pairwise distances."""
    return np.random.default_rng(21).normal(size=(14, 6))


def check_nearest_neighbors(fn: Callable | None) -> bool:
    """Exercise of notebook 08: ``fn(features (N, D), k)`` returns ``(indices, distances)``,
    both ``(N, k)``: for each row, the k *other* rows nearest in Euclidean distance, nearest
    first, and those distances."""
    name = "nearest_neighbors"
    features = _neighbor_features()
    k = 3
    ok, got = attempt(name, fn, torch.from_numpy(features.copy()), k)
    if not ok:
        return False
    n = len(features)
    where = f"for {n} random feature vectors of dimension {features.shape[1]} and k={k}"
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise ExerciseError(f"{name}: {where} expected a pair (indices, distances), got "
                            f"{describe(got)}. End with: return indices, distances.")
    indices, distances = _to_numpy(got[0]), _to_numpy(got[1])
    want_idx, want_dist = (t.numpy().astype(np.float64) for t in
                           nearest_neighbors(features, features, k, exclude=np.arange(n)))
    for label, value in (("indices", indices), ("distances", distances)):
        if value is None or value.shape != (n, k):
            raise ExerciseError(f"{name}: {where} expected {label} of shape {(n, k)}, got "
                                f"{describe(got[0] if label == 'indices' else got[1])}.")
    if np.array_equal(indices, want_idx) and _same(distances, want_dist, atol=1e-6):
        return passed(name, "The k nearest other images, nearest first, with their Euclidean "
                            "distances.")
    if np.array_equal(indices, want_idx):
        hint = ""
        if _same(distances, want_dist**2, atol=1e-6):
            hint = (" The indices are right: squared distances rank the neighbours exactly as "
                    "distances do (the square root keeps the order), but the distances asked "
                    "for are Euclidean: take the square root.")
        raise ExerciseError(f"{name}: {where} the indices are right but the distances differ "
                            f"from the Euclidean ones (largest gap "
                            f"{np.max(np.abs(distances - want_dist)):.3g}).{hint}")
    x = features
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    self_in = np.argsort(squared, axis=1, kind="stable")[:, :k]
    excluded = squared + np.diag(np.full(n, np.inf))
    farthest = np.argsort(-np.where(np.isinf(excluded), -np.inf, excluded), axis=1,
                          kind="stable")[:, :k]
    dot = x @ x.T
    np.fill_diagonal(dot, -np.inf)
    by_dot = np.argsort(-dot, axis=1, kind="stable")[:, :k]
    manhattan = np.abs(x[:, None, :] - x[None, :, :]).sum(axis=2) + np.diag(np.full(n, np.inf))
    by_l1 = np.argsort(manhattan, axis=1, kind="stable")[:, :k]
    slips = [
        (self_in, " Each row's first neighbour is the row itself (distance 0): leave the query "
                  "out, e.g. set the diagonal of the distance matrix to infinity before "
                  "sorting."),
        (farthest, " These are the farthest rows: sort the distances in ascending order."),
        (by_dot, " That ranks by the dot product (similarity), which is not the Euclidean "
                 "distance unless all vectors have the same length: use "
                 "‖a − b‖² = ‖a‖² − 2a·b + ‖b‖² (or torch.cdist)."),
        (by_l1, " That is the L1 (Manhattan) distance; the paper uses the Euclidean one."),
    ]
    hint = slip_hint(indices, slips, np.array_equal)
    if not hint and all(set(a) == set(b) for a, b in zip(indices.tolist(), want_idx.tolist())):
        hint = " The right neighbours, in the wrong order: put the nearest first."
    wrong = int((indices != want_idx).any(axis=1).sum())
    raise ExerciseError(f"{name}: {where} the neighbours of {wrong} of {n} rows differ from "
                        f"course_lib.interpret.nearest_neighbors'.{hint}")


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
    """Exercise of notebook 08: ``fn(train_x (N, D), train_y (N,), val_x (M, D), val_y (M,))``
    fits a linear classifier (logistic regression) on the training features only and returns
    its accuracy on the validation features, a float in [0, 1]."""
    name = "probe_accuracy"
    train_x, train_y, val_x, val_y = _probe_data()
    ok, got = attempt(name, fn, train_x.copy(), train_y.copy(), val_x.copy(), val_y.copy())
    if not ok:
        return False
    want = linear_probe(train_x, train_y, val_x, val_y)
    where = ("for 3 well-separated classes (60 training points; 30 % of the 60 validation "
             "labels changed on purpose)")
    value = as_number(got)
    if math.isnan(value):
        raise ExerciseError(f"{name}: {where} expected one number, the validation accuracy, got "
                            f"{describe(got)}. probe.score(val_x, val_y) gives it.")
    if abs(value - want.val_accuracy) <= PROBE_TOLERANCE:
        return passed(name, f"Validation accuracy {value:.2f} (the library's probe: "
                            f"{want.val_accuracy:.2f}).")
    majority = np.bincount(val_y).max() / len(val_y)
    slips = [
        (1 - want.val_accuracy, " That is the error; return the accuracy (the share right)."),
        (100 * want.val_accuracy, " That is a percentage; return a fraction in [0, 1]."),
        (1 / 3, " That is chance: is the classifier fitted (probe.fit(train_x, train_y)) and "
                "are the labels in the same order as the features?"),
        (majority, " That is the share of the most common class: a classifier that always "
                   "predicts one class. Fit it on train_x and train_y."),
    ]
    hint = slip_hint(value, slips, lambda got, slip: abs(got - slip) <= 1e-6)
    if not hint and want.val_accuracy + PROBE_TOLERANCE < value <= 1:
        hint = (" That is more than a probe fitted on the training features can score here "
                "(30 % of the validation labels are wrong on purpose): it is what a probe "
                "scores on the very features it was fitted on. Fit on train_x, train_y; score "
                "on val_x, val_y.")
    raise ExerciseError(f"{name}: {where} expected a validation accuracy near "
                        f"{want.val_accuracy:.2f} (the library's linear_probe), got "
                        f"{value:.4g}.{hint}")


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


def check_first_layer_reaching(fn: Callable | None) -> bool:
    """Exercise of notebook 08: ``fn(accuracies, threshold)`` takes ``{layer: accuracy}`` in
    the network's order and returns the name of the first layer whose accuracy is at least
    ``threshold``, or None when no layer reaches it."""
    name = "first_layer_reaching"
    for accuracies, threshold, want, what in _first_layer_cases():
        ok, got = attempt(name, fn, dict(accuracies), threshold)
        if not ok:
            return False
        if got == want:
            continue
        where = f"for {accuracies} and threshold {threshold} ({what})"
        names = list(accuracies)
        reaching = [n for n in names if accuracies[n] >= threshold]
        hint = ""
        if isinstance(got, float) and want is not None and got == accuracies[want]:
            hint = " That is the layer's accuracy; return its name."
        elif want is None:
            hint = (" No layer reaches the threshold, so the answer is None (not the last or "
                    "the best layer).")
        elif got == max(names, key=accuracies.get):
            hint = (" That is the best layer; the question is which layer *first* reaches the "
                    "threshold, going through the network in order.")
        elif got == next((n for n in names if accuracies[n] > threshold), None):
            hint = (" An accuracy equal to the threshold counts: use ≥ (at least), not >.")
        elif got == next((n for n in sorted(names) if accuracies[n] >= threshold), None):
            hint = (" The layers are in the network's order already: do not sort them "
                    "(alphabetically 'pixels' comes last).")
        elif reaching and got in names and names.index(got) == names.index(reaching[0]) - 1:
            hint = " That is the last layer *below* the threshold; return the first one at or above it."
        raise ExerciseError(f"{name}: {where} expected {want!r}, got {got!r}.{hint}")
    return passed(name, "The first layer, in the network's order, at or above the threshold.")
