"""Calibration of predicted probabilities: reliability bins, expected calibration error, diagram.

Equal-width bins on the top-1 confidence, as in Guo et al., "On Calibration of Modern Neural
Networks" (ICML 2017). Needs only scores and labels (numpy arrays or torch tensors, on any
device); pandas is imported for the table and matplotlib for the diagram only when called.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import CourseValueError
from .metrics import as_numpy, is_tensor


def _confidence_and_correct(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """``(N,) float64`` top-1 probability and ``(N,) bool`` whether the top-1 guess is right.

    The top-1 guess is the first class with the highest score (``torch.max`` and
    ``np.argmax`` agree on ties)."""
    if is_tensor(scores):  # any dtype (bfloat16 has no numpy twin), any device
        scores = scores.detach().double().cpu()
    scores, labels = as_numpy(scores), as_numpy(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise CourseValueError(f"need scores (N, C) and labels (N,), got {tuple(scores.shape)} and "
                         f"{tuple(labels.shape)}")
    if len(labels) == 0 or scores.shape[1] == 0:
        raise CourseValueError("no images to calibrate on")
    if not np.issubdtype(labels.dtype, np.integer):
        raise CourseValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    scores = scores.astype(np.float64, copy=False)
    if np.isnan(scores).any():
        row = int(np.isnan(scores).any(axis=1).argmax())
        raise CourseValueError(f"scores contain NaN (first in row {row})")
    guess = scores.argmax(axis=1)
    confidence = scores[np.arange(len(scores)), guess]
    return confidence, guess == labels


def calibration_bins(scores, labels, n_bins: int = 15):
    """Reliability table: ``n_bins`` equal-width bins ``(lower, upper]`` of top-1 confidence.

    ``scores: (N, C)`` probabilities, ``labels: (N,)`` int. Returns a pandas DataFrame with
    columns ``lower``, ``upper``, ``count``, ``confidence`` (mean top-1 probability),
    ``accuracy`` (fraction whose top-1 guess is right); the last two are NaN for empty bins. A
    confidence of exactly 0 goes in bin 0.
    """
    if n_bins < 1:
        raise CourseValueError(f"n_bins must be at least 1, got {n_bins}")
    confidence, correct = _confidence_and_correct(scores, labels)
    edges = np.arange(n_bins + 1, dtype=np.float64) / n_bins  # exactly b / n_bins
    which = np.searchsorted(edges[1:-1], confidence, side="left")  # (lower, upper]
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    right_sum = np.bincount(which, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:],
                             "count": count.astype(np.int64),
                             "confidence": conf_sum / count, "accuracy": right_sum / count})


def _ece(table) -> float:
    """ECE from a :func:`calibration_bins` table."""
    used = table[table["count"] > 0]
    weights = used["count"] / used["count"].sum()
    return float((weights * (used["accuracy"] - used["confidence"]).abs()).sum())


def expected_calibration_error(scores, labels, n_bins: int = 15) -> float:
    """ECE = Σ_b (|B_b| / N) · |accuracy(B_b) − confidence(B_b)| over equal-width bins of the
    top-1 confidence (see :func:`calibration_bins`). 0 is perfectly calibrated.

    ``scores: (N, C)`` probabilities, ``labels: (N,)`` int (tensors or arrays)."""
    return _ece(calibration_bins(scores, labels, n_bins))


def reliability_diagram(scores, labels, n_bins: int = 15, ax=None, title: str | None = None):
    """Accuracy against confidence per bin, with the diagonal of perfect calibration and the
    ECE in the legend. ``scores: (N, C)`` probabilities, ``labels: (N,)`` int. Returns the
    matplotlib ``Axes`` (a new figure when ``ax`` is None)."""
    import matplotlib.pyplot as plt  # scoring stays light: plotting only when asked for

    table = calibration_bins(scores, labels, n_bins)
    ece = _ece(table)  # the same table: the bins are computed once
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    width = 1.0 / n_bins
    centers = (table["lower"] + table["upper"]) / 2
    accuracy = table["accuracy"].fillna(0.0)
    ax.bar(centers, accuracy, width=width, edgecolor="black", color="tab:blue",
           label=f"accuracy (ECE = {100 * ece:.2f}%)")
    gap = table["confidence"] - table["accuracy"]
    # the gap as red hatching, not a translucent fill: where it lies over the blue bar (a bin
    # more accurate than confident) it stays red lines on blue instead of turning purple
    ax.bar(centers, gap.fillna(0.0), bottom=accuracy, width=width, fill=False, hatch="///",
           edgecolor="tab:red", lw=1, label="gap to confidence")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top-1 probability)",
           ylabel="accuracy", title=title or "Reliability diagram")
    ax.legend(loc="upper left")
    return ax
