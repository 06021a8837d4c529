"""Whether a progress bar can redraw itself in place, or would fill a log file.

A tqdm bar redraws with carriage returns: right in a terminal or a notebook, but written to a
file (``python -m course_lib train ... 2> log``, a batch job, CI) every update becomes bytes on
disk, hundreds of kilobytes for a short run. Long loops ask :func:`live_progress` and, when it
is False, print one summary line per unit of work (an epoch) instead.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """True inside a Jupyter/IPython kernel (JupyterLab, Colab, VS Code notebooks)."""
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has already done it
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    if shell is None:
        return False
    return getattr(shell, "kernel", None) is not None or "IPKernelApp" in getattr(shell, "config", {})


def live_progress(stream=None) -> bool:
    """True when a bar on ``stream`` (default ``sys.stderr``) is seen live: the stream is a
    terminal, or this process is a notebook kernel (which renders bars as widgets)."""
    stream = sys.stderr if stream is None else stream
    try:
        if stream is not None and stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        pass
    return in_notebook()
