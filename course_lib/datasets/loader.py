"""Batches of uint8 images straight from an array (a cache's memmap or a tensor on the device).

No worker processes and no per-sample Python: each batch is one fancy-indexing copy out of the
array (rows read in increasing order, which a memory map likes), pinned when the device is CUDA
and moved with ``non_blocking=True``. Augmentation then runs batched on the device
(:mod:`course_lib.datasets.augment`).

**Order.** With ``shuffle=True`` the order of an epoch is a permutation drawn from
``numpy.random.default_rng([seed, epoch])``: the same seed and epoch give the same order on every
machine and rank, and :meth:`UInt8Loader.set_epoch` changes it (call it at the start of every
epoch, as with ``DistributedSampler``; the loader never advances the epoch by itself).
:meth:`UInt8Loader.batches` starts an epoch at a given batch, reading nothing before it.

**Sharding across ranks** (torchrun): rank ``r`` of ``world_size`` takes positions
``r, r + world_size, r + 2 world_size, ...`` of the epoch's order. Every image is seen exactly
once per epoch across all ranks — nothing is padded, repeated or dropped, so when ``N`` is not a
multiple of ``world_size`` the first ``N % world_size`` ranks hold one image more, and the number
of batches per rank can differ by one. Evaluation wants exactly this (gather the results with
their sizes); the training loop gives a rank that ran out an empty batch, so that every rank meets
the gradient all-reduce (:meth:`course_lib.train.run_data.RunData.batches`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CourseValueError


class UInt8Loader:
    """Iterate over ``(images (B, 3, H, W) uint8, labels (B,) int64)`` tensor batches.

    ``images``: ``(N, 3, H, W) uint8`` numpy array / memmap or torch tensor (a tensor already
    on ``device`` is indexed there, no copy to the host). ``labels``: ``(N,)`` integers.
    ``device``: where batches go (default: stay on the CPU); batches are pinned first exactly
    when ``device`` is CUDA and the images live on the host.
    """

    def __init__(self, images, labels, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, device=None):
        n = len(images)
        if len(labels) != n:
            raise CourseValueError(f"{n} images but {len(labels)} labels")
        if batch_size < 1:
            raise CourseValueError(f"batch_size={batch_size}: must be at least 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise CourseValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        if tuple(images.shape[1:2]) != (3,) or len(images.shape) != 4:
            raise CourseValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        self.images = images
        self.labels = (labels.to(torch.int64) if isinstance(labels, torch.Tensor)
                       else torch.as_tensor(np.asarray(labels, dtype=np.int64)))
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.device = None if device is None else torch.device(device)
        on_host = not isinstance(images, torch.Tensor) or images.device.type == "cpu"
        self.pin_memory = (on_host and self.device is not None and self.device.type == "cuda"
                           and torch.cuda.is_available())
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration follows."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """``(N,) int64``: the whole epoch's order before sharding."""
        n = len(self.images)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n).astype(np.int64)

    def indices(self) -> np.ndarray:
        """The indices this rank reads this epoch, in order (see the module docstring)."""
        return self.order()[self.rank::self.world_size]

    def __len__(self) -> int:
        """Batches this rank yields per epoch."""
        return -(-len(self.indices()) // self.batch_size)

    def _take(self, idx: np.ndarray) -> torch.Tensor:
        if isinstance(self.images, torch.Tensor):
            index = torch.from_numpy(idx).to(self.images.device)
            return self.images.index_select(0, index)
        # read rows in increasing order (friendly to a memmap), then restore the batch order
        sorter = np.argsort(idx, kind="stable")
        block = np.empty((len(idx), *self.images.shape[1:]), dtype=np.uint8)
        block[sorter] = self.images[idx[sorter]]
        return torch.from_numpy(block)

    def __iter__(self):
        return self.batches()

    def batches(self, start: int = 0):
        """The epoch's batches from batch ``start`` on (0: all of them). A resumed run starts
        mid-epoch here without reading the batches before ``start``."""
        if start < 0:
            raise CourseValueError(f"start={start}: must be at least 0")
        idx = self.indices()
        for first in range(start * self.batch_size, len(idx), self.batch_size):
            batch = idx[first:first + self.batch_size]
            images = self._take(batch)
            labels = self.labels[torch.from_numpy(batch).to(self.labels.device)]
            if self.pin_memory:
                images, labels = images.pin_memory(), labels.pin_memory()
            if self.device is not None:
                images = images.to(self.device, non_blocking=True)
                labels = labels.to(self.device, non_blocking=True)
            yield images, labels
