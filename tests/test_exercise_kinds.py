"""Most exercises make the learner think: derive, predict or build what the page has not printed.

Each exercise's stub cell is tagged with its kind (``exercise-derive``, ``-predict``, ``-build``
or ``-apply``: ``.ci/exercises.py``). An exercise of the first three kinds counts only if the
page above its check states neither the formula or algorithm its solution implements nor its
answer: its check module's ``ANSWERS`` names those strings (the entry may not be empty) and
``tests/test_answers_kept.py`` fails if one stands above the check. Here: every exercise has one
kind, at least half of them count, and the chapter summaries list each exercise with its kind.
Planted notebooks show each rule can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_scripts import load_ci_script
from test_answers_kept import check_cells_of, declared, given_away

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
tool = load_ci_script("exercises", "exercises_tool")


def all_exercises() -> list:
    found = []
    for path in NOTEBOOKS:
        exercises, problems = tool.exercises(path)
        assert not problems, problems
        found += exercises
    return found


def thinking_share(exercises: list) -> float:
    return sum(ex.kind in tool.THINKING for ex in exercises) / len(exercises)


def test_every_exercise_has_one_kind():
    kinds = {ex.name: ex.kind for ex in all_exercises()}
    assert kinds and all(kind in tool.KINDS for kind in kinds.values()), kinds


def test_at_least_half_of_the_exercises_derive_predict_or_build():
    exercises = all_exercises()
    share = thinking_share(exercises)
    assert share >= 0.5, (f"{share:.0%} of {len(exercises)} exercises derive, predict or build: "
                          + ", ".join(f"{ex.name} ({ex.kind})" for ex in exercises))


def test_each_counted_exercise_declares_what_would_give_it_away():
    """A derive/predict/build exercise names its formula's fragments or answer in ANSWERS (so
    test_answers_kept can keep them below its check); an empty entry would make the rule void."""
    answers = declared()
    empty = [ex.name for ex in all_exercises()
             if ex.kind in tool.THINKING and not answers.get(ex.name)]
    assert not empty, f"derive/predict/build exercises with nothing declared in ANSWERS: {empty}"


def _planted(tmp_path: Path, tags: list[str], above: str) -> Path:
    def cell(kind, text, tags=()):
        return {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": [text],
                **({"outputs": [], "execution_count": None} if kind == "code" else {})}
    cells = [
        cell("markdown", above),
        cell("code", "def area(w, h):\n    # ✏️ your code here\n    raise NotImplementedError\n",
             tags),
        cell("code", "check_area(area)\n"),
        cell("markdown", "<details><summary><b>Solution</b> (try first)</summary>w·h</details>\n"),
        cell("code", "def area_solution(w, h):\n    return w * h\ncheck_area(area_solution)\n",
             ["solution"]),
        cell("code", "area = use(area, check_area, area_solution)\n"),
    ]
    path = tmp_path / "99_planted.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


def test_a_stub_without_a_kind_or_with_two_is_refused(tmp_path):
    for tags in ([], ["exercise-derive", "exercise-build"], ["exercise-guess"]):
        found, problems = tool.exercises(_planted(tmp_path, tags, "### ✏️ Exercise 1: area\n"))
        assert any("needs exactly one kind tag" in p for p in problems), (tags, problems)
    found, problems = tool.exercises(_planted(tmp_path, ["exercise-derive"], "area\n"))
    assert not problems and found[0].kind == "derive"


def test_a_formula_printed_above_a_derive_exercise_is_caught(tmp_path):
    path = _planted(tmp_path, ["exercise-derive"], "The area is `w * h`.\n")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert given_away(cells, {"area": ("w * h",)}, check_cells_of(cells)) == [
        "area: 'w * h' in cell 0"]


def test_the_share_counts_only_derive_predict_and_build():
    class Ex:
        def __init__(self, kind):
            self.kind = kind
    assert thinking_share([Ex("derive"), Ex("apply")]) == 0.5
    assert thinking_share([Ex("apply"), Ex("apply"), Ex("predict")]) == pytest.approx(1 / 3)
