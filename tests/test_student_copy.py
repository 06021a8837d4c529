"""``make student OUT=DIR`` (.ci/exercises.py --strip) loses nothing: it refuses an OUT that is or
lies inside the course folder (however it is spelled), refuses to overwrite a notebook already in
OUT unless FORCE=1, checks every target before writing any, records what it wrote in
``OUT/.student-manifest.json``, and takes any folder name through the real Makefile.

Every test works on a temporary copy of (part of) the course, so a regression damages only that.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_scripts import load_ci_script

ROOT = Path(__file__).resolve().parent.parent
# two small chapters, each with exercises: enough to see every rule, quick to strip
CHAPTERS = ("00_start_here.ipynb", "06_training_core.ipynb")
STAMP = ".venv/.course-installed"  # make -o STAMP: never (re)install the course in these tests
MAKE = shutil.which("make")


tool = load_ci_script("exercises", "exercises_tool")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes): the reference a refusal must keep."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """``tmp_path/course``: two real chapters, solutions and kept outputs included."""
    src = tmp_path / "course"
    src.mkdir()
    for name in CHAPTERS:
        shutil.copyfile(ROOT / "notebooks" / name, src / name)
    return src


def strip_cli(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python .ci/exercises.py ARGS`` in ``cwd``, in a subprocess with a timeout."""
    return subprocess.run([sys.executable, str(ROOT / ".ci" / "exercises.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The refusal: non-zero exit, nothing on stdout, one line on stderr (returned)."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("spelling", ["course", "./course/", "course/../course", "link",
                                      "link/", "./link/../course"])
def test_out_that_is_the_course_folder_is_refused(course, spelling):
    (course.parent / "link").symlink_to(course, target_is_directory=True)
    before = snapshot(course)
    for force in ([], ["--force"]):  # FORCE=1 never lets the course itself be overwritten
        error = one_line_error(strip_cli("--strip", "course", spelling, *force, cwd=course.parent))
        assert "is the source folder" in error and str(course.resolve()) in error
        assert "choose a folder outside it" in error
    assert snapshot(course) == before


@pytest.mark.parametrize("spelling", ["course/sub", "course/sub/deeper", "./course/../course/x/",
                                      "link/sub"])
def test_out_inside_the_course_folder_is_refused(course, spelling):
    (course.parent / "link").symlink_to(course, target_is_directory=True)
    before = snapshot(course)
    error = one_line_error(strip_cli("--strip", "course", spelling, "--force",
                                     cwd=course.parent))
    assert "lies inside the source folder" in error and str(course.resolve()) in error
    assert snapshot(course) == before
    assert sorted(p.name for p in course.iterdir()) == sorted(CHAPTERS)  # no sub folder made


def test_out_above_the_course_folder_is_allowed_and_overwrites_no_source(course):
    """OUT may be an ancestor (the repository root): its copies are OUT/NN_*.ipynb, never the
    sources, which lie one folder down."""
    before = snapshot(course)
    proc = strip_cli("--strip", "course", ".", cwd=course.parent)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(course) == before
    for name in CHAPTERS:
        copy = json.loads((course.parent / name).read_text(encoding="utf-8"))
        assert not any("solution" in c.get("metadata", {}).get("tags", [])
                       for c in copy["cells"])


def test_a_second_run_keeps_a_learners_answers(course, tmp_path):
    out = tmp_path / "class"
    assert strip_cli("--strip", course, out, cwd=tmp_path).returncode == 0
    answer = out / CHAPTERS[1]
    nb = json.loads(answer.read_text(encoding="utf-8"))
    stub = next(c for c in nb["cells"] if "your code here" in "".join(c["source"]))
    stub["source"] = ["def my_answer():\n", "    return 42  # typed by a learner\n"]
    answer.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    before = snapshot(out)
    error = one_line_error(strip_cli("--strip", course, out, cwd=tmp_path))
    assert str(answer) in error and "edited since make student wrote it" in error
    assert "FORCE=1" in error and "nothing was written" in error
    assert snapshot(out) == before


def test_a_refusal_writes_nothing_even_where_nothing_is_in_the_way(course, tmp_path):
    """All targets are checked first: one taken notebook stops the others being written too."""
    out = tmp_path / "class"
    out.mkdir()
    taken = out / CHAPTERS[1]  # sorted after CHAPTERS[0], which a write-as-you-go would write
    taken.write_text("a learner's own notebook\n", encoding="utf-8")
    error = one_line_error(strip_cli("--strip", course, out, cwd=tmp_path))
    assert str(taken) in error and "not written by make student" in error
    assert snapshot(out) == {CHAPTERS[1]: b"a learner's own notebook\n"}


def test_an_unchanged_copy_is_no_conflict_so_an_interrupted_run_resumes(course, tmp_path):
    out = tmp_path / "class"
    assert strip_cli("--strip", course, out, cwd=tmp_path).returncode == 0
    full = snapshot(out)
    (out / CHAPTERS[1]).unlink()  # as if the first run had stopped after one notebook
    (out / tool.MANIFEST).unlink()
    proc = strip_cli("--strip", course, out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 already up to date" in proc.stdout
    assert snapshot(out) == full


def test_force_overwrites_and_the_manifest_lists_every_notebook(course, tmp_path):
    out = tmp_path / "class"
    assert strip_cli("--strip", course, out, cwd=tmp_path).returncode == 0
    fresh = snapshot(out)
    (out / CHAPTERS[0]).write_text("{}\n", encoding="utf-8")
    (out / "notes.txt").write_text("not a notebook: left alone\n", encoding="utf-8")
    proc = strip_cli("--strip", course, out, "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    after = snapshot(out)
    assert after.pop("notes.txt") == b"not a notebook: left alone\n"
    assert after == fresh
    manifest = json.loads((out / tool.MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["notebooks"]) == sorted(CHAPTERS)
    for name, entry in manifest["notebooks"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert entry["source_sha256"] == hashlib.sha256((course / name).read_bytes()).hexdigest()
        assert Path(entry["source"]) == (course / name).resolve()


def test_a_link_in_out_to_a_course_notebook_is_never_written_through(course, tmp_path):
    out = tmp_path / "class"
    out.mkdir()
    (out / CHAPTERS[0]).symlink_to(course / CHAPTERS[0])
    before = snapshot(course)
    error = one_line_error(strip_cli("--strip", course, out, "--force", cwd=tmp_path))
    assert str(out / CHAPTERS[0]) in error and "link to a course notebook" in error
    assert snapshot(course) == before


def test_a_link_in_out_elsewhere_is_replaced_not_written_through(course, tmp_path):
    """With FORCE=1 a link at a target is replaced by the copy; the file it points to is kept."""
    elsewhere = tmp_path / "elsewhere.ipynb"
    elsewhere.write_text("someone else's file\n", encoding="utf-8")
    out = tmp_path / "class"
    out.mkdir()
    (out / CHAPTERS[0]).symlink_to(elsewhere)
    error = one_line_error(strip_cli("--strip", course, out, cwd=tmp_path))
    assert "is a link to" in error
    assert strip_cli("--strip", course, out, "--force", cwd=tmp_path).returncode == 0
    assert elsewhere.read_text(encoding="utf-8") == "someone else's file\n"
    assert not (out / CHAPTERS[0]).is_symlink()


def test_an_unreadable_manifest_refuses_unless_forced(course, tmp_path):
    out = tmp_path / "class"
    out.mkdir()
    (out / tool.MANIFEST).write_bytes(b"{not json")
    error = one_line_error(strip_cli("--strip", course, out, cwd=tmp_path))
    assert str(out / tool.MANIFEST) in error and "FORCE=1" in error
    assert snapshot(out) == {tool.MANIFEST: b"{not json"}
    assert strip_cli("--strip", course, out, "--force", cwd=tmp_path).returncode == 0
    assert sorted(json.loads((out / tool.MANIFEST).read_text())["notebooks"]) == sorted(CHAPTERS)


def test_out_that_is_a_file_is_refused(course, tmp_path):
    (tmp_path / "class").write_text("a file\n", encoding="utf-8")
    error = one_line_error(strip_cli("--strip", course, "class", "--force", cwd=tmp_path))
    assert "class" in error and "is not a folder" in error
    assert (tmp_path / "class").read_text(encoding="utf-8") == "a file\n"


# --- through the real Makefile ---------------------------------------------------------------

def make_student(repo: Path, *variables: str) -> subprocess.CompletedProcess:
    """``make student VARIABLES`` in ``repo``, with this interpreter and without installing."""
    return subprocess.run([MAKE, "-s", "-o", STAMP, "student", f"PY={sys.executable}",
                           *variables], cwd=repo, capture_output=True, text=True, timeout=300)


@pytest.fixture
def repo(tmp_path: Path, course: Path) -> Path:
    """A scratch repository: the real Makefile and .ci/exercises.py, two chapters in notebooks/."""
    root = tmp_path / "repo"
    (root / ".ci").mkdir(parents=True)
    shutil.copyfile(ROOT / "Makefile", root / "Makefile")
    shutil.copyfile(ROOT / ".ci" / "exercises.py", root / ".ci" / "exercises.py")
    shutil.copytree(course, root / "notebooks")
    return root


@pytest.mark.skipif(MAKE is None, reason="no make on this machine")
def test_make_student_takes_a_folder_name_with_a_space(repo):
    dry = subprocess.run([MAKE, "-n", "-o", STAMP, "student", "OUT=class room"], cwd=repo,
                         capture_output=True, text=True, timeout=60)
    assert "pip install" not in dry.stdout, dry.stdout  # the test never installs anything
    proc = make_student(repo, "OUT=class room")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (repo / "class room").glob("*.ipynb")) == sorted(CHAPTERS)
    assert not (repo / "class").exists() and not (repo / "room").exists()


@pytest.mark.skipif(MAKE is None, reason="no make on this machine")
@pytest.mark.parametrize("out", ["notebooks", "./notebooks/", "notebooks/week 1"])
def test_make_student_refuses_the_course_folder_even_with_force(repo, out):
    before = snapshot(repo / "notebooks")
    proc = make_student(repo, f"OUT={out}", "FORCE=1")
    assert proc.returncode != 0
    assert "source folder" in proc.stderr and str((repo / "notebooks").resolve()) in proc.stderr
    assert snapshot(repo / "notebooks") == before


@pytest.mark.skipif(MAKE is None, reason="no make on this machine")
def test_make_student_twice_refuses_then_force_overwrites(repo):
    assert make_student(repo, "OUT=class").returncode == 0
    edited = repo / "class" / CHAPTERS[0]
    edited.write_bytes(edited.read_bytes().replace(b"your code here", b"my answer", 1))
    kept = edited.read_bytes()
    proc = make_student(repo, "OUT=class")
    assert proc.returncode != 0 and "FORCE=1" in proc.stderr
    assert edited.read_bytes() == kept
    proc = make_student(repo, "OUT=class", "FORCE=1")
    assert proc.returncode == 0, proc.stderr
    assert b"my answer" not in edited.read_bytes()


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="not a git checkout")
def test_the_default_out_is_git_ignored_so_ruff_skips_it():
    """``make student`` then ``make test``: ruff (which lints notebooks and honours .gitignore)
    must not fail on the copy in the default OUT, nor git offer to commit it."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    default = re.search(r"^OUT \?= (.+)$", makefile, re.M).group(1).strip()
    for name in (CHAPTERS[0], tool.MANIFEST):
        proc = subprocess.run(["git", "check-ignore", "-q", f"{default}/{name}"], cwd=ROOT,
                              timeout=60)
        assert proc.returncode == 0, f"{default}/{name} is not in .gitignore"


def test_the_learners_copy_never_mentions_solutions_it_does_not_have(capsys):
    """Every chapter stripped: no cell says "solution" (the prose about them, fenced by
    ``<!-- with-solutions -->``, is cut, the markers with it), while the course's own copy keeps
    that prose; and what a check prints for an exercise not attempted says nothing of one."""
    from course_lib.checks.core import not_attempted

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(tool.stripped_text(path))["cells"]
        said = [(i, line) for i, cell in enumerate(cells)
                for line in tool.source(cell).splitlines()
                if re.search(r"\bsolutions?\b", line, re.I) or "with-solutions" in line]
        assert not said, f"{path.name}: {said[:3]}"
    assert "hidden solution cell" in (ROOT / "notebooks" / "00_start_here.ipynb").read_text()
    not_attempted("topk_error")
    assert not re.search(r"\bsolution", capsys.readouterr().out, re.I)
