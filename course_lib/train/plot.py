"""``plot_history``: the curves of a training run, from the DataFrame :func:`~course_lib.train.fit` returns."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..errors import CourseValueError


def plot_history(history: pd.DataFrame, axes=None, title: str | None = None):
    """Two panels: loss (train, val) and error (train top-1, val top-1, val top-5) per epoch,
    with the epochs where the learning rate fell marked by dotted lines.

    ``history``: what :func:`~course_lib.train.fit` returns (or ``history.csv`` read back);
    ``axes``: two matplotlib axes to draw on (default: a new 1×2 figure). Returns the figure.
    """
    missing = {"epoch", "lr", "train_loss", "train_top1_error"} - set(history.columns)
    if missing:
        raise CourseValueError(f"plot_history: the history lacks column(s) {sorted(missing)}")
    if len(history) == 0:
        raise CourseValueError("plot_history: the history is empty (no epoch has finished)")
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    else:
        fig = axes[0].figure
    loss_ax, err_ax = axes
    epoch = history["epoch"]
    curves = ((loss_ax, "train_loss", "train"), (loss_ax, "val_loss", "validation"),
              (err_ax, "train_top1_error", "train top-1"), (err_ax, "val_top1_error", "val top-1"),
              (err_ax, "val_top5_error", "val top-5"))
    for ax, column, label in curves:
        if column in history and history[column].notna().any():
            ax.plot(epoch, history[column].astype(float), marker="o", ms=3, label=label)
    lr = history["lr"].to_numpy()
    for ax in axes:
        for i in range(1, len(lr)):
            if lr[i] < lr[i - 1] * 0.5:  # a drop, not the smooth decay of a cosine
                ax.axvline(epoch.iloc[i], color="grey", ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    loss_ax.set_ylabel("cross-entropy")
    err_ax.set_ylabel("error")
    err_ax.set_ylim(0, 1)
    if title:
        fig.suptitle(title)
    return fig
