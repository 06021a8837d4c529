"""The 1000 ILSVRC-2012 classes: the course's 0-999 index, wnids, names, and devkit IDs.

The course's label space is the **index**: the position of a class's wnid in the sorted list of
the 1000 wnids (index 0 is n01440764 "tench", as in torchvision, timm and TF; FACTS.md §2.2).
The table ships in ``course_lib/resources/imagenet_classes.tsv`` (built by
``scripts/build_class_resources.py``; names are WordNet 3.0 lemmas, e.g. "tench, Tinca tinca").
Names are not unique: two classes are called "crane" (the bird n02012849 and the machine
n03126707); use wnids or indices as keys.

The official devkit numbers classes differently: its 1-based **ILSVRC2012_ID** (1-1000, used in
submission and ground-truth files) follows the devkit's own order (``map_clsloc.txt`` begins with
n02119789 kit fox = 1; FACTS.md §2.2). That mapping ships only with the devkit (``meta.mat``),
which the course cannot redistribute. So (DESIGN.md, clarifications): with a devkit folder the
conversion uses its ``meta.mat``; without one, ID = index + 1.
"""

from __future__ import annotations

import csv
import functools
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.io import loadmat

from .errors import CourseValueError

NUM_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    path = resources.files("course_lib") / "resources" / "imagenet_classes.tsv"
    with path.open("r", encoding="utf-8") as f:
        df = pd.read_csv(
            f, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False, na_filter=False
        )
    df["index"] = df["index"].astype(np.int64)
    if len(df) != NUM_CLASSES or not (df["index"].to_numpy() == np.arange(NUM_CLASSES)).all():
        raise CourseValueError(f"{path}: expected indices 0..999 in order; file corrupt?")
    return df


def load_class_table() -> pd.DataFrame:
    """The class table: 1000 rows, columns ``index`` (int64, 0-999), ``wnid``, ``name``,
    ``definition``; row i is class index i (wnids sorted). Returns a fresh copy."""
    return _table().copy()


def wnid_to_index() -> dict[str, int]:
    """wnid → index (0-999)."""
    return {w: i for i, w in enumerate(_table()["wnid"])}


# ---------------------------------------------------------------------- devkit
def _meta_path(devkit_dir: str | os.PathLike) -> Path:
    d = Path(devkit_dir)
    candidates = [d] if d.suffix == ".mat" else [d / "data" / "meta.mat", d / "meta.mat"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"no ILSVRC-2012 devkit meta.mat found: tried {', '.join(map(str, candidates))} "
        "(pass the ILSVRC2012_devkit_t12 folder)"
    )


def _scalar(value: object) -> object:
    arr = np.asarray(value).ravel()
    if arr.size != 1:
        raise CourseValueError(f"expected one value, got {arr.size}")
    return arr[0]


