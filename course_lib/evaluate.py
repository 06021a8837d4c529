"""Stream a model (or an ensemble) over batches and return softmax scores, top-5 guesses and errors.

:func:`predict` knows nothing about datasets: it takes a model and any iterable of batches
``(images (B, 3, H, W) uint8, labels (B,))``, optionally with a third element ``indices (B,)``
giving each image's position in the dataset. Two ways to look at an image:

* ``"center"``: the central ``crop_size`` crop;
* ``"tencrop"``: the paper's test-time augmentation, the four corner crops and the centre crop
  and their mirror images, with the **softmax outputs** averaged over the ten (Krizhevsky et al.
  2012, Sec. 4.1; FACTS.md §4.3).

:func:`predict_ensemble` averages the softmax outputs of several models, as the paper's 5- and
7-CNN entries did (FACTS.md §4.4).

**Every image counted exactly once.** Results are keyed by dataset index and de-duplicated, and
come back sorted by index. Without indices, an image's index is its position in the stream. Under
``torchrun`` (``torch.distributed`` initialised), each rank scores the batches it is given (its
shard), and the results of all ranks are gathered (every rank gets them all): batches must then
carry indices, so that the padding a ``DistributedSampler`` adds to even out the shards is
counted once; :func:`with_indices` attaches them to a loader that does not yield them (e.g.
``with_indices(loader, loader.indices())`` for :class:`course_lib.datasets.loader.UInt8Loader`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from . import collectives
from .datasets import augment
from .datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from .device import pick_device, resolve_precision
from .errors import CourseValueError
from .progress import live_progress
from .scoring import topk_error
from .scoring.metrics import MAX_GUESSES  # ILSVRC: up to five guesses per image

MODES = ("center", "tencrop")


@dataclass(frozen=True)
class Predictions:
    """What :func:`predict` returns (all on the CPU, sorted by dataset index).

    ``scores: (N, C) float32`` softmax probabilities (averaged over crops and models);
    ``labels: (N,) int64``; ``indices: (N,) int64`` dataset indices; ``predictions:
    (N, min(5, C)) int64`` the classes with the highest scores, best first (``torch.topk``).
    """

    scores: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    predictions: torch.Tensor
    mode: str
    n_models: int = 1

    def error(self, k: int) -> float:
        """Top-``k`` error, ``k`` ≤ 5 (``course_lib.scoring.topk_error`` on :attr:`predictions`;
        with fewer than ``k`` classes every class is a guess). For larger ``k`` use
        ``scoring.topk_error(result.scores, result.labels, k)``."""
        if not 1 <= k <= MAX_GUESSES:
            raise CourseValueError(f"k={k}: predictions hold the top {MAX_GUESSES} guesses; for other k use "
                             "course_lib.scoring.topk_error(result.scores, result.labels, k)")
        return topk_error(self.predictions, self.labels, k)


def with_indices(batches: Iterable, indices) -> Iterable:
    """Attach dataset indices to batches that do not carry them.

    ``indices``: ``(M,)`` the dataset index of every image in the order ``batches`` yields them
    (M = total images); yields ``(images, labels, indices_of_this_batch)``. Raises if the counts
    do not add up.
    """
    indices = (indices.detach().cpu() if isinstance(indices, torch.Tensor)
               else torch.as_tensor(np.asarray(indices))).to(torch.int64)
    start = 0
    for batch in batches:
        images, labels = batch[0], batch[1]
        stop = start + len(labels)
        if stop > len(indices):
            raise CourseValueError(f"with_indices: the batches hold more than the {len(indices)} "
                             "indices given")
        yield images, labels, indices[start:stop]
        start = stop
    if start != len(indices):
        raise CourseValueError(f"with_indices: {len(indices)} indices given but the batches held {start} images")


def _views(images: torch.Tensor, mode: str, crop_size) -> torch.Tensor:
    """``(B, V, 3, h, w)``: the V views of each image that the mode scores."""
    if mode == "center":
        return augment.center_crop(images, crop_size)[:, None]
    return augment.ten_crop(images, crop_size)


def _unpack(batch, position: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise CourseValueError(f"batch {position}: expected (images, labels) or (images, labels, "
                         f"indices), got {type(batch).__name__}")
    images, labels = batch[0], torch.as_tensor(batch[1])
    indices = None if len(batch) == 2 else torch.as_tensor(batch[2])
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise CourseValueError(f"batch {position}: images must be a (B, C, H, W) tensor, got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if labels.shape != (len(images),) or (indices is not None and indices.shape != labels.shape):
        raise CourseValueError(f"batch {position}: {len(images)} images but labels of shape "
                         f"{tuple(labels.shape)}"
                         + ("" if indices is None else f" and indices of shape {tuple(indices.shape)}"))
    return images, labels, indices


def _deduplicate(scores: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor):
    """Sort by dataset index and keep the first copy of each (padding counts once)."""
    order = torch.argsort(indices, stable=True)
    scores, labels, indices = scores[order], labels[order], indices[order]
    first = torch.ones(len(indices), dtype=torch.bool)
    first[1:] = indices[1:] != indices[:-1]
    kept = first.nonzero()[:, 0]
    first_label = labels[kept][torch.cumsum(first.long(), 0) - 1]  # label of each row's first copy
    clash = (labels != first_label).nonzero()
    if len(clash):
        i = int(clash[0, 0])
        raise CourseValueError(f"dataset index {int(indices[i])} appears with two labels: "
                         f"{int(first_label[i])} and {int(labels[i])}")
    return scores[kept], labels[kept], indices[kept]


def predict_ensemble(models: Sequence[torch.nn.Module], batches: Iterable, mode: str = "center",
                     crop_size: int | Sequence[int] | None = None,
                     device: torch.device | str | None = None, precision=None,
                     normalize=(IMAGENET_MEAN, IMAGENET_STD), channels_last: bool = False,
                     progress: bool = False) -> Predictions:
    """Average the softmax outputs of ``models`` (and of the views ``mode`` takes) per image.

    ``batches``: iterable of ``(images (B, 3, H, W), labels (B,))`` or ``(images, labels,
    indices (B,))``; images uint8 0–255 (or float 0–1). ``crop_size``: int or (h, w), needed by
    both modes. ``device``: default :func:`course_lib.device.pick_device`;
    the models are moved there (``nn.Module.to``, in place) and put in eval mode for the call
    (their training flag is restored afterwards). ``precision``: a
    :class:`course_lib.device.Precision`, a dtype or ``"auto"``/``"fp32"``/``"bf16"``/``"fp16"``
    (:func:`course_lib.device.resolve_precision`); default ``"auto"`` (autocast; softmax is
    always taken in float32).
    ``normalize``: ``(mean, std)`` on the 0–1 scale (default ImageNet's), applied to the
    cropped batch. ``channels_last``: feed the models
    NHWC tensors (and convert the models, in place).
    """
    if mode not in MODES:
        raise CourseValueError(f"mode must be one of {MODES}, got {mode!r}")
    if crop_size is None:
        raise CourseValueError(f"mode={mode!r} needs a crop_size (e.g. 224)")
    models = list(models)
    if not models:
        raise CourseValueError("predict_ensemble: no models given")
    device = pick_device() if device is None else torch.device(device)
    scorer = _Scorer(models, mode, crop_size, device,
                     resolve_precision(precision, device).autocast_dtype,
                     lambda images: augment.normalize(images, *normalize),
                     torch.channels_last if channels_last else torch.preserve_format)
    if progress:
        # redrawn per batch only where someone watches it (not into a log file)
        batches = tqdm(batches, desc=f"predict ({mode})", unit="batch", disable=not live_progress())
    training = [m.training for m in models]
    for m in models:
        m.to(device=device, memory_format=scorer.memory_format).eval()
    try:
        with torch.inference_mode():
            scores, labels, indices, has_indices = _score_all(scorer, batches)
    finally:
        for m, was_training in zip(models, training, strict=True):
            m.train(was_training)
    if collectives.initialized():
        if not collectives.all_ranks_agree(has_indices is not False):  # all raise, none hangs
            raise CourseValueError("under torch.distributed, batches must carry dataset indices "
                             "(images, labels, indices) so that every image is counted once; "
                             "see course_lib.evaluate.with_indices")
        scores, labels, indices = (collectives.gather_rows(t) for t in (scores, labels, indices))
    if len(labels) == 0:
        raise CourseValueError("predict: the batches held no images")
    scores, labels, indices = _deduplicate(scores, labels, indices)
    top = torch.topk(scores, min(MAX_GUESSES, scores.shape[1]), dim=1).indices
    return Predictions(scores, labels, indices, top, mode, len(models))


@dataclass(frozen=True)
class _Scorer:
    """What :func:`predict_ensemble` applies to each batch (the models already on ``device``)."""

    models: list
    mode: str
    crop_size: object
    device: torch.device
    autocast_dtype: torch.dtype | None
    prepare: Callable[[torch.Tensor], torch.Tensor]
    memory_format: torch.memory_format

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``images: (B, 3, H, W)`` → ``(B, C) float32`` softmax averaged over views and models."""
        views = _views(images.to(self.device, non_blocking=True), self.mode, self.crop_size)
        b, v = views.shape[:2]
        x = self.prepare(views.reshape(b * v, *views.shape[2:]))
        x = x.contiguous(memory_format=self.memory_format)
        probs = 0
        for number, m in enumerate(self.models):
            with (torch.autocast(self.device.type, dtype=self.autocast_dtype)
                  if self.autocast_dtype is not None else nullcontext()):
                logits = m(x)
            if logits.ndim != 2 or logits.shape[0] != b * v or (
                    number and logits.shape[1] != probs.shape[1]):
                raise CourseValueError(f"model {number} returned shape {tuple(logits.shape)}, "
                                 f"expected ({b * v}, C) logits"
                                 + (f" with C = {probs.shape[1]} as model 0" if number else ""))
            probs = probs + logits.float().softmax(dim=1).reshape(b, v, -1).mean(dim=1)
        return probs / len(self.models)


def _score_all(scorer: _Scorer, batches: Iterable):
    """Score every batch: ``(scores (N, C), labels (N,), indices (N,), has_indices)`` on the CPU
    (``has_indices``: None when there was no batch)."""
    all_scores, all_labels, all_indices = [], [], []
    seen, has_indices = 0, None
    for position, batch in enumerate(batches):
        images, labels, indices = _unpack(batch, position)
        if has_indices is None:
            has_indices = indices is not None
        elif has_indices != (indices is not None):
            raise CourseValueError(f"batch {position}: some batches carry indices and some do not")
        if indices is None:
            indices = torch.arange(seen, seen + len(labels))
        seen += len(labels)
        all_scores.append(scorer(images))  # stays on the device: no synchronisation per batch
        all_labels.append(labels.to(torch.int64))
        all_indices.append(indices.to(torch.int64))
    scores = torch.cat([s.cpu() for s in all_scores]) if all_scores else torch.zeros(0, 0)
    labels = torch.cat([t.cpu() for t in all_labels]) if all_labels else torch.zeros(0, dtype=torch.int64)
    indices = torch.cat([t.cpu() for t in all_indices]) if all_indices else torch.zeros(0, dtype=torch.int64)
    return scores, labels, indices, has_indices


def predict(model: torch.nn.Module, batches: Iterable, mode: str = "center",
            crop_size: int | Sequence[int] | None = None, device: torch.device | str | None = None,
            precision=None, normalize=(IMAGENET_MEAN, IMAGENET_STD),
            channels_last: bool = False, progress: bool = False) -> Predictions:
    """Softmax scores of one model on every image of ``batches``; see :func:`predict_ensemble`
    for the arguments. Returns :class:`Predictions` (``.scores``, ``.labels``,
    ``.predictions``, ``.error(k)``)."""
    return predict_ensemble([model], batches, mode, crop_size, device, precision, normalize,
                            channels_last, progress)
