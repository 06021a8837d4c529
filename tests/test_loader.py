"""UInt8Loader: every image once per epoch (also across ranks), seeded shuffling, batch content."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from course_lib.bench import BENCHMARKS
from course_lib.bench import loader as loader_bench
from course_lib.datasets.jpeg_folder import JpegFolder, write_jpegs
from course_lib.datasets.loader import UInt8Loader


def numbered(n: int, side: int = 4):
    """Images whose pixels all equal ``i % 256`` and labels ``i``: a batch shows what it holds."""
    images = np.broadcast_to((np.arange(n) % 256).astype(np.uint8)[:, None, None, None],
                             (n, 3, side, side)).copy()
    return images, np.arange(n)


def seen(loader: UInt8Loader) -> list[int]:
    out = []
    for images, labels in loader:
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        # the pixels are those of the labelled image
        assert torch.equal(images[:, 0, 0, 0], (labels % 256).to(torch.uint8))
        out += labels.tolist()
    return out


@pytest.mark.parametrize("n,world_size,batch_size", [(101, 2, 8), (100, 2, 10), (7, 3, 4),
                                                      (2, 3, 5)])
def test_every_image_once_per_epoch_across_ranks(n, world_size, batch_size):
    images, labels = numbered(n)
    for epoch in (0, 1):
        everything = []
        for rank in range(world_size):
            loader = UInt8Loader(images, labels, batch_size, shuffle=True, seed=3, rank=rank,
                                 world_size=world_size)
            loader.set_epoch(epoch)
            mine = seen(loader)
            assert len(mine) == len(set(mine))
            assert len(list(loader)) == len(loader)
            everything += mine
        assert sorted(everything) == list(range(n))  # no duplicate, none missing


def test_uneven_shards_differ_by_at_most_one_image():
    images, labels = numbered(11)
    sizes = [len(UInt8Loader(images, labels, 4, rank=r, world_size=3).indices())
             for r in range(3)]
    assert sizes == [4, 4, 3]


def test_same_seed_same_order_and_epochs_differ():
    images, labels = numbered(64)
    a = UInt8Loader(images, labels, 16, seed=7)
    b = UInt8Loader(images, labels, 16, seed=7)
    first = seen(a)
    assert first == seen(b)
    assert first != list(range(64))  # it does shuffle
    a.set_epoch(1)
    second = seen(a)
    assert second != first and sorted(second) == sorted(first)
    assert seen(UInt8Loader(images, labels, 16, seed=8)) != first
    a.set_epoch(0)
    assert seen(a) == first  # the order is a function of (seed, epoch) only


def test_no_shuffle_keeps_order_and_a_partial_last_batch():
    images, labels = numbered(10)
    loader = UInt8Loader(images, labels, 4, shuffle=False)
    sizes = [len(lab) for _, lab in loader]
    assert sizes == [4, 4, 2] and seen(loader) == list(range(10))


def test_tensor_and_memmap_inputs_give_the_same_batches(tmp_path):
    images, labels = numbered(30, side=5)
    np.save(tmp_path / "x.npy", images)
    memmap = np.load(tmp_path / "x.npy", mmap_mode="r")
    from_memmap = [(i.clone(), lab) for i, lab in UInt8Loader(memmap, labels, 7, seed=1)]
    from_tensor = list(UInt8Loader(torch.from_numpy(images), torch.from_numpy(labels), 7, seed=1))
    assert len(from_memmap) == len(from_tensor) == 5
    for (xa, ya), (xb, yb) in zip(from_memmap, from_tensor):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(xa, torch.from_numpy(images[ya.numpy()]))


def test_device_and_pinning_defaults():
    images, labels = numbered(8)
    loader = UInt8Loader(images, labels, 4, device="cpu")
    assert loader.pin_memory is False  # pinning is only for a CUDA device
    x, y = next(iter(loader))
    assert x.device.type == "cpu" and x.shape == (4, 3, 4, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_pinned_then_moved():
    images, labels = numbered(20)
    loader = UInt8Loader(images, labels, 8, device="cuda")
    assert loader.pin_memory is True
    batches = list(loader)
    assert all(x.device.type == "cuda" and y.device.type == "cuda" for x, y in batches)
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(20))


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2, rank=2, world_size=2), "rank"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, match):
    images, labels = numbered(4)
    with pytest.raises(ValueError, match=match):
        UInt8Loader(images, labels, **kwargs)
    with pytest.raises(ValueError, match="labels"):
        UInt8Loader(images, labels[:3], 2)


def test_loader_benchmark_runs_quick_and_is_well_formed():
    assert "loader" in BENCHMARKS
    (result,) = loader_bench.run(torch.device("cpu"), quick=True)
    assert result.name == "loader_epoch" and result.unit == "images/s"
    assert result.baseline > 0 and result.candidate > 0 and result.higher_is_better
    assert result.target_ratio == 10.0 and result.as_dict()["ratio"] == result.ratio
    assert "JPEGs" in result.notes


def test_write_jpegs_and_jpeg_folder_round_trip(tmp_path):
    """The shared per-sample baseline: labelled folders, data order, decoded pixels near the source."""
    rng = np.random.default_rng(0)
    # smooth images (a flat colour each) so JPEG loss stays small
    colours = rng.integers(0, 256, (3, 3), dtype=np.uint8)
    images = np.broadcast_to(colours[:, :, None, None], (3, 3, 16, 16)).copy()
    data = SimpleNamespace(images=images, labels=np.array([2, 0, 2]))
    samples = write_jpegs(data, tmp_path)
    assert [label for _, label in samples] == [2, 0, 2]
    assert [p.relative_to(tmp_path).as_posix() for p, _ in samples] == [
        "002/000000.JPEG", "000/000001.JPEG", "002/000002.JPEG"]
    folder = JpegFolder(samples, v2.PILToTensor())
    assert len(folder) == 3
    for i in range(3):
        tensor, label = folder[i]
        assert label == data.labels[i] and tensor.shape == (3, 16, 16) and tensor.dtype == torch.uint8
        assert (tensor.int() - torch.from_numpy(images[i]).int()).abs().max() <= 3
