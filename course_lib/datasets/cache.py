"""The decode-once cache: every image decoded, resized and centre-cropped once, stored as uint8.

A cache is a folder::

    images.npy      (N, 3, S, S) uint8, opened memory-mapped (never read whole into RAM)
    labels.npy      (N,) int64, the labels the samples came with (e.g. the 0–999 index)
    manifest.json   source, size, counts per label, checksum of the inputs, version, settings
    skipped.json    [{"file", "reason"}]: every input that could not be used, and why
    converted.json  [{"file", "note"}]: inputs kept after a conversion (CMYK, greyscale, a PNG
                    named .JPEG...)
    .complete       written last (:data:`course_lib.paths.COMPLETE_MARKER`)

**Decode rules** are those of :mod:`course_lib.datasets.images`.

**Rebuilt only when inputs change.** The manifest holds a checksum of the sorted list of
``(file, label, size in bytes, mtime)`` — or of the pixels, for in-memory arrays — and the
settings (size, format version). :func:`build_cache` opens the existing cache when they match
and rebuilds it otherwise (or with ``force=True``).

**Never half-built.** The build runs in a temporary sibling folder
(``.<name>.building-<host>-<pid>-<random>``); a corrupt image is skipped and logged, never
fatal; the completion marker is written last and the folder is then renamed into place (the
previous cache, if any, is replaced only then). An interrupted build leaves the old cache, or
nothing, never a partial one that looks complete: the temporary folder is removed on any error,
and one left by a build that was killed (its process on this machine is gone) is removed by the
next build of the same cache.

**Never replaces what is not a cache.** ``out_dir`` may be missing, empty, or a course cache:
a folder holding only the cache's own files (:data:`CACHE_FILES`, plain files) whose manifest
reads as a cache manifest. Anything else (a web app's ``manifest.json`` beside the user's
sources, a stray ``.complete``...) is refused with :class:`CacheError` naming what was found,
and nothing in it is touched.

**A full disk is a message, not a crash.** The images array's size is known before decoding
(``N × 3 × S × S`` bytes), so the free space is checked before the array is created, and its
blocks are reserved (``posix_fallocate``) before any pixel is written through the memory map
(writing a memory map on a full disk kills the process with SIGBUS). A full disk met anyway
raises :class:`course_lib.diskspace.DiskFullError` naming the folder and the space needed.

**Never silently drops a class.** If every input of a class is skipped, :func:`build_cache`
raises :class:`EmptyClassError` naming the class and the reasons, and no cache is written. With
``allow_empty_classes=True`` it warns instead (a ``UserWarning`` listing the classes) and records
them in the manifest under ``empty_classes``. A class that simply has no inputs (a 10-class subset
labelled in the 1000-class index) is not an error.

Decoding runs in parallel (a process pool over chunks; each worker writes its rows straight into
the memory-mapped array) with a ``tqdm.auto`` progress bar.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import uuid
import warnings
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .. import diskspace
from ..errors import CourseError, CourseValueError
from ..paths import COMPLETE_MARKER
from .images import BadImageError, decode_file, resize_center_crop

CACHE_VERSION = 3  # 2: EXIF orientation applied when decoding; 3: counts keyed by label
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
MANIFEST_FILE = "manifest.json"
SKIPPED_FILE = "skipped.json"
CONVERTED_FILE = "converted.json"
# every file a finished cache folder holds; a folder holding anything else is not replaced
CACHE_FILES = frozenset({IMAGES_FILE, LABELS_FILE, MANIFEST_FILE, SKIPPED_FILE, CONVERTED_FILE,
                         COMPLETE_MARKER})
# what a manifest written by any version of this module holds (see _write_cache_files)
_MANIFEST_KEYS = ("version", "size", "counts", "label_names", "inputs_checksum", "settings")
_SETTINGS_KEYS = ("version", "size", "min_size", "draft")
WHAT = "the decode-once cache"
DECODE_CHUNK = 64  # files per task of the decoding processes


class CacheError(CourseError, RuntimeError):
    """A cache folder that is missing, incomplete or inconsistent; the message says which file."""


class EmptyClassError(CourseError, ValueError):
    """Every input of one or more classes was skipped; ``empty`` maps class → its skip reasons."""

    def __init__(self, empty: Mapping[str, list[str]], out_dir):
        self.empty = dict(empty)
        lines = [f"building the cache {out_dir}: every image of {len(empty)} class(es) was "
                 f"skipped, so the cache would silently lose them:"]
        for name, reasons in empty.items():
            shown = "; ".join(reasons[:3]) + (f"; ... ({len(reasons)} in all)"
                                              if len(reasons) > 3 else "")
            lines.append(f"  class {name}: {shown}")
        lines.append("Fix or remove those files, or pass allow_empty_classes=True to build anyway.")
        super().__init__("\n".join(lines))


@dataclass
class Cache:
    """An opened cache (see the module docstring for the files).

    ``images: (N, 3, S, S) uint8`` (read-only memmap), ``labels: (N,) int64``,
    ``classes: list[str]`` (class names in label order, only classes with inputs),
    ``class_labels: list[int]`` (the label of each of ``classes``), ``manifest: dict``,
    ``skipped`` / ``converted``: lists of dicts, ``rebuilt``: whether this call built it.
    """

    path: Path
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    class_labels: list[int]
    manifest: dict
    skipped: list[dict] = field(default_factory=list)
    converted: list[dict] = field(default_factory=list)
    rebuilt: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    def summary(self) -> dict:
        """A JSON-able summary (what ``prepare --json`` prints for one cache)."""
        return {
            "cache": str(self.path),
            "size": self.size,
            "n_images": len(self),
            "n_skipped": len(self.skipped),
            "n_converted": len(self.converted),
            "skipped": self.skipped,
            "classes": self.classes,
            "counts": [int(self.manifest["counts"][str(lab)]) for lab in self.class_labels],
            "rebuilt": self.rebuilt,
        }


# --------------------------------------------------------------------------------------------
# inputs


@dataclass
class _Inputs:
    """What a build reads: file samples or in-memory arrays."""

    paths: list[str] | None
    arrays: np.ndarray | None
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def _as_inputs(samples, source: str | None) -> _Inputs:
    images = getattr(samples, "images", None)
    if images is None and isinstance(samples, tuple) and len(samples) == 2 \
            and isinstance(samples[0], np.ndarray):
        images, labels = samples
    else:
        labels = getattr(samples, "labels", None)
    if images is not None:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
            raise CourseValueError(f"images must be (N, 3, H, W) uint8, got {images.shape} "
                             f"{images.dtype}")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(images),):
            raise CourseValueError(f"labels must be ({len(images)},), got {labels.shape}")
        default = type(samples).__name__ if not isinstance(samples, tuple) else "arrays"
        return _Inputs(None, images, labels, source or default)
    paths, label_list = [], []
    for i, item in enumerate(samples):
        try:
            path, label = item
        except (TypeError, ValueError):
            raise CourseValueError(f"sample {i} is {item!r}: expected (path, label)") from None
        paths.append(str(path))
        label_list.append(int(label))
    if not paths:
        raise CourseValueError("no samples to cache (the sample list is empty)")
    labels = np.asarray(label_list, dtype=np.int64)
    if labels.min() < 0:
        raise CourseValueError(f"labels must be >= 0, got {labels.min()} "
                         f"(sample {int(np.argmin(labels))}: {paths[int(np.argmin(labels))]})")
    return _Inputs(paths, None, labels, source or "files")


def _label_names(labels: np.ndarray, classes) -> dict[int, str]:
    """Name of every label present: ``classes`` indexed by label, or a mapping label → name."""
    present = sorted(int(x) for x in np.unique(labels))
    if classes is None:
        return {lab: str(lab) for lab in present}
    if isinstance(classes, Mapping):
        missing = [lab for lab in present if lab not in classes]
        if missing:
            raise CourseValueError(f"classes has no name for label(s) {missing[:10]}")
        return {lab: str(classes[lab]) for lab in present}
    classes = list(classes)
    if len(classes) > present[-1]:
        return {lab: str(classes[lab]) for lab in present}
    raise CourseValueError(f"{len(classes)} class names for labels up to {present[-1]}: give one "
                           f"name per label (0..{present[-1]}), or a mapping label -> name")


def inputs_checksum(inputs: _Inputs) -> str:
    """sha256 of the sorted ``file, label, bytes, mtime`` lines, or of the arrays' bytes."""
    digest = hashlib.sha256()
    if inputs.paths is not None:
        rows = []
        for path, label in zip(inputs.paths, inputs.labels.tolist()):
            try:
                st = os.stat(path)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime = -1, -1
            rows.append(f"{path}\t{label}\t{size}\t{mtime}\n")
        for row in sorted(rows):
            digest.update(row.encode("utf-8", "surrogateescape"))
    else:
        digest.update(repr(inputs.arrays.shape).encode())
        for start in range(0, len(inputs.arrays), 1024):
            digest.update(np.ascontiguousarray(inputs.arrays[start:start + 1024]).data)
        digest.update(inputs.labels.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# building


def _decode_chunk(paths: list[str], start: int, array_path: str,
                  size: int) -> list[tuple[int, bool, str]]:
    """Decode ``paths`` into rows ``start...`` of the memmap at ``array_path``.

    Returns ``(row, ok, reason_or_note)`` per file. Never raises for a bad file."""
    out = np.load(array_path, mmap_mode="r+")
    results = []
    for offset, path in enumerate(paths):
        row = start + offset
        try:
            pixels, note = decode_file(path, size)
        except BadImageError as exc:
            results.append((row, False, exc.reason))
            continue
        except Exception as exc:  # noqa: BLE001 - a build must never die on one file
            results.append((row, False, f"unexpected {type(exc).__name__}: {exc}"))
            continue
        out[row] = pixels  # outside the try: a failed write is the build's error, not a skip
        results.append((row, True, note))
    out.flush()
    del out
    return results


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _decode_files(inputs: _Inputs, array_path: Path, size: int, workers: int, progress: bool):
    n = len(inputs)
    chunks = [(inputs.paths[s:s + DECODE_CHUNK], s) for s in range(0, n, DECODE_CHUNK)]
    results: list[tuple[int, bool, str]] = []
    bar = tqdm(total=n, desc=f"decoding to {size}px", unit="img", disable=not progress)
    try:
        if workers <= 1 or len(chunks) == 1:
            for paths, start in chunks:
                results += _decode_chunk(paths, start, str(array_path), size)
                bar.update(len(paths))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_decode_chunk, paths, start, str(array_path), size):
                           len(paths) for paths, start in chunks}
                for future in as_completed(futures):
                    results += future.result()
                    bar.update(futures[future])
    finally:
        bar.close()
    results.sort()
    ok = np.array([r[1] for r in results], dtype=bool)
    skipped = [{"file": inputs.paths[r[0]], "reason": r[2]} for r in results if not r[1]]
    converted = [{"file": inputs.paths[r[0]], "note": r[2]} for r in results if r[1] and r[2]]
    return ok, skipped, converted


