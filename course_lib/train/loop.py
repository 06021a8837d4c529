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

Per epoch: a tqdm bar (loss, accuracy, images/s), then validation (centre crops, through
:func:`course_lib.evaluate.predict`, every image counted once across ranks), the schedule, a
history row, and a checkpoint. What each of those guarantees is documented in
:mod:`.checkpoint`, :mod:`.step`, :mod:`.schedule` and :mod:`.distributed`.

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
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..datasets.augment import PCAColour
from ..datasets.loader import UInt8Loader
from ..device import Precision, pick_device, pick_precision, seed_everything
from .checkpoint import (
    LAST,
    CheckpointError,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import TrainConfig
from .distributed import Dist, setup
from .schedule import LRSchedule, make_optimizer
from .step import TrainStep
from .throughput import achieved_tflops, peak_tflops, training_flops_per_image

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_top1_error", "val_loss", "val_top1_error",
                   "val_top5_error", "images", "images_per_s", "data_wait_share", "seconds",
                   "tflops", "peak_share")


class TrainingDiverged(RuntimeError):
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


def resolve_precision(name: str, device: torch.device) -> Precision:
    """The config's ``precision`` field as a :class:`course_lib.device.Precision`."""
    if name == "auto":
        return pick_precision(device)
    if name == "fp32":
        return pick_precision(device, fp32=True)
    if name == "bf16":
        return Precision(torch.bfloat16, False, "bf16 was requested")
    return Precision(torch.float16, device.type == "cuda", "fp16 was requested")


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


