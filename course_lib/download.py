"""Verified downloads, safe archive extraction, and the lock that keeps two runs apart.

Nothing here knows about datasets or networks: :mod:`course_lib.datasets` (archives, mirrors)
and :mod:`course_lib.models` (pretrained weights) both build on it.

:func:`download_file` streams a URL into a temporary file beside its destination (``NAME.part``),
resumes it with an HTTP ``Range`` request after a dropped connection when the server allows it
(otherwise starts again), retries with exponential back-off, shows a ``tqdm`` progress bar,
checks size and checksums, and only then moves the file into place with :func:`os.replace`.
A file that fails its check is deleted and never reaches the destination. Every server is
treated as hostile:

* ``NAME.part`` must be a regular file: a symbolic link (or FIFO, folder...) planted there is
  refused with a :class:`DownloadError`, never written through (it is opened with
  ``O_NOFOLLOW`` where the platform has it).
* A body longer than the expected size is cut off at that size and the mirror counts as failed
  (:class:`DownloadUnavailableError`), so a server streaming without end cannot fill the disk.
* The whole call has a deadline of ``max(min_seconds, size / min_rate)`` (60 s, 50 kB/s by
  default), so a server trickling a byte at a time cannot hold it for ever.
* A malformed ``Content-Length`` makes the mirror count as failed, with a message.

:func:`extract_archive` unpacks tar (plain or gzip: the format is read from the bytes, so a plain
tar named ``.tar.gz``, as ImageNetV2's are, works). Only regular files
and folders are extracted: an archive holding any symbolic link, hard link, device file or FIFO
an absolute member name or ``..`` is refused as a whole with
:class:`UnsafeArchiveError`, naming the archive and the member, before anything is written. No
archive the course uses holds a link, and refusing links outright closes the link-chain escapes
that tarfile's own ``data`` filter misses on some Pythons (CVE-2025-4517 on 3.11.7; no filter at
all before 3.10.12 / 3.11.4). Each member's resolved path is also checked to stay inside the
destination before it is written, and where tarfile has extraction filters the ``data`` filter
runs as well, its refusals reported as :class:`UnsafeArchiveError`. Extraction goes into a
temporary folder, the result is moved into place and :data:`course_lib.paths.COMPLETE_MARKER` is
written last, so an interrupted or refused extraction is redone, never trusted.

Extraction is capped against archive bombs (:func:`extraction_caps`): at most
``max(declared extracted size, 4 × archive size)`` bytes of file content and the declared member
count + 1 %. The member headers are read one at a time (counted, their declared sizes summed,
before the next is read and before anything is written), the bytes are counted as they are
written, and tarfile's own reads of the decompressed data are bounded too (no header record over
:data:`MAX_HEADER_READ`, no position past the file-byte cap plus room for headers). Past a cap
extraction stops, the partial extraction is removed, and :class:`ArchiveTooLargeError` names the
archive, the cap and what was found.

:func:`target_lock` holds an exclusive lock (``fcntl.flock``; ``msvcrt.locking`` on Windows) on a
file or folder, so two notebooks, or a notebook and the CLI, never download into the same
``.part`` or extract into the same folder at once: the second waits, then finds the work done.
The lock file ``.NAME.lock`` beside the target is deleted when the lock is released.

Set ``COURSE_OFFLINE=1`` to make every download fail at once with the instructions for
placing the file by hand.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .errors import CourseError
from .paths import COMPLETE_MARKER

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None

MIB = 1 << 20
_CHUNK = MIB
_USER_AGENT = "course_lib-downloader/0.1 (+urllib)"
# HTTP statuses worth retrying: the server may answer differently a moment later.
_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
TMP_PREFIX = ".extracting-"
# tarfile's extraction-filter errors (FilterError and its subclasses); none on old Pythons.
_FILTER_ERRORS: tuple[type[BaseException], ...] = tuple(
    e for e in (getattr(tarfile, "FilterError", None),) if e is not None)


class DownloadError(CourseError, RuntimeError):
    """A download failed or its file did not match the expected size or checksum."""


class DownloadUnavailableError(DownloadError):
    """The file could not be fetched from this URL (offline, blocked, not found, a misbehaving
    server); says what to do by hand."""


class UnsafeArchiveError(DownloadError):
    """An archive holds a member that is not a plain file or folder, or whose path would land
    outside the destination."""


# --------------------------------------------------------------------------------------------
# Checksums


@dataclass(frozen=True)
class Digests:
    """What :func:`file_digests` measured: size in bytes and the SHA-256 hex digest."""

    size: int
    sha256: str


def file_digests(path: Path) -> Digests:
    """Size and whole-file SHA-256 of ``path``, in one pass."""
    sha256, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha256.update(chunk)
            size += len(chunk)
    return Digests(size, sha256.hexdigest())


def _expected(sha256, size) -> dict:
    found = {"size": size, "sha256": sha256.lower() if sha256 is not None else None}
    return {key: value for key, value in found.items() if value is not None}


def check_file(path: Path, *, sha256=None, size=None) -> list[str]:
    """The mismatches between ``path`` and the expected size and SHA-256 (each compared only
    when given), as readable lines (empty: good)."""
    expected = _expected(sha256, size)
    path = Path(path)
    if "size" in expected and path.stat().st_size != expected["size"]:
        # A wrong size settles it; no need to hash gigabytes.
        return [f"size: expected {expected['size']:,} bytes, got {path.stat().st_size:,}"]
    if set(expected) <= {"size"}:
        return []
    return _mismatches(expected, file_digests(path))


def _mismatches(expected: dict, actual: Digests) -> list[str]:
    out = []
    for key, value in expected.items():
        got = getattr(actual, key)
        if got != value:
            out.append(f"{key}: expected {value:,} bytes, got {got:,}" if key == "size"
                       else f"{key}: expected {value}, got {got}")
    return out


def _describe_expected(expected: dict) -> str:
    parts = [f"size {expected['size']:,} bytes"] if "size" in expected else []
    if "sha256" in expected:
        parts.append(f"sha256 {expected['sha256']}")
    return ", ".join(parts) if parts else "no published size or checksum"


def manual_download_message(url: str, dest: Path, expected: dict, reason: str) -> str:
    """The message that tells a learner how to fetch ``url`` by hand and where to put it."""
    return (
        f"Could not download {url}: {reason}.\n"
        f"Download it by hand (browser, wget or curl) and put the file at\n"
        f"    {Path(dest).resolve()}\n"
        f"Expected: {_describe_expected(expected)}.\n"
        f"Then run the same command again: the file is verified and used without downloading."
    )


# --------------------------------------------------------------------------------------------
# Locks


_held = threading.local()  # the lock files this thread holds (a second request is a no-op)


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: ``.NAME.lock`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # BlockingIOError under fcntl, PermissionError under msvcrt
        return False
    return True


def _wait_lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while not _try_lock(fd):  # pragma: no cover - Windows
        time.sleep(0.1)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _acquire(path: Path, what: str) -> int:
    told = False
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _BINARY, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DownloadError(f"{path} is a symbolic link, not a lock file this library "
                                    "wrote; delete it and run the same command again") from exc
            raise
        try:
            if not _try_lock(fd):
                if not told:
                    print(f"Waiting for another notebook or process that is {what} "
                          f"(lock file {path})...", file=sys.stderr, flush=True)
                    told = True
                _wait_lock(fd)
            # The previous holder deletes the lock file on release: hold the one still at `path`.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            _unlock(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextmanager
def target_lock(target: Path, *, what: str = "") -> Iterator[Path]:
    """Hold an exclusive lock on ``target`` (a file or folder, there or not) inside the block.

    The lock file is ``.NAME.lock`` beside ``target`` (its parent folder is created); another
    thread or process asking for it waits, with one line on stderr saying who it waits for
    (``what``). A thread that already holds it passes straight through, so a caller can lock a
    dataset folder and then call :func:`extract_archive`, which locks it again. Without
    ``fcntl`` or ``msvcrt`` there is no lock at all (and no error). Yields the lock file's path.
    """
    path = lock_path(target)
    key = os.path.abspath(path)
    held = _held.__dict__.setdefault("paths", set())
    if key in held or (fcntl is None and msvcrt is None):
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, what or f"using {target}")
    held.add(key)
    try:
        yield path
    finally:
        held.discard(key)
        try:
            os.unlink(path)  # while still held: whoever waits on it will see it is gone
        except OSError:
            pass
        _unlock(fd)
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Downloads


class _ServerMisbehaved(Exception):
    """A reply that retrying the same URL will not fix: this mirror counts as failed.
    ``discard``: the bytes in ``.part`` cannot be trusted and are deleted."""

    def __init__(self, message: str, discard: bool = False):
        super().__init__(message)
        self.discard = discard


class _Clock:
    """The deadline of one :func:`download_file` call: ``max(min_seconds, size / min_rate)``
    from its start; when the size is unknown, the ``Content-Length`` stands in for it."""

    def __init__(self, min_seconds: float, size: int | None, min_rate: float):
        self.start, self.min_rate = time.monotonic(), min_rate
        self.seconds = max(min_seconds, (size or 0) / min_rate)

    def allow_for(self, size: int) -> None:
        self.seconds = max(self.seconds, size / self.min_rate)

    def remaining(self) -> float:
        return self.start + self.seconds - time.monotonic()

    def check(self, received: int) -> None:
        if self.remaining() < 0:
            raise _ServerMisbehaved(
                f"the download took longer than its deadline of {self.seconds:.0f} s "
                f"({received:,} bytes received in the last request; the limit is "
                f"max(min_seconds, size / {self.min_rate:,.0f} bytes/s))")


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": _USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


class _RestartNeeded(OSError):
    """The server answered a resume request with a range we did not ask for: start over."""


def _resume_offset(response, start: int, part: Path) -> int:
    """Where the body of ``response`` starts in the file: ``start`` after a 206, 0 after a 200."""
    if response.status != 206:
        return 0
    content_range = response.headers.get("Content-Range", "")
    try:
        first = int(content_range.split()[1].split("-", 1)[0])
    except (IndexError, ValueError):
        first = -1
    if first != start:
        part.unlink(missing_ok=True)
        raise _RestartNeeded(f"asked for bytes {start}-, got Content-Range {content_range!r}")
    return start


def _content_length(response) -> int | None:
    """The ``Content-Length`` as a number, None when absent; a malformed one fails the mirror."""
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]+", value.strip()):
        raise _ServerMisbehaved(f"the server sent a malformed Content-Length header {value!r}")
    return int(value.strip())


def _unsafe_part(part: Path) -> DownloadError:
    try:
        what = f"a symbolic link to {os.readlink(part)!r}" if part.is_symlink() else "not a regular file"
    except OSError:
        what = "not a regular file"
    return DownloadError(
        f"Refusing to download into {part}: it is {what}, not a partial download this "
        "downloader wrote, and nothing was written through it. Delete it (or move it away) and "
        "run the same command again.")


def _check_part(part: Path) -> None:
    """``part`` must be absent or a regular file (not a symlink, FIFO, folder...)."""
    try:
        mode = os.lstat(part).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise _unsafe_part(part)


def _open_part(part: Path, append: bool):
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _BINARY | (os.O_APPEND if append else os.O_TRUNC)
    _check_part(part)  # without O_NOFOLLOW (Windows) this is the guard
    try:
        fd = os.open(part, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _unsafe_part(part) from exc
        raise
    return os.fdopen(fd, "ab" if append else "wb")


def _fetch_once(url: str, part: Path, *, size: int | None, timeout: float, clock: _Clock, bar) -> None:
    """One request: append to ``part`` after a 206 from its current end, else rewrite it."""
    start = os.lstat(part).st_size if part.exists() else 0
    clock.check(0)
    with _open(url, start, min(timeout, max(clock.remaining(), 0.05))) as response:
        offset = _resume_offset(response, start, part)
        remaining = _content_length(response)
        if size is not None and remaining is not None and offset + remaining > size:
            raise _ServerMisbehaved(
                f"the server announces {offset + remaining:,} bytes (Content-Length {remaining:,} "
                f"from byte {offset:,}), more than the expected {size:,}")
        if size is None and remaining is not None:
            clock.allow_for(offset + remaining)
        if bar is not None:
            if remaining is not None and bar.total is None:
                bar.total = offset + remaining
            bar.n = offset
            bar.refresh()
        read = getattr(response, "read1", response.read)  # read1: returns what has arrived
        received = 0
        with _open_part(part, append=bool(offset)) as out:
            while True:
                clock.check(received)
                chunk = read(_CHUNK)
                if not chunk:
                    break
                if size is not None and offset + received + len(chunk) > size:
                    raise _ServerMisbehaved(
                        f"the server sent more than the expected {size:,} bytes "
                        f"(stopped at {offset + received + len(chunk):,})", discard=True)
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        if remaining is not None and received < remaining:
            raise http.client.IncompleteRead(b"", remaining - received)


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    retries: int = 3,
    progress: bool = True,
    timeout: float = 60.0,
    backoff: float = 1.0,
    min_seconds: float = 60.0,
    min_rate: float = 50_000.0,
) -> Path:
    """Download ``url`` to ``dest``, verified; return ``dest``.

    A file already at ``dest`` that passes the checks is kept without downloading (one that fails
    is deleted and downloaded again). The download goes to ``dest.part``; after a dropped
    connection it resumes from the bytes it has when the server answers a ``Range`` request with
    206, else starts over; up to ``retries`` retries, waiting ``backoff * 2**attempt`` seconds
    between tries. ``timeout`` bounds each network read; the whole call must finish within
    ``max(min_seconds, size / min_rate)`` seconds. The call holds :func:`target_lock` on ``dest``.

    Raises :class:`DownloadUnavailableError` (with what to download by hand and where to put it)
    when the file cannot be fetched from ``url``: offline, HTTP error, dropped connections,
    deadline passed, a malformed ``Content-Length``, a body longer than ``size``. Raises
    :class:`DownloadError` naming the URL and the expected and actual size and hashes when the
    file does not match, and when ``dest.part`` is a symbolic link or other non-file. Nothing
    unverified ever reaches ``dest``: a mismatching download is deleted; after a failed transfer
    only the bytes received so far stay in ``dest.part``, to be resumed (and verified) next time.
    """
    dest = Path(dest)
    expected = _expected(sha256, size)
    offline = os.environ.get("COURSE_OFFLINE", "") not in ("", "0")
    if offline and not dest.is_file():
        raise DownloadUnavailableError(
            manual_download_message(url, dest, expected, "COURSE_OFFLINE is set"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with target_lock(dest, what=f"downloading {dest.name}"):
        if dest.is_file():
            if not check_file(dest, **expected):
                return dest
            dest.unlink()  # a stale or corrupt copy: replaced by a fresh download
        if offline:
            raise DownloadUnavailableError(
                manual_download_message(url, dest, expected, "COURSE_OFFLINE is set"))
        part = dest.with_name(dest.name + ".part")
        _check_part(part)
        if "size" in expected and part.exists() and part.stat().st_size > expected["size"]:
            part.unlink()
        _transfer(url, dest, part, expected, retries=retries, progress=progress, timeout=timeout,
                  backoff=backoff, clock=_Clock(min_seconds, expected.get("size"), min_rate))
        actual = file_digests(part)
        mismatches = _mismatches(expected, actual)
        if mismatches:
            part.unlink()
            raise DownloadError(
                f"Download of {url} does not match its expected size or checksum, so it was "
                f"deleted (nothing was put at {dest}):\n  " + "\n  ".join(mismatches)
                + f"\nReceived {actual.size:,} bytes, sha256 {actual.sha256}; "
                f"expected {_describe_expected(expected)}. The server's copy may have changed: "
                "do not use it until the new checksum is confirmed."
            )
        os.replace(part, dest)
    return dest


def _transfer(url, dest, part, expected, *, retries, progress, timeout, backoff, clock) -> None:
    """The request loop of :func:`download_file`: ``part`` complete, or DownloadUnavailableError."""
    bar = None
    if progress:
        bar = tqdm(total=expected.get("size"), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=dest.name, leave=False)
    last_error: BaseException | None = None
    try:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(max(0.0, min(backoff * 2 ** (attempt - 1), clock.remaining())))
            if "size" in expected and part.exists() and part.stat().st_size == expected["size"]:
                last_error = None  # complete from an earlier run: only the checks remain
                break
            try:
                _fetch_once(url, part, size=expected.get("size"), timeout=timeout, clock=clock,
                            bar=bar)
                last_error = None
                break
            except _ServerMisbehaved as exc:  # retrying this URL will not help
                last_error = exc
                if exc.discard:
                    part.unlink(missing_ok=True)
                break
            except urllib.error.HTTPError as exc:
                last_error = exc
                if exc.code == 416:  # our partial file is no use to the server: start over
                    part.unlink(missing_ok=True)
                elif exc.code not in _RETRY_STATUSES:
                    break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                last_error = exc
    finally:
        if bar is not None:
            bar.close()
    if last_error is None:
        return
    reason = (str(last_error) if isinstance(last_error, _ServerMisbehaved)
              else f"{type(last_error).__name__}: {last_error}")
    if not part.exists() or part.stat().st_size == 0:
        part.unlink(missing_ok=True)
    else:
        reason += f" (the {part.stat().st_size:,} bytes received so far are kept in {part} and resumed next time)"
    raise DownloadUnavailableError(manual_download_message(url, dest, expected, reason)) from last_error


# --------------------------------------------------------------------------------------------
# Extraction


class ArchiveTooLargeError(UnsafeArchiveError):
    """An archive would unpack to more bytes or more members than its cap (an archive bomb).

    The caps come from :func:`extraction_caps`; the message names the archive, the cap, how it
    was derived, and what was found when extraction stopped."""


# A single tar header record (PAX or GNU long-name data) is read into memory whole by tarfile;
# real ones are a few hundred bytes, so anything this large is refused before it is read.
MAX_HEADER_READ = 16 * MIB
# Room for the tar stream around the file bytes: headers (a PAX header and its data, a GNU
# long-name record...) per allowed member, and the end-of-archive blocks and record padding.
_HEADER_ROOM_PER_MEMBER = 4096
_END_ROOM = MIB


@dataclass(frozen=True)
class ExtractionCaps:
    """The most an archive may unpack to; see :func:`extraction_caps`.

    ``max_bytes``: bytes of file content written; ``max_members``: member headers (files and
    folders), None for no count cap; ``bytes_basis`` / ``members_basis``: how each was derived,
    for messages."""

    max_bytes: int
    max_members: int | None
    bytes_basis: str
    members_basis: str

    @property
    def max_stream(self) -> int:
        """Bytes of (decompressed) tar data that may be read: file bytes plus header room, 4 KiB
        per allowed member (as much again as ``max_bytes`` when no member count is declared),
        plus 1 MiB for the end of the archive."""
        headers = (self.max_bytes if self.max_members is None
                   else _HEADER_ROOM_PER_MEMBER * self.max_members)
        return self.max_bytes + headers + _END_ROOM


def extraction_caps(archive_size: int, extracted_size: int | None = None,
                    members: int | None = None) -> ExtractionCaps:
    """The caps for an archive of ``archive_size`` bytes declared to unpack to ``extracted_size``
    bytes in ``members`` members (either None when not declared).

    Bytes: ``max(extracted_size, 4 * archive_size)``, so an archive of already-compressed images
    (which unpacks to about its own size) always has room, while a compression bomb (a 285 KB
    ``.tgz`` of one 287 MB file) is stopped. Members: ``members`` plus 1 %, rounded up; no
    member cap when ``members`` is None.
    """
    ratio_cap = 4 * archive_size
    if extracted_size is None:
        max_bytes = ratio_cap
        bytes_basis = f"4 × the archive's {archive_size:,} bytes; no extracted size declared"
    else:
        max_bytes = max(extracted_size, ratio_cap)
        bytes_basis = (f"max(declared extracted size {extracted_size:,}, "
                       f"4 × the archive's {archive_size:,} bytes)")
    if members is None:
        return ExtractionCaps(max_bytes, None, bytes_basis, "no member count declared")
    max_members = -(-members * 101 // 100)  # members + 1 %, rounded up
    return ExtractionCaps(max_bytes, max_members, bytes_basis,
                          f"declared {members:,} members + 1 %")


class _Budget:
    """What one extraction has used so far, against its :class:`ExtractionCaps`: member headers
    read, bytes their headers declare, bytes actually written, tar data read."""

    def __init__(self, archive: Path, caps: ExtractionCaps):
        self.archive, self.caps = archive, caps
        self.members = self.declared = self.written = 0

    def _refuse(self, what: str, cap: int, basis: str, found: str) -> ArchiveTooLargeError:
        return ArchiveTooLargeError(
            f"{self.archive}: refused: it would unpack to more than its cap of {cap:,} {what} "
            f"({basis}); {found}. Extraction stopped there: nothing was kept (the partial "
            f"extraction was removed) and no {COMPLETE_MARKER} marker was written.")

    def header(self, name: str) -> None:
        """One more member header (``name``) was read."""
        self.members += 1
        cap = self.caps.max_members
        if cap is not None and self.members > cap:
            raise self._refuse("members", cap, self.caps.members_basis,
                               f"found member {self.members:,} ({name!r}) after reading "
                               f"{self.members:,} member headers")

    def declare(self, name: str, size: int) -> None:
        """Member ``name``'s header declares ``size`` bytes of content."""
        self.declared += size
        if self.declared > self.caps.max_bytes:
            raise self._refuse("bytes", self.caps.max_bytes, self.caps.bytes_basis,
                               f"its first {self.members:,} member headers already declare "
                               f"{self.declared:,} bytes (member {name!r}: {size:,})")

    def write(self, name: str, size: int) -> None:
        """``size`` more bytes of member ``name`` are about to be written."""
        if self.written + size > self.caps.max_bytes:
            raise self._refuse("bytes", self.caps.max_bytes, self.caps.bytes_basis,
                               f"{self.written:,} bytes were written and member {name!r} "
                               f"had {size:,} more")
        self.written += size

    def read_tar_data(self, position: int) -> None:
        """The tar data has been (or is about to be) read up to ``position``."""
        limit = self.caps.max_stream
        if position > limit:
            raise self._refuse(
                "bytes of tar data", limit,
                f"the file-byte cap {self.caps.max_bytes:,} plus room for headers",
                f"reading reached byte {position:,} of the decompressed tar data after "
                f"{self.members:,} member headers")

    def header_read(self, size: int) -> None:
        """A single read of ``size`` bytes (a header record) is about to happen."""
        if size < 0 or size > MAX_HEADER_READ:
            raise self._refuse(
                "bytes in one header record", MAX_HEADER_READ,
                "real PAX and GNU long-name records are a few hundred bytes",
                f"a header record of {'unbounded' if size < 0 else f'{size:,}'} bytes, after "
                f"{self.members:,} member headers")


