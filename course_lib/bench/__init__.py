"""Speed benchmarks: every target is a ratio against a baseline run in the same process.

A benchmark is a module in this package with a function
``run(device: torch.device, quick: bool) -> list[BenchResult]``, listed in :data:`BENCHMARKS`.
``quick=True`` shrinks the work so the whole suite runs in seconds (the tests use it); the
numbers worth reporting come from a normal run.

No unit test times anything: tests check that a benchmark runs and reports well-formed results;
the ratios are read from ``python -m course_lib bench`` and written to ``benchmarks/results/``,
with the CPU the run saw (:func:`course_lib.device.cpu_report`) and the peak memory of
each benchmark (:class:`course_lib.bench.memory.PeakMemory`) beside the times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..errors import CourseValueError

# Module names under course_lib.bench, run in this order.
BENCHMARKS: tuple[str, ...] = ("scoring", "loader", "synthnet", "augment", "train")


@dataclass(frozen=True)
class BenchResult:
    """One comparison: ``candidate`` against ``baseline``, in the same unit.

    ``higher_is_better`` says which way the unit points (images/s: True; seconds: False);
    :attr:`ratio` is always "times better than the baseline", so > 1 means the candidate wins.
    ``extra``: further measured fields of this benchmark (e.g. ``floor_share``), written at the
    top level of :meth:`as_dict` beside the standard ones.
    """

    name: str
    unit: str
    baseline_label: str
    baseline: float
    candidate_label: str
    candidate: float
    higher_is_better: bool = True
    target_ratio: float | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.candidate / self.baseline
        return self.baseline / self.candidate

    @property
    def met(self) -> bool | None:
        return None if self.target_ratio is None else self.ratio >= self.target_ratio

    def as_dict(self) -> dict:
        out = asdict(self)
        extra = out.pop("extra")
        out.update(ratio=self.ratio, met=self.met)
        clash = sorted(set(extra) & set(out))
        if clash:
            raise CourseValueError(f"benchmark {self.name}: extra fields {clash} clash with standard ones")
        return {**out, **extra}


def best_time(fn: Callable[[], object], repeats: int = 3, sync: Callable[[], None] | None = None) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``fn()``, in seconds.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before each clock read so queued
    device work is counted.
    """
    best = float("inf")
    for _ in range(repeats):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - start)
    return best