def _worker_died_message(out_dir: Path) -> str:
    """What to say when a decoding process was killed (no Python error came back)."""
    try:
        free = f"{diskspace.human_bytes(diskspace.free_bytes(out_dir.parent))} free there now"
    except OSError:
        free = "free space unknown"
    return (f"building {WHAT} {out_dir}: a decoding process died without a Python error "
            f"(killed by the system: out of memory, a full disk, or a crash in an image "
            f"library; {free}). Nothing was written there. Run the same command with "
            f"--workers 0 (workers=0 in Python) to see the error in this process.")


def _copy_arrays(inputs: _Inputs, array_path: Path, size: int, progress: bool) -> None:
    """Store in-memory ``(N, 3, H, W)`` images, resized + centre-cropped when H, W ≠ size."""
    out = np.load(array_path, mmap_mode="r+")
    src = inputs.arrays
    same = src.shape[2:] == (size, size)
    for start in tqdm(range(0, len(src), 512), desc=f"storing at {size}px", disable=not progress):
        block = src[start:start + 512]
        if same:
            out[start:start + len(block)] = block
        else:
            for i, img in enumerate(block):
                out[start + i] = resize_center_crop(Image.fromarray(img.transpose(1, 2, 0)), size)
    out.flush()
    del out


def _allocate_array(path: Path, shape: tuple[int, ...], out_dir: Path) -> None:
    """Create the ``.npy`` file of a ``shape`` uint8 array with every block reserved on disk.

    The free space is checked first (a clear :class:`~course_lib.diskspace.DiskFullError`
    naming ``out_dir``), then the blocks are reserved with ``posix_fallocate`` so that later
    writes through a memory map cannot meet a full disk (which would be a SIGBUS, not an error).
    """
    needed = int(np.prod(shape, dtype=np.int64))
    # the array is written next to out_dir (in the temporary folder), on its parent's disk
    diskspace.require_free_space(out_dir.parent, needed, f"{WHAT} {out_dir}")
    with diskspace.explain_disk_full(out_dir.parent, f"{WHAT} {out_dir}", needed):
        np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape).flush()
        _reserve_blocks(path)


