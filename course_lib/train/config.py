"""``TrainConfig``: every knob of :func:`course_lib.train.fit`, with the paper's recipe as defaults.

The defaults are Krizhevsky et al. (2012), Sec. 5 (FACTS.md §4.3): SGD with batch 128, momentum
0.9, weight decay 0.0005, learning rate 0.01 divided by 10 whenever the validation error stops
improving (three times in all), random crops with horizontal flips. The modern options (AdamW,
cosine or one-cycle schedules, gradient clipping, ``torch.compile``) are off by default and each
is one field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from ..device import PRECISION_NAMES
from ..errors import CourseValueError

OPTIMIZERS = ("sgd", "adamw")
# AdamW's usual starting point (ImageNet recipes since Loshchilov & Hutter 2019): a tenth of
# SGD's learning rate scale and a hundred times the paper's weight decay
ADAMW_DEFAULTS = {"lr": 1e-3, "weight_decay": 0.05}
SCHEDULES = ("plateau", "cosine", "onecycle", "constant")
AUGMENTS = ("crop_flip", "resized_crop", "none")
RESUME_MISMATCH = ("refuse", "weights")


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`~course_lib.train.fit` trains (all fields plain values, so it round-trips
    through a checkpoint with :meth:`as_dict` / :meth:`from_dict`).

    Recipe: ``epochs``; ``batch_size`` (the **global** batch: under torchrun each of the W ranks
    takes ``batch_size / W``); ``optimizer`` one of :data:`OPTIMIZERS` (``"sgd"``: the paper's,
    with ``momentum``; ``"adamw"``: Loshchilov & Hutter's decoupled weight decay, ``momentum``
    as β₁, and a ``weight_decay`` of about 0.05 rather than SGD's 5e-4); ``lr``, ``momentum``,
    ``weight_decay``; ``schedule`` one of :data:`SCHEDULES` (``"plateau"``: the paper's ÷10
    when the validation error stops improving, see :class:`course_lib.train.schedule.LRSchedule`;
    ``"cosine"``; ``"onecycle"``; ``"constant"``); ``grad_clip`` (max global gradient norm,
    None = off).

    Data on the device: ``crop_size`` (None: 7/8 of the image side, the paper's 224/256);
    ``augment`` one of :data:`AUGMENTS`; ``pca_color`` (σ of the paper's PCA colour
    augmentation, 0 = off, 0.1 = the paper); ``mean``/``std`` (0–1 scale);
    ``data_on_device`` ("auto": arrays are copied whole to a CUDA device when they take under a
    quarter of its free memory).

    Speed: ``device`` (None: :func:`course_lib.device.pick_device`); ``precision`` one of
    :data:`PRECISION_NAMES` ("auto": :func:`course_lib.device.pick_precision`); ``channels_last``;
    ``compile``; ``micro_batch`` (None: the whole per-rank batch at once; a CUDA out-of-memory
    error halves it, keeping the optimiser's batch by gradient accumulation).

    Safety: ``out_dir`` (where ``last.pt`` and ``history.csv`` go; None: no checkpoints);
    ``checkpoint_every_steps`` (also mid-epoch); ``resume`` (None, "auto" or a checkpoint path);
    ``resume_mismatch`` (when the checkpoint's training set or a setting that changes the result
    differs from this config's, so it cannot be continued exactly; which fields must match is
    :data:`course_lib.train.resume.RESUME_RULES`: "refuse" raises ``CheckpointError`` naming the
    field and both values; "weights" starts a fresh schedule at epoch 1 from its weights, and
    says so; a checkpoint that fits is always continued exactly);
    ``overwrite`` (allow a fresh run to replace an existing checkpoint); ``seed``;
    ``deterministic``. A batch whose loss exceeds 10 × ln C stops the run
    (:data:`course_lib.train.sums.EXPLODE_FACTOR`).

    Display: ``progress`` (a tqdm bar per epoch), ``log_every`` (steps between bar updates and
    divergence checks; each costs one device synchronisation); ``val_every_steps`` (also score
    the validation set every that many optimiser steps, for learning curves with more points
    than epochs: ``history.attrs["steps"]``; without validation data the rows still record the
    running training loss and error).
    """

    epochs: int = 90
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "plateau"
    grad_clip: float | None = None
    crop_size: int | None = None
    augment: str = "crop_flip"
    pca_color: float = 0.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    data_on_device: str | bool = "auto"
    device: str | None = None
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    micro_batch: int | None = None
    out_dir: str | None = None
    checkpoint_every_steps: int | None = None
    val_every_steps: int | None = None
    resume: str | None = None
    resume_mismatch: str = "refuse"
    overwrite: bool = False
    seed: int = 0
    deterministic: bool = False
    progress: bool = True
    log_every: int = 10

    def __post_init__(self) -> None:
        def bad(field: str, why: str):
            raise CourseValueError(f"TrainConfig.{field}={getattr(self, field)!r}: {why}")

        for field in ("epochs", "batch_size", "log_every"):
            if not (isinstance(getattr(self, field), int) and getattr(self, field) >= 1):
                bad(field, "must be a positive integer")
        if not self.lr > 0:
            bad("lr", "must be positive")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"use one of {OPTIMIZERS}")
        if not 0 <= self.momentum < 1:
            bad("momentum", "must be in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", "must be >= 0")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"use one of {SCHEDULES}")
        if self.augment not in AUGMENTS:
            bad("augment", f"use one of {AUGMENTS}")
        if self.precision not in PRECISION_NAMES:
            bad("precision", f"use one of {PRECISION_NAMES}")
        if self.resume_mismatch not in RESUME_MISMATCH:
            bad("resume_mismatch", f"use one of {RESUME_MISMATCH}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            bad("grad_clip", "must be positive or None")
        for field in ("micro_batch", "checkpoint_every_steps", "val_every_steps", "crop_size"):
            value = getattr(self, field)
            if value is not None and not (isinstance(value, int) and value >= 1):
                bad(field, "must be a positive integer or None")
        if self.pca_color < 0:
            bad("pca_color", "must be >= 0")
        if self.data_on_device not in ("auto", True, False):
            bad("data_on_device", "use 'auto', True or False")

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (configs are frozen)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """Plain values only (tuples become lists), safe for ``torch.load(weights_only=True)``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Inverse of :meth:`as_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise CourseValueError(f"TrainConfig: unknown field(s) {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
