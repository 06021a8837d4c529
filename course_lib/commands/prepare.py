"""Build decode-once caches: images decoded, resized and centre-cropped once, stored as uint8.

    python -m course_lib prepare synthnet --size 64            # profile-sized SynthNet
    python -m course_lib prepare synthnet --size 64 --num-classes 10 --knob clutter=0.9
    python -m course_lib prepare imagenette2-160 --size 128    # a registry dataset
    python -m course_lib prepare imagefolder --root DIR --size 64   # any DIR/<class>/<image> tree

For ``synthnet`` and registry datasets one cache per split is written under
``<out>/<split>/``; for ``imagefolder`` one cache is written to ``<out>``. The default ``<out>``
is ``$COURSE_DATA/caches/<name>-<size>`` (``imagefolder-<folder name>-<size>`` for a folder).
A cache whose inputs have not changed is opened, not rebuilt. Bad files are skipped and listed
(``--json`` prints them with their reasons); a class whose every file is bad stops the build.

Every refusal is one ``error: prepare <name>: ...`` line on stderr and exit status 2: an unknown
``COURSE_PROFILE`` (when the profile is needed), an ``--out`` folder that is not a cache, a disk
without room for the cache (the space needed is checked before writing), and so on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import CourseError, CourseValueError, one_line
from ..plan import plan
from ..recipe import cache_folder, prepare_caches, prepare_folder_cache

NAME = "prepare"
HELP = "build the decode-once uint8 cache of SynthNet, a registry dataset or an image folder"


def add_arguments(parser) -> None:
    parser.add_argument("name", help="synthnet, imagefolder, or a registry dataset name")
    parser.add_argument("--profile", default=None,
                        help="whose sizes to use: smoke, laptop, gpu or full (default: "
                             "COURSE_PROFILE, else chosen as course_lib.profiles says)")
    parser.add_argument("--size", type=int, default=None,
                        help="side of the stored images in px (default: the profile's image_size)")
    parser.add_argument("--root", default=None,
                        help="imagefolder: the class/image tree; registry: where the dataset "
                             "was fetched (default: fetch it into the data folder)")
    parser.add_argument("--out", default=None, help="cache folder (default: see above)")
    parser.add_argument("--splits", default=None,
                        help="comma-separated splits (default: all the dataset has; "
                             "train,val,test for synthnet)")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--allow-empty-classes", action="store_true",
                        help="build even if every image of a class is bad (warns)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    synth = parser.add_argument_group("synthnet")
    synth.add_argument("--num-classes", type=int, default=None)
    synth.add_argument("--per-class", type=int, default=None,
                       help="images per class in every split (default: the profile's)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                       help="a SynthNet knob, e.g. clutter=0.9 or viewpoint=0.2:0.8 (a range)")


def _parse_knobs(items: list[str]) -> dict:
    knobs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise CourseValueError(f"--knob {item!r}: expected NAME=VALUE, e.g. clutter=0.9")
        try:
            lo, _, hi = value.partition(":")
            knobs[name.strip()] = (float(lo), float(hi)) if hi else float(lo)
        except ValueError:
            raise CourseValueError(f"--knob {item!r}: {value!r} is not a number or lo:hi") from None
    return knobs


def run(args) -> int:
    name = args.name.lower()
    progress = not args.json and sys.stderr.isatty()
    try:
        if name == "imagefolder":
            if not args.root:
                raise CourseValueError("imagefolder needs --root DIR (a DIR/<class>/<image> tree)")
            size = plan(args.profile, image_size=args.size, splits=()).image_size
            root = Path(args.root)
            out = Path(args.out) if args.out else cache_folder(
                f"imagefolder-{root.resolve().name}", size)
            caches = {"all": prepare_folder_cache(
                root, size, out=out, workers=args.workers, force=args.force, progress=progress,
                allow_empty_classes=args.allow_empty_classes)}
        else:
            sizes = plan(args.profile, dataset=name, image_size=args.size,
                         num_classes=args.num_classes, splits=())
            size = sizes.image_size
            out = Path(args.out) if args.out else cache_folder(name, size)
            splits = [s.strip() for s in args.splits.split(",") if s.strip()] \
                if args.splits else None
            caches = prepare_caches(
                name, size, splits=splits, out=out, root=args.root, seed=args.seed,
                knobs=_parse_knobs(args.knob), num_classes=sizes.num_classes,
                per_class=args.per_class or sizes.per_class, workers=args.workers,
                force=args.force, progress=progress,
                allow_empty_classes=args.allow_empty_classes)
    except (CourseError, OSError) as exc:
        print(f"error: prepare {args.name}: {one_line(exc)}", file=sys.stderr)
        return 2
    summary = _summary(args.name, size, out, caches)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for split, info in summary["splits"].items():
            state = "built" if info["rebuilt"] else "up to date"
            print(f"{split}: {info['n_images']} images, {info['n_skipped']} skipped, "
                  f"{len(info['classes'])} classes, {size}px → {info['cache']} ({state})")
            for item in info["skipped"][:20]:
                print(f"  skipped {item['file']}: {item['reason']}")
            if info["n_skipped"] > 20:
                print(f"  ... and {info['n_skipped'] - 20} more (see skipped.json)")
    return 0


def _summary(name: str, size: int, out: Path, caches: dict) -> dict:
    splits = {split: cache.summary() for split, cache in caches.items()}
    classes = list(dict.fromkeys(c for info in splits.values() for c in info["classes"]))
    return {
        "name": name,
        "size": size,
        "cache": str(out),
        "n_images": sum(info["n_images"] for info in splits.values()),
        "n_skipped": sum(info["n_skipped"] for info in splits.values()),
        "skipped": [item for info in splits.values() for item in info["skipped"]],
        "classes": classes,
        "splits": splits,
    }
