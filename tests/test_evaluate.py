"""The evaluation harness against hand computations, brute-force loops and a 2-process gloo run."""

from __future__ import annotations

import socket

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_lib import evaluate as E
from course_lib.datasets.augment import IMAGENET_MEAN, IMAGENET_STD

matplotlib.use("Agg")

FP32 = dict(device="cpu", precision="fp32")
WHOLE = dict(mode="center", crop_size=4, **FP32)  # the whole of an id_images picture
# torchvision is imported inside the tests that use it: the 2-process test's workers import this
# module, and torchvision's import alone costs them seconds.


class ChannelMeans(nn.Module):
    """Logits = the mean of each input channel: (B, 3, h, w) -> (B, 3); easy to compute by hand."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


class Lookup(nn.Module):
    """Each image carries its id in every pixel (uint8 value = id); logits = table[id].

    The model undoes the default ImageNet normalization, so it recovers the id exactly.
    """

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)
        self.dropout = nn.Dropout(0.5)  # must be off during evaluation

    def forward(self, x):
        ids = torch.round((x[:, 0, 0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255).long()
        return self.dropout(self.table[ids])


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def channel_means(crops: np.ndarray) -> np.ndarray:
    """ChannelMeans' logits by hand: ``(..., 3, h, w)`` uint8 → ImageNet-normalized means."""
    return (crops.mean(axis=(-2, -1)) / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)


def id_images(n: int, size: int = 4) -> torch.Tensor:
    """(n, 3, size, size) uint8, image i filled with the value i."""
    return torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 3, size, size).clone()


def batches_of(images, labels, batch_size, indices=None):
    out = []
    for s in range(0, len(labels), batch_size):
        batch = (images[s:s + batch_size], labels[s:s + batch_size])
        out.append(batch if indices is None else (*batch, indices[s:s + batch_size]))
    return out


