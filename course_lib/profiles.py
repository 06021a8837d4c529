"""Profiles: one name that picks every size a notebook uses.

=========  =============================  ==========================================  ============
profile    where                          budget                                      data
=========  =============================  ==========================================  ============
smoke      CI, ``make test``              each notebook under 60 s on 2 CPU cores     tiny SynthNet
laptop     Binder, a laptop CPU           each notebook under 10 min, under 1.5 GB    SynthNet 64 px
gpu        Colab T4, any CUDA card        each notebook under 15 min on a T4          Imagenette
full       the learner's own ImageNet     hours, one or many GPUs (torchrun)          ILSVRC-2012
=========  =============================  ==========================================  ============

How one is chosen (:func:`current_profile`; :func:`resolve` takes a name, a profile or None): ``COURSE_PROFILE`` if set, else ``smoke`` when the
``CI`` variable is set, else ``gpu`` when CUDA is available, else ``laptop``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import CourseError


@dataclass(frozen=True)
class Profile:
    """Every size knob the notebooks and the command line use.

    Notebooks read these and never hard-code a size, so one environment variable scales the
    whole course from a 60-second CI run to a full ILSVRC-2012 training run.
    """

    name: str
    description: str
    # data
    dataset: str  # registry name: "synthnet", "imagenette2-160", "ilsvrc2012", ...
    image_size: int  # side of the stored (decode-once) images, pixels
    crop_size: int  # side of the random training crop / centre test crop, pixels
    num_classes: int
    train_per_class: int  # images per class in the training split (SynthNet; a cap elsewhere)
    val_per_class: int
    test_per_class: int
    # model
    model_variant: str  # "scaled", "torchvision" or "paper" (see course_lib.models)
    width: float  # channel-width multiplier of the AlexNet-shaped network
    # conv1's weights from N(0, σ²) (None: the variant's own initialisation). The paper draws
    # every weight from N(0, 0.01²) (Sec. 5); the scaled network keeps He-normal elsewhere, and
    # at conv1's He scale (σ ≈ 0.16) a short run leaves the first layer near its random start
    conv1_init_std: float | None
    # training
    epochs: int
    # the reference model later chapters load (course_lib.reference): trained by notebook 06
    # or on first use, so it must fit a notebook's budget
    reference_epochs: int
    batch_size: int
    lr: float
    # the paper's "÷10 when the validation error plateaus" needs tens of epochs to act; the
    # short runs anneal with one-cycle instead (course_lib.train.schedule)
    schedule: str
    num_workers: int
    # experiments
    seeds: int  # repeats behind every error bar (ablations, significance demos)
    bootstrap_samples: int
    crowd_images: int  # images per synset in the crowd-verification simulation
    # what the profile promises
    minutes_per_notebook: float

    def replace(self, **changes) -> Profile:
        """A copy with some knobs changed (profiles are frozen)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES: Mapping[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="CI and `make test`: proves every cell runs, not that results mean anything",
        dataset="synthnet",
        image_size=32,
        crop_size=28,
        num_classes=8,
        train_per_class=24,
        val_per_class=8,
        test_per_class=8,
        model_variant="scaled",
        width=0.25,
        conv1_init_std=0.01,
        epochs=1,
        reference_epochs=1,
        batch_size=32,
        lr=0.01,
        schedule="onecycle",
        num_workers=0,
        seeds=1,
        bootstrap_samples=200,
        crowd_images=40,
        minutes_per_notebook=1.0,
    ),
    "laptop": Profile(
        name="laptop",
        description="a laptop CPU or Binder: SynthNet at 64 px, results that mean something",
        dataset="synthnet",
        image_size=64,
        crop_size=56,
        num_classes=20,
        # ILSVRC-2012 has 732-1,300 training images per class (FACTS.md §2.1). After 2 epochs
        # with 300 the hand-made baseline beats AlexNet (49.9% vs 57.8% top-1 error); with
        # 1,000 AlexNet wins (26% vs 42%; benchmarks/README.md).
        train_per_class=1000,
        val_per_class=50,
        test_per_class=50,
        model_variant="scaled",
        width=0.5,
        conv1_init_std=0.01,
        epochs=8,
        reference_epochs=2,
        batch_size=64,  # twice the optimiser steps of the paper's 128 in a short CPU run
        lr=0.02,
        schedule="onecycle",
        num_workers=2,
        seeds=3,
        bootstrap_samples=2000,
        crowd_images=400,
        minutes_per_notebook=10.0,
    ),
    "gpu": Profile(
        name="gpu",
        description="one CUDA GPU (a Colab T4 or better): Imagenette, AlexNet at full size",
        dataset="imagenette2-160",
        image_size=160,
        crop_size=128,
        num_classes=10,
        train_per_class=1300,
        val_per_class=400,
        test_per_class=0,
        model_variant="torchvision",
        width=1.0,
        conv1_init_std=None,
        epochs=30,
        reference_epochs=10,
        batch_size=256,
        lr=0.02,
        schedule="onecycle",
        num_workers=2,
        seeds=3,
        bootstrap_samples=5000,
        crowd_images=1000,
        minutes_per_notebook=15.0,
    ),
    "full": Profile(
        name="full",
        description="the learner's own ILSVRC-2012 (IMAGENET_ROOT), one or many GPUs",
        dataset="ilsvrc2012",
        image_size=256,
        crop_size=224,
        num_classes=1000,
        train_per_class=1300,
        val_per_class=50,
        test_per_class=0,
        model_variant="paper",
        width=1.0,
        conv1_init_std=None,
        epochs=90,
        reference_epochs=90,
        batch_size=128,
        lr=0.01,
        schedule="plateau",
        num_workers=8,
        seeds=1,
        bootstrap_samples=10000,
        crowd_images=1000,
        minutes_per_notebook=600.0,
    ),
}


class UnknownProfileError(CourseError, ValueError):
    """Raised for a profile name that is not one of :data:`PROFILES`."""


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name raises an error listing the valid ones."""
    key = name.strip().lower()
    if key not in PROFILES:
        valid = ", ".join(PROFILES)
        raise UnknownProfileError(f"unknown profile {name!r}: valid profiles are {valid}")
    return PROFILES[key]


def _cuda_available() -> bool:
    try:  # profiles sit at the bottom and stay light: torch only when the rules ask for CUDA
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def profile_source(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(profile name, why it was chosen)`` by the rules in this module's docstring."""
    env = os.environ if environ is None else environ
    if env.get("COURSE_PROFILE"):
        return get_profile(env["COURSE_PROFILE"]).name, "COURSE_PROFILE is set"
    if env.get("CI"):
        return "smoke", "the CI variable is set"
    if _cuda_available():
        return "gpu", "a CUDA device is available"
    return "laptop", "no CUDA device and no COURSE_PROFILE"


def current_profile(environ: Mapping[str, str] | None = None) -> Profile:
    """The profile this run uses (see the module docstring for the rules)."""
    return PROFILES[profile_source(environ)[0]]


def resolve(profile: Profile | str | None = None,
            environ: Mapping[str, str] | None = None) -> Profile:
    """The one way to turn what a notebook or a command was given into a :class:`Profile`.

    ``profile``: a :class:`Profile` (returned as it is), a name (``"laptop"``; an unknown name
    raises :class:`UnknownProfileError` listing the valid ones) or None (chosen by the rules of
    :func:`current_profile`). Every notebook's parameters cell ends in
    ``profile = resolve(profile_name)``.
    """
    if profile is None:
        return current_profile(environ)
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, str):
        return get_profile(profile)
    raise TypeError(f"profile must be a Profile, a profile name or None, got {type(profile).__name__}")
