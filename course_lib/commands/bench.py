"""Run the speed benchmarks and report each as a ratio against its baseline.

Every benchmark times a baseline and the course's implementation in the same process, on the
same data, and reports both and their ratio together with the hardware and versions. Results
are printed and, with ``--save``, written to ``benchmarks/results/<date>_<device>.json``.

The JSON holds, beside the environment report, ``cpu`` (model, the instruction-set flags that
matter to torch, threads: :func:`course_lib.device.cpu_report`) and, in every result,
the peak memory of the benchmark that produced it (``peak_rss_mb``: this process;
``peak_tree_rss_mb``: with its worker processes; see :mod:`course_lib.bench.memory`). Run it on
an otherwise idle machine: other work on the same cores moves every ratio.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from ..bench import BENCHMARKS, augment, loader, scoring, synthnet
from ..bench import train as train_bench
from ..bench.memory import PeakMemory
from ..device import cpu_report, environment_report, pick_device

# every benchmark module, by the name BENCHMARKS lists it under
MODULES = {module.__name__.rsplit(".", 1)[1]: module
           for module in (scoring, loader, synthnet, augment, train_bench)}

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
    """The results as a text table, one row per result (and one per model-step floor)."""
    header = ("benchmark", "baseline", "candidate", "unit", "ratio", "target", "met", "peak MB")
    rows = [header]
    yes_no = {None: "-", True: "yes", False: "NO"}
    for r in results:
        target = "-" if r["target_ratio"] is None else f"≥{r['target_ratio']:g}×"
        peak = r.get("peak_tree_rss_mb")
        rows.append((r["name"], f"{r['baseline']:.4g}", f"{r['candidate']:.4g}", r["unit"],
                     f"{r['ratio']:.2f}×", target, yes_no[r["met"]],
                     "-" if peak is None else f"{peak:.0f}"))
        if r.get("floor_share") is not None:
            rows.append((f"{r['name']} / floor", f"{r['floor_images_per_s']:.4g}",
                         f"{r['candidate']:.4g}", r["unit"], f"{r['floor_share']:.2f}×",
                         f"≥{r['floor_target_share']:g}×", yes_no[r["floor_met"]], ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args) -> int:
    device = pick_device(args.device)  # a device this machine lacks: one line from __main__
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        print(f"error: unknown benchmark(s) {', '.join(unknown)}; "
              f"available: {', '.join(BENCHMARKS) or '(none)'}", file=sys.stderr)
        return 2
    names = args.names or list(BENCHMARKS)
    results = []
    for name in names:
        module = MODULES[name]
        print(f"running {name} on {device}...", file=sys.stderr)
        with PeakMemory() as memory:
            found = module.run(device, args.quick)
        results.extend({**r.as_dict(), **memory.result} for r in found)
    env = environment_report()
    env["device"] = str(device)
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "environment": env,
        "cpu": cpu_report(),
        "results": results,
    }
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        cpu = record["cpu"]
        isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if cpu["flags"].get(f)]
        print(f"{env['device_name']} ({device}), torch {env['torch']}, "
              f"{env['cpu_cores']} CPU cores, {cpu['torch_threads']} torch threads, "
              f"{' '.join(isa) or 'no AVX2'}, native bf16: {cpu['native_bf16']}, "
              f"{record['date']}")
        print(format_table(results) if results else "(no benchmarks registered)")
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{record['date'][:10]}_{device.type}{'_quick' if args.quick else ''}.json"
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"saved {path}", file=sys.stderr)
    return 0
