"""A trained AlexNet per profile that later chapters can rely on.

Notebook 05 trains the profile's network; chapters 07–09 score it, look inside it and set it
against the pre-2012 baseline. A learner who skipped 05, or whose Binder session was culled,
still needs that model, so::

    from course_lib.reference import reference_model
    ref = reference_model(profile)       # loads it, or trains it (saying how long) when absent
    ref.model, ref.data, ref.history     # the network (eval mode), its splits, its training

The model is trained by the one recipe (:mod:`course_lib.recipe`) with the profile's
``reference_epochs`` and seed 0, and saved to
``$COURSE_DATA/models/reference-<profile>-<recipe hash>.pt``: a different recipe (another
profile, size or number of classes) has another hash, so one never stands in for another. The
file is written atomically and read with ``torch.load(weights_only=True)``; anything that is not
a reference file of this format is refused with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from .paths import data_dir
from .profiles import Profile, resolve

FORMAT = "course_lib.reference/1"
MODELS = "models"
SEED = 0
# the profile fields that change what the reference model is
RECIPE_FIELDS = ("dataset", "image_size", "crop_size", "num_classes", "train_per_class",
                 "val_per_class", "test_per_class", "model_variant", "width", "reference_epochs",
                 "batch_size", "lr", "schedule")


class ReferenceModelError(RuntimeError):
    """A reference model is missing and may not be trained here, or its file is unusable."""


@dataclass(frozen=True)
class Reference:
    """A loaded reference model.

    ``model``: the AlexNet (eval mode, on the CPU), taking ``(N, 3, crop, crop)`` floats;
    ``data``: its :class:`course_lib.recipe.Splits` (train, val and test); ``history``: one row
    per training epoch (:func:`course_lib.train.fit`'s columns); ``path``: the file;
    ``trained_now``: whether this call trained it; ``info``: what the file records.
    """

    model: torch.nn.Module
    data: object
    history: pd.DataFrame
    path: Path
    trained_now: bool
    info: dict

    @property
    def crop_size(self) -> int:
        return int(self.info["crop_size"])


def recipe_key(profile: Profile | str | None = None) -> str:
    """A short hash of the profile fields that decide what the reference model is."""
    profile = resolve(profile)
    fields = {name: getattr(profile, name) for name in RECIPE_FIELDS}
    blob = json.dumps(fields, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def reference_path(profile: Profile | str | None = None, root: Path | None = None) -> Path:
    """Where the reference model of ``profile`` lives (whether or not it exists)."""
    profile = resolve(profile)
    root = data_dir() / MODELS if root is None else Path(root)
    return root / f"reference-{profile.name}-{recipe_key(profile)}.pt"


def _read(path: Path) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say what and where
        raise ReferenceModelError(
            f"{path}: not a readable reference model ({type(exc).__name__}: {str(exc)[:200]}); "
            "delete it to train a new one") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ReferenceModelError(f"{path}: not a course reference model (format {found!r}, "
                                  f"expected {FORMAT!r}); delete it to train a new one")
    return payload


def _model_from(payload: dict, path: Path) -> torch.nn.Module:
    from .models import alexnet

    options = dict(payload["model"])
    variant = options.pop("variant")
    model = alexnet(variant, **options)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ReferenceModelError(f"{path}: the weights do not fit the recorded network "
                                  f"({str(exc)[:300]})") from exc
    return model.eval()


def _model_options(model, crop: int) -> dict:
    config = model.config
    return {"variant": config.variant, "num_classes": config.num_classes, "width": config.width,
            "input_size": crop}


def estimate_seconds(profile: Profile | str | None = None, data=None, steps: int = 3) -> float:
    """How long training the reference model of ``profile`` will take on this machine.

    Times a run of one training step and a run of ``1 + steps`` steps at the profile's batch
    size (after a warm-up run), so that what every call of ``fit`` costs once (set-up, handing
    freed memory back) cancels in the difference, and scales the per-image time to
    ``reference_epochs`` epochs of the training split, plus 10 % for validation.
    """
    from .recipe import build_model, open_splits
    from .train import TrainConfig, fit

    profile = resolve(profile)
    data = data or open_splits(profile, splits=("train",))
    n = len(data.train)
    batch = min(profile.batch_size, n)
    images, labels = data.train.images, data.train.labels
    model = build_model(profile, data.num_classes, image_size=data.image_size)
    config = TrainConfig.from_profile(profile, image_size=data.image_size, epochs=1,
                                      batch_size=batch, progress=False, schedule="constant")
    def timed(count: int) -> float:
        start = time.perf_counter()
        fit(model, (images[:count], labels[:count]), None, config)
        return time.perf_counter() - start

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        timed(batch)  # warm-up: first-call costs
        longer = min(batch * (steps + 1), n)
        long_run = timed(longer)
        extra = long_run - timed(batch)
        # on a busy machine the difference can drown in noise: then the whole run's per-image
        # time, set-up included, is the (pessimistic) estimate
        per_image = extra / (longer - batch) if longer > batch and extra > 0 else long_run / longer
    return 1.1 * per_image * n * profile.reference_epochs


def _describe(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def train_reference(profile: Profile | str | None = None, *, path: Path | None = None,
                    progress: bool = True, data=None) -> Reference:
    """Train the reference model of ``profile`` now and save it (replacing none: a file already
    at ``path`` is an error). Returns the :class:`Reference`."""
    from .device import seed_everything
    from .recipe import build_model, open_splits
    from .train import TrainConfig, fit

    profile = resolve(profile)
    path = reference_path(profile) if path is None else Path(path)
    if path.exists():
        raise ReferenceModelError(f"{path} already exists: load it with reference_model(), or "
                                  "delete it to train again")
    data = data or open_splits(profile)
    seed_everything(SEED)
    model = build_model(profile, data.num_classes, image_size=data.image_size)
    config = TrainConfig.from_profile(profile, image_size=data.image_size,
                                      epochs=profile.reference_epochs, seed=SEED,
                                      progress=progress)
    history = fit(model, data.train, data.val, config)
    model = model.cpu().to(memory_format=torch.contiguous_format)  # as a loaded one will be
    payload = {
        "format": FORMAT,
        "profile": profile.name,
        "recipe": {name: getattr(profile, name) for name in RECIPE_FIELDS},
        "recipe_key": recipe_key(profile),
        "dataset": data.dataset,
        "image_size": data.image_size,
        "crop_size": int(config.crop_size),
        "class_names": list(data.class_names),
        "model": _model_options(model, int(config.crop_size)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                     for k, v in row.items()} for row in history.to_dict("records")],
        "device": str(history.attrs.get("device")),
        "precision": str(history.attrs.get("precision")),
        "torch": str(torch.__version__),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _reference(payload, model.eval(), data, path, trained_now=True)


def _reference(payload: dict, model, data, path: Path, trained_now: bool) -> Reference:
    info = {k: v for k, v in payload.items() if k not in ("state_dict", "history")}
    return Reference(model=model.cpu().eval(), data=data,
                     history=pd.DataFrame(payload["history"]), path=path,
                     trained_now=trained_now, info=info)


def load_reference(profile: Profile | str | None = None, path: Path | None = None,
                   data=None, with_data: bool = True) -> Reference:
    """Load the reference model of ``profile``; :class:`ReferenceModelError` when there is
    none, or when the file does not match the profile's recipe (it names the difference).
    ``with_data=False`` skips opening the splits (``Reference.data`` is then None): for a
    notebook that needs only the weights, a few hundred MB less on the laptop profile."""
    from .recipe import open_splits

    profile = resolve(profile)
    path = reference_path(profile) if path is None else Path(path)
    if not path.is_file():
        raise ReferenceModelError(f"no reference model for profile {profile.name!r} at {path}")
    payload = _read(path)
    want = {name: getattr(profile, name) for name in RECIPE_FIELDS}
    got = payload.get("recipe", {})
    differ = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    if differ:
        detail = ", ".join(f"{k} {a!r} in the file vs {b!r} in the profile"
                           for k, (a, b) in differ.items())
        raise ReferenceModelError(f"{path} was trained with another recipe: {detail}")
    model = _model_from(payload, path)
    if not with_data:
        return _reference(payload, model, None, path, trained_now=False)
    data = data or open_splits(profile, image_size=payload["image_size"])
    if list(data.class_names) != list(payload["class_names"]):
        raise ReferenceModelError(f"{path}: its classes differ from the dataset's now "
                                  f"({len(payload['class_names'])} vs {data.num_classes})")
    return _reference(payload, model, data, path, trained_now=False)


def reference_model(profile: Profile | str | None = None, *, train: bool = True,
                    max_minutes: float | None = None, progress: bool = True,
                    with_data: bool = True) -> Reference:
    """The reference model of ``profile``: loaded when saved, else trained now.

    Before training it prints how long that will take on this machine
    (:func:`estimate_seconds`). ``train=False`` raises :class:`ReferenceModelError` instead of
    training; ``max_minutes`` (default: the profile's ``minutes_per_notebook``) refuses to start
    a training run estimated to take longer, naming the command that trains it outside the
    notebook (``python -m course_lib train --reference``). ``with_data=False``: a saved model is
    loaded without opening its splits (see :func:`load_reference`).
    """
    from .recipe import open_splits

    profile = resolve(profile)
    path = reference_path(profile)
    if path.is_file():
        return load_reference(profile, path, with_data=with_data)
    if not train:
        raise ReferenceModelError(f"no reference model for profile {profile.name!r} at {path}; "
                                  "train it with: python -m course_lib train --reference")
    data = open_splits(profile)
    seconds = estimate_seconds(profile, data)
    limit = profile.minutes_per_notebook if max_minutes is None else max_minutes
    if seconds > 60 * limit:
        raise ReferenceModelError(
            f"no reference model for profile {profile.name!r} at {path}, and training one would "
            f"take about {_describe(seconds)} on this machine (more than {limit:g} min): run "
            f"COURSE_PROFILE={profile.name} python -m course_lib train --reference")
    print(f"No reference model for the {profile.name!r} profile yet: training one now "
          f"({profile.reference_epochs} epoch(s) of {len(data.train):,} images; about "
          f"{_describe(seconds)} on this machine). It is saved to {path} for later chapters.")
    return train_reference(profile, path=path, progress=progress, data=data)
