"""A folder of JPEGs read the way tutorials do: the per-sample baseline of chapters 05 and 06
(and of the loader and training benchmarks).

:func:`write_jpegs` writes a SynthNet split to a folder of JPEGs once; :class:`JpegFolder` reads
them back the way tutorials do, opening and transforming each JPEG with PIL on every access.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image


class JpegFolder(torch.utils.data.Dataset):
    """Per-sample decoding: item ``i`` is ``(transform(RGB PIL image), label)``.

    ``samples``: ``[(path, label), ...]``; ``transform`` maps a PIL image to e.g. a
    ``(3, s, s) uint8`` or ``float32`` tensor.
    """

    def __init__(self, samples, transform):
        self.samples = samples
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        with Image.open(path) as img:
            return self.transform(img.convert("RGB")), label


def write_jpegs(data, root: Path, quality: int = 90) -> list[tuple[Path, int]]:
    """Write ``data.images`` ``(N, 3, S, S) uint8`` with ``data.labels`` ``(N,)`` as JPEGs.

    Image ``i`` goes to ``root/<label:03d>/<i:06d>.JPEG``; returns ``[(path, label), ...]`` in
    ``data`` order.
    """
    samples = []
    for i, (image, label) in enumerate(zip(data.images, data.labels.tolist())):
        folder = root / f"{label:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{i:06d}.JPEG"
        Image.fromarray(image.transpose(1, 2, 0)).save(path, quality=quality)
        samples.append((path, label))
    return samples
