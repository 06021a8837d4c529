"""The one resume rule, field by field: continue exactly, or refuse naming both values.

A checkpoint records the run that wrote it: its :class:`~course_lib.train.TrainConfig` (as
asked), the values that config resolved to on its machine (``resolved``: the crop side and the
precision actually used) and what its position is counted in (``data``: training images,
batches per epoch and a fingerprint of the training set). :func:`resume_mismatches` compares
that record with the resuming run's and lists every difference that would make the continued
run differ from the uninterrupted one. :data:`RESUME_RULES` says, for **every** config field,
whether it must match and why; a new field must be added there (a test checks that every
field is).

Rules:

* ``"same"``: changes the weights, so it must equal the checkpoint's;
* ``"free"``: changes where, how fast or what is shown, not what is computed (another device or
  memory layout may round differently, as any rerun there would), so it may differ;
* ``"under cosine/onecycle"``: must equal only when the (equal) schedule is one of those, the
  only ones it acts in;
* ``"as used"``: compared as resolved on each machine (``crop_size=None`` is 7/8 of the image
  side; ``precision="auto"`` is what it picked), so a value that resolves the same is accepted.

Everything here is a plain function of dicts: no model, no file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .checkpoint import LAST, CheckpointError

SAME, FREE, AS_USED = "same", "free", "as used"
ANNEALED = "under cosine/onecycle"

# field -> (rule, why): the whole policy in one place
RESUME_RULES: dict[str, tuple[str, str]] = {
    "epochs": (ANNEALED, "the length of a cosine or one-cycle schedule (the rate at every step "
                         "depends on it); under the others more or fewer epochs just continue"),
    "batch_size": (SAME, "the checkpoint's position counts batches of this size"),
    "optimizer": (SAME, "the update rule and the layout of the saved optimiser state"),
    "lr": (SAME, "the learning rate of every later step"),
    "momentum": (SAME, "the update rule (SGD's momentum, AdamW's beta1)"),
    "weight_decay": (SAME, "the update rule"),
    "schedule": (SAME, "the learning rate of every later step"),
    "grad_clip": (SAME, "the gradient"),
    "crop_size": (AS_USED, "the images the network sees"),
    "augment": (SAME, "the images the network sees"),
    "pca_color": (SAME, "the images the network sees"),
    "mean": (SAME, "the normalised inputs"),
    "std": (SAME, "the normalised inputs"),
    "data_on_device": (FREE, "where the images are kept, not which"),
    "device": (FREE, "the same computation on another device"),
    "precision": (AS_USED, "the arithmetic of every step"),
    "channels_last": (FREE, "memory layout"),
    "compile": (FREE, "the same computation, compiled"),
    "micro_batch": (FREE, "gradient accumulation keeps the optimiser's batch (a resume takes "
                          "the checkpoint's micro-batch anyway)"),
    "out_dir": (FREE, "where checkpoints go"),
    "checkpoint_every_steps": (FREE, "how often checkpoints are written"),
    "val_every_steps": (FREE, "how often the validation set is scored (it changes no weight)"),
    "resume": (FREE, "which checkpoint to read"),
    "resume_mismatch": (FREE, "what to do about a mismatch"),
    "overwrite": (FREE, "whether a fresh run may replace a checkpoint"),
    "seed": (SAME, "the order of every epoch's images (and, in the train command, the SynthNet "
                   "images themselves)"),
    "deterministic": (FREE, "bitwise repeatability on GPUs, not the recipe"),
    "progress": (FREE, "display"),
    "log_every": (FREE, "display and how often divergence is checked"),
}

# the data record (what the position counts in): key -> its name in a refusal
DATA_FIELDS = {"train_images": "training images", "steps_per_epoch": "batches per epoch",
               "fingerprint": "training set fingerprint"}

MISSING = object()


def data_fingerprint(images, labels, samples: int = 8) -> str:
    """A short hash of a training set: all its labels, its images' shape and ``samples`` images
    spread evenly over it (cheap for a million images on disk, yet another dataset, order or
    rendering seed changes it).

    ``images``: ``(N, 3, S, S)`` uint8 (numpy, memmap or tensor); ``labels``: ``(N,)`` ints.
    """
    def host(a) -> np.ndarray:
        return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)

    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(host(labels), dtype=np.int64).tobytes())
    n = len(images)
    digest.update(repr(tuple(int(d) for d in images.shape)).encode())
    if n:
        for i in sorted(set(np.linspace(0, n - 1, samples).round().astype(int).tolist())):
            digest.update(np.ascontiguousarray(host(images[i])).tobytes())
    return digest.hexdigest()[:16]


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, (int, float, str, bool, type(None)))


def _same(a, b) -> bool:
    """Equal plain values (lists and tuples alike, ``True`` never equal to ``1``); anything else
    (a tensor in a crafted file) counts as different."""
    if not (_plain(a) and _plain(b)):
        return False
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _show(value) -> str:
    if value is MISSING:
        return "(not recorded)"
    if isinstance(value, torch.Tensor):
        return f"a tensor {tuple(value.shape)}"
    text = repr(list(value)) if isinstance(value, tuple) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def resume_mismatches(saved: dict, ours: dict) -> list[str]:
    """Every reason the checkpoint's run record ``saved`` cannot be continued exactly by the run
    ``ours`` (empty: it can), each ``"<field> <checkpoint's value> in the checkpoint, <this
    run's> now"``.

    Both records: ``{"config": TrainConfig.as_dict(), "resolved": {"crop_size": int,
    "precision": str}, "data": {"train_images": int | None, "steps_per_epoch": int,
    "fingerprint": str | None}}``. A checkpoint without ``resolved`` (an older course_lib) is
    compared on the config values as asked; data entries missing on either side (an older
    file) are not compared, except batches per epoch.
    """
    config, data = saved.get("config"), saved.get("data")
    if not isinstance(config, dict) or not isinstance(data, dict):
        return ["it does not record its settings and data (written by an older course_lib), so "
                "this run cannot check that it continues it"]
    resolved = saved.get("resolved") if isinstance(saved.get("resolved"), dict) else {}
    mine, out = ours["config"], []
    schedule = mine["schedule"]
    # the length matters under the same annealed schedule (another one is reported as itself)
    annealed = schedule in ("cosine", "onecycle") and _same(config.get("schedule", MISSING),
                                                             schedule)
    for field, (rule, _why) in RESUME_RULES.items():
        if rule == FREE or (rule == ANNEALED and not annealed):
            continue
        theirs, now = config.get(field, MISSING), mine[field]
        if rule == AS_USED and field in resolved:
            theirs, now = resolved[field], ours["resolved"][field]
        if not _same(theirs, now):
            label = f"epochs (the length of the {schedule} schedule)" if field == "epochs" \
                else field
            out.append(f"{label} {_show(theirs)} in the checkpoint, {_show(now)} now")
    out += _data_mismatches(data, ours["data"], implied=bool(out))
    return out


def _data_mismatches(theirs: dict, ours: dict, implied: bool) -> list[str]:
    """The data record's differences, each reported only when no earlier one implies it (other
    images imply another fingerprint; another batch size or image count, other batches per
    epoch). ``implied``: a config field already differs."""
    out = []
    for key, label in DATA_FIELDS.items():
        old, new = theirs.get(key, MISSING), ours.get(key)
        if key == "steps_per_epoch":
            if implied or out:
                continue
        elif old is None or old is MISSING or new is None or (key == "fingerprint" and out):
            continue
        if not _same(old, new):
            out.append(f"{label} {_show(old)} in the checkpoint, {_show(new)} now")
    return out


# --------------------------------------------------------------------------------------------
# the resume policy as decisions: which checkpoint, and whether it continues exactly


def position(payload: dict) -> str:
    """Where a checkpoint stands, for messages: ``"epoch 2, step 3 of 4"`` (``?`` for what it
    does not record as an integer)."""
    def number(value, add: int = 0) -> str:
        return str(value + add) if isinstance(value, int) and not isinstance(value, bool) else "?"

    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return (f"epoch {number(payload.get('epoch'), 1)}, step {number(payload.get('step_in_epoch'))} "
            f"of {number(data.get('steps_per_epoch'))}")


def checkpoint_to_resume(resume, out_dir: Path | None, overwrite: bool) -> tuple[Path | None, str]:
    """``(the checkpoint a run continues, or None; a line to say, or "")`` for the config's
    ``resume`` ("auto", a path or None), ``out_dir`` and ``overwrite``. Refuses (raises
    :class:`~.checkpoint.CheckpointError`) to start over silently on top of an earlier run."""
    last = out_dir / LAST if out_dir else None
    if resume == "auto":
        if last is None:
            raise CheckpointError("resume='auto' needs an out_dir to look for checkpoints in")
        if last.exists():
            return last, ""
        return None, f"no checkpoint in {out_dir}: starting a fresh run"
    if resume:
        return Path(resume), ""
    if last is not None and last.exists() and not overwrite:
        raise CheckpointError(
            f"{last} exists from an earlier run: pass resume='auto' (--resume auto) to continue "
            "it, overwrite=True (--overwrite) to start over, or choose another out_dir")
    return None, ""


def resume_decision(path: Path, payload: dict, ours: dict, mismatch: str) -> tuple[bool, str]:
    """``(exact, line to say)``: whether ``payload`` (read from ``path``) is continued exactly by
    the run described by ``ours`` (the record of :func:`resume_mismatches`). A mismatch raises
    :class:`~.checkpoint.CheckpointError` naming each field and both values, unless
    ``mismatch == "weights"``: then ``(False, why a fresh schedule starts from its weights)``."""
    reasons = resume_mismatches(payload, ours)
    where = position(payload)
    if not reasons:
        return True, ""
    if mismatch != "weights":
        raise CheckpointError(
            f"{path} cannot be continued exactly by this run: {'; '.join(reasons)}. Its "
            f"position ({where}) counts the old run's batches and schedule, and the rest of "
            "the run would differ from the one it started. Resume with its settings, or pass "
            "resume_mismatch='weights' to start a fresh schedule from its weights")
    return False, (f"{path} cannot be continued exactly ({'; '.join(reasons)}): "
                   "resume_mismatch='weights' starts a fresh schedule at epoch 1 from its "
                   f"weights (saved at {where}); its optimizer state, schedule, history and "
                   "random states are not carried over")
