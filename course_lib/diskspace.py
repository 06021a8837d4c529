"""Free disk space before a write, and a full disk turned into a message a person can act on.

Two tools, used wherever the course writes something large (a decode-once cache, a checkpoint, the
reference model):

- :func:`require_free_space` checks *before* a write whose size is known that the folder's file
  system has room for it, and refuses naming the folder, the bytes needed and the bytes free;
- :func:`explain_disk_full` is a context manager that turns an ``OSError`` with ``errno.ENOSPC``
  (or ``EDQUOT``, a full quota) raised inside it into :class:`DiskFullError` with the same facts,
  so a full disk never surfaces as a raw torch or pickle traceback.

Neither deletes anything: the caller removes its own partial output (and keeps whatever earlier,
complete file the write was meant to replace).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CourseError

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(CourseError, OSError):
    """A write needs more space than the folder's file system has (or had, when it failed)."""


def human_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; binary units, one decimal."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _existing_parent(folder: Path) -> Path:
    """The folder itself, or its nearest ancestor that exists (what ``disk_usage`` can ask)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def free_bytes(folder: Path) -> int:
    """Bytes free to this user on the file system that holds ``folder`` (or its nearest existing
    ancestor, so it can be asked before the folder is made)."""
    return shutil.disk_usage(_existing_parent(folder)).free


def disk_full_message(folder: Path, what: str, needed: int | None, free: int | None) -> str:
    """The one wording every full-disk refusal uses."""
    need = f" needs {human_bytes(needed)}" if needed is not None else ""
    have = f"; {human_bytes(free)} free there" if free is not None else ""
    return (
        f"not enough disk space: {what}{need} in {folder}{have}. Free some space on that disk, "
        "or point COURSE_DATA (or --out) at a disk with room, then run the same command again."
    )


def require_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    """Refuse with :class:`DiskFullError` when ``folder``'s file system has fewer than
    ``needed_bytes`` free. ``what`` names the write ("the decode-once cache", "a checkpoint")."""
    free = free_bytes(folder)
    if free < needed_bytes:
        raise DiskFullError(
            errno.ENOSPC, disk_full_message(Path(folder), what, int(needed_bytes), free)
        )


def is_disk_full(exc: BaseException) -> bool:
    """True for an ``OSError`` that means "no space left" (ENOSPC) or "quota exceeded" (EDQUOT)."""
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


@contextmanager
def explain_disk_full(folder: Path, what: str, needed_bytes: int | None = None) -> Iterator[None]:
    """Inside this block, a full disk raises :class:`DiskFullError` naming ``folder``, ``what``
    was being written and (when known) the bytes it needed; other errors pass through unchanged.
    Torch wraps a failed write in ``RuntimeError``; its chained ``OSError`` counts too."""
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError) as exc:
        cause: BaseException | None = exc
        while cause is not None and not is_disk_full(cause):
            cause = cause.__cause__ or cause.__context__
        full = cause is not None or "No space left on device" in str(exc)
        if not full:
            raise
        try:
            free: int | None = free_bytes(folder)
        except OSError:
            free = None
        raise DiskFullError(
            errno.ENOSPC, disk_full_message(Path(folder), what, needed_bytes, free)
        ) from exc
