#!/usr/bin/env python3
"""``make gpu-check``: everything that needs a CUDA GPU, every chapter under the gpu profile.

A lent GPU machine has no network and only a copy of the working tree, so nothing here
downloads: SynthNet is rendered on the spot, and an Imagenette-format set of generated JPEGs
(``.ci/imagenette_like.py``: the real layout, wnids and counts, SynthNet pictures) stands in for
Imagenette-160. Steps, each with its own time limit inside one overall budget (``--budget``,
default: the sum of the limits):

1. ``synthnet``: render a few SynthNet images at the gpu profile's size (times the renderer and
   proves it works offline);
2. ``cuda-tests``: the CUDA-only tests, i.e. every test marked ``cuda`` or skipped without a
   CUDA device (this file is also the pytest plugin that selects them: ``-p gpu_check``);
3. ``bench``: ``python -m course_lib bench --device cuda --save`` (targets: the model step
   ≥ 3× eager fp32 and ≥ 40,000 images/s; end to end from the cache ≥ 8× a PIL DataLoader);
4. ``imagenette``: the generated Imagenette-format set (9,469 + 3,925 JPEGs) and its 160-px
   decode-once cache, in a temporary ``COURSE_DATA``;
5. ``chapter-NN``: each chapter under the gpu profile (papermill ``-p profile_name gpu``) on
   that set, its limit from its ``gpu_min_estimate`` in ``docs/timings.json``. Pretrained
   weights and ImageNetV2 stay absent (no network), so the chapters' opt-in parts say so and
   skip, as on a learner's first run.

``--steps`` and ``--chapters`` pick a part (a lent machine may give 10 minutes a call:
``make gpu-check STEPS="imagenette chapters" CHAPTERS="06 08"``). It prints a summary and writes
``benchmarks/results/<date>_gpu_check.json`` (each step's status, seconds and output tail, the
benchmark ratios, the GPU and versions) and ``benchmarks/results/<date>_gpu_check/``: each
executed chapter and the figures it drew (``NN_cellK_J.png``). Exit status: 0 when every step
passed, 1 when one failed or ran out of time, 2 when there is no CUDA device (:data:`NO_CUDA`).
"""

from __future__ import annotations

import argparse
import base64
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
STEP_LIMITS_S = {"synthnet": 60.0, "cuda-tests": 120.0, "bench": 240.0, "imagenette": 300.0}
STEPS = ("synthnet", "cuda-tests", "bench", "imagenette", "chapters")
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "benchmarks" / "results"
TIMINGS = ROOT / "docs" / "timings.json"


def chapters() -> dict[str, Path]:
    """``{"00": notebooks/00_start_here.ipynb, ...}``: every chapter, in order."""
    return {p.name[:2]: p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}


def chapter_limit(stem: str) -> float:
    """A chapter's limit: twice its ``gpu_min_estimate`` (a Colab T4's minutes), plus two
    minutes for the kernel, imports and the first CUDA call."""
    estimate = json.loads(TIMINGS.read_text(encoding="utf-8"))["chapters"][stem]["gpu_min_estimate"]
    return 120.0 + 120.0 * float(estimate)


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


def run_step(name: str, cmd: list[str], budget: Budget, env: dict,
             limit: float | None = None) -> dict:
    """Run ``cmd`` in the repository root within its limit (``limit``, else
    :data:`STEP_LIMITS_S`, and never past the budget); returns the step's record."""
    limit = min(STEP_LIMITS_S[name] if limit is None else limit, budget.left())
    record = {"step": name, "command": " ".join(cmd), "limit_s": round(limit, 1)}
    if limit < 5:
        record.update(status="skipped", seconds=0.0, output="the budget is spent")
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


def save_figures(executed: Path, folder: Path) -> list[str]:
    """Write every PNG the executed notebook drew to ``folder`` as ``NN_cellK_J.png``; returns
    the file names."""
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    saved = []
    for k, cell in enumerate(cells):
        pngs = [out["data"]["image/png"] for out in cell.get("outputs", [])
                if "image/png" in out.get("data", {})]
        for j, png in enumerate(pngs):
            name = f"{executed.name[:2]}_cell{k}_{j}.png"
            (folder / name).write_bytes(base64.b64decode("".join(png)))
            saved.append(name)
    return saved


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole check (default: the sum of the steps' limits)")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS),
                        help="which steps (default: all; 'chapters' needs 'imagenette')")
    parser.add_argument("--chapters", nargs="+", default=None, metavar="NN",
                        help="which chapters, by number (default: all)")
    args = parser.parse_args(argv)
    known = chapters()
    picked = args.chapters or list(known)
    unknown = [c for c in picked if c.zfill(2) not in known]
    if unknown:
        parser.error(f"--chapters {' '.join(unknown)}: no such chapter (have {', '.join(known)})")
    args.chapters = [known[c.zfill(2)] for c in picked]
    if "chapters" in args.steps and "imagenette" not in args.steps:
        parser.error("--steps chapters needs imagenette too (the chapters train on its set)")
    return args


