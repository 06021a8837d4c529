#!/usr/bin/env python3
"""The exercise system of every notebook: find each exercise, check its shape, strip solutions.

An exercise is five cells in this order (``../shared/DESIGN.md``, notebook conventions):

1. the stub: ``def NAME(...)`` with ``# ✏️ your code here`` and ``raise NotImplementedError``;
2. the check: ``check_X(NAME)``;
3. markdown ``<details><summary><b>Solution</b> ...`` (the idea, in words);
4. the solution, a code cell tagged ``solution`` defining ``NAME_solution`` and checking it;
5. the hand-over: ``NAME = use(NAME, check_X, NAME_solution)``.

The stub carries its kind as one tag (``KINDS``): ``exercise-derive``, ``exercise-predict`` or
``exercise-build`` when the learner works out, predicts or writes what the page above has not
printed (neither the formula or algorithm its solution implements nor its answer: the check
module's ``ANSWERS`` name what would give it away, ``tests/test_answers_kept.py`` keeps them
below the check), ``exercise-apply`` for the rest. ``tests/test_exercise_kinds.py`` keeps the
first three at least half of all exercises.

``python .ci/exercises.py --list`` prints every exercise found; ``--strip SRC OUT`` writes a
copy of the notebooks without solutions (cells 3 and 4 removed, cell 5 handing over ``None``,
so a learner must solve each exercise to go on: :func:`course_lib.exercises.use` then says so).
It never writes into SRC, never overwrites a notebook already in OUT unless ``--force``
(``make student FORCE=1``), checks every target before writing any, and lists what it wrote
(sha256 of each copy and of its source) in ``OUT/.student-manifest.json``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course_lib.diskspace import DiskFullError, explain_disk_full, require_free_space

ROOT = Path(__file__).resolve().parent.parent
STUB = re.compile(r"(?:def|class) (\w+)\b.*?# ✏️ your code here.*?raise NotImplementedError", re.S)
CHECK = re.compile(r"^(check_\w+)\((\w+)\)", re.M)
USE = re.compile(r"^(\w+) = use\(\s*(\w+),\s*(check_\w+),\s*(\w+)\s*(?:,\s*name=[^)]*)?\)", re.M)
DETAILS = "<details><summary><b>Solution</b>"
# Prose about the solutions, which the learner's copy does not have: ``--strip`` removes it.
WITH_SOLUTIONS = re.compile(r"<!-- with-solutions -->.*?<!-- /with-solutions -->", re.S)
NOT_ATTEMPTED = "not attempted yet"
# an exercise's kind, a tag on its stub cell; the first three make the learner think
KINDS = ("derive", "predict", "build", "apply")
THINKING = KINDS[:3]
MANIFEST = ".student-manifest.json"  # in OUT: what --strip wrote, with sha256s


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
    kind: str = ""


def kind_tags(cell: dict) -> list[str]:
    """The ``exercise-<kind>`` tags of a stub cell, without the prefix."""
    return [t.removeprefix("exercise-") for t in cell.get("metadata", {}).get("tags", [])
            if t.startswith("exercise-")]


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
        kinds = kind_tags(cells[stub])
        if len(kinds) != 1 or kinds[0] not in KINDS:
            problems.append(f"{path.name}: cell {stub + 1}: the stub of {name} needs exactly one "
                            f"kind tag, one of {', '.join('exercise-' + k for k in KINDS)} "
                            f"(has {', '.join(kinds) or 'none'})")
        found.append(Exercise(path.name, name, check_name, stub, check,
                              details if details is not None and stub < details < i else None,
                              i, after, kinds[0] if len(kinds) == 1 else ""))
    return found, problems


def kept_output_problems(path: Path, found: list[Exercise]) -> list[str]:
    """The kept (laptop-run) outputs show each blank exercise reported as not attempted, no
    output of any solution (it would give the answer away under the blank exercise; nbval runs
    every solution through its check in CI), and each hand-over naming the reference."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    problems = []
    for ex in found:
        if NOT_ATTEMPTED not in text_outputs(cells[ex.check_cell]):
            problems.append(f"{path.name}: {ex.name}: the check of the blank exercise does not "
                            f"say '{NOT_ATTEMPTED}'")
        if cells[ex.solution].get("outputs"):
            problems.append(f"{path.name}: {ex.name}: the solution cell keeps outputs (the answer "
                            "shows under the learner's stub)")
        if "reference solution" not in text_outputs(cells[ex.use]):
            problems.append(f"{path.name}: {ex.name}: the hand-over does not say the reference "
                            "is used")
    return problems