class _CappedTarData:
    """A read-only view of the decompressed tar data that refuses to go past the budget.

    tarfile reads headers (PAX and GNU long-name records whole, into memory) and seeks over file
    data through it; a read larger than :data:`MAX_HEADER_READ` or a position past
    :attr:`ExtractionCaps.max_stream` raises :class:`ArchiveTooLargeError` before it happens
    (seeks) or right after (reads), so a bomb hidden in headers or padding is stopped too."""

    def __init__(self, raw, budget: _Budget, name: str):
        self._raw, self._budget, self.name = raw, budget, name

    def read(self, size: int = -1) -> bytes:
        self._budget.header_read(size if size is not None else -1)
        data = self._raw.read(size)
        self._budget.read_tar_data(self._raw.tell())
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = offset if whence == os.SEEK_SET else (
            self._raw.tell() + offset if whence == os.SEEK_CUR else None)
        if target is not None:
            self._budget.read_tar_data(target)
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def _open_tar_data(archive: Path):
    """The archive's decompressed bytes (gzip, read from the magic bytes; else the file itself,
    so a plain tar named ``.tar.gz`` works)."""
    with open(archive, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(archive, "rb") if gzipped else open(archive, "rb")


def _is_tar(archive: Path) -> bool:
    """Whether the archive's (decompressed) first block is a valid tar header. Unlike
    ``tarfile.is_tarfile`` this reads 512 bytes only, never a header record of unbounded size."""
    try:
        with _open_tar_data(archive) as raw:
            tarfile.TarInfo.frombuf(raw.read(tarfile.BLOCKSIZE), tarfile.ENCODING, "surrogateescape")
    except (tarfile.HeaderError, OSError, EOFError, zlib.error):
        return False
    return True


def _member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's relative path, or UnsafeArchiveError for absolute names and ``..``."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if path.is_absolute() or (len(posix) > 1 and posix[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")
    if path.parts and path.parts[0] == COMPLETE_MARKER:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would stand in for the completion "
                                 f"marker {COMPLETE_MARKER}; refusing to extract")
    return path


