"""Run the speed benchmarks and report each as a ratio against its baseline.

Every benchmark times a baseline and the course's implementation in the same process, on the
same data, and reports both and their ratio together with the hardware and versions. Results
are printed and, with ``--save``, written to ``benchmarks/results/<date>_<device>.json``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from pathlib import Path

NAME = "bench"
HELP = "speed benchmarks, as ratios against baselines run in the same process"


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: pick_device())")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs, not speed")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--save", nargs="?", const="benchmarks/results", default=None,
                        metavar="DIR", help="also write a JSON file there (default DIR: %(const)s)")


def format_table(results: list[dict]) -> str:
    header = ("benchmark", "baseline", "candidate", "unit", "ratio", "target", "met")
    rows = [header]
    for r in results:
        target = "-" if r["target_ratio"] is None else f"≥{r['target_ratio']:g}×"
        met = {None: "-", True: "yes", False: "NO"}[r["met"]]
        rows.append((r["name"], f"{r['baseline']:.4g}", f"{r['candidate']:.4g}", r["unit"],
                     f"{r['ratio']:.2f}×", target, met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args) -> int:
    from ..bench import BENCHMARKS
    from ..device import DeviceError, environment_report, pick_device

    try:
        device = pick_device(args.device)
    except DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        print(f"error: unknown benchmark(s) {', '.join(unknown)}; "
              f"available: {', '.join(BENCHMARKS) or '(none)'}", file=sys.stderr)
        return 2
    names = args.names or list(BENCHMARKS)
    results = []
    for name in names:
        module = importlib.import_module(f"course_lib.bench.{name}")
        print(f"running {name} on {device}...", file=sys.stderr)
        results.extend(r.as_dict() for r in module.run(device, args.quick))
    env = environment_report()
    env["device"] = str(device)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "environment": env,
        "results": results,
    }
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"{env['device_name']} ({device}), torch {env['torch']}, "
              f"{env['cpu_cores']} CPU cores, {record['date']}")
        print(format_table(results) if results else "(no benchmarks registered)")
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{record['date'][:10]}_{device.type}{'_quick' if args.quick else ''}.json"
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"saved {path}", file=sys.stderr)
    return 0
