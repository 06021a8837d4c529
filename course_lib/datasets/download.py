"""Dataset archives: the neutral verified downloader plus what only datasets need.

The generic parts (verified download, checksums, safe extraction, the lock) live in
:mod:`course_lib.download`, shared with :mod:`course_lib.models`; they are re-exported here so
``from course_lib.datasets.download import DownloadError`` keeps working. This module adds:

* :func:`fetch_archive`: a dataset's archive, trying each mirror in turn (a failed mirror is
  reported on stderr and the next one tried).
* A recorded whole-file sha256 for archives whose only primary check covers the first MiB
  (Imagewoof: fastai publishes size and the MD5 of the first 2**20 bytes). After the first
  download passes that check, the whole file's sha256 is computed, compared with the third-party
  value from ../shared/DATASETS.md (unconfirmed: a mismatch is a loud
  :class:`ThirdPartyChecksumWarning` naming both hashes, not a refusal) and recorded in
  ``downloads/<archive>.sha256.json``. Every later download or hand-placed copy must match the
  recorded value, or it is refused (:class:`DownloadError` naming both hashes).
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

from ..download import (
    DownloadError,
    DownloadUnavailableError,
    UnsafeArchiveError,
    check_file,
    download_file,
    extract_archive,
    file_digests,
    target_lock,
)

__all__ = ["DownloadError", "DownloadUnavailableError", "ThirdPartyChecksumWarning",
           "UnsafeArchiveError", "check_file", "download_file", "extract_archive", "fetch_archive",
           "read_sha256_record", "target_lock"]


class ThirdPartyChecksumWarning(UserWarning):
    """A downloaded archive's whole-file sha256 differs from an unconfirmed third-party value."""


def read_sha256_record(path: Path) -> dict:
    """The record written at an archive's first download; a damaged one raises DownloadError."""
    path = Path(path)
    fix = (" Delete it to record the archive's sha256 again at the next download (until then the "
           "archive is checked only by its size and the md5 of its first MiB).")
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


def _record_sha256(spec, archive: Path, record: Path) -> dict:
    digests = file_digests(archive)
    third = spec.third_party_sha256()
    agrees = None if third is None else digests.sha256 == third.value
    data = {
        "file": archive.name, "urls": list(spec.urls), "size": digests.size,
        "sha256": digests.sha256, "md5_first_mib": digests.md5_first_mib,
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": ("whole-file sha256 of the archive at its first verified download; later "
                 "downloads must match it"),
    }
    if third is not None:
        data.update(third_party_sha256=third.value, third_party_source=third.source,
                    third_party_trust=third.trust, third_party_agrees=agrees)
    _write_json(record, data)
    if agrees is False:
        warnings.warn(ThirdPartyChecksumWarning(
            f"{spec.name}: the archive's whole-file sha256 is {digests.sha256}, but the "
            f"third-party value ({third.source}; {third.trust}) is {third.value}. The archive "
            "passed its primary check (size and md5 of the first MiB), so it is used, and its "
            f"sha256 is recorded in {record}: a later download that differs will be refused. "
            "The third-party value may be a copy error, or the server's file may have changed; "
            "if in doubt, compare with someone else's download."), stacklevel=3)
    return data


def fetch_archive(spec, root: Path | None = None, *, progress: bool = True) -> Path:
    """Download ``spec``'s archive to ``spec.archive_path(root)``, verified; return that path.

    Mirrors (``spec.urls``) are tried in order; when all fail, the
    :class:`DownloadUnavailableError` holds each one's message. For a spec whose enforced check
    covers only the first MiB (``spec.records_sha256``) the whole-file sha256 is recorded at the
    first download and enforced from then on (see the module docstring).
    """
    archive = spec.archive_path(root)
    checks, sources = spec.download_checks(), {}
    record = spec.sha256_record_path(root) if spec.records_sha256 else None
    recorded = read_sha256_record(record) if record is not None and record.exists() else None
    if recorded is not None:
        checks["sha256"] = recorded["sha256"]
        sources["sha256"] = (f"recorded at this archive's first download on "
                             f"{recorded.get('recorded', '?')} in {record}; delete that file only "
                             "if the dataset was re-published")
    errors = []
    for i, url in enumerate(spec.urls):
        try:
            download_file(url, archive, progress=progress, sources=sources, **checks)
            break
        except DownloadUnavailableError as exc:  # try the next mirror
            errors.append(str(exc))
            if i + 1 < len(spec.urls):
                print(f"{spec.name}: {str(exc).splitlines()[0]}\n  trying the next mirror, "
                      f"{spec.urls[i + 1]}", file=sys.stderr, flush=True)
    else:
        raise DownloadUnavailableError("\n\n".join(errors))
    if record is not None and recorded is None:
        _record_sha256(spec, archive, record)
    return archive
