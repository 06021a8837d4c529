"""Checkpoints that survive a crash: written atomically, read safely, checked before use.

A checkpoint is one file (``torch.save`` of a dict of plain values and tensors) holding the
model, optimiser, schedule and grad-scaler states, where the run stands (epoch, step within the
epoch, global step; the loader's order depends only on the seed and the epoch, so that is all it
needs), what those counts are counted in (``data``: training images, batches per epoch and a
fingerprint of the training set), the epoch's partial sums over all ranks, every random state
(Python, NumPy, torch CPU and CUDA, the augmentation generator; one set per rank, and the number
of ranks), the config, what it resolved to on that machine (``resolved``: crop side, precision)
and the history. Which of these a resume must match is :mod:`course_lib.train.resume`.

* **Atomic**: written to a temporary file in the same folder, flushed to disk, then moved over
  the old one with ``os.replace``; a crash mid-write leaves the previous checkpoint intact.
* **Safe to read**: ``torch.load(weights_only=True)``, which unpickles only tensors and plain
  containers, never arbitrary code; NumPy's random state is stored as a tensor for that reason.
* **Checked**: a file that cannot be read, or was not written by this module
  (:data:`FORMAT`), raises :class:`CheckpointError` naming the file and what to do. Before
  anything is restored, every tensor of the model and optimiser state is checked against the
  run (:func:`state_mismatch`, :func:`optimizer_state_mismatch`) and every other entry against
  its expected type (:func:`payload_mismatch`): a wrong-shaped optimiser buffer would otherwise
  load under ``weights_only=True`` and corrupt memory in PyTorch's fused kernels.
* **A full disk** while writing raises :class:`course_lib.diskspace.DiskFullError` naming the
  folder and about how much space the checkpoint needs; the partial file is removed and the
  previous checkpoint stays intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..diskspace import explain_disk_full
from ..errors import CourseError

FORMAT = "course_lib.train/1"
LAST = "last.pt"


class CheckpointError(CourseError, RuntimeError):
    """A checkpoint is unreadable, foreign, or does not fit the model being trained."""


def tensor_bytes(value) -> int:
    """Bytes of every tensor inside ``value`` (nested dicts, lists and tuples): about the size
    ``torch.save`` writes for it."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def save_checkpoint(payload: dict, path, what: str = "a checkpoint") -> Path:
    """Write ``payload`` (plus the format tag) to ``path`` atomically; returns the path.

    A full disk raises :class:`~course_lib.diskspace.DiskFullError` naming the folder and about
    the bytes needed (``what`` names the file in that message); on any error the temporary file
    is removed and a previous file at ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with explain_disk_full(path.parent, what, tensor_bytes(payload)):
            with open(tmp, "wb") as f:
                torch.save({"format": FORMAT, **payload}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises :class:`CheckpointError` for a missing, truncated, corrupt or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, pickled code weights_only refuses...
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]}); it may "
            "be truncated or corrupt. Move it away to start over, or resume from another file"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        keys = sorted(payload)[:8] if isinstance(payload, dict) else []
        raise CheckpointError(
            f"{path}: not a course_lib.train checkpoint (format {found!r}, expected {FORMAT!r}; "
            f"keys {keys}). To start from bare weights, load them into the model yourself"
        )
    return payload


def check_model_state(model: torch.nn.Module, state, path) -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the first key whose tensor is missing,
    extra, or of another shape or dtype than ``model``'s (:func:`state_mismatch`)."""
    problem = state_mismatch(model.state_dict(), state, "model state")
    if problem:
        raise CheckpointError(
            f"{path}: the checkpoint's weights do not fit this model (a different variant, width "
            f"or number of classes?): {problem}")


def load_model_state(model: torch.nn.Module, state: dict, path) -> None:
    """``model.load_state_dict(state)`` once :func:`check_model_state` found every tensor to be
    the model's own key, shape and dtype."""
    check_model_state(model, state, path)
    model.load_state_dict(state)


# --------------------------------------------------------------------------------------------
# checking what a file holds before any of it is used (a crafted file must not reach a kernel)


def _describe(value) -> str:
    """``"(3, 4) float32"`` for a tensor, else the value's type."""
    if isinstance(value, torch.Tensor):
        return f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    return f"a {type(value).__name__}"


def tensor_mismatch(expected: torch.Tensor, found, where: str) -> str | None:
    """None when ``found`` is a dense tensor of ``expected``'s shape and dtype, else the first
    difference: ``"<where>: expected (3, 4) float32, found (1,) float32"``."""
    if (isinstance(found, torch.Tensor) and found.layout == torch.strided
            and found.shape == expected.shape and found.dtype == expected.dtype):
        return None
    layout = "" if not isinstance(found, torch.Tensor) or found.layout == torch.strided else \
        f" ({found.layout})"
    return f"{where}: expected {_describe(expected)}, found {_describe(found)}{layout}"


