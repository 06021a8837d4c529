"""course_lib.interpret against brute-force references: one forward pass per occluded copy,
Python loops over every pair for distances, scikit-learn's own pipeline for the probe, and
kernels whose colour content is known by construction."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import interpret
from course_lib.datasets.augment import IMAGENET_MEAN, IMAGENET_STD
from course_lib.models import alexnet


def small_alexnet(towers=1, seed=0):
    torch.manual_seed(seed)
    return alexnet("scaled", num_classes=5, width=0.25, input_size=28, towers=towers).eval()


def images(n=6, size=28, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- inputs ----------------------------------------------------------------------------------

def test_preprocess_matches_torchvision():
    from torchvision.transforms.v2 import functional as TF

    raw = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8,
                        generator=torch.Generator().manual_seed(1))
    got = interpret.preprocess(raw.numpy(), 28)
    want = TF.normalize(TF.to_dtype(TF.center_crop(raw, [28, 28]), torch.float32, scale=True),
                        IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(got, want)
    with pytest.raises(TypeError, match="uint8"):
        interpret.preprocess(raw.float(), 28)


def test_to_display_inverts_preprocess():
    raw = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    shown = interpret.to_display(interpret.preprocess(raw, 8))
    assert shown.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(shown, raw.permute(0, 2, 3, 1).numpy() / 255, atol=1e-6)
    assert interpret.to_display(interpret.preprocess(raw, 8)[0]).shape == (8, 8, 3)


# --- activations -----------------------------------------------------------------------------

def manual_activations(model, x):
    """Every hidden layer's activity by walking the network by hand (no hooks)."""
    found, names = {}, iter(interpret.HIDDEN_LAYERS)
    with torch.no_grad():
        h = x
        for module in model.features:
            h = module(h)
            if isinstance(module, nn.ReLU):
                found[next(names)] = h.clone()
        h = torch.flatten(model.avgpool(h), 1)
        for module in model.classifier:
            h = module(h)
            if isinstance(module, nn.ReLU):
                found[next(names)] = h.clone()
    return found, h


@pytest.mark.parametrize("towers", [1, 2])
def test_capture_activations_matches_a_manual_walk(towers):
    model = small_alexnet(towers)
    x = images(7)
    got = interpret.capture_activations(model, x, batch_size=3, with_logits=True)
    want, logits = manual_activations(model, x)
    assert list(got) == [*interpret.HIDDEN_LAYERS, "logits"]
    for name in interpret.HIDDEN_LAYERS:
        torch.testing.assert_close(got[name], want[name])
        # after a ReLU: the in-place ReLU must not leave a pre-activation copy behind
        assert got[name].min() >= 0
    torch.testing.assert_close(got["logits"], logits)
    assert not any(m._forward_hooks for m in model.modules())


def test_capture_activations_pools_to_a_grid_and_restores_the_mode():
    model = small_alexnet()
    model.train()
    x = images(4)
    full = interpret.capture_activations(model, x, ["conv1", "fc7"])
    assert model.training  # restored
    pooled = interpret.capture_activations(model, x, ["conv1", "fc7"], grid=2)
    assert full["conv1"].shape == (4, 24, 28, 28) and pooled["conv1"].shape == (4, 24, 2, 2)
    # mean of each 14x14 quadrant, computed by hand
    quadrant = full["conv1"][:, :, :14, 14:].mean(dim=(2, 3))
    torch.testing.assert_close(pooled["conv1"][:, :, 0, 1], quadrant)
    torch.testing.assert_close(pooled["fc7"], full["fc7"])  # fc layers are never pooled


def test_capture_activations_preprocesses_uint8_chunks_and_reads_the_input():
    model = small_alexnet()
    raw = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8,
                        generator=torch.Generator().manual_seed(3))
    x = interpret.preprocess(raw, 28)
    want = interpret.capture_activations(model, x, ["conv2", "fc6"], with_logits=True)
    got = interpret.capture_activations(model, raw, ["input", "conv2", "fc6"], crop=28,
                                        batch_size=2, with_logits=True)
    assert list(got) == ["input", "conv2", "fc6", "logits"]
    torch.testing.assert_close(got["input"], x)
    for name in ("conv2", "fc6", "logits"):
        torch.testing.assert_close(got[name], want[name])
    pooled = interpret.capture_activations(model, raw, ["input"], crop=28, grid=2)
    torch.testing.assert_close(pooled["input"][:, :, 1, 0], x[:, :, 14:, :14].mean(dim=(2, 3)))
    half = interpret.capture_activations(model, raw, ["conv2"], crop=28, dtype=torch.float16,
                                         with_logits=True)
    assert half["conv2"].dtype == torch.float16 and half["logits"].dtype == torch.float32
    torch.testing.assert_close(half["conv2"].float(), want["conv2"], rtol=1e-3, atol=1e-3)
    assert interpret.flatten_features(half["conv2"]).dtype == np.float32