class StudentCopyError(Exception):
    """``--strip`` refuses: the copy would overwrite the course or a learner's work. Raised before
    anything is written; the message names the path and the fix, on one line."""


@dataclass
class CopyPlan:
    """What ``--strip SRC OUT`` will do, decided before any write.

    ``targets``: every notebook of the copy, ``OUT/NN_*.ipynb``, in order; ``texts``: the stripped
    text of each (same order); ``unchanged``: the targets that already hold exactly that text
    (left as they are, so an interrupted run resumes); ``sources``: the notebooks they come from;
    ``manifest``: the earlier run's manifest (its entries for other notebooks are kept).
    """

    out: Path
    sources: list[Path]
    targets: list[Path]
    texts: list[str]
    unchanged: set[Path]
    manifest: dict


def stripped_text(path: Path) -> str:
    """The text of ``path`` without its solutions: solution cells and their notes removed, prose
    about them (``<!-- with-solutions -->…<!-- /with-solutions -->``) cut, every hand-over handing
    ``None`` over, every output cleared."""
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
        else:
            cell["source"] = WITH_SOLUTIONS.sub("", source(cell))
        for ex in found:
            if i == ex.use:
                cell["source"] = (f"{ex.name} = use({ex.name}, {ex.check}, None)  "
                                  "# the cells below need your function: solve the exercise above")
        cells.append(cell)
    nb["cells"] = cells
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lies_in(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it, after symlinks and ``..`` are resolved.
    Compared by file identity (``samefile``), so another spelling of the same folder (a case
    variant on a case-insensitive disk, a bind mount) counts too."""
    path = path.resolve()
    return any(p.exists() and os.path.samefile(p, folder) for p in (path, *path.parents))


def read_manifest(out: Path, force: bool) -> dict:
    """The ``OUT/.student-manifest.json`` of an earlier run (``{"notebooks": {}}`` when none).
    One that cannot be read refuses, unless ``force`` (then it is replaced)."""
    path = out / MANIFEST
    if not path.exists() and not path.is_symlink():
        return {"notebooks": {}}
    if path.is_dir():
        raise StudentCopyError(f"{path} is a folder; move it away or choose another OUT")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("notebooks"), dict):
            raise ValueError("no 'notebooks' table")
        return manifest
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if force:
            return {"notebooks": {}}
        raise StudentCopyError(f"{path} is not a manifest make student can read ({exc}); move it "
                               "away, or add FORCE=1 (--force) to replace it") from exc


def why_taken(target: Path, manifest: dict) -> str:
    """Why an existing ``target`` that differs from the new copy matters, from the manifest."""
    if target.is_symlink():
        return f"is a link to {os.readlink(target)}"
    entry = manifest["notebooks"].get(target.name)
    if not isinstance(entry, dict) or "sha256" not in entry:
        return "was not written by make student"
    if entry["sha256"] != sha256(target.read_bytes()):
        return "was edited since make student wrote it (a learner's answers?)"
    return "is an older copy from make student"


def plan_copy(src: Path, out: Path, force: bool = False) -> CopyPlan:
    """Check every target of ``--strip src out`` before anything is written.

    Refuses (:class:`StudentCopyError`) when ``out`` is or lies inside ``src`` (even with
    ``force``: the course itself is never overwritten), when ``out`` or a target is not what it
    must be (a file for the folder, a folder or a link into ``src`` for a notebook), and, without
    ``force``, when a target already exists with other contents. ``out`` may be an ancestor of
    ``src`` (the repository root, say): its notebooks are ``OUT/NN_*.ipynb``, never a source.
    """
    if not src.is_dir():
        raise StudentCopyError(f"the source folder {src} does not exist; give the folder that "
                               "holds the course notebooks")
    sources = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise StudentCopyError(f"no notebooks NN_*.ipynb in {src}; give the folder that holds "
                               "the course notebooks")
    try:
        inside = lies_in(out, src.resolve())
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise StudentCopyError(f"OUT {out} cannot be resolved ({exc}); choose another OUT") \
            from exc
    if inside:
        where = "is the source folder" if out.resolve() == src.resolve() else \
            "lies inside the source folder"
        raise StudentCopyError(f"OUT {out} {where} {src} ({out.resolve()}): writing there "
                               "would overwrite the course notebooks or put copies where make "
                               "test collects them; choose a folder outside it, e.g. "
                               "OUT=student-notebooks")
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise StudentCopyError(f"OUT {out} exists and is not a folder; choose another OUT")
    manifest = read_manifest(out, force)
    targets = [out / path.name for path in sources]
    texts = [stripped_text(path) for path in sources]
    unchanged, taken = set(), []
    for source, target, text in zip(sources, targets, texts):
        if not target.exists() and not target.is_symlink():
            continue
        if target.is_dir():
            raise StudentCopyError(f"{target} is a folder; move it away or choose another OUT")
        if target.exists() and (os.path.samefile(target, source) or
                                lies_in(target, src.resolve())):
            raise StudentCopyError(f"{target} is a link to a course notebook in {src}; remove "
                                   "the link or choose another OUT")
        if target.is_file() and not target.is_symlink() and \
                target.read_bytes() == text.encode("utf-8"):
            unchanged.add(target)
        elif not force:
            taken.append(target)
    if taken:
        more = f" (and {len(taken) - 1} more notebooks there)" if len(taken) > 1 else ""
        raise StudentCopyError(f"{taken[0]} already exists and {why_taken(taken[0], manifest)}"
                               f"{more}; nothing was written. Choose another OUT, or add "
                               "FORCE=1 (--force) to overwrite")
    return CopyPlan(out, sources, targets, texts, unchanged, manifest)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so a
    link or hard link already at ``path`` is replaced, never written through."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_copy(plan: CopyPlan) -> list[Path]:
    """Write the notebooks ``plan`` found missing or (with ``force``) different, then the
    manifest ``OUT/.student-manifest.json`` (each notebook's sha256 and its source's);
    returns every notebook of the copy."""
    payloads = [text.encode("utf-8") for text in plan.texts]
    needed = sum(len(b) for t, b in zip(plan.targets, payloads) if t not in plan.unchanged)
    require_free_space(plan.out, needed + 65536, "the student copy")
    with explain_disk_full(plan.out, "the student copy", needed):
        plan.out.mkdir(parents=True, exist_ok=True)
        for target, data in zip(plan.targets, payloads):
            if target not in plan.unchanged:
                write_atomically(target, data)
        notebooks = dict(plan.manifest["notebooks"])
        for source, target, data in zip(plan.sources, plan.targets, payloads):
            notebooks[target.name] = {"sha256": sha256(data),
                                      "source": str(source.resolve()),
                                      "source_sha256": sha256(source.read_bytes())}
        manifest = {"written_by": "make student (.ci/exercises.py --strip)",
                    "notebooks": dict(sorted(notebooks.items()))}
        write_atomically(plan.out / MANIFEST,
                         (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
    return plan.targets


def strip(src: Path, out: Path, force: bool = False) -> list[Path]:
    """Copy the notebooks of ``src`` to ``out`` without solutions; returns the copy's notebooks.
    Checks every target first (:func:`plan_copy`): nothing is written when one is refused."""
    return write_copy(plan_copy(src, out, force))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every exercise found")
    parser.add_argument("--strip", nargs=2, metavar=("SRC", "OUT"), type=Path,
                        help="write a copy of the notebooks in SRC to OUT without solutions")
    parser.add_argument("--force", action="store_true",
                        help="with --strip: overwrite notebooks already in OUT (never in SRC)")
    args = parser.parse_args(argv)
    if args.strip:
        try:
            plan = plan_copy(*args.strip, force=args.force)
            written = write_copy(plan)
        except (StudentCopyError, DiskFullError) as exc:
            print(f"make student: error: {exc}", file=sys.stderr)
            return 1
        kept = f" ({len(plan.unchanged)} already up to date)" if plan.unchanged else ""
        print(f"{len(written)} notebooks without solutions in {args.strip[1]}{kept}; "
              f"list in {args.strip[1] / MANIFEST}")
        return 0
    problems = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        found, bad = exercises(path)
        problems += bad
        if args.list:
            for ex in found:
                print(f"{path.name}: {ex.name} ({ex.check}, {ex.kind or 'no kind'})")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
