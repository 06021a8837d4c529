"""The exercise checks of notebook 09 (inside AlexNet): right answers pass, each anticipated
wrong answer is caught with its own hint, and unfinished exercises are reported, not failed."""

import numpy as np
import pytest
import torch
from check_helpers import not_attempted_test

from course_lib.checks.core import ExerciseError
from course_lib.checks.inside import (
    check_first_layer_reaching,
    check_nearest_neighbors,
    check_occlusion_map,
    check_probe_accuracy,
)

ALL_CHECKS = [check_occlusion_map, check_nearest_neighbors, check_probe_accuracy,
              check_first_layer_reaching]


test_not_attempted_is_reported_not_failed = not_attempted_test(ALL_CHECKS)


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


def test_occlusion_right_answer_passes(capsys):
    assert check_occlusion_map(occlusion) is True
    assert "correct" in capsys.readouterr().out


def test_occlusion_library_function_passes():
    from course_lib.interpret import occlusion_map

    def via_library(model, image, target, patch, stride):
        return occlusion_map(model, image, target, patch=patch, stride=stride).drops

    assert check_occlusion_map(via_library) is True


@pytest.mark.parametrize("options,hint", [
    ({"sign": -1}, "sign is flipped"),
    ({"what": "occluded"}, "probabilities with the patch greyed"),
    ({"transpose": True}, "Rows and columns are swapped"),
    ({"logits": True}, "logit"),
    ({"centered": True}, "top-left corner"),
    ({"fill": 0.5}, "mean colour (a neutral grey) is 0"),
    ({"fill": 1.0}, "normalized"),
    ({"in_place": True}, "changed its input `image` in place (its values changed)"),
    ({"step": 0}, "range(0, H - patch + 1, stride)"),
    ({"step": 2}, "range(0, H - patch + 1, stride)"),
    ({"per_pixel": True}, "one value per pixel"),
])
def test_occlusion_slips_get_their_hint(options, hint):
    def answer(model, image, target, patch, stride):
        return occlusion(model, image, target, patch, stride, **options)

    with pytest.raises(ExerciseError, match="occlusion_map") as error:
        check_occlusion_map(answer)
    assert hint in str(error.value)


def test_occlusion_piled_patches_on_a_private_copy_get_their_hint():
    def piled(model, image, target, patch, stride):
        return occlusion(model, image.clone(), target, patch, stride, in_place=True)

    with pytest.raises(ExerciseError, match="pile up"):
        check_occlusion_map(piled)


def test_occlusion_softmax_over_the_batch_gets_a_hint():
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

    with pytest.raises(ExerciseError, match="softmax taken over the classes"):
        check_occlusion_map(batch_softmax)


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


def test_nearest_neighbors_right_answer_passes(capsys):
    assert check_nearest_neighbors(neighbors) is True
    assert "correct" in capsys.readouterr().out


def test_nearest_neighbors_cdist_answer_passes():
    def with_cdist(features, k):
        d = torch.cdist(features, features)
        d.fill_diagonal_(float("inf"))
        dist, idx = d.topk(k, largest=False)
        return idx.numpy(), dist.numpy()

    assert check_nearest_neighbors(with_cdist) is True


@pytest.mark.parametrize("options,hint", [
    ({"keep_self": True}, "first neighbour is the row itself"),
    ({"squared": True}, "squared distances rank the neighbours exactly as"),
    ({"farthest": True}, "farthest rows"),
    ({"dot": True}, "dot product"),
    ({"l1": True}, "L1 (Manhattan)"),
    ({"shuffle": True}, "in the wrong order"),
    ({"only_indices": True}, "a pair (indices, distances)"),
])
def test_nearest_neighbors_slips_get_their_hint(options, hint):
    with pytest.raises(ExerciseError, match="nearest_neighbors") as error:
        check_nearest_neighbors(lambda f, k: neighbors(f, k, **options))
    assert hint in str(error.value)


def test_nearest_neighbors_wrong_shape_is_named():
    with pytest.raises(ExerciseError, match=r"shape \(14, 3\)"):
        check_nearest_neighbors(lambda f, k: neighbors(f, k + 1))


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


def test_probe_accuracy_right_answers_pass(capsys):
    assert check_probe_accuracy(probe) is True
    assert "correct" in capsys.readouterr().out
    # another regularisation or no standardization still passes: the tolerance is for them
    assert check_probe_accuracy(lambda *a: probe(*a, scaled=False)) is True
    assert check_probe_accuracy(lambda *a: probe(*a, C=0.1)) is True


def test_probe_accuracy_nearest_centroid_also_passes():
    def centroid(train_x, train_y, val_x, val_y):
        centers = np.stack([train_x[train_y == c].mean(0) for c in range(3)])
        guess = ((val_x[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
        return float((guess == val_y).mean())

    assert check_probe_accuracy(centroid) is True


@pytest.mark.parametrize("options,hint", [
    ({"score_on": "train"}, "scores on the very features it was fitted on"),
    ({"fit_on": "val"}, "scores on the very features it was fitted on"),
    ({"fit_on": "val", "scaled": False}, "scores on the very features it was fitted on"),
    ({"as_error": True}, "That is the error"),
    ({"percent": True}, "percentage"),
])
def test_probe_accuracy_slips_get_their_hint(options, hint):
    with pytest.raises(ExerciseError, match="probe_accuracy") as error:
        check_probe_accuracy(lambda *a: probe(*a, **options))
    assert hint in str(error.value)


def test_probe_accuracy_constant_answers_get_their_hint():
    with pytest.raises(ExerciseError, match="chance"):
        check_probe_accuracy(lambda *a: 1 / 3)
    with pytest.raises(ExerciseError, match="most common class"):
        def one_class(train_x, train_y, val_x, val_y):
            return float((val_y == np.bincount(val_y).argmax()).mean())
        check_probe_accuracy(one_class)
    with pytest.raises(ExerciseError, match="one number"):
        check_probe_accuracy(lambda *a: [0.7, 0.3])


# --- exercise 4: first layer reaching a threshold --------------------------------------------

def first_layer(accuracies, threshold):
    for name, value in accuracies.items():
        if value >= threshold:
            return name
    return None


def test_first_layer_right_answer_passes(capsys):
    assert check_first_layer_reaching(first_layer) is True
    assert "correct" in capsys.readouterr().out


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


@pytest.mark.parametrize("answer,hint", [
    (best, "*first* reaches"),
    (strict, "use ≥"),
    (sorted_names, "do not sort"),
    (accuracy_value, "return its name"),
    (last_below, "last layer *below*"),
    (last_layer_when_none, "the answer is None"),
])
def test_first_layer_slips_get_their_hint(answer, hint):
    with pytest.raises(ExerciseError, match="first_layer_reaching") as error:
        check_first_layer_reaching(answer)
    assert hint in str(error.value)


def test_first_layer_check_agrees_with_the_library():
    from course_lib.checks.inside import _first_layer_cases
    from course_lib.interpret import first_layer_reaching

    for accuracies, threshold, want, _ in _first_layer_cases():
        assert first_layer_reaching(accuracies, threshold) == want
