"""The real datasets the course can use: where they come from, how to check them, how to read them.

``DATASETS`` maps a name to a :class:`DatasetSpec` holding its URL(s), size, the checksums as
published (each with its source and how far it can be trusted), the folder its archive unpacks
to, its class list, image counts and licence note. All figures are copied from
``../shared/DATASETS.md`` (nothing here was re-hashed by downloading).

    from course_lib.datasets import registry
    path = registry.fetch("imagenette2-160")              # download, verify, extract (once)
    train = registry.get("imagenette2-160").samples(split="train")   # [(Path, label), ...]

Labels are always the course's 0-999 index (position of the wnid among the 1000 sorted ILSVRC-2012
wnids; :func:`course_lib.classes.wnid_to_index`), so a model trained on ImageNet scores
Imagenette or ImageNetV2 without any remapping. For training a K-class model on a subset,
:meth:`DatasetSpec.label_map` gives the labels 0..K-1 in the order of ``spec.classes``.
CIFAR-10 is the exception: it is not an ImageNet subset; use :func:`readers.load_cifar10`.

Where things go: ``root`` (default :func:`course_lib.paths.data_dir`, ``COURSE_DATA``) holds
``downloads/<archive>`` while downloading and ``<name>/`` for the extracted dataset, which gets
:data:`course_lib.paths.COMPLETE_MARKER` when extraction has finished. ILSVRC-2012 is never
downloaded: it is read from ``IMAGENET_ROOT`` (see :data:`ILSVRC_HELP`).

Which checksum is enforced: the published SHA-256 (the only kind the downloader checks); the
size is always checked. :meth:`DatasetSpec.checks_summary` says which checks a dataset gets (``fetch --list``).

Extraction is capped against archive bombs (:func:`course_lib.download.extraction_caps`): each
entry declares ``extracted_size`` (an upper bound of the bytes of file content) and ``members``
(files and folders), with ``extraction_source`` saying where both come from; DATASETS.md
publishes neither, so they are derived from its counts and layouts (see the comments in the
table below). An archive beyond ``max(extracted_size, 4 × archive size)`` bytes or ``members``
+ 1 % is refused while it is being extracted.

How a dataset folder is recognised and read depends on its ``layout``, a key of
:data:`LAYOUTS` (one :class:`Layout` per kind of folder).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import rehearsal
from ..classes import devkit_ids_to_indices, wnid_to_index
from ..download import DownloadUnavailableError, download_file, extract_archive, target_lock
from ..errors import CourseError, CourseValueError
from ..paths import COMPLETE_MARKER, data_dir
from . import readers


class UnknownDatasetError(CourseError, KeyError):
    """A dataset name that is not in :data:`DATASETS`."""

    def __str__(self) -> str:
        return str(self.args[0])


class DatasetNotReadyError(CourseError, FileNotFoundError):
    """The dataset is not on disk (or only half extracted); the message says what to run."""


@dataclass(frozen=True)
class Checksum:
    """One published checksum. ``kind``: ``sha256`` (of the whole file) is the one enforced."""

    kind: str
    value: str
    source: str


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: provenance, checks, layout, classes. See the module docstring."""

    name: str
    title: str
    layout: str  # a key of LAYOUTS: "wnid-folders", "numbered-folders", ...
    urls: tuple[str, ...]
    filename: str
    size: int | None
    top_dir: str
    splits: tuple[str, ...]
    counts: Mapping[str, int] = field(compare=False)  # images per split, as published
    licence: str
    checksums: tuple[Checksum, ...] = ()
    wnids: tuple[str, ...] = ()  # empty: all 1000 ILSVRC-2012 classes
    notes: str = ""
    size_source: str = ""
    # What the archive unpacks to, for the caps on extraction (see the module docstring): an
    # upper bound of the bytes of file content, and the members (files and folders).
    extracted_size: int | None = None
    members: int | None = None
    extraction_source: str = ""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise CourseValueError(f"dataset {self.name!r}: unknown layout {self.layout!r}; "
                             f"known: {', '.join(LAYOUTS)}")

    @property
    def _layout(self) -> Layout:
        return LAYOUTS[self.layout]

    # ---------------------------------------------------------------- classes and labels

    @property
    def classes(self) -> list[str]:
        """The class wnids in the label order of :meth:`label_map` (sorted = ImageNet-index
        order); CIFAR-10's ten class names."""
        if self.wnids:
            return list(self.wnids) if self._layout.own_labels else sorted(self.wnids)
        return list(wnid_to_index())

    def label_map(self) -> dict[int, int]:
        """ImageNet index (0-999) → contiguous label (0..K-1, position in :attr:`classes`)."""
        if self._layout.own_labels:
            raise CourseValueError(self._layout.own_labels)
        index = wnid_to_index()
        return {index[w]: k for k, w in enumerate(self.classes)}

    # ---------------------------------------------------------------- checks

    def enforced_checksum(self) -> Checksum | None:
        """The checksum a download is verified against (see module docstring), or None."""
        return next((c for c in self.checksums if c.kind == "sha256"), None)

    def download_checks(self) -> dict:
        """Keyword arguments for :func:`download.download_file`: size and the enforced checksum."""
        checks: dict = {"size": self.size}
        chosen = self.enforced_checksum()
        if chosen is not None:
            checks[chosen.kind] = chosen.value
        return checks

    def checks_summary(self) -> str:
        """Which checks a download gets, in a few words (the ``checks`` column of ``fetch --list``)."""
        if self._layout.local_root is not None:
            return "- (not downloaded)"
        chosen = self.enforced_checksum()
        parts = ["size"] if self.size is not None else []
        if chosen is not None:
            parts.append(chosen.kind)
        return " + ".join(parts) or "none"

    # ---------------------------------------------------------------- where it lives

    def dataset_dir(self, root: Path | None = None) -> Path:
        """``root/<name>``, the folder the archive is extracted into."""
        return (data_dir() if root is None else Path(root)) / self.name

    def archive_path(self, root: Path | None = None) -> Path:
        """``root/downloads/<filename>``: where the archive is downloaded (or put by hand)."""
        return (data_dir() if root is None else Path(root)) / "downloads" / self.filename

    def is_present(self, root: Path | None = None) -> bool:
        """Whether :meth:`fetch` has completed (the completion marker is there)."""
        if self._layout.local_root is not None:
            try:
                self._layout.local_root(root)
            except DatasetNotReadyError:
                return False
            return True
        return (self.dataset_dir(root) / COMPLETE_MARKER).is_file()

    def fetch(self, root: Path | None = None, *, progress: bool = True,
              keep_archive: bool = False) -> Path:
        """Download, verify and extract (each step skipped when already done); return the
        dataset folder ``root/<name>``. For ILSVRC-2012 only checks ``root`` or ``IMAGENET_ROOT``.

        The archive is deleted after a successful extraction unless ``keep_archive``.
        Extraction is
        capped by :attr:`extracted_size` and :attr:`members` (module docstring). Raises
        :class:`download.DownloadError` (or its ``DownloadUnavailableError``, with what to download
        by hand and where to put it; or ``ArchiveTooLargeError`` for an archive bomb, the archive
        then kept in ``downloads/``). Download and extraction run under a lock on the dataset
        folder: a second notebook or process fetching the same dataset waits, then finds it done.
        """
        if self._layout.local_root is not None:
            return self._layout.local_root(root)
        target = self.dataset_dir(root)
        if (target / COMPLETE_MARKER).is_file():
            return target
        with target_lock(target, what=f"fetching {self.name}"):
            if (target / COMPLETE_MARKER).is_file():  # done by whoever held the lock before us
                return target
            archive = self.fetch_archive(root, progress=progress)
            extract_archive(archive, target, progress=progress,
                            extracted_size=self.extracted_size, members=self.members)
            if not keep_archive:
                archive.unlink()
        return target

    def fetch_archive(self, root: Path | None = None, *, progress: bool = True) -> Path:
        """Download the archive to :meth:`archive_path`, verified; return that path.

        Mirrors (:attr:`urls`) are tried in order, a failed one reported on stderr; when all
        fail, the :class:`DownloadUnavailableError` holds each one's message.
        """
        archive, errors = self.archive_path(root), []
        for i, url in enumerate(self.urls):
            try:
                return download_file(url, archive, progress=progress, **self.download_checks())
            except DownloadUnavailableError as exc:  # try the next mirror
                errors.append(str(exc))
                if i + 1 < len(self.urls):
                    print(f"{self.name}: {str(exc).splitlines()[0]}\n  trying the next mirror, "
                          f"{self.urls[i + 1]}", file=sys.stderr, flush=True)
        raise DownloadUnavailableError("\n\n".join(errors))

    def locate(self, root: Path | None = None) -> Path:
        """The folder holding the splits (e.g. ``…/imagenette2-160/imagenette2-160``).

        ``root`` may be the data workspace (default), the dataset folder ``root/<name>``, or the
        unpacked top folder itself (a copy extracted by hand). A folder under ``root/<name>``
        without the completion marker is refused: its extraction did not finish.
        """
        if self._layout.local_root is not None:
            return self._layout.local_root(root)
        base = data_dir() if root is None else Path(root)
        # Workspace, then dataset folder (root/<name>), then a top folder unpacked by hand.
        candidates = list(dict.fromkeys([base / self.name / self.top_dir, base / self.top_dir, base]))
        for candidate in candidates:
            if self._looks_like(candidate):
                managed = candidate.parent  # root/<name>/<top_dir>: written by fetch, needs the marker
                if (candidate.name == self.top_dir and managed.name == self.name
                        and not (managed / COMPLETE_MARKER).is_file()):
                    raise DatasetNotReadyError(
                        f"{managed} has no {COMPLETE_MARKER} marker: its download or extraction did not "
                        f"finish. Run `python -m course_lib fetch {self.name}` again.")
                return candidate
        raise DatasetNotReadyError(
            f"{self.title} not found under {base} (looked in {', '.join(map(str, candidates))}). "
            f"Run `python -m course_lib fetch {self.name}"
            + (f" --root {base}" if root is not None else "") + "`.")

    def _looks_like(self, folder: Path) -> bool:
        return folder.is_dir() and self._layout.looks_like(folder, self)

    # ---------------------------------------------------------------- reading

    def samples(self, root: Path | None = None, split: str = "train") -> list[tuple[Path, int]]:
        """``[(image path, label), ...]`` for ``split``, sorted, labels in the 0-999 ImageNet
        index.

        ``root``: see :meth:`locate`. Raises :class:`DatasetNotReadyError` when the data is not
        there, ``ValueError`` for an unknown split, :class:`readers.LayoutError` for a bad layout.
        """
        layout = self._layout
        if layout.read is None:
            raise CourseValueError(layout.not_image_files)
        if split not in self.splits:
            raise CourseValueError(f"{self.name} has splits {list(self.splits)}, not {split!r}")
        return layout.read(self.locate(root), self, split, wnid_to_index())


