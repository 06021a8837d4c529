"""Batched augmentation against per-sample torchvision, numpy and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms._presets import ImageClassification
from torchvision.transforms.v2 import functional as TF

from course_lib.bench import BENCHMARKS, BenchResult
from course_lib.bench import augment as bench
from course_lib.datasets import augment as A

N, H, W = 6, 37, 45  # odd, non-square sizes exercise the rounding rules


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randint(0, 256, (N, 3, H, W), dtype=torch.uint8, generator=gen(123))


def as_dtype(images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return images if dtype == torch.uint8 else images.to(dtype) / 255


def maybe_flip(image: torch.Tensor, flip) -> torch.Tensor:
    return TF.horizontal_flip(image) if bool(flip) else image


# ---------------------------------------------------------------- crops and flips


def test_paper_factor_2048_and_all_offsets():
    # FACTS.md §4.3: "a factor of 2048" = 32² × 2; counting offsets 0…32 gives 33² × 2 = 2,178.
    assert A.paper_augmentation_factor() == 2048
    assert A.paper_augmentation_factor(count_last_offset=True) == 2178
    p = A.draw_crop_flip(60_000, 256, 224, gen(1))
    assert int(p.top.min()) == 0 and int(p.top.max()) == 32
    assert int(p.left.min()) == 0 and int(p.left.max()) == 32
    distinct = {(t, s, f) for t, s, f in zip(p.top.tolist(), p.left.tolist(), p.flip.tolist(), strict=True)}
    assert len(distinct) == 2178
    assert 0.49 < p.flip.double().mean() < 0.51


@pytest.mark.parametrize("method", ["batched", "loop"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bfloat16])
def test_crop_flip_equals_torchvision(images, method, dtype):
    x = as_dtype(images, dtype)
    size = (20, 31)
    p = A.draw_crop_flip(N, (H, W), size, gen(2))
    assert p.flip.any() and not p.flip.all()  # both branches are exercised
    out = A.crop_flip(x, p, size, method=method)
    ref = torch.stack([maybe_flip(TF.crop(x[i], int(p.top[i]), int(p.left[i]), *size), p.flip[i])
                       for i in range(N)])
    assert out.dtype == dtype and out.shape == (N, 3, 20, 31)
    assert torch.equal(out, ref)


def test_random_crop_flip_is_draw_then_apply_and_reproducible(images):
    out = A.random_crop_flip(images, 24, gen(5))
    p = A.draw_crop_flip(N, (H, W), 24, gen(5))
    assert torch.equal(out, A.crop_flip(images, p, 24))
    assert torch.equal(out, A.random_crop_flip(images, 24, gen(5)))
    assert not torch.equal(out, A.random_crop_flip(images, 24, gen(6)))


def test_crop_flip_channels_last_and_views(images):
    p = A.draw_crop_flip(N, (H, W), 16, gen(3))
    ref = A.crop_flip(images, p, 16, method="loop")
    cl = images.contiguous(memory_format=torch.channels_last)
    assert torch.equal(A.crop_flip(cl, p, 16, method="batched"), ref)
    assert torch.equal(A.crop_flip(cl, p, 16, method="loop"), ref)


def test_crop_flip_rejects_bad_input(images):
    with pytest.raises(ValueError, match="larger than the images"):
        A.random_crop_flip(images, 40, gen())
    p = A.draw_crop_flip(N, (H, W), 16, gen())
    bad = A.CropFlip(p.top, p.left.clone(), p.flip)
    bad.left[4] = W - 15  # one column too far right
    with pytest.raises(ValueError, match="image 4"):
        A.crop_flip(images, bad, 16)
    with pytest.raises(ValueError, match="shape"):
        A.crop_flip(images[:3], p, 16)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        A.crop_flip(images[0], p, 16)
    with pytest.raises(ValueError, match="method"):
        A.crop_flip(images, p, 16, method="fast")


# ---------------------------------------------------------------- random resized crops


def reference_resized_crop(x: torch.Tensor, p: A.ResizedCrop, size) -> torch.Tensor:
    return torch.stack([
        maybe_flip(TF.resized_crop(x[i], int(p.top[i]), int(p.left[i]), int(p.height[i]),
                                   int(p.width[i]), list(size), antialias=True), p.flip[i])
        for i in range(len(x))])


def boxes_with_edge_cases() -> A.ResizedCrop:
    p = A.draw_resized_crop(N, (H, W), gen(7))
    # add: a box the size of the output (no resize), an upsampled one, the whole image
    return A.ResizedCrop(torch.cat([p.top, torch.tensor([3, 0, 0])]),
                         torch.cat([p.left, torch.tensor([5, 40, 0])]),
                         torch.cat([p.height, torch.tensor([18, 5, H])]),
                         torch.cat([p.width, torch.tensor([22, 4, W])]),
                         torch.cat([p.flip, torch.tensor([False, True, True])]))


@pytest.mark.parametrize("method", ["batched", "loop"])
def test_resized_crop_float_equals_torchvision(images, method):
    p = boxes_with_edge_cases()
    x = torch.cat([images, images[:3]]).float() / 255
    out = A.resized_crop(x, p, (18, 22), method=method)
    ref = reference_resized_crop(x, p, (18, 22))
    assert out.dtype == torch.float32 and out.shape == (N + 3, 3, 18, 22)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)  # float rounding only


@pytest.mark.parametrize("method", ["batched", "loop"])
def test_resized_crop_uint8_equals_torchvision(images, method):
    p = boxes_with_edge_cases()
    x = torch.cat([images, images[:3]])
    out = A.resized_crop(x, p, (18, 22), method=method)
    assert out.dtype == torch.uint8
    # torchvision on a CPU: torch's two-pass fixed-point uint8 kernel
    diff_cpu = (out.int() - reference_resized_crop(x, p, (18, 22)).int()).abs()
    # torchvision on a GPU: float arithmetic, then rounding
    ref_float = reference_resized_crop(x.float(), p, (18, 22)).round().clamp(0, 255)
    diff_float = (out.float() - ref_float).abs()
    if method == "loop":
        assert int(diff_cpu.max()) == 0  # the same torch kernel
    else:
        # float weights: off by one level only where a value sits within float error of .5
        assert float(diff_float.max()) <= 1 and float((diff_float > 0).double().mean()) < 0.01
        assert int(diff_cpu.max()) <= 1


def test_random_resized_crop_is_draw_then_apply(images):
    out = A.random_resized_crop(images, 16, gen(8))
    p = A.draw_resized_crop(N, (H, W), gen(8))
    assert p.flip.any() and not p.flip.all()
    assert torch.equal(out, A.resized_crop(images, p, 16))
    assert torch.equal(out, A.random_resized_crop(images, 16, gen(8)))


def test_draw_resized_crop_follows_torchvision_distribution():
    n, size = 4000, (64, 80)
    p = A.draw_resized_crop(n, size, gen(9))
    assert bool((p.top >= 0).all() and (p.top + p.height <= 64).all())
    assert bool((p.left >= 0).all() and (p.left + p.width <= 80).all())
    area = (p.height * p.width).double() / (64 * 80)
    log_ratio = torch.log(p.width.double() / p.height.double())
    # within the bounds, allowing for rounding the sides to whole pixels
    assert area.min() > 0.06 and area.max() <= 1.0
    assert log_ratio.abs().max() < math.log(4 / 3) + 0.2
    # same distribution as torchvision's own RandomResizedCrop (seeded, so deterministic)
    torch.manual_seed(0)
    rrc = v2.RandomResizedCrop(8)  # its defaults: RESIZED_SCALE and RESIZED_RATIO
    assert (tuple(rrc.scale), tuple(rrc.ratio)) == (A.RESIZED_SCALE, A.RESIZED_RATIO)
    dummy = torch.zeros(3, 64, 80)
    ref = [rrc.make_params([dummy]) for _ in range(n)]
    ref_area = torch.tensor([r["height"] * r["width"] / (64 * 80) for r in ref], dtype=torch.float64)
    ref_top = torch.tensor([r["top"] / (64 - r["height"] + 1) for r in ref], dtype=torch.float64)
    my_top = p.top.double() / (64 - p.height + 1).double()
    se = math.sqrt(2 / n)
    assert abs(area.mean() - ref_area.mean()) < 4 * se * float(ref_area.std())
    assert abs(area.std() - ref_area.std()) < 0.02
    assert abs(my_top.mean() - ref_top.mean()) < 4 * se * float(ref_top.std())


def test_draw_resized_crop_fallback_is_torchvision_central_crop():
    # 3 × 400: no box of 8 % of the area or more with a ratio in 3/4..4/3 is 3 px high, so every
    # image takes torchvision's fallback: the central crop with the aspect ratio clamped.
    p = A.draw_resized_crop(5, (3, 400), gen())
    assert p.height.tolist() == [3] * 5 and p.width.tolist() == [round(3 * 4 / 3)] * 5
    assert p.top.tolist() == [0] * 5 and p.left.tolist() == [(400 - 4) // 2] * 5


# ---------------------------------------------------------------- test-time crops


@pytest.mark.parametrize("size", [20, (21, 30)])
def test_center_and_ten_crop_equal_torchvision(images, size):
    pair = [size, size] if isinstance(size, int) else list(size)
    assert torch.equal(A.center_crop(images, size),
                       torch.stack([TF.center_crop(im, pair) for im in images]))
    ten = A.ten_crop(images, size)
    assert ten.shape == (N, 10, 3, *pair)
    ref = torch.stack([torch.stack(TF.ten_crop(im, pair)) for im in images])
    assert torch.equal(ten, ref)


def test_center_crop_rejects_too_large(images):
    with pytest.raises(ValueError, match="larger"):
        A.center_crop(images, (38, 10))
    with pytest.raises(ValueError, match="larger"):
        A.ten_crop(images, 46)


# ---------------------------------------------------------------- normalisation


def test_imagenet_constants_are_torchvisions():
    preset = ImageClassification(crop_size=224)
    assert tuple(preset.mean) == A.IMAGENET_MEAN and tuple(preset.std) == A.IMAGENET_STD


def test_normalize_equals_torchvision(images):
    ref = torch.stack([TF.normalize(TF.to_dtype(im, torch.float32, scale=True),
                                    list(A.IMAGENET_MEAN), list(A.IMAGENET_STD)) for im in images])
    assert torch.equal(A.normalize(images), ref)  # uint8 in, float32 out
    assert torch.equal(A.normalize(A.to_float(images)), ref)  # float on the 0–1 scale
    ten = A.ten_crop(images, 20)  # any leading shape (..., C, H, W)
    assert torch.equal(A.normalize(ten)[:, 3], A.normalize(ten[:, 3]))
    with pytest.raises(ValueError, match="channels"):
        A.normalize(images[:, :2])
    with pytest.raises(ValueError, match="zero"):
        A.normalize(images, std=(1.0, 0.0, 1.0))


# ---------------------------------------------------------------- PCA colour


def numpy_pca(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vectors = np.linalg.eigh(np.cov(pixels.T, bias=True))
    return values[::-1], vectors[:, ::-1]


def test_pca_fit_matches_numpy(images):
    pca = A.PCAColor.fit(images, batch_size=4)  # two batches: moments are accumulated
    pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).numpy().astype(np.float64) / 255
    values, vectors = numpy_pca(pixels)
    np.testing.assert_allclose(pca.eigenvalues.numpy(), values, rtol=1e-9, atol=1e-15)
    # same axes up to sign; sign convention: largest-magnitude component positive
    dots = np.abs(np.sum(pca.eigenvectors.numpy() * vectors, axis=0))
    np.testing.assert_allclose(dots, 1.0, atol=1e-9)
    for i in range(3):
        column = pca.eigenvectors[:, i]
        assert column[column.abs().argmax()] > 0
    assert pca.n_pixels == N * H * W and pca.sigma == 0.1  # FACTS.md §4.3: σ = 0.1


def test_pca_fit_scale_convention_and_inputs(images):
    pca = A.PCAColor.fit(images)
    from_float = A.PCAColor.fit(images.double() / 255)  # float input is on the 0–1 scale
    from_numpy = A.PCAColor.fit(images.numpy())
    from_loader = A.PCAColor.fit([(images[:2], torch.zeros(2)), (images[2:], torch.zeros(4))])
    for other in (from_float, from_numpy, from_loader):
        torch.testing.assert_close(other.eigenvalues, pca.eigenvalues, rtol=1e-9, atol=1e-15)
        torch.testing.assert_close(other.eigenvectors, pca.eigenvectors, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="no images"):
        A.PCAColor.fit([])
    with pytest.raises(ValueError, match="3 \\(RGB\\)"):
        A.PCAColor.fit(images[:, :2])


def test_pca_fit_on_sampled_pixels(images):
    pca = A.PCAColor.fit(images, pixels_per_image=50, generator=gen(4))
    pixels = A.sample_pixels(images, 50, gen(4))
    assert pixels.shape == (N * 50, 3)
    values, _ = numpy_pca(pixels.numpy())
    np.testing.assert_allclose(pca.eigenvalues.numpy(), values, rtol=1e-9, atol=1e-15)
    # sampled pixels really are pixels of the right image
    n_idx = torch.arange(N).repeat_interleave(50)
    image_pixels = images.permute(0, 2, 3, 1).reshape(N, H * W, 3).double() / 255
    for k in range(0, N * 50, 37):
        assert ((image_pixels[n_idx[k]] - pixels[k]).abs() < 1e-12).all(dim=1).any()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float64])
def test_pca_shift_is_the_papers_formula(images, dtype):
    pca = A.PCAColor.fit(images)
    x = as_dtype(images, dtype)
    alpha = pca.draw(N, gen(11))
    out = pca.apply(x, alpha)
    assert out.dtype == (torch.float32 if dtype == torch.uint8 else dtype)
    lam, p = pca.eigenvalues.numpy(), pca.eigenvectors.numpy()
    for i in range(N):  # Σ_j α_j λ_j p_j, added to every pixel of image i (0–1 units)
        expected = sum(alpha[i, j].item() * lam[j] * p[:, j] for j in range(3))
        shift = (out[i].double() - A.to_float(x[i], torch.float64)).numpy()
        np.testing.assert_allclose(shift, np.broadcast_to(expected[:, None, None], shift.shape),
                                   atol=1e-6 if dtype == torch.uint8 else 1e-12)
    assert torch.equal(pca(x, gen(11)), out)  # __call__ = draw then apply


def test_pca_draws_sigma_and_reproducibility(images):
    pca = A.PCAColor.fit(images, sigma=0.1)
    alpha = pca.draw(20_000, gen(12))
    assert alpha.shape == (20_000, 3)
    assert abs(float(alpha.std()) - 0.1) < 0.002 and abs(float(alpha.mean())) < 0.002
    assert torch.equal(pca(images, gen(1)), pca(images, gen(1)))
    assert not torch.equal(pca(images, gen(1)), pca(images, gen(2)))


# ---------------------------------------------------------------- benchmark


def test_augment_benchmark_quick_is_well_formed():
    assert "augment" in BENCHMARKS
    results = bench.run(torch.device("cpu"), quick=True)
    assert [r.name for r in results] == ["augment_crop_flip", "augment_resized_crop",
                                         "augment_ten_crop"]
    for r in results:
        assert isinstance(r, BenchResult) and r.unit == "images/s" and r.higher_is_better
        assert r.baseline > 0 and r.candidate > 0 and math.isfinite(r.ratio)