def _refuse(archive: Path, name: str, what: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive}: member {name!r} is {what}; the archive is refused (only plain files and "
        "folders are extracted, and nothing was written)")


def _check_tar_member(member: tarfile.TarInfo, archive: Path) -> None:
    _member_path(member.name, archive)
    if member.issym():
        raise _refuse(archive, member.name, f"a symlink (symbolic link to {member.linkname!r})")
    if member.islnk():
        raise _refuse(archive, member.name, f"a hard link (to {member.linkname!r})")
    if member.ischr() or member.isblk():
        raise _refuse(archive, member.name, "a device file")
    if member.isfifo():
        raise _refuse(archive, member.name, "a FIFO (named pipe)")
    if not (member.isfile() or member.isdir()):
        raise _refuse(archive, member.name, f"of an unsupported type {member.type!r}")


def _ensure_inside(root: str, into: Path, name: str, archive: Path) -> None:
    """``into/name``, with every link on the way resolved, must stay inside ``root``."""
    target = os.path.realpath(os.path.join(into, name.replace("\\", "/")))
    try:
        inside = os.path.commonpath([root, target]) == root
    except ValueError:  # another drive (Windows)
        inside = False
    if not inside:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written to {target}, "
                                 f"outside the destination {root}; refusing to extract")