def planned_steps(args: argparse.Namespace, python: str, data: str, out: Path) -> list[tuple]:
    """``[(name, command, limit or None)]`` for the steps asked for, in order."""
    table = {
        "synthnet": [("synthnet", [python, "-c",
                      "import time; from course_lib.datasets import synthnet; "
                      "from course_lib.profiles import get_profile; p = get_profile('gpu'); "
                      "t = time.perf_counter(); "
                      "d = synthnet.make_synthnet('train', num_classes=p.num_classes, "
                      "per_class=20, image_size=p.image_size, workers=8); "
                      "s = time.perf_counter() - t; "
                      "print(f'SynthNet: {len(d.labels)} images at {p.image_size} px in "
                      "{s:.1f} s ({len(d.labels) / s:.0f} images/s, 8 threads)')"], None)],
        "cuda-tests": [("cuda-tests", [python, "-m", "pytest", "tests", "-p", "gpu_check", "-q",
                                       "-rs", "-p", "no:cacheprovider"], None)],
        "bench": [("bench", [python, "-m", "course_lib", "bench", "--device", "cuda", "--save"],
                   None)],
        "imagenette": [("imagenette", [python, str(ROOT / ".ci" / "imagenette_like.py"),
                                       str(Path(data) / "src"), "--prepare", "160",
                                       "--workers", str(min(16, os.cpu_count() or 2))], None)],
        "chapters": [(f"chapter-{path.name[:2]}",
                      [python, "-m", "papermill", str(path), str(out / path.name),
                       "-p", "profile_name", "gpu", "--cwd", str(NOTEBOOKS)],
                      chapter_limit(path.stem)) for path in args.chapters],
    }
    return [step for name in args.steps for step in table[name]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(f"error: {NO_CUDA} (torch {torch.__version__} sees none; CUDA build: "
              f"{torch.version.cuda or 'no'})", file=sys.stderr)
        return 2
    started = time.time()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    out = RESULTS / f"{date}_gpu_check"
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="gpu-check-data-") as data:
        steps = planned_steps(args, python, data, out)
        budget = Budget(args.budget if args.budget is not None else
                        sum(STEP_LIMITS_S[n] if limit is None else limit
                            for n, _, limit in steps))
        env = {**os.environ, "COURSE_DATA": data, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / ".ci"),
                                                           os.environ.get("PYTHONPATH")]))}
        env.pop("COURSE_PROFILE", None)
        env.pop("CI", None)
        records = []
        for name, cmd, limit in steps:
            record = run_step(name, cmd, budget, env, limit)
            if name.startswith("chapter-"):
                executed = Path(cmd[4])  # papermill INPUT OUTPUT: the executed copy
                if executed.exists():
                    record["figures"] = save_figures(executed, out)
                    record["notebook"] = str(executed.relative_to(ROOT))
            records.append(record)
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
        "chapters_folder": str(out.relative_to(ROOT)),
    }
    written = RESULTS / f"{date}_gpu_check.json"
    written.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n=== gpu-check on {summary['gpu']} (torch {summary['torch']}, CUDA "
          f"{summary['cuda']}): {summary['seconds']} s of {budget.total:.0f}")
    for r in records:
        drawn = f"  ({len(r['figures'])} figures)" if "figures" in r else ""
        print(f"  {r['step']:<12} {r['status']:<28} {r.get('seconds', 0):>6} s{drawn}")
    for r in (bench or {}).get("results", []):
        target = "" if r["target_ratio"] is None else f" (target ≥ {r['target_ratio']:g}×: " \
                 f"{'met' if r['met'] else 'NOT met'})"
        print(f"  bench {r['name']:<16} {r['baseline']:.4g} → {r['candidate']:.4g} {r['unit']}"
              f" = {r['ratio']:.2f}×{target}")
    print(f"written: {written.relative_to(ROOT)} and {out.relative_to(ROOT)}/")
    ok = all(r["status"] == "passed" for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
