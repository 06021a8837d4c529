"""Dataset archives: the neutral verified downloader plus what only datasets need.

The generic parts (verified download, checksums, safe extraction, the lock) live in
:mod:`course_lib.download`, shared with :mod:`course_lib.models`. This module adds
:func:`fetch_archive`: a dataset's archive, trying each mirror in turn (a failed mirror is
reported on stderr and the next one tried).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..download import DownloadUnavailableError, download_file

__all__ = ["fetch_archive"]


def fetch_archive(spec, root: Path | None = None, *, progress: bool = True) -> Path:
    """Download ``spec``'s archive to ``spec.archive_path(root)``, verified; return that path.

    Mirrors (``spec.urls``) are tried in order; when all fail, the
    :class:`DownloadUnavailableError` holds each one's message.
    """
    archive, errors = spec.archive_path(root), []
    for i, url in enumerate(spec.urls):
        try:
            download_file(url, archive, progress=progress, **spec.download_checks())
            return archive
        except DownloadUnavailableError as exc:  # try the next mirror
            errors.append(str(exc))
            if i + 1 < len(spec.urls):
                print(f"{spec.name}: {str(exc).splitlines()[0]}\n  trying the next mirror, "
                      f"{spec.urls[i + 1]}", file=sys.stderr, flush=True)
    raise DownloadUnavailableError("\n\n".join(errors))
