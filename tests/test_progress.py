"""When a progress bar may redraw itself (a terminal, a notebook kernel) and when it would fill
a log file."""

from __future__ import annotations

import io
import types

from course_lib.progress import in_notebook, live_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Closed:
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def fake_ipython(monkeypatch, shell) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(__import__("sys").modules, "IPython", module)


def test_a_terminal_is_live_a_file_is_not(monkeypatch):
    fake_ipython(monkeypatch, None)  # IPython imported, but no shell: a plain script
    assert live_progress(Terminal())
    assert not live_progress(io.StringIO())
    assert not live_progress(Closed())
    assert not live_progress(object())  # no isatty at all


def test_a_notebook_kernel_is_live_even_though_its_stderr_is_no_terminal(monkeypatch):
    kernel_shell = types.SimpleNamespace(kernel=object(), config={"IPKernelApp": {}})
    fake_ipython(monkeypatch, kernel_shell)
    assert in_notebook() and live_progress(io.StringIO())
    terminal_ipython = types.SimpleNamespace(config={"TerminalIPythonApp": {}})  # no kernel
    fake_ipython(monkeypatch, terminal_ipython)
    assert not in_notebook() and not live_progress(io.StringIO())


def test_without_ipython_there_is_no_notebook(monkeypatch):
    monkeypatch.delitem(__import__("sys").modules, "IPython", raising=False)
    assert not in_notebook()