def _reserve_blocks(path: Path) -> None:
    """Reserve disk blocks for the whole (sparse) file; a no-op where the file system cannot."""
    reserve = getattr(os, "posix_fallocate", None)
    if reserve is None:  # pragma: no cover - not on Linux
        return
    fd = os.open(path, os.O_RDWR)
    try:
        reserve(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _compact(src: Path, dst: Path, keep: np.ndarray, out_dir: Path) -> None:
    """Write the rows of ``src`` where ``keep`` into a new ``dst`` array, in blocks."""
    full = np.load(src, mmap_mode="r")
    _allocate_array(dst, (int(keep.sum()), *full.shape[1:]), out_dir)
    out = np.load(dst, mmap_mode="r+")
    rows = np.flatnonzero(keep)
    for start in range(0, len(rows), 1024):
        block = rows[start:start + 1024]
        out[start:start + len(block)] = full[block]
    out.flush()
    del out, full


def _check_replaceable(out_dir: Path) -> None:
    """Refuse (:class:`CacheError`, nothing touched) unless ``out_dir`` is missing, empty, or
    provably a cache: only :data:`CACHE_FILES`, as plain files, and a manifest that reads as
    one this module wrote."""
    if not out_dir.exists():
        return
    problem = _not_a_cache(out_dir)
    if problem:
        raise CacheError(f"{out_dir} exists and is not a cache folder: {problem}. Refusing to "
                         f"replace it (nothing in it was touched): choose another output "
                         f"folder, or empty this one yourself")


def _not_a_cache(folder: Path) -> str:
    """Why ``folder`` is not provably a (possibly incomplete or outdated) cache, or ``""``."""
    if not folder.is_dir():
        return "it is a file, not a folder"
    entries = sorted(folder.iterdir())
    if not entries:
        return ""
    foreign = [e.name + ("/" if e.is_dir() else "") for e in entries
               if e.name not in CACHE_FILES or e.is_symlink() or not e.is_file()]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        return f"it holds {shown}, which a cache never holds"
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        return f"it has no {MANIFEST_FILE}"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"its {MANIFEST_FILE} cannot be read as JSON ({exc})"
    settings = data.get("settings") if isinstance(data, dict) else None
    missing = [k for k in _MANIFEST_KEYS if k not in data] if isinstance(data, dict) \
        else list(_MANIFEST_KEYS)
    missing += [f"settings.{k}" for k in _SETTINGS_KEYS
                if "settings" not in missing and (not isinstance(settings, dict)
                                                  or k not in settings)]
    if missing:
        return (f"its {MANIFEST_FILE} is not a cache manifest (it lacks "
                f"{', '.join(missing)})")
    return ""


_BUILDING = re.compile(r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)-[0-9a-f]{8}")


def _host() -> str:
    """This machine's name as it appears in temporary folder names (letters, digits, _)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def _building_dir(out_dir: Path) -> Path:
    """A fresh temporary sibling of ``out_dir`` that names this machine and process."""
    return out_dir.with_name(f".{out_dir.name}.building-{_host()}-{os.getpid()}-"
                             f"{uuid.uuid4().hex[:8]}")


def _remove_stale_builds(out_dir: Path) -> None:
    """Remove temporary folders of earlier builds of ``out_dir`` whose process, on this
    machine, no longer runs (a build killed before it could clean up)."""
    prefix = f".{out_dir.name}.building-"
    for folder in out_dir.parent.iterdir():
        if not folder.name.startswith(prefix):
            continue
        match = _BUILDING.fullmatch(folder.name[len(prefix):])
        if (match and match["host"] == _host() and folder.is_dir() and not folder.is_symlink()
                and not _process_alive(int(match["pid"]))):
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (signal 0 asks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` to ``out_dir``, replacing an old cache only at the last step."""
    trash = None
    if out_dir.exists():
        trash = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out_dir, trash)
    os.replace(tmp, out_dir)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _settings(size: int) -> dict:
    # images.decode_file's defaults (shorter side at least ``size``, JPEG draft decoding), kept
    # in the manifest so that caches written when they were options still count as current
    return {"version": CACHE_VERSION, "size": size, "min_size": size, "draft": True}