# --------------------------------------------------------------------------------- ILSVRC-2012

ILSVRC_HELP = """\
ILSVRC-2012 (ImageNet-1k) cannot be downloaded by the course: its Terms of Access allow only
non-commercial research and education, and the files need a login at https://image-net.org.
Once you have it, set IMAGENET_ROOT (or pass --root) to a folder holding
  train/<wnid>/*.JPEG and val/<wnid>/*.JPEG   (the usual prepared layout; val may also be flat
                                             ILSVRC2012_val_*.JPEG next to ILSVRC2012_devkit_t12/)
The official archives (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and
ILSVRC2012_devkit_t12.tar.gz) unpack to that layout with torchvision.datasets.ImageNet(root, split).
Example:  export IMAGENET_ROOT=/data/imagenet"""

DEVKIT_ARCHIVE = "ILSVRC2012_devkit_t12.tar.gz"
DEVKIT_DIR = "ILSVRC2012_devkit_t12"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"


def _ilsvrc_root(root: Path | None) -> Path:
    """``root`` or ``IMAGENET_ROOT`` when it holds a usable layout, else DatasetNotReadyError."""
    value = root if root is not None else os.environ.get("IMAGENET_ROOT")
    if not value:
        raise DatasetNotReadyError("IMAGENET_ROOT is not set.\n" + ILSVRC_HELP)
    folder = Path(value).expanduser()
    if not any((folder / s).is_dir() for s in ("train", "val")):
        raise DatasetNotReadyError(f"{folder} holds neither a train/ nor a val/ folder.\n"
                                   + ILSVRC_HELP)
    return folder


