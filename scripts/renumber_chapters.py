#!/usr/bin/env python3
"""Make room for a new chapter: shift chapters NN and above up by one, everywhere, in one go.

``python scripts/renumber_chapters.py --insert 03`` renames ``notebooks/03_*.ipynb`` …
``notebooks/10_*.ipynb`` to 04 … 11 (``git mv``), test files named by a chapter number, and
rewrites every mention in the tracked text files: notebook file names (``05_training_core``),
"notebook 05" / "chapters 05–09" / "05 and 10" in prose, comments and docstrings, "05's" and
"05 §2" in prose, section headings such as ``## 05 ·``, and the chapter-keyed data folders
(``submissions/07-laptop``). One regular-expression pass per file maps each old number to its new
one, so 03 → 04 never chains into 04 → 05.

Left alone, on purpose: ``CHANGELOG.md`` and ``benchmarks/results/`` (records of what was true
when written), image data in notebook outputs, and numbers that are not chapters (dates, times,
0.05, seeds). ``--dry-run`` prints each line it would change, old and new, and changes nothing;
the run after it is the one to commit, with the new chapter added in a commit of its own.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEEP = ("CHANGELOG.md", "benchmarks/results/")  # history: true when written
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".json", ".yml", ".yaml", ".toml", ".cfg", ".txt",
                 ".ini", ".sh", ""}
NUMBER = r"(?:0\d|1\d)"
JOIN = r"(?:\s*(?:–|-|—|,|and|or|to|&)\s*)"
# "notebook 05", "chapters 05–09", "notebooks 03, 05 and 07": every number of the list
NAMED = re.compile(rf"\b(?:[Nn]otebooks?|[Cc]hapters?|nb)\s+{NUMBER}(?:{JOIN}{NUMBER}\b)*(?!\w)")
# in prose only: a two-digit chapter number standing alone ("05's loop", "in 07 §3", "(06)",
# "## 05 · The training core"), not part of a date, time, decimal or longer number
# (a bare 10 only as "10's", "10 §", "10 ·" or after another chapter number: "10 classes" is not one)
ALONE = re.compile(rf"(?<![\w.:,/+\-−])(?:0[1-9](?:{JOIN}{NUMBER})*|10(?='s|\s*[§·]))"
                   rf"(?![\w%]|[.,:]\d|\s*%)")
# in code, comments and docstrings: "05's set-up cell", "07 §8", and "05_" as a name prefix
IN_CODE = re.compile(r"(?<![\w.:\-])(?:0[1-9]|10)(?='s\b|\s*§)|(?<=[\"'])(?:0[1-9]|10)_(?=[\"'])")
PROSE = re.compile(f"{NAMED.pattern}|{ALONE.pattern}|{IN_CODE.pattern}")
CODE = re.compile(f"{NAMED.pattern}|{IN_CODE.pattern}")
# chapter-keyed folders and names in code: f"07-{profile.name}", "chapter-05"
KEYED = re.compile(rf"(?<![\w.\-])(?:chapter-)?{NUMBER}(?=-(?:\{{|laptop|smoke|gpu|full))")


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    return [ROOT / p for p in out if p and not p.startswith(KEEP)]


def chapters() -> dict[str, str]:
    """``{"05": "05_training_core", ...}``: the chapters as they are now."""
    return {p.stem[:2]: p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


class Renumber:
    def __init__(self, insert: int, current: dict[str, str]):
        self.map = {nn: f"{int(nn) + 1:02d}" for nn in current if int(nn) >= insert}
        self.stems = {stem: self.map[nn] + stem[2:] for nn, stem in current.items()
                      if nn in self.map}

    def numbers(self, text: str) -> str:
        """Every chapter number in ``text`` (a matched mention) to its new number."""
        return re.sub(r"(?<!\d)\d\d(?!\d)", lambda m: self.map.get(m.group(), m.group()), text)

    def line(self, text: str, prose: bool) -> str:
        """One pass over ``text``: each mention is rewritten once, so nothing chains."""
        stems = "|".join(map(re.escape, self.stems)) or r"(?!x)x"
        forms = [rf"(?<![\w])(?:{stems})\b", r"test_notebook_\d\d_", KEYED.pattern,
                 (PROSE if prose else CODE).pattern]
        return re.sub("|".join(f"(?:{f})" for f in forms), lambda m: self.numbers(m.group()),
                      text)


def is_prose_file(path: Path) -> bool:
    return path.suffix == ".md"


def rewrite_notebook(path: Path, renumber: Renumber, changes: list) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        prose = cell["cell_type"] == "markdown"
        cell["source"] = _lines(cell.get("source", []), renumber, prose, changes,
                                f"{path.name} cell {i}")
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = _lines(out["text"], renumber, False, changes,
                                     f"{path.name} cell {i} output")
            for key in ("text/plain", "text/markdown", "text/html"):
                if key in out.get("data", {}):
                    out["data"][key] = _lines(out["data"][key], renumber, False, changes,
                                              f"{path.name} cell {i} {key}")
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _lines(lines, renumber: Renumber, prose: bool, changes: list, where: str):
    as_list = isinstance(lines, list)
    items = lines if as_list else lines.splitlines(keepends=True)
    new = []
    for line in items:
        changed = renumber.line(line, prose)
        if changed != line:
            changes.append((where, line.rstrip("\n"), changed.rstrip("\n")))
        new.append(changed)
    return new if as_list else "".join(new)


def rewrite_text(path: Path, renumber: Renumber, changes: list) -> str:
    text = path.read_text(encoding="utf-8")
    return "".join(_lines(text.splitlines(keepends=True), renumber, is_prose_file(path),
                          changes, str(path.relative_to(ROOT))))


def renamed(path: Path, renumber: Renumber) -> Path:
    name = renumber.line(path.name, prose=False)
    return path.with_name(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insert", type=int, required=True,
                        help="the number the new chapter takes; chapters from it on move up one")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    args = parser.parse_args(argv)
    renumber = Renumber(args.insert, chapters())
    changes: list[tuple[str, str, str]] = []
    writes, moves = {}, []
    for path in tracked():
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            new = (rewrite_notebook if path.suffix == ".ipynb" else rewrite_text)(
                path, renumber, changes)
        except UnicodeDecodeError:
            continue
        if new != path.read_text(encoding="utf-8"):
            writes[path] = new
        target = renamed(path, renumber)
        if target != path:
            moves.append((path, target))
    for where, old, new in changes:
        print(f"{where}\n  - {old.strip()}\n  + {new.strip()}")
    print(f"{len(changes)} lines in {len(writes)} files; {len(moves)} files renamed", file=sys.stderr)
    if args.dry_run:
        return 0
    for path, text in writes.items():
        path.write_text(text, encoding="utf-8")
    for old, new in sorted(moves, reverse=True):  # 10 → 11 before 09 → 10
        subprocess.run(["git", "mv", str(old), str(new)], cwd=ROOT, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
