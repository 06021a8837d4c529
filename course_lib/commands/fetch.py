"""Download, verify and extract a dataset into the data workspace (COURSE_DATA, default data/).

    python -m course_lib fetch imagenette2-160          # about 99 MB
    python -m course_lib fetch --list                   # names, sizes, checks, licences
    python -m course_lib fetch cifar10 --root /big/disk

Each step is skipped when already done: a verified archive is not downloaded again, and a
dataset whose folder carries the completion marker is not extracted again. A download that does
not match its published checksum is deleted and reported. Without network, the error says which
file to download by hand and where to put it (ROOT/downloads/FILE); then run fetch again.
The `checks` column of --list says which checks each dataset gets. An archive that would
unpack to far more bytes or files than the dataset has (an archive bomb) is refused. Two fetches of the same dataset
at once (two notebooks, or a notebook and this command) do not collide: the second waits.

ILSVRC-2012 is never downloaded: `fetch ilsvrc2012` checks IMAGENET_ROOT (or --root) and
explains what to put there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..datasets import readers, registry
from ..errors import CourseError, one_line

NAME = "fetch"
HELP = "download, verify and extract a dataset (fetch --list shows them)"


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", help="dataset name (see --list)")
    parser.add_argument("--root", type=Path, default=None,
                        help="data workspace (default: COURSE_DATA or data/); for ilsvrc2012, the "
                             "ImageNet folder (default: IMAGENET_ROOT)")
    parser.add_argument("--list", action="store_true", help="list the datasets and exit")
    parser.add_argument("--keep-archive", action="store_true",
                        help="keep the downloaded archive after extracting it")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _human(size: int | None) -> str:
    if size is None:
        return "local"
    value, unit = float(size), "B"
    for larger in ("KB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


def format_listing(datasets) -> str:
    """One row per dataset: name, download size, images per split, present or not, the checks a
    download gets, licence."""
    rows = [("name", "size", "images", "here", "checks", "licence")]
    for spec in datasets.values():
        counts = ", ".join(f"{k} {v:,}" for k, v in spec.counts.items())
        rows.append((spec.name, _human(spec.size), counts, "yes" if spec.is_present() else "-",
                     spec.checks_summary(), spec.licence))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True))
                     + "  " + row[5] for row in rows)


def run(args) -> int:
    if args.list:
        print(format_listing(registry.DATASETS))
        return 0
    if not args.name:
        print("error: give a dataset name, or --list to see them: "
              + ", ".join(registry.DATASETS), file=sys.stderr)
        return 2
    try:
        spec = registry.get(args.name)
    except CourseError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        path = spec.fetch(args.root, progress=not args.no_progress, keep_archive=args.keep_archive)
    except (CourseError, OSError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    where = spec.locate(args.root) if spec.layout != "ilsvrc2012" else path
    print(f"{spec.name}: ready at {where}")
    for line in count_report(spec, args.root):
        print(line)
    print(f"licence: {spec.licence}")
    return 0


def count_report(spec, root) -> list[str]:
    """One line per split: images found and the published count (a mismatch is flagged)."""
    lines = []
    for split, expected in spec.counts.items():
        if spec.layout == "ilsvrc2012" and not (spec.locate(root) / split).is_dir():
            lines.append(f"  {split}: no {split}/ folder there")
            continue
        try:
            if spec.layout == "cifar10":
                found = len(readers.load_cifar10(spec.locate(root), split)[1])
            else:
                found = len(spec.samples(root, split))
        except (registry.DatasetNotReadyError, readers.LayoutError) as exc:
            lines.append(f"  {split}: cannot be read: {exc}")
            continue
        flag = "" if found == expected else "   <- differs from the published count"
        lines.append(f"  {split}: {found:,} images (published: {expected:,}){flag}")
    return lines
