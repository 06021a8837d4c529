"""Every exercise check against answers a learner might really write, through ``use``.

``use`` must never raise for a wrong answer, whatever the answer does (raise its own exception,
return the wrong type, return something whose truth value is ambiguous, change its inputs in
place, loop for ever inside a bare ``except:``): it hands later cells the reference and says why,
in one line. The answers are written here, independently of the checks' own models of slips.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import time

import numpy as np
import pytest
import torch

import course_lib.checks
from course_lib.checks.benchmark import check_topk_error
from course_lib.checks.pipeline import check_pca_color
from course_lib.exercises import use


def all_checks() -> dict:
    found = {}
    for info in pkgutil.iter_modules(course_lib.checks.__path__, "course_lib.checks."):
        if info.name.endswith(".core"):
            continue  # the harness (check_cases), not an exercise's check
        module = importlib.import_module(info.name)
        for name, fn in vars(module).items():
            if name.startswith("check_") and inspect.isfunction(fn) and \
                    fn.__module__ == module.__name__:
                found[name] = fn
    return found


class Ambiguous:
    """What an answer returns when it hands back something with no truth value."""

    def __bool__(self):
        raise ValueError("The truth value of an array with more than one element is ambiguous")

    __eq__ = __lt__ = __gt__ = __le__ = __ge__ = __float__ = __index__ = __bool__
    __hash__ = object.__hash__


def _raises(*args, **kwargs):
    raise ValueError("a learner's own bug")


def _key_error(*args, **kwargs):
    return {}["missing"]


def _mutates_and_returns_nan(*args, **kwargs):
    for a in args:
        if isinstance(a, np.ndarray) and a.flags.writeable and a.size:
            a.flat[0] = a.flat[0] + 1 if a.dtype != bool else not a.flat[0]
        elif isinstance(a, torch.Tensor) and a.numel():
            a.view(-1)[0] += 1
        elif isinstance(a, list) and a:
            a.reverse()
    return math.nan


HOSTILE = {
    "raises its own exception": _raises,
    "raises KeyError": _key_error,
    "returns a string": lambda *a, **k: "forty-two",
    "returns None": lambda *a, **k: None,
    "returns NaN": lambda *a, **k: math.nan,
    "returns an array of NaN": lambda *a, **k: np.full(7, np.nan),
    "returns a wrong-shape tensor": lambda *a, **k: torch.zeros(2, 3, 4),
    "returns an ambiguous value": lambda *a, **k: Ambiguous(),
    "changes its inputs": _mutates_and_returns_nan,
}
CHECKS = all_checks()


def test_every_check_is_in_the_battery():
    """The battery covers exactly the checks the notebooks' exercises hand over through."""
    import json
    import re
    from pathlib import Path

    used = set()
    for path in (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            used |= set(re.findall(r"= use\(\s*\w+,\s*(check_\w+)", "".join(cell["source"])))
    assert used == set(CHECKS) and len(used) >= 43


def todo(*args):
    """A learner's stub, as the notebooks ship it."""
    raise NotImplementedError


@pytest.mark.parametrize("check_name", sorted(CHECKS))
def test_an_unfinished_exercise_is_reported_not_failed(check_name, capsys):
    assert CHECKS[check_name](None) is False and CHECKS[check_name](todo) is False
    assert capsys.readouterr().out.count("not attempted") == 2


def reference(*args, **kwargs):
    return "the reference"


@pytest.mark.parametrize("check_name", sorted(CHECKS))
def test_use_never_raises_and_hands_over_in_one_line(check_name, capsys):
    check = CHECKS[check_name]
    start = time.perf_counter()
    for label, answer in HOSTILE.items():
        got = use(answer, check, reference, name=check_name)
        out = capsys.readouterr().out.strip()
        assert got is reference, f"{check_name}: {label} was accepted"
        assert len(out.splitlines()) == 1 and out.startswith("⚠️"), (check_name, label, out)
    assert time.perf_counter() - start < 10, check_name


def test_an_in_place_topk_error_is_refused_by_name():
    """It used to pass, then 02's top-5 read 0.898 instead of 0.422: sorting the scores in
    place scrambles every later call."""
    def topk_in_place(scores, targets, k):
        scores.sort(axis=1)  # the slip: sorts the caller's array
        top = np.argsort(-scores, axis=1)[:, :k]
        return float(np.mean(~(top == targets[:, None]).any(axis=1)))

    with pytest.raises(course_lib.checks.ExerciseError, match="changed its input `scores` in place"):
        check_topk_error(topk_in_place)


def test_an_in_place_pca_color_is_refused_by_name():
    """It used to pass, then 05's σ = 0.1 figure showed 11× the shift."""
    def pca_in_place(images, eigenvalues, eigenvectors, alpha):
        shift = (alpha * eigenvalues) @ eigenvectors.T  # (N, 3): Σᵢ αᵢ λᵢ pᵢ per image
        images += shift[:, :, None, None]  # the slip: adds into the caller's images
        return images

    with pytest.raises(course_lib.checks.ExerciseError,
                       match="changed its input `images` in place"):
        check_pca_color(pca_in_place)


def test_the_slip_search_names_the_first_slip_that_explains_the_answer():
    from course_lib.checks.core import slip_hint

    slips = [(0.5, "halved"), (2.0, "doubled"), (2.0, "doubled again")]
    assert slip_hint(2.0, slips) == "doubled"
    assert slip_hint(np.float32(0.5), [(0.5, "halved")]) == "halved"
    assert slip_hint(3.0, slips) == ""
    assert slip_hint("nonsense", slips) == ""  # not a number: no slip, and no error
    assert slip_hint(np.ones(3), [(np.ones(2), "short"), (np.ones(3), "ones")]) == "ones"
    assert slip_hint(Ambiguous(), slips) == ""  # a comparison that raises is not a match


# The checks that compare in stages a case table cannot express, each with its reason; every
# other check runs its cases through core.check_cases (and all call answers through attempt).
BESPOKE = {
    "check_neuron_counts": "a slip found from the answer itself (every count r× too large)",
    "check_nearest_neighbors": "indices first, then distances, each with its own message",
    "check_pca_color": "reports the per-pixel spread and RGB shift of an unexplained answer",
    "check_ten_crop": "reports which views are swapped",
    "check_mean_image": "reports the answer's pixel beside the expected one",
    "check_majority_vote": "names the first image the answer gets wrong, and its votes",
    "check_label_image": "hints from where the answer stopped and what the table holds there",
}


def test_the_checks_share_one_harness():
    import ast

    found = {}
    for info in pkgutil.iter_modules(course_lib.checks.__path__, "course_lib.checks."):
        tree = ast.parse(inspect.getsource(importlib.import_module(info.name)))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("check_") and \
                    node.name != "check_cases":
                called = {c.func.id for c in ast.walk(node)
                          if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
                found[node.name] = "check_cases" in called or bool(called & {"attempt"})
                if "check_cases" not in called:
                    assert node.name in BESPOKE, f"{node.name} does not use check_cases"
                    assert "attempt" in called, f"{node.name} calls the answer directly"
    assert set(BESPOKE) <= set(found) and len(found) == len(CHECKS)
