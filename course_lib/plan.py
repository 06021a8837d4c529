"""One plan from a profile to a run: the splits, the crop, the training settings and the network.

A profile (:mod:`course_lib.profiles`) names sizes; a run needs them turned into data, a crop,
a :class:`~course_lib.train.TrainConfig` and a network built for that crop. This module is the
only code that does it, once per plan, so the pieces cannot disagree (a network built for one
crop and trained on another would run silently: the adaptive pool hides it)::

    from course_lib.plan import plan
    from course_lib.train import fit

    run = plan(profile, splits=("train", "val"))          # the profile as it is
    small = plan(profile, image_size=32, epochs=3)        # the learner's changes, applied once
    history = fit(run.model(), run.data.train, run.data.val, run.config)

==========================  ================================================================
what a plan holds            where it comes from
==========================  ================================================================
``run.profile``              the profile with the changes applied (``crop_size`` follows a new
                             ``image_size`` by the paper's 224/256 unless given too)
``run.data``                 the splits asked for (:class:`course_lib.recipe.Splits`), opened
                             once when the plan is made (``splits=()``: none)
``run.crop``                 the crop side, the same in the config and in the network
``run.config``               the training settings: the profile's epochs, batch, learning rate,
                             schedule and crop, the paper's recipe for the rest, ``seed``
``run.model(**options)``     a fresh AlexNet of the profile's variant and width for that crop
                             and the data's classes
``run.train_config(**c)``    the config with some fields changed (never the crop)
``run.replace(**changes)``   another plan with more changes, the same seeds and knobs
==========================  ================================================================

**The plan never swaps datasets.** A dataset that is not prepared raises
:class:`~course_lib.recipe.DatasetUnavailableError` naming the command that prepares it; a run
that wants SynthNet asks for it (``dataset="synthnet"``), and ``plan(..., splits=()).missing()``
says whether a dataset is there before anything is opened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .datasets.augment import default_crop_size
from .datasets.synthnet import Knobs, check_image_size
from .errors import CourseValueError
from .models import alexnet
from .profiles import Profile, resolve
from .recipe import (
    SPLIT_NAMES,
    SYNTHNET,
    Splits,
    check_dataset,
    missing_cache,
    open_splits,
    prepare_on_demand,
)
from .train.config import ADAMW_DEFAULTS, TrainConfig

# profile fields that are names, not settings: a plan does not change them
_FIXED = ("name", "description")
# what a learner may change per run: every other profile field
CHANGEABLE = tuple(f.name for f in dataclasses.fields(Profile) if f.name not in _FIXED)


@dataclass(frozen=True)
class Plan:
    """Everything one run needs, computed once by :func:`plan` (build plans with it, not
    directly). See the module docstring for what each field holds."""

    profile: Profile
    data: Splits | None
    config: TrainConfig
    seed: int
    data_seed: int
    knobs: Knobs | None
    cache_dir: Path | None
    splits: tuple[str, ...]

    @property
    def dataset(self) -> str:
        return self.profile.dataset

    @property
    def image_size(self) -> int:
        return self.profile.image_size

    @property
    def crop(self) -> int:
        return self.profile.crop_size

    @property
    def num_classes(self) -> int:
        """The classes of the opened data, else the profile's ``num_classes``."""
        return self.data.num_classes if self.data is not None else self.profile.num_classes

    @property
    def per_class(self) -> dict[str, int]:
        """Images per class the profile asks for, ``{split: n}`` (SynthNet renders these; a
        real dataset has what it has)."""
        return {s: getattr(self.profile, f"{s}_per_class") for s in SPLIT_NAMES}

    def model(self, num_classes: int | None = None, **alexnet_options):
        """A freshly initialised AlexNet for this plan's crop: ``(N, 3, crop, crop)`` floats
        in, ``(N, num_classes)`` logits out (``num_classes`` default: :attr:`num_classes`).

        The profile's ``model_variant``, width and ``conv1_init_std`` (conv1 drawn at the
        paper's scale, N(0, 0.01²), on the smoke and laptop profiles); ``alexnet_options`` go to
        :func:`course_lib.models.alexnet` (``activation="tanh"``, ``lrn=False``, ``towers=2``,
        ``conv1_std=None`` for the variant's own initialisation, ...). "scaled" is built for
        the crop; "paper" and "torchvision" keep their 224-px design (other crops run through
        the adaptive pool). The variant, width and crop are the plan's:
        change them with :meth:`replace`."""
        fixed = sorted({"variant", "width", "input_size", "num_classes"} & set(alexnet_options))
        if fixed:
            raise CourseValueError(
                f"model({', '.join(fixed)}=...): the plan fixes these; make another plan, e.g. "
                f"run.replace(model_variant=..., width=..., image_size=...)")
        if self.profile.model_variant == "scaled":
            alexnet_options["input_size"] = self.crop
        alexnet_options.setdefault("conv1_std", self.profile.conv1_init_std)
        return alexnet(self.profile.model_variant, num_classes=num_classes or self.num_classes,
                       width=self.profile.width, **alexnet_options)

    def train_config(self, **changes) -> TrainConfig:
        """:attr:`config` with some fields changed (``epochs=2``, ``progress=False``, ...).

        ``optimizer="adamw"`` also takes :data:`~course_lib.train.config.ADAMW_DEFAULTS` for
        ``lr`` and ``weight_decay`` unless they are given. The crop is the plan's, so that the
        network and the data agree: ``crop_size`` is refused (plan another image size)."""
        if "crop_size" in changes:
            raise CourseValueError(
                f"train_config(crop_size={changes['crop_size']!r}): the crop is the plan's "
                f"({self.crop} px), shared with its network; make another plan with "
                "image_size=... (and crop_size=...) instead")
        if changes.get("optimizer") == "adamw":
            changes = {**ADAMW_DEFAULTS, **changes}
        return self.config.replace(**changes)

    def replace(self, **changes) -> Plan:
        """Another plan from this one's profile with more changes (the same keywords as
        :func:`plan`; seeds, knobs, splits and cache folder kept unless given)."""
        keep = {"splits": self.splits, "seed": self.seed, "data_seed": self.data_seed,
                "knobs": self.knobs, "cache_dir": self.cache_dir}
        keep.update({k: changes.pop(k) for k in list(changes) if k in keep})
        if "image_size" in changes and "crop_size" not in changes:
            changes["crop_size"] = None  # follows the new size, as in a first plan
        return plan(self.profile, **keep, **changes)

    def missing(self) -> str | None:
        """None when this plan's dataset can be opened, else what is missing and the command
        that prepares it (:func:`course_lib.recipe.missing_cache`). Opens nothing."""
        if self.cache_dir is not None:
            return None if (self.cache_dir / "train").is_dir() else (
                f"{self.cache_dir} holds no train/ cache")
        return missing_cache(self.dataset, self.image_size)


