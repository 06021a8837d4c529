"""The workshop kit in docs/ and the README: every chapter is covered, every relative link
resolves, no measurement placeholder is left, and the agendas add up.

Each check is a small function run on the real documents; the ``*_sees_*`` tests run the same
function on a document broken on purpose, so a checker that stops seeing problems fails too.
Reads text and notebook JSON only (no course_lib, no torch): it runs in about a second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from ci_scripts import load_ci_script

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDE = DOCS / "instructor_guide.md"
SUMMARIES = DOCS / "chapter_summaries.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LINKED_PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]

TIMING_HEADING = "Measured compute time per notebook"
TIMING_COLUMNS = ["notebook", "smoke (ci)", "laptop wall time", "laptop peak memory"]
AGENDAS = {"Half-day agenda": 3.5, "Full-day agenda": 6.5}  # heading -> hours it must state
PLACEHOLDER = "⟨"  # as in ⟨measure 05⟩ and ⟨laptop figure⟩

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
NOTEBOOK_STEM = re.compile(r"\b\d\d_[a-z0-9_]+\b")
EXERCISE = re.compile(r"^#{2,4}\s*✏️\s*Exercise\s+\d+\s*:\s*(.+?)\s*$", re.M)
# [text](target "title") and ![alt](target); the text may hold one level of brackets (badges)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^)]*)?\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
EXERCISES = load_ci_script("exercises", "exercises_tool")  # finds stubs and reads their kinds
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


# --- reading markdown ----------------------------------------------------------------------------

def blank_fences(text: str) -> str:
    """``text`` with the lines of fenced code blocks emptied (line numbers kept)."""
    out, fence = [], None
    for line in text.splitlines():
        marker = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if fence is None and marker:
            fence = marker.group(1)[0] * 3
            out.append("")
        elif fence is not None:
            if line.lstrip().startswith(fence):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def without_code(text: str) -> str:
    """``text`` without fenced code blocks or inline code spans (their brackets are not links)."""
    return "\n".join(re.sub(r"`+[^`]*`+", "", line) for line in blank_fences(text).splitlines())


def section(text: str, title: str) -> tuple[str, str]:
    """``(heading, body)`` of the first heading whose text starts with ``title``: the body runs
    to the next heading of the same or a higher level. Headings inside code blocks do not count."""
    raw, lines = text.splitlines(), blank_fences(text).splitlines()
    for i, line in enumerate(lines):
        found = HEADING.match(line)
        if found and found.group(2).startswith(title):
            level, end = len(found.group(1)), len(lines)
            for j in range(i + 1, len(lines)):
                later = HEADING.match(lines[j])
                if later and len(later.group(1)) <= level:
                    end = j
                    break
            return found.group(2), "\n".join(raw[i + 1:end])
    raise LookupError(f"no heading starting with {title!r}")


def first_table(block: str) -> list[list[str]]:
    """The first pipe table in ``block``: header row first, cells stripped, separator dropped."""
    rows: list[list[str]] = []
    for line in block.splitlines():
        if line.lstrip().startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
                rows.append(cells)
        elif rows:
            break
    if not rows:
        raise LookupError("no table in this section")
    return rows


def plain(cell: str) -> str:
    """A table cell without bold/italic markers."""
    return cell.replace("*", "").strip()


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


# --- the checks ------------------------------------------------------------------------------------

def missing_from_timing_table(guide: str, stems: list[str]) -> list[str]:
    """Problems with the guide's timing table: notebooks without a row, wrong columns, empty cells."""
    rows = first_table(section(guide, TIMING_HEADING)[1])
    header, body = rows[0], rows[1:]
    problems = []
    if [cell.lower() for cell in header] != TIMING_COLUMNS:
        problems.append(f"columns {header}, expected {TIMING_COLUMNS}")
    listed = set()
    for row in body:
        found = NOTEBOOK_STEM.search(row[0])
        if found:
            listed.add(found.group(0))
        if len(row) != len(TIMING_COLUMNS) or not all(row):
            problems.append(f"row {row}: every one of the {len(TIMING_COLUMNS)} cells must be filled")
    problems += [f"{stem}: no row in the timing table" for stem in stems if stem not in listed]
    return problems


