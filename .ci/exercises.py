#!/usr/bin/env python3
"""The exercise system of every notebook: find each exercise, check its shape, strip solutions.

An exercise is five cells in this order (``../shared/DESIGN.md``, notebook conventions):

1. the stub: ``def NAME(...)`` with ``# ✏️ your code here`` and ``raise NotImplementedError``;
2. the check: ``check_X(NAME)``;
3. markdown ``<details><summary><b>Solution</b> ...`` (the idea, in words);
4. the solution, a code cell tagged ``solution`` defining ``NAME_solution`` and checking it;
5. the hand-over: ``NAME = use(NAME, check_X, NAME_solution)``.

``python .ci/exercises.py --list`` prints every exercise found; ``--strip SRC OUT`` writes a
copy of the notebooks without solutions (cells 3 and 4 removed, cell 5 handing over ``None``,
so a learner must solve each exercise to go on: :func:`course_lib.exercises.use` then says so).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUB = re.compile(r"(?:def|class) (\w+)\b.*?# ✏️ your code here.*?raise NotImplementedError", re.S)
CHECK = re.compile(r"^(check_\w+)\((\w+)\)", re.M)
USE = re.compile(r"^(\w+) = use\(\s*(\w+),\s*(check_\w+),\s*(\w+)\s*(?:,\s*name=[^)]*)?\)", re.M)
DETAILS = "<details><summary><b>Solution</b>"
NOT_ATTEMPTED = "not attempted yet"


@dataclass
class Exercise:
    notebook: str
    name: str
    check: str
    stub: int  # cell indices
    check_cell: int
    details: int | None
    solution: int
    use: int


def source(cell: dict) -> str:
    return "".join(cell.get("source", []))


def is_solution(cell: dict) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def text_outputs(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]))
        parts.extend("".join(v) for k, v in out.get("data", {}).items() if k == "text/plain")
    return "".join(parts)


def exercises(path: Path) -> tuple[list[Exercise], list[str]]:
    """Every exercise of one notebook, and every way one breaks the five-cell shape."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found, problems = [], []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not is_solution(cell):
            continue
        where = f"{path.name}: cell {i + 1}"
        body = source(cell)
        defined = re.search(r"^(?:def|class) (\w+?)(_solution|Solution)\b|^(\w+?)(_solution)\s*=",
                            body, re.M)
        if not defined:
            problems.append(f"{where}: a solution cell that defines no NAME_solution function")
            continue
        name = defined.group(1) or defined.group(3)
        solution = name + (defined.group(2) or defined.group(4))
        stub = next((j for j in range(i - 1, -1, -1) if cells[j]["cell_type"] == "code" and
                     (m := STUB.search(source(cells[j]))) and m.group(1) == name), None)
        check = next((j for j in range(stub + 1, i) if stub is not None and
                      cells[j]["cell_type"] == "code" and
                      any(arg == name for _, arg in CHECK.findall(source(cells[j])))), None)
        details = next((j for j in range(i - 1, -1, -1) if cells[j]["cell_type"] == "markdown"
                        and source(cells[j]).lstrip().startswith(DETAILS)), None)
        after = next((j for j in range(i + 1, len(cells)) if cells[j]["cell_type"] == "code"),
                     None)
        hand = USE.search(source(cells[after])) if after is not None else None
        if stub is None:
            problems.append(f"{where}: no stub `def {name}(...)` with `# ✏️ your code here` and "
                            "`raise NotImplementedError` before it")
            continue
        if check is None:
            problems.append(f"{where}: no `check_...({name})` cell after the stub")
            continue
        check_name = next(c for c, arg in CHECK.findall(source(cells[check])) if arg == name)
        if not re.search(rf"{check_name}\(\s*{solution}\b", body):
            problems.append(f"{where}: the solution is not run through {check_name}")
        if not hand or hand.group(1) != name or hand.group(2) != name or \
                hand.group(3) != check_name or hand.group(4) != solution:
            problems.append(f"{where}: the next code cell must be `{name} = use({name}, "
                            f"{check_name}, {solution})`")
            continue
        found.append(Exercise(path.name, name, check_name, stub, check,
                              details if details is not None and stub < details < i else None,
                              i, after))
    return found, problems


def kept_output_problems(path: Path, found: list[Exercise]) -> list[str]:
    """The kept (laptop-run) outputs show each blank exercise reported as not attempted, each
    solution passing its check, and each hand-over naming the reference."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    problems = []
    for ex in found:
        if NOT_ATTEMPTED not in text_outputs(cells[ex.check_cell]):
            problems.append(f"{path.name}: {ex.name}: the check of the blank exercise does not "
                            f"say '{NOT_ATTEMPTED}'")
        if "✅" not in text_outputs(cells[ex.solution]):
            problems.append(f"{path.name}: {ex.name}: the solution's kept output shows no pass")
        if "reference solution" not in text_outputs(cells[ex.use]):
            problems.append(f"{path.name}: {ex.name}: the hand-over does not say the reference "
                            "is used")
    return problems


def strip(src: Path, out: Path) -> list[Path]:
    """Copy the notebooks of ``src`` to ``out`` without solutions; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        found, _ = exercises(path)
        drop = {ex.solution for ex in found} | {ex.details for ex in found if ex.details}
        cells = []
        for i, cell in enumerate(nb["cells"]):
            if i in drop:
                continue
            cell = copy.deepcopy(cell)
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
            for ex in found:
                if i == ex.use:
                    cell["source"] = (f"{ex.name} = use({ex.name}, {ex.check}, None)  "
                                      "# this copy has no solutions: solve the exercise above")
            cells.append(cell)
        nb["cells"] = cells
        target = out / path.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every exercise found")
    parser.add_argument("--strip", nargs=2, metavar=("SRC", "OUT"), type=Path,
                        help="write a copy of the notebooks in SRC to OUT without solutions")
    args = parser.parse_args(argv)
    if args.strip:
        written = strip(*args.strip)
        print(f"{len(written)} notebooks without solutions in {args.strip[1]}")
        return 0
    problems = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        found, bad = exercises(path)
        problems += bad
        if args.list:
            for ex in found:
                print(f"{path.name}: {ex.name} ({ex.check})")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
