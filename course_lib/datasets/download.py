"""Verified downloads and safe archive extraction.

:func:`download_file` streams a URL into a temporary file beside its destination (``NAME.part``),
resumes it with an HTTP ``Range`` request after a dropped connection when the server allows it
(otherwise starts again), retries with exponential back-off, shows a ``tqdm`` progress bar,
checks size and checksums, and only then moves the file into place with :func:`os.replace`.
A file that fails its check is deleted and never reaches the destination.

:func:`extract_archive` unpacks tar (plain, gzip, bzip2, xz: the format is read from the bytes,
so a plain tar named ``.tar.gz``, as ImageNetV2's are, works) and zip archives. It refuses
absolute member names, ``..``, links pointing outside the destination and device files, extracts
into a temporary folder, moves the result into place and writes
:data:`course_lib.paths.COMPLETE_MARKER` last, so an interrupted extraction is redone, never
trusted.

Checksum kinds (compare like with like):

* ``sha256`` and ``md5``: of the whole file.
* ``md5_first_mib``: fastai's check, the MD5 of the first 2**20 bytes only; always give ``size``
  with it, as fastai does.

Set ``COURSE_OFFLINE=1`` to make every download fail at once with the instructions for
placing the file by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..paths import COMPLETE_MARKER

MIB = 1 << 20
_CHUNK = MIB
_USER_AGENT = "course_lib-downloader/0.1 (+urllib)"
# HTTP statuses worth retrying: the server may answer differently a moment later.
_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download failed or its file did not match the published size or checksum."""


class DownloadUnavailableError(DownloadError):
    """The file could not be fetched at all (offline, blocked, not found); says what to do by hand."""


class UnsafeArchiveError(DownloadError):
    """An archive holds a member that would land outside the destination, or a device file."""


@dataclass(frozen=True)
class Digests:
    """What :func:`file_digests` measured: size in bytes and hex digests."""

    size: int
    sha256: str
    md5: str
    md5_first_mib: str


def file_digests(path: Path) -> Digests:
    """Size, whole-file SHA-256 and MD5, and MD5 of the first MiB of ``path``, in one pass."""
    sha256, md5, head = hashlib.sha256(), hashlib.md5(), hashlib.md5()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if size < MIB:
                head.update(chunk[: MIB - size])
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return Digests(size, sha256.hexdigest(), md5.hexdigest(), head.hexdigest())


def _expected(sha256, md5, md5_first_mib, size) -> dict:
    found = {"size": size, "sha256": sha256, "md5": md5, "md5_first_mib": md5_first_mib}
    return {key: (value.lower() if isinstance(value, str) else value)
            for key, value in found.items() if value is not None}


def check_file(path: Path, *, sha256=None, md5=None, md5_first_mib=None, size=None) -> list[str]:
    """The mismatches between ``path`` and the expected values, as readable lines (empty: good).

    Only the values given are compared, each with the same kind of measurement.
    """
    expected = _expected(sha256, md5, md5_first_mib, size)
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
    parts = []
    if "size" in expected:
        parts.append(f"size {expected['size']:,} bytes")
    for key in ("sha256", "md5", "md5_first_mib"):
        if key in expected:
            label = "md5 of the first MiB" if key == "md5_first_mib" else key
            parts.append(f"{label} {expected[key]}")
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


