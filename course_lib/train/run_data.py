"""What one call to ``fit`` reads: its training and validation data, set up once.

``fit`` knows nothing about datasets. ``train_data`` / ``val_data`` are arrays (``(images,
labels)`` or anything with ``.images`` and ``.labels``: ``images (N, 3, S, S) uint8``, numpy,
memmap or tensor, ``labels (N,) int``), read here with
:class:`~course_lib.datasets.loader.UInt8Loader` (sharded across ranks under torchrun, copied whole
to a CUDA device when asked or when they fit easily).

**Each image once per epoch under torchrun.** Step ``t`` of an epoch feeds the
ranks the global batch ``order[t·B : (t+1)·B]`` split round-robin, exactly the batches one
process would take with the same global batch ``B``; the last, short batch is split too (a rank
left without an image runs an empty batch so the gradient all-reduce still meets), and each
rank's loss is scaled by ``world_size / (images in the global batch)`` so the averaged gradient
is the mean over the global batch, as in one process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..datasets.augment import PCAColor, default_crop_size
from ..datasets.loader import UInt8Loader
from ..errors import CourseValueError
from ..evaluate import predict, with_indices
from .config import TrainConfig
from .distributed import Dist
from .resume import data_fingerprint


def _arrays(data, what: str) -> tuple:
    """``(images, labels)`` of ``data`` (a pair, or anything with ``.images`` and ``.labels``),
    the images checked to be uint8; anything else raises naming ``what``."""
    if isinstance(data, tuple) and len(data) == 2:
        images, labels = data
    elif hasattr(data, "images") and hasattr(data, "labels"):
        images, labels = data.images, data.labels
    else:
        raise CourseValueError(f"{what}: expected (images, labels) arrays or a split with "
                               f".images and .labels, got {type(data).__name__}")
    if getattr(images, "dtype", None) not in (np.uint8, torch.uint8):
        raise CourseValueError(f"{what}: images must be uint8 (N, 3, S, S), got dtype "
                               f"{getattr(images, 'dtype', type(images).__name__)}")
    return images, labels


def _on_device(images, device: torch.device, setting) -> object:
    """Copy ``images`` whole to a CUDA device when asked (or, "auto", when they take under a
    quarter of its free memory)."""
    if device.type != "cuda" or setting is False:
        return images
    nbytes = int(np.prod(images.shape))  # uint8: one byte each
    if setting == "auto" and nbytes > torch.cuda.mem_get_info(device)[0] // 4:
        return images
    tensor = images if isinstance(images, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(images))
    return tensor.to(device)


def _loader(arrays: tuple, batch_size: int, train: bool, config: TrainConfig, dist: Dist,
            device: torch.device) -> UInt8Loader:
    images, labels = arrays
    images = _on_device(images, device, config.data_on_device)
    return UInt8Loader(images, labels, batch_size, shuffle=train, seed=config.seed,
                       rank=dist.rank, world_size=dist.world_size, device=device)


@dataclass
class RunData:
    """The loaders of one run and what a checkpoint records about them.

    ``arrays``: the training ``(images, labels)``; ``size``: training images;
    ``fingerprint``: their :func:`~course_lib.train.resume.data_fingerprint`."""

    train: UInt8Loader
    val: UInt8Loader | None
    arrays: tuple
    size: int
    steps_per_epoch: int
    fingerprint: str
    device: torch.device
    distributed: bool

    def record(self) -> dict:
        """What a checkpoint's position (epoch, step, global step) is counted in."""
        return {"train_images": self.size, "steps_per_epoch": self.steps_per_epoch,
                "fingerprint": self.fingerprint}

    def default_crop(self) -> int:
        """224/256 of the stored side, the paper's ratio (when a config names no crop)."""
        return default_crop_size(int(self.arrays[0].shape[-1]))

    def pca(self, sigma: float, seed: int) -> PCAColor:
        """PCA colour fitted on up to 2,048 training images."""
        images = self.arrays[0]
        n = len(images)
        pick = np.sort(np.random.default_rng(seed).choice(n, min(n, 2048), replace=False))
        return PCAColor.fit(images[pick], sigma=sigma)

    def loss_scale(self, n: int, step_in_epoch: int, batch_size: int, dist: Dist) -> float:
        """What this rank's summed loss of ``n`` images is multiplied by: ``world_size / images
        in the global batch`` (DDP averages the gradients over the ranks), ``1 / n`` alone."""
        if not dist.enabled:
            return 1.0 / max(n, 1)
        # step t's global batch is order[t·B : (t+1)·B]
        return dist.world_size / min(batch_size, self.size - step_in_epoch * batch_size)

    def validate(self, model, crop_size: int, precision, config: TrainConfig) -> dict:
        """Centre-crop validation, every image once across ranks: ``val_loss``,
        ``val_top1_error``, ``val_top5_error`` (None each without validation data)."""
        out = {"val_loss": None, "val_top1_error": None, "val_top5_error": None}
        if self.val is None:
            return out
        batches = self.val
        if self.distributed:
            batches = with_indices(batches, batches.indices())
        preds = predict(model, batches, mode="center", crop_size=crop_size, device=self.device,
                        precision=precision, normalize=(config.mean, config.std),
                        channels_last=config.channels_last)
        picked = preds.scores[torch.arange(len(preds.labels)), preds.labels]
        out["val_loss"] = float(-picked.clamp_min(1e-12).log().mean())
        out["val_top1_error"] = preds.error(1)
        out["val_top5_error"] = preds.error(min(5, preds.predictions.shape[1]))
        return out

    def batches(self, epoch: int, start: int) -> Iterator:
        """The epoch's training batches from step ``start`` on, without reading the batches
        before it. Under torchrun a rank whose shard ran out one step early gets an empty batch,
        so that every rank meets the gradient all-reduce."""
        loader = self.train
        loader.set_epoch(epoch)
        it = loader.batches(start)
        empty = None
        for _ in range(start, self.steps_per_epoch):
            batch = next(it, None)
            if batch is None:
                if not self.distributed:
                    return
                if empty is None:
                    shape = tuple(loader.images.shape[1:])
                    empty = (torch.zeros((0, *shape), dtype=torch.uint8, device=self.device),
                             torch.zeros(0, dtype=torch.int64, device=self.device))
                batch = empty
            yield batch


def set_up_data(train_data, val_data, config: TrainConfig, dist: Dist,
                device: torch.device) -> RunData:
    """Loaders for ``train_data`` and ``val_data`` (None: no validation), checked."""
    arrays = _arrays(train_data, "train_data")
    size = len(arrays[1])
    if size < 1:
        raise CourseValueError("train_data holds no images")
    batch = config.batch_size // dist.world_size
    train = _loader(arrays, batch, True, config, dist, device)
    val = None if val_data is None else _loader(_arrays(val_data, "val_data"), batch, False,
                                                config, dist, device)
    return RunData(train, val, arrays, size, math.ceil(size / config.batch_size),
                   data_fingerprint(*arrays), device, dist.enabled)
