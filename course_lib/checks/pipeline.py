"""Checks for the exercises of notebook 05 (the data pipeline).

Each check compares the learner's function with the library's (:mod:`course_lib.datasets.augment`)
and, for the ten crops, with torchvision's per-image ``ten_crop``; each common slip gets a hint.
The crop count runs through :func:`~.core.check_cases`; the image checks, one batch each, say
where an answer no slip explains goes wrong, so they compare it themselves (slips by
:func:`~.core.slip_hint`).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from ..datasets.augment import PCAColor, paper_augmentation_factor
from .core import ExerciseError, attempt, check_cases, passed, slip_hint

# What would give each exercise's answer away if a learner read it before solving it: no heading,
# objective, prose, code or output above the exercise may state these (tests/test_answers_kept.py
# greps the notebook and the learner's copy for them). Where the answer is code, the line a
# learner could copy: the shift Σ αᵢλᵢpᵢ as one matrix product, the mean over the images' axis.
ANSWERS: dict[str, tuple[str, ...]] = {
    "crop_count": ("2,178", "2178", "33²", "33 ** 2", "33 × 33"),
    "pca_color": ("(alpha * eigenvalues) @ eigenvectors.T", "alpha * eigenvalues @ eigenvectors.T"),
    # the running combination the learner builds: sums and counts, or chunk means by size
    "mean_image": ("images.mean(axis=0", "mean(axis=0)", "weighted by their sizes",
                   "sum(axis=0, dtype", "total / count", "total / seen"),
    # the statement names the views and their order; what the learner builds is where each box
    # starts and the mirrored half, as code or as the solution's note writes them
    "ten_crop": ("(0, width - size)", "(height - size, 0)", "(0, W − s)", "(H − s, 0)",
                 "(H − s, W − s)", "five(images.flip(-1))"),
}


def _read_images(name: str, got, expected: str, shape: tuple, shape_slips=()) -> torch.Tensor:
    """``got`` as a CPU tensor of ``shape``, else :class:`ExerciseError` ``"{name}: {expected},
    got ..."`` with the hint of the shape slip (``[(shape, hint), ...]``) it has."""
    try:
        out = torch.as_tensor(got.detach().cpu() if isinstance(got, torch.Tensor)
                              else np.array(got))
    except (TypeError, ValueError, RuntimeError):
        raise ExerciseError(f"{name}: {expected}, got no array.") from None
    if tuple(out.shape) != shape:
        hint = slip_hint(tuple(out.shape), shape_slips, operator.eq)
        raise ExerciseError(f"{name}: {expected}, got shape {tuple(out.shape)}.{hint}")
    return out


# --------------------------------------------------------------------------------------------
# exercise 1: how many distinct crop-and-flip images

CROP_SLIPS = [
    (lambda size, crop: (size - crop) ** 2 * 2,
     lambda size, crop: f" That is the paper's count ({size - crop}² × 2): the offsets run from 0 "
                        f"to {size - crop} inclusive, {size - crop + 1} positions per axis, not "
                        f"{size - crop}."),
    (lambda size, crop: (size - crop + 1) ** 2,
     " Each crop also comes mirrored: count both flips (× 2)."),
    (lambda size, crop: (size - crop + 1) * 2,
     " The crop moves along both axes: positions per axis squared."),
    (lambda size, crop: (size - crop) ** 2,
     " Two slips: the offsets run from 0 to image_size − crop_size inclusive (one more position "
     "per axis), and each crop also comes mirrored (× 2)."),
]


