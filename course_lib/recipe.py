"""The course's datasets as splits in memory, and the decode-once caches behind them.

Below :mod:`course_lib.plan` (which turns a profile into a run and calls these with its sizes):
nothing here knows a profile. ::

    from course_lib.recipe import open_splits
    data = open_splits("synthnet", 32, splits=("val",), num_classes=10, per_class=50)
    data = open_splits("imagenette2-160", 160, splits=("train", "val"))   # from its cache

==============================  ============================================================
call                            what it gives
==============================  ============================================================
:func:`open_splits`             a dataset's splits: SynthNet rendered in memory, anything
                                else read from its decode-once cache
:func:`cache_folder`            the one place a dataset's cache folder is named
:func:`prepare_caches`          build the decode-once caches of SynthNet or a registry dataset
:func:`prepare_folder_cache`    the same for a ``<class>/<image>`` folder of the learner's own
:func:`known_datasets`          every name :func:`open_splits` accepts
==============================  ============================================================
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import readers, registry, synthnet
from .datasets.cache import build_cache, open_cache
from .datasets.readers import read_class_folders
from .download import DownloadError
from .errors import CourseError, CourseValueError, one_line
from .paths import CACHES, data_dir

SPLIT_NAMES = ("train", "val", "test")
SYNTHNET = "synthnet"


class DatasetUnavailableError(CourseError, FileNotFoundError):
    """A dataset :func:`open_splits` knows but cannot open yet (not prepared, not fetched)."""


@dataclass(frozen=True)
class Split:
    """One split as :func:`course_lib.train.fit` and :func:`course_lib.evaluate.predict` take it.

    ``images: (N, 3, S, S) uint8`` (a numpy array or a read-only memmap), ``labels: (N,) int64``
    in ``0..C-1``. Unpacks as ``images, labels = split``.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):
        return iter((self.images, self.labels))

    def __getitem__(self, index: int):
        return (self.images, self.labels)[index]


@dataclass(frozen=True)
class Splits:
    """What :func:`open_splits` returns.

    ``train``, ``val``, ``test``: a :class:`Split` each, or None where the dataset (or the call)
    has none. ``class_names``: C names in label order. ``hierarchy``: the classes' tree where
    the dataset has one (SynthNet: root → families → classes), else None. ``source``: where the
    images came from, for the record.
    """

    dataset: str
    image_size: int
    class_names: list[str]
    train: Split | None
    val: Split | None
    test: Split | None
    source: str
    hierarchy: object | None = None
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __getitem__(self, split: str) -> Split | None:
        if split not in SPLIT_NAMES:
            raise KeyError(f"split {split!r}: expected one of {SPLIT_NAMES}")
        return getattr(self, split)


def known_datasets() -> list[str]:
    """Every dataset name :func:`open_splits` accepts: ``synthnet`` and the registry's."""
    return [SYNTHNET, *sorted(registry.DATASETS)]


def check_dataset(name: str) -> str:
    """``name`` lower-cased if :func:`open_splits` knows it, else an error listing the names."""
    key = name.strip().lower()
    known = known_datasets()
    if key not in known:
        raise CourseValueError(f"unknown dataset {name!r}: the course knows {', '.join(known)}")
    return key


def cache_folder(name: str, size: int) -> Path:
    """Where the decode-once caches of dataset ``name`` at ``size`` px live:
    ``$COURSE_DATA/caches/<name>-<size>`` (one sub-folder per split). The one place the rule
    lives."""
    return data_dir() / CACHES / f"{name.strip().lower()}-{int(size)}"


def _check_splits(splits: Iterable[str]) -> tuple[str, ...]:
    splits = tuple(splits)
    bad = [s for s in splits if s not in SPLIT_NAMES]
    if bad or not splits:
        raise CourseValueError(f"splits={splits!r}: choose from {SPLIT_NAMES}")
    return splits