def test_capture_activations_rejects_bad_input_and_removes_hooks_on_failure():
    model = small_alexnet()
    with pytest.raises(ValueError, match="unknown layer"):
        interpret.capture_activations(model, images(2), ["conv9"])
    with pytest.raises(ValueError, match="floats or uint8"):
        interpret.capture_activations(model, torch.zeros(2, 3, 28, 28, dtype=torch.int32))
    with pytest.raises(ValueError, match="need crop"):
        interpret.capture_activations(model, torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(RuntimeError):
        interpret.capture_activations(model, torch.zeros(2, 4, 28, 28))  # 4 channels
    assert not any(m._forward_hooks for m in model.modules())


def test_top_activating_and_unit_scores_against_loops():
    acts = torch.randn(12, 5, 3, 3, generator=torch.Generator().manual_seed(2))
    acts[4, 1] = acts[7, 1] = 9.0  # a tie at the top: the lower index first
    idx, scores = interpret.top_activating(acts, unit=1, k=4)
    by_loop = sorted(range(12), key=lambda i: (-float(acts[i, 1].max()), i))[:4]
    assert idx.tolist() == by_loop and idx[:2].tolist() == [4, 7]
    assert scores.tolist() == [float(acts[i, 1].max()) for i in by_loop]
    assert interpret.unit_scores(acts)[3, 2] == acts[3, 2].max()
    with pytest.raises(ValueError, match="out of range"):
        interpret.top_activating(acts, unit=5)


def test_class_purity():
    labels = np.array([0, 0, 1, 1, 2, 2])
    got = interpret.class_purity(torch.tensor([[0, 1, 2], [2, 3, 4], [0, 2, 4]]), labels)
    np.testing.assert_allclose(got, [2 / 3, 2 / 3, 1 / 3])


# --- occlusion -------------------------------------------------------------------------------

def brute_force_occlusion(model, image, target, patch, stride, fill):
    """One forward pass per patch position, written as plainly as possible."""
    height, width = image.shape[1:]
    with torch.no_grad():
        base = torch.softmax(model(image[None]), dim=1)[0, target].item()
        rows = []
        top = 0
        while top + patch <= height:
            row, left = [], 0
            while left + patch <= width:
                copy = image.clone()
                copy[:, top:top + patch, left:left + patch] = fill
                row.append(base - torch.softmax(model(copy[None]), dim=1)[0, target].item())
                left += stride
            rows.append(row)
            top += stride
    return np.array(rows)


def small_cnn(seed=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                         nn.Flatten(), nn.Linear(96, 5)).eval()


@pytest.mark.parametrize("patch,stride,fill,net", [(4, 2, 0.0, "cnn"), (5, 3, -1.0, "cnn"),
                                                   (10, 9, 0.0, "alexnet")])
def test_occlusion_map_matches_brute_force(patch, stride, fill, net):
    model = small_alexnet(seed=3) if net == "alexnet" else small_cnn()
    image = images(1, size=28, seed=4)[0]
    target = 2
    got = interpret.occlusion_map(model, image, target, patch=patch, stride=stride, fill=fill,
                                  batch_size=10)
    want = brute_force_occlusion(model, image, target, patch, stride, fill)
    assert got.drops.shape == want.shape == ((28 - patch) // stride + 1,) * 2
    np.testing.assert_allclose(got.drops, want, atol=1e-6)
    with torch.no_grad():
        assert math.isclose(got.base, torch.softmax(model(image[None]), 1)[0, target].item(),
                            rel_tol=1e-6)


def test_occlusion_map_per_pixel_averages_the_covering_patches():
    om = interpret.OcclusionMap(drops=np.array([[1.0, 3.0], [5.0, 7.0]]), base=0.5, target=0,
                                patch=3, stride=2, image_size=(6, 6))
    pixel = om.per_pixel()
    assert pixel[0, 0] == 1.0 and pixel[0, 2] == 2.0 and pixel[2, 2] == 4.0
    assert np.isnan(pixel[5, 5]) and np.isnan(pixel[0, 5])  # no patch reaches the last column


def test_occlusion_map_rejects_bad_input():
    model = small_alexnet()
    with pytest.raises(ValueError, match="larger than the image"):
        interpret.occlusion_map(model, images(1)[0], 0, patch=40, stride=2)
    with pytest.raises(ValueError, match="positive ints"):
        interpret.occlusion_map(model, images(1)[0], 0, patch=4, stride=0)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        interpret.occlusion_map(model, images(2), 0, patch=4, stride=2)


# --- nearest neighbours ----------------------------------------------------------------------

def brute_force_neighbors(queries, bank, k, exclude=None):
    out_idx, out_dist = [], []
    for qi, q in enumerate(queries):
        pairs = []
        for bi, b in enumerate(bank):
            if exclude is not None and exclude[qi] == bi:
                continue
            pairs.append((math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(q, b))), bi))
        pairs.sort()
        out_idx.append([i for _, i in pairs[:k]])
        out_dist.append([d for d, _ in pairs[:k]])
    return np.array(out_idx), np.array(out_dist)


