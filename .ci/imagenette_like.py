#!/usr/bin/env python3
"""An Imagenette-format set of generated JPEGs: what the real set costs, measured offline.

The real Imagenette-160 (99 MB) cannot be downloaded on the course's CI machines or on a lent GPU
machine. This writes its layout, ``<root>/imagenette2-160/{train,val}/<wnid>/<file>.JPEG`` for
its ten real wnids, with its real counts (9,469 training and 3,925 validation images, spread over
the classes as evenly as they divide), short side 160 px, two landscape images (4:3) to one
portrait (3:4), and the real file names' two forms (``n01440764_10026.JPEG``,
``ILSVRC2012_val_00009111.JPEG``). The pictures are SynthNet's ten-class renders (SynthNet class
k under the k-th wnid), so times, memory and file sizes are those of the real set's format, and
accuracy is not: nothing measured on this set is an accuracy.

Used by ``make gpu-check`` (every chapter under the gpu profile) and by the laptop measurement
of ``dataset_name="imagenette2-160"`` (notebook 06 on the laptop profile, fp32 forced):

    python .ci/imagenette_like.py DIR [--scale 0.1] [--prepare 64 160]
    python .ci/imagenette_like.py --measure-laptop benchmarks/results/<date>_laptop_imagenette.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from course_lib.datasets import registry, synthnet
from course_lib.recipe import prepare_caches

sys.path.insert(0, str(Path(__file__).resolve().parent))  # .ci's own scripts, run or imported
from execute import cpu_description, measured_run  # noqa: E402  (the chapters' own timer)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_training_core.ipynb"
LIMITS = {"seconds": 600, "peak_gib": 1.5}  # the laptop budget per notebook (issue 23 §2)

NETTE = "imagenette2-160"
REAL_COUNTS = {"train": 9469, "val": 3925}  # noisy_imagenette.csv's rows (DATASETS.md)
SHORT_SIDE = 160
LONG_SIDE = 213  # 4:3 at a 160-px short side


def per_class(total: int, num_classes: int) -> list[int]:
    """``total`` images over ``num_classes`` classes, the first ``total % num_classes`` one more."""
    base, extra = divmod(total, num_classes)
    return [base + (k < extra) for k in range(num_classes)]


def file_name(split: str, wnid: str, i: int) -> str:
    """The real set's naming: ``<wnid>_<n>.JPEG`` in train, ``ILSVRC2012_val_<8 digits>.JPEG``
    in val (``i``: a number unique within the split)."""
    return f"{wnid}_{i}.JPEG" if split == "train" else f"ILSVRC2012_val_{i:08d}.JPEG"


def _write_class(folder: Path, split: str, wnid: str, pixels: np.ndarray, first: int,
                 quality: int) -> int:
    """Save ``pixels`` ``(n, 3, S, S)`` uint8 as JPEGs in ``folder``; returns the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for j, image in enumerate(pixels):
        picture = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)))
        size = (SHORT_SIDE, LONG_SIDE) if j % 3 == 2 else (LONG_SIDE, SHORT_SIDE)  # (w, h)
        path = folder / file_name(split, wnid, first + j)
        picture.resize(size, Image.BILINEAR).save(path, quality=quality)
        written += path.stat().st_size
    return written


def write_tree(root: str | Path, *, scale: float = 1.0, seed: int = 0, workers: int = 2,
               quality: int = 90) -> dict:
    """Write the Imagenette-format tree under ``root`` (``root/imagenette2-160/...``).

    ``scale``: the fraction of the real counts (1.0: the whole 13,394 images; at least one image
    per class and split). Returns ``{"top": Path, "images": {split: n}, "bytes": n, "seconds": s}``.
    """
    spec = registry.get(NETTE)
    top = Path(root) / spec.top_dir
    if top.exists():
        raise SystemExit(f"{top} exists already: give an empty folder (nothing overwritten)")
    start, written, counts = time.perf_counter(), 0, {}
    for split, total in REAL_COUNTS.items():
        sizes = per_class(max(len(spec.classes), round(total * scale)), len(spec.classes))
        counts[split] = sum(sizes)
        rendered = synthnet.make_synthnet(split,
                                          num_classes=len(spec.classes), per_class=max(sizes),
                                          image_size=SHORT_SIDE, seed=seed, workers=workers)
        firsts = np.cumsum([0] + sizes[:-1]) + (1 if split == "val" else 0)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            jobs = [pool.submit(_write_class, top / split / wnid, split, wnid,
                                rendered.images[rendered.labels == k][:n], int(first), quality)
                    for k, (wnid, n, first) in enumerate(zip(spec.classes, sizes, firsts))]
            written += sum(job.result() for job in jobs)
    return {"top": top, "images": counts, "bytes": written,
            "seconds": round(time.perf_counter() - start, 1)}