def _ilsvrc_samples(root: Path, split: str, index: Mapping[str, int]) -> list[tuple[Path, int]]:
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetNotReadyError(f"{split_dir}: not found.\n" + ILSVRC_HELP)
    has_class_folders = any(p.is_dir() and p.name in index for p in split_dir.iterdir())
    if has_class_folders or split == "train":
        return readers.read_wnid_folders(split_dir, index)
    devkit = root / DEVKIT_DIR
    if not (devkit / GROUND_TRUTH).is_file():
        raise DatasetNotReadyError(
            f"{split_dir} holds flat images; labelling them needs the devkit folder {devkit} with "
            f"{GROUND_TRUTH} (extract {DEVKIT_ARCHIVE} there).")
    return readers.read_flat_val(split_dir, devkit / GROUND_TRUTH,
                                 lambda ids: devkit_ids_to_indices(ids, devkit))


# --------------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class Layout:
    """How one kind of dataset folder is recognised and read (the values of :data:`LAYOUTS`).

    ``looks_like(folder, spec)``: whether ``folder`` (an existing folder) is the one holding the
    splits. ``read(folder, spec, split, index)``: ``[(image path, 0-999 label), ...]`` with
    ``index`` the wnid → ImageNet index table; None when the data are not image files, and then
    ``not_image_files`` says what to use instead. ``own_labels``: empty when labels are ImageNet
    indices, else why they are not (classes then keep the spec's order). ``local_root(root)``:
    for a dataset that is never downloaded, the folder it is read from (None otherwise).
    """

    looks_like: Callable[[Path, DatasetSpec], bool]
    read: Callable[[Path, DatasetSpec, str, Mapping[str, int]], list[tuple[Path, int]]] | None
    own_labels: str = ""
    not_image_files: str = ""
    local_root: Callable[[Path | None], Path] | None = None