def test_nearest_neighbors_matches_brute_force():
    rng = np.random.default_rng(5)
    queries, bank = rng.normal(size=(9, 6)), rng.normal(size=(20, 6))
    idx, dist = interpret.nearest_neighbors(queries, bank, 4, chunk=4)
    want_idx, want_dist = brute_force_neighbors(queries, bank, 4)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_allclose(dist.numpy(), want_dist, rtol=1e-9)


def test_nearest_neighbors_excludes_each_query_itself():
    rng = np.random.default_rng(6)
    bank = rng.normal(size=(15, 4)).astype(np.float32)
    own = np.arange(15)
    own[3] = -1  # query 3 may return itself
    idx, dist = interpret.nearest_neighbors(bank, bank, 3, exclude=own)
    want_idx, _ = brute_force_neighbors(bank, bank, 3, exclude=own)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    assert idx[3, 0] == 3 and dist[3, 0] == 0
    assert all(idx[i, 0] != i for i in range(15) if i != 3)


def test_nearest_neighbors_rejects_bad_shapes_and_k():
    with pytest.raises(ValueError, match="share D"):
        interpret.nearest_neighbors(np.zeros((2, 3)), np.zeros((4, 5)), 1)
    with pytest.raises(ValueError, match="only 3 bank rows"):
        interpret.nearest_neighbors(np.zeros((4, 3)), np.zeros((4, 3)), 4, exclude=np.arange(4))


def test_neighbor_agreement():
    assert interpret.neighbor_agreement([[0, 1], [1, 1], [2, 0]], [0, 1, 1]) == 0.5
    with pytest.raises(ValueError):
        interpret.neighbor_agreement([[0, 1]], [0, 1])


# --- linear probe ----------------------------------------------------------------------------

def test_linear_probe_agrees_with_sklearn_and_fits_on_train_only():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    centers = rng.normal(scale=2.0, size=(3, 10))
    train_y, val_y = rng.integers(0, 3, 90), rng.integers(0, 3, 60)
    train_x = centers[train_y] + rng.normal(size=(90, 10))
    val_x = centers[val_y] + rng.normal(size=(60, 10))
    got = interpret.linear_probe(train_x, train_y, val_x, val_y)
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(max_iter=300).fit(scaler.transform(train_x), train_y)
    assert got.dims == 10
    assert math.isclose(got.val_accuracy, model.score(scaler.transform(val_x), val_y), abs_tol=1e-9)
    assert math.isclose(got.train_accuracy, model.score(scaler.transform(train_x), train_y),
                        abs_tol=1e-9)
    # labels shuffled in the validation set only: a probe fitted on train cannot follow them
    shuffled = interpret.linear_probe(train_x, train_y, val_x, rng.permutation(val_y))
    assert shuffled.val_accuracy < got.val_accuracy


def test_first_layer_reaching():
    accuracies = {"pixels": 0.3, "conv1": 0.5, "conv2": 0.8, "conv3": 0.9}
    assert interpret.first_layer_reaching(accuracies, 0.8) == "conv2"
    assert interpret.first_layer_reaching(accuracies, 0.95) is None


def test_flatten_features():
    x = torch.arange(24.0).reshape(2, 3, 2, 2)
    assert interpret.flatten_features(x).shape == (2, 12)


# --- first-layer kernels ---------------------------------------------------------------------

