"""The exercise checks of notebook 05: right answers pass, wrong ones say what is wrong."""

import numpy as np
import pytest
import torch
from check_helpers import answers_test

from course_lib.checks.pipeline import (
    check_crop_count,
    check_mean_image,
    check_pca_color,
    check_ten_crop,
)


# --- exercise 1: distinct crops ---------------------------------------------------------------
def crop_count(image_size, crop_size):
    return (image_size - crop_size + 1) ** 2 * 2


@pytest.mark.parametrize("image_size, crop_size", [(6, 4), (7, 5), (5, 5)])
def test_crop_count_reference_equals_brute_force_enumeration(image_size, crop_size):
    # every (top, left, flip) of a random image, distinct crops counted by their bytes
    image = np.random.default_rng(0).integers(0, 256, (3, image_size, image_size), np.uint8)
    crops = set()
    for top in range(image_size):
        for left in range(image_size):
            patch = image[:, top:top + crop_size, left:left + crop_size]
            if patch.shape[1:] != (crop_size, crop_size):
                continue
            crops.add(patch.tobytes())
            crops.add(patch[:, :, ::-1].tobytes())
    assert len(crops) == crop_count(image_size, crop_size)


test_crop_count = answers_test(check_crop_count, right=[crop_count], wrong=[
    (lambda s, c: (s - c) ** 2 * 2, r"paper's count \(32² × 2\).*0 to 32 inclusive, 33 positions"),
    (lambda s, c: (s - c + 1) ** 2, "both flips"),
    (lambda s, c: (s - c + 1) * 2, "both axes"),
    (lambda s, c: (s - c) ** 2, "Two slips"),
    (lambda s, c: 2178, r"64×64 image: expected 162, got 2178\.$"),  # right once, then wrong
], ids=["papers-count", "no-flips", "one-axis", "two-slips", "constant"])


# --- exercise 2: PCA colour -------------------------------------------------------------------
def pca_color(images, eigenvalues, eigenvectors, alpha):
    # written from the paper's formula with einsum, independently of PCAColor
    shift = torch.einsum("ni,i,ci->nc", alpha.double(), eigenvalues.double(), eigenvectors.double())
    return images + shift[:, :, None, None].float()


def shifted(shift_fn):
    def answer(images, eigenvalues, eigenvectors, alpha):
        return images + shift_fn(images, eigenvalues, eigenvectors, alpha)
    return answer


def per_pixel(images, eigenvalues, eigenvectors, alpha):
    g = torch.Generator().manual_seed(0)
    n, _, h, w = images.shape
    a = 0.1 * torch.randn((n, h, w, 3), generator=g, dtype=torch.float64)
    shift = (a * eigenvalues) @ eigenvectors.T  # (N, H, W, 3): a new α for every pixel
    return images + shift.permute(0, 3, 1, 2).float()


test_pca_color = answers_test(check_pca_color, right=[
    pca_color, lambda x, lam, p, a: pca_color(x, lam, p, a).numpy().astype(np.float64),
], wrong=[
    (shifted(lambda x, lam, p, a: ((a * lam.sqrt()) @ p.T)[:, :, None, None]), "not by √λ"),
    (shifted(lambda x, lam, p, a: ((a * lam) @ p)[:, :, None, None]), "column i"),
    (shifted(lambda x, lam, p, a: ((a[:1] * lam) @ p.T)[:, :, None, None]), "alpha\\[n\\]"),
    (shifted(lambda x, lam, p, a: 255 * ((a * lam) @ p.T)[:, :, None, None]), "255"),
    (shifted(lambda x, lam, p, a: 0.1 * ((a * lam) @ p.T)[:, :, None, None]), "σ again"),
    (shifted(lambda x, lam, p, a: -((a * lam) @ p.T)[:, :, None, None]), "do not subtract"),
    (lambda x, lam, p, a: pca_color(x, lam, p, a).clamp(0, 1), "Do not clip"),
    (per_pixel, "per image, not per pixel"),
    (lambda x, lam, p, a: (a * lam) @ p.T, "shift alone"),
    (lambda x, lam, p, a: x, r"differ from .* by up to .*expected \["),
], ids=["sqrt-eigenvalues", "rows", "one-alpha", "times-255", "sigma-twice", "subtracted",
        "clipped", "per-pixel", "shift-alone", "unchanged"])


