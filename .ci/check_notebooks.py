#!/usr/bin/env python3
"""Notebook hygiene: fail when a notebook would teach nothing on the web or leak local state.

Checks every ``notebooks/NN_*.ipynb`` (or the files/folders given):

* valid JSON, nbformat 4;
* no cell keeps an error output, and the notebook has been executed (outputs are kept from a
  laptop-profile run);
* notebook metadata holds only ``kernelspec``, ``language_info`` and ``jupytext``; cell metadata
  only ``tags``, ``jupyter`` (collapsed/hidden solutions) and ``cellView`` (Colab's form view,
  which hides a solution's code there); no execution timings;
* every cell tagged ``solution`` is hidden everywhere a learner opens it: JupyterLab
  (``jupyter.source_hidden``), Colab (``cellView: "form"``) and the course site (tag
  ``hide-input``), and keeps no output (its "✅ correct", sometimes with the answer, would show
  right under the learner's blank exercise; nbval proves in CI that every solution passes);
* the course conventions: the first cell is markdown with the Colab and Binder badges, and one
  code cell is tagged ``parameters``;
* kept outputs hold nothing of the machine that ran them and no stray values: no absolute path
  (a home, checkout or mount folder: print paths relative to the data folder), no object
  reprs such as ``<pandas.io.formats.style.Styler at 0x...>`` (a table with no text form), and
  no cell whose result is a bare number (a ``gc.collect()`` count left as the last line).

``--fix`` strips the metadata (keeping outputs and execution counts) and the solution cells'
outputs instead of reporting them (``make execute`` runs it after re-running the notebooks).
Exit status 1 when a problem is left, with one line per problem naming the file and cell.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NOTEBOOK_KEYS = {"kernelspec", "language_info", "jupytext"}
CELL_KEYS = {"tags", "jupyter", "cellView"}
SOLUTION_TAG = "solution"
LANGUAGE_INFO_KEYS = {"name"}


def notebook_paths(args: list[str]) -> list[Path]:
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            paths.extend(sorted(p.glob("[0-9][0-9]_*.ipynb")))
        else:
            paths.append(p)
    return paths


def strip(nb: dict) -> bool:
    """Remove disallowed metadata in place; True if anything changed."""
    changed = False
    meta = nb.setdefault("metadata", {})
    for key in set(meta) - NOTEBOOK_KEYS:
        del meta[key]
        changed = True
    info = meta.get("language_info")
    if isinstance(info, dict):
        for key in set(info) - LANGUAGE_INFO_KEYS:
            del info[key]
            changed = True
    for cell in nb.get("cells", []):
        cmeta = cell.setdefault("metadata", {})
        for key in set(cmeta) - CELL_KEYS:
            del cmeta[key]
            changed = True
        for out in cell.get("outputs", []):
            if out.get("metadata") and out.get("output_type") in ("display_data", "execute_result"):
                out["metadata"] = {}
                changed = True
        if SOLUTION_TAG in cmeta.get("tags", []) and (cell.get("outputs")
                                                      or cell.get("execution_count") is not None):
            cell["outputs"], cell["execution_count"] = [], None
            changed = True
    return changed


# An absolute path of the machine that ran the notebook: a home, checkout or mount folder
# (POSIX), or a drive-letter path (Windows). Relative paths and URLs are fine, and so is a
# throw-away folder under /tmp (its name is random and says nothing of the machine).
MACHINE_PATH = re.compile(
    r"(?<![\w.:/])(?:/(?:root|home|Users|work|mnt|media|private|var/folders|opt|srv|content)"
    r"(?:/[^\s'\"),:;]*)?|[A-Za-z]:\\[^\s'\"]+)")
OBJECT_REPR = re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>")
CHECK_CALL = re.compile(r"check_\w+\(.*\)")  # an exercise check call without its `;`
BARE_NUMBER = re.compile(r"-?\d[\d_,]*(?:\.\d+)?(?:e[+-]?\d+)?")


def _output_texts(out: dict) -> list[str]:
    """The text a kept output shows: stream text and every ``text/*`` representation."""
    texts = ["".join(out.get("text", []))] if "text" in out else []
    for mime, value in out.get("data", {}).items():
        if mime.startswith("text/"):
            texts.append(value if isinstance(value, str) else "".join(value))
    return texts


def output_problems(out: dict) -> list[str]:
    """Why one kept output leaks the machine or a stray value (empty when it does not)."""
    found = []
    for text in _output_texts(out):
        path = MACHINE_PATH.search(text)
        if path:
            found.append(f"output shows the machine path {path.group(0)!r} (print it relative "
                         "to the data folder or the working directory)")
        obj = OBJECT_REPR.search(text)
        if obj:
            found.append(f"output is an object repr {obj.group(0)!r} with no text form (a "
                         "pandas Styler: give the table a text form too)")
    if out.get("output_type") == "execute_result":
        plain = out.get("data", {}).get("text/plain", "")
        plain = (plain if isinstance(plain, str) else "".join(plain)).strip()
        if plain in ("True", "False"):
            found.append(f"cell's result is a bare {plain} (end the call with `;`: a check "
                         "prints its own one-line verdict)")
        elif BARE_NUMBER.fullmatch(plain):
            found.append(f"cell's result is the bare value {plain} (end the cell with `;` or "
                         "print what the number means)")
    return found


def solution_problems(cell: dict) -> list[str]:
    """Why a cell tagged ``solution`` is not hidden everywhere (empty when it is)."""
    meta = cell.get("metadata", {})
    if SOLUTION_TAG not in meta.get("tags", []):
        return []
    found = []
    if not meta.get("jupyter", {}).get("source_hidden"):
        found.append("solution not hidden in JupyterLab (metadata jupyter.source_hidden)")
    if meta.get("cellView") != "form":
        found.append('solution not hidden on Colab (metadata cellView: "form")')
    if "hide-input" not in meta.get("tags", []):
        found.append("solution not collapsed on the course site (tag hide-input)")
    if cell.get("outputs"):
        found.append("solution keeps outputs (the answer shows under the learner's stub; run "
                     "with --fix)")
    return found


def problems(path: Path, nb: dict) -> list[str]:
    found = []
    if nb.get("nbformat") != 4:
        found.append(f"{path}: nbformat {nb.get('nbformat')} (expected 4)")
    meta = nb.get("metadata", {})
    extra = sorted(set(meta) - NOTEBOOK_KEYS)
    if extra:
        found.append(f"{path}: notebook metadata not stripped: {', '.join(extra)} (run with --fix)")
    info = meta.get("language_info", {})
    extra_info = sorted(set(info) - LANGUAGE_INFO_KEYS) if isinstance(info, dict) else []
    if extra_info:
        found.append(f"{path}: language_info carries {', '.join(extra_info)} (run with --fix)")
    cells = nb.get("cells", [])
    code = [c for c in cells if c.get("cell_type") == "code"]
    for i, cell in enumerate(cells, start=1):
        extra = sorted(set(cell.get("metadata", {})) - CELL_KEYS)
        if extra:
            found.append(f"{path}: cell {i}: metadata not stripped: {', '.join(extra)} (run with --fix)")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"{path}: cell {i}: keeps an error output "
                             f"({out.get('ename')}: {out.get('evalue')})")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = "".join(out.get("text", []))
                if "Traceback (most recent call last)" in text:
                    found.append(f"{path}: cell {i}: stderr keeps a traceback")
            found.extend(f"{path}: cell {i}: {why}" for why in output_problems(out))
    for i, cell in enumerate(cells, start=1):
        found.extend(f"{path}: cell {i}: {why}" for why in solution_problems(cell))
        last = "".join(cell.get("source", [])).rstrip().rsplit("\n", 1)[-1]
        if cell.get("cell_type") == "code" and CHECK_CALL.fullmatch(last):
            found.append(f"{path}: cell {i}: `{last}` shows the check's True/False under its "
                         "verdict: end it with `;`")
    if code and all(c.get("execution_count") is None for c in code if c.get("source")):
        found.append(f"{path}: no cell has been executed (keep outputs from a laptop-profile run)")
    if not cells or cells[0].get("cell_type") != "markdown":
        found.append(f"{path}: the first cell must be markdown (title, goals, badges)")
    else:
        first = "".join(cells[0].get("source", []))
        for badge, host in (("Colab", "colab.research.google.com"), ("Binder", "mybinder.org")):
            if host not in first:
                found.append(f"{path}: cell 1: no {badge} badge ({host})")
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in code):
        found.append(f"{path}: no code cell is tagged 'parameters'")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["notebooks"])
    parser.add_argument("--fix", action="store_true",
                        help="strip metadata and solution outputs in place")
    args = parser.parse_args(argv)
    paths = notebook_paths(args.paths)
    if not paths:
        print("check_notebooks: no notebooks found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    found: list[str] = []
    for path in paths:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            found.append(f"{path}: not a readable notebook ({exc})")
            continue
        if args.fix and strip(nb):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"stripped {path}")
        found.extend(problems(path, nb))
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"notebook hygiene: {len(paths)} notebook(s) clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
