"""Where the course keeps its data: the datasets workspace.

The root is ``COURSE_DATA`` if set, else the ``data/`` folder of the checkout this package was
imported from, else ``./data``. Nothing here creates a folder; callers that write call
``mkdir`` themselves.

A dataset counts as *present* when its folder under the root holds the completion marker
:data:`COMPLETE_MARKER`, written only after a download was verified and fully extracted (or a
cache fully built), so a half-extracted archive never looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

COMPLETE_MARKER = ".complete"

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The datasets workspace (not created here)."""
    env = os.environ if environ is None else environ
    if env.get("COURSE_DATA"):
        return Path(env["COURSE_DATA"]).expanduser()
    if (_CHECKOUT_ROOT / "pyproject.toml").is_file():
        return _CHECKOUT_ROOT / "data"
    return Path.cwd() / "data"


CACHES = "caches"


def present_datasets(root: Path | None = None) -> list[str]:
    """What the workspace holds, sorted: each folder under ``root`` that carries the completion
    marker (a verified, fully extracted download), and each decode-once cache under
    ``root/caches/`` whose splits are all complete, listed as ``"caches/<name>"``."""
    root = data_dir() if root is None else Path(root)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if (p / COMPLETE_MARKER).is_file()]
    caches = root / CACHES
    for cache in sorted(caches.iterdir()) if caches.is_dir() else []:
        if _cache_complete(cache):
            found.append(f"{CACHES}/{cache.name}")
    return sorted(found)


def _cache_complete(folder: Path) -> bool:
    """A cache folder is complete when it, or every one of its split folders, has the marker."""
    if (folder / COMPLETE_MARKER).is_file():
        return True
    splits = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    return bool(splits) and all((p / COMPLETE_MARKER).is_file() for p in splits)


def shown(path: Path | str, environ: Mapping[str, str] | None = None) -> str:
    """``path`` as a learner should see it printed: relative to the checkout this package came
    from (``data/weights/…``, ``.venv/bin/python``) or to the working directory when it lies
    under either, ``~/…`` under the home folder, else unchanged. Kept outputs then show nothing
    of the machine that ran them, and the text still says where to look."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    env = os.environ if environ is None else environ
    bases = [(_CHECKOUT_ROOT, "")] if (_CHECKOUT_ROOT / "pyproject.toml").is_file() else []
    bases += [(Path.cwd(), ""), (Path(env.get("HOME") or Path.home()), "~/")]
    for base, prefix in bases:
        try:
            rest = path.relative_to(base)
        except ValueError:
            continue
        return prefix + str(rest) if str(rest) != "." else (prefix.rstrip("/") or ".")
    return str(path)
