"""Top-5 error on 50,000 × 1,000 scores (the ILSVRC-2012 validation set): ``scoring.topk_error``
(``torch.topk``, partial selection) against ranking every row with ``np.argsort``.

Target: at least 5× faster. Runs on the CPU whatever the device: scores usually reach the
scorer as a numpy array, and the number to beat is "well under a second on this CPU".
"""

from __future__ import annotations

import numpy as np

from ..scoring import topk_error
from . import BenchResult, best_time


def _argsort_top5_error(scores: np.ndarray, targets: np.ndarray) -> float:
    top5 = np.argsort(scores, axis=1)[:, -5:]
    return float(1.0 - (top5 == targets[:, None]).any(axis=1).mean())


def run(device, quick: bool) -> list[BenchResult]:
    n, c = (500, 100) if quick else (50_000, 1_000)
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((n, c), dtype=np.float32)
    targets = rng.integers(0, c, n)
    expected = _argsort_top5_error(scores, targets)
    got = topk_error(scores, targets, 5)
    if abs(got - expected) > 1e-12:  # no ties in continuous random scores
        raise RuntimeError(f"topk_error {got} disagrees with the argsort baseline {expected}")
    repeats = 2 if quick else 3
    baseline = best_time(lambda: _argsort_top5_error(scores, targets), repeats)
    candidate = best_time(lambda: topk_error(scores, targets, 5), repeats)
    return [BenchResult(
        name="scoring_top5", unit="s", baseline_label="np.argsort full rows",
        baseline=baseline, candidate_label="scoring.topk_error (torch.topk)",
        candidate=candidate, higher_is_better=False, target_ratio=5.0,
        notes=f"{n}×{c} float32 scores, CPU, numpy input",
    )]
