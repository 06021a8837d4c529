"""Checkpoints that survive a crash: written atomically, read safely, checked before use.

A checkpoint is one file (``torch.save`` of a dict of plain values and tensors) holding the
model, optimiser, schedule and grad-scaler states, where the run stands (epoch, step within the
epoch, global step; the loader's order depends only on the seed and the epoch, so that is all it
needs), what those counts are counted in (``data``: training images and batches per epoch; with
the config's batch size and schedule, a resume must match them or is refused), the epoch's
partial sums over all ranks, every random state (Python, NumPy, torch CPU and CUDA, the
augmentation generator; one set per rank, and the number of ranks), the config and the history.

* **Atomic**: written to a temporary file in the same folder, flushed to disk, then moved over
  the old one with ``os.replace``; a crash mid-write leaves the previous checkpoint intact.
* **Safe to read**: ``torch.load(weights_only=True)``, which unpickles only tensors and plain
  containers, never arbitrary code; NumPy's random state is stored as a tensor for that reason.
* **Checked**: a file that cannot be read, or was not written by this module
  (:data:`FORMAT`), raises :class:`CheckpointError` naming the file and what to do.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

FORMAT = "course_lib.train/1"
LAST = "last.pt"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, foreign, or does not fit the model being trained."""


def save_checkpoint(payload: dict, path) -> Path:
    """Write ``payload`` (plus the format tag) to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
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


def load_model_state(model: torch.nn.Module, state: dict, path) -> None:
    """``model.load_state_dict(state)``, turning a mismatch into a :class:`CheckpointError`."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: the checkpoint's weights do not fit this model (a different variant, width "
            f"or number of classes?): {str(exc)[:400]}"
        ) from exc


# --------------------------------------------------------------------------------------------
# random states


def rng_state(generator: torch.Generator | None = None) -> dict:
    """Every random state this process uses, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only if the device count matches)."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