def _planned_profile(profile: Profile, changes: dict) -> Profile:
    """The profile with ``changes`` applied (None: keep the profile's); ``crop_size`` follows a
    changed ``image_size`` (the paper's ratio,
    :func:`~course_lib.datasets.augment.default_crop_size`) unless given, and ``width`` is 1 for
    a network other than "scaled" unless given."""
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise CourseValueError(
            f"plan({', '.join(unknown)}=...): not a setting a plan changes; it takes "
            f"{', '.join(CHANGEABLE)}, splits, seed, data_seed, knobs and cache_dir")
    changes = {k: v for k, v in changes.items() if v is not None}
    crop = changes.pop("crop_size", None)
    if "image_size" in changes:
        size = changes["image_size"]
        if str(changes.get("dataset", profile.dataset)).strip().lower() == SYNTHNET:
            check_image_size(size)  # names SynthNet's range
        elif isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise CourseValueError(f"image_size={size!r}: a side in pixels, a positive integer")
        changes["image_size"] = int(size)
        if crop is None and changes["image_size"] != profile.image_size:
            crop = default_crop_size(changes["image_size"])
    if changes.get("model_variant", "scaled") != "scaled" and "width" not in changes:
        changes["width"] = 1.0  # a profile's width is its scaled network's
    planned = profile.replace(**changes)
    if crop is not None:
        planned = planned.replace(crop_size=int(crop))
    if planned.crop_size > planned.image_size:
        raise CourseValueError(f"crop_size={planned.crop_size} is larger than image_size="
                               f"{planned.image_size}: a crop must fit in the stored image")
    return planned


