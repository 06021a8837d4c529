"""Every "notebook NN" / "chapter NN" in the course's prose names a chapter that exists, under its
own title.

``CHAPTERS`` is the course's table of chapters. The notebooks on disk must be exactly its rows
(file ``NN_*.ipynb``, first heading ``# NN · Title…``); every mention in prose — the notebooks'
markdown, README.md, CONTRIBUTING.md and docs/ — of "notebook 05", "chapters 08–10", "notebooks
05 and 07" must name chapters in the table, and every "NN · Title" (the "Next:" lines, the
summaries' headings) must carry that chapter's title. A renumbering
(``scripts/renumber_chapters.py``) that misses a mention fails here. CHANGELOG.md is history and
keeps the numbers of its day.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = {
    "00": "Start here",
    "01": "Building ImageNet",
    "02": "The benchmark",
    "03": "The building blocks",
    "04": "AlexNet's architecture",
    "05": "The data pipeline",
    "06": "The training core",
    "07": "Ablations",
    "08": "Scoring",
    "09": "Inside AlexNet",
    "10": "The 2012 moment",
    "11": "Trusting the benchmark",
}
NUMBER = r"\d\d(?!\d)"
MENTION = re.compile(
    rf"\b(?:[Nn]otebooks?|[Cc]hapters?)\s+({NUMBER}(?:\s*(?:–|-|,|and|or|to)\s*{NUMBER})*)")
ROW = re.compile(r"^\| (\d\d) \| \[[^\]]*\]\((?:\.\./)?notebooks/(\d\d)_", re.M)  # README's table
TITLED = re.compile(r"(?<![\w.])(\d\d) · ([^\n|\]*:.(]+)")


def prose_pages() -> list[tuple[str, str]]:
    """``(where, text)`` for every page of prose: notebook markdown cells and the docs."""
    pages = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        pages += [(f"{path.name} cell {i}", "".join(c["source"])) for i, c in enumerate(cells)
                  if c["cell_type"] == "markdown"]
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]:
        pages.append((path.name, path.read_text(encoding="utf-8")))
    return pages


def mention_problems(pages: list[tuple[str, str]], table: dict[str, str]) -> list[str]:
    problems = []
    for where, text in pages:
        for match in MENTION.finditer(text):
            for number in re.findall(r"\d\d", match.group(1)):
                if number not in table:
                    problems.append(f"{where}: {match.group()!r} names no chapter {number}")
        for number, linked in ROW.findall(text):
            if number != linked:
                problems.append(f"{where}: the row of chapter {number} links notebook {linked}")
        for number, title in TITLED.findall(text):
            if number in table and not title.strip().startswith(table[number]):
                problems.append(f"{where}: '{number} · {title.strip()}' is chapter {number}, "
                                f"{table[number]!r}")
            elif number not in table:
                problems.append(f"{where}: '{number} · {title.strip()}' names no chapter")
    return problems


def test_the_notebooks_are_the_table_of_chapters():
    found = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        first = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        found[path.name[:2]] = first.splitlines()[0]
    assert sorted(found) == sorted(CHAPTERS)
    wrong = {nn: line for nn, line in found.items()
             if not line.startswith(f"# {nn} · {CHAPTERS[nn]}")}
    assert not wrong, wrong


def test_every_mention_in_prose_names_a_chapter_under_its_title():
    problems = mention_problems(prose_pages(), CHAPTERS)
    assert not problems, "\n".join(problems)


def test_the_mention_check_sees_a_missing_chapter_and_a_wrong_title():
    pages = [("page", "See notebook 05 and chapters 07–12.\n**Next:** 04 · Scoring: more.\n"
                      "Fine: 10 · The 2012 moment, and 0.05 · not a chapter.\n"
                      "| 10 | [trusting](notebooks/11_trusting_the_benchmark.ipynb) |")]
    assert mention_problems(pages, CHAPTERS) == [
        "page: 'chapters 07–12' names no chapter 12",
        "page: the row of chapter 10 links notebook 11",
        "page: '04 · Scoring' is chapter 04, \"AlexNet's architecture\""]