def open_splits(dataset: str, image_size: int, *, splits: Sequence[str] = SPLIT_NAMES,
                num_classes: int | None = None, per_class: int | dict | None = None,
                seed: int = 0, knobs=None, cache_dir: str | Path | None = None) -> Splits:
    """The splits of ``dataset`` at ``image_size`` px (a run reaches this through
    :func:`course_lib.plan.plan`, which passes its sizes).

    ``"synthnet"`` is rendered in memory: ``num_classes`` classes with ``per_class`` images
    each (an int, or ``{split: n}``; a split with 0 takes the validation count, as SynthNet
    always has a test split), from ``seed`` with ``knobs`` (a
    :class:`~course_lib.datasets.synthnet.Knobs` or a mapping). Any other dataset is read from
    its decode-once cache: ``cache_dir`` (holding ``train/``, ``val/``, ``test/``; any name then
    labels the learner's own) or :func:`cache_folder`; labels are renumbered ``0..C-1`` over
    the classes present, and a split the cache lacks is None. A cache that is not there raises
    :class:`DatasetUnavailableError` with the command that builds it.
    """
    name = dataset.strip().lower()
    if cache_dir is None:
        name = check_dataset(name)
    size = int(image_size)
    splits = _check_splits(splits)
    if name == SYNTHNET and cache_dir is None:
        if num_classes is None or per_class is None:
            raise CourseValueError("SynthNet is rendered on demand: open_splits needs "
                                   "num_classes and per_class (course_lib.plan passes them)")
        return _synthnet_splits(size, splits, num_classes, per_class, seed, knobs)
    if knobs is not None:
        raise CourseValueError(f"knobs are SynthNet's; dataset {name!r} has none")
    folder = Path(cache_dir) if cache_dir else cache_folder(name, size)
    return _cached_splits(name, size, folder, splits)


def _synthnet_splits(size: int, splits, num_classes: int, per_class, seed: int,
                     knobs) -> Splits:
    synthnet.check_image_size(size)
    opened, first = {}, None
    for split in splits:
        n = per_class[split] if isinstance(per_class, dict) else per_class
        if n < 1:  # a real dataset's profile may have no test split; SynthNet always has
            n = per_class["val"] if isinstance(per_class, dict) else n
        part = synthnet.make_synthnet(split, num_classes=num_classes, per_class=n,
                                      image_size=size, seed=seed, knobs=knobs)
        opened[split] = Split(part.images, part.labels)
        first = first or part
    return Splits(dataset=SYNTHNET, image_size=size, class_names=list(first.class_names),
                  hierarchy=first.hierarchy, source=f"SynthNet rendered in memory (seed {seed})",
                  extra={"wnids": list(first.wnids), "knobs": first.knobs.as_dict()},
                  **{s: opened.get(s) for s in SPLIT_NAMES})


def _missing(name: str, size: int, folder: Path, splits) -> str:
    return (f"{name} at {size} px has no decode-once cache in {folder} (looked for "
            f"{', '.join(splits)}); build it with: python -m course_lib prepare {name} "
            f"--size {size}")


def missing_cache(name: str, size: int, splits: Sequence[str] = ("train",)) -> str | None:
    """None when dataset ``name`` at ``size`` px can be opened (SynthNet always can; any other
    needs the decode-once caches of ``splits`` in :func:`cache_folder`), else what is missing
    and the command that builds it. Opens nothing."""
    name = check_dataset(name)
    folder = cache_folder(name, size)
    if name == SYNTHNET or all((folder / s).is_dir() for s in splits):
        return None
    return _missing(name, size, folder, splits)


# Datasets small enough to fetch and prepare on their own the first time a plan needs them:
# Imagenette-160 (99 MB), the gpu profile's photographs and the laptop's in one parameter.
# Everything else (pretrained weights, ImageNetV2, ILSVRC-2012) stays a command run on purpose.
ON_DEMAND = frozenset({"imagenette2-160"})


def prepare_on_demand(name: str, size: int, *, progress: bool = True) -> str | None:
    """Fetch, verify, extract and prepare dataset ``name`` at ``size`` px when it is in
    :data:`ON_DEMAND` and has no cache yet (:func:`prepare_caches`: checksum-verified, resumable,
    with a progress bar). Returns the one line saying what was done and how long it took, or
    None when there was nothing to do (a cache already there, or a dataset not fetched on
    demand). A failed download (no network, a blocked host, a checksum mismatch) raises
    :class:`DatasetUnavailableError` with the reason and the command that fixes it."""
    missing = missing_cache(name, size)
    if missing is None or check_dataset(name) not in ON_DEMAND:
        return None
    start = time.perf_counter()
    try:
        prepare_caches(name, size, progress=progress)
    except DownloadError as error:
        raise DatasetUnavailableError(f"{name} was not here and could not be fetched "
                                      f"({one_line(error)}). {missing}") from None
    megabytes = registry.get(name).size / 1e6
    return (f"data: {name} was not here, so it was fetched ({megabytes:.0f} MB, checksum "
            f"verified) and its {size}-px decode-once cache built, in "
            f"{time.perf_counter() - start:.0f} s")


