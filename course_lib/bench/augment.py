"""Batched augmentation (:mod:`course_lib.datasets.augment`) against per-sample torchvision.

Both sides start from the same uint8 batch already on the device (64 images of 256×256, the
paper's stored size, FACTS.md §4.3) and end with a stacked batch there:

* ``augment_crop_flip``: random 224 crop + horizontal flip (the paper's training augmentation);
  baseline ``v2.RandomCrop`` + ``v2.RandomHorizontalFlip`` image by image;
* ``augment_resized_crop``: random resized crop to 224 (antialiased bilinear) + flip; baseline
  ``v2.RandomResizedCrop`` + ``v2.RandomHorizontalFlip`` image by image;
* ``augment_ten_crop``: ten crops of 224 + ImageNet normalisation (test time); baseline
  ``v2.functional.ten_crop`` + ``normalize`` image by image.

Images per second; ``method="auto"`` as the library uses it (on a CPU that is a loop of slice
copies / torch's uint8 resize kernel, elsewhere one batched kernel). No targets: these report
where batching pays, which depends on the device.
"""

from __future__ import annotations

import torch

from ..datasets import augment as A
from . import BenchResult, best_time


def run(device, quick: bool) -> list[BenchResult]:
    device = torch.device(device)
    n, size, crop = (8, 40, 32) if quick else (64, 256, 224)
    repeats = 1 if quick else 3
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    mean, std = list(A.IMAGENET_MEAN), list(A.IMAGENET_STD)

    # heavy (torchvision loads its models): only this baseline needs it
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    crop_flip = v2.Compose([v2.RandomCrop(crop), v2.RandomHorizontalFlip()])
    resized = v2.Compose([v2.RandomResizedCrop(crop, antialias=True), v2.RandomHorizontalFlip()])

    def per_sample_ten_crop():
        return torch.stack([TF.normalize(TF.to_dtype(torch.stack(TF.ten_crop(im, [crop, crop])),
                                                     torch.float32, scale=True), mean, std)
                            for im in images])

    cases = [
        ("augment_crop_flip", "v2.RandomCrop + RandomHorizontalFlip per image",
         lambda: torch.stack([crop_flip(im) for im in images]),
         "augment.random_crop_flip", lambda: A.random_crop_flip(images, crop, generator)),
        ("augment_resized_crop", "v2.RandomResizedCrop + RandomHorizontalFlip per image",
         lambda: torch.stack([resized(im) for im in images]),
         "augment.random_resized_crop", lambda: A.random_resized_crop(images, crop, generator)),
        ("augment_ten_crop", "v2.functional.ten_crop + normalize per image", per_sample_ten_crop,
         "augment.normalize(augment.ten_crop(...))", lambda: A.normalize(A.ten_crop(images, crop))),
    ]
    results = []
    for name, base_label, base_fn, cand_label, cand_fn in cases:
        base_fn(), cand_fn()  # warm-up (kernels, allocator)
        baseline = best_time(base_fn, repeats, sync)
        candidate = best_time(cand_fn, repeats, sync)
        results.append(BenchResult(
            name=name, unit="images/s", baseline_label=base_label, baseline=n / baseline,
            candidate_label=cand_label, candidate=n / candidate, higher_is_better=True,
            notes=f"{n} uint8 images {size}×{size} → {crop}, on {device}, "
                  f"{torch.get_num_threads()} torch threads"))
    return results
