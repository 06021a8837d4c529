"""``fit``: the training loop every notebook and the ``train`` command use.

It knows nothing about datasets. ``train_data`` and ``val_data`` are either

* arrays: ``(images, labels)`` or anything with ``.images`` and ``.labels`` (a SynthNet split, a
  decode-once cache) with ``images: (N, 3, S, S) uint8`` (numpy, memmap or tensor) and
  ``labels: (N,) int``; ``fit`` then reads them with
  :class:`course_lib.datasets.loader.UInt8Loader` (sharded across ranks under torchrun, and
  copied whole to a CUDA device when they fit easily);
* or any iterable of ``(images uint8 (B, 3, S, S), labels (B,))`` batches with a length (e.g. a
  ``UInt8Loader`` you built); ``set_epoch(epoch)`` is called on it if it has one. Under torchrun
  such a loader must shard itself.

Per epoch: a tqdm bar (loss, accuracy, images/s) in a terminal or a notebook (when stderr is a
file, no bar: :func:`course_lib.progress.live_progress`), then validation (centre crops, through
:func:`course_lib.evaluate.predict`, every image counted once across ranks), the schedule, a
history row, a checkpoint and one summary line. What each of those guarantees is documented in
:mod:`.checkpoint`, :mod:`.step`, :mod:`.schedule` and :mod:`.distributed`. The host waits for
the device only every ``log_every`` steps (and at checkpoints), never per step.

**Resuming continues exactly, or refuses.** A checkpoint's position (epoch, step in the epoch,
global step) counts batches of its batch size over its training images, in the order its seed
gives, and every later step depends on its optimiser, schedule, loss and augmentation settings;
a resume that differs in any setting that changes the result (the table
:data:`course_lib.train.resume.RESUME_RULES`, one rule per config field) or in its training set
raises :class:`~course_lib.train.checkpoint.CheckpointError` naming the field and both values,
unless ``resume_mismatch="weights"``, which starts a fresh schedule from the checkpoint's weights
and says so. Before anything is restored, every model and optimiser tensor is checked against
this run (a crafted file is refused, never loaded). The number of ranks may change: a mid-epoch
checkpoint keeps the epoch's sums over all ranks, added back once.

**Each image once per epoch under torchrun.** With array data, step ``t`` of an epoch feeds the
ranks the global batch ``order[t·B : (t+1)·B]`` split round-robin, exactly the batches one
process would take with the same global batch ``B``; the last, short batch is split too (a rank
left without an image runs an empty batch so the gradient all-reduce still meets), and each
rank's loss is scaled by ``world_size / (images in the global batch)`` so the averaged gradient is
the mean over the global batch, as in one process.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..datasets.augment import PCAColour
from ..datasets.loader import UInt8Loader
from ..device import pick_device, resolve_precision, seed_everything
from ..diskspace import explain_disk_full
from ..errors import CourseError, CourseValueError
from ..memory import release_freed_memory
from ..progress import live_progress
from .checkpoint import (
    LAST,
    CheckpointError,
    check_resume_state,
    load_checkpoint,
    load_model_state,
    optimizer_state_for,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import TrainConfig
from .distributed import Dist, setup
from .resume import data_fingerprint, resume_mismatches
from .schedule import LRSchedule, make_optimizer
from .step import TrainStep
from .throughput import achieved_tflops, peak_tflops, training_flops_per_image

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error",
                   "val_top5_error", "images", "images_per_s", "data_wait_share", "seconds",
                   "tflops", "peak_share")


class TrainingDiverged(CourseError, RuntimeError):
    """The loss became NaN/inf or exploded; the message names the step and a lower rate."""


def fit(model: torch.nn.Module, train_data, val_data=None, config: TrainConfig | None = None, *,
        callbacks: Callable | Iterable[Callable] = ()) -> pd.DataFrame:
    """Train ``model`` in place; return the history, one row per epoch.

    ``train_data`` / ``val_data``: see the module docstring (``val_data=None`` skips
    validation; the plateau rule then watches the training error). ``config``: a
    :class:`TrainConfig` (default: the paper's recipe for 90 epochs). ``callbacks``: callables
    ``cb(event, info)`` called with ``event`` "step" (info: epoch, step, step_in_epoch) and
    "epoch" (info: the history row and "checkpoint"); raising in one stops training (the last
    checkpoint stays).

    Returns a DataFrame with columns :data:`HISTORY_COLUMNS` (errors are fractions 0–1;
    ``images``: training images seen that epoch over all ranks; ``seconds``: training plus
    validation; ``tflops``: achieved training TFLOP/s; ``peak_share``: tflops / the device's
    peak, None where unknown). ``history.attrs`` holds ``checkpoint`` (path of the last
    checkpoint, or None), ``device``, ``precision``, ``world_size``, ``crop_size``,
    ``flops_per_image`` and ``peak_tflops``.

    Raises :class:`TrainingDiverged`, :class:`~course_lib.train.checkpoint.CheckpointError`, or
    ``ValueError`` for bad data or config.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    callbacks = [callbacks] if callable(callbacks) else list(callbacks)
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic)
    dist, device = setup(pick_device(config.device))
    try:
        return _Run(model, train_data, val_data, config, dist, device, callbacks).run()
    finally:
        dist.close()
        torch.use_deterministic_algorithms(flags[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[1:]


def _arrays(data):
    """``(images, labels)`` if ``data`` is array-like data, else None (a loader)."""
    if isinstance(data, UInt8Loader):
        return None
    if isinstance(data, tuple) and len(data) == 2:
        return data
    if hasattr(data, "images") and hasattr(data, "labels"):
        return data.images, data.labels
    return None


def _on_device(images, device: torch.device, setting) -> object:
    """Copy ``images`` whole to a CUDA device when asked (or, "auto", when they take under a
    quarter of its free memory)."""
    if device.type != "cuda" or setting is False:
        return images
    nbytes = int(np.prod(images.shape))  # uint8: one byte each
    if setting == "auto" and nbytes > torch.cuda.mem_get_info(device)[0] // 4:
        return images
    tensor = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    return tensor.to(device)


def _position(payload: dict) -> str:
    """Where a checkpoint stands, for messages: ``"epoch 2, step 3 of 4"`` (``?`` for what it
    does not record as an integer)."""
    def number(value, add: int = 0) -> str:
        return str(value + add) if isinstance(value, int) and not isinstance(value, bool) else "?"

    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return (f"epoch {number(payload.get('epoch'), 1)}, step {number(payload.get('step_in_epoch'))} "
            f"of {number(data.get('steps_per_epoch'))}")


def _write_history(rows: list[dict], out_dir: Path) -> None:
    """``out_dir/history.csv`` (columns :data:`HISTORY_COLUMNS`), replaced atomically; a full
    disk raises :class:`~course_lib.diskspace.DiskFullError` and leaves the old file."""
    tmp = out_dir / f".history.csv.tmp-{os.getpid()}"
    try:
        with explain_disk_full(out_dir, "the training history (history.csv)"):
            pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)).to_csv(tmp, index=False)
            os.replace(tmp, out_dir / "history.csv")
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class _Sums:
    """One epoch's running sums on this rank. ``loss`` (summed cross-entropy) and ``correct``
    are device scalars, so adding a batch to them never waits for the device; ``start`` is the
    ``time.perf_counter()`` the epoch began at (less the seconds carried over by a resume)."""

    loss: torch.Tensor
    correct: torch.Tensor
    images: int
    wait: float
    start: float