def chapter_sections(summaries: str) -> dict[str, tuple[str, str]]:
    """``{"05": (heading, body)}`` for every level-2 heading that starts with a chapter number."""
    found = {}
    for line in blank_fences(summaries).splitlines():
        heading = HEADING.match(line)
        if heading and len(heading.group(1)) == 2 and re.match(r"\d\d\b", heading.group(2)):
            found[heading.group(2)[:2]] = section(summaries, heading.group(2))
    return found


def missing_chapter_sections(summaries: str, stems: list[str]) -> list[str]:
    """Notebooks without a ``## NN · …`` section that links the notebook itself."""
    sections, problems = chapter_sections(summaries), []
    for stem in stems:
        if stem[:2] not in sections:
            problems.append(f"{stem}: no section '## {stem[:2]} · …'")
        elif f"../notebooks/{stem}.ipynb" not in sections[stem[:2]][1]:
            problems.append(f"{stem}: its section does not link ../notebooks/{stem}.ipynb")
    return problems


def notebook_exercises(path: Path) -> list[str]:
    """The titles of the notebook's ``### ✏️ Exercise N: title`` headings, in order, each with
    its kind as the summaries list it, ``"title (build)"``, where the stub after it is tagged
    ``exercise-build`` (``.ci/exercises.py``)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        for title in EXERCISE.findall("".join(cell["source"])):
            kinds = next((EXERCISES.kind_tags(c) for c in cells[i + 1:]
                          if c["cell_type"] == "code" and EXERCISES.STUB.search(
                              "".join(c["source"]))), [])
            found.append(f"{title} ({kinds[0]})" if len(kinds) == 1 else title)
    return found


def exercises_not_listed(summaries: str, exercises: dict[str, list[str]]) -> list[str]:
    """Exercise titles (per notebook stem) that its chapter section does not name."""
    sections, problems = chapter_sections(summaries), []
    for stem, titles in exercises.items():
        body = normalised(sections.get(stem[:2], ("", ""))[1])
        problems += [f"{stem}: exercise {title!r} is not listed in its summary"
                     for title in titles if normalised(title) not in body]
    return problems


def relative_links(path: Path) -> list[str]:
    """Every link target in the page that is a path in the repository (no scheme, not an anchor)."""
    text = without_code(path.read_text(encoding="utf-8"))
    targets = INLINE_LINK.findall(text) + REFERENCE_DEFINITION.findall(text)
    return [t for t in targets
            if t and not SCHEME.match(t) and not t.startswith("//") and not t.startswith("#")]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``path`` that do not name an existing file or folder inside ``root``."""
    broken = []
    for target in relative_links(path):
        where = unquote(target.split("#", 1)[0].split("?", 1)[0])
        resolved = (path.parent / where).resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.exists():
            broken.append(f"{path.name}: {target}")
    return broken