def _is_current(out_dir: Path, settings: dict, checksum: str, names: dict[int, str]) -> bool:
    try:
        manifest = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return ((out_dir / COMPLETE_MARKER).is_file()
            and manifest.get("settings") == settings
            and manifest.get("inputs_checksum") == checksum
            and manifest.get("label_names") == {str(k): v for k, v in names.items()})


def build_cache(samples, out_dir, size: int, *, classes=None, source: str | None = None,
                workers: int | None = None, force: bool = False, progress: bool = True,
                allow_empty_classes: bool = False) -> Cache:
    """Decode ``samples`` once into a cache at ``out_dir`` (or open it if already current).

    ``samples``: a list of ``(path, label)``; or an object with ``.images (N, 3, H, W) uint8``
    and ``.labels (N,)`` (a :class:`~course_lib.datasets.synthnet.SynthNetSplit`, whose
    ``wnids`` become the class names); or a tuple ``(images, labels)``.
    ``classes``: class names indexed by label, or a mapping label → name (default: the label as
    text). ``size``: side of the stored images (decoded by
    :func:`~course_lib.datasets.images.decode_file`: a smaller source file is skipped).
    ``workers``: decoding processes (default: CPU count, at most 8; 0 or 1: this process).
    Raises :class:`EmptyClassError` (see the module docstring) and ``ValueError`` for bad
    arguments.
    """
    if not 1 <= int(size) <= 4096:
        raise CourseValueError(f"size={size}: expected a side in pixels between 1 and 4096")
    size = int(size)
    out_dir = Path(out_dir)
    inputs = _as_inputs(samples, source)
    if classes is None:
        classes = getattr(samples, "wnids", None)
    names = _label_names(inputs.labels, classes)
    settings = _settings(size)
    checksum = inputs_checksum(inputs)
    if not force and _is_current(out_dir, settings, checksum, names):
        return open_cache(out_dir)
    _check_replaceable(out_dir)

    shape = (len(inputs), 3, size, size)
    with diskspace.explain_disk_full(out_dir.parent, f"{WHAT} {out_dir}"):
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(out_dir)
        tmp = _building_dir(out_dir)
        tmp.mkdir()
    try:
        all_path = tmp / "all.npy"
        _allocate_array(all_path, shape, out_dir)
        with diskspace.explain_disk_full(out_dir.parent, f"{WHAT} {out_dir}"):
            if inputs.paths is not None:
                try:
                    ok, skipped, converted = _decode_files(
                        inputs, all_path, size,
                        _default_workers() if workers is None else int(workers), progress)
                except BrokenProcessPool as exc:
                    raise CacheError(_worker_died_message(out_dir)) from exc
            else:
                _copy_arrays(inputs, all_path, size, progress)
                ok, skipped, converted = np.ones(len(inputs), bool), [], []
            empty = _empty_classes(inputs.labels, ok, skipped, names, out_dir,
                                   allow_empty_classes)
            _write_cache_files(tmp, all_path, inputs, ok, skipped, converted, names, empty,
                               {"size": size, "checksum": checksum, "settings": settings,
                                "out_dir": out_dir})
            _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    cache = open_cache(out_dir)
    cache.rebuilt = True
    return cache