def _bar(items: list, archive: Path, progress: bool):
    if not progress:
        return items
    return tqdm(items, desc=f"extracting {archive.name}", unit="file", leave=False)


def _write_member(src, target: str, name: str, budget: _Budget) -> None:
    """Copy ``src`` to the new file ``target`` in chunks, each counted against ``budget`` before
    it is written (the cap stops a file half-way). A file of the same name written by an
    earlier member is replaced (as tar does); a folder of that name is refused."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISREG(mode):
            raise UnsafeArchiveError(f"{budget.archive}: member {name!r} would replace a folder "
                                     "an earlier member made; refusing to extract")
        os.unlink(target)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.write(name, len(chunk))
            out.write(chunk)


def _tar_headers(tar: tarfile.TarFile, archive: Path, budget: _Budget) -> list[tarfile.TarInfo]:
    """Every member header, read one at a time: counted, checked and its size declared before
    the next is read, so a refused archive writes nothing and a bomb stops at its cap."""
    members = []
    for member in tar:
        budget.header(member.name)
        _check_tar_member(member, archive)
        if member.isfile():
            budget.declare(member.name, member.size)
        members.append(member)
    return members


def _data_filter(member: tarfile.TarInfo, root: str, archive: Path) -> None:
    """tarfile's own ``data`` filter as one more check (where this Python has it)."""
    if not _FILTER_ERRORS:
        return
    try:
        tarfile.data_filter(member, root)
    except _FILTER_ERRORS as exc:
        raise UnsafeArchiveError(
            f"{archive}: member {member.name!r} refused by tarfile's data filter: {exc}; "
            "refusing to extract") from exc