def check_crop_count(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(image_size, crop_size)`` returns how many distinct
    ``crop_size``-square crops, each also mirrored, a square image of side ``image_size`` gives
    (every offset from 0 to ``image_size − crop_size`` inclusive, both flips)."""
    return check_cases(
        "crop_count", fn, [(256, 224), (64, 56), (32, 28), (6, 6)], slips=CROP_SLIPS,
        reference=lambda size, crop: paper_augmentation_factor(size, crop, count_last_offset=True),
        where=lambda size, crop: f"{crop}×{crop} crops of a {size}×{size} image",
        done="224 from 256 gives 33² × 2 = 2,178 distinct images; the paper counted 32² × 2 = "
             "2,048.")


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


def _pca_slips(x, pca: PCAColor, alpha) -> list:
    """The usual slips' images from ``x: (N, 3, H, W)`` float64, with their hints."""
    def shifted(a=alpha, lam=pca.eigenvalues, vectors=pca.eigenvectors, scale=1.0):
        shift = (a.double() * lam.double()) @ vectors.double().T  # (N, 3): Σ aᵢ lamᵢ vectors[:, i]
        return x + scale * shift[:, :, None, None]

    return [
        (shifted(lam=pca.eigenvalues.sqrt()),
         " The formula multiplies αᵢ by λᵢ itself (the eigenvalue), not by √λᵢ."),
        (shifted(vectors=pca.eigenvectors.T),
         " pᵢ is column i of `eigenvectors` (as torch.linalg.eigh returns them), not row i."),
        (shifted(a=alpha[:1].expand_as(alpha)),
         " Each image has its own α: image n uses alpha[n], not alpha[0] for the whole batch."),
        (shifted(scale=255), " Everything is on the 0–1 scale: do not multiply by 255."),
        (shifted(scale=pca.sigma),
         f" alpha is already drawn with σ = {pca.sigma}: do not scale it by σ again."),
        (shifted(scale=-1), " Add the shift (+ Σ αᵢ λᵢ pᵢ), do not subtract it."),
        (shifted().clamp(0, 1), " Do not clip: PCAColor leaves values outside 0–1 (the paper "
                                "does not mention clipping, and normalisation comes next)."),
    ]


def check_pca_color(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(images, eigenvalues, eigenvectors, alpha)`` adds
    ``Σᵢ αᵢ λᵢ pᵢ`` to every pixel of each image.

    ``images: (N, 3, H, W)`` float32 on the 0–1 scale; ``eigenvalues: (3,)`` (λ, descending);
    ``eigenvectors: (3, 3)`` with column i = pᵢ; ``alpha: (N, 3)`` one α per image. Returns
    ``(N, 3, H, W)`` float, not clipped. Compared with :class:`~course_lib.datasets.augment
    .PCAColor` applying the same α.
    """
    name = "pca_color"
    images, pca, alpha = _pca_case()
    ok, got = attempt(name, fn, images, pca.eigenvalues, pca.eigenvectors, alpha)
    if not ok:
        return False
    out = _read_images(name, got, f"expected images of shape {tuple(images.shape)}",
                       tuple(images.shape), [((len(images), 3), " That looks like the shift "
                                              "alone: add it to every pixel of the images.")])
    out, x = out.to(torch.float64), images.to(torch.float64)
    want = pca.apply(images, alpha).to(torch.float64)

    close = functools.partial(torch.allclose, rtol=0, atol=2e-5)
    if close(out, want):
        return passed(name, "Same images as course_lib's PCAColor with the same α.")
    hint = slip_hint(out, _pca_slips(x, pca, alpha), close)
    if hint:
        raise ExerciseError(f"{name}: your images differ from PCAColor's with the same α.{hint}")
    delta = out - x
    spread = (delta - delta[:, :, :1, :1]).abs().amax().item()
    if spread > 1e-5:
        raise ExerciseError(f"{name}: the change you made varies from pixel to pixel (by up to "
                            f"{spread:.3g}). The paper adds one shift per image, the same for all "
                            f"its pixels: α is drawn per image, not per pixel.")
    shift = (want - x)[0, :, 0, 2]
    raise ExerciseError(f"{name}: your images differ from PCAColor's with the same α by up to "
                        f"{(out - want).abs().amax().item():.3g}; image 0 got the RGB shift "
                        f"{[round(v, 5) for v in delta[0, :, 0, 2].tolist()]}, expected "
                        f"{[round(v, 5) for v in shift.tolist()]}.")


# --------------------------------------------------------------------------------------------
# exercise 3: the ten test-time crops

VIEW_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right", "centre",
              "mirrored top-left", "mirrored top-right", "mirrored bottom-left",
              "mirrored bottom-right", "mirrored centre")


def _ten_crop_reference(images, size: int):
    """torchvision's per-image ``ten_crop``, stacked: ``(N, 10, C, size, size)``."""
    return torch.stack([torch.stack(list(F.ten_crop(img, [size, size]))) for img in images])


def _ten_crop_slips(images, size: int, want) -> list:
    """The usual slips' views ``(N, 10, C, size, size)`` of ``images``, with their hints."""
    first_five = want[:, :5]
    top = (images.shape[-1] - size) // 2
    floor_center = want.clone()
    floor_center[:, 4] = images[..., top:top + size, top:top + size]
    floor_center[:, 9] = images.flip(-1)[..., top:top + size, top:top + size]
    return [
        (torch.cat([first_five, first_five.flip(-1)], dim=1),
         " Views 5–9 are the five crops of the mirrored image (torchvision's order): mirroring "
         "the image swaps left and right, so view 5 is the mirror of the top-right crop, not of "
         "the top-left one."),
        (torch.cat([first_five, _ten_crop_reference(images.flip(-2), size)[:, :5]], dim=1),
         " Mirror horizontally (flip the last dimension, width), not vertically."),
        (floor_center, f" The centre offset is round((H − h) / 2) as torchvision computes it: "
                       f"here round(3.5) = 4, while (H − h) // 2 = {top}."),
    ]


def check_ten_crop(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(images (N, C, H, W), size)`` returns the paper's ten
    test crops ``(N, 10, C, size, size)`` in torchvision's order: the four corners (top-left,
    top-right, bottom-left, bottom-right) and the centre, then the same five crops of the
    horizontally mirrored image. Compared with torchvision's ``ten_crop``."""
    name = "ten_crop"
    g = torch.Generator().manual_seed(10)
    # 15 − 8 = 7: the centre offset is round(3.5) = 4 (torchvision), not 7 // 2 = 3
    images = torch.randint(0, 256, (2, 3, 15, 15), generator=g, dtype=torch.uint8)
    size = 8
    ok, got = attempt(name, fn, images, size)
    if not ok:
        return False
    want = _ten_crop_reference(images, size)
    n, _, c, h, w = shape = tuple(want.shape)
    out = _read_images(
        name, got, f"for images {tuple(images.shape)} and size {size} expected shape {shape}",
        shape, [((10, n, c, h, w), " Put the views in dimension 1: (N, 10, C, h, w), e.g. "
                                   "torch.stack(views, dim=1)."),
                ((n * 10, c, h, w), " Keep the views of each image together: (N, 10, C, h, w), "
                                    "not (N·10, C, h, w).")]).to(torch.float64)
    want = want.to(torch.float64)
    if torch.equal(out, want):
        return passed(name, "Same ten views, in the same order, as torchvision's ten_crop.")
    hint = slip_hint(out, _ten_crop_slips(images.to(torch.float64), size, want), torch.equal)
    if hint:
        raise ExerciseError(f"{name}: your views differ from torchvision's ten_crop.{hint}")
    wrong = [k for k in range(10) if not torch.equal(out[:, k], want[:, k])]
    matches = {k: [j for j in range(10) if torch.equal(out[:, k], want[:, j])] for k in wrong}
    detail = "; ".join(f"view {k} should be the {VIEW_NAMES[k]} crop"
                       + (f" but is the {VIEW_NAMES[matches[k][0]]} one" if matches[k] else "")
                       for k in wrong[:3])
    raise ExerciseError(f"{name}: {len(wrong)} of the 10 views differ from torchvision's "
                        f"ten_crop of a 15×15 image, size {size}: {detail}.")


# --------------------------------------------------------------------------------------------
# exercise 4: the mean image


def check_mean_image(fn: Callable | None) -> bool:
    """Exercise of notebook 05: ``fn(chunks)``, ``chunks`` an iterable (here a generator) of
    ``(n_i, 3, S, S)`` uint8 arrays of different sizes (the training set, cut as a loader reads
    it), returns the paper's mean image of all the images together, the mean of every pixel
    position and channel, as ``(3, S, S)`` float on the 0–1 scale."""
    name = "mean_image"
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(40, 3, 6, 6), dtype=np.uint8)
    images[:, 0] //= 2  # channels with different means, so a per-channel mean is not flat
    images[-8:] = 255 - images[-8:]  # the small last chunks differ, so how they weigh shows
    sizes = (16, 16, 5, 3)  # the last chunks smaller, as a loader's last batch is
    chunks = np.split(images, np.cumsum(sizes)[:-1])
    # handed over as a generator, as the notebook hands them (readable once, so len() fails);
    # a generator cannot be copied, so the check keeps copies and compares them itself
    given = [c.copy() for c in chunks]
    ok, got = attempt(name, fn, (c for c in given))
    if not ok:
        return False
    changed = next((i for i, (a, b) in enumerate(zip(given, chunks)) if not np.array_equal(a, b)),
                   None)
    if changed is not None:
        raise ExerciseError(f"{name}: your function changed chunk {changed} in place. Later cells "
                            "pass the training images themselves: compute on a float copy "
                            "(e.g. chunk.astype(np.float64)) instead.")
    want = images.astype(np.float64).mean(axis=0) / 255
    averaged = " Average over the images only, keeping channels and positions."
    out = _read_images(
        name, got, f"for chunks of {', '.join(map(str, sizes))} images of shape (3, 6, 6) "
        f"expected a mean image of shape {want.shape}", want.shape,
        [((3,), " That is one mean per channel (what torchvision's normalisation uses). The "
                "paper subtracts the mean of every pixel position: average over the images "
                "only."),
         ((len(sizes), 3, 6, 6), " That is one mean image per chunk: combine them into the one "
                                 "mean image of all the images.")]
        + [(shape, averaged) for shape in ((16, 6, 6), (6, 6), (3, 6), (16, 3))])
    if not out.is_floating_point():
        raise ExerciseError(f"{name}: got a {out.numpy().dtype} array; the mean image must be "
                            f"float (on the 0–1 scale), not rounded to integers.")
    out = out.numpy().astype(np.float64)
    if np.allclose(out, want, rtol=0, atol=1e-6):
        return passed(name, "Matches the mean of every pixel over all the chunks' images, on the "
                            "0–1 scale.")
    chunk_means = [c.astype(np.float64).mean(axis=0) / 255 for c in chunks]
    one_chunk = " That is the mean of one chunk's images; the mean image is of all of them."
    hint = slip_hint(out, [
        (np.mean(chunk_means, axis=0), f" That averages the chunk means as if every chunk held "
         f"as many images: chunks of {sizes[-1]} and {sizes[0]} images then count the same. "
         "Weight each chunk by its number of images (or add up sums and counts)."),
        (255 * want, " Put it on the course's 0–1 scale: divide by 255."),
        (np.broadcast_to(images.mean(axis=(0, 2, 3))[:, None, None] / 255, want.shape),
         " That is the per-channel mean spread over the image: average over the images only."),
        (chunk_means[0], one_chunk), (chunk_means[-1], one_chunk),
        (np.sum(chunk_means, axis=0), " That is the sum of the chunk means: divide by the "
         "number of images, and weight each chunk by its size."),
    ], functools.partial(np.allclose, rtol=1e-5, atol=1e-6))
    raise ExerciseError(f"{name}: differs from the mean over all the images by up to "
                        f"{np.abs(out - want).max():.3g} (pixel [0, 0, 0]: expected "
                        f"{want[0, 0, 0]:.4f}, got {out[0, 0, 0]:.4f}).{hint}")
