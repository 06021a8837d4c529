"""What every chapter's exercise-check tests share: an unfinished exercise (``None``, or a stub
that raises ``NotImplementedError``) is reported as not attempted, never as a failure."""

from __future__ import annotations

import pytest


def todo(*args):
    """A learner's stub, as the notebooks ship it."""
    raise NotImplementedError


def not_attempted_test(checks):
    """The parametrised test that every check in ``checks`` returns False for ``None`` and for
    a stub and says "not attempted"; assign it to a ``test_…`` name in the chapter's module."""

    @pytest.mark.parametrize("check", checks, ids=lambda c: c.__name__)
    @pytest.mark.parametrize("answer", [None, todo], ids=["None", "raises"])
    def test_not_attempted_is_reported_not_failed(capsys, check, answer):
        assert check(answer) is False
        assert "not attempted" in capsys.readouterr().out

    return test_not_attempted_is_reported_not_failed
