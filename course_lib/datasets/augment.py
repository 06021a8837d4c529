"""Batched augmentation on the device: crops, flips, resized crops, PCA colour, normalisation.

Every function takes a whole batch ``images: (N, C, H, W)`` (uint8 or float, on any device) and
works on it at once, so a GPU is never fed one image at a time. Randomness comes from an explicit
:class:`torch.Generator` (``None`` means torch's global generator), and every random op is split
into a ``draw_*`` function that returns the parameters it drew and a deterministic op that applies
them, so a test (or a curious learner) can apply the same draws with per-sample torchvision.

Draws happen on the generator's device (a CPU generator gives the same draws whichever device the
images live on) and the parameters are then moved next to the images.

Pixel-value conventions, used everywhere here:

* ``uint8`` images hold 0–255.
* float images hold values on the **0–1 scale** (what ``torchvision.transforms.v2.functional
  .to_dtype(img, torch.float32, scale=True)`` gives); :func:`to_float` converts.
* Crops and flips keep the dtype; :func:`resized_crop` keeps it too (uint8 is rounded);
  :class:`PCAColor` and :func:`normalize` return float.

The paper's recipe (Krizhevsky et al. 2012, Sec. 4.1 and 5; FACTS.md §4.3): images rescaled so
the short side is 256 and centre-cropped to 256×256; training on random 224×224 crops and their
horizontal mirrors, "a factor of 2048" more data (32 × 32 offsets × 2 flips); PCA colour
augmentation with α ~ N(0, 0.1²); testing on ten crops (four corners and the centre, and their
mirrors) with the softmax outputs averaged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..errors import CourseValueError

# The ImageNet training-set channel statistics on the 0–1 scale, as torchvision's pretrained
# ImageNet weights use them (``torchvision.transforms._presets.ImageClassification``).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# The paper's numbers (FACTS.md §4.3): 256×256 images, 224×224 crops, PCA colour σ = 0.1.
PAPER_IMAGE_SIZE = 256
PAPER_CROP_SIZE = 224
PAPER_PCA_SIGMA = 0.1


def default_crop_size(image_side: int) -> int:
    """The crop side the paper's ratio gives for stored images of side ``image_side``:
    ``round(image_side × 224 / 256)`` (at least 1). The one place this rule lives."""
    return max(1, round(int(image_side) * PAPER_CROP_SIZE / PAPER_IMAGE_SIZE))


def paper_augmentation_factor(image_size: int = PAPER_IMAGE_SIZE, crop_size: int = PAPER_CROP_SIZE,
                              count_last_offset: bool = False) -> int:
    """How many distinct crop-and-flip images one training image gives.

    The paper's "factor of 2048" is (256 − 224)² × 2 = 32² × 2. The offsets really run from 0 to
    32 inclusive, which :func:`draw_crop_flip` (like torchvision's ``RandomCrop``) draws from:
    33² × 2 = 2,178 (``count_last_offset=True``).
    """
    positions = image_size - crop_size + (1 if count_last_offset else 0)
    return positions * positions * 2


# --------------------------------------------------------------------------------------------
# checks and small helpers


def _pair(size: int | Sequence[int], name: str = "size") -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        pair = (int(size), int(size))
    else:
        pair = tuple(int(s) for s in size)
    if len(pair) != 2 or min(pair) <= 0:
        raise CourseValueError(f"{name} must be a positive int or (height, width), got {size!r}")
    return pair  # type: ignore[return-value]


def _check_images(images: torch.Tensor, where: str) -> tuple[int, int, int, int]:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{where}: images must be a torch.Tensor (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise CourseValueError(f"{where}: images must have shape (N, C, H, W), got {tuple(images.shape)}")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise TypeError(f"{where}: images must be uint8 or floating point, got {images.dtype}")
    return tuple(images.shape)  # type: ignore[return-value]


def _check_fits(crop: tuple[int, int], image: tuple[int, int], where: str) -> None:
    if crop[0] > image[0] or crop[1] > image[1]:
        raise CourseValueError(f"{where}: crop size {crop} is larger than the images {image}")


def _gen_device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def _uniform(shape: tuple[int, ...], low: float, high: float,
             generator: torch.Generator | None) -> torch.Tensor:
    """Uniform float64 draws in [low, high) on the generator's device."""
    u = torch.rand(shape, generator=generator, device=_gen_device(generator), dtype=torch.float64)
    return low + (high - low) * u


def _draw_flips(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=_gen_device(generator)) < 0.5


def to_float(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 0–255 → float 0–1 (exactly as torchvision's ``to_dtype(..., scale=True)``).

    Float input is taken to be on the 0–1 scale already and is only cast to ``dtype``.
    ``images: (..., C, H, W)``; returns the same shape in ``dtype``.
    """
    if images.dtype == torch.uint8:
        return images.to(dtype).mul_(1.0 / 255)
    if not images.is_floating_point():
        raise TypeError(f"to_float: images must be uint8 or floating point, got {images.dtype}")
    return images.to(dtype)


def _from_float(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Back to ``dtype`` after float arithmetic; uint8 is rounded and clamped to 0–255."""
    if dtype == torch.uint8:
        return values.round_().clamp_(0, 255).to(torch.uint8)
    return values.to(dtype)


# --------------------------------------------------------------------------------------------
# random crops and horizontal flips (the paper's 224-from-256)


class CropFlip(NamedTuple):
    """Drawn crop positions and flips, each ``(N,)``: ``top``, ``left`` int64, ``flip`` bool."""

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor


def draw_crop_flip(n: int, image_size: int | Sequence[int], size: int | Sequence[int],
                   generator: torch.Generator | None) -> CropFlip:
    """Draw ``n`` crop offsets and flips (p = 0.5), uniformly, in this order: tops, lefts, flips.

    Offsets run over every position that fits, ``0 … H − h`` inclusive (as torchvision's
    ``RandomCrop``), so 224 from 256 has 33 positions per axis; see
    :func:`paper_augmentation_factor`.
    """
    (height, width), (crop_h, crop_w) = _pair(image_size, "image_size"), _pair(size)
    _check_fits((crop_h, crop_w), (height, width), "draw_crop_flip")
    device = _gen_device(generator)
    top = torch.randint(0, height - crop_h + 1, (n,), generator=generator, device=device)
    left = torch.randint(0, width - crop_w + 1, (n,), generator=generator, device=device)
    return CropFlip(top, left, _draw_flips(n, generator))


def _check_method(method: str, device: torch.device, where: str) -> str:
    if method == "auto":
        return "loop" if device.type == "cpu" else "batched"
    if method not in ("loop", "batched"):
        raise CourseValueError(f"{where}: method must be 'auto', 'batched' or 'loop', got {method!r}")
    return method


def crop_flip(images: torch.Tensor, params: CropFlip, size: int | Sequence[int],
              method: str = "auto") -> torch.Tensor:
    """Crop each image at its own offset and mirror it where ``params.flip`` says.

    ``images: (N, C, H, W)`` uint8 or float; returns ``(N, C, h, w)``, same dtype.

    ``method="batched"`` does the whole batch with one ``gather`` over the flattened pixels
    (one kernel on a GPU); ``"loop"`` copies one strided slice per image (through numpy on
    the CPU), which on a CPU is several times faster than a uint8 gather (measured: about
    10,000 against 2,000–4,000 images/s for 224 from 256 on one busy 2-core CPU). ``"auto"``
    (default) picks ``"loop"`` on the CPU and ``"batched"`` elsewhere. Both give identical
    results.
    """
    n, c, height, width = _check_images(images, "crop_flip")
    crop_h, crop_w = _pair(size)
    _check_fits((crop_h, crop_w), (height, width), "crop_flip")
    method = _check_method(method, images.device, "crop_flip")
    top, left, flip = params
    if not (top.shape == left.shape == flip.shape == (n,)):
        raise CourseValueError(f"crop_flip: params must each have shape ({n},), got "
                         f"{tuple(top.shape)}, {tuple(left.shape)}, {tuple(flip.shape)}")
    bad = (top < 0) | (top > height - crop_h) | (left < 0) | (left > width - crop_w)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise CourseValueError(f"crop_flip: image {i}: a {crop_h}×{crop_w} crop at top={int(top[i])}, "
                         f"left={int(left[i])} does not fit in {height}×{width}")
    if method == "loop":
        out = images.new_empty((n, c, crop_h, crop_w))
        # numpy views where possible: a strided copy per image with no thread-pool hand-off,
        # which stays fast even when the CPU is oversubscribed (torch's per-op parallelism
        # does not, on a busy 2-core machine)
        numpy_ok = images.device.type == "cpu" and images.dtype != torch.bfloat16
        src, dst = (images.numpy(), out.numpy()) if numpy_ok else (images, out)
        for i, (t, s, f) in enumerate(zip(top.tolist(), left.tolist(), flip.tolist(), strict=True)):
            if not numpy_ok:
                crop = images[i, :, t:t + crop_h, s:s + crop_w]
                out[i].copy_(crop.flip(-1) if f else crop)
                continue
            cols = slice(s + crop_w - 1, s - 1 if s > 0 else None, -1) if f else slice(s, s + crop_w)
            dst[i] = src[i, :, t:t + crop_h, cols]
        return out
    device = images.device
    # Parameters drawn on a CPU generator travel without a blocking copy (no stream sync).
    top, left, flip = (p.to(device, non_blocking=True) for p in (top, left, flip))
    rows = top[:, None] + torch.arange(crop_h, device=device)  # (N, h)
    cols = torch.arange(crop_w, device=device).expand(n, crop_w)  # (N, w)
    cols = left[:, None] + torch.where(flip[:, None], crop_w - 1 - cols, cols)
    index = (rows[:, :, None] * width + cols[:, None, :]).reshape(n, 1, crop_h * crop_w)
    flat = images.reshape(n, c, height * width)
    return flat.gather(2, index.expand(n, c, crop_h * crop_w)).reshape(n, c, crop_h, crop_w)


def random_crop_flip(images: torch.Tensor, size: int | Sequence[int],
                     generator: torch.Generator | None) -> torch.Tensor:
    """Random crops of ``size`` and random horizontal flips (p = 0.5), one draw per image.

    ``images: (N, C, H, W)``; returns ``(N, C, h, w)`` in the same dtype. Equals
    ``crop_flip(images, draw_crop_flip(N, (H, W), size, generator), size)``.
    """
    n, _, height, width = _check_images(images, "random_crop_flip")
    return crop_flip(images, draw_crop_flip(n, (height, width), size, generator), size)


# --------------------------------------------------------------------------------------------
# random resized crops (Inception-style "RandomResizedCrop")


# torchvision's RandomResizedCrop defaults: area fraction and aspect ratio (width / height)
RESIZED_SCALE = (0.08, 1.0)
RESIZED_RATIO = (3 / 4, 4 / 3)


class ResizedCrop(NamedTuple):
    """Drawn boxes and flips, each ``(N,)``: ``top``, ``left``, ``height``, ``width`` int64 and
    ``flip`` bool."""

    top: torch.Tensor
    left: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    flip: torch.Tensor


def draw_resized_crop(n: int, image_size: int | Sequence[int],
                      generator: torch.Generator | None) -> ResizedCrop:
    """Draw ``n`` boxes and flips the way torchvision's ``RandomResizedCrop`` (with its default
    :data:`RESIZED_SCALE` and :data:`RESIZED_RATIO`) and ``RandomHorizontalFlip`` do, for a
    whole batch.

    Per image: up to 10 candidates with area fraction ~ U(scale) and log aspect ratio
    ~ U(log ratio); box side lengths are rounded (half to even, like Python's ``round``); the first
    candidate that fits is kept and placed uniformly; if none fits, the central crop with the
    aspect ratio clamped to ``ratio`` (torchvision's fallback). Same distribution as torchvision,
    not the same random stream. Draw order: all areas, all ratios, all positions, then flips.
    """
    height, width = _pair(image_size, "image_size")
    scale, ratio, area = RESIZED_SCALE, RESIZED_RATIO, height * width
    target_area = area * _uniform((n, 10), scale[0], scale[1], generator)
    aspect = torch.exp(_uniform((n, 10), math.log(ratio[0]), math.log(ratio[1]), generator))
    w = torch.round(torch.sqrt(target_area * aspect)).long()
    h = torch.round(torch.sqrt(target_area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.long().argmax(dim=1, keepdim=True)  # first fitting candidate (0 when none fits)
    h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]

    in_ratio = width / height  # torchvision's fallback: the central crop, ratio clamped
    if in_ratio < ratio[0]:
        fb_w, fb_h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fb_h, fb_w = height, int(round(height * ratio[1]))
    else:
        fb_h, fb_w = height, width
    found = fits.any(dim=1)
    h = torch.where(found, h, torch.full_like(h, fb_h))
    w = torch.where(found, w, torch.full_like(w, fb_w))

    position = _uniform((n, 2), 0.0, 1.0, generator)
    top = (position[:, 0] * (height - h + 1)).floor().long().clamp_(max=height - h)
    left = (position[:, 1] * (width - w + 1)).floor().long().clamp_(max=width - w)
    top = torch.where(found, top, (height - h) // 2)
    left = torch.where(found, left, (width - w) // 2)
    return ResizedCrop(top, left, h, w, _draw_flips(n, generator))


def _resize_matrix(start: torch.Tensor, length: torch.Tensor, in_size: int,
                   out_size: int) -> torch.Tensor:
    """``(N, out_size, in_size)`` float64 weights that crop ``[start, start + length)`` of an
    axis of ``in_size`` pixels and resize it to ``out_size`` pixels with the triangle
    (bilinear) filter, as ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False, antialias=True)`` does: output pixel ``i`` is centred at
    ``scale·(i + 0.5)`` in the crop, ``scale = length / out_size``; when shrinking, the filter
    is widened by ``scale``; weights are normalised to sum to 1 over the
    pixels inside the crop (which also reproduces the clamping at the borders)."""
    scale = length.to(torch.float64) / out_size  # (N,)
    widen = torch.clamp(scale, min=1.0)
    center = scale[:, None] * (torch.arange(out_size, device=scale.device, dtype=torch.float64) + 0.5)
    position = torch.arange(in_size, device=scale.device)[None, :] - start[:, None]  # (N, in)
    distance = (position[:, None, :] + 0.5 - center[:, :, None]) / widen[:, None, None]
    weights = torch.clamp(1.0 - distance.abs(), min=0.0)
    inside = (position >= 0) & (position < length[:, None])
    weights = weights * inside[:, None, :]
    return weights / weights.sum(dim=2, keepdim=True)


def resized_crop(images: torch.Tensor, params: ResizedCrop, size: int | Sequence[int],
                 method: str = "auto") -> torch.Tensor:
    """Crop each image to its own box, resize it to ``size`` (bilinear) and mirror it where
    ``params.flip`` says.

    ``images: (N, C, H, W)`` uint8 or float; returns ``(N, C, h, w)`` in the same dtype (uint8
    is rounded). Matches per-sample ``torchvision.transforms.v2.functional.resized_crop(...,
    antialias=True)`` (then ``horizontal_flip``) to float rounding on float input, and to ±1 on
    uint8.

    ``method="batched"``: the whole batch is two batched matrix products, since each
    box-and-resize is separable into an ``(h, H)`` row matrix and a ``(w, W)`` column matrix
    (see :func:`_resize_matrix`), so boxes of different sizes need no per-image loop; float32
    arithmetic (float64 for float64 input); cheap on a GPU, but dense (≈ 82 MFLOP per 256→224
    image). ``"loop"``: ``torch.nn.functional.interpolate`` per image, which on a CPU is far
    faster (torch has a fixed-point uint8 kernel there; measured 800–3,000 against about 110
    images/s on one busy 2-core CPU). ``"auto"`` (default): ``"loop"`` on the CPU,
    ``"batched"`` elsewhere.
    """
    n, c, height, width = _check_images(images, "resized_crop")
    out_h, out_w = _pair(size)
    method = _check_method(method, images.device, "resized_crop")
    top, left, box_h, box_w, flip = params
    if not all(p.shape == (n,) for p in params):
        raise CourseValueError(f"resized_crop: params must each have shape ({n},)")
    bad = ((box_h <= 0) | (box_w <= 0) | (top < 0) | (left < 0)
           | (top + box_h > height) | (left + box_w > width))
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise CourseValueError(f"resized_crop: image {i}: box top={int(top[i])}, left={int(left[i])}, "
                         f"height={int(box_h[i])}, width={int(box_w[i])} does not fit in "
                         f"{height}×{width}")
    if method == "loop":
        native = images.dtype in (torch.float32, torch.float64) or (
            images.dtype == torch.uint8 and images.device.type == "cpu")
        out = images.new_empty((n, c, out_h, out_w))
        for i, (t, s, h, w, f) in enumerate(zip(*(p.tolist() for p in params), strict=True)):
            crop = images[i:i + 1, :, t:t + h, s:s + w]
            if (h, w) != (out_h, out_w):
                crop = torch.nn.functional.interpolate(
                    crop if native else crop.float(), size=(out_h, out_w), mode="bilinear",
                    align_corners=False, antialias=True)
                crop = crop if native else _from_float(crop, images.dtype)
            out[i].copy_(crop[0].flip(-1) if f else crop[0])
        return out
    device = images.device
    top, left, box_h, box_w, flip = (p.to(device, non_blocking=True) for p in params)
    compute = torch.float64 if images.dtype == torch.float64 else torch.float32
    rows = _resize_matrix(top, box_h, height, out_h).to(compute)  # (N, h, H)
    cols = _resize_matrix(left, box_w, width, out_w)  # (N, w, W)
    cols = torch.where(flip[:, None, None], cols.flip(1), cols).to(compute)
    x = images.to(compute)
    out = torch.matmul(rows[:, None], x)  # (N, C, h, W)
    out = torch.matmul(out, cols.transpose(1, 2)[:, None])  # (N, C, h, w)
    return _from_float(out, images.dtype)


def random_resized_crop(images: torch.Tensor, size: int | Sequence[int],
                        generator: torch.Generator | None) -> torch.Tensor:
    """Random resized crops and flips (p = 0.5) of a batch.

    ``images: (N, C, H, W)``; returns ``(N, C, h, w)`` in the same dtype. Equals
    ``resized_crop(images, draw_resized_crop(N, (H, W), generator), size)``.
    """
    n, _, height, width = _check_images(images, "random_resized_crop")
    return resized_crop(images, draw_resized_crop(n, (height, width), generator), size)


# --------------------------------------------------------------------------------------------
# test-time crops


def center_offsets(crop: tuple[int, int], image: tuple[int, int]) -> tuple[int, int]:
    # torchvision's rule: Python's round, so an odd margin puts the extra pixel per its parity.
    return int(round((image[0] - crop[0]) / 2.0)), int(round((image[1] - crop[1]) / 2.0))


def center_crop(images: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The central ``size`` crop of every image: ``(N, C, H, W)`` → ``(N, C, h, w)`` (a view).

    Offsets follow torchvision's ``center_crop``; a crop larger than the images is an error
    (torchvision would pad).
    """
    _, _, height, width = _check_images(images, "center_crop")
    crop = _pair(size)
    _check_fits(crop, (height, width), "center_crop")
    top, left = center_offsets(crop, (height, width))
    return images[:, :, top:top + crop[0], left:left + crop[1]]


def _corner_and_center_views(images: torch.Tensor, crop: tuple[int, int]) -> list[torch.Tensor]:
    _, _, height, width = images.shape
    top, left = center_offsets(crop, (height, width))
    bottom, right = height - crop[0], width - crop[1]
    corners = ((0, 0), (0, right), (bottom, 0), (bottom, right), (top, left))
    return [images[:, :, t:t + crop[0], s:s + crop[1]] for t, s in corners]


def ten_crop(images: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """The paper's test-time crops: the four corners and the centre of the images, then of their
    mirror images, ``(N, C, H, W)`` → ``(N, 10, C, h, w)`` in torchvision's ``ten_crop`` order
    (top-left, top-right, bottom-left, bottom-right, centre)."""
    _, _, height, width = _check_images(images, "ten_crop")
    crop = _pair(size)
    _check_fits(crop, (height, width), "ten_crop")
    views = _corner_and_center_views(images, crop) + _corner_and_center_views(images.flip(-1), crop)
    out = images.new_empty((images.shape[0], len(views), images.shape[1], *crop))
    for k, view in enumerate(views):  # one copy per view, straight into place
        out[:, k].copy_(view)
    return out


# --------------------------------------------------------------------------------------------
# normalisation


def normalize(images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(x − mean) / std`` per channel, on the 0–1 scale.

    ``images: (..., C, H, W)`` uint8 (0–255, converted with :func:`to_float`) or float (0–1);
    returns float ``dtype`` of the same shape. Same arithmetic as torchvision's
    ``normalize(to_dtype(images, dtype, scale=True), mean, std)``.
    """
    if images.ndim < 3:
        raise CourseValueError(f"normalize: images must have shape (..., C, H, W), got {tuple(images.shape)}")
    channels = images.shape[-3]
    if len(mean) != channels or len(std) != channels:
        raise CourseValueError(f"normalize: {channels} channels but mean has {len(mean)} and std {len(std)} values")
    if any(s == 0 for s in std):
        raise CourseValueError(f"normalize: std contains zero: {tuple(std)}")
    x = to_float(images, dtype)
    mean_t = torch.as_tensor(mean, dtype=dtype, device=x.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=dtype, device=x.device).view(-1, 1, 1)
    x = x.sub(mean_t) if x is images else x.sub_(mean_t)  # never modify the caller's tensor
    return x.div_(std_t)


# --------------------------------------------------------------------------------------------
# PCA colour augmentation ("fancy PCA", paper Sec. 4.1)


def _as_tensor_batch(batch, where: str) -> torch.Tensor:
    if isinstance(batch, (tuple, list)):  # (images, labels, ...) from a loader
        batch = batch[0]
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(batch)
    _check_images(batch, where)
    if batch.shape[1] != 3:
        raise CourseValueError(f"{where}: images must have 3 (RGB) channels, got {batch.shape[1]}")
    return batch


def _batches(images, batch_size: int, where: str) -> Iterable[torch.Tensor]:
    if isinstance(images, (torch.Tensor, np.ndarray)):
        images = _as_tensor_batch(images, where)
        for i in range(0, len(images), batch_size):
            yield images[i:i + batch_size]
    else:
        for batch in images:
            yield _as_tensor_batch(batch, where)


def sample_pixels(images: torch.Tensor, pixels_per_image: int | None,
                  generator: torch.Generator | None) -> torch.Tensor:
    """RGB values of pixels from every image, as float64 on the 0–1 scale: ``(M, 3)``.

    ``pixels_per_image=None`` takes every pixel (M = N·H·W); otherwise that many positions per
    image, drawn uniformly with replacement (M = N·pixels_per_image).
    """
    n, c, height, width = _check_images(images, "sample_pixels")
    flat = images.reshape(n, c, height * width)
    if pixels_per_image is not None:
        if pixels_per_image <= 0:
            raise CourseValueError(f"sample_pixels: pixels_per_image must be positive, got {pixels_per_image}")
        index = torch.randint(0, height * width, (n, 1, pixels_per_image), generator=generator,
                              device=_gen_device(generator)).to(images.device)
        flat = flat.gather(2, index.expand(n, c, pixels_per_image))
    return to_float(flat.transpose(1, 2).reshape(-1, c), torch.float64)


@dataclass(frozen=True, eq=False)
class PCAColor:
    """The paper's PCA colour augmentation: add ``Σᵢ αᵢ λᵢ pᵢ`` to every pixel of an image, one
    ``α ~ N(0, σ²)`` (3 numbers) per image per presentation (Krizhevsky et al. 2012, Sec. 4.1;
    FACTS.md §4.3, σ = 0.1).

    ``eigenvalues: (3,)`` (λ, descending) and ``eigenvectors: (3, 3)`` (column i is pᵢ) are those
    of the 3×3 covariance of RGB pixel values **on the 0–1 scale**, so λ is in (0–1 units)² and
    the shift is in 0–1 units; fitting on 0–255 values would make λ, and the shift, 65,025 and
    255 times larger. Each eigenvector's largest-magnitude component is made positive (the sign
    does not change the distribution of shifts, since α is symmetric).
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    sigma: float = PAPER_PCA_SIGMA
    n_pixels: int = 0

    @classmethod
    def fit(cls, images, sigma: float = PAPER_PCA_SIGMA, pixels_per_image: int | None = None,
            generator: torch.Generator | None = None, batch_size: int = 256) -> PCAColor:
        """Eigen-decompose the RGB covariance of training pixels.

        ``images``: a uint8 (0–255) or float (0–1) tensor or array ``(N, 3, H, W)``, or an
        iterable of such batches (or of ``(images, labels, ...)`` tuples, as a loader yields).
        Moments are accumulated batch by batch in float64 on the images' device, so the whole
        training set never has to be in memory at once; ``pixels_per_image`` subsamples (see
        :func:`sample_pixels`), which is plenty: the 3×3 covariance settles after a few
        thousand images.
        """
        total, outer, count = 0, 0, 0  # sum of pixels (3,), of their outer products (3, 3)
        for batch in _batches(images, batch_size, "PCAColor.fit"):
            pixels = sample_pixels(batch, pixels_per_image, generator)
            total, outer = total + pixels.sum(0), outer + pixels.T @ pixels
            count += len(pixels)
        if count < 2:
            raise CourseValueError("PCAColor.fit: no images were given" if count == 0 else
                                   f"PCAColor.fit: need at least 2 pixels, got {count}")
        mean = total / count
        values, vectors = torch.linalg.eigh(outer / count - torch.outer(mean, mean))  # ascending
        values, vectors = values.flip(0).clamp(min=0.0), vectors.flip(1)
        largest = vectors.abs().argmax(dim=0)
        signs = torch.sign(vectors[largest, torch.arange(3)])
        return cls(values.cpu(), (vectors * signs).cpu(), float(sigma), int(count))

    def draw(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """``α: (n, 3)`` float64, N(0, σ²), on the generator's device."""
        alpha = torch.randn((n, 3), generator=generator, device=_gen_device(generator),
                            dtype=torch.float64)
        return alpha * self.sigma

    def shift(self, alpha: torch.Tensor) -> torch.Tensor:
        """The RGB shift per image, ``Σᵢ αᵢ λᵢ pᵢ``: ``alpha (N, 3)`` → ``(N, 3)`` float64 (0–1 units)."""
        alpha = alpha.to(torch.float64)
        device = alpha.device
        values = self.eigenvalues.to(device, non_blocking=True)
        return (alpha * values) @ self.eigenvectors.to(device, non_blocking=True).T

    def apply(self, images: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Add each image's shift to all its pixels.

        ``images: (N, 3, H, W)`` uint8 (0–255) or float (0–1); returns float on the 0–1 scale:
        float32 for uint8 input, the input's dtype otherwise. Values are not clipped (the
        paper does not say it clipped; normalisation follows).
        """
        n, c, _, _ = _check_images(images, "PCAColor")
        if c != 3 or alpha.shape != (n, 3):
            raise CourseValueError(f"PCAColor: need (N, 3, H, W) images and (N, 3) alpha, got "
                             f"{tuple(images.shape)} and {tuple(alpha.shape)}")
        x = to_float(images, torch.float32 if images.dtype == torch.uint8 else images.dtype)
        return x + self.shift(alpha.to(x.device, non_blocking=True)).to(x.dtype)[:, :, None, None]

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Draw α for every image and apply: ``apply(images, draw(N, generator))``."""
        return self.apply(images, self.draw(len(images), generator))