def prepare(top: Path, sizes, *, workers: int = 2) -> dict:
    """Build the course's decode-once caches of the tree at each of ``sizes`` px (where
    ``COURSE_DATA`` points); returns ``{size: seconds}``."""
    took = {}
    for size in sizes:
        start = time.perf_counter()
        prepare_caches(NETTE, int(size), root=top, workers=workers)
        took[int(size)] = round(time.perf_counter() - start, 1)
    return took


def measure_laptop(*, scale: float = 1.0, workers: int = 2, out: Path | None = None) -> dict:
    """Notebook 06 on the laptop profile with ``dataset_name="imagenette2-160"`` and fp32
    forced, on a generated set of ``scale`` × the real counts, its reference model trained
    inside (none is there yet): the seconds and peak resident memory of the run, beside the
    laptop budget. Writes the record to ``out`` (a JSON file) when given."""
    with tempfile.TemporaryDirectory(prefix="imagenette-like-") as scratch:
        scratch = Path(scratch)
        env = dict(os.environ, COURSE_PROFILE="laptop", COURSE_PRECISION="fp32",
                   COURSE_DATA=str(scratch / "data"))
        env.pop("CI", None)
        os.environ["COURSE_DATA"] = env["COURSE_DATA"]  # prepare() writes where the run reads
        tree = write_tree(scratch / "src", scale=scale, workers=workers)
        cache_s = prepare(tree["top"], [64], workers=workers)[64]
        seconds, peak = measured_run(
            [sys.executable, "-m", "papermill", str(NOTEBOOK), str(scratch / "06.ipynb"),
             "-p", "dataset_name", NETTE, "--cwd", str(NOTEBOOK.parent)], env)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "what": "notebook 06, laptop profile, dataset_name='imagenette2-160', fp32 forced, "
                "reference model trained inside; generated JPEGs (SynthNet pictures in "
                "Imagenette's layout and counts), so accuracy is not measured here",
        "cpu": cpu_description(), "images": tree["images"], "jpeg_mb": round(tree["bytes"] / 1e6),
        "generate_s": tree["seconds"], "cache_64px_s": cache_s, "seconds": round(seconds),
        "peak_gib": round(peak, 2), "limits": LIMITS,
        "within_budget": seconds <= LIMITS["seconds"] and peak <= LIMITS["peak_gib"]}
    if out is not None:
        out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", help="an empty folder for the JPEG tree")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the real 9,469 + 3,925 images (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prepare", type=int, nargs="*", default=[],
                        help="also build the decode-once caches at these sizes (px)")
    parser.add_argument("--measure-laptop", type=Path, metavar="JSON",
                        help="instead: time notebook 06 on the laptop profile on a generated set "
                             "(in a temporary folder) and write the record to JSON")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error(f"--scale {args.scale}: a fraction in (0, 1]")
    if args.measure_laptop:
        record = measure_laptop(scale=args.scale, workers=args.workers, out=args.measure_laptop)
        print(json.dumps(record, indent=1, ensure_ascii=False))
        return 0 if record["within_budget"] else 1
    if args.root is None:
        parser.error("give a folder for the tree (or --measure-laptop JSON)")
    done = write_tree(args.root, scale=args.scale, workers=args.workers)
    print(f"generated Imagenette-format set (SynthNet pictures, not photographs): "
          f"{done['images']['train']:,} train + {done['images']['val']:,} val JPEGs, "
          f"{done['bytes'] / 1e6:.0f} MB, in {done['seconds']} s under {done['top']}")
    for size, seconds in prepare(done["top"], args.prepare, workers=args.workers).items():
        print(f"decode-once cache at {size} px built in {seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