@dataclass
class _Watch:
    """Step and mean loss of the epoch's first bad batch (step -1: none yet), kept on the
    device until :meth:`_Run._check` looks."""

    step: torch.Tensor
    loss: torch.Tensor

    def see(self, mean: torch.Tensor, limit: float, global_step: int) -> None:
        new = ((~torch.isfinite(mean)) | (mean > limit)) & (self.step < 0)
        self.step = torch.where(new, float(global_step), self.step)
        self.loss = torch.where(new, mean, self.loss)


class _Run:
    """The state of one call to :func:`fit` (kept in one object so checkpoints can take it)."""

    def __init__(self, model, train_data, val_data, config: TrainConfig, dist: Dist,
                 device: torch.device, callbacks: list):
        self.model, self.config, self.dist, self.device = model, config, dist, device
        self.callbacks = callbacks
        self.precision = resolve_precision(config.precision, device)
        if config.batch_size % dist.world_size:
            raise CourseValueError(f"batch_size={config.batch_size} does not split evenly over "
                             f"{dist.world_size} ranks")
        seed_everything(config.seed + dist.rank, deterministic=config.deterministic)
        self.generator = torch.Generator().manual_seed(config.seed * 1_000_003 + dist.rank)
        self._set_up_data(train_data, val_data)
        self.crop_size = config.crop_size or self._default_crop()

        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        model.to(device=device, memory_format=memory_format)
        self.flops_per_image = training_flops_per_image(model, self.crop_size)
        self.peak = peak_tflops(device, self.precision.autocast_dtype)
        self.optimizer = make_optimizer(model, config, device)
        self.schedule = LRSchedule(config, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision.use_grad_scaler)
        self.out_dir = Path(config.out_dir) if config.out_dir else None
        self.checkpoint: Path | None = None
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.partial = None  # the current epoch's sums (all ranks') when resuming mid-epoch
        self.rows: list[dict] = []
        self.resumed_micro_batch = None
        pca = self._fit_pca() if config.pca_colour > 0 else None
        self._resume()
        self.step = self._make_step(pca)

    # ---------------------------------------------------------------------------------------
    # set-up helpers

    def say(self, message: str) -> None:
        """Print on rank 0 without breaking a tqdm bar."""
        if self.dist.is_main:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    def _set_up_data(self, train_data, val_data) -> None:
        config, dist = self.config, self.dist
        self.train_arrays = _arrays(train_data)
        self.train_loader = self._loader(train_data, config.batch_size // dist.world_size, True)
        self.val_loader = None if val_data is None else self._loader(
            val_data, config.val_batch_size or config.batch_size // dist.world_size, False)
        self.fingerprint = None
        if self.train_arrays is not None:
            self.train_size = len(self.train_arrays[1])
            self.steps_per_epoch = math.ceil(self.train_size / config.batch_size)
            self.fingerprint = data_fingerprint(*self.train_arrays)
        else:
            if not hasattr(self.train_loader, "__len__"):
                raise CourseValueError("train_data: a loader must have a length (batches per epoch)")
            labels = getattr(self.train_loader, "labels", None)
            self.train_size = None if labels is None else len(labels)
            self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch < 1:
            raise CourseValueError("train_data holds no images")

    def _loader(self, data, batch_size: int, train: bool):
        arrays = _arrays(data)
        if arrays is None:
            if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
                raise CourseValueError(f"expected (images, labels) arrays or a loader of batches, got "
                                 f"{type(data).__name__}")
            return data
        images, labels = arrays
        if getattr(images, "dtype", None) not in (np.uint8, torch.uint8):
            raise CourseValueError(f"images must be uint8 (N, 3, S, S), got dtype "
                             f"{getattr(images, 'dtype', type(images).__name__)}")
        images = _on_device(images, self.device, self.config.data_on_device)
        return UInt8Loader(images, labels, batch_size, shuffle=train, seed=self.config.seed,
                           rank=self.dist.rank, world_size=self.dist.world_size, drop_last=False,
                           device=self.device)

    def _default_crop(self) -> int:
        if self.train_arrays is not None:
            side = int(self.train_arrays[0].shape[-1])
        else:
            side = int(next(iter(self.train_loader))[0].shape[-1])
        return max(1, round(side * 224 / 256))

    def _fit_pca(self) -> PCAColour:
        if self.train_arrays is not None:
            images = self.train_arrays[0]
            n = len(images)
            pick = np.sort(np.random.default_rng(self.config.seed).choice(n, min(n, 2048), replace=False))
            sample = images[pick]
        else:
            sample = (b[0] for b in itertools.islice(iter(self.train_loader), 16))
        return PCAColour.fit(sample, sigma=self.config.pca_colour)

    def _make_step(self, pca: PCAColour | None) -> TrainStep:
        net = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(self.model, device_ids=device_ids)
        if self.config.compile:
            net = torch.compile(net, dynamic=False)  # a short last batch compiles once more
        step = TrainStep(self.model, net, self.optimizer, self.scaler,
                         self.precision.autocast_dtype, self.device, self.config, self.crop_size,
                         self.generator, pca, distributed=self.dist.enabled, notify=self.say)
        if self.resumed_micro_batch:
            step.micro_batch = self.resumed_micro_batch
        return step

    # ---------------------------------------------------------------------------------------
    # resuming: exactly, or (resume_mismatch="weights") a fresh schedule from the weights

    def _checkpoint_to_resume(self) -> Path | None:
        config, last = self.config, self.out_dir / LAST if self.out_dir else None
        if config.resume == "auto":
            if last is None:
                raise CourseValueError("resume='auto' needs an out_dir to look for checkpoints in")
            if last.exists():
                return last
            self.say(f"no checkpoint in {self.out_dir}: starting a fresh run")
            return None
        if config.resume:
            return Path(config.resume)
        if last is not None and last.exists() and not config.overwrite:
            raise CheckpointError(
                f"{last} exists from an earlier run: pass resume='auto' (--resume auto) to continue "
                "it, overwrite=True (--overwrite) to start over, or choose another out_dir")
        return None

    def _data_record(self) -> dict:
        """What the checkpoint's position (epoch, step, global step) is counted in."""
        return {"train_images": self.train_size, "steps_per_epoch": self.steps_per_epoch,
                "fingerprint": self.fingerprint}

    def _resolved(self) -> dict:
        """The config values as this machine resolved them (compared "as used" on resume)."""
        return {"crop_size": int(self.crop_size), "precision": self.precision.name}

    def _mismatches(self, payload: dict) -> list[str]:
        """Why ``payload`` cannot be continued exactly by this run (empty: it can): every
        setting and data record :func:`~course_lib.train.resume.resume_mismatches` compares."""
        ours = {"config": self.config.as_dict(), "resolved": self._resolved(),
                "data": self._data_record()}
        return resume_mismatches(payload, ours)

    def _resume(self) -> None:
        path = self._checkpoint_to_resume()
        if path is None:
            return
        payload = load_checkpoint(path)
        reasons = self._mismatches(payload)
        where = _position(payload)
        if reasons and self.config.resume_mismatch != "weights":
            raise CheckpointError(
                f"{path} cannot be continued exactly by this run: {'; '.join(reasons)}. Its "
                f"position ({where}) counts the old run's batches and schedule, and the rest of "
                "the run would differ from the one it started. Resume with its settings, or pass "
                "resume_mismatch='weights' to start a fresh schedule from its weights")
        if reasons:
            load_model_state(self.model, payload.get("model"), path)
            self.say(f"{path} cannot be continued exactly ({'; '.join(reasons)}): "
                     "resume_mismatch='weights' starts a fresh schedule at epoch 1 from its "
                     f"weights (saved at {where}); its optimizer state, schedule, history and "
                     "random states are not carried over")
            return
        check_resume_state(payload, self.model, self.optimizer, self.steps_per_epoch, path)
        load_model_state(self.model, payload["model"], path)
        self._restore(payload, path)

    def _restore(self, payload: dict, path: Path) -> None:
        """Take over a checked checkpoint's optimiser, schedule, scaler, position, history and
        random states (:func:`~.checkpoint.check_resume_state` passed)."""
        try:
            self.optimizer.load_state_dict(optimizer_state_for(self.optimizer, payload["optimizer"]))
            self.schedule.load_state_dict(payload["schedule"])
            self.scaler.load_state_dict(payload["scaler"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: optimiser/schedule state does not fit: {exc}") from exc
        self.epoch, self.step_in_epoch = int(payload["epoch"]), int(payload["step_in_epoch"])
        self.global_step = int(payload["global_step"])
        self.partial = payload.get("partial")
        self.rows = list(payload.get("history", []))
        self.resumed_micro_batch = payload.get("micro_batch")
        rngs, ranks = payload["rng"], int(payload["world_size"])
        if ranks == self.dist.world_size and len(rngs) == ranks:
            try:
                set_rng_state(rngs[self.dist.rank], self.generator)
            except (KeyError, IndexError, ValueError, TypeError, RuntimeError) as exc:
                raise CheckpointError(f"{path}: its random states cannot be restored "
                                      f"({type(exc).__name__}: {str(exc)[:200]})") from exc
        else:
            self.say(f"{path} was written by {ranks} rank(s), this run has "
                     f"{self.dist.world_size}: random states are re-seeded, not restored")
        self.checkpoint = path
        self.say(f"resumed from {path}: epoch {self.epoch + 1}, step {self.step_in_epoch} of "
                 f"{self.steps_per_epoch}")

    # ---------------------------------------------------------------------------------------
    # checkpoints

    def save(self, sums: _Sums | None) -> Path | None:
        """Every rank calls this (the epoch's sums are reduced over the ranks and the random
        states gathered); rank 0 writes."""
        if self.out_dir is None:
            return None
        partial = None if sums is None else self._partial(sums)
        rngs = self.dist.gather_objects(rng_state(self.generator))
        path = self.out_dir / LAST
        if self.dist.is_main:
            save_checkpoint({
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "scaler": self.scaler.state_dict(),
                "epoch": self.epoch,
                "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step,
                "partial": partial,
                # what the position counts in, and which images (a fingerprint): a resume must
                # match it (with the config's batch size, seed and schedule; the loader's order
                # depends only on (seed, epoch))
                "data": self._data_record(),
                # the config as this machine resolved it (crop side, precision actually used)
                "resolved": self._resolved(),
                "micro_batch": self.step.micro_batch,
                "rng": rngs,
                "config": self.config.as_dict(),
                "history": self.rows,
                "world_size": self.dist.world_size,
            }, path)
            _write_history(self.rows, self.out_dir)
        self.dist.barrier()
        self.checkpoint = path
        return path

    def _totals(self, sums: _Sums) -> tuple[float, int, int]:
        """``(loss, correct, images)`` summed over the ranks (a collective; synchronises)."""
        counts = torch.stack([sums.loss, sums.correct.to(sums.loss.dtype),
                              torch.full((), float(sums.images), dtype=sums.loss.dtype,
                                         device=self.device)])
        loss, correct, images = self.dist.all_reduce(counts).tolist()
        return loss, round(correct), round(images)

    def _partial(self, sums: _Sums) -> dict:
        """The epoch so far, as a mid-epoch checkpoint keeps it: the sums of **all** ranks (a
        resume adds them in once, on rank 0), rank 0's data wait and the seconds so far."""
        loss, correct, images = self._totals(sums)
        return {"loss": loss, "correct": correct, "images": images, "wait": sums.wait,
                "seconds": time.perf_counter() - sums.start}

    def _start_sums(self) -> _Sums:
        """Zero, or the checkpoint's sums for the epoch it stopped in (counted on rank 0 only,
        so that the end-of-epoch all-reduce counts them once whatever the number of ranks)."""
        partial, self.partial = self.partial or {}, None
        carry = self.dist.is_main
        acc = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        return _Sums(
            loss=torch.full((), float(partial.get("loss", 0.0)) if carry else 0.0,
                            dtype=acc, device=self.device),
            correct=torch.full((), int(partial.get("correct", 0)) if carry else 0,
                               dtype=torch.int64, device=self.device),
            images=int(partial.get("images", 0)) if carry else 0,
            wait=float(partial.get("wait", 0.0)),
            start=time.perf_counter() - float(partial.get("seconds", 0.0)))

    # ---------------------------------------------------------------------------------------
    # the loop

    def run(self) -> pd.DataFrame:
        # handing freed memory back before and after each epoch keeps a notebook that trains
        # run after run at one run's peak, not the sum of the runs' leftovers
        release_freed_memory()
        while self.epoch < self.config.epochs:
            self._train_epoch()
            release_freed_memory()
        frame = pd.DataFrame(self.rows, columns=list(HISTORY_COLUMNS))
        frame.attrs.update(
            checkpoint=None if self.checkpoint is None else str(self.checkpoint),
            device=str(self.device), precision=self.precision.name,
            world_size=self.dist.world_size, crop_size=self.crop_size,
            flops_per_image=self.flops_per_image, peak_tflops=self.peak)
        return frame

    def _batches(self):
        loader = self.train_loader
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(self.epoch)
        if isinstance(loader, UInt8Loader):  # starts at the step, reading nothing before it
            it = loader.batches(self.step_in_epoch)
        else:  # a loader of the caller's: its batches up to the step are read and dropped
            it = itertools.islice(iter(loader), self.step_in_epoch, None)
        empty = None
        for _ in range(self.step_in_epoch, self.steps_per_epoch):
            batch = next(it, None)
            if batch is None:
                if not (self.dist.enabled and self.train_arrays is not None):
                    return
                # this rank's shard ran out one step early: an empty batch keeps DDP in step
                if empty is None:
                    shape = tuple(loader.images.shape[1:])
                    empty = (torch.zeros((0, *shape), dtype=torch.uint8, device=self.device),
                             torch.zeros(0, dtype=torch.int64, device=self.device))
                batch = empty
            yield batch

    def _bar(self):
        """The epoch's tqdm bar: live in a terminal or a notebook; in a log file (stderr
        neither) it stays off, and the epoch's summary line is all that is written."""
        from tqdm.auto import tqdm

        live = self.config.progress and self.dist.is_main and live_progress(sys.stderr)
        return tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch,
                    desc=f"epoch {self.epoch + 1}/{self.config.epochs}", unit="batch",
                    disable=not live, file=sys.stderr)

    def _train_epoch(self) -> None:
        sums, bar = self._start_sums(), self._bar()
        watch = _Watch(torch.full((), -1.0, device=self.device), torch.zeros((), device=self.device))
        lr = self.schedule.lr_at(self.global_step)
        t0 = time.perf_counter()
        for images, labels in self._batches():
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            sums.wait += time.perf_counter() - t0
            lr = self._train_step(images, labels, sums, watch)
            self._after_step(sums, watch, bar, lr)
            t0 = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        train_seconds = time.perf_counter() - sums.start
        bar.close()
        self._check(watch, lr)
        self._end_epoch(sums, train_seconds, lr)

    def _scale(self, n: int) -> float | torch.Tensor:
        """What this rank's summed loss is multiplied by: ``world_size / images in the global
        batch`` (DDP averages the gradients over the ranks), ``1 / n`` in one process."""
        dist = self.dist
        if not dist.enabled:
            return 1.0 / max(n, 1)
        if self.train_arrays is not None:  # step t's global batch is order[t·B : (t+1)·B]
            global_n = min(self.config.batch_size,
                           self.train_size - self.step_in_epoch * self.config.batch_size)
            return dist.world_size / global_n
        # a loader that shards itself: count over the ranks (torch.full: no host-device sync)
        total = dist.all_reduce(torch.full((), float(n), device=self.device))
        return dist.world_size / total.clamp_min(1.0)

    def _train_step(self, images, labels, sums: _Sums, watch: _Watch) -> float:
        """One optimiser step; nothing here waits for the device. Returns its learning rate."""
        lr = self.schedule.lr_at(self.global_step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        n = len(labels)
        batch_loss, batch_correct = self.step(images, labels, self._scale(n))
        sums.loss += batch_loss
        sums.correct += batch_correct
        sums.images += n
        limit = self.config.explode_factor * max(math.log(self.step.num_classes or 2), 1.0)
        watch.see(batch_loss / max(n, 1), limit, self.global_step)
        self.global_step += 1
        self.step_in_epoch += 1
        return lr

    def _after_step(self, sums: _Sums, watch: _Watch, bar, lr: float) -> None:
        """Every ``log_every`` steps (and at checkpoints and the epoch's end): the divergence
        check and the bar's figures, the only synchronisations with the device; then a
        mid-epoch checkpoint if one is due, and the "step" callbacks."""
        config = self.config
        bar.update(1)
        last = self.step_in_epoch == self.steps_per_epoch
        every = config.checkpoint_every_steps
        save_now = bool(every) and self.global_step % every == 0 and not last
        if last or save_now or self.step_in_epoch % config.log_every == 0:
            self._check(watch, lr)
            if not bar.disable:
                seen = max(sums.images, 1)
                elapsed = max(time.perf_counter() - sums.start, 1e-9)
                bar.set_postfix(loss=f"{sums.loss.item() / seen:.3f}",
                                acc=f"{sums.correct.item() / seen:.3f}",
                                img_s=f"{sums.images / elapsed:.0f}")
        if save_now:
            self.save(sums)
        for cb in self.callbacks:
            cb("step", {"epoch": self.epoch, "step": self.global_step,
                        "step_in_epoch": self.step_in_epoch})

    def _end_epoch(self, sums: _Sums, train_seconds: float, lr: float) -> None:
        """The epoch's history row (training sums over all ranks, validation), the plateau rule,
        the checkpoint, the summary line and the "epoch" callbacks."""
        loss, correct, seen = self._totals(sums)
        row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": loss / max(seen, 1),
               "train_top1_error": 1.0 - correct / max(seen, 1)}
        row.update(self._validate())
        ips = seen / max(train_seconds, 1e-9)
        tflops = achieved_tflops(ips, self.flops_per_image)
        row.update(images=seen, images_per_s=ips,
                   data_wait_share=sums.wait / max(train_seconds, 1e-9),
                   seconds=time.perf_counter() - sums.start, tflops=tflops,
                   peak_share=None if (tflops is None or self.peak is None) else tflops / self.peak)
        watched = row["val_top1_error"] if self.val_loader is not None else row["train_top1_error"]
        if self.schedule.epoch_end(watched):
            self.say(f"epoch {self.epoch + 1}: the error stopped improving; learning rate ÷"
                     f"{1 / self.config.plateau_factor:g} → {self.schedule.lr_at(self.global_step):.3g}")
        self.rows.append(row)
        self.epoch += 1
        self.step_in_epoch = 0
        path = self.save(None)
        val = "" if self.val_loader is None else (
            f", val top-1 {row['val_top1_error']:.3f}, top-5 {row['val_top5_error']:.3f}")
        self.say(f"epoch {row['epoch']}/{self.config.epochs}: train loss {row['train_loss']:.3f}, "
                 f"top-1 {row['train_top1_error']:.3f}{val}, {ips:.0f} img/s, "
                 f"{row['seconds']:.0f} s")
        for cb in self.callbacks:
            cb("epoch", {**row, "checkpoint": None if path is None else str(path)})

    def _check(self, watch: _Watch, lr: float) -> None:
        """Stop if any rank saw a NaN/inf or exploding loss (one synchronisation)."""
        if self.dist.all_reduce(watch.step.clone(), op="max").item() < 0:
            return
        pairs = self.dist.gather_objects((watch.step.item(), watch.loss.item()))
        step, value = min((s, v) for s, v in pairs if s >= 0)
        step = int(step)
        where = f"step {step} (epoch {step // self.steps_per_epoch + 1}, batch " \
                f"{step % self.steps_per_epoch + 1} of {self.steps_per_epoch})"
        kept = (f"; the last good checkpoint is {self.checkpoint} (a lower rate cannot continue "
                "it exactly: start from its weights with resume_mismatch='weights')"
                if self.checkpoint else "")
        raise TrainingDiverged(
            f"the training loss became {value:.4g} at {where} with learning rate "
            f"{lr:.3g}: the run diverged. Try a lower learning rate, e.g. lr={lr / 10:.3g} "
            f"(or warm-up / gradient clipping){kept}")

    def _validate(self) -> dict:
        out = {"val_loss": None, "val_top1_error": None, "val_top5_error": None}
        if self.val_loader is None:
            return out
        from ..evaluate import predict, with_indices

        batches = self.val_loader
        if self.dist.enabled and isinstance(batches, UInt8Loader):
            batches = with_indices(batches, batches.indices())
        preds = predict(self.model, batches, mode="center", crop_size=self.crop_size,
                        device=self.device, precision=self.precision,
                        normalize=(self.config.mean, self.config.std),
                        channels_last=self.config.channels_last)
        picked = preds.scores[torch.arange(len(preds.labels)), preds.labels]
        out["val_loss"] = float(-picked.clamp_min(1e-12).log().mean())
        out["val_top1_error"] = preds.error(1)
        out["val_top5_error"] = preds.error(min(5, preds.predictions.shape[1]))
        return out