def test_color_fraction_on_kernels_of_known_colour():
    rng = np.random.default_rng(8)
    pattern = rng.normal(size=(5, 5))
    gray = np.stack([pattern] * 3)                    # same weights on R, G, B
    opponent = np.stack([pattern, -pattern, 0 * pattern])  # sums to zero over the channels
    red_only = np.stack([pattern, 0 * pattern, 0 * pattern])
    got = interpret.color_fraction(np.stack([gray, opponent, red_only]))
    np.testing.assert_allclose(got, [0.0, 1.0, 2 / 3], atol=1e-12)
    # against a loop over pixels, on random kernels, with the normalization's std
    kernels = rng.normal(size=(4, 3, 3, 3))
    std = (0.2, 0.25, 0.3)
    got = interpret.color_fraction(kernels, std=std)
    for k in range(4):
        w = kernels[k] / np.array(std)[:, None, None]
        color = total = 0.0
        for y in range(3):
            for x in range(3):
                m = sum(w[c, y, x] for c in range(3)) / 3
                color += sum((w[c, y, x] - m) ** 2 for c in range(3))
                total += sum(w[c, y, x] ** 2 for c in range(3))
        assert math.isclose(got[k], color / total, rel_tol=1e-12)
    with pytest.raises(ValueError, match=r"\(K, 3, h, w\)"):
        interpret.color_fraction(np.zeros((2, 1, 3, 3)))


def _pairs_correlation(kernel):
    """The measure for one kernel, written with loops and NumPy's corrcoef."""
    centred = [kernel[c] - kernel[c].mean() for c in range(kernel.shape[0])]
    xs, ys = [], []
    for v in centred:
        h, w = v.shape
        for i in range(h):
            for j in range(w):
                if j + 1 < w:
                    xs.append(v[i, j]), ys.append(v[i, j + 1])
                if i + 1 < h:
                    xs.append(v[i, j]), ys.append(v[i + 1, j])
    return np.corrcoef(xs, ys)[0, 1]


def test_neighbor_correlation_on_noise_edges_and_checkerboards():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(2000, 3, 5, 5))
    assert abs(interpret.neighbor_correlation(noise)) < 0.06  # centring costs about -0.04
    edge = np.zeros((1, 3, 5, 5))
    edge[..., 3:] = 1.0  # a vertical step edge between columns 2 and 3
    assert interpret.neighbor_correlation(edge) == pytest.approx(0.767, abs=0.001)
    checker = np.indices((5, 5)).sum(axis=0) % 2  # one-pixel checkerboard
    assert interpret.neighbor_correlation(np.stack([checker] * 3)[None] * 1.0) == \
        pytest.approx(-1.0, abs=1e-12)
    # against the loop, kernel by kernel, on mixed kernels of 11×11 with different channels
    mixed = rng.normal(size=(4, 3, 11, 11)).cumsum(axis=3)  # random walks along rows: smooth-ish
    want = np.mean([_pairs_correlation(k) for k in mixed])
    assert interpret.neighbor_correlation(torch.from_numpy(mixed)) == pytest.approx(want, abs=1e-12)


def test_neighbor_correlation_skips_flat_kernels_and_refuses_shapes():
    flat = np.ones((1, 3, 5, 5))  # centred, every weight is 0: nothing to correlate
    edge = np.zeros((1, 3, 5, 5))
    edge[..., 2:] = 1.0
    assert interpret.neighbor_correlation(np.concatenate([flat, edge])) == \
        pytest.approx(interpret.neighbor_correlation(edge))
    assert math.isnan(interpret.neighbor_correlation(flat))
    with pytest.raises(ValueError, match=r"h, w ≥ 2"):
        interpret.neighbor_correlation(np.zeros((2, 3, 1, 5)))


def test_kernel_grid_layout_and_scaling():
    kernels = torch.zeros(5, 3, 2, 2)
    kernels[1, 0, 0, 0] = 2.0   # max of kernel 1: white-red corner
    kernels[1, 1, 0, 0] = -2.0
    grid = interpret.kernel_grid(kernels, columns=3, pad=1)
    assert grid.shape == (2 * 3 + 1, 3 * 3 + 1, 3)
    np.testing.assert_allclose(grid[1, 4], [1.0, 0.0, 0.5])  # kernel 1, pixel (0, 0)
    np.testing.assert_allclose(grid[1:3, 1:3], 0.5)          # all-zero kernel 0: mid grey
    assert (grid[0] == 1).all() and (grid[4:6, 7:9] == 1).all()  # separators, the empty slot


def test_tower_color_gap_detects_a_split_and_not_a_mixture():
    rng = np.random.default_rng(9)
    split = np.concatenate([rng.uniform(0, 0.2, 24), rng.uniform(0.6, 1.0, 24)])
    means, p = interpret.tower_color_gap(split, permutations=500)
    assert means[0] < 0.2 < 0.6 < means[1] and p < 0.01
    _, p_mixed = interpret.tower_color_gap(rng.permutation(split), permutations=500, seed=1)
    assert p_mixed > p
    with pytest.raises(ValueError, match="do not split"):
        interpret.tower_color_gap(np.ones(5))
