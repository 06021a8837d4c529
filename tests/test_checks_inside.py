"""The exercise checks of notebook 09 (inside AlexNet): right answers pass, each anticipated
wrong answer is caught with its own hint (unfinished ones: test_hostile_answers.py)."""

import re

import numpy as np
import torch
from check_helpers import answers_test

from course_lib.checks.inside import (
    check_first_layer_reaching,
    check_nearest_neighbors,
    check_occlusion_map,
    check_probe_accuracy,
)
from course_lib.interpret import occlusion_map

# --- exercise 1: occlusion map ---------------------------------------------------------------

def occlusion(model, image, target, patch, stride, *, sign=1, what="drop", fill=0.0,
              centered=False, transpose=False, in_place=False, logits=False, step=None,
              per_pixel=False):
    """A plain-loop occlusion map with switches for each slip a learner makes."""
    height, width = image.shape[1:]
    stop = height - patch + 1 if step is None else height - patch + step
    rows = list(range(0, stop, stride))
    cols = list(range(0, width - patch + 1 if step is None else width - patch + step, stride))

    def score(x):
        out = model(x[None])[0]
        return out[target] if logits else out.softmax(dim=0)[target]

    with torch.no_grad():
        base = score(image)
        out = torch.zeros(len(rows), len(cols))
        for i, top in enumerate(rows):
            for j, left in enumerate(cols):
                x = image if in_place else image.clone()
                if centered:
                    t, s = max(0, top - patch // 2), max(0, left - patch // 2)
                    x[:, t:top + patch - patch // 2, s:left + patch - patch // 2] = fill
                else:
                    x[:, top:top + patch, left:left + patch] = fill
                out[i, j] = score(x) if what == "occluded" else sign * (base - score(x))
    if per_pixel:
        return torch.zeros(height, width)
    return out.T if transpose else out


def occlusion_with(**options):
    def answer(model, image, target, patch, stride):  # named: the in-place refusal names `image`
        return occlusion(model, image, target, patch, stride, **options)
    return answer


def piled(model, image, target, patch, stride):  # the patches pile up on a private copy
    return occlusion(model, image.clone(), target, patch, stride, in_place=True)


def batch_softmax(model, image, target, patch, stride):
    with torch.no_grad():
        base = model(image[None]).softmax(dim=0)[0, target]
        rows = range(0, image.shape[1] - patch + 1, stride)
        out = torch.zeros(len(rows), len(rows))
        for i, top in enumerate(rows):
            for j, left in enumerate(rows):
                x = image.clone()
                x[:, top:top + patch, left:left + patch] = 0
                out[i, j] = base - model(x[None]).softmax(dim=0)[0, target]
    return out


def hints(name, table):
    """``[(answer, pattern)]`` from ``[(answer, hint)]``: the message names the exercise and
    holds the hint word for word."""
    return [(answer, f"^{name}: .*{re.escape(hint)}") for answer, hint in table]


test_occlusion_map = answers_test(check_occlusion_map, right=[
    occlusion,
    lambda model, image, target, patch, stride: occlusion_map(model, image, target, patch=patch,
                                                              stride=stride).drops,
], wrong=hints("occlusion_map", [
    (occlusion_with(sign=-1), "sign is flipped"),
    (occlusion_with(what="occluded"), "probabilities with the patch greyed"),
    (occlusion_with(transpose=True), "Rows and columns are swapped"),
    (occlusion_with(logits=True), "logit"),
    (occlusion_with(centered=True), "top-left corner"),
    (occlusion_with(fill=0.5), "mean colour (a neutral grey) is 0"),
    (occlusion_with(fill=1.0), "normalized"),
    (occlusion_with(in_place=True), "changed its input `image` in place (its values changed)"),
    (occlusion_with(step=0), "range(0, H - patch + 1, stride)"),
    (occlusion_with(step=2), "range(0, H - patch + 1, stride)"),
    (occlusion_with(per_pixel=True), "one value per pixel"),
    (piled, "pile up"),
    (batch_softmax, "softmax taken over the classes"),
]), ids=["sign", "occluded", "transpose", "logits", "centered", "grey-fill", "white-fill",
         "in-place", "step-0", "step-2", "per-pixel", "piled", "batch-softmax"])


# --- exercise 2: nearest neighbours ----------------------------------------------------------

def neighbors(features, k, *, keep_self=False, squared=False, farthest=False, dot=False,
              l1=False, shuffle=False, only_indices=False):
    x = torch.as_tensor(features, dtype=torch.float64)
    if dot:
        d = -(x @ x.T)
    elif l1:
        d = (x[:, None] - x[None]).abs().sum(-1)
    else:
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        if not squared:
            d = d.sqrt()
    if not keep_self:
        d.fill_diagonal_(float("-inf") if farthest else float("inf"))
    dist, idx = torch.sort(d, dim=1, descending=farthest)
    idx, dist = idx[:, :k], dist[:, :k]
    if shuffle:
        idx, dist = idx.flip(1), dist.flip(1)
    return idx if only_indices else (idx, dist)


def with_cdist(features, k):
    d = torch.cdist(features, features)
    d.fill_diagonal_(float("inf"))
    dist, idx = d.topk(k, largest=False)
    return idx.numpy(), dist.numpy()


def neighbors_with(**options):
    return lambda f, k: neighbors(f, k, **options)


test_nearest_neighbors = answers_test(check_nearest_neighbors, right=[neighbors, with_cdist],
                                      wrong=hints("nearest_neighbors", [
    (neighbors_with(keep_self=True), "first neighbour is the row itself"),
    (neighbors_with(squared=True), "squared distances rank the neighbours exactly as"),
    (neighbors_with(farthest=True), "farthest rows"),
    (neighbors_with(dot=True), "dot product"),
    (neighbors_with(l1=True), "L1 (Manhattan)"),
    (neighbors_with(shuffle=True), "in the wrong order"),
    (neighbors_with(only_indices=True), "a pair (indices, distances)"),
    (lambda f, k: neighbors(f, k + 1), "shape (14, 3)"),
]), ids=["keep-self", "squared", "farthest", "dot", "l1", "shuffled", "only-indices",
         "wrong-shape"])


# --- exercise 3: probe accuracy --------------------------------------------------------------

def probe(train_x, train_y, val_x, val_y, *, score_on="val", fit_on="train", scaled=True, C=1.0,
          as_error=False, percent=False):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = (make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500)) if scaled
             else LogisticRegression(C=C, max_iter=1000))
    model.fit(*((val_x, val_y) if fit_on == "val" else (train_x, train_y)))
    x, y = (val_x, val_y) if score_on == "val" else (train_x, train_y)
    accuracy = model.score(x, y)
    accuracy = 1 - accuracy if as_error else accuracy
    return 100 * accuracy if percent else accuracy


