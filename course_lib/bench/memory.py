"""Peak memory of a block of work: the process's own peak and the peak of its process tree.

:class:`PeakMemory` is a context manager; on exit its ``result`` holds, in MB (2**20 bytes):

* ``peak_rss_mb``: this process's peak resident set size during the block. On Linux the
  kernel's high-water mark (``VmHWM``) is reset on entry (``/proc/self/clear_refs``) and read on
  exit, so the number belongs to the block; where it cannot be reset it is the peak since the
  process started (``getrusage(RUSAGE_SELF).ru_maxrss``), and ``peak_scope`` says which.
* ``peak_tree_rss_mb``: the largest sum of resident set sizes of this process and all its
  descendants (e.g. ``DataLoader`` workers) seen by a sampler thread every ``interval`` s, and
  never less than ``peak_rss_mb``. RSS counts pages a forked worker shares with its parent in
  both, so the sum is an upper bound of the memory the tree really holds — the right side to
  err on against a container's limit. Short spikes between two samples can be missed.
* ``children_maxrss_mb``: ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, the peak of the largest
  child process that has ended and been waited for, over the whole life of this process (0 when
  no child ended yet).

Only ``/proc`` and :mod:`resource` are read (Linux, and the rusage fields on macOS, whose
``ru_maxrss`` is in bytes); elsewhere the fields are None.
"""

from __future__ import annotations

import os
import sys
import threading

MB = 2**20


def _rusage_mb(who: str) -> float | None:
    try:  # Unix only: a module-level import would break the package on Windows
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    value = resource.getrusage(getattr(resource, who)).ru_maxrss
    return value / MB if sys.platform == "darwin" else value * 1024 / MB  # bytes vs KiB


def _status_kib(pid: int | str, key: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (e.g. "VmRSS", "VmHWM"), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux: every thread's ``children`` file)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def tree_rss_mb(pid: int | None = None) -> float | None:
    """The summed RSS of ``pid`` (default: this process) and all its descendants, in MB."""
    root = os.getpid() if pid is None else pid
    total, stack, seen = 0, [root], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        rss = _status_kib(p, "VmRSS")
        if rss is None:
            if p == root:
                return None
            continue  # a worker that just ended
        total += rss
        stack.extend(_children(p))
    return total * 1024 / MB


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # resets the peak RSS (VmHWM) to the current RSS
        return True
    except OSError:
        return False


class PeakMemory:
    """``with PeakMemory() as mem: work()`` then ``mem.result`` (see the module docstring)."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.result: dict = {}
        self._tree_peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scope = "process lifetime"

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            value = tree_rss_mb()
            if value is not None:
                self._tree_peak = max(self._tree_peak, value)

    def __enter__(self) -> PeakMemory:
        if _reset_peak():
            self._scope = "this benchmark"
        self._tree_peak = tree_rss_mb() or 0.0
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        hwm = _status_kib("self", "VmHWM")
        own = hwm * 1024 / MB if hwm is not None and self._scope == "this benchmark" \
            else _rusage_mb("RUSAGE_SELF")
        if own is None:
            self._scope = "unknown"
        last = tree_rss_mb()
        tree = max(self._tree_peak, last or 0.0, own or 0.0) or None
        self.result = {
            "peak_rss_mb": own,
            "peak_tree_rss_mb": tree,
            "children_maxrss_mb": _rusage_mb("RUSAGE_CHILDREN"),
            "peak_scope": self._scope,
        }