def state_mismatch(expected: dict, found, where: str) -> str | None:
    """The first way ``found`` differs from the state dict ``expected`` (``{name: tensor}``):
    not a dict, a missing or extra key, or a tensor of another shape or dtype; None if none."""
    if not isinstance(found, dict):
        return f"{where}: expected a dict of tensors, found {_describe(found)}"
    missing = [k for k in expected if k not in found]
    if missing:
        return f"{where}: {missing[0]!r} is missing ({len(missing)} key(s) missing in all)"
    extra = [k for k in found if k not in expected]
    if extra:
        return f"{where}: unexpected key {extra[0]!r} ({len(extra)} in all)"
    for key, tensor in expected.items():
        problem = tensor_mismatch(tensor, found[key], f"{where} {key!r}")
        if problem:
            return problem
    return None


# optimiser settings that say how a step is computed, not what it computes: the run's own are kept
_IMPLEMENTATION = frozenset({"params", "param_names", "lr", "initial_lr", "foreach", "fused",
                             "capturable", "differentiable"})


def _plain_equal(a, b) -> bool:
    """``a == b`` for plain values (numbers, strings, bools, None, tuples and lists of them);
    False for anything else (a tensor in a crafted file must not be compared element-wise)."""
    plain = (int, float, str, bool, type(None))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_plain_equal(x, y) for x, y in zip(a, b))
    return isinstance(a, plain) and isinstance(b, plain) and a == b


def _state_entry_mismatch(param: torch.Tensor, entry, where: str) -> str | None:
    """One parameter's optimiser state: ``step`` a real scalar, every other tensor the
    parameter's shape and dtype (``None`` allowed: no buffer yet)."""
    if not isinstance(entry, dict):
        return f"{where}: expected a dict, found {_describe(entry)}"
    for key, value in entry.items():
        if key == "step":
            if not (isinstance(value, torch.Tensor) and value.layout == torch.strided
                    and value.shape == () and value.dtype.is_floating_point):
                return f"{where} 'step': expected a floating-point scalar, found {_describe(value)}"
        elif value is not None:
            problem = tensor_mismatch(param.detach(), value, f"{where} {key!r}")
            if problem:
                return problem
    return None


def optimizer_state_mismatch(optimizer: torch.optim.Optimizer, saved) -> str | None:
    """The first way the saved ``optimizer.state_dict()`` ``saved`` does not fit ``optimizer``:
    its structure (groups, parameter counts and ids), a hyperparameter that differs from the
    run's (momentum, weight decay, betas, ...; the learning rate is set every step), or a state
    tensor of another shape or dtype than its parameter. None when it fits."""
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) or not isinstance(
            saved.get("param_groups"), list):
        return f"optimizer state: expected a dict with 'state' and 'param_groups', found " \
               f"{_describe(saved) if not isinstance(saved, dict) else sorted(map(str, saved))}"
    ours = optimizer.state_dict()["param_groups"]
    groups = saved["param_groups"]
    if len(groups) != len(ours):
        return f"optimizer param_groups: expected {len(ours)} group(s), found {len(groups)}"
    params = {}  # saved id -> this run's parameter
    for i, (group, mine) in enumerate(zip(groups, optimizer.param_groups)):
        where = f"optimizer param_groups[{i}]"
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            return f"{where}: expected a dict with a list 'params', found {_describe(group)}"
        if len(group["params"]) != len(mine["params"]):
            return f"{where}: expected {len(mine['params'])} parameters, found {len(group['params'])}"
        for key, value in ours[i].items():
            if key not in _IMPLEMENTATION and key in group and not _plain_equal(group[key], value):
                return f"{where} {key!r}: expected {value!r}, found {group[key]!r}"
        for pid, param in zip(group["params"], mine["params"]):
            if not isinstance(pid, int) or isinstance(pid, bool) or pid in params:
                return f"{where} 'params': expected distinct integer ids, found {pid!r}"
            params[pid] = param
    for pid, entry in saved["state"].items():
        if pid not in params:
            return f"optimizer state: an entry for parameter id {pid!r}, which no group holds"
        problem = _state_entry_mismatch(params[pid], entry, f"optimizer state[{pid}]")
        if problem:
            return problem
    return None


def optimizer_state_for(optimizer: torch.optim.Optimizer, saved: dict) -> dict:
    """``saved`` (checked by :func:`optimizer_state_mismatch`) with each group's settings
    replaced by this run's own, keeping only its learning rate: what is loaded is then what the
    config says (a setting a file lacks cannot go missing; fused/foreach fit this device)."""
    groups = []
    for group, mine in zip(saved["param_groups"], optimizer.state_dict()["param_groups"]):
        kept = {k: group[k] for k in ("params", "lr", "initial_lr") if k in group}
        groups.append({**{k: v for k, v in mine.items() if k != "params"}, **kept})
    return {"state": saved["state"], "param_groups": groups}