def centroid(train_x, train_y, val_x, val_y):
    centers = np.stack([train_x[train_y == c].mean(0) for c in range(3)])
    guess = ((val_x[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
    return float((guess == val_y).mean())


def one_class(train_x, train_y, val_x, val_y):
    return float((val_y == np.bincount(val_y).argmax()).mean())


def probe_with(**options):
    return lambda *a: probe(*a, **options)


test_probe_accuracy = answers_test(check_probe_accuracy, right=[
    # another regularisation or no standardization still passes: the tolerance is for them
    probe, probe_with(scaled=False), probe_with(C=0.1), centroid,
], wrong=hints("probe_accuracy", [
    (probe_with(score_on="train"), "scores on the very features it was fitted on"),
    (probe_with(fit_on="val"), "scores on the very features it was fitted on"),
    (probe_with(fit_on="val", scaled=False), "scores on the very features it was fitted on"),
    (probe_with(as_error=True), "That is the error"),
    (probe_with(percent=True), "percentage"),
    (lambda *a: 1 / 3, "chance"),
    (one_class, "most common class"),
    (lambda *a: [0.7, 0.3], "one number"),
]), ids=["scored-on-train", "fit-on-val", "fit-on-val-unscaled", "error", "percent", "chance",
         "one-class", "two-numbers"])


# --- exercise 4: first layer reaching a threshold --------------------------------------------

def first_layer(accuracies, threshold):
    for name, value in accuracies.items():
        if value >= threshold:
            return name
    return None


def best(accuracies, threshold):
    return max(accuracies, key=accuracies.get)


def strict(accuracies, threshold):
    return next((n for n, v in accuracies.items() if v > threshold), None)


def sorted_names(accuracies, threshold):
    return next((n for n in sorted(accuracies) if accuracies[n] >= threshold), None)


def accuracy_value(accuracies, threshold):
    return next((v for v in accuracies.values() if v >= threshold), None)


def last_below(accuracies, threshold):
    names = list(accuracies)
    first = first_layer(accuracies, threshold)
    return names[names.index(first) - 1] if first and names.index(first) else first


def last_layer_when_none(accuracies, threshold):
    return first_layer(accuracies, threshold) or list(accuracies)[-1]


test_first_layer_reaching = answers_test(check_first_layer_reaching, right=[first_layer],
                                         wrong=hints("first_layer_reaching", [
    (best, "*first* reaches"),
    (strict, "use ≥"),
    (sorted_names, "do not sort"),
    (accuracy_value, "return its name"),
    (last_below, "last layer *below*"),
    (last_layer_when_none, "the answer is None"),
]), ids=["best", "strict", "sorted", "accuracy", "last-below", "last-when-none"])


def test_first_layer_check_agrees_with_the_library():
    from course_lib.checks.inside import _first_layer_cases
    from course_lib.interpret import first_layer_reaching

    for accuracies, threshold, want, _ in _first_layer_cases():
        assert first_layer_reaching(accuracies, threshold) == want
