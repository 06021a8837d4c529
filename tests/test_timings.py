"""One source for every stated time: docs/timings.json, and .ci/timings.py that spreads it."""

import json
import re
import shutil
from pathlib import Path

import pytest
from ci_scripts import load_ci_script

ROOT = Path(__file__).resolve().parent.parent
timings = load_ci_script("timings")


@pytest.fixture
def copy(tmp_path):
    """README, docs and notebooks of the repository, in a folder of their own."""
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path


def test_every_stated_time_matches_the_timings_file():
    assert [(str(p), where) for p, where, _t, _w in timings.plan(ROOT)] == []


@pytest.mark.parametrize("seconds,text", [(7.6, "8 s"), (0.2, "1 s"), (59.4, "59 s"),
                                          (60, "1 min"), (92, "1 min 32 s"), (236, "3 min 56 s"),
                                          (None, "not measured")])
def test_one_way_to_write_a_duration(seconds, text):
    assert timings.duration(seconds) == text


def _drift(copy, chapter="07_ablations", seconds=999):
    path = copy / "docs" / "timings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["chapters"][chapter]["laptop_s"] = seconds
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_changed_measurement_is_caught_everywhere_it_is_stated(copy):
    _drift(copy)
    stale = {(str(p), where) for p, where, _t, _w in timings.plan(copy)}
    assert ("README.md", "its time tables") in stale
    assert ("docs/instructor_guide.md", "its time tables") in stale
    assert ("notebooks/07_ablations.ipynb", "the header") in stale
    assert any(p == "notebooks/00_start_here.ipynb" and "course map" in w for p, w in stale)
    for _p, _w, _t, write in timings.plan(copy):
        write()
    assert timings.plan(copy) == []
    text = (copy / "README.md").read_text(encoding="utf-8")
    assert "| 16 min 39 s | ≈ 10 min (est.) |" in text
    guide = (copy / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
    assert "| 16 min 39 s | not measured |" in guide  # the agenda rows follow too


def test_a_chapter_of_ten_minutes_or_more_keeps_its_table_row(copy):
    # "10 min 29 s" in the guide's measured-times table once read as chapter "10 " of an agenda
    path = copy / "docs" / "timings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["chapters"]["10_the_2012_moment"]["laptop_s"] = 629
    path.write_text(json.dumps(data), encoding="utf-8")
    for _p, _w, _t, write in timings.plan(copy):
        write()
    guide = (copy / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
    row = next(line for line in guide.splitlines()
               if line.startswith("| [10_the_2012_moment]"))
    assert row.endswith("| 10 min 29 s | {:.2f} GiB |".format(
        data["chapters"]["10_the_2012_moment"]["laptop_peak_gib"]))
    assert row.count("|") == 5


def test_a_hand_edited_time_is_caught(copy):
    for _p, _w, _t, write in timings.plan(copy):
        write()
    readme = copy / "README.md"
    text = readme.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if "notebooks/09_inside_alexnet" in line)
    edited = re.sub(r"\| \d+ min \|", "| 1 min |", row, count=1)  # its reading time, by hand
    assert edited != row
    readme.write_text(text.replace(row, edited), encoding="utf-8")
    assert [str(p) for p, *_ in timings.plan(copy)] == ["README.md"]


def test_a_chapter_missing_from_the_file_is_refused(copy):
    path = copy / "docs" / "timings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["chapters"]["09_inside_alexnet"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SystemExit, match="09_inside_alexnet"):
        timings.load(copy)


def _cell(kind, text, tags=()):
    return {"cell_type": kind, "source": [text], "metadata": {"tags": list(tags)}}


def test_reading_time_follows_the_rule_on_a_hand_counted_notebook():
    # 300 words of prose (2 min), 50 code lines (2 min), one exercise (6 min) = 10 min; the
    # References cell and the solution cell count for nothing
    nb = {"cells": [_cell("markdown", " ".join(["word"] * 300)),
                    _cell("markdown", "## References\n" + " ".join(["cite"] * 900)),
                    _cell("code", "x = 1\n\n" * 45),
                    _cell("code", "def f(x):\n    # ✏️ your code here\n    raise "
                                  "NotImplementedError\n\n\ncheck_f(f);\n\n"),
                    _cell("code", "def f_solution(x):\n" + "    y = x\n" * 200, ["solution"])]}
    assert timings.reading_estimate(nb) == pytest.approx(300 / 150 + 49 / 25 + 6)
    assert timings.reading_minutes(nb) == 10


def test_no_chapter_states_less_than_80_percent_of_the_rules_estimate():
    data = json.loads((ROOT / "docs" / "timings.json").read_text(encoding="utf-8"))
    for name, entry in data["chapters"].items():
        nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert entry["reading_min"] >= 0.8 * timings.reading_estimate(nb), name


def test_a_hand_edited_reading_time_in_the_file_is_caught(copy):
    path = copy / "docs" / "timings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["chapters"]["04_alexnet_architecture"]["reading_min"] = 45
    path.write_text(json.dumps(data), encoding="utf-8")
    assert any("reading_min of 04_alexnet_architecture" in where
               for _p, where, _t, _w in timings.plan(copy))


def test_the_guides_whole_course_reading_time_is_the_sum_of_the_chapters(copy):
    data = json.loads((ROOT / "docs" / "timings.json").read_text(encoding="utf-8"))
    total = sum(e["reading_min"] for e in data["chapters"].values())
    guide = copy / "docs" / "instructor_guide.md"
    assert f"**{total} min in all**" in guide.read_text(encoding="utf-8")
    guide.write_text(guide.read_text(encoding="utf-8").replace(f"**{total} min", "**999 min"),
                     encoding="utf-8")
    assert ("docs/instructor_guide.md", "its time tables") in {
        (str(p), where) for p, where, _t, _w in timings.plan(copy)}
