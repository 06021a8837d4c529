"""One recipe from a profile to a trained model: data, network and training settings.

The notebooks and the ``train``/``prepare`` commands all go through these calls, so nobody
rebuilds the step from a profile to a run by hand::

    from course_lib.recipe import build_model, open_splits
    from course_lib.train import TrainConfig, fit

    data = open_splits(profile)                          # train / val / test, uint8 in memory
    model = build_model(profile, num_classes=data.num_classes)
    history = fit(model, data.train, data.val, TrainConfig.from_profile(profile))

==============================  ============================================================
call                            what it gives
==============================  ============================================================
:func:`open_splits`             the profile's (or a named dataset's) splits: SynthNet rendered
                                in memory, anything else read from its decode-once cache
:func:`build_model`             the profile's AlexNet (variant, width, crop) for C classes
:func:`crop_size`               the crop side a run uses at a given stored size
:func:`prepare_caches`          build the decode-once caches of SynthNet or a registry dataset
:func:`prepare_folder_cache`    the same for a ``<class>/<image>`` folder of the learner's own
:func:`known_datasets`          every name :func:`open_splits` accepts
==============================  ============================================================

``TrainConfig.from_profile(profile, **overrides)`` (in :mod:`course_lib.train.config`) gives the
profile's training settings; :mod:`course_lib.reference` keeps a trained model per profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import synthnet
from .datasets.augment import default_crop_size
from .errors import CourseError, CourseValueError
from .paths import CACHES, data_dir
from .profiles import Profile, resolve

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
    from .datasets import registry

    return [SYNTHNET, *sorted(registry.DATASETS)]


def _check_dataset(name: str) -> str:
    key = name.strip().lower()
    known = known_datasets()
    if key not in known:
        raise CourseValueError(f"unknown dataset {name!r}: the course knows {', '.join(known)}")
    return key


def _check_splits(splits: Iterable[str]) -> tuple[str, ...]:
    splits = tuple(splits)
    bad = [s for s in splits if s not in SPLIT_NAMES]
    if bad or not splits:
        raise CourseValueError(f"splits={splits!r}: choose from {SPLIT_NAMES}")
    return splits


def open_splits(profile: Profile | str | None = None, dataset: str | None = None, *,
                image_size: int | None = None, splits: Sequence[str] = SPLIT_NAMES,
                seed: int = 0, cache_dir: str | Path | None = None, knobs=None,
                **profile_changes) -> Splits:
    """The splits a profile trains and scores on.

    ``profile``: a profile, its name, or None (:func:`course_lib.profiles.resolve`).
    ``dataset``: None for the profile's, ``"synthnet"`` or a registry name.
    ``image_size``: stored side in px (default: the profile's). ``splits``: which to open.
    ``profile_changes``: profile fields to change for this call (``train_per_class=200``,
    ``num_classes=10``, ...). SynthNet only: ``seed`` and ``knobs`` (a
    :class:`~course_lib.datasets.synthnet.Knobs` or a mapping).

    SynthNet is rendered in memory (``*_per_class`` images per class of ``num_classes``).
    Any other dataset is read from its decode-once cache: ``cache_dir`` (holding ``train/``,
    ``val/``, ``test/``) or ``$COURSE_DATA/caches/<dataset>-<image_size>``; labels are
    renumbered ``0..C-1`` over the classes present. A cache that is not there raises
    :class:`DatasetUnavailableError` with the command that builds it.
    """
    profile = resolve(profile)
    if profile_changes:
        profile = profile.replace(**profile_changes)
    name = (dataset or profile.dataset).strip().lower()
    if cache_dir is None:  # a named dataset; with cache_dir, any name labels the learner's own
        name = _check_dataset(name)
    size = profile.image_size if image_size is None else int(image_size)
    splits = _check_splits(splits)
    if name == SYNTHNET and cache_dir is None:
        return _synthnet_splits(profile, size, splits, seed, knobs)
    if knobs is not None:
        raise CourseValueError(f"knobs are SynthNet's; dataset {name!r} has none")
    folder = Path(cache_dir) if cache_dir else data_dir() / CACHES / f"{name}-{size}"
    return _cached_splits(name, size, folder, splits)


def _synthnet_splits(profile: Profile, size: int, splits, seed: int, knobs) -> Splits:
    synthnet.check_image_size(size)
    opened, first = {}, None
    for split in splits:
        part = synthnet.from_profile(profile, split, image_size=size, seed=seed, knobs=knobs)
        opened[split] = Split(part.images, part.labels)
        first = first or part
    return Splits(dataset=SYNTHNET, image_size=size, class_names=list(first.class_names),
                  hierarchy=first.hierarchy, source=f"SynthNet rendered in memory (seed {seed})",
                  extra={"wnids": list(first.wnids), "knobs": first.knobs.as_dict()},
                  **{s: opened.get(s) for s in SPLIT_NAMES})


def _cached_splits(name: str, size: int, folder: Path, splits) -> Splits:
    from .datasets.cache import open_cache

    present = [s for s in splits if (folder / s).is_dir()]
    if "train" in splits and "train" not in present or not present:
        raise DatasetUnavailableError(
            f"{name} at {size} px has no decode-once cache in {folder} (looked for "
            f"{', '.join(splits)}); build it with: python -m course_lib prepare {name} "
            f"--size {size}")
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


def crop_size(profile: Profile | str | None = None, image_size: int | None = None) -> int:
    """The crop side a run uses: the profile's ``crop_size`` at the profile's image size, else
    the paper's ratio (:func:`course_lib.datasets.augment.default_crop_size`)."""
    profile = resolve(profile)
    if image_size is None or int(image_size) == profile.image_size:
        return profile.crop_size
    return default_crop_size(image_size)


def build_model(profile: Profile | str | None = None, num_classes: int | None = None, *,
                variant: str | None = None, width: float | None = None,
                image_size: int | None = None, crop: int | None = None, **alexnet_options):
    """The profile's AlexNet for ``num_classes`` classes (default: the profile's).

    ``variant`` (default: the profile's ``model_variant``), ``width`` (default: the profile's
    for "scaled", else 1.0). A "scaled" network is built for the crop side ``crop`` (default:
    :func:`crop_size` of the profile at ``image_size``); "paper" and "torchvision" keep their
    224-px design (other sizes run through the adaptive pool). ``alexnet_options`` go to
    :func:`course_lib.models.alexnet` (``activation="tanh"``, ``lrn=False``, ``dropout=0``, ...).
    Returns an :class:`~course_lib.models.alexnet.AlexNet` giving ``(N, num_classes)`` logits.
    """
    from .models import alexnet

    profile = resolve(profile)
    variant = variant or profile.model_variant
    if width is None:
        width = profile.width if variant == "scaled" else 1.0
    if variant == "scaled":
        alexnet_options["input_size"] = crop or crop_size(profile, image_size)
    return alexnet(variant, num_classes=num_classes or profile.num_classes, width=width,
                   **alexnet_options)


def prepare_caches(name: str, size: int, *, splits: Sequence[str] | None = None,
                   out: str | Path | None = None, root: str | Path | None = None,
                   profile: Profile | str | None = None, seed: int = 0, knobs=None,
                   num_classes: int | None = None, per_class: int | None = None,
                   workers: int | None = None, force: bool = False, progress: bool = False,
                   allow_empty_classes: bool = False) -> dict:
    """Build (or open, when up to date) the decode-once caches of ``name`` at ``size`` px.

    ``name``: ``"synthnet"`` (rendered from the profile; ``seed``, ``knobs``, ``num_classes``
    and ``per_class`` change it) or a registry dataset (fetched and verified first unless
    ``root`` says where it already is). ``out``: default ``$COURSE_DATA/caches/<name>-<size>``.
    Returns ``{split: Cache}``.
    """
    from .datasets.cache import build_cache

    name = _check_dataset(name)
    out = Path(out) if out else data_dir() / CACHES / f"{name}-{size}"
    if name == SYNTHNET:
        knobs = knobs if isinstance(knobs, synthnet.Knobs) else synthnet.Knobs().replace(
            **(knobs or {}))
        caches = {}
        for split in splits or SPLIT_NAMES:
            changes = {"image_size": size, "seed": seed, "knobs": knobs}
            if num_classes is not None:
                changes["num_classes"] = num_classes
            if per_class is not None:
                changes["per_class"] = per_class
            data = synthnet.from_profile(resolve(profile), split, **changes)
            caches[split] = build_cache(
                data, out / split, size, source=f"synthnet {split} seed={seed} "
                f"knobs={knobs.as_dict()}", force=force, progress=progress)
        return caches
    return _registry_caches(name, size, out, splits, root, workers, force, progress,
                            allow_empty_classes)


def prepare_folder_cache(root: str | Path, size: int, *, out: str | Path, workers=None,
                         force: bool = False, progress: bool = False,
                         allow_empty_classes: bool = False):
    """Build (or open) the decode-once cache of a ``root/<class>/<image>`` folder in ``out``."""
    from .datasets.cache import build_cache
    from .datasets.readers import read_class_folders

    root = Path(root)
    samples, classes = read_class_folders(root, allow_empty_classes=allow_empty_classes)
    return build_cache(samples, Path(out), size, classes=classes,
                       source=f"imagefolder {root.resolve()}", workers=workers, force=force,
                       progress=progress, allow_empty_classes=allow_empty_classes)


def _registry_caches(name, size, out, splits, root, workers, force, progress,
                     allow_empty_classes) -> dict:
    from .datasets import readers, registry
    from .datasets.cache import build_cache

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
