"""One optimiser step on one batch of uint8 images, as fast as the device allows.

The batch arrives on the device as uint8 (4× smaller to move than float32), is augmented there
as a whole batch (:mod:`course_lib.datasets.augment`), normalised, put in channels-last order,
and run under autocast. The summed cross-entropy is scaled so that the gradient is the mean over
the *global* batch (whatever the number of ranks, micro-batches or a short last batch), and the
step goes through the grad scaler (fp16) or straight to the optimiser.

**Out of memory.** When CUDA runs out of memory, the step halves the number of images the model
sees at once (the *micro-batch*), says so, and redoes the batch as several micro-batches whose
gradients add up: the optimiser still takes the same step with the same batch size, so the
recipe (and its learning rate) is unchanged. Under torchrun the other ranks would wait forever
in the gradient all-reduce, so there the error is raised with advice instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ..datasets import augment
from .config import TrainConfig


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype``, or a do-nothing context for fp32 (``None``)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


class TrainStep:
    """Callable: ``step(images, labels, scale) -> (loss_sum, correct)``.

    ``images: (B, 3, S, S) uint8`` and ``labels: (B,) int64``, both on ``device``; ``scale``:
    what the summed loss is multiplied by before ``backward`` (``1 / B`` in one process;
    ``world_size / global batch`` under DDP, whose gradient averaging divides by world_size).
    Returns the batch's summed loss (float32 scalar) and number of correct top-1 guesses
    (int64 scalar), both still on the device (no synchronisation).

    ``model`` is the module that holds the parameters; ``net`` what the batch is fed to (the
    same module, or it wrapped by DDP and/or ``torch.compile``).
    """

    def __init__(self, model: torch.nn.Module, net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler, autocast_dtype: torch.dtype | None,
                 device: torch.device, config: TrainConfig, crop_size: int,
                 generator: torch.Generator, pca: augment.PCAColor | None = None,
                 distributed: bool = False, notify: Callable[[str], None] = print):
        self.model, self.net, self.optimizer, self.scaler = model, net, optimizer, scaler
        self.autocast_dtype, self.device, self.config = autocast_dtype, device, config
        self.crop_size, self.generator, self.pca = crop_size, generator, pca
        self.distributed, self.notify = distributed, notify
        self.micro_batch = config.micro_batch
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.num_classes: int | None = None

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S) uint8`` → ``(B, 3, c, c)``: the config's crop/flip (uint8), then PCA
        colour if asked (float 0–1)."""
        kind, crop = self.config.augment, self.crop_size
        if kind == "crop_flip":
            images = augment.random_crop_flip(images, crop, self.generator)
        elif kind == "resized_crop":
            images = augment.random_resized_crop(images, crop, self.generator)
        elif images.shape[-1] != crop or images.shape[-2] != crop:
            images = augment.center_crop(images, crop)
        if self.pca is not None:
            images = self.pca(images, self.generator)
        return images

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, c, c)`` uint8 or float 0–1 → ``(B, 3, c, c) float32``, normalised with the
        config's mean/std and laid out in its memory format."""
        x = augment.normalize(images, self.config.mean, self.config.std)
        return x.contiguous(memory_format=self.memory_format)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, scale) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.augment(images)
        while True:
            try:
                return self._attempt(images, labels, scale)
            except torch.cuda.OutOfMemoryError as exc:
                self._shrink(exc, len(labels))

    def _attempt(self, images, labels, scale):
        self.optimizer.zero_grad(set_to_none=True)
        n = len(labels)
        size = self.micro_batch or max(n, 1)
        starts = list(range(0, n, size)) or [0]
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for i, start in enumerate(starts):
            last = i == len(starts) - 1
            sync = self.net.no_sync() if (self.distributed and not last) else nullcontext()
            x = self.prepare(images[start:start + size])
            y = labels[start:start + size]
            with sync:
                with autocast(self.device, self.autocast_dtype):
                    logits = self.net(x)
                loss = F.cross_entropy(logits.float(), y, reduction="sum")
                self.scaler.scale(loss * scale).backward()
            self.num_classes = logits.shape[-1]
            loss_sum += loss.detach()
            correct += (logits.detach().argmax(dim=1) == y).sum()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss_sum, correct

    def _shrink(self, exc: BaseException, batch: int) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        current = self.micro_batch or batch
        if self.distributed:
            raise RuntimeError(
                f"CUDA out of memory with {current} images per rank; under torchrun every rank "
                "must change together: restart with a smaller --batch-size (or a micro_batch in "
                "the config) and --resume auto") from exc
        if current <= 1:
            raise RuntimeError("CUDA out of memory even with one image at a time: the model "
                               "does not fit on this device") from exc
        self.micro_batch = current // 2
        self.notify(f"CUDA out of memory with {current} images at once: halving the batch the "
                    f"model sees to {self.micro_batch} ({math.ceil(batch / self.micro_batch)} "
                    f"accumulated micro-batches keep the optimiser's batch at {batch}); continuing")


def make_train_step(model, optimizer, scaler, precision, device, config, crop_size: int,
                    generator, pca, dist, notify) -> TrainStep:
    """The :class:`TrainStep` of one run: ``model`` wrapped in DDP under torchrun and compiled
    when ``config.compile``; ``precision`` is a resolved :class:`course_lib.device.Precision`."""
    net = model
    if dist.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=device_ids)
    if config.compile:
        net = torch.compile(net, dynamic=False)  # a short last batch compiles once more
    return TrainStep(model, net, optimizer, scaler, precision.autocast_dtype, device, config,
                     crop_size, generator, pca, distributed=dist.enabled, notify=notify)
