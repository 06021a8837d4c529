"""How much memory this process may really use: the container's limit, not the host's RAM.

Binder gives a container 2 GB for everything (JupyterLab and every open kernel) while
``/proc/meminfo`` shows the host's tens of gigabytes; a notebook that trusts the host's figure
dies with a dead kernel instead of a message. :func:`memory_status` reads the cgroup's limit
(v2 ``memory.max`` / ``memory.current``, else v1 ``memory.limit_in_bytes`` /
``memory.usage_in_bytes``) and falls back to the host's ``MemTotal`` / ``MemAvailable``.
:func:`require_memory` lets a notebook say, before a heavy step, that it will not fit.
:func:`release_freed_memory` hands memory the program has already freed back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import CourseError

CGROUP = Path("/sys/fs/cgroup")
MEMINFO = Path("/proc/meminfo")
_UNLIMITED = 1 << 60  # cgroup v1 writes a huge number for "no limit"
GB = 2**30


class MemoryBudgetError(CourseError, MemoryError):
    """A step needs more memory than the container has free; the message says what to do."""


@dataclass(frozen=True)
class MemoryStatus:
    """``limit``: bytes this process tree may use (None: unknown); ``used``: bytes in use
    against that limit; ``source``: "cgroup v2", "cgroup v1" or "host"."""

    limit: int | None
    used: int | None
    source: str

    @property
    def available(self) -> int | None:
        if self.limit is None or self.used is None:
            return None
        return max(0, self.limit - self.used)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _meminfo(path: Path) -> dict[str, int]:
    values = {}
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0]) * (1024 if parts[-1] == "kB" else 1)
    except OSError:
        pass
    return values


def memory_status(cgroup: Path = CGROUP, meminfo: Path = MEMINFO) -> MemoryStatus:
    """The tightest memory limit that applies here, and what is used against it."""
    host = _meminfo(meminfo)
    host_total, host_free = host.get("MemTotal"), host.get("MemAvailable")
    host_status = MemoryStatus(host_total, None if host_total is None or host_free is None
                               else host_total - host_free, "host")
    limit = _read_int(cgroup / "memory.max")
    if limit is not None:
        used = _read_int(cgroup / "memory.current")
        return _tighter(MemoryStatus(limit, used, "cgroup v2"), host_status)
    limit = _read_int(cgroup / "memory" / "memory.limit_in_bytes")
    if limit is not None and limit < _UNLIMITED:
        used = _read_int(cgroup / "memory" / "memory.usage_in_bytes")
        return _tighter(MemoryStatus(limit, used, "cgroup v1"), host_status)
    return host_status


def _tighter(container: MemoryStatus, host: MemoryStatus) -> MemoryStatus:
    if host.limit is not None and container.limit is not None and host.limit < container.limit:
        return host  # a limit above the machine's RAM does not bind
    return container


def require_memory(need_gb: float, what: str = "this step",
                   status: MemoryStatus | None = None) -> None:
    """Raise :class:`MemoryBudgetError` when ``need_gb`` GB is more than is free; say nothing
    otherwise (or when the free amount is unknown)."""
    status = memory_status() if status is None else status
    free = status.available
    if free is None or free >= need_gb * GB:
        return
    limit = f"{status.limit / GB:.1f} GB" if status.limit else "an unknown amount"
    raise MemoryBudgetError(
        f"{what} needs about {need_gb:.1f} GB but only {free / GB:.1f} GB of the {limit} this "
        f"machine allows ({status.source}) is free. Shut down other notebooks' kernels "
        "(JupyterLab: Kernel → Shut Down All Kernels) or choose a smaller profile "
        "(profile_name = \"smoke\"), then run this cell again.")


@functools.cache  # looked up once, on first use (importing this module loads nothing)
def _glibc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return None
    return libc.malloc_trim


def release_freed_memory(full: bool = True) -> bool:
    """Collect garbage, then give the pages glibc's allocator holds free back to the system.

    PyTorch on a CPU frees a training step's activations after every step, but glibc keeps the
    freed pages for reuse, fragmented across its arenas, so a process that trains several
    models in a row keeps the high-water mark of all of them (measured in notebook 06 after its
    speed comparison: 1.57 GiB resident, 1.08 GiB after a trim). ``fit`` calls this before
    training and after every epoch. Returns True when memory was handed back (glibc's
    ``malloc_trim``), False where there is no such call (macOS, Windows, musl): there the call
    only collects garbage.

    ``full=False`` collects the young generations only: a full collection walks every object
    the process holds (about 0.2 s once PyTorch's compiler is imported), which ``fit`` paid
    after every epoch: about 30 s of one run in notebook 10, 156 epochs of 200 images; an
    epoch's freed activations need no cycle collection at all, only the trim.
    """
    gc.collect() if full else gc.collect(1)
    trim = _glibc_trim()
    return bool(trim(0)) if trim is not None else False
