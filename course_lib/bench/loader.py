"""An epoch of random crop + flip batches: the decode-once cache against per-sample JPEG decoding.

Both read the *same* JPEGs, written once to a temporary folder from a SynthNet training split at
the laptop profile's sizes, held at the recorded 300 images per class and batch 128 (6,000
images at 64 px; crop 56):

* baseline: ``torch.utils.data.DataLoader`` over a dataset that opens each JPEG with PIL and
  applies torchvision's ``RandomCrop`` + ``RandomHorizontalFlip`` + ``PILToTensor``, with
  ``num_workers`` worker processes (persistent, so worker start-up is not counted) and the batch
  moved to the device;
* candidate: the cache built from those JPEGs (:func:`course_lib.datasets.cache.build_cache`,
  not timed; its build time is in the notes), read by :class:`~course_lib.datasets.loader.UInt8Loader`
  onto the device and cropped/flipped there by
  :func:`course_lib.datasets.augment.random_crop_flip`, with torch limited to the same number of
  threads as the baseline has workers.

Images per second of a whole epoch (best of 2 epochs each); target ≥ 10× on a 2-core CPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from ..datasets.augment import random_crop_flip
from ..datasets.cache import build_cache
from ..datasets.jpeg_folder import JpegFolder, write_jpegs
from ..datasets.loader import UInt8Loader
from ..plan import plan
from . import BenchResult, best_time


def run(device, quick: bool) -> list[BenchResult]:
    # the split and batch the recorded results used, whatever the laptop profile holds now
    changes = {"train_per_class": 300, "batch_size": 128}
    if quick:
        changes = {"num_classes": 4, "image_size": 32, "crop_size": 28, "train_per_class": 16,
                   "batch_size": 16, "num_workers": 0}
    run = plan("laptop", splits=("train",), **changes)
    workers = run.profile.num_workers
    device = torch.device(device)
    size, crop, batch = run.image_size, run.crop, run.config.batch_size
    data = run.data.train
    sync = torch.cuda.synchronize if device.type == "cuda" else None

    with tempfile.TemporaryDirectory(prefix="course-bench-loader-") as tmp:
        tmp = Path(tmp)
        samples = write_jpegs(data, tmp / "jpegs")
        start = time.perf_counter()
        cache = build_cache(samples, tmp / "cache", size, workers=max(workers, 1),
                            progress=False)
        build_s = time.perf_counter() - start
        n = len(cache)

        # heavy (torchvision loads its models): only this baseline needs it
        from torchvision.transforms import v2

        transform = v2.Compose([v2.RandomCrop(crop), v2.RandomHorizontalFlip(), v2.PILToTensor()])
        baseline_loader = torch.utils.data.DataLoader(
            JpegFolder(samples, transform), batch_size=batch, shuffle=True,
            num_workers=workers, persistent_workers=workers > 0,
            pin_memory=device.type == "cuda")

        def baseline_epoch(batches=baseline_loader):
            for images, labels in batches:
                images.to(device, non_blocking=True)
                labels.to(device, non_blocking=True)

        loader = UInt8Loader(cache.images, cache.labels, batch, shuffle=True, seed=0,
                             device=device)
        generator = torch.Generator(device=device).manual_seed(0)

        def candidate_epoch():
            for images, _labels in loader:
                random_crop_flip(images, crop, generator)

        baseline_s = best_time(baseline_epoch, repeats=2, sync=sync)
        del baseline_epoch, baseline_loader  # stop its workers before timing the candidate
        threads = torch.get_num_threads()
        torch.set_num_threads(max(workers, 1))
        try:
            candidate_s = best_time(candidate_epoch, repeats=2, sync=sync)
        finally:
            torch.set_num_threads(threads)

    return [BenchResult(
        name="loader_epoch", unit="images/s",
        baseline_label=f"PIL + torchvision DataLoader, {workers} workers",
        baseline=n / baseline_s,
        candidate_label="uint8 cache + UInt8Loader + random_crop_flip",
        candidate=n / candidate_s, higher_is_better=True, target_ratio=10.0,
        notes=f"{n} JPEGs at {size} px, crop {crop}, batch {batch}, {max(workers, 1)} "
              f"thread(s) for the cache loader, on {device}; decode-once build took "
              f"{build_s:.1f} s",
    )]
