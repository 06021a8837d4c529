"""Checks for the exercises of notebook 04 (the data pipeline).

Each check compares the learner's function with the library's (:mod:`course_lib.datasets.augment`)
and, for the ten crops, with torchvision's per-image ``ten_crop``; each common slip gets a hint.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from ..datasets.augment import PCAColor, paper_augmentation_factor
from .core import ExerciseError, as_number, attempt, passed

# --------------------------------------------------------------------------------------------
# exercise 1: how many distinct crop-and-flip images


def check_crop_count(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(image_size, crop_size)`` returns how many distinct
    ``crop_size``-square crops, each also mirrored, a square image of side ``image_size`` gives
    (every offset from 0 to ``image_size − crop_size`` inclusive, both flips)."""
    name = "crop_count"
    for image_size, crop_size in ((256, 224), (64, 56), (32, 28), (6, 6)):
        ok, got = attempt(name, fn, image_size, crop_size)
        if not ok:
            return False
        want = paper_augmentation_factor(image_size, crop_size, count_last_offset=True)
        value = as_number(got)
        if value == want:
            continue
        gap = image_size - crop_size
        hint = ""
        if value == gap * gap * 2:
            hint = (f" That is the paper's count ({gap}² × 2): the offsets run from 0 to {gap} "
                    f"inclusive, {gap + 1} positions per axis, not {gap}.")
        elif value == (gap + 1) ** 2:
            hint = " Each crop also comes mirrored: count both flips (× 2)."
        elif value == (gap + 1) * 2:
            hint = " The crop moves along both axes: positions per axis squared."
        elif value == gap * gap:
            hint = (" Two slips: the offsets run from 0 to image_size − crop_size inclusive "
                    "(one more position per axis), and each crop also comes mirrored (× 2).")
        raise ExerciseError(f"{name}: {crop_size}×{crop_size} crops of a {image_size}×"
                            f"{image_size} image: expected {want:,}, got {got!r}.{hint}")
    return passed(name, "224 from 256 gives 33² × 2 = 2,178 distinct images; the paper "
                        "counted 32² × 2 = 2,048.")


# --------------------------------------------------------------------------------------------
# exercise 2: PCA colour augmentation from the paper's formula


def _pca_case():
    """Test images (N, 3, H, W) float32 0–1 with some pixels at 0 and 1, a fitted PCAColor
    (eigenvectors not symmetric, so rows and columns differ) and α drawn by it (σ = 0.1)."""
    g = torch.Generator().manual_seed(4)
    n, h, w = 4, 5, 6
    base = torch.rand((n, 1, h, w), generator=g)
    mix = torch.tensor([[1.0, 0.2, 0.1], [0.8, 0.5, -0.3], [0.6, 0.3, 0.4]])
    images = (0.5 * base * mix.sum(1)[None, :, None, None]
              + 0.15 * torch.rand((n, 3, h, w), generator=g)).clamp(0, 1)
    images[:, :, 0, 0] = 0.0  # pixels at the ends of the range: clipping would show
    images[:, :, 0, 1] = 1.0
    pca = PCAColor.fit(images)
    alpha = pca.draw(n, g)
    return images, pca, alpha


def _as_tensor(got):
    try:
        return torch.as_tensor(np.asarray(got) if not isinstance(got, torch.Tensor) else got)
    except (TypeError, ValueError, RuntimeError):
        return None


