#!/usr/bin/env python3
"""Every chapter's reading and compute time, from one file: ``docs/timings.json``.

``make execute`` (``.ci/execute.py``) measures each notebook's wall time and peak memory and
writes them into ``docs/timings.json``; this script puts those figures everywhere the course
states them, always in the same words:

* README.md's table of notebooks (reading, compute: laptop, compute: gpu);
* notebook 00's course map (reading, compute: laptop / gpu);
* each chapter's header (the paragraph that starts ``**Reading time:**`` in its first cell);
* docs/instructor_guide.md's table of measured times, both agendas (smoke, laptop, gpu) and the
  whole course's reading time.

Reading times come from one rule applied to the notebook itself (:func:`reading_estimate`:
prose at 150 words a minute, code at 25 non-blank lines a minute, 6 minutes per exercise),
rounded up to 5 minutes and kept in the file beside the measured compute times.

Without ``--fix`` it lists every place that disagrees with the file, or the file with the rule
(exit 1), which is what ``tests/test_timings.py`` runs; ``--fix`` rewrites them in place.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = Path("docs") / "timings.json"
README = Path("README.md")
GUIDE = Path("docs") / "instructor_guide.md"
MAP_NOTEBOOK = Path("notebooks") / "00_start_here.ipynb"
HEADER = re.compile(r"\*\*Reading time:\*\*.*?(?=\n\n|\Z)", re.S)
WORDS_PER_MIN, CODE_LINES_PER_MIN, MIN_PER_EXERCISE = 150, 25, 6
TOTAL_READING = re.compile(r"\*\*\d+ min in all\*\*")  # the guide's whole-course reading time
REFERENCES = re.compile(r"#+\s*References\b")
STUB = "# ✏️ your code here"


def reading_estimate(nb: dict) -> float:
    """Minutes to read ``nb`` once, carefully, doing its exercises: the prose's words outside the
    References cell at :data:`WORDS_PER_MIN`, the non-blank code lines outside solution cells at
    :data:`CODE_LINES_PER_MIN`, and :data:`MIN_PER_EXERCISE` per exercise stub."""
    words = lines = exercises = 0
    for cell in nb["cells"]:
        text = "".join(cell.get("source", []))
        if cell["cell_type"] == "markdown" and not REFERENCES.match(text.lstrip()):
            words += len(text.split())
        elif cell["cell_type"] == "code" and "solution" not in cell.get("metadata", {}).get(
                "tags", []):
            lines += sum(1 for line in text.splitlines() if line.strip())
            exercises += STUB in text
    return words / WORDS_PER_MIN + lines / CODE_LINES_PER_MIN + MIN_PER_EXERCISE * exercises


def reading_minutes(nb: dict) -> int:
    """:func:`reading_estimate` rounded up to a multiple of 5 minutes: what the course states."""
    return 5 * math.ceil(reading_estimate(nb) / 5)


def load(root: Path = ROOT) -> dict:
    """The timings file, checked: every notebook present has an entry and vice versa."""
    data = json.loads((root / TIMINGS).read_text(encoding="utf-8"))
    on_disk = {p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    listed = set(data["chapters"])
    if on_disk != listed:
        raise SystemExit(f"{TIMINGS}: chapters {sorted(listed ^ on_disk)} are in only one of "
                         "the timings file and notebooks/")
    return data


def duration(seconds: float | None) -> str:
    """``8 s``, ``1 min 32 s``, ``4 min``: the one way the course writes a measured time."""
    if seconds is None:
        return "not measured"
    whole = max(1, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def gpu(entry: dict) -> str:
    measured = entry.get("gpu_s")
    if measured is not None:
        return duration(measured)
    return f"≈ {entry['gpu_min_estimate']} min (est.)"


def laptop(entry: dict, data: dict, short: bool = False) -> str:
    """The laptop time, with the reference model's training time where the chapter trains it
    when it is absent."""
    text = duration(entry["laptop_s"])
    if entry.get("trains_reference_if_absent"):
        extra = duration(data["reference_model_laptop_s"])
        text += f" (+{extra} without the reference model)" if not short else f" (+{extra})"
    return text


def header(name: str, data: dict) -> str:
    """The header paragraph of chapter ``name``."""
    entry = data["chapters"][name]
    machine = data["machine"]["short"]
    text = (f"**Reading time:** about {entry['reading_min']} min. **Compute time:** smoke "
            f"{duration(entry['smoke_s'])}; laptop {duration(entry['laptop_s'])} "
            f"(measured on {machine}, peak memory {entry['laptop_peak_gib']:.2f} GiB")
    if entry.get("trains_reference_if_absent"):
        text += (", with the reference model already saved; training it here adds about "
                 f"{duration(data['reference_model_laptop_s'])}")
    text += f"); gpu {gpu(entry)}."
    if entry.get("note"):
        text += " " + entry["note"]
    return text


def _rewrite_rows(text: str, match_row, cells_for) -> str:
    """Rewrite the trailing cells of every Markdown table row that ``match_row`` recognises.

    ``match_row(cells) -> chapter name | None``; ``cells_for(name, cells) -> new cells``."""
    out = []
    for line in text.split("\n"):
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split("|")]
            name = match_row(cells)
            if name is not None:
                line = "| " + " | ".join(cells_for(name, cells)) + " |"
        out.append(line)
    return "\n".join(out)


def _by_link(data: dict):
    def match(cells):
        for cell in cells[:2]:
            found = re.search(r"notebooks/(\d\d_\w+)\.ipynb", cell)
            if found and found.group(1) in data["chapters"]:
                return found.group(1)
        return None
    return match


def _by_number(data: dict, column: int):
    numbers = {name[:2]: name for name in data["chapters"]}

    def match(cells):
        if len(cells) <= column:
            return None
        # "05 The training core, …", not a duration such as "10 min 29 s" in another table
        found = re.match(r"(\d\d) (?=[A-Z])", cells[column])
        return numbers.get(found.group(1)) if found else None
    return match


def render_readme(text: str, data: dict) -> str:
    def cells(name, row):
        e = data["chapters"][name]
        return row[:3] + [f"{e['reading_min']} min", laptop(e, data), gpu(e)]
    return _rewrite_rows(text, _by_link(data), cells)


def render_map(text: str, data: dict) -> str:
    def match(cells):
        found = re.fullmatch(r"\*\*(\d\d_\w+)\*\*", cells[0])
        return found.group(1) if found and found.group(1) in data["chapters"] else None

    def cells(name, row):
        e = data["chapters"][name]
        return row[:3] + [f"{e['reading_min']} min", f"{laptop(e, data, short=True)} / {gpu(e)}"]
    return _rewrite_rows(text, match, cells)


def render_guide(text: str, data: dict) -> str:
    def table(name, row):
        e = data["chapters"][name]
        return row[:1] + [duration(e["smoke_s"]), duration(e["laptop_s"]),
                          f"{e['laptop_peak_gib']:.2f} GiB"]

    def agenda(name, row):
        e = data["chapters"][name]
        return row[:4] + [duration(e["smoke_s"]), duration(e["laptop_s"]),
                          "not measured" if e.get("gpu_s") is None else duration(e["gpu_s"])]
    text = _rewrite_rows(text, _by_link(data), table)
    total = sum(e["reading_min"] for e in data["chapters"].values())
    text = TOTAL_READING.sub(f"**{total} min in all**", text)
    return _rewrite_rows(text, _by_number(data, 2), agenda)


def _read_nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_nb(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _set_source(cell: dict, text: str) -> None:
    lines = text.split("\n")
    cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _cell_text(cell: dict) -> str:
    return "".join(cell["source"])


def plan(root: Path = ROOT) -> list[tuple[Path, str, str, callable]]:
    """``(path, where, current text, writer)`` for every place whose text should change."""
    data = load(root)
    changes = []
    stated = {name: e["reading_min"] for name, e in data["chapters"].items()}
    for name, entry in data["chapters"].items():
        entry["reading_min"] = reading_minutes(_read_nb(root / "notebooks" / f"{name}.ipynb"))
    drifted = sorted(name for name in stated if stated[name] != data["chapters"][name]["reading_min"])
    if drifted:
        wanted = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        changes.append((TIMINGS, f"reading_min of {', '.join(drifted)} (not the rule's)", wanted,
                        lambda p=root / TIMINGS, w=wanted: p.write_text(w, encoding="utf-8")))
    for rel, render in ((README, render_readme), (GUIDE, render_guide)):
        current = (root / rel).read_text(encoding="utf-8")
        wanted = render(current, data)
        if wanted != current:
            changes.append((rel, "its time tables", wanted,
                            lambda p=root / rel, w=wanted: p.write_text(w, encoding="utf-8")))
    for name in sorted(data["chapters"]):
        path = root / "notebooks" / f"{name}.ipynb"
        nb = _read_nb(path)
        first = _cell_text(nb["cells"][0])
        if not HEADER.search(first):
            raise SystemExit(f"{path}: the first cell has no '**Reading time:**' paragraph")
        wanted_first = HEADER.sub(lambda _m, n=name: header(n, data), first, count=1)
        cells = {0: wanted_first}
        if path.name == MAP_NOTEBOOK.name:
            for i, cell in enumerate(nb["cells"]):
                if cell["cell_type"] == "markdown" and "**01_building_imagenet**" in _cell_text(cell):
                    cells[i] = render_map(_cell_text(cell), data)
        stale = {i: t for i, t in cells.items() if t != _cell_text(nb["cells"][i])}
        if stale:
            def write(path=path, stale=stale):
                nb = _read_nb(path)  # re-read: write only the cells this script owns
                for i, t in stale.items():
                    _set_source(nb["cells"][i], t)
                _write_nb(path, nb)
            where = ", ".join("the header" if i == 0 else f"cell {i} (course map)" for i in stale)
            changes.append((path.relative_to(root), where, "", write))
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="rewrite every place in place")
    args = parser.parse_args(argv)
    changes = plan()
    for path, where, _text, write in changes:
        if args.fix:
            write()
            print(f"timings: rewrote {where} of {path}")
        else:
            print(f"timings: {path}: {where}: not as {TIMINGS} says "
                  "(run: python .ci/timings.py --fix)", file=sys.stderr)
    if not changes:
        print(f"timings: every stated time matches {TIMINGS}")
    return 1 if changes and not args.fix else 0


if __name__ == "__main__":
    sys.exit(main())
