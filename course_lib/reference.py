"""A trained AlexNet per profile that later chapters can rely on.

Notebook 06 trains the profile's network; chapters 08–10 score it, look inside it and set it
against the pre-2012 baseline. A learner who skipped 06, or whose Binder session was culled,
still needs that model, so::

    from course_lib.reference import reference_model
    ref = reference_model(profile)       # loads it, or trains it (saying how long) when absent
    ref.model, ref.data, ref.history     # the network (eval mode), its splits, its training

The model is trained by the profile's plan (:func:`course_lib.plan.plan`) with the profile's
``reference_epochs`` and seed 0, and saved to
``$COURSE_DATA/models/reference-<profile>-<recipe hash>.pt``: a different recipe (another
profile, size or number of classes) has another hash, so one never stands in for another. The
file is written atomically and read with ``torch.load(weights_only=True)``; anything that is not
a reference file of this format is refused with the reason: every entry is checked for its type,
the network options for their values, and every weight for its name, shape and dtype before the
network is built. Before training, the folder is checked to be writable with room for the file,
so a read-only or full ``COURSE_DATA`` fails at once, not after minutes of training; a disk that
fills up during the save raises :class:`course_lib.diskspace.DiskFullError`.

Notebook 08's ensemble needs more networks of the same recipe with other seeds:
:func:`ensemble_member` loads one, or trains and saves it beside the reference model
(``member-<profile>-<recipe hash>-seed<seed>-<epochs>ep.pt``, weights only).
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from .device import seed_everything
from .diskspace import explain_disk_full, require_free_space
from .errors import CourseError
from .memory import release_freed_memory
from .models import alexnet
from .paths import data_dir
from .plan import Plan, plan
from .profiles import Profile, resolve
from .recipe import SPLIT_NAMES
from .train import fit
from .train.checkpoint import state_mismatch, tensor_bytes

FORMAT = "course_lib.reference/2"  # /2: the validations within epochs ("steps")
MODELS = "models"
SEED = 0
# validations spread evenly over the reference run besides each epoch's end, so that its curve
# (notebook 06) has at least this many points however few epochs the profile trains
VALIDATIONS = 8
# the profile fields that change what the reference model is
RECIPE_FIELDS = ("dataset", "image_size", "crop_size", "num_classes", "train_per_class",
                 "val_per_class", "test_per_class", "model_variant", "width", "conv1_init_std",
                 "reference_epochs", "batch_size", "lr", "schedule")


class ReferenceModelError(CourseError, RuntimeError):
    """A reference model is missing and may not be trained here, or its file is unusable."""


@dataclass(frozen=True)
class Reference:
    """A loaded reference model.

    ``model``: the AlexNet (eval mode, on the CPU), taking ``(N, 3, crop, crop)`` floats;
    ``data``: its :class:`course_lib.recipe.Splits` (train, val and test); ``history``: one row
    per training epoch (:func:`course_lib.train.fit`'s columns), with the :data:`VALIDATIONS`
    validations spread over the run in ``history.attrs["steps"]`` (fit's step rows);
    ``path``: the file; ``trained_now``: whether this call trained it; ``info``: what the file
    records; ``plan``: the :class:`~course_lib.plan.Plan` it was trained by (its crop, settings
    and network builder, for more runs of the same recipe).
    """

    model: torch.nn.Module
    data: object
    history: pd.DataFrame
    path: Path
    trained_now: bool
    info: dict
    plan: Plan

    @property
    def crop_size(self) -> int:
        return int(self.info["crop_size"])


def recipe_key(profile: Profile | str | None = None) -> str:
    """A short hash of the profile fields that decide what the reference model is."""
    profile = resolve(profile)
    fields = {name: getattr(profile, name) for name in RECIPE_FIELDS}
    blob = json.dumps(fields, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def reference_path(profile: Profile | str | None = None) -> Path:
    """Where the reference model of ``profile`` lives (whether or not it exists)."""
    profile = resolve(profile)
    return data_dir() / MODELS / f"reference-{profile.name}-{recipe_key(profile)}.pt"


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
    problem = _payload_problem(payload)
    if problem:
        raise ReferenceModelError(f"{path}: not a usable reference model: {problem}; delete it to "
                                  "train a new one")
    return payload


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# what a reference file holds (besides "format"): key -> (check, what it should be)
_ENTRIES = {
    "profile": (lambda v: isinstance(v, str), "a profile name"),
    "recipe": (lambda v: isinstance(v, dict), "a dict of the profile's recipe fields"),
    "image_size": (_is_int, "a positive integer"),
    "crop_size": (_is_int, "a positive integer"),
    "class_names": (lambda v: _is_str_list(v) and len(v) >= 1, "a non-empty list of class names"),
    "model": (lambda v: isinstance(v, dict), "a dict of the network's options"),
    "state_dict": (lambda v: isinstance(v, dict), "a dict of weight tensors"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
                "a list of dicts (one per epoch)"),
    "steps": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
              "a list of dicts (one per validation within the epochs)"),
}
# the network options the file records (see _model_options): key -> (check, what it should be)
_OPTIONS = {
    "variant": (lambda v: isinstance(v, str), "an AlexNet variant name"),
    "num_classes": (_is_int, "a positive integer"),
    "width": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
              "a positive number"),
    "input_size": (_is_int, "a positive integer"),
}


def _shown(value) -> str:
    """A value for a message: short, and a tensor by its shape only."""
    if isinstance(value, torch.Tensor):
        return f"a tensor {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _payload_problem(payload: dict) -> str | None:
    """The first entry of a reference file that is missing or of the wrong kind (None: all
    fine). The weights themselves are checked against the network in :func:`_model_from`."""
    for key, (ok, want) in _ENTRIES.items():
        if key not in payload:
            return f"{key!r} is missing"
        if not ok(payload[key]):
            return f"{key!r} should be {want}, found {_shown(payload[key])}"
    options = payload["model"]
    if sorted(map(str, options)) != sorted(_OPTIONS):
        return (f"'model' should hold the options {sorted(_OPTIONS)}, found "
                f"{sorted(map(str, options))}")
    for key, (ok, want) in _OPTIONS.items():
        if not ok(options[key]):
            return f"'model' option {key!r} should be {want}, found {_shown(options[key])}"
    if options["num_classes"] != len(payload["class_names"]):
        return (f"'model' has {options['num_classes']} classes but 'class_names' lists "
                f"{len(payload['class_names'])}")
    return None


def _model_from(payload: dict, path: Path) -> torch.nn.Module:
    """The recorded network with the file's weights (``payload`` checked by :func:`_read`);
    :class:`ReferenceModelError` naming the first weight whose name, shape or dtype differs."""
    options = dict(payload["model"])
    variant = options.pop("variant")
    try:  # first without memory ("meta" tensors): crafted options may ask for a huge network
        with torch.device("meta"):
            shapes = alexnet(variant, **options).state_dict()
    except (ValueError, TypeError, RuntimeError, ArithmeticError) as exc:
        raise ReferenceModelError(f"{path}: its network options {payload['model']} do not make "
                                  f"an AlexNet ({str(exc)[:200]}); delete it to train a new "
                                  "one") from exc
    problem = state_mismatch(shapes, payload["state_dict"], "weights")
    if problem:
        raise ReferenceModelError(f"{path}: the weights do not fit the recorded network: "
                                  f"{problem}; delete it to train a new one")
    model = alexnet(variant, **options)
    model.load_state_dict(payload["state_dict"])
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
    run = plan(profile, splits=() if data else ("train",))
    data = data or run.data
    n = len(data.train)
    batch = min(run.profile.batch_size, n)
    images, labels = data.train.images, data.train.labels
    model = run.model(data.num_classes)
    config = run.train_config(epochs=1, batch_size=batch, progress=False, schedule="constant")
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
    return 1.1 * per_image * n * run.profile.reference_epochs


def _describe(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def check_writable(folder: Path) -> None:
    """Make ``folder`` (and its parents) and check that this process may create files in it;
    :class:`ReferenceModelError` naming the folder and the fix otherwise (a read-only
    ``COURSE_DATA``, or a file where a folder should be)."""
    folder = Path(folder)
    fix = ("point COURSE_DATA at a folder you can write to (or make this one writable), then "
           "run the same command again")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReferenceModelError(f"cannot create {folder} to save the reference model in "
                                  f"({exc.strerror or exc}): {fix}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ReferenceModelError(f"{folder} is not writable, so the reference model could not "
                                  f"be saved there after training: {fix}")


def _write(payload: dict, path: Path, what: str = "the reference model") -> None:
    """Save ``payload`` to ``path`` atomically (a temporary file, flushed, then renamed); a full
    disk raises :class:`~course_lib.diskspace.DiskFullError` naming the folder, ``what`` and the
    size, and no partial file is left."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with explain_disk_full(path.parent, what, tensor_bytes(payload)):
            with open(tmp, "wb") as f:
                torch.save(payload, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def train_reference(profile: Profile | str | None = None, *, path: Path | None = None,
                    progress: bool = True, data=None) -> Reference:
    """Train the reference model of ``profile`` now and save it (replacing none: a file already
    at ``path`` is an error). Before training, the folder must be writable
    (:func:`check_writable`) with room for the weights. Returns the :class:`Reference`."""
    run = plan(profile, splits=() if data else SPLIT_NAMES)
    profile = run.profile
    path = reference_path(profile) if path is None else Path(path)
    if path.exists():
        raise ReferenceModelError(f"{path} already exists: load it with reference_model(), or "
                                  "delete it to train again")
    check_writable(path.parent)
    data = data or run.data
    seed_everything(SEED)
    model = run.model(data.num_classes)
    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    require_free_space(path.parent, weight_bytes + 2**20, "the reference model")
    steps = profile.reference_epochs * math.ceil(len(data.train) / run.config.batch_size)
    config = run.train_config(epochs=profile.reference_epochs, seed=SEED, progress=progress,
                              val_every_steps=max(1, steps // VALIDATIONS))
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
        "history": _records(history),
        "steps": _records(history.attrs["steps"]),
        "device": str(history.attrs.get("device")),
        "precision": str(history.attrs.get("precision")),
        "torch": str(torch.__version__),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(payload, path)
    settings = dataclasses.replace(run, data=None, splits=())  # the splits stay in .data only
    return _reference(payload, model.eval(), data, path, trained_now=True, run=settings)


def _records(frame: pd.DataFrame) -> list[dict]:
    """A history's rows as plain dicts, NaN as None (what ``weights_only`` loading takes)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _reference(payload: dict, model, data, path: Path, trained_now: bool, run: Plan) -> Reference:
    info = {k: v for k, v in payload.items() if k not in ("state_dict", "history", "steps")}
    history = pd.DataFrame(payload["history"])
    history.attrs["steps"] = pd.DataFrame(payload["steps"])
    return Reference(model=model.cpu().eval(), data=data, history=history, path=path,
                     trained_now=trained_now, info=info, plan=run)


def load_reference(profile: Profile | str | None = None, path: Path | None = None,
                   data=None) -> Reference:
    """Load the reference model of ``profile``; :class:`ReferenceModelError` when there is
    none, or when the file does not match the profile's recipe (it names the difference)."""
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
    run = plan(profile, splits=())
    data = data or run.replace(splits=SPLIT_NAMES).data
    difference = _class_difference(list(payload["class_names"]), list(data.class_names))
    if difference:
        raise ReferenceModelError(f"{path}: its classes differ from the dataset's now: "
                                  f"{difference}; delete it to train a new one")
    return _reference(payload, model, data, path, trained_now=False, run=run)


def _class_difference(saved: list[str], now: list[str]) -> str | None:
    """The first difference between the file's class list and the dataset's, e.g. ``"class 3
    is 'tench' in the file, 'goldfish' in the dataset"`` (None: the lists are equal)."""
    for i, (a, b) in enumerate(zip(saved, now)):
        if a != b:
            return f"class {i} is {a!r} in the file, {b!r} in the dataset"
    if len(saved) != len(now):
        first = min(len(saved), len(now))
        longer, which = (saved, "file") if len(saved) > len(now) else (now, "dataset")
        return (f"the file has {len(saved)} classes and the dataset {len(now)} (class {first}, "
                f"{longer[first]!r}, is only in the {which})")
    return None


def reference_model(profile: Profile | str | None = None, *, max_minutes: float | None = None,
                    progress: bool = True) -> Reference:
    """The reference model of ``profile``: loaded when saved, else trained now.

    Before training it prints how long that will take on this machine
    (:func:`estimate_seconds`). ``max_minutes`` (default: the profile's
    ``minutes_per_notebook``) refuses to start a training run estimated to take longer, naming
    the command that trains it outside the notebook (``python -m course_lib train
    --reference``).
    """
    profile = resolve(profile)
    path = reference_path(profile)
    if path.is_file():
        return load_reference(profile, path)
    check_writable(path.parent)  # before minutes of estimating and training, not after
    data = plan(profile).data
    seconds = estimate_seconds(profile, data)
    limit = profile.minutes_per_notebook if max_minutes is None else max_minutes
    if seconds > 60 * limit:
        raise ReferenceModelError(
            f"no reference model for profile {profile.name!r} at {path}, and training one would "
            f"take about {_describe(seconds)} on this machine (more than {limit:g} min): run "
            f"COURSE_PROFILE={profile.name} python -m course_lib train --reference")
    if path.is_file():  # another notebook, run at the same time, saved it meanwhile
        return load_reference(profile, path)
    print(f"No reference model for the {profile.name!r} profile yet: training one now "
          f"({profile.reference_epochs} epoch(s) of {len(data.train):,} images; about "
          f"{_describe(seconds)} on this machine). It is saved to {path} for later chapters.")
    return train_reference(profile, path=path, progress=progress, data=data)


def member_path(profile: Profile | str | None = None, seed: int = 1,
                epochs: int | None = None) -> Path:
    """Where the ensemble member of ``profile`` trained with ``seed`` for ``epochs`` epochs
    (default: the profile's ``reference_epochs``) lives, next to the reference model: its name
    holds the profile, the recipe hash, the seed and the epochs, so no other run stands in."""
    profile = resolve(profile)
    epochs = profile.reference_epochs if epochs is None else epochs
    name = f"member-{profile.name}-{recipe_key(profile)}-seed{seed}-{epochs}ep.pt"
    return data_dir() / MODELS / name


def ensemble_member(ref: Reference, seed: int, *, epochs: int | None = None,
                    progress: bool = True) -> tuple[torch.nn.Module, bool]:
    """Another network of the reference model's recipe, for an ensemble (notebook 08): the same
    plan, data and number of epochs (default: the profile's ``reference_epochs``), with another
    ``seed`` (other initial weights, batch order and crops).

    Loaded from :func:`member_path` when saved there (weights only); else trained now on
    ``ref.data.train`` and saved atomically, so the next run loads it. A saved file that does not
    load into the network (truncated, or another network's) is reported and trained again.
    Returns ``(model, trained_now)``: the network in eval mode on the CPU, taking
    ``(N, 3, crop, crop)`` floats, and whether this call trained it.
    """
    run = ref.plan
    path = member_path(run.profile, seed, epochs)
    num_classes = len(ref.info["class_names"])
    if path.is_file():
        model = run.model(num_classes)
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval(), False
        except Exception as error:  # a truncated or foreign file: say so, train again
            print(f"{path}: not usable ({type(error).__name__}: {str(error)[:120]}); "
                  "training it again")
    check_writable(path.parent)
    seed_everything(seed)
    model = run.model(num_classes)
    config = run.train_config(seed=seed, progress=progress,
                              epochs=run.profile.reference_epochs if epochs is None else epochs)
    fit(model, ref.data.train, None, config)
    release_freed_memory()  # what training freed goes back to the system
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    _write(model.state_dict(), path, "an ensemble member")
    return model, True