def check_pca_color(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(images, eigenvalues, eigenvectors, alpha)`` adds
    ``Σᵢ αᵢ λᵢ pᵢ`` to every pixel of each image.

    ``images: (N, 3, H, W)`` float32 on the 0–1 scale; ``eigenvalues: (3,)`` (λ, descending);
    ``eigenvectors: (3, 3)`` with column i = pᵢ; ``alpha: (N, 3)`` one α per image. Returns
    ``(N, 3, H, W)`` float, not clipped. Compared with :class:`~course_lib.datasets.augment
    .PCAColor` applying the same α.
    """
    name = "pca_color"
    images, pca, alpha = _pca_case()
    values, vectors = pca.eigenvalues.clone(), pca.eigenvectors.clone()
    ok, got = attempt(name, fn, images.clone(), values.clone(), vectors.clone(), alpha.clone())
    if not ok:
        return False
    want = pca.apply(images, alpha).to(torch.float64)
    shape = tuple(images.shape)
    out = _as_tensor(got)
    if out is None or tuple(out.shape) != shape:
        found = "no array" if out is None else f"shape {tuple(out.shape)}"
        hint = ""
        if out is not None and tuple(out.shape) == (len(images), 3):
            hint = " That looks like the shift alone: add it to every pixel of the images."
        raise ExerciseError(f"{name}: expected images of shape {shape}, got {found}.{hint}")
    out = out.to(torch.float64)
    x = images.to(torch.float64)

    def shift_of(a, lam, vec):  # (N, 3) per-image RGB shift Σ aᵢ lamᵢ vec[:, i]
        return (a.to(torch.float64) * lam.to(torch.float64)) @ vec.to(torch.float64).T

    def with_shift(shift):
        return x + shift[:, :, None, None]

    def close(a, b):
        return torch.allclose(a, b, rtol=0, atol=2e-5)

    if close(out, want):
        return passed(name, "Same images as course_lib's PCAColor with the same α.")
    shift = shift_of(alpha, values, vectors)
    variants = [
        (with_shift(shift_of(alpha, values.sqrt(), vectors)),
         "The formula multiplies αᵢ by λᵢ itself (the eigenvalue), not by √λᵢ."),
        (with_shift(shift_of(alpha, values, vectors.T)),
         "pᵢ is column i of `eigenvectors` (as torch.linalg.eigh returns them), not row i."),
        (with_shift(shift_of(alpha[:1].expand_as(alpha), values, vectors)),
         "Each image has its own α: image n uses alpha[n], not alpha[0] for the whole batch."),
        (with_shift(255 * shift), "Everything is on the 0–1 scale: do not multiply by 255."),
        (with_shift(pca.sigma * shift),
         f"alpha is already drawn with σ = {pca.sigma}: do not scale it by σ again."),
        (x - shift[:, :, None, None], "Add the shift (+ Σ αᵢ λᵢ pᵢ), do not subtract it."),
        (want.clamp(0, 1), "Do not clip: PCAColor leaves values outside 0–1 (the paper does "
                           "not mention clipping, and normalisation comes next)."),
    ]
    for variant, hint in variants:
        if close(out, variant):
            raise ExerciseError(f"{name}: your images differ from PCAColor's with the same α. "
                                f"{hint}")
    delta = out - x
    spread = (delta - delta[:, :, :1, :1]).abs().amax().item()
    if spread > 1e-5:
        raise ExerciseError(f"{name}: the change you made varies from pixel to pixel (by up to "
                            f"{spread:.3g}). The paper adds one shift per image, the same for all "
                            f"its pixels: α is drawn per image, not per pixel.")
    worst = (out - want).abs().amax().item()
    raise ExerciseError(f"{name}: your images differ from PCAColor's with the same α by up to "
                        f"{worst:.3g}; image 0 got the RGB shift "
                        f"{[round(v, 5) for v in delta[0, :, 0, 2].tolist()]}, expected "
                        f"{[round(v, 5) for v in shift[0].tolist()]}.")


# --------------------------------------------------------------------------------------------
# exercise 3: the ten test-time crops

VIEW_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right", "centre",
              "mirrored top-left", "mirrored top-right", "mirrored bottom-left",
              "mirrored bottom-right", "mirrored centre")


def _ten_crop_reference(images, size: int):
    """torchvision's per-image ``ten_crop``, stacked: ``(N, 10, C, size, size)``."""
    return torch.stack([torch.stack(list(F.ten_crop(img, [size, size]))) for img in images])


def check_ten_crop(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(images (N, C, H, W), size)`` returns the paper's ten
    test crops ``(N, 10, C, size, size)`` in torchvision's order: the four corners (top-left,
    top-right, bottom-left, bottom-right) and the centre, then the same five crops of the
    horizontally mirrored image. Compared with torchvision's ``ten_crop``."""
    name = "ten_crop"
    g = torch.Generator().manual_seed(10)
    # 15 − 8 = 7: the centre offset is round(3.5) = 4 (torchvision), not 7 // 2 = 3
    images = torch.randint(0, 256, (2, 3, 15, 15), generator=g, dtype=torch.uint8)
    size = 8
    ok, got = attempt(name, fn, images.clone(), size)
    if not ok:
        return False
    want = _ten_crop_reference(images, size)
    out = _as_tensor(got)
    shape = tuple(want.shape)
    if out is None or tuple(out.shape) != shape:
        found = "no array" if out is None else f"shape {tuple(out.shape)}"
        hint = ""
        if out is not None and tuple(out.shape) == (10, *shape[:1], *shape[2:]):
            hint = " Put the views in dimension 1: (N, 10, C, h, w), e.g. torch.stack(views, dim=1)."
        elif out is not None and tuple(out.shape) == (shape[0] * 10, *shape[2:]):
            hint = " Keep the views of each image together: (N, 10, C, h, w), not (N·10, C, h, w)."
        raise ExerciseError(f"{name}: for images {tuple(images.shape)} and size {size} expected "
                            f"shape {shape}, got {found}.{hint}")
    out = out.to(torch.float64)
    want_f = want.to(torch.float64)
    if torch.equal(out, want_f):
        return passed(name, "Same ten views, in the same order, as torchvision's ten_crop.")
    first_five = want_f[:, :5]
    each_mirrored = torch.cat([first_five, first_five.flip(-1)], dim=1)
    upside_down = _ten_crop_reference(images.flip(-2), size).to(torch.float64)[:, :5]
    vertical = torch.cat([first_five, upside_down], dim=1)
    floor_center = want_f.clone()
    top = (15 - size) // 2
    floor_center[:, 4] = images[:, :, top:top + size, top:top + size].to(torch.float64)
    mirrored = images.flip(-1)
    floor_center[:, 9] = mirrored[:, :, top:top + size, top:top + size].to(torch.float64)
    variants = [
        (each_mirrored, "Views 5–9 are the five crops of the mirrored image (torchvision's "
                        "order): mirroring the image swaps left and right, so view 5 is the "
                        "mirror of the top-right crop, not of the top-left one."),
        (vertical, "Mirror horizontally (flip the last dimension, width), not vertically."),
        (floor_center, f"The centre offset is round((H − h) / 2) as torchvision computes it: "
                       f"here round(3.5) = 4, while (H − h) // 2 = {top}."),
    ]
    for variant, hint in variants:
        if torch.equal(out, variant):
            raise ExerciseError(f"{name}: your views differ from torchvision's ten_crop. {hint}")
    wrong = [k for k in range(10) if not torch.equal(out[:, k], want_f[:, k])]
    matches = {k: [j for j in range(10) if torch.equal(out[:, k], want_f[:, j])] for k in wrong}
    detail = "; ".join(f"view {k} should be the {VIEW_NAMES[k]} crop"
                       + (f" but is the {VIEW_NAMES[matches[k][0]]} one" if matches[k] else "")
                       for k in wrong[:3])
    raise ExerciseError(f"{name}: {len(wrong)} of the 10 views differ from torchvision's "
                        f"ten_crop of a 15×15 image, size {size}: {detail}.")


# --------------------------------------------------------------------------------------------
# exercise 4: the mean image


def check_mean_image(fn: Callable | None) -> bool:
    """Exercise of notebook 04: ``fn(images (N, 3, S, S) uint8)`` returns the paper's mean
    image, the mean over the images of every pixel position and channel, as ``(3, S, S)``
    float on the 0–1 scale."""
    name = "mean_image"
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(40, 3, 6, 6), dtype=np.uint8)
    images[:, 0] //= 2  # channels with different means, so a per-channel mean is not flat
    ok, got = attempt(name, fn, images.copy())
    if not ok:
        return False
    want = images.astype(np.float64).mean(axis=0) / 255
    try:
        out = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got)
    except (TypeError, ValueError):
        out = None
    if out is None or out.shape != want.shape:
        found = "no array" if out is None else f"shape {out.shape}"
        hint = ""
        if out is not None and out.shape == (3,):
            hint = (" That is one mean per channel (what torchvision's normalisation uses). "
                    "The paper subtracts the mean of every pixel position: average over the "
                    "images only (axis 0).")
        elif out is not None and out.shape in ((40, 6, 6), (6, 6), (3, 6), (40, 3)):
            hint = " Average over the images only (axis 0), keeping channels and positions."
        raise ExerciseError(f"{name}: for images {images.shape} expected a mean image of shape "
                            f"{want.shape}, got {found}.{hint}")
    if not np.issubdtype(out.dtype, np.floating):
        raise ExerciseError(f"{name}: got a {out.dtype} array; the mean image must be float "
                            f"(on the 0–1 scale), not rounded to integers.")
    out = out.astype(np.float64)
    if np.allclose(out, want, rtol=0, atol=1e-6):
        return passed(name, "Matches the mean over the images of every pixel, on the 0–1 scale.")
    hint = ""
    if np.allclose(out, 255 * want, rtol=0, atol=1e-3):
        hint = " Put it on the course's 0–1 scale: divide by 255."
    elif np.allclose(out, images.astype(np.float64).mean(axis=(0, 2, 3))[:, None, None] / 255
                     * np.ones_like(want), rtol=0, atol=1e-6):
        hint = " That is the per-channel mean spread over the image: average over the images only."
    worst = np.abs(out - want).max()
    raise ExerciseError(f"{name}: differs from the mean over the images by up to {worst:.3g} "
                        f"(pixel [0, 0, 0]: expected {want[0, 0, 0]:.4f}, got "
                        f"{out[0, 0, 0]:.4f}).{hint}")
