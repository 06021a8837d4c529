"""The course's error family: every error and warning ``course_lib`` raises on purpose.

Each exception class of the library derives from :class:`CourseError` *and* from the built-in
type it has always been (a bad submission is still a ``ValueError``, a full disk still an
``OSError``), so existing ``except ValueError`` code keeps working while a command needs to
catch one type only: :func:`course_lib.__main__.main` turns any ``CourseError`` into one line on
stderr and exit status 2, with no traceback. Warnings derive from :class:`CourseWarning`.
A command that can say more (which dataset, which file) catches ``CourseError`` and ``OSError``
(the file system's own errors: a path typed that does not exist, a folder that cannot be written)
itself and prints :func:`one_line` of it.

This module imports nothing from the course, so every layer may use it.
"""

from __future__ import annotations


class CourseError(Exception):
    """An error the course raises on purpose; its message says what was wrong, where, and
    what to do. Subclasses also derive from the built-in type that fits (``ValueError``...)."""


class CourseWarning(UserWarning):
    """A warning the course issues on purpose (a setting ignored, a figure not reported)."""


class CourseValueError(CourseError, ValueError):
    """A value given to the course (an argument, a setting, a file's content) that it cannot
    use; the message names the value and what would be accepted."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` as a command prints it: one line, without the ``[Errno 28]``
    prefix ``OSError`` puts before its text (the file name is kept when there is one)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror if exc.filename is None else f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # str() of a KeyError would quote it
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__