def _fetch_once(url: str, part: Path, timeout: float, bar) -> None:
    """One request: append to ``part`` after a 206 from its current end, else rewrite it."""
    start = part.stat().st_size if part.exists() else 0
    with _open(url, start, timeout) as response:
        offset = _resume_offset(response, start, part)
        length = response.headers.get("Content-Length")
        remaining = int(length) if length is not None else None
        if bar is not None:
            if remaining is not None and bar.total is None:
                bar.total = offset + remaining
            bar.n = offset
            bar.refresh()
        received = 0
        with open(part, "ab" if offset else "wb") as out:
            while chunk := response.read(_CHUNK):
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
    md5: str | None = None,
    md5_first_mib: str | None = None,
    size: int | None = None,
    retries: int = 3,
    progress: bool = True,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest``, verified; return ``dest``.

    A file already at ``dest`` that passes the checks is kept without downloading (one that fails
    is deleted and downloaded again). The download goes to ``dest.part``; after a dropped
    connection it resumes from the bytes it has when the server answers a ``Range`` request with
    206, else starts over; up to ``retries`` retries, waiting ``backoff * 2**attempt`` seconds
    between tries. Raises :class:`DownloadUnavailableError` (with what to download by hand and
    where to put it) when the file cannot be fetched, and :class:`DownloadError` naming the URL
    and the expected and actual size and hashes when it does not match. Nothing unverified ever
    reaches ``dest``: a mismatching download is deleted; after a failed transfer only the bytes
    received so far stay in ``dest.part``, to be resumed (and verified) by the next call.
    """
    dest = Path(dest)
    expected = _expected(sha256, md5, md5_first_mib, size)
    if dest.is_file():
        if not check_file(dest, **expected):
            return dest
        dest.unlink()  # a stale or corrupt copy: replaced by a fresh download
    if os.environ.get("COURSE_OFFLINE", "") not in ("", "0"):
        raise DownloadUnavailableError(
            manual_download_message(url, dest, expected, "COURSE_OFFLINE is set"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if "size" in expected and part.exists() and part.stat().st_size > expected["size"]:
        part.unlink()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=expected.get("size"), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=dest.name, leave=False)
    last_error: BaseException | None = None
    try:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            if "size" in expected and part.exists() and part.stat().st_size == expected["size"]:
                last_error = None  # complete from an earlier run: only the checks remain
                break
            try:
                _fetch_once(url, part, timeout, bar)
                last_error = None
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
    if last_error is not None:
        reason = f"{type(last_error).__name__}: {last_error}"
        if not part.exists() or part.stat().st_size == 0:
            part.unlink(missing_ok=True)
        else:
            reason += f" (the {part.stat().st_size:,} bytes received so far are kept in {part} and resumed next time)"
        raise DownloadUnavailableError(manual_download_message(url, dest, expected, reason)) from last_error

    actual = file_digests(part)
    mismatches = _mismatches(expected, actual)
    if mismatches:
        part.unlink()
        raise DownloadError(
            f"Download of {url} does not match the published checks, so it was deleted "
            f"(nothing was put at {dest}):\n  " + "\n  ".join(mismatches)
            + f"\nReceived {actual.size:,} bytes, sha256 {actual.sha256}, md5 {actual.md5}; expected "
            f"{_describe_expected(expected)}. The server's copy may have changed: do not use it "
            "until the new checksum is confirmed."
        )
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------------------------
# Extraction


def _member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's relative path, or UnsafeArchiveError for absolute names and ``..``."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if path.is_absolute() or (len(posix) > 1 and posix[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")
    return path


def _inside(path: PurePosixPath) -> bool:
    """Whether a relative path stays inside its root once ``..`` are resolved lexically."""
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return not path.is_absolute()


def _check_tar(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        path = _member_path(m.name, archive)
        if m.isdev():
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device file or FIFO; refusing to extract")
        if m.issym():
            target = PurePosixPath(m.linkname)
            if target.is_absolute() or not _inside(path.parent / target):
                raise UnsafeArchiveError(
                    f"{archive}: symlink {m.name!r} -> {m.linkname!r} points outside the destination; "
                    "refusing to extract")
        elif m.islnk():
            target = PurePosixPath(m.linkname)
            if target.is_absolute() or not _inside(target):
                raise UnsafeArchiveError(
                    f"{archive}: hard link {m.name!r} -> {m.linkname!r} points outside the destination; "
                    "refusing to extract")
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} has an unsupported type; refusing to extract")
    return members


def _bar(items: list, archive: Path, progress: bool):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=f"extracting {archive.name}", unit="file", leave=False)


def _extract_tar(archive: Path, into: Path, progress: bool) -> int:
    with tarfile.open(archive, mode="r:*") as tar:
        members = _check_tar(tar, archive)
        if getattr(tarfile, "data_filter", None) is not None:
            tar.extractall(into, members=_bar(members, archive, progress), filter="data")
        else:  # Python without extraction filters: our own checks above are the guard
            tar.extractall(into, members=_bar(members, archive, progress))
    return len(members)


def _extract_zip(archive: Path, into: Path, progress: bool) -> int:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _member_path(info.filename, archive)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix type
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(
                    f"{archive}: member {info.filename!r} is a link or special file; refusing to extract")
        for info in _bar(infos, archive, progress):
            zf.extract(info, into)
    return len(infos)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def extract_archive(archive: Path, dest_dir: Path, *, progress: bool = True) -> Path:
    """Unpack ``archive`` into ``dest_dir`` safely; return ``dest_dir``.

    Nothing is done when ``dest_dir`` already holds the completion marker. Otherwise the archive
    is checked member by member (see module docstring), extracted into a temporary folder inside
    ``dest_dir``, each top-level entry is moved into place (replacing what an earlier interrupted
    run left there), and the marker is written last; ``progress`` shows a bar per file. Raises :class:`UnsafeArchiveError` for an
    unsafe member and :class:`DownloadError` for a file that is neither tar nor zip.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    marker = dest_dir / COMPLETE_MARKER
    if marker.is_file():
        return dest_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    for stale in dest_dir.glob(".extracting-*"):  # left by an interrupted run
        _remove(stale)
    tmp = dest_dir / f".extracting-{archive.name}-{os.getpid()}"
    tmp.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            count = _extract_zip(archive, tmp, progress)
        elif tarfile.is_tarfile(archive):
            count = _extract_tar(archive, tmp, progress)
        else:
            raise DownloadError(f"{archive} is neither a tar nor a zip archive; cannot extract it")
        for entry in sorted(tmp.iterdir()):
            target = dest_dir / entry.name
            if target.exists() or target.is_symlink():
                _remove(target)
            os.replace(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    marker.write_text(f"extracted {archive.name}: {count} members\n")
    return dest_dir
