"""A rehearsal of the course's downloads against a local mirror, for CI only.

``make rehearse-gpu`` serves generated archives of the real layouts (and a generated weights
file of the real shapes) from 127.0.0.1, and names their URLs, sizes and SHA-256 in a test-only
registry file, a JSON object ``{name: {"url": ..., "sha256": ..., "size": ...}}``. That file is
honoured only while ``COURSE_REHEARSAL=1`` is set as well (``COURSE_REHEARSAL_REGISTRY`` alone
changes nothing), and every use says so on stderr, so nothing measured with it can pass for the
real thing. The published registry (:mod:`course_lib.datasets.registry`, the weights of
:mod:`course_lib.models.pretrained`) never changes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .errors import CourseValueError

FLAG, FILE = "COURSE_REHEARSAL", "COURSE_REHEARSAL_REGISTRY"
WEIGHTS = "alexnet-weights"  # the test-only registry's name for torchvision's AlexNet weights
FIELDS = ("url", "sha256", "size")


def entry(name: str) -> dict | None:
    """``{"url", "sha256", "size"}`` for ``name`` from the test-only registry, or None (not
    rehearsing, or ``name`` not listed). Says on stderr that it answered, each time."""
    path = os.environ.get(FILE)
    if os.environ.get(FLAG) != "1" or not path:
        return None
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CourseValueError(f"{FILE}={path}: not a readable JSON registry ({error})") from None
    found = table.get(name) if isinstance(table, dict) else None
    if found is None:
        return None
    lacking = [key for key in FIELDS if key not in found]
    if lacking:
        raise CourseValueError(f"{path}: the entry {name!r} lacks {', '.join(lacking)}")
    print(f"⚠️ REHEARSAL ({FLAG}=1): {name} comes from the test-only registry {path}, not from "
          "its published source and checksum", file=sys.stderr)
    return {"url": str(found["url"]), "sha256": str(found["sha256"]), "size": int(found["size"])}
