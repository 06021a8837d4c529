"""One error family: every exception the library raises on purpose derives from CourseError
(and keeps its built-in type), every warning from CourseWarning, and a command turns any of them
into one line on stderr with exit status 2."""

from __future__ import annotations

import errno
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import course_lib
from course_lib.__main__ import main
from course_lib.errors import CourseError, CourseValueError, CourseWarning, one_line

PACKAGE = Path(course_lib.__file__).parent


def _library_classes():
    found = {}
    for info in pkgutil.walk_packages([str(PACKAGE)], "course_lib."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            # private classes (_Reached, _TooSlow...) are control-flow signals caught inside
            # their own module; they never reach a caller
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__ and not name.startswith("_")):
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_library_exception_is_in_the_family():
    classes = _library_classes()
    assert len(classes) >= 25  # every module was walked
    outside = [name for name, cls in classes.items()
               if not issubclass(cls, (CourseError, CourseWarning))]
    assert outside == []
    for name, cls in classes.items():
        if issubclass(cls, Warning):
            assert issubclass(cls, CourseWarning), name


@pytest.mark.parametrize("name,builtin", [
    ("course_lib.scoring.submission.SubmissionError", ValueError),
    ("course_lib.diskspace.DiskFullError", OSError),
    ("course_lib.datasets.registry.UnknownDatasetError", KeyError),
    ("course_lib.memory.MemoryBudgetError", MemoryError),
    ("course_lib.train.checkpoint.CheckpointError", RuntimeError),
    ("course_lib.checks.core.ExerciseError", AssertionError),
])
def test_each_keeps_its_builtin_type(name, builtin):
    assert issubclass(_library_classes()[name], builtin)


def test_no_plain_value_error_is_raised_by_the_library():
    # a plain ValueError would escape the commands' one except clause as a traceback
    plain = [f"{path.relative_to(PACKAGE.parent)}:{i}"
             for path in PACKAGE.rglob("*.py")
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\braise ValueError\(", line)]
    assert plain == []


def test_one_line_drops_the_errno_prefix_and_the_key_quotes():
    from course_lib.datasets.registry import UnknownDatasetError
    from course_lib.diskspace import DiskFullError

    full = DiskFullError(errno.ENOSPC, "the cache needs 2.0 GiB\nand 1.0 GiB is free")
    assert one_line(full) == "the cache needs 2.0 GiB and 1.0 GiB is free"
    assert one_line(UnknownDatasetError("no dataset 'x'")) == "no dataset 'x'"
    assert one_line(FileNotFoundError(errno.ENOENT, "No such file", "a/b.csv")) == \
        "a/b.csv: No such file"


def test_a_command_turns_any_course_error_into_one_line(monkeypatch, capsys):
    from course_lib.commands import doctor

    def raises(args):
        raise CourseValueError("the value 7 of --thing is not one of 1, 2\n(see the guide)")

    monkeypatch.setattr(doctor, "run", raises)
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert err == "error: doctor: the value 7 of --thing is not one of 1, 2 (see the guide)\n"


def test_a_bad_value_in_a_real_command_is_one_line(capsys, tmp_path):
    # before the family, a plain ValueError from the library here was the command's only hope
    assert main(["train", "--dataset", "synthnet", "--epochs", "0",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epochs" in err and "Traceback" not in err


def test_warnings_are_course_warnings():
    from course_lib.scoring.submission import DuplicateLabelWarning

    assert issubclass(DuplicateLabelWarning, CourseWarning)
