#!/usr/bin/env python3
"""``make execute``: re-run notebooks in place under one profile, measure each, record it.

For every notebook given (default: all of ``notebooks/NN_*.ipynb``, in order) it runs
``jupyter nbconvert --execute --inplace`` under ``COURSE_PROFILE=<profile>``, measuring the wall
time and the peak resident memory of the run (the largest of the processes it waited for: the
kernel, in practice), then writes both into ``docs/timings.json`` (``laptop_s`` and
``laptop_peak_gib`` for the laptop profile, ``smoke_s`` for smoke, ``gpu_s`` for gpu), strips the
notebooks' metadata and spreads the figures with ``.ci/timings.py --fix``.

``--reference`` first trains the profile's reference model afresh
(``python -m course_lib train --reference``, timed: ``reference_model_<profile>_s``), so every
chapter that loads it is measured with it present, as the table says. The machine's CPU is
recorded beside the figures; run it on an idle machine.

``--precision fp32`` times the chapters as a CPU without bf16 instructions runs them
(``COURSE_PRECISION=fp32``): the notebooks run from a temporary copy and are left as they are
(their kept outputs stay the default precision's), in a temporary ``COURSE_DATA`` so the
reference model it trains (with ``--reference``) never replaces the one the outputs came from,
and the figures go to ``<profile>_fp32_s``, ``<profile>_fp32_peak_gib`` and
``reference_model_<profile>_fp32_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "docs" / "timings.json"
FIELDS = {"laptop": ("laptop_s", "laptop_peak_gib"), "smoke": ("smoke_s", None),
          "gpu": ("gpu_s", None)}


def measured_run(command: list[str], env: dict) -> tuple[float, float]:
    """Run ``command`` in a child that reports its own children's peak RSS: ``(seconds, GiB)``.

    ``RUSAGE_CHILDREN``'s ``ru_maxrss`` is the largest resident set of any process waited for,
    so a fresh child per notebook keeps one notebook's peak from hiding the next one's."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "rc = subprocess.call(sys.argv[1:]); "
             "print(time.perf_counter() - t, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
             "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", probe, *command], env=env, cwd=ROOT,
                          stderr=subprocess.PIPE, text=True)
    lines = done.stderr.strip().splitlines()
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"execute: {' '.join(command[-1:])} failed (exit {done.returncode})")
    seconds, kib = lines[-1].split()
    return float(seconds), int(kib) / 2**20


def cpu_description() -> str:
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    features = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {' + '.join(features) or 'no AVX2'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default="laptop", choices=sorted(FIELDS))
    parser.add_argument("--reference", action="store_true",
                        help="train the reference model afresh first, and time it")
    parser.add_argument("--precision", choices=("auto", "fp32"), default="auto",
                        help="fp32: time the chapters with fp32 forced, keeping their outputs")
    parser.add_argument("--no-record", action="store_true",
                        help="re-run only; leave docs/timings.json (and the times it spreads) as they are")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    env = dict(os.environ, COURSE_PROFILE=args.profile)
    env.pop("CI", None)
    suffix, scratch = "", None
    if args.precision == "fp32":
        suffix, scratch = "_fp32", Path(tempfile.mkdtemp(prefix="course-fp32-"))
        env.update(COURSE_PRECISION="fp32", COURSE_DATA=str(scratch / "data"))
    data = json.loads(TIMINGS.read_text(encoding="utf-8"))
    bin_dir = Path(sys.executable).parent
    if args.reference:
        train = ("import os; from course_lib import reference; "
                 "path = reference.reference_path(os.environ['COURSE_PROFILE']); "
                 "path.unlink(missing_ok=True); reference.train_reference(os.environ['COURSE_PROFILE'])")
        seconds, _ = measured_run([sys.executable, "-c", train], env)
        data[f"reference_model_{args.profile}{suffix}_s"] = round(seconds)
        print(f"reference model ({args.profile}{suffix}): {seconds:.0f} s")
    time_field, peak_field = FIELDS[args.profile]
    if suffix:
        time_field = time_field.replace("_s", f"{suffix}_s")
        peak_field = peak_field and peak_field.replace("_peak", f"{suffix}_peak")
    for path in paths:
        path = path.resolve()
        where = ["--inplace"] if scratch is None else ["--output-dir", str(scratch)]
        seconds, peak = measured_run(
            [str(bin_dir / "jupyter"), "nbconvert", "--to", "notebook", "--execute", *where,
             "--ExecutePreprocessor.timeout=1800", str(path)], env)
        print(f"{path.stem}: {seconds:.0f} s, peak {peak:.2f} GiB ({args.profile}{suffix})")
        entry = data["chapters"][path.stem]
        entry[time_field] = round(seconds)
        if peak_field:
            entry[peak_field] = round(peak, 2)
    if not args.no_record:
        data["machine"]["cpu"] = cpu_description()
        data["machine"]["measured"] = time.strftime("%Y-%m-%d")
        import torch  # only to record its version beside the figures

        data["machine"]["torch"] = torch.__version__.split("+")[0]
        TIMINGS.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    if scratch is None:
        subprocess.run([sys.executable, str(ROOT / ".ci" / "check_notebooks.py"), "--fix",
                        *map(str, paths)], check=False)
    else:  # an fp32 run leaves the notebooks as they are; its copies and models go
        shutil.rmtree(scratch, ignore_errors=True)
    if args.no_record:
        return 0
    return subprocess.call([sys.executable, str(ROOT / ".ci" / "timings.py"), "--fix"])


if __name__ == "__main__":
    sys.exit(main())
