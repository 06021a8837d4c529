"""Readers for the on-disk layouts of the ImageNet-family datasets.

Each reader turns a folder into ``samples: list[tuple[Path, int]]`` (image file, label), sorted
so that the same folder always gives the same list. Labels come from a ``wnid -> label`` mapping
the caller passes (the registry passes the course's 0-999 index, :func:`course_lib.classes.wnid_to_index`).

Layouts (see ``../shared/DATASETS.md``):

* **wnid folders** (Imagenette, ILSVRC-2012 ``train/`` and prepared ``val/``):
  ``split/<wnid>/*.JPEG``.
* **numbered folders** (ImageNetV2): ``0/ … 999/``, the folder name *is* the class index. Read as
  ``int(name)``: sorting the names as text ('0', '1', '10', '100', …), as ``ImageFolder`` does,
  scrambles the labels.
* **CIFAR-10** (python version): pickled batches, returned as arrays by :func:`load_cifar10`.
* **ILSVRC-2012 flat val**: ``val/ILSVRC2012_val_%08d.JPEG`` with the devkit's
  ``data/ILSVRC2012_validation_ground_truth.txt`` (one 1-based ILSVRC2012_ID per line, in file-name
  order; FACTS.md §2.4).
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import CourseError, CourseValueError
from .images import is_image_file

Samples = list[tuple[Path, int]]


class LayoutError(CourseError, ValueError):
    """A dataset folder does not have the layout its reader expects."""


def list_images(folder: Path) -> list[Path]:
    """Everything directly inside ``folder`` named like an image (by extension, any case), sorted
    by name. Entries that are not readable files (a broken link, a folder called ``x.JPEG``) are
    listed too: the cache build skips them and counts them with a reason, so nothing is dropped
    silently."""
    return sorted(p for p in Path(folder).iterdir() if is_image_file(p.name))


def _subfolders(folder: Path) -> list[Path]:
    if not Path(folder).is_dir():
        raise LayoutError(f"{folder}: folder not found")
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))


def read_wnid_folders(split_dir: Path, wnid_to_label: Mapping[str, int]) -> Samples:
    """``split_dir/<wnid>/*`` → samples labelled ``wnid_to_label[wnid]``.

    A sub-folder whose name is not in ``wnid_to_label`` is an error (it names the folder), so a
    stray folder never shifts the labels.
    """
    samples: Samples = []
    for folder in _subfolders(split_dir):
        if folder.name not in wnid_to_label:
            raise LayoutError(f"{folder}: folder name {folder.name!r} is not a known class wnid")
        label = int(wnid_to_label[folder.name])
        samples.extend((path, label) for path in list_images(folder))
    if not samples:
        raise LayoutError(f"{split_dir}: no images in any <wnid>/ sub-folder")
    return samples


def read_class_folders(root: Path, allow_empty_classes: bool = False) -> tuple[Samples, list[str]]:
    """Any ``root/<class>/<image>`` tree → ``(samples, classes)``.

    Classes are the sorted sub-folder names and labels their positions. Files at any depth under
    a class folder count when their name has an image extension; entries that cannot be read
    are listed too, so the cache build skips and counts them with a reason.

    A class folder holding no image file is an error naming it (a class with no examples
    cannot be learned, and dropping it silently changes what the labels mean).
    ``allow_empty_classes=True`` leaves such folders out with a warning that names them and
    says how many classes remain.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    folders = [folder.name for folder in _subfolders(root)]
    if not folders:
        raise LayoutError(f"{root}: no class sub-folders (expected {root}/<class>/<image>)")
    found = {name: [path for path in sorted((root / name).rglob("*")) if is_image_file(path.name)]
             for name in folders}
    empty = [name for name in folders if not found[name]]
    classes = [name for name in folders if found[name]]
    if not classes:
        raise LayoutError(f"{root}: no image files under its class folders")
    if empty:
        listed = ", ".join(str(root / name) for name in empty[:10])
        more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
        if not allow_empty_classes:
            raise LayoutError(
                f"{len(empty)} class folder(s) hold no image file: {listed}{more}. Add images, "
                f"remove the folder(s), or allow empty classes to leave them out "
                f"({len(classes)} of {len(folders)} classes would remain)")
        warnings.warn(f"left out {len(empty)} empty class folder(s): {listed}{more}; "
                      f"{len(classes)} of {len(folders)} classes remain", stacklevel=2)
    samples: Samples = []
    for label, name in enumerate(classes):
        samples.extend((path, label) for path in found[name])
    return samples, classes


def read_numbered_folders(split_dir: Path, num_classes: int = 1000) -> Samples:
    """ImageNetV2's ``split_dir/0/ … split_dir/999/`` → samples labelled ``int(folder name)``.

    Ordered by label (numerically), then file name. Folder names that are not decimal integers
    in ``0..num_classes-1`` are errors.
    """
    labeled = []
    for folder in _subfolders(split_dir):
        if not re.fullmatch(r"\d+", folder.name) or int(folder.name) >= num_classes:
            raise LayoutError(
                f"{folder}: expected a class-index folder named 0..{num_classes - 1}, got {folder.name!r}")
        labeled.append((int(folder.name), folder))
    samples: Samples = []
    for label, folder in sorted(labeled):
        samples.extend((path, label) for path in list_images(folder))
    if not samples:
        raise LayoutError(f"{split_dir}: no images in any numbered sub-folder")
    return samples


def read_flat_val(val_dir: Path, ground_truth: Path, id_to_label) -> Samples:
    """ILSVRC-2012 val as shipped: flat ``val_dir/ILSVRC2012_val_*.JPEG`` plus the devkit's
    ground-truth file (line i = 1-based ILSVRC2012_ID of the i-th file in name order).

    ``id_to_label`` maps an ``(N,)`` int array of IDs to labels (e.g.
    :func:`course_lib.classes.devkit_ids_to_indices` with the devkit folder).
    """
    files = list_images(val_dir)
    numbered = [(lineno, line.strip()) for lineno, line
                in enumerate(Path(ground_truth).read_text().splitlines(), 1) if line.strip()]
    if len(numbered) != len(files):
        raise LayoutError(f"{ground_truth}: {len(numbered)} labels for {len(files)} images in {val_dir}")
    ids = np.empty(len(numbered), dtype=np.int64)
    for i, (lineno, value) in enumerate(numbered):
        try:
            ids[i] = int(value)
        except ValueError:
            raise LayoutError(f"{ground_truth}, line {lineno}: {value!r} is not an integer "
                              "ILSVRC2012_ID") from None
    labels = np.asarray(id_to_label(ids), dtype=np.int64)
    return [(path, int(label)) for path, label in zip(files, labels, strict=True)]


# --------------------------------------------------------------------------------------- CIFAR

CIFAR10_TOP = "cifar-10-batches-py"
CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a CIFAR batch needs nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _load_batch(path: Path) -> dict:
    with open(path, "rb") as f:
        batch = _ArraysOnly(f, encoding="bytes").load()
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}


def _cifar_folder(root: Path) -> Path:
    root = Path(root)
    for candidate in (root, root / CIFAR10_TOP):
        if (candidate / "batches.meta").is_file() or (candidate / "test_batch").is_file():
            return candidate
    raise LayoutError(f"{root}: no CIFAR-10 python batches here or in {root / CIFAR10_TOP}")


def load_cifar10(root: Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 (python version) as arrays.

    ``root``: the ``cifar-10-batches-py`` folder or the folder holding it. ``split``: ``train``
    (data_batch_1..5, 50,000 images) or ``test`` (test_batch, 10,000).
    Returns ``images: (N, 3, 32, 32) uint8`` (RGB) and ``labels: (N,) int64`` in 0..9, in file order.
    """
    if split not in CIFAR10_FILES:
        raise CourseValueError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    folder = _cifar_folder(root)
    images, labels = [], []
    for name in CIFAR10_FILES[split]:
        path = folder / name
        if not path.is_file():
            raise LayoutError(f"{path}: missing CIFAR-10 batch")
        batch = _load_batch(path)
        data = np.asarray(batch["data"], dtype=np.uint8)
        lab = np.asarray(batch["labels"], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(lab) != len(data):
            raise LayoutError(f"{path}: expected data (N, 3072) and N labels, got {data.shape} and {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() > 9):
            raise LayoutError(f"{path}: labels outside 0..9")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)

