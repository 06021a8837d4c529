"""Dataset archives: the neutral verified downloader plus what only datasets need.

The generic parts (verified download, checksums, safe extraction, the lock) live in
:mod:`course_lib.download`, shared with :mod:`course_lib.models`. This module adds:

* :func:`fetch_archive`: a dataset's archive, trying each mirror in turn (a failed mirror is
  reported on stderr and the next one tried).
* A whole-file sha256 check for archives whose only primary check covers the first MiB
  (Imagewoof: fastai publishes size and the MD5 of the first 2**20 bytes). When a third-party
  sha256 is known (../shared/DATASETS.md; unconfirmed), it is enforced like any checksum: an
  archive that differs is deleted and refused (:class:`DownloadError` naming both hashes), and
  nothing is recorded. Only an archive that passed every check has its sha256 recorded, in
  ``downloads/<archive>.sha256.json``; every later download or hand-placed copy must match that
  record. (Without a third-party value, the first download that passes the primary check is
  recorded.)
* ``accept_unverified_archive=True`` (``fetch --accept-unverified-archive``): the explicit
  opt-in that takes the risk of using an archive whose bytes after the first MiB are not
  confirmed: one whose whole-file sha256 differs from the third-party (or recorded) value is
  used with a loud :class:`ThirdPartyChecksumWarning` naming both hashes, and its sha256 is
  never recorded as trusted.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from ..download import (
    DownloadError,
    DownloadUnavailableError,
    download_file,
    file_digests,
)
from ..errors import CourseWarning

__all__ = ["ACCEPT_UNVERIFIED_FLAG", "ThirdPartyChecksumWarning", "fetch_archive",
           "read_sha256_record"]

# The command-line spelling of ``accept_unverified_archive=True``, named in refusals.
ACCEPT_UNVERIFIED_FLAG = "--accept-unverified-archive"


class ThirdPartyChecksumWarning(CourseWarning):
    """An archive's whole-file sha256 differs from the unconfirmed third-party value (or from an
    earlier record), and it is used anyway because the caller accepted unverified archives; or
    a record that failed that check is ignored."""


def read_sha256_record(path: Path) -> dict:
    """The record written at an archive's first download; a damaged one raises DownloadError."""
    path = Path(path)
    fix = (" Delete it to record the archive's sha256 again at the next download that passes "
           "every check.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{path}: cannot read the recorded sha256 ({exc}).{fix}") from exc
    value = data.get("sha256") if isinstance(data, dict) else None
    if not (isinstance(value, str) and re.fullmatch("[0-9a-f]{64}", value)):
        raise DownloadError(f"{path}: no valid 'sha256' entry (64 lowercase hex digits), "
                            f"found {value!r}.{fix}")
    return data