# --- exercise 3: ten crops --------------------------------------------------------------------
def five(images, size):
    h, w = images.shape[-2:]
    top, left = int(round((h - size) / 2)), int(round((w - size) / 2))
    boxes = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (top, left)]
    return [images[..., t:t + size, s:s + size] for t, s in boxes]


def ten_crop(images, size):
    return torch.stack(five(images, size) + five(images.flip(-1), size), dim=1)


def floor_center(images, size):
    views = five(images, size) + five(images.flip(-1), size)
    top = (images.shape[-1] - size) // 2
    views[4] = images[..., top:top + size, top:top + size]
    views[9] = images.flip(-1)[..., top:top + size, top:top + size]
    return torch.stack(views, dim=1)


def swapped_corners(images, size):
    out = ten_crop(images, size)
    return out[:, [1, 0, 2, 3, 4, 5, 6, 7, 8, 9]]


test_ten_crop = answers_test(check_ten_crop, right=[
    ten_crop, lambda x, s: ten_crop(x, s).float(),  # any dtype, same values
], wrong=[
    (lambda x, s: torch.stack(five(x, s) + [v.flip(-1) for v in five(x, s)], dim=1),
     "view 5 is the mirror of the top-right crop"),
    (lambda x, s: torch.stack(five(x, s) + five(x.flip(-2), s), dim=1), "not vertically"),
    (floor_center, r"round\(3.5\) = 4, while \(H − h\) // 2 = 3"),
    (lambda x, s: torch.stack(five(x, s) + five(x.flip(-1), s), dim=0), "dimension 1"),
    (lambda x, s: torch.cat(five(x, s) + five(x.flip(-1), s), dim=0), r"not \(N·10, C, h, w\)"),
    (swapped_corners, "view 0 should be the top-left crop but is the top-right one"),
], ids=["crops-mirrored", "vertical", "floor-centre", "views-first", "views-flattened",
        "swapped-corners"])


def test_ten_crop_reference_is_torchvision():
    from course_lib.checks.pipeline import _ten_crop_reference
    from course_lib.datasets.augment import ten_crop as library_ten_crop

    images = torch.randint(0, 256, (3, 3, 15, 17), dtype=torch.uint8)
    assert torch.equal(_ten_crop_reference(images, 8), library_ten_crop(images, 8))


# --- exercise 4: the mean image, from chunks -------------------------------------------------
def mean_image(chunks):
    total, n = None, 0
    for chunk in chunks:
        s = chunk.astype(np.float64).sum(axis=0)
        total, n = (s if total is None else total + s), n + len(chunk)
    return total / n / 255


def mean_image_torch(chunks):
    parts = [(torch.from_numpy(c).double().mean(0), len(c)) for c in chunks]
    return sum(m * k for m, k in parts) / sum(k for _, k in parts) / 255


def _chunk_means(chunks):
    return [c.astype(np.float64).mean(axis=0) / 255 for c in chunks]


def changes_its_chunks(chunks):
    chunks = list(chunks)
    for c in chunks:
        c //= 2
    return mean_image(chunks) * 2


test_mean_image = answers_test(check_mean_image, right=[mean_image, mean_image_torch], wrong=[
    # each chunk's mean counted once, whatever its size
    (lambda ch: np.mean(_chunk_means(ch), axis=0), "as if every chunk held as many images"),
    (lambda ch: np.stack(_chunk_means(ch)), "one mean image per chunk"),
    (lambda ch: np.concatenate(list(ch)).mean(axis=(0, 2, 3)) / 255, "one mean per channel"),
    (lambda ch: next(iter(ch)).mean(axis=1) / 255, "images only"),
    (lambda ch: 255 * mean_image(ch), "divide by 255"),
    (lambda ch: (mean_image(ch)).round().astype(np.uint8), "must be float"),
    (lambda ch: _chunk_means(ch)[0], "one chunk's images"),
    (lambda ch: _chunk_means(ch)[-1], "one chunk's images"),
    (lambda ch: np.sum(_chunk_means(ch), axis=0), "sum of the chunk means"),
    (lambda ch: mean_image(ch) + 0.01, r"pixel \[0, 0, 0\]: expected"),
    (changes_its_chunks, "changed chunk 0 in place"),
], ids=["unweighted", "per-chunk", "per-channel", "first-chunk-axis", "times-255", "rounded",
        "first-chunk", "last-chunk", "sum", "off", "in-place"])