def _extract_tar(archive: Path, into: Path, progress: bool, caps: ExtractionCaps) -> int:
    root = os.path.realpath(into)
    budget = _Budget(archive, caps)
    with _open_tar_data(archive) as raw, \
            tarfile.open(fileobj=_CappedTarData(raw, budget, str(archive)), mode="r:") as tar:
        members = _tar_headers(tar, archive, budget)
        for member in _bar(members, archive, progress):
            _ensure_inside(root, into, member.name, archive)
            _data_filter(member, root, archive)
            target = os.path.join(into, member.name)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            if not member.isfile():  # only reachable with the member checks switched off
                raise _refuse(archive, member.name, f"of type {member.type!r}")
            with tar.extractfile(member) as src:
                _write_member(src, target, member.name, budget)
            try:  # the archive's time stamps, as tarfile kept them (cache fingerprints use them)
                os.utime(target, (member.mtime, member.mtime))
            except (OSError, OverflowError, ValueError):
                pass
    return len(members)


# What a damaged or truncated archive raises while it is read.
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def extract_archive(archive: Path, dest_dir: Path, *, progress: bool = True,
                    extracted_size: int | None = None, members: int | None = None) -> Path:
    """Unpack ``archive`` into ``dest_dir`` safely; return ``dest_dir``.

    Nothing is done when ``dest_dir`` already holds the completion marker. Otherwise, holding
    :func:`target_lock` on ``dest_dir`` (a second caller waits, then finds the marker), the
    temporary folders of interrupted runs are removed (stale: nobody else can be extracting
    here while we hold the lock), the archive is checked member by member (see the module
    docstring), extracted into a fresh temporary folder inside ``dest_dir``, each top-level entry
    is moved into place (replacing what an earlier interrupted run left there), and the marker is
    written last; ``progress`` shows a bar per file.

    ``extracted_size`` (bytes of file content) and ``members`` (files and folders) are what the
    archive is declared to unpack to; :func:`extraction_caps` turns them into caps (at least 4 ×
    the archive's size in bytes; members + 1 %). The member headers are read one by one, and
    their count and declared sizes checked, before anything is written; the bytes actually
    written are counted as they are written. Past a cap, extraction stops and
    :class:`ArchiveTooLargeError` names the archive, the cap and what was found.

    Raises :class:`UnsafeArchiveError` (or its :class:`ArchiveTooLargeError`) for an unsafe
    member or a bomb, and :class:`DownloadError` for a file that is not a tar archive or is
    damaged; in every case the temporary folder is removed, nothing is moved into place and no
    marker is written. (On a platform with neither ``fcntl`` nor ``msvcrt`` there is no lock,
    and every leftover temporary folder is removed.)
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    marker = dest_dir / COMPLETE_MARKER
    if marker.is_file():
        return dest_dir
    with target_lock(dest_dir, what=f"extracting into {dest_dir}"):
        if marker.is_file():  # finished by whoever held the lock before us
            return dest_dir
        dest_dir.mkdir(parents=True, exist_ok=True)
        for stale in dest_dir.glob(f"{TMP_PREFIX}*"):  # left by an interrupted run
            _remove(stale)
        caps = extraction_caps(archive.stat().st_size, extracted_size, members)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{archive.name}-", dir=dest_dir))
        try:
            count = _extract_into(archive, tmp, progress, caps)
            for entry in sorted(tmp.iterdir()):
                target = dest_dir / entry.name
                if target.exists() or target.is_symlink():
                    _remove(target)
                os.replace(entry, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        marker.write_text(f"extracted {archive.name}: {count} members\n")
    return dest_dir


def _extract_into(archive: Path, tmp: Path, progress: bool, caps: ExtractionCaps) -> int:
    """Extract into ``tmp``; the number of members. A damaged archive is a
    DownloadError naming it."""
    try:
        if _is_tar(archive):
            return _extract_tar(archive, tmp, progress, caps)
    except _DAMAGED as exc:
        raise DownloadError(
            f"{archive} is damaged or truncated ({type(exc).__name__}: {exc}); nothing was "
            "extracted. Delete it and run the same command again to download it afresh.") from exc
    raise DownloadError(f"{archive} is not a tar archive; cannot extract it")