class _Run:
    """The state of one call to :func:`fit` (kept in one object so checkpoints can take it)."""

    def __init__(self, model, train_data, val_data, config: TrainConfig, dist: Dist,
                 device: torch.device, callbacks: list):
        self.model, self.config, self.dist, self.device = model, config, dist, device
        self.callbacks = callbacks
        self.precision = resolve_precision(config.precision, device)
        if config.batch_size % dist.world_size:
            raise ValueError(f"batch_size={config.batch_size} does not split evenly over "
                             f"{dist.world_size} ranks")
        seed_everything(config.seed + dist.rank, deterministic=config.deterministic)
        self.generator = torch.Generator().manual_seed(config.seed * 1_000_003 + dist.rank)
        self.train_arrays = _arrays(train_data)
        self.train_loader = self._loader(train_data, config.batch_size // dist.world_size, True)
        self.val_loader = None if val_data is None else self._loader(
            val_data, config.val_batch_size or config.batch_size // dist.world_size, False)
        if self.train_arrays is not None:
            self.train_size = len(self.train_arrays[1])
            self.steps_per_epoch = math.ceil(self.train_size / config.batch_size)
        else:
            if not hasattr(self.train_loader, "__len__"):
                raise ValueError("train_data: a loader must have a length (batches per epoch)")
            self.train_size = None
            self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch < 1:
            raise ValueError("train_data holds no images")
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
        self.partial = None  # the current epoch's sums when resuming mid-epoch
        self.rows: list[dict] = []
        pca = self._fit_pca() if config.pca_colour > 0 else None
        self._resume()

        net = model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if config.compile:
            net = torch.compile(net, dynamic=False)  # a short last batch compiles once more
        self.step = TrainStep(model, net, self.optimizer, self.scaler,
                              self.precision.autocast_dtype, device, config, self.crop_size,
                              self.generator, pca, distributed=dist.enabled, notify=self.say)
        if self.resumed_micro_batch:
            self.step.micro_batch = self.resumed_micro_batch

    # ---------------------------------------------------------------------------------------
    # set-up helpers

    def say(self, message: str) -> None:
        """Print on rank 0 without breaking a tqdm bar."""
        if self.dist.is_main:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    def _loader(self, data, batch_size: int, train: bool):
        arrays = _arrays(data)
        if arrays is None:
            if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
                raise ValueError(f"expected (images, labels) arrays or a loader of batches, got "
                                 f"{type(data).__name__}")
            return data
        images, labels = arrays
        if getattr(images, "dtype", None) not in (np.uint8, torch.uint8):
            raise ValueError(f"images must be uint8 (N, 3, S, S), got dtype "
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

    def _resume(self) -> None:
        config, path = self.config, None
        self.resumed_micro_batch = None
        last = self.out_dir / LAST if self.out_dir else None
        if config.resume == "auto":
            if last is None:
                raise ValueError("resume='auto' needs an out_dir to look for checkpoints in")
            path = last if last.exists() else None
            if path is None:
                self.say(f"no checkpoint in {self.out_dir}: starting a fresh run")
        elif config.resume:
            path = Path(config.resume)
        elif last is not None and last.exists() and not config.overwrite:
            raise CheckpointError(
                f"{last} exists from an earlier run: pass resume='auto' (--resume auto) to continue "
                "it, overwrite=True (--overwrite) to start over, or choose another out_dir")
        if path is None:
            return
        payload = load_checkpoint(path)
        load_model_state(self.model, payload["model"], path)
        try:
            self.optimizer.load_state_dict(payload["optimizer"])
            self.schedule.load_state_dict(payload["schedule"])
            self.scaler.load_state_dict(payload["scaler"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: optimiser/schedule state does not fit: {exc}") from exc
        self.epoch, self.step_in_epoch = int(payload["epoch"]), int(payload["step_in_epoch"])
        self.global_step = int(payload["global_step"])
        self.partial = payload.get("partial")
        self.rows = list(payload.get("history", []))
        self.resumed_micro_batch = payload.get("micro_batch")
        rngs = payload["rng"]
        if len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank], self.generator)
        else:
            self.say(f"{path} was written by {len(rngs)} rank(s), this run has "
                     f"{self.dist.world_size}: random states are re-seeded, not restored")
        self.checkpoint = path
        self.say(f"resumed from {path}: epoch {self.epoch + 1}, step {self.step_in_epoch} of "
                 f"{self.steps_per_epoch}")

    # ---------------------------------------------------------------------------------------
    # checkpoints

    def save(self, sums: dict | None) -> Path | None:
        """Every rank calls this (random states are gathered); rank 0 writes."""
        if self.out_dir is None:
            return None
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
                "partial": sums,
                # where the loader stands: its order is a function of (seed, epoch) only
                "loader": {"seed": self.config.seed, "epoch": self.epoch,
                           "batches_done": self.step_in_epoch,
                           "batch_per_rank": self.config.batch_size // self.dist.world_size},
                "micro_batch": self.step.micro_batch,
                "rng": rngs,
                "config": self.config.as_dict(),
                "history": self.rows,
                "world_size": self.dist.world_size,
            }, path)
            frame = pd.DataFrame(self.rows, columns=list(HISTORY_COLUMNS))
            tmp = self.out_dir / f".history.csv.tmp-{os.getpid()}"
            frame.to_csv(tmp, index=False)
            os.replace(tmp, self.out_dir / "history.csv")
        self.dist.barrier()
        self.checkpoint = path
        return path

    # ---------------------------------------------------------------------------------------
    # the loop

    def run(self) -> pd.DataFrame:
        while self.epoch < self.config.epochs:
            self._train_epoch()
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

    def _train_epoch(self) -> None:
        config, device, dist = self.config, self.device, self.dist
        sums = dict(self.partial or {"loss": 0.0, "correct": 0, "images": 0, "wait": 0.0, "seconds": 0.0})
        self.partial = None
        acc = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        loss_sum = torch.tensor(float(sums["loss"]), device=device, dtype=acc)
        correct = torch.tensor(int(sums["correct"]), device=device, dtype=torch.int64)
        images_seen, wait = int(sums["images"]), float(sums["wait"])
        # step and loss of the first bad batch (-1: none yet), kept on the device until checked
        bad_step = torch.full((), -1.0, device=device)
        bad_loss = torch.zeros((), device=device)
        from tqdm.auto import tqdm

        bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch,
                   desc=f"epoch {self.epoch + 1}/{config.epochs}", unit="batch",
                   disable=not (config.progress and dist.is_main), file=sys.stderr)
        start = time.perf_counter() - float(sums["seconds"])
        t0 = time.perf_counter()
        lr = self.schedule.lr_at(self.global_step)
        for images, labels in self._batches():
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            wait += time.perf_counter() - t0
            lr = self.schedule.lr_at(self.global_step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            n = len(labels)
            if dist.enabled:
                total = dist.all_reduce(torch.tensor(float(n), device=device))
                scale = dist.world_size / total.clamp_min(1.0)
            else:
                scale = 1.0 / max(n, 1)
            batch_loss, batch_correct = self.step(images, labels, scale)
            loss_sum += batch_loss
            correct += batch_correct
            images_seen += n
            mean = batch_loss / max(n, 1)
            limit = config.explode_factor * max(math.log(self.step.num_classes or 2), 1.0)
            is_bad = (~torch.isfinite(mean)) | (mean > limit)
            new = is_bad & (bad_step < 0)
            bad_step = torch.where(new, float(self.global_step), bad_step)
            bad_loss = torch.where(new, mean, bad_loss)
            self.global_step += 1
            self.step_in_epoch += 1
            bar.update(1)
            last = self.step_in_epoch == self.steps_per_epoch
            every = config.checkpoint_every_steps
            save_now = bool(every) and self.global_step % every == 0 and not last
            if last or save_now or self.step_in_epoch % config.log_every == 0:
                self._check(bad_step, bad_loss, lr)
                seen = max(images_seen, 1)
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}",
                                acc=f"{correct.item() / seen:.3f}",
                                img_s=f"{images_seen / max(time.perf_counter() - start, 1e-9):.0f}")
            if save_now:
                self.save({"loss": loss_sum.item(), "correct": int(correct.item()),
                           "images": images_seen, "wait": wait,
                           "seconds": time.perf_counter() - start})
            for cb in self.callbacks:
                cb("step", {"epoch": self.epoch, "step": self.global_step,
                            "step_in_epoch": self.step_in_epoch})
            t0 = time.perf_counter()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - start
        bar.close()
        self._check(bad_step, bad_loss, lr)

        totals = dist.all_reduce(torch.stack([loss_sum, correct.to(acc),
                                              torch.tensor(float(images_seen), device=device,
                                                           dtype=acc)]))
        loss_total, correct_total, seen_total = (float(v) for v in totals.tolist())
        row = {"epoch": self.epoch + 1, "lr": lr,
               "train_loss": loss_total / max(seen_total, 1),
               "train_top1_error": 1.0 - correct_total / max(seen_total, 1)}
        row.update(self._validate())
        ips = seen_total / max(train_seconds, 1e-9)
        tflops = achieved_tflops(ips, self.flops_per_image)
        row.update(images=int(seen_total), images_per_s=ips,
                   data_wait_share=wait / max(train_seconds, 1e-9),
                   seconds=time.perf_counter() - start, tflops=tflops,
                   peak_share=None if (tflops is None or self.peak is None) else tflops / self.peak)
        watched = row["val_top1_error"] if self.val_loader is not None else row["train_top1_error"]
        if self.schedule.epoch_end(watched):
            self.say(f"epoch {self.epoch + 1}: the error stopped improving; learning rate ÷"
                     f"{1 / config.plateau_factor:g} → {self.schedule.lr_at(self.global_step):.3g}")
        self.rows.append(row)
        self.epoch += 1
        self.step_in_epoch = 0
        path = self.save(None)
        val = "" if self.val_loader is None else (
            f", val top-1 {row['val_top1_error']:.3f}, top-5 {row['val_top5_error']:.3f}")
        self.say(f"epoch {row['epoch']}: train loss {row['train_loss']:.3f}, top-1 "
                 f"{row['train_top1_error']:.3f}{val}, {ips:.0f} img/s")
        for cb in self.callbacks:
            cb("epoch", {**row, "checkpoint": None if path is None else str(path)})

    def _check(self, bad_step: torch.Tensor, bad_loss: torch.Tensor, lr: float) -> None:
        """Stop if any rank saw a NaN/inf or exploding loss (one synchronisation)."""
        if self.dist.all_reduce(bad_step.clone(), op="max").item() < 0:
            return
        pairs = self.dist.gather_objects((bad_step.item(), bad_loss.item()))
        step, value = min((s, v) for s, v in pairs if s >= 0)
        step = int(step)
        where = f"step {step} (epoch {step // self.steps_per_epoch + 1}, batch " \
                f"{step % self.steps_per_epoch + 1} of {self.steps_per_epoch})"
        kept = f"; the last good checkpoint is {self.checkpoint}" if self.checkpoint else ""
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