def links_off_the_site(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links of a docs/ page to files the course site does not hold.

    ``make book`` stages only docs/*.md and notebooks/*.ipynb (.ci/build_book.py); a link to any
    other file becomes a dead in-page anchor on the site, which tests/test_book.py rejects.
    """
    staged = [(root / "docs").resolve(), (root / "notebooks").resolve()]
    off = []
    for target in relative_links(path):
        resolved = (path.parent / unquote(target.split("#", 1)[0])).resolve()
        if not any(resolved.is_relative_to(folder) for folder in staged):
            off.append(f"{path.name}: {target}")
    return off


def placeholders(paths: list[Path]) -> list[str]:
    """``file:line: text`` for every line holding a placeholder mark."""
    return [f"{path.relative_to(path.parent.parent)}:{number}: {line.strip()}"
            for path in paths
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if PLACEHOLDER in line]


def agenda_problems(guide: str, title: str, hours: float) -> list[str]:
    """Everything that does not add up in one agenda.

    Its heading states ``(H h = M min)``; its table has an ``at`` column (h:mm since the start) and
    a ``min`` column, and ends with a **Total** row. The item minutes must add up to the Total
    row, the Total to M, M to H hours, H to ``hours``, and each row must start where the
    previous one ended.
    """
    heading, body = section(guide, title)
    stated = re.search(r"\((\d+(?:\.\d+)?) h = (\d+) min\)", heading)
    if not stated:
        return [f"{title}: the heading must state '(H h = M min)', got {heading!r}"]
    stated_hours, stated_minutes = float(stated.group(1)), int(stated.group(2))
    problems = []
    if stated_hours != hours:
        problems.append(f"{title}: states {stated_hours:g} h, the course promises {hours:g} h")
    if round(stated_hours * 60) != stated_minutes:
        problems.append(f"{title}: {stated_hours:g} h is not {stated_minutes} min")
    rows = first_table(body)
    header = [cell.lower() for cell in rows[0]]
    if "at" not in header or "min" not in header or "item" not in header:
        return problems + [f"{title}: the table needs 'at', 'min' and 'item' columns, has {rows[0]}"]
    at, minutes, item = header.index("at"), header.index("min"), header.index("item")
    totals = [i for i, row in enumerate(rows[1:]) if plain(row[item]).lower() == "total"]
    if totals != [len(rows) - 2]:
        return problems + [f"{title}: needs exactly one Total row, the last"]
    elapsed = 0
    for row in rows[1:-1]:
        if not re.fullmatch(r"\d+", row[minutes]) or int(row[minutes]) <= 0:
            problems.append(f"{title}: {row[item]!r}: minutes {row[minutes]!r} is not a positive number")
            continue
        start = re.fullmatch(r"(\d+):([0-5]\d)", row[at])
        if not start or int(start.group(1)) * 60 + int(start.group(2)) != elapsed:
            problems.append(f"{title}: {row[item]!r} starts at {row[at]!r}, the rows before it end "
                            f"at {elapsed // 60}:{elapsed % 60:02d}")
        elapsed += int(row[minutes])
    total = plain(rows[-1][minutes])
    if not re.fullmatch(r"\d+", total) or int(total) != elapsed:
        problems.append(f"{title}: the rows add up to {elapsed} min, the Total row says {total!r}")
    if elapsed != stated_minutes:
        problems.append(f"{title}: the rows add up to {elapsed} min, the heading says {stated_minutes}")
    return problems


# --- the documents -----------------------------------------------------------------------------------

def test_the_notebooks_are_found():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found: every check below would pass vacuously"


def test_every_notebook_is_in_the_guides_timing_table():
    problems = missing_from_timing_table(GUIDE.read_text(encoding="utf-8"),
                                         [nb.stem for nb in NOTEBOOKS])
    assert not problems, "\n".join(problems)


def test_every_notebook_has_a_section_in_the_chapter_summaries():
    problems = missing_chapter_sections(SUMMARIES.read_text(encoding="utf-8"),
                                        [nb.stem for nb in NOTEBOOKS])
    assert not problems, "\n".join(problems)


def test_the_chapter_summaries_list_every_exercise():
    exercises = {nb.stem: notebook_exercises(nb) for nb in NOTEBOOKS}
    assert any(exercises.values()), "no '### ✏️ Exercise N: title' heading found in any notebook"
    problems = exercises_not_listed(SUMMARIES.read_text(encoding="utf-8"), exercises)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_docs_link_only_to_pages_the_course_site_holds(page):
    """On the site (make book) only docs/ and notebooks/ exist: link other files by URL."""
    assert links_off_the_site(page) == []


def test_the_link_check_sees_the_pages_links():
    """The link parser finds the links the pages are known to hold (or the check above is empty)."""
    found = relative_links(GUIDE)
    assert all(f"../notebooks/{nb.stem}.ipynb" in found for nb in NOTEBOOKS), found
    assert "docs/instructor_guide.md" in relative_links(ROOT / "README.md")


@pytest.mark.parametrize("title", AGENDAS)
def test_the_agendas_add_up(title):
    problems = agenda_problems(GUIDE.read_text(encoding="utf-8"), title, AGENDAS[title])
    assert not problems, "\n".join(problems)


def test_no_measurement_placeholder_is_left_in_docs():
    """FAILS ON PURPOSE until the laptop measurements are filled in.

    docs/ holds placeholders (⟨measure 05⟩ … ⟨measure 09⟩ in the instructor guide's timing table
    and agendas, ⟨laptop figure⟩ in the chapter summaries of 05–09) for figures that need a
    laptop-profile run of chapters 06–10. Replace each with the measured value or the kept
    output; this test then passes. It is not skipped, so the gap stays visible.
    """
    found = placeholders(sorted(DOCS.glob("*.md")))
    assert not found, ("placeholders left in docs/, to be replaced with laptop-run figures:\n"
                       + "\n".join(found))


# --- the checks see what they check --------------------------------------------------------------

TIMING_EXAMPLE = f"""# Guide

## {TIMING_HEADING}

| notebook | smoke (CI) | laptop wall time | laptop peak memory |
|---|---|---|---|
| [00_start_here](../notebooks/00_start_here.ipynb) | 7 s | 30 s | 0.9 GB |
| [02_the_benchmark](../notebooks/02_the_benchmark.ipynb) | 8 s | | 0.8 GB |

## Next
"""


def test_timing_check_sees_a_missing_notebook_and_an_empty_cell():
    problems = missing_from_timing_table(TIMING_EXAMPLE, ["00_start_here", "01_building_imagenet",
                                                          "02_the_benchmark"])
    assert any("01_building_imagenet: no row" in p for p in problems), problems
    assert any("02_the_benchmark" in p and "filled" in p for p in problems), problems
    assert not any("00_start_here" in p for p in problems), problems


def test_summary_checks_see_a_missing_chapter_link_and_exercise(tmp_path):
    summaries = ("# Chapter summaries\n\n## 00 · Start here\n\n"
                 "Notebook: [00](../notebooks/00_start_here.ipynb)\n\n"
                 "**Exercises.** 1. count the\nparameters\n\n"
                 "## 01 · Building ImageNet\n\nNo link here.\n")
    stems = ["00_start_here", "01_building_imagenet", "02_the_benchmark"]
    problems = missing_chapter_sections(summaries, stems)
    assert problems == ["01_building_imagenet: its section does not link "
                        "../notebooks/01_building_imagenet.ipynb",
                        "02_the_benchmark: no section '## 02 · …'"]
    notebook = tmp_path / "00_start_here.ipynb"
    notebook.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["### ✏️ Exercise 1: count the parameters\n"]},
        {"cell_type": "markdown", "source": ["### ✏️ Exercise 2: steps per epoch"]},
        {"cell_type": "code", "source": ["# ### ✏️ Exercise 3: not a heading in markdown"]}]}),
        encoding="utf-8")
    assert notebook_exercises(notebook) == ["count the parameters", "steps per epoch"]
    assert exercises_not_listed(summaries, {"00_start_here": notebook_exercises(notebook)}) == [
        "00_start_here: exercise 'steps per epoch' is not listed in its summary"]


def test_link_check_sees_a_broken_link_and_skips_urls_anchors_and_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_start_here.ipynb").write_text("{}", encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "[fine](../notebooks/00_start_here.ipynb#section) and [broken](../notebooks/99_gone.ipynb)\n"
        "[![badge](https://example.org/b.svg)](../missing_too.md) [web](https://example.org/x)\n"
        "[anchor](#here) `[in code](nowhere.md)` [outside](../../../etc/passwd)\n"
        "```\n[in a block](nowhere.md)\n```\n[ref]: ../nope.md\n", encoding="utf-8")
    assert broken_links(page, root=tmp_path) == [
        "page.md: ../notebooks/99_gone.ipynb", "page.md: ../missing_too.md",
        "page.md: ../../../etc/passwd", "page.md: ../nope.md"]


def test_site_check_sees_a_link_to_a_file_the_site_does_not_hold(tmp_path):
    for folder in ("docs", "notebooks", ".github"):
        (tmp_path / folder).mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("[a](other.md) [b](../notebooks/00_x.ipynb) [c](../README.md) "
                    "[d](../.github/bug.md#top) [e](https://example.org/README.md)\n",
                    encoding="utf-8")
    assert links_off_the_site(page, root=tmp_path) == ["page.md: ../README.md",
                                                       "page.md: ../.github/bug.md#top"]


def test_placeholder_check_sees_a_placeholder(tmp_path):
    (tmp_path / "docs").mkdir()
    clean, dirty = tmp_path / "docs" / "a.md", tmp_path / "docs" / "b.md"
    clean.write_text("all measured\n", encoding="utf-8")
    dirty.write_text("line one\n| 05 | ⟨measure 05⟩ |\n", encoding="utf-8")
    assert placeholders([clean, dirty]) == ["docs/b.md:2: | 05 | ⟨measure 05⟩ |"]


AGENDA_EXAMPLE = """## Agendas

### Half-day agenda (3.5 h = 210 min)

| at | min | item | how |
|---|---|---|---|
| 0:00 | 100 | Morning | live |
| 1:40 | 15 | Break | |
| 1:55 | 95 | Afternoon | live |
| | **210** | **Total** | |

### Next
"""


def test_agenda_check_passes_an_agenda_that_adds_up():
    assert agenda_problems(AGENDA_EXAMPLE, "Half-day agenda", 3.5) == []


@pytest.mark.parametrize("old, new, expected", [
    ("| 1:55 | 95 |", "| 1:55 | 90 |", "add up to 205 min, the Total row says '210'"),
    ("| 1:55 | 95 |", "| 2:00 | 95 |", "'Afternoon' starts at '2:00'"),
    ("**210**", "**200**", "the Total row says '200'"),
    ("(3.5 h = 210 min)", "(3.5 h = 200 min)", "3.5 h is not 200 min"),
    ("(3.5 h = 210 min)", "(4 h = 240 min)", "states 4 h, the course promises 3.5 h"),
    ("| 0:00 | 100 |", "| 0:00 | a while |", "is not a positive number"),
    ("| | **210** | **Total** | |\n", "", "needs exactly one Total row"),
])
def test_agenda_check_sees_an_agenda_that_does_not_add_up(old, new, expected):
    broken = AGENDA_EXAMPLE.replace(old, new)
    assert broken != AGENDA_EXAMPLE
    problems = agenda_problems(broken, "Half-day agenda", 3.5)
    assert any(expected in p for p in problems), problems


def test_contributing_maps_every_module_and_names_real_files():
    """CONTRIBUTING.md's layout names every module of the package (a new one must be placed in
    its layer) and every file it names exists."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "CONTRIBUTING.md").read_text(encoding="utf-8")
    package = root / "course_lib"
    missing = []
    for path in sorted(package.glob("*.py")):
        if path.name != "__init__.py" and f"`{path.name}`" not in text:
            missing.append(path.name)
    for folder in sorted(p for p in package.iterdir() if (p / "__init__.py").is_file()):
        if f"`{folder.name}/`" not in text:
            missing.append(f"{folder.name}/")
        for path in sorted(folder.glob("*.py")):
            stem = path.stem
            if stem != "__init__" and f"`{stem}`" not in text and f"`{path.name}`" not in text \
                    and folder.name in ("train", "datasets", "models"):
                missing.append(f"{folder.name}/{path.name}")
    assert missing == []
    for named in re.findall(r"`(tests/[\w/]+\.py)`", text):
        assert (root / named).is_file(), named


def test_readme_and_guide_state_one_set_of_prerequisites():
    """README's "For whom" and the guide's prerequisites name the same three things (Python with
    a small class, NumPy's shapes/broadcasting/masks, a little PyTorch), and README links there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    guide = (ROOT / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
    who = readme[readme.index("**For whom:**"):].split("\n\n")[0]
    needs = guide[guide.index("Prerequisites:"):guide.index("## Setting up a room")]
    for thing in ("class", "broadcasting", "masks", "a little PyTorch", "nn.Module"):
        assert thing.lower() in who.lower() and thing.lower() in needs.lower(), thing
    assert "instructor_guide.md#who-the-course-is-for" in who