def _write_json(path: Path, data: dict) -> None:
    """Write ``path`` atomically (a link planted at ``path`` is replaced, not followed)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _record_sha256(spec, archive: Path, record: Path, sha256: str) -> None:
    """Record ``sha256``, the whole-file hash of ``archive`` after it passed every check."""
    third = spec.third_party_sha256()
    data = {
        "file": archive.name, "urls": list(spec.urls), "size": archive.stat().st_size,
        "sha256": sha256,
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": ("whole-file sha256 of the archive at its first download that passed every "
                 "check; later downloads must match it"),
    }
    if third is not None:
        data.update(third_party_sha256=third.value, third_party_source=third.source,
                    third_party_trust=third.trust, third_party_agrees=sha256 == third.value)
    _write_json(record, data)


def _opt_in_hint(spec) -> str:
    return (f"if you accept the risk of using an archive whose bytes after the first MiB are "
            f"unconfirmed (corrupted or tampered with), run `python -m course_lib fetch "
            f"{spec.name} {ACCEPT_UNVERIFIED_FLAG}` (in Python: accept_unverified_archive=True)")


class _Expected(NamedTuple):
    """The whole-file sha256 an archive must have: ``value``, ``origin`` (where it comes from,
    for messages) and ``from_record`` (True: the recorded value, False: the third-party one)."""

    value: str
    origin: str
    from_record: bool


def _expected_sha256(spec, record: Path) -> _Expected | None:
    """The whole-file sha256 an archive of ``spec`` must have, or None when there is none yet.

    A valid record is used; one that contradicts the third-party value holds a hash that failed
    that check (written by an earlier version of the course) and is ignored, with a warning.
    """
    third = spec.third_party_sha256()
    if record.exists():
        recorded = read_sha256_record(record)
        if third is None or recorded["sha256"] == third.value:
            return _Expected(recorded["sha256"],
                             f"recorded at this archive's first verified download on "
                             f"{recorded.get('recorded', '?')} in {record}; delete that file "
                             "only if the dataset was re-published", True)
        warnings.warn(ThirdPartyChecksumWarning(
            f"{record} holds sha256 {recorded['sha256']}, which differs from the third-party "
            f"value {third.value} ({third.source}; {third.trust}): an earlier version of the "
            "course recorded a hash that failed that check. It is not trusted: the archive is "
            "checked against the third-party value, and the record is replaced once an archive "
            "passes."), stacklevel=4)
    if third is None:
        return None
    return _Expected(third.value, f"third-party value, {third.source}, {third.trust}: the only "
                                  "check of this archive's bytes after its first MiB", False)


def _download_from_mirrors(spec, archive: Path, checks: dict, sources: dict, progress: bool) -> None:
    """``download_file`` from each of ``spec.urls`` in turn until one works."""
    errors = []
    for i, url in enumerate(spec.urls):
        try:
            download_file(url, archive, progress=progress, sources=sources, **checks)
            return
        except DownloadUnavailableError as exc:  # try the next mirror
            errors.append(str(exc))
            if i + 1 < len(spec.urls):
                print(f"{spec.name}: {str(exc).splitlines()[0]}\n  trying the next mirror, "
                      f"{spec.urls[i + 1]}", file=sys.stderr, flush=True)
    raise DownloadUnavailableError("\n\n".join(errors))


def _accepted_unverified(spec, archive: Path, record: Path, expected: _Expected | None) -> None:
    """After an opt-in download with no whole-file check: record it only if it matches."""
    actual = file_digests(archive).sha256
    if expected is None:  # nothing to compare with: the first download is recorded
        _record_sha256(spec, archive, record, actual)
        return
    if actual == expected.value:
        if not expected.from_record:
            _record_sha256(spec, archive, record, actual)
        return
    warnings.warn(ThirdPartyChecksumWarning(
        f"{spec.name}: the archive's whole-file sha256 is {actual}, but the expected value "
        f"({expected.origin}) is {expected.value}. It passed only its primary check (size and md5 of "
        f"the first MiB) and is used because unverified archives were accepted "
        f"(accept_unverified_archive / {ACCEPT_UNVERIFIED_FLAG}); it may be corrupted or tampered "
        f"with after its first MiB. Its sha256 is NOT recorded as trusted (nothing written to "
        f"{record}); if in doubt, compare with someone else's download."), stacklevel=4)


def fetch_archive(spec, root: Path | None = None, *, progress: bool = True,
                  accept_unverified_archive: bool = False) -> Path:
    """Download ``spec``'s archive to ``spec.archive_path(root)``, verified; return that path.

    Mirrors (``spec.urls``) are tried in order; when all fail, the
    :class:`DownloadUnavailableError` holds each one's message. For a spec whose enforced check
    covers only the first MiB (``spec.records_sha256``) the whole file's sha256 must also match
    the recorded value or else the third-party one (a mismatch is refused, the archive deleted,
    nothing recorded); ``accept_unverified_archive`` turns that refusal into a
    :class:`ThirdPartyChecksumWarning` and the archive is then not recorded (see the module
    docstring). Raises :class:`DownloadError` for a damaged sha256 record, before any download.
    """
    archive = spec.archive_path(root)
    checks, sources = spec.download_checks(), {}
    if not spec.records_sha256:
        _download_from_mirrors(spec, archive, checks, sources, progress)
        return archive
    record = spec.sha256_record_path(root)
    expected = _expected_sha256(spec, record)
    if accept_unverified_archive:
        _download_from_mirrors(spec, archive, checks, sources, progress)
        _accepted_unverified(spec, archive, record, expected)
        return archive
    if expected is not None:
        checks["sha256"] = expected.value
        sources["sha256"] = f"{expected.origin}; {_opt_in_hint(spec)}"
    _download_from_mirrors(spec, archive, checks, sources, progress)
    if expected is None:  # nothing to compare with: the first download is recorded
        _record_sha256(spec, archive, record, file_digests(archive).sha256)
    elif not expected.from_record:  # matched the third-party value: recorded (a bad record replaced)
        _record_sha256(spec, archive, record, expected.value)
    return archive