def read_devkit(devkit_dir: str | os.PathLike) -> dict[int, str]:
    """Read the devkit's ``data/meta.mat``: ILSVRC2012_ID (1-1000) → wnid, sorted by ID.

    ``devkit_dir`` is the ``ILSVRC2012_devkit_t12`` folder (or its ``data`` folder, or the
    ``meta.mat`` file itself). ``meta.mat`` holds a struct array ``synsets`` with fields
    ``ILSVRC2012_ID, WNID, words, gloss, num_children, children, wordnet_height,
    num_train_images`` (FACTS.md §2.2); IDs 1-1000 are the leaf classes, the rest are ignored.

    Raises:
        FileNotFoundError: no meta.mat there.
        ValueError: not a .mat file, no ``synsets`` struct, IDs 1-1000 missing or repeated,
            or wnids that are not the 1000 ILSVRC-2012 classes (e.g. the 2010 devkit).
    """
    path = _meta_path(devkit_dir)
    try:
        mat = loadmat(str(path), squeeze_me=True)
    except Exception as exc:  # scipy raises several types for non-.mat input
        raise CourseValueError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    syn = mat.get("synsets")
    fields = getattr(getattr(syn, "dtype", None), "names", None) or ()
    if "ILSVRC2012_ID" not in fields or "WNID" not in fields:
        raise CourseValueError(
            f"{path}: no struct array 'synsets' with fields ILSVRC2012_ID and WNID "
            f"(variables: {sorted(k for k in mat if not k.startswith('__'))}); "
            "is this the ILSVRC-2012 devkit's meta.mat?"
        )
    out: dict[int, str] = {}
    for k, rec in enumerate(np.atleast_1d(syn)):
        try:
            sid, wnid = int(_scalar(rec["ILSVRC2012_ID"])), str(_scalar(rec["WNID"]))
        except (TypeError, ValueError) as exc:
            raise CourseValueError(f"{path}: synsets({k + 1}) has a malformed ID or WNID: {exc}") from exc
        if 1 <= sid <= NUM_CLASSES:
            if sid in out:
                raise CourseValueError(f"{path}: ILSVRC2012_ID {sid} appears twice (synsets({k + 1}))")
            out[sid] = wnid
    missing = sorted(set(range(1, NUM_CLASSES + 1)) - set(out))
    if missing:
        raise CourseValueError(
            f"{path}: leaf ILSVRC2012_IDs missing: {missing[:5]} ({len(missing)} in all)"
        )
    foreign = sorted(set(out.values()) - set(_table()["wnid"]))
    if foreign:
        raise CourseValueError(
            f"{path}: {len(foreign)} leaf wnids are not ILSVRC-2012 classes (e.g. {foreign[:3]}); "
            "is this another year's devkit?"
        )
    return dict(sorted(out.items()))


@functools.lru_cache(maxsize=8)
def _id_to_index_lut(path: str, mtime_ns: int) -> np.ndarray:
    """``(1001,) int64``: entry ID is the index of devkit class ID (entry 0 unused, -1)."""
    index = wnid_to_index()
    lut = np.full(NUM_CLASSES + 1, -1, dtype=np.int64)
    for sid, wnid in read_devkit(path).items():
        lut[sid] = index[wnid]
    return lut


def _lut(devkit_dir: str | os.PathLike) -> np.ndarray:
    path = _meta_path(devkit_dir)
    return _id_to_index_lut(str(path.resolve()), path.stat().st_mtime_ns)


def _as_labels(values, low: int, high: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise TypeError(f"{what} must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < low) | (arr > high))
    if bad.size:
        pos = np.unravel_index(bad[0], arr.shape)
        raise CourseValueError(
            f"{what} out of range {low}..{high}: {arr.flat[bad[0]]} at position "
            f"{pos[0] if arr.ndim == 1 else pos} ({bad.size} bad in all)"
        )
    return arr


def devkit_ids_to_indices(ids, devkit_dir: str | os.PathLike | None = None) -> np.ndarray:
    """1-based ILSVRC2012_IDs (any shape, ints 1-1000) → 0-999 indices, same shape, int64.

    With ``devkit_dir`` the devkit's own numbering (meta.mat); without, index = ID - 1.
    """
    arr = _as_labels(ids, 1, NUM_CLASSES, "ILSVRC2012_IDs")
    return arr - 1 if devkit_dir is None else _lut(devkit_dir)[arr]


def indices_to_devkit_ids(indices, devkit_dir: str | os.PathLike | None = None) -> np.ndarray:
    """0-999 indices (any shape) → 1-based ILSVRC2012_IDs, same shape, int64; the inverse of
    :func:`devkit_ids_to_indices` for the same ``devkit_dir``."""
    arr = _as_labels(indices, 0, NUM_CLASSES - 1, "class indices")
    if devkit_dir is None:
        return arr + 1
    inverse = np.empty(NUM_CLASSES, dtype=np.int64)
    lut = _lut(devkit_dir)
    inverse[lut[1:]] = np.arange(1, NUM_CLASSES + 1)
    return inverse[arr]
