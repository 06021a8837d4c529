"""No page gives an exercise's answer away before the learner has written it.

Each chapter's checks declare the strings that would (``ANSWERS`` in ``course_lib.checks.<x>``:
the number the exercise asks for, the count written out); no cell above the exercise's check cell
may contain one: not the title's objectives, a heading, prose, code or a kept output, in the
course's own notebooks or in the learner's copy ``make student`` writes. A planted case shows
the test can fail.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
from ci_scripts import load_ci_script

import course_lib.checks

ROOT = Path(__file__).resolve().parent.parent
tool = load_ci_script("exercises", "exercises_tool")


def declared() -> dict[str, tuple[str, ...]]:
    """``{exercise name: answer strings}`` over every chapter's checks."""
    found = {}
    for info in pkgutil.iter_modules(course_lib.checks.__path__, "course_lib.checks."):
        found.update(getattr(importlib.import_module(info.name), "ANSWERS", {}))
    return found


def visible_text(cell: dict) -> str:
    """What a learner sees of a cell: its source and its kept text outputs."""
    text = "".join(cell.get("source", []))
    for out in cell.get("outputs", []):
        text += "".join(out.get("text", []))
        text += "".join(out.get("data", {}).get("text/plain", []))
    return text


def given_away(cells: list[dict], answers: dict[str, tuple[str, ...]],
               check_cells: dict[str, int]) -> list[str]:
    """``"exercise: 'answer' in cell i"`` for every declared answer stated above its check."""
    found = []
    for name, strings in answers.items():
        if name not in check_cells:
            continue
        for i, cell in enumerate(cells[:check_cells[name]]):
            text = visible_text(cell)
            found += [f"{name}: {s!r} in cell {i}" for s in strings
                      if re.search(rf"(?<![\w.]){re.escape(s)}(?![\w])", text)]
    return found


def check_cells_of(cells: list[dict]) -> dict[str, int]:
    """``{exercise name: index of its check cell}``, found by the check call in the cell."""
    found = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            for name in re.findall(r"^check_\w+\((\w+)\);?\s*$", "".join(cell["source"]), re.M):
                found.setdefault(name, i)
    return found


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_every_exercise_declares_its_answers_and_only_exercises_do():
    """An exercise with nothing that could give it away declares an empty tuple, with its
    reason beside it in the check module; a name no exercise has is a stale declaration."""
    names = {ex.name for path in NOTEBOOKS for ex in tool.exercises(path)[0]}
    assert len(names) >= 43 and set(declared()) == names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_answer_stands_above_its_exercise(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert given_away(cells, declared(), check_cells_of(cells)) == []
    student = json.loads(tool.stripped_text(path))["cells"]
    assert given_away(student, declared(), check_cells_of(student)) == []


def test_a_planted_answer_in_a_heading_is_caught():
    path = ROOT / "notebooks" / "05_data_pipeline.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    cells[0]["source"] = ["# 04 · crops and flips: the paper's 2048, or 2,178?\n"]
    assert given_away(cells, declared(), check_cells_of(cells)) == [
        "crop_count: '2,178' in cell 0"]