def _is_int(value, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# what an exact resume reads from a checkpoint besides the model and optimiser: key -> (check,
# what it should be)
_ENTRIES = {
    "epoch": (_is_int, "an integer >= 0"),
    "step_in_epoch": (_is_int, "an integer >= 0"),
    "global_step": (_is_int, "an integer >= 0"),
    "world_size": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "micro_batch": (lambda v: v is None or _is_int(v, 1), "None or an integer >= 1"),
    "schedule": (lambda v: isinstance(v, dict) and all(
        _is_number(v.get(k)) for k in ("scale", "best", "bad_epochs", "drops")),
        "a dict of numbers 'scale', 'best', 'bad_epochs', 'drops'"),
    "scaler": (lambda v: isinstance(v, dict) and all(_is_number(x) for x in v.values()),
               "a dict of numbers"),
    "partial": (lambda v: v is None or (isinstance(v, dict) and all(
        _is_number(v.get(k)) for k in ("loss", "correct", "images", "wait", "seconds"))),
        "None or a dict of numbers 'loss', 'correct', 'images', 'wait', 'seconds'"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
                "a list of dicts"),
    "rng": (lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
            "a list of dicts"),
}


def payload_mismatch(payload: dict, steps_per_epoch: int) -> str | None:
    """The first entry an exact resume needs that is missing or of the wrong kind (the
    position must lie inside an epoch of ``steps_per_epoch`` batches); None when all are
    fine. Model and optimiser tensors are checked separately."""
    for key, (ok, want) in _ENTRIES.items():
        if key not in payload:
            return f"{key!r} is missing"
        if not ok(payload[key]):
            value = payload[key]
            shown = repr(value)[:80] if not isinstance(value, torch.Tensor) else _describe(value)
            return f"{key!r}: expected {want}, found {shown}"
    steps = payload.get("step_history", [])  # optional: older checkpoints have none
    if not (isinstance(steps, list) and all(isinstance(r, dict) for r in steps)):
        return f"'step_history': expected a list of dicts, found {repr(steps)[:80]}"
    if payload["step_in_epoch"] >= steps_per_epoch:
        return (f"'step_in_epoch': expected below the {steps_per_epoch} batches per epoch, found "
                f"{payload['step_in_epoch']}")
    return None


def check_resume_state(payload: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                       steps_per_epoch: int, path) -> None:
    """Everything an exact resume takes from ``payload``, checked before any of it is used:
    the model's tensors (:func:`check_model_state`), the position and the other entries
    (:func:`payload_mismatch`) and the optimiser state (:func:`optimizer_state_mismatch`).
    Raises :class:`CheckpointError` naming ``path`` and the first thing that does not fit."""
    check_model_state(model, payload.get("model"), path)
    problem = payload_mismatch(payload, steps_per_epoch) or optimizer_state_mismatch(
        optimizer, payload.get("optimizer"))
    if problem:
        raise CheckpointError(f"{path}: its training state does not fit this run, so it is not "
                              f"loaded: {problem}")


# --------------------------------------------------------------------------------------------
# random states


def rng_state(generator: torch.Generator) -> dict:
    """Every random state this process uses (``generator``: the augmentation's), as tensors and
    plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
    }


def restore_training_state(payload: dict, path, optimizer, schedule, scaler) -> None:
    """Load a checked checkpoint's optimiser, schedule and gradient-scaler states
    (:func:`check_resume_state` passed); anything that still does not fit raises
    :class:`CheckpointError` naming the file."""
    try:
        optimizer.load_state_dict(optimizer_state_for(optimizer, payload["optimizer"]))
        schedule.load_state_dict(payload["schedule"])
        scaler.load_state_dict(payload["scaler"])
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: optimiser/schedule state does not fit: {exc}") from exc


def write_history(rows: list[dict], columns, out_dir: Path) -> None:
    """``out_dir/history.csv`` (one row per epoch, ``columns``), replaced atomically; a full
    disk raises :class:`~course_lib.diskspace.DiskFullError` and leaves the old file."""
    tmp = out_dir / f".history.csv.tmp-{os.getpid()}"
    try:
        with explain_disk_full(out_dir, "the training history (history.csv)"):
            pd.DataFrame(rows, columns=list(columns)).to_csv(tmp, index=False)
            os.replace(tmp, out_dir / "history.csv")
    finally:
        tmp.unlink(missing_ok=True)


def restore_rng_state(state: dict, generator: torch.Generator, path) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only if the device count matches)
    from the checkpoint ``path``; a state that cannot be restored raises
    :class:`CheckpointError` naming the file."""
    try:
        python = state["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        numpy_state = state["numpy"]
        np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                             numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached"]))
        torch.set_rng_state(state["torch"])
        cuda = state.get("cuda") or []
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        if "generator" in state:
            generator.set_state(state["generator"])
    except (KeyError, IndexError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: its random states cannot be restored "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from exc