def _empty_classes(labels: np.ndarray, ok: np.ndarray, skipped: list[dict],
                   names: dict[int, str], out_dir: Path, allow: bool) -> list[int]:
    """Labels none of whose images survived decoding: an :class:`EmptyClassError` listing
    every skipped file of those classes with its reason, or (``allow``) a warning."""
    kept = labels[ok]
    empty = [lab for lab in names if not (kept == lab).any()]
    if empty and not allow:
        bad_labels = labels[~ok].tolist()
        reasons = {names[lab]: [f"{s['file']}: {s['reason']}" for s, lab_s in
                                zip(skipped, bad_labels) if lab_s == lab] for lab in empty}
        raise EmptyClassError(reasons, out_dir)
    if empty:
        warnings.warn(f"cache {out_dir}: every image of class(es) "
                      f"{[names[lab] for lab in empty]} was skipped; they are missing from "
                      f"the cache (see {SKIPPED_FILE})", UserWarning, stacklevel=3)
    return empty


def _write_cache_files(tmp: Path, all_path: Path, inputs: _Inputs, ok: np.ndarray,
                       skipped: list[dict], converted: list[dict], names: dict[int, str],
                       empty: list[int], record: dict) -> None:
    """Write the finished cache into ``tmp``: images (only the kept ones), labels, the logs,
    the manifest and, last, the completion marker."""
    kept_labels = inputs.labels[ok]
    if ok.all():
        os.replace(all_path, tmp / IMAGES_FILE)
    else:
        _compact(all_path, tmp / IMAGES_FILE, ok, record["out_dir"])
        all_path.unlink()
    np.save(tmp / LABELS_FILE, kept_labels)
    _write_json(tmp / SKIPPED_FILE, skipped)
    _write_json(tmp / CONVERTED_FILE, converted)
    manifest = {
        "version": CACHE_VERSION,
        "source": inputs.source,
        "size": record["size"],
        "n_inputs": len(inputs),
        "n_images": int(ok.sum()),
        "n_skipped": len(skipped),
        "n_converted": len(converted),
        # keyed by label, not by name: two classes may share a name (ILSVRC has two "crane"s)
        "counts": {str(lab): int((kept_labels == lab).sum()) for lab in names},
        "label_names": {str(k): v for k, v in names.items()},
        "empty_classes": [names[lab] for lab in empty],
        "inputs_checksum": record["checksum"],
        "settings": record["settings"],
    }
    _write_json(tmp / MANIFEST_FILE, manifest)
    (tmp / COMPLETE_MARKER).write_text("complete\n", encoding="utf-8")


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"{path} is missing: the cache is damaged; build it again") from None
    except ValueError as exc:
        raise CacheError(f"{path} is not valid JSON ({exc}); build the cache again") from None


