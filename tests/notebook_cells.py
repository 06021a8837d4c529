"""Run one code cell of a course notebook, found by its first line, and return what it defines.

Tests that prove a notebook's own code (the teaching loop, the optional real-data cells) read
the cell from the notebook rather than keep a copy, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_marked_cell(notebook: str, marker: str) -> dict:
    """Execute the one code cell of ``notebooks/<notebook>`` whose source starts with
    ``marker``; return its namespace. Fails when no cell, or more than one, starts so."""
    path = NOTEBOOKS / notebook
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = [src for c in cells if c["cell_type"] == "code"
             and (src := "".join(c["source"])).startswith(marker)]
    assert len(found) == 1, f"{notebook}: expected one code cell starting with {marker!r}, " \
                            f"found {len(found)}"
    namespace: dict = {}
    exec(compile(found[0], f"{path.name}: {marker}", "exec"), namespace)
    return namespace


def run_cells_with(notebook: str, markers: list[str], namespace: dict | None = None) -> dict:
    """Execute, in one namespace and in notebook order, the code cells of
    ``notebooks/<notebook>`` that contain one of ``markers`` (each must match exactly one
    cell); return the namespace."""
    path = NOTEBOOKS / notebook
    cells = ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]
    chosen = set()
    for marker in markers:
        found = [i for i, src in enumerate(cells) if marker in src]
        assert len(found) == 1, f"{notebook}: expected one code cell with {marker!r}, found " \
                                f"{len(found)}"
        chosen.add(found[0])
    namespace = {} if namespace is None else namespace
    for i in sorted(chosen):
        exec(compile(cells[i], f"{path.name}: code cell {i}", "exec"), namespace)
    return namespace