def _has_a_split_folder(folder: Path, spec: DatasetSpec) -> bool:
    return any((folder / split).is_dir() for split in spec.splits)


def _read_wnid_folders(folder: Path, spec: DatasetSpec, split: str, index) -> list[tuple[Path, int]]:
    return readers.read_wnid_folders(folder / split, {w: index[w] for w in spec.classes})


LAYOUTS: dict[str, Layout] = {
    # <top>/<split>/<wnid>/*.JPEG (Imagenette)
    "wnid-folders": Layout(_has_a_split_folder, _read_wnid_folders),
    # ImageNetV2: the top folder holds 0/ … 999/ itself, the class index; the only split, "test"
    "numbered-folders": Layout(
        lambda folder, spec: (folder / "0").is_dir() or (folder / "999").is_dir(),
        lambda folder, spec, split, index: readers.read_numbered_folders(folder)),
    # pickled arrays with labels 0..9
    "cifar10": Layout(
        lambda folder, spec: (folder / "batches.meta").is_file() or (folder / "test_batch").is_file(),
        None,
        own_labels="CIFAR-10 labels are already 0..9 and are not ImageNet classes",
        not_image_files=("CIFAR-10 is stored as arrays, not image files: use "
                         "course_lib.datasets.readers.load_cifar10(spec.locate(root), split)")),
    # the learner's own copy under IMAGENET_ROOT, never downloaded
    "ilsvrc2012": Layout(_has_a_split_folder,
                         lambda folder, spec, split, index: _ilsvrc_samples(folder, split, index),
                         local_root=_ilsvrc_root),
}


# ----------------------------------------------------------------------------------- the table

_FASTAI = "https://s3.amazonaws.com/fast-ai-imageclas/"
_FASTAI_LICENCE = ("Apache-2.0 (fastai/imagenette repository); images are an ImageNet subset, "
                   "so ImageNet's terms are a reasonable assumption (UNVERIFIED)")