def _cached_splits(name: str, size: int, folder: Path, splits) -> Splits:
    present = [s for s in splits if (folder / s).is_dir()]
    if "train" in splits and "train" not in present or not present:
        raise DatasetUnavailableError(_missing(name, size, folder, splits))
    caches = {s: open_cache(folder / s) for s in present}
    labels = sorted(set().union(*(c.class_labels for c in caches.values())))
    remap = np.full(max(labels) + 1, -1, dtype=np.int64)
    remap[labels] = np.arange(len(labels))
    names: dict[int, str] = {}
    for cache in caches.values():
        names.update(zip(cache.class_labels, cache.classes))
    opened = {s: Split(c.images, remap[c.labels]) for s, c in caches.items()}
    return Splits(dataset=name, image_size=size, class_names=[names[k] for k in labels],
                  source=f"decode-once cache {folder}",
                  extra={"original_labels": labels},
                  **{s: opened.get(s) for s in SPLIT_NAMES})


def prepare_caches(name: str, size: int, *, splits: Sequence[str] | None = None,
                   out: str | Path | None = None, root: str | Path | None = None,
                   seed: int = 0, knobs=None, num_classes: int | None = None,
                   per_class: int | dict | None = None, workers: int | None = None,
                   force: bool = False, progress: bool = False,
                   allow_empty_classes: bool = False) -> dict:
    """Build (or open, when up to date) the decode-once caches of ``name`` at ``size`` px.

    ``name``: ``"synthnet"`` (``num_classes`` classes of ``per_class`` images, an int or
    ``{split: n}``, from ``seed`` and ``knobs``; the ``prepare`` command takes them from the
    plan of a profile) or a registry dataset (fetched and verified first unless ``root`` says
    where it already is). ``out``: default :func:`cache_folder`. Returns ``{split: Cache}``.
    """
    name = check_dataset(name)
    out = Path(out) if out else cache_folder(name, size)
    if name == SYNTHNET:
        if num_classes is None or per_class is None:
            raise CourseValueError("prepare_caches('synthnet', ...) needs num_classes and "
                                   "per_class (the prepare command takes them from the profile)")
        caches = {}
        for split in splits or SPLIT_NAMES:
            data = _synthnet_splits(size, (split,), num_classes, per_class, seed, knobs)
            caches[split] = build_cache(
                data[split], out / split, size, classes=data.extra["wnids"],
                source=f"synthnet {split} seed={seed} knobs={data.extra['knobs']}", force=force,
                progress=progress)
        return caches
    return _registry_caches(name, size, out, splits, root, workers, force, progress,
                            allow_empty_classes)


def prepare_folder_cache(root: str | Path, size: int, *, out: str | Path, workers=None,
                         force: bool = False, progress: bool = False,
                         allow_empty_classes: bool = False):
    """Build (or open) the decode-once cache of a ``root/<class>/<image>`` folder in ``out``."""
    root = Path(root)
    samples, classes = read_class_folders(root, allow_empty_classes=allow_empty_classes)
    return build_cache(samples, Path(out), size, classes=classes,
                       source=f"imagefolder {root.resolve()}", workers=workers, force=force,
                       progress=progress, allow_empty_classes=allow_empty_classes)


def _registry_caches(name, size, out, splits, root, workers, force, progress,
                     allow_empty_classes) -> dict:
    spec = registry.get(name)
    root = Path(root) if root else spec.fetch(progress=progress)
    caches = {}
    for split in splits or list(spec.splits):
        if spec.layout == "cifar10":  # stored as arrays, labels 0..9
            samples = readers.load_cifar10(spec.locate(root), split)
            classes = spec.classes
        else:  # labels in the 0-999 ImageNet index
            samples = spec.samples(root, split)
            classes = {index: spec.classes[k] for index, k in spec.label_map().items()}
        caches[split] = build_cache(
            samples, out / split, size, classes=classes, source=f"{name} {split} from {root}",
            workers=workers, force=force, progress=progress,
            allow_empty_classes=allow_empty_classes)
    return caches
