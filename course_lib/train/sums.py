"""An epoch's running sums and the divergence watch: kept on the device, read rarely.

Adding a batch's loss and correct count to :class:`EpochSums` never waits for the device; the
sums are read (and reduced over the ranks) only at the end of an epoch, at a checkpoint, and when
the progress bar is updated. :class:`Watch` remembers the first bad batch of an epoch on the
device too, and :func:`check_divergence` looks at it, one synchronisation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CourseError
from .distributed import Dist

# a batch whose mean loss exceeds EXPLODE_FACTOR × ln C (C classes; chance is ln C) stops the run
EXPLODE_FACTOR = 10.0


class TrainingDiverged(CourseError, RuntimeError):
    """The loss became NaN/inf or exploded; the message names the step and a lower rate."""


@dataclass
class EpochSums:
    """One epoch's running sums on this rank. ``loss`` (summed cross-entropy) and ``correct``
    are device scalars; ``start`` is the ``time.perf_counter()`` the epoch began at (less the
    seconds carried over by a resume)."""

    loss: torch.Tensor
    correct: torch.Tensor
    images: int
    wait: float
    start: float

    @classmethod
    def begin(cls, partial: dict | None, is_main: bool, device: torch.device) -> EpochSums:
        """Zero, or a checkpoint's sums for the epoch it stopped in (``partial``), counted on
        rank 0 only, so that the end-of-epoch all-reduce counts them once whatever the number
        of ranks."""
        partial = partial or {}
        counted = partial if is_main else {}
        acc = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        return cls(
            loss=torch.full((), float(counted.get("loss", 0.0)), dtype=acc, device=device),
            correct=torch.full((), int(counted.get("correct", 0)), dtype=torch.int64, device=device),
            images=int(counted.get("images", 0)),
            wait=float(partial.get("wait", 0.0)),
            start=time.perf_counter() - float(partial.get("seconds", 0.0)))

    def totals(self, dist: Dist) -> tuple[float, int, int]:
        """``(loss, correct, images)`` summed over the ranks (a collective; synchronises)."""
        counts = torch.stack([self.loss, self.correct.to(self.loss.dtype),
                              torch.full((), float(self.images), dtype=self.loss.dtype,
                                         device=self.loss.device)])
        loss, correct, images = dist.all_reduce(counts).tolist()
        return loss, round(correct), round(images)

    def partial(self, dist: Dist) -> dict:
        """The epoch so far, as a mid-epoch checkpoint keeps it: the sums of **all** ranks (a
        resume adds them in once, on rank 0), rank 0's data wait and the seconds so far."""
        loss, correct, images = self.totals(dist)
        return {"loss": loss, "correct": correct, "images": images, "wait": self.wait,
                "seconds": time.perf_counter() - self.start}


@dataclass
class Watch:
    """Step and mean loss of the epoch's first bad batch (step -1: none yet), on the device."""

    step: torch.Tensor
    loss: torch.Tensor

    @classmethod
    def fresh(cls, device: torch.device) -> Watch:
        return cls(torch.full((), -1.0, device=device), torch.zeros((), device=device))

    def see(self, mean: torch.Tensor, limit: float, global_step: int) -> None:
        """Remember ``mean`` (a batch's mean loss) if it is the first non-finite or above
        ``limit``; no synchronisation."""
        new = ((~torch.isfinite(mean)) | (mean > limit)) & (self.step < 0)
        self.step = torch.where(new, float(global_step), self.step)
        self.loss = torch.where(new, mean, self.loss)


def check_divergence(watch: Watch, dist: Dist, steps_per_epoch: int, lr: float,
                     checkpoint: Path | None) -> None:
    """Raise :class:`TrainingDiverged` if any rank saw a bad batch (one synchronisation)."""
    if dist.all_reduce(watch.step.clone(), op="max").item() < 0:
        return
    pairs = dist.gather_objects((watch.step.item(), watch.loss.item()))
    step, value = min((s, v) for s, v in pairs if s >= 0)
    step = int(step)
    where = f"step {step} (epoch {step // steps_per_epoch + 1}, batch " \
            f"{step % steps_per_epoch + 1} of {steps_per_epoch})"
    kept = (f"; the last good checkpoint is {checkpoint} (a lower rate cannot continue it "
            "exactly: start from its weights with resume_mismatch='weights')"
            if checkpoint else "")
    raise TrainingDiverged(
        f"the training loss became {value:.4g} at {where} with learning rate {lr:.3g}: the run "
        f"diverged. Try a lower learning rate, e.g. lr={lr / 10:.3g} (or gradient clipping, "
        f"grad_clip){kept}")