_TFDS = "TFDS datasets/imagenette/checksums.tsv @8861fc78"
_FASTAI_CHECKS = "fastai fastai/data/download_checks.py @63b624c6"

IMAGENETTE_WNIDS = (
    "n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
    "n03394916", "n03417042", "n03425413", "n03445777", "n03888257",
)  # tench, English springer, cassette player, chain saw, church, French horn, garbage truck,
#    gas pump, golf ball, parachute (DATASETS.md §2.1)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


# What the archives unpack to. DATASETS.md publishes no extracted sizes and no member counts, so
# each entry's values are derived, conservatively (an overestimate never refuses the real
# archive; the cap on members is the value + 1 %, so every member that may exist is counted):
#
# * bytes: the images are JPEG, whose data deflate/gzip cannot shrink by more than a few per
#   cent, so the files total about the archive's size; declared as the upper bound 2 × the
#   archive's size (not a measured figure), which keeps the cap at 4 × the archive's size.
# * members: the image counts (verified in DATASETS.md) plus the other files and every folder
#   the documented layout has, folder entries counted although an archive may omit them.
_JPEG_ARCHIVE_BYTES = ("not published: JPEG data barely compresses, so the files total about the "
                       "archive's size; declared as the upper bound 2 × the archive's size")

_NETTE = {"train": 9469, "val": 3925}
# fast.ai's archives: the images, noisy_*.csv, and <top>/, train/, val/ and 10 wnid folders in
# each split (23 folder entries).
_NETTE_MEMBERS = sum(_NETTE.values()) + 1 + (1 + 2 + 2 * 10)


def _imagenette(suffix, title, size, sha256):
    name = f"imagenette2{suffix}"
    return DatasetSpec(
        name=name, title=title, layout="wnid-folders", urls=(f"{_FASTAI}{name}.tgz",),
        filename=f"{name}.tgz", size=size, top_dir=name, splits=("train", "val"), counts=_NETTE,
        licence=_FASTAI_LICENCE, checksums=(Checksum("sha256", sha256, _TFDS),),
        wnids=IMAGENETTE_WNIDS, size_source=_FASTAI_CHECKS,
        notes="Re-packed Feb 2021 with noisy_*.csv; older checksums do not apply.",
        extracted_size=2 * size, members=_NETTE_MEMBERS,
        extraction_source=(f"{_JPEG_ARCHIVE_BYTES}. Members: the {sum(_NETTE.values()):,} images "
                           "(DATASETS.md), noisy_*.csv and up to 23 folders (derived)"),
    )


_V2_REV = "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/d626240be2538720e83103a0e1178d24aca8b12c/"
_V2_SOURCE = "HF vaishaal/ImageNetV2 LFS pointer @d626240; TFDS datasets/imagenet_v2/checksums.tsv"
_V2_LICENCE = ("Code MIT; images from Flickr, usable 'the same way as the original ImageNet "
               "dataset' (ImageNetV2 README)")


# ImageNetV2: 10,000 images in folders 0..999 under one top folder: 10,000 + 1,000 + 1 members.
# The archive is a plain tar, so its files cannot total more than the archive's own size.
_V2_MEMBERS = 10_000 + 1_000 + 1


def _imagenetv2(variant, size, sha256, note):
    return DatasetSpec(
        name=f"imagenetv2-{variant}", title=f"ImageNetV2 {note}", layout="numbered-folders",
        urls=(f"{_V2_REV}imagenetv2-{variant}.tar.gz",), filename=f"imagenetv2-{variant}.tar.gz",
        size=size, top_dir=f"imagenetv2-{variant}-format-val", splits=("test",),
        counts={"test": 10000}, licence=_V2_LICENCE, size_source=_V2_SOURCE,
        checksums=(Checksum("sha256", sha256, _V2_SOURCE),),
        notes=("A plain (uncompressed) tar despite its .tar.gz name. Folders 0..999 are the class "
               "index, read numerically. Recht et al. 2019; FACTS.md §6.1."),
        extracted_size=size, members=_V2_MEMBERS,
        extraction_source=("not published: at most the archive's size, since a plain tar stores "
                           "its files uncompressed. Members: 10,000 images, 1,000 class folders "
                           "and the top folder (DATASETS.md §2.5 layout; derived)"),
    )


