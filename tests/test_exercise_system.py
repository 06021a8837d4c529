"""One exercise system in every notebook (.ci/exercises.py): each exercise has its stub, its
check, a hidden solution run through the check, and a hand-over to later cells; the kept
outputs show the blank exercise reported as not attempted and nothing of the solution (nbval
runs it through its check in CI); and an instructor can strip the solutions with one command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ci_scripts import load_ci_script

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


tool = load_ci_script("exercises", "exercises_tool")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_the_five_cells(path):
    found, problems = tool.exercises(path)
    assert problems == []
    assert len(found) >= 3, f"{path.name}: {len(found)} exercises (the course asks for 3 or more)"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for ex in found:
        meta = cells[ex.solution]["metadata"]
        assert meta.get("jupyter", {}).get("source_hidden") and meta.get("cellView") == "form"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kept_outputs_show_blank_exercises_and_no_solution_output(path):
    found, _ = tool.exercises(path)
    assert tool.kept_output_problems(path, found) == []


def test_the_checker_catches_a_broken_exercise(tmp_path):
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    found, _ = tool.exercises(NOTEBOOKS[0])
    first = found[0]
    nb["cells"][first.use]["source"] = f"{first.name} = {first.name}_solution\n"  # no use()
    nb["cells"][first.check_cell]["outputs"] = []  # nothing kept
    broken = tmp_path / NOTEBOOKS[0].name
    broken.write_text(json.dumps(nb), encoding="utf-8")
    _, problems = tool.exercises(broken)
    assert any("must be" in p and f"use({first.name}" in p for p in problems), problems
    found_after, _ = tool.exercises(broken)
    nb["cells"][first.use]["source"] = \
        f"{first.name} = use({first.name}, {first.check}, {first.name}_solution)\n"
    broken.write_text(json.dumps(nb), encoding="utf-8")
    found_after, _ = tool.exercises(broken)
    assert any("not attempted" in p for p in tool.kept_output_problems(broken, found_after))
    nb["cells"][first.solution]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": ["✅ correct\n"]}]
    broken.write_text(json.dumps(nb), encoding="utf-8")
    assert any("solution cell keeps outputs" in p
               for p in tool.kept_output_problems(broken, tool.exercises(broken)[0]))


def test_stripping_removes_every_solution_and_keeps_everything_else(tmp_path):
    written = tool.strip(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for original, stripped in zip(NOTEBOOKS, written):
        found, _ = tool.exercises(original)
        cells = json.loads(stripped.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells)
        assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in cells)
        assert tool.DETAILS not in text
        for ex in found:
            assert f"{ex.name} = use({ex.name}, {ex.check}, None)" in text
            # nothing left refers to a solution that is gone
            assert not re.search(rf"\b{ex.name}(_solution|Solution)\b", text), ex.name
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
        kept = len(json.loads(original.read_text(encoding="utf-8"))["cells"])
        removed = sum(1 + (ex.details is not None) for ex in found)
        assert len(cells) == kept - removed
