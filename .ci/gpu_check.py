#!/usr/bin/env python3
"""``make gpu-check``: everything that needs a CUDA GPU, in one command, in under 8 minutes.

A lent GPU machine has no network and only a copy of the working tree, so nothing here
downloads: SynthNet is rendered on the spot. Steps, each with its own time limit inside one
overall budget (:data:`BUDGET_S`):

1. ``synthnet``: render a few SynthNet images at the gpu profile's size (the notebook renders
   its own splits in memory; this times the renderer and proves it works offline);
2. ``cuda-tests``: the CUDA-only tests, i.e. every test marked ``cuda`` or skipped without a
   CUDA device (this file is also the pytest plugin that selects them: ``-p gpu_check``);
3. ``bench``: ``python -m course_lib bench --device cuda --save`` (targets: the model step
   ≥ 3× eager fp32 and ≥ 40,000 images/s; end to end from the cache ≥ 8× a PIL DataLoader);
4. ``notebook-05``: notebooks/05_training_core.ipynb under the gpu profile on SynthNet
   (papermill ``-p profile_name gpu -p dataset_name synthnet``).

It prints a summary and writes ``benchmarks/results/<date>_gpu_check.json`` (each step's
status, seconds and output tail, the benchmark ratios, the GPU and versions) next to the
bench's own JSON and the executed notebook. Exit status: 0 when every step passed, 1 when one
failed or ran out of time, 2 when there is no CUDA device (:data:`NO_CUDA`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = "no CUDA device: gpu-check needs one"
BUDGET_S = 470.0  # the whole check, under 8 minutes
STEP_LIMITS_S = {"synthnet": 60.0, "cuda-tests": 120.0, "bench": 240.0, "notebook-05": 400.0}
NOTEBOOK = ROOT / "notebooks" / "05_training_core.ipynb"
RESULTS = ROOT / "benchmarks" / "results"


# --------------------------------------------------------------------------------------------
# pytest plugin: keep only the CUDA-only tests (loaded with -p gpu_check, .ci on sys.path)


def needs_cuda(item) -> bool:
    """True for a test marked ``cuda`` or carrying a ``skipif`` whose reason or condition
    names CUDA (``@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA
    device")``, also as a module's ``pytestmark``)."""
    if item.get_closest_marker("cuda") is not None:
        return True
    for mark in item.iter_markers("skipif"):
        reason = str(mark.kwargs.get("reason", ""))
        conditions = " ".join(str(c) for c in mark.args)
        if "cuda" in reason.lower() or "cuda" in conditions.lower():
            return True
    return False


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device (run by make gpu-check)")


def pytest_collection_modifyitems(config, items) -> None:
    keep = [item for item in items if needs_cuda(item)]
    dropped = [item for item in items if not needs_cuda(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


# --------------------------------------------------------------------------------------------
# the check


def _tail(text: str, limit: int = 4000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


class Budget:
    """Seconds left of :data:`BUDGET_S`; each step gets the smaller of its limit and that."""

    def __init__(self, total: float):
        self.total, self.start = total, time.monotonic()

    def left(self) -> float:
        return self.total - (time.monotonic() - self.start)


def run_step(name: str, cmd: list[str], budget: Budget, env: dict) -> dict:
    """Run ``cmd`` in the repository root within its limit; returns the step's record."""
    limit = min(STEP_LIMITS_S[name], budget.left())
    record = {"step": name, "command": " ".join(cmd), "limit_s": round(limit, 1)}
    if limit < 5:
        record.update(status="skipped", seconds=0.0, output="the 8-minute budget is spent")
        return record
    print(f"\n=== {name} (limit {limit:.0f} s): {record['command']}", flush=True)
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=limit)
        status = "passed" if done.returncode == 0 else f"failed (exit {done.returncode})"
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        status = f"timed out after {limit:.0f} s"
        output = ((exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes)
                  else exc.stdout or "") + ((exc.stderr or b"").decode(errors="replace")
                                            if isinstance(exc.stderr, bytes) else exc.stderr or "")
    record.update(status=status, seconds=round(time.monotonic() - start, 1),
                  output=_tail(output))
    print(_tail(output, 2500), flush=True)
    print(f"--- {name}: {status} in {record['seconds']} s", flush=True)
    return record


def bench_results(since: float) -> dict | None:
    """The CUDA bench JSON written after ``since`` (epoch seconds), or None."""
    found = sorted((p for p in RESULTS.glob("*_cuda.json") if p.stat().st_mtime >= since),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    record = json.loads(found[-1].read_text(encoding="utf-8"))
    return {"file": str(found[-1].relative_to(ROOT)),
            "results": [{k: r.get(k) for k in ("name", "baseline", "candidate", "unit", "ratio",
                                               "target_ratio", "met", "notes")}
                        for r in record.get("results", [])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help="seconds for the whole check (default: %(default)s)")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(f"error: {NO_CUDA} (torch {torch.__version__} sees none; CUDA build: "
              f"{torch.version.cuda or 'no'})", file=sys.stderr)
        return 2
    budget = Budget(args.budget)
    started = time.time()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    RESULTS.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="gpu-check-data-") as data:
        env = {**os.environ, "COURSE_DATA": data, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / ".ci"),
                                                           os.environ.get("PYTHONPATH")]))}
        env.pop("COURSE_PROFILE", None)
        env.pop("CI", None)
        executed = RESULTS / f"{date}_gpu_check_05_training_core.ipynb"
        steps = [
            ("synthnet", [python, "-c",
                          "import time; from course_lib.datasets import synthnet; "
                          "from course_lib.profiles import get_profile; p = get_profile('gpu'); "
                          "t = time.perf_counter(); "
                          "d = synthnet.make_synthnet('train', num_classes=p.num_classes, "
                          "per_class=20, image_size=p.image_size, workers=8); "
                          "s = time.perf_counter() - t; "
                          "print(f'SynthNet: {len(d.labels)} images at {p.image_size} px in "
                          "{s:.1f} s ({len(d.labels) / s:.0f} images/s, 8 threads)')"]),
            ("cuda-tests", [python, "-m", "pytest", "tests", "-p", "gpu_check", "-q", "-rs",
                            "-p", "no:cacheprovider"]),
            ("bench", [python, "-m", "course_lib", "bench", "--device", "cuda", "--save"]),
            ("notebook-05", [python, "-m", "papermill", str(NOTEBOOK), str(executed),
                             "-p", "profile_name", "gpu", "-p", "dataset_name", "synthnet",
                             "--cwd", str(NOTEBOOK.parent), "--log-output"]),
        ]
        records = [run_step(name, cmd, budget, env) for name, cmd in steps]
    bench = bench_results(started)
    summary = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "seconds": round(budget.total - budget.left(), 1),
        "budget_s": budget.total,
        "steps": records,
        "bench": bench,
        "notebook": str(executed.relative_to(ROOT)) if executed.exists() else None,
    }
    out = RESULTS / f"{date}_gpu_check.json"
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n=== gpu-check on {summary['gpu']} (torch {summary['torch']}, CUDA "
          f"{summary['cuda']}): {summary['seconds']} s of {budget.total:.0f}")
    for r in records:
        print(f"  {r['step']:<12} {r['status']:<28} {r.get('seconds', 0):>6} s")
    for r in (bench or {}).get("results", []):
        target = "" if r["target_ratio"] is None else f" (target ≥ {r['target_ratio']:g}×: " \
                 f"{'met' if r['met'] else 'NOT met'})"
        print(f"  bench {r['name']:<16} {r['baseline']:.4g} → {r['candidate']:.4g} {r['unit']}"
              f" = {r['ratio']:.2f}×{target}")
    print(f"written: {out.relative_to(ROOT)}")
    ok = all(r["status"] == "passed" for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