_SPECS = [
    _imagenette("", "Imagenette (full size)", 1_557_161_267,
                "6cbfac238434d89fe99e651496f0812ebc7a10fa62bd42d6874042bf01de4efd"),
    _imagenette("-320", "Imagenette (shorter side 320 px)", 341_663_724,
                "569b4497c98db6dd29f335d1f109cf315fe127053cedf69010d047f0188e158c"),
    _imagenette("-160", "Imagenette (shorter side 160 px)", 99_003_388,
                "64d0c4859f35a461889e0147755a999a48b49bf38a7e0f9bd27003f10db02fe5"),
    DatasetSpec(
        name="cifar10", title="CIFAR-10 (python version)", layout="cifar10",
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        filename="cifar-10-python.tar.gz", size=170_498_071, top_dir=readers.CIFAR10_TOP,
        splits=("train", "test"), counts={"train": 50_000, "test": 10_000},
        licence="No licence stated; the CIFAR page asks you to cite Krizhevsky 2009 (tech report)",
        checksums=(
            Checksum("sha256", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                     "keras keras/src/datasets/cifar10.py; torchvision prototype _builtin/cifar.py"),
        ),
        wnids=CIFAR10_CLASSES, size_source="3rd-party: many download logs",
        # 6 batches × 10,000 images × 3,072 bytes = 184,320,000 bytes of pixels, plus per batch
        # pickled labels and file names (well under 1 MB each), batches.meta and readme.html:
        # declared as the upper bound 2.0e8. Members: the folder and its 8 files (§2.4).
        extracted_size=200_000_000, members=1 + 8,
        extraction_source=("not published: 184,320,000 bytes of pixels plus labels and names, "
                           "declared as the upper bound 2.0e8 bytes. Members: "
                           "cifar-10-batches-py/ and its 8 files (DATASETS.md §2.4; derived)"),
        notes="Pickled arrays, not image files: read with readers.load_cifar10. Labels 0..9.",
    ),
    _imagenetv2("matched-frequency", 1_264_079_360,
                "f0c37fdf925916b19ea1323cd9a2208cdb6959ba2c32eef2a7fc393835c9ca7c", "MatchedFrequency"),
    DatasetSpec(
        name="ilsvrc2012", title="ILSVRC-2012 (ImageNet-1k), from IMAGENET_ROOT", layout="ilsvrc2012",
        urls=(), filename="", size=None, top_dir="", splits=("train", "val"),
        counts={"train": 1_281_167, "val": 50_000},  # FACTS.md §2.1
        licence="ImageNet Terms of Access: non-commercial research and education only",
        notes="Local only. " + ILSVRC_HELP.splitlines()[0],
    ),
]

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def get(name: str) -> DatasetSpec:
    """The spec called ``name``; an unknown name raises :class:`UnknownDatasetError` listing all.

    Under a rehearsal (:mod:`course_lib.rehearsal`: ``COURSE_REHEARSAL=1`` and a test-only
    registry file naming ``name``) the spec's URL, size and SHA-256 are the file's, with a
    warning; otherwise it is the published spec, always."""
    try:
        spec = DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
    rehearsed = rehearsal.entry(name)
    if rehearsed is None:
        return spec
    return dataclasses.replace(spec, urls=(rehearsed["url"],), size=rehearsed["size"],
                               checksums=(Checksum("sha256", rehearsed["sha256"],
                                                   "test-only registry (COURSE_REHEARSAL=1)"),))


def fetch(name: str, root: Path | None = None, **options) -> Path:
    """``get(name).fetch(root, **options)``: download, verify and extract; the dataset folder."""
    return get(name).fetch(root, **options)


__all__ = ["DATASETS", "LAYOUTS", "Checksum", "DatasetNotReadyError", "DatasetSpec",
           "Layout", "UnknownDatasetError", "fetch", "get"]