def plan(profile: Profile | str | None = None, *, splits: Sequence[str] = SPLIT_NAMES,
         seed: int = 0, data_seed: int = 0, knobs=None, cache_dir: str | Path | None = None,
         **changes) -> Plan:
    """Turn a profile and the learner's changes into a :class:`Plan`.

    ``profile``: a :class:`~course_lib.profiles.Profile`, its name or None
    (:func:`course_lib.profiles.resolve`). ``changes`` (None keeps the profile's): any profile
    field, e.g. ``dataset="synthnet"``, ``image_size=32`` (the crop follows by 224/256 unless
    ``crop_size`` is given too), ``epochs=3``, ``width=0.25``, ``num_classes=10``,
    ``train_per_class=200``, ``model_variant="torchvision"`` (width 1 unless ``width`` is given:
    a profile's width is its scaled network's). ``splits``: which splits to open now (``()``:
    none). ``seed``: the training seed (``config.seed``). SynthNet only:
    ``data_seed`` (another seed draws another set of images) and ``knobs`` (a
    :class:`~course_lib.datasets.synthnet.Knobs` or a mapping). ``cache_dir``: a decode-once
    cache folder of the learner's own (holding ``train/``, ``val/``, ``test/``).

    A dataset that is not prepared raises :class:`~course_lib.recipe.DatasetUnavailableError`
    with the command that prepares it; nothing is swapped for it. The one exception is
    Imagenette-160 (:data:`~course_lib.recipe.ON_DEMAND`, 99 MB): opening its splits fetches,
    verifies and prepares it first, saying so in one line, and stops with the fixing command
    when it cannot (:func:`~course_lib.recipe.prepare_on_demand`). ``splits=()`` downloads
    nothing.
    """
    profile = _planned_profile(resolve(profile), changes)
    name = profile.dataset.strip().lower()
    if cache_dir is None:
        name = check_dataset(name)
    profile = profile.replace(dataset=name)
    if name == SYNTHNET and cache_dir is None:
        check_image_size(profile.image_size)
        knobs = knobs if knobs is None or isinstance(knobs, Knobs) else Knobs().replace(**knobs)
    elif knobs is not None:
        raise CourseValueError(f"knobs are SynthNet's; dataset {name!r} has none (plan it with "
                               "dataset='synthnet')")
    config = TrainConfig(epochs=profile.epochs, batch_size=profile.batch_size, lr=profile.lr,
                         schedule=profile.schedule, crop_size=profile.crop_size, seed=int(seed))
    splits = tuple(splits)
    cache_dir = Path(cache_dir) if cache_dir else None
    data = None
    if splits:
        said = None if cache_dir is not None else prepare_on_demand(name, profile.image_size)
        if said:
            print(said)
        per_class = {s: getattr(profile, f"{s}_per_class") for s in SPLIT_NAMES}
        data = open_splits(name, profile.image_size, splits=splits, num_classes=profile.num_classes,
                           per_class=per_class, seed=data_seed, knobs=knobs, cache_dir=cache_dir)
    return Plan(profile=profile, data=data, config=config, seed=int(seed),
                data_seed=int(data_seed), knobs=knobs, cache_dir=cache_dir, splits=splits)