@pytest.fixture
def photos() -> torch.Tensor:
    return torch.randint(0, 256, (7, 3, 19, 23), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- views and scores


def test_center_crop_scores_by_hand(photos):
    from torchvision.transforms.v2 import functional as TF

    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    result = E.predict(ChannelMeans(), batches_of(photos, labels, 3), mode="center", crop_size=11,
                       **FP32)  # normalized with ImageNet's mean and std by default
    crops = np.stack([TF.center_crop(im, [11, 11]).numpy() for im in photos])
    expected = softmax(channel_means(crops))
    np.testing.assert_allclose(result.scores.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert result.scores.dtype == torch.float32 and result.scores.shape == (7, 3)
    assert result.labels.tolist() == labels.tolist() and result.indices.tolist() == list(range(7))
    assert result.predictions.shape == (7, 3)  # fewer than 5 classes: top-C
    assert result.error(5) == 0.0  # three classes: all are guesses
    with pytest.raises(ValueError, match="k=6"):
        result.error(6)


def test_tencrop_averages_softmax_over_the_ten_crops(photos):
    from torchvision.transforms.v2 import functional as TF

    labels = torch.zeros(7, dtype=torch.int64)
    result = E.predict(ChannelMeans(), batches_of(photos, labels, 4), mode="tencrop",
                       crop_size=(12, 15), **FP32)
    expected = []
    for im in photos:
        crops = np.stack([c.numpy() for c in TF.ten_crop(im, [12, 15])])  # (10, 3, h, w)
        expected.append(softmax(channel_means(crops)).mean(axis=0))  # softmax, then average
    np.testing.assert_allclose(result.scores.numpy(), np.stack(expected), rtol=1e-5, atol=1e-7)


def test_topk_errors_and_predictions_by_brute_force():
    n, c = 37, 12
    table = torch.randn(n, c, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(2))
    result = E.predict(Lookup(table), batches_of(id_images(n), labels, 5), **WHOLE)
    np.testing.assert_allclose(result.scores.numpy(), softmax(table.numpy()), rtol=1e-5, atol=1e-7)
    wrong = {1: 0, 5: 0}
    for i in range(n):
        ranking = sorted(range(c), key=lambda j: -float(table[i, j]))
        assert result.predictions[i].tolist() == ranking[:5]
        for k in wrong:
            wrong[k] += int(labels[i]) not in ranking[:k]
    assert result.error(1) == pytest.approx(wrong[1] / n)
    assert result.error(5) == pytest.approx(wrong[5] / n)
    assert result.mode == "center" and result.n_models == 1
    assert 0 < wrong[5] < wrong[1] < n  # the check is not vacuous


def test_ensemble_averages_softmax_across_models():
    n, c = 9, 6
    tables = [torch.randn(n, c, generator=torch.Generator().manual_seed(s)) for s in (3, 4, 5)]
    labels = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(6))
    result = E.predict_ensemble([Lookup(t) for t in tables], batches_of(id_images(n), labels, 4),
                                **WHOLE)
    expected = np.mean([softmax(t.numpy()) for t in tables], axis=0)
    np.testing.assert_allclose(result.scores.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert result.n_models == 3


def test_eval_mode_is_used_and_training_flag_restored():
    table = torch.randn(5, 4, generator=torch.Generator().manual_seed(7))
    model = Lookup(table).train()
    batches = batches_of(id_images(5), torch.zeros(5, dtype=torch.int64), 2)
    first = E.predict(model, batches, **WHOLE)
    assert model.training  # restored
    second = E.predict(model, batches, **WHOLE)
    assert torch.equal(first.scores, second.scores)  # no dropout noise
    np.testing.assert_allclose(first.scores.numpy(), softmax(table.numpy()), rtol=1e-5, atol=1e-7)


def test_default_precision_and_channels_last_agree_with_fp32(photos):
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    torch.manual_seed(0)
    for m in conv.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    batches = batches_of(photos, torch.arange(7) % 10, 3)
    ref = E.predict(conv, batches, mode="center", crop_size=15, **FP32)
    default = E.predict(conv, batches, mode="center", crop_size=15, device="cpu")  # pick_precision
    nhwc = E.predict(conv, batches, mode="center", crop_size=15, channels_last=True, **FP32)
    torch.testing.assert_close(default.scores, ref.scores, atol=2e-2, rtol=0)  # bf16 or fp32
    torch.testing.assert_close(nhwc.scores, ref.scores, atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------- every image once


def test_indices_deduplicate_padding_and_sort():
    n, c = 10, 5
    table = torch.randn(n, c, generator=torch.Generator().manual_seed(8))
    labels = torch.arange(n) % c
    order = torch.tensor([3, 7, 0, 9, 1, 5, 2, 8, 6, 4, 3, 7])  # last two repeat: padding
    images, idx_labels = id_images(n)[order], labels[order]
    result = E.predict(Lookup(table), batches_of(images, idx_labels, 5, order), **WHOLE)
    assert result.indices.tolist() == list(range(n)) and result.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(result.scores.numpy(), softmax(table.numpy()), rtol=1e-5, atol=1e-7)
    clash = batches_of(images, torch.cat([idx_labels[:-1], torch.tensor([0])]), 5, order)
    with pytest.raises(ValueError, match="index 7 appears with two labels"):
        E.predict(Lookup(table), clash, **WHOLE)


def test_with_indices_on_a_shuffled_loader():
    from course_lib.datasets.loader import UInt8Loader

    n, c = 11, 4
    table = torch.randn(n, c, generator=torch.Generator().manual_seed(9))
    labels = torch.arange(n) % c
    loader = UInt8Loader(id_images(n), labels, batch_size=3, shuffle=True, seed=1)
    assert loader.indices().tolist() != list(range(n))
    result = E.predict(Lookup(table), E.with_indices(loader, loader.indices()), **WHOLE)
    assert result.indices.tolist() == list(range(n)) and result.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(result.scores.numpy(), softmax(table.numpy()), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="12 indices given but the batches held 11"):
        list(E.with_indices(loader, np.arange(12)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


N_DIST, C_DIST = 11, 7  # N not divisible by the world size: the sampler pads one image


def _dist_data():
    table = torch.randn(N_DIST, C_DIST, generator=torch.Generator().manual_seed(10))
    labels = torch.randint(0, C_DIST, (N_DIST,), generator=torch.Generator().manual_seed(11))
    return table, labels


def _dist_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size)
    try:
        table, labels = _dist_data()
        sampler = DistributedSampler(range(N_DIST), num_replicas=world_size, rank=rank,
                                     shuffle=True, seed=0)
        shard = torch.tensor(list(sampler))
        images = id_images(N_DIST)
        batches = batches_of(images[shard], labels[shard], 4, shard)
        result = E.predict(Lookup(table), batches, **WHOLE)
        try:  # without indices, padding could be counted twice: refused on every rank
            E.predict(Lookup(table), [(b[0], b[1]) for b in batches], **WHOLE)
            refused = False
        except ValueError as exc:
            refused = "indices" in str(exc)
        # a loader that shards without padding, over one image: rank 1 gets no batch at all
        from course_lib.datasets.loader import UInt8Loader

        loader = UInt8Loader(images[:1], labels[:1], batch_size=4, shuffle=False, rank=rank,
                             world_size=world_size)
        lonely = E.predict(Lookup(table), E.with_indices(loader, loader.indices()), **WHOLE)
        torch.save({"result": result.__dict__, "local": len(shard), "refused": refused,
                    "lonely": lonely.__dict__, "lonely_local": len(loader.indices())},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_count_every_image_once(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_dist_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    table, labels = _dist_data()
    single = E.predict(Lookup(table), batches_of(id_images(N_DIST), labels, 4), **WHOLE)
    outs = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert sum(o["local"] for o in outs) == N_DIST + 1  # the sampler really padded
    for o in outs:  # every rank gets the whole, de-duplicated result
        got = o["result"]
        assert got["indices"].tolist() == list(range(N_DIST))
        assert torch.equal(got["labels"], single.labels)
        assert torch.equal(got["scores"], single.scores)
        assert torch.equal(got["predictions"], single.predictions)
        assert o["refused"]
        assert torch.equal(o["lonely"]["scores"], single.scores[:1])
        assert o["lonely"]["indices"].tolist() == [0]
    assert [o["lonely_local"] for o in outs] == [1, 0]


# ---------------------------------------------------------------- bad input


def test_bad_input_is_reported(photos):
    labels = torch.zeros(7, dtype=torch.int64)
    good = batches_of(photos, labels, 4)
    crop = dict(mode="center", crop_size=11, **FP32)
    with pytest.raises(ValueError, match="mode must be one of"):
        E.predict(ChannelMeans(), good, mode="full", crop_size=11, **FP32)
    with pytest.raises(ValueError, match="needs a crop_size"):
        E.predict(ChannelMeans(), good, mode="tencrop", **FP32)
    with pytest.raises(ValueError, match="batch 1: 3 images but labels of shape"):
        E.predict(ChannelMeans(), [good[0], (photos[:3], labels[:2])], **crop)
    with pytest.raises(ValueError, match="batch 1: some batches carry indices"):
        E.predict(ChannelMeans(), [(*good[0], torch.arange(4)), good[1]], **crop)
    with pytest.raises(ValueError, match="expected \\(4, C\\) logits"):
        E.predict(nn.Identity(), good, **crop)
    with pytest.raises(ValueError, match="model 1 returned shape \\(4, 4\\).*C = 3"):
        E.predict_ensemble([ChannelMeans(), nn.Sequential(ChannelMeans(), nn.Linear(3, 4))], good,
                           **crop)
    with pytest.raises(ValueError, match="no images"):
        E.predict(ChannelMeans(), [], **crop)
    with pytest.raises(ValueError, match="precision"):
        E.predict(ChannelMeans(), good, mode="center", crop_size=11, device="cpu", precision="fp8")


# calibration: tests/test_scoring_calibration.py
