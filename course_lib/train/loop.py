"""``fit``: the training loop every notebook and the ``train`` command use.

It knows nothing about datasets: ``train_data`` and ``val_data`` are uint8 arrays. This module
is the loop itself; what it calls lives next to it: the data (:mod:`.run_data`), one optimiser
step (:mod:`.step`), the epoch's sums and the divergence watch (:mod:`.sums`), the resume policy
(:mod:`.resume`), checkpoints (:mod:`.checkpoint`), the schedule (:mod:`.schedule`) and the
ranks (:mod:`.distributed`).

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

**Each image once per epoch under torchrun**, with the gradient the mean over the global batch,
as in one process (:meth:`.run_data.RunData.batches` and ``loss_scale`` say how).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ..device import pick_device, resolve_precision, seed_everything
from ..errors import CourseValueError
from ..memory import release_freed_memory
from ..progress import live_progress
from .checkpoint import (
    LAST,
    check_resume_state,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    restore_training_state,
    rng_state,
    save_checkpoint,
    write_history,
)
from .config import TrainConfig
from .distributed import Dist, setup
from .resume import checkpoint_to_resume, resume_decision
from .run_data import set_up_data
from .schedule import PLATEAU_FACTOR, LRSchedule, make_optimizer
from .step import make_train_step
from .sums import EXPLODE_FACTOR, EpochSums, TrainingDiverged, Watch, check_divergence
from .throughput import achieved_tflops, peak_tflops, training_flops_per_image

__all__ = ["HISTORY_COLUMNS", "STEP_COLUMNS", "TrainingDiverged", "fit"]

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error",
                   "val_top5_error", "images", "images_per_s", "data_wait_share", "seconds",
                   "tflops", "peak_share")
# one row per validation every ``val_every_steps`` steps (history.attrs["steps"])
STEP_COLUMNS = ("step", "epoch", "lr", "train_loss", "train_top1_error", "val_loss",
                "val_top1_error", "val_top5_error")


def fit(model: torch.nn.Module, train_data, val_data=None, config: TrainConfig | None = None, *,
        callbacks: Callable | Iterable[Callable] = ()) -> pd.DataFrame:
    """Train ``model`` in place; return the history, one row per epoch.

    ``train_data`` / ``val_data``: see :mod:`.run_data` (``val_data=None`` skips validation;
    the plateau rule then watches the training error). ``config``: a :class:`TrainConfig`
    (default: the paper's recipe for 90 epochs). ``callbacks``: callables ``cb(event, info)``
    called with ``event`` "step" (info: epoch, step, step_in_epoch, ``row``: the step row just
    recorded or None) and "epoch" (info: the history row and "checkpoint"); raising in one
    stops training (the last checkpoint stays).

    Returns a DataFrame with columns :data:`HISTORY_COLUMNS` (errors are fractions 0–1;
    ``images``: training images seen that epoch over all ranks; ``seconds``: training plus
    validation; ``tflops``: achieved training TFLOP/s; ``peak_share``: tflops / the device's
    peak, None where unknown). ``history.attrs`` holds ``checkpoint`` (path of the last
    checkpoint, or None), ``device``, ``precision``, ``world_size``, ``crop_size``,
    ``flops_per_image``, ``peak_tflops`` and ``steps``: a DataFrame (:data:`STEP_COLUMNS`) of the
    rows every ``config.val_every_steps`` steps (fractional ``epoch``; the epoch's running
    training means so far; validation None without val_data), empty when not asked.

    Raises :class:`TrainingDiverged`, :class:`~course_lib.train.checkpoint.CheckpointError`, or
    :class:`~course_lib.errors.CourseValueError` for bad data or config.
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
        self.data = set_up_data(train_data, val_data, config, dist, device)
        self.steps_per_epoch = self.data.steps_per_epoch
        self.crop_size = config.crop_size or self.data.default_crop()
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
        self.step_rows: list[dict] = []
        pca = self.data.pca(config.pca_color, config.seed) if config.pca_color > 0 else None
        micro_batch = self._resume()
        self.step = make_train_step(model, self.optimizer, self.scaler, self.precision, device,
                                    config, self.crop_size, self.generator, pca, dist, self.say)
        self.step.micro_batch = micro_batch or self.step.micro_batch

    def say(self, message: str) -> None:
        """Print on rank 0 without breaking a tqdm bar."""
        if message and self.dist.is_main:
            tqdm.write(message, file=sys.stderr)

    # ---------------------------------------------------------------------------------------
    # resuming (the policy is :mod:`.resume`'s) and checkpoints

    def _record(self) -> dict:
        """This run as a resume compares it: config, values as resolved here, data record."""
        return {"config": self.config.as_dict(), "data": self.data.record(),
                "resolved": {"crop_size": int(self.crop_size), "precision": self.precision.name}}

    def _resume(self) -> int | None:
        """Continue a checkpoint exactly, or from its weights, or start fresh; returns the
        checkpoint's micro-batch (None: fresh)."""
        config = self.config
        path, note = checkpoint_to_resume(config.resume, self.out_dir, config.overwrite)
        self.say(note)
        if path is None:
            return None
        payload = load_checkpoint(path)
        exact, note = resume_decision(path, payload, self._record(), config.resume_mismatch)
        if not exact:
            load_model_state(self.model, payload.get("model"), path)
            self.say(note)
            return None
        check_resume_state(payload, self.model, self.optimizer, self.steps_per_epoch, path)
        load_model_state(self.model, payload["model"], path)
        restore_training_state(payload, path, self.optimizer, self.schedule, self.scaler)
        self.epoch, self.step_in_epoch = int(payload["epoch"]), int(payload["step_in_epoch"])
        self.global_step = int(payload["global_step"])
        self.partial = payload.get("partial")
        self.rows = list(payload.get("history", []))
        self.step_rows = list(payload.get("step_history", []))
        rngs, ranks = payload["rng"], int(payload["world_size"])
        if ranks == self.dist.world_size and len(rngs) == ranks:
            restore_rng_state(rngs[self.dist.rank], self.generator, path)
        else:
            self.say(f"{path} was written by {ranks} rank(s), this run has "
                     f"{self.dist.world_size}: random states are re-seeded, not restored")
        self.checkpoint = path
        self.say(f"resumed from {path}: epoch {self.epoch + 1}, step {self.step_in_epoch} of "
                 f"{self.steps_per_epoch}")
        return payload.get("micro_batch")

    def save(self, sums: EpochSums | None) -> Path | None:
        """Every rank calls this (the epoch's sums are reduced over the ranks and the random
        states gathered); rank 0 writes ``last.pt`` and ``history.csv``."""
        if self.out_dir is None:
            return None
        partial = None if sums is None else sums.partial(self.dist)
        rngs = self.dist.gather_objects(rng_state(self.generator))
        path = self.out_dir / LAST
        if self.dist.is_main:
            save_checkpoint({
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "scaler": self.scaler.state_dict(),
                "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step, "partial": partial,
                "micro_batch": self.step.micro_batch, "rng": rngs, "history": self.rows,
                "step_history": self.step_rows, "world_size": self.dist.world_size,
                **self._record(),  # what a resume must match: config, resolved values, data
            }, path)
            write_history(self.rows, HISTORY_COLUMNS, self.out_dir)
        self.dist.barrier()
        self.checkpoint = path
        return path

    # ---------------------------------------------------------------------------------------
    # the loop

    def run(self) -> pd.DataFrame:
        # handing freed memory back before and after each epoch keeps a notebook that trains
        # run after run at one run's peak, not the sum of the runs' leftovers; the full garbage
        # collection (0.2 s) once, before training, the cheap young one after each epoch
        release_freed_memory()
        while self.epoch < self.config.epochs:
            self._train_epoch()
            release_freed_memory(full=False)
        frame = pd.DataFrame(self.rows, columns=list(HISTORY_COLUMNS))
        frame.attrs.update(
            checkpoint=None if self.checkpoint is None else str(self.checkpoint),
            device=str(self.device), precision=self.precision.name, schedule=self.config.schedule,
            world_size=self.dist.world_size, crop_size=self.crop_size,
            flops_per_image=self.flops_per_image, peak_tflops=self.peak,
            steps=pd.DataFrame(self.step_rows, columns=list(STEP_COLUMNS)))
        return frame

    def _bar(self):
        """The epoch's tqdm bar: live in a terminal or a notebook; in a log file (stderr
        neither) it stays off, and the epoch's summary line is all that is written."""
        live = self.config.progress and self.dist.is_main and live_progress(sys.stderr)
        return tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch,
                    desc=f"epoch {self.epoch + 1}/{self.config.epochs}", unit="batch",
                    disable=not live, file=sys.stderr)

    def _train_epoch(self) -> None:
        sums = EpochSums.begin(self.partial, self.dist.is_main, self.device)
        self.partial, bar, watch = None, self._bar(), Watch.fresh(self.device)
        lr = self.schedule.lr_at(self.global_step)
        t0 = time.perf_counter()
        for images, labels in self.data.batches(self.epoch, self.step_in_epoch):
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

    def _train_step(self, images, labels, sums: EpochSums, watch: Watch) -> float:
        """One optimiser step; nothing here waits for the device. Returns its learning rate."""
        lr = self.schedule.lr_at(self.global_step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        n = len(labels)
        scale = self.data.loss_scale(n, self.step_in_epoch, self.config.batch_size, self.dist)
        batch_loss, batch_correct = self.step(images, labels, scale)
        sums.loss += batch_loss
        sums.correct += batch_correct
        sums.images += n
        limit = EXPLODE_FACTOR * max(math.log(self.step.num_classes or 2), 1.0)
        watch.see(batch_loss / max(n, 1), limit, self.global_step)
        self.global_step += 1
        self.step_in_epoch += 1
        return lr

    def _after_step(self, sums: EpochSums, watch: Watch, bar, lr: float) -> None:
        """Every ``log_every`` steps (and at checkpoints and the epoch's end): the divergence
        check and the bar's figures, the only synchronisations with the device; then a
        validation and a mid-epoch checkpoint if due, and the "step" callbacks."""
        config = self.config
        bar.update(1)
        last = self.step_in_epoch == self.steps_per_epoch
        save_now = bool(config.checkpoint_every_steps) and not last and \
            self.global_step % config.checkpoint_every_steps == 0
        every = config.val_every_steps
        validate_now = bool(every) and self.global_step % every == 0
        if last or save_now or validate_now or self.step_in_epoch % config.log_every == 0:
            self._check(watch, lr)
            if not bar.disable:
                seen = max(sums.images, 1)
                elapsed = max(time.perf_counter() - sums.start, 1e-9)
                bar.set_postfix(loss=f"{sums.loss.item() / seen:.3f}",
                                acc=f"{sums.correct.item() / seen:.3f}",
                                img_s=f"{sums.images / elapsed:.0f}")
        row = None
        if validate_now:  # without validation data, the training columns alone
            loss, correct, seen = sums.totals(self.dist)
            row = {"step": self.global_step, "epoch": self.global_step / self.steps_per_epoch,
                   "lr": lr, "train_loss": loss / max(seen, 1),
                   "train_top1_error": 1.0 - correct / max(seen, 1), **self._validate()}
            self.step_rows.append(row)
        if save_now:
            self.save(sums)
        for cb in self.callbacks:
            cb("step", {"epoch": self.epoch, "step": self.global_step,
                        "step_in_epoch": self.step_in_epoch, "row": row})

    def _end_epoch(self, sums: EpochSums, train_seconds: float, lr: float) -> None:
        """The epoch's history row (training sums over all ranks, validation), the plateau rule,
        the checkpoint, the summary line and the "epoch" callbacks."""
        loss, correct, seen = sums.totals(self.dist)
        row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": loss / max(seen, 1),
               "train_top1_error": 1.0 - correct / max(seen, 1), **self._validate()}
        ips = seen / max(train_seconds, 1e-9)
        tflops = achieved_tflops(ips, self.flops_per_image)
        row.update(images=seen, images_per_s=ips,
                   data_wait_share=sums.wait / max(train_seconds, 1e-9),
                   seconds=time.perf_counter() - sums.start, tflops=tflops,
                   peak_share=None if (tflops is None or self.peak is None) else tflops / self.peak)
        watched = row["val_top1_error"] if self.data.val is not None else row["train_top1_error"]
        if self.schedule.epoch_end(watched):
            self.say(f"epoch {self.epoch + 1}: the error stopped improving; learning rate ÷"
                     f"{1 / PLATEAU_FACTOR:g} → {self.schedule.lr_at(self.global_step):.3g}")
        self.rows.append(row)
        self.epoch += 1
        self.step_in_epoch = 0
        path = self.save(None)
        val = "" if self.data.val is None else (
            f", val top-1 {row['val_top1_error']:.3f}, top-5 {row['val_top5_error']:.3f}")
        self.say(f"epoch {row['epoch']}/{self.config.epochs}: train loss {row['train_loss']:.3f}, "
                 f"top-1 {row['train_top1_error']:.3f}{val}, {ips:.0f} img/s, "
                 f"{row['seconds']:.0f} s")
        for cb in self.callbacks:
            cb("epoch", {**row, "checkpoint": None if path is None else str(path)})

    def _check(self, watch: Watch, lr: float) -> None:
        """Stop if any rank saw a NaN/inf or exploding loss (one synchronisation)."""
        check_divergence(watch, self.dist, self.steps_per_epoch, lr, self.checkpoint)

    def _validate(self) -> dict:
        return self.data.validate(self.model, self.crop_size, self.precision, self.config)