def open_cache(path) -> Cache:
    """Open a complete cache folder; images are memory-mapped read-only.

    Raises :class:`CacheError` when the folder is missing, was never completed, or its files
    disagree with the manifest.
    """
    path = Path(path)
    if not (path / COMPLETE_MARKER).is_file():
        state = "does not exist" if not path.exists() else f"has no {COMPLETE_MARKER} marker " \
                                                            "(an interrupted build?)"
        raise CacheError(f"no complete cache at {path}: the folder {state}; build it with "
                         "build_cache() or `python -m course_lib prepare`")
    manifest = _read_json(path / MANIFEST_FILE)
    if manifest.get("settings", {}).get("version") != CACHE_VERSION:
        raise CacheError(f"{path / MANIFEST_FILE}: cache format version "
                         f"{manifest.get('settings', {}).get('version')!r}, this code reads "
                         f"{CACHE_VERSION}; build it again")
    images = np.load(path / IMAGES_FILE, mmap_mode="r")
    labels = np.load(path / LABELS_FILE)
    size = manifest["size"]
    if images.shape != (manifest["n_images"], 3, size, size) or labels.shape != (len(images),):
        raise CacheError(f"{path}: images {images.shape} / labels {labels.shape} disagree with "
                         f"the manifest ({manifest['n_images']} images at {size}px)")
    names = {int(k): v for k, v in manifest["label_names"].items()}
    found = set(np.unique(labels).tolist())
    present = [lab for lab in sorted(names) if lab in found]
    return Cache(
        path=path,
        images=images,
        labels=labels,
        classes=[names[lab] for lab in present],
        class_labels=present,
        manifest=manifest,
        skipped=_read_json(path / SKIPPED_FILE),
        converted=_read_json(path / CONVERTED_FILE),
    )
