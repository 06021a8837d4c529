"""``plot_history``: the curves of a training run, from the DataFrame :func:`~course_lib.train.fit` returns."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..errors import CourseValueError

SMOOTH_SCHEDULES = ("cosine", "onecycle")  # no step to mark, however fast the end falls


def plot_history(history: pd.DataFrame, axes=None, title: str | None = None):
    """Two panels: loss (train, val) and error (train top-1, val top-1, val top-5) against
    epochs, with the epochs where the learning rate fell marked by dotted lines: a drop to half
    or less between two epochs' ends, unless the run's rate falls smoothly (its schedule,
    ``history.attrs["schedule"]``, is "cosine" or "onecycle", or the rates recorded within the
    epochs vary): a one-cycle run's last epoch would look like a drop.

    ``history``: what :func:`~course_lib.train.fit` returns (or ``history.csv`` read back).
    When it carries the validations within epochs (``history.attrs["steps"]``, from fit's
    ``val_every_steps``), they are drawn at their fractional epochs beside the epochs' ends, so
    a two-epoch run still gives a curve; the training columns there are the epoch's running
    means so far. ``axes``: two matplotlib axes to draw on (default: a new 1×2 figure).
    Returns the figure.
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
    points = _with_steps(history)
    curves = ((loss_ax, "train_loss", "train"), (loss_ax, "val_loss", "validation"),
              (err_ax, "train_top1_error", "train top-1"), (err_ax, "val_top1_error", "val top-1"),
              (err_ax, "val_top5_error", "val top-5"))
    for ax, column, label in curves:
        if column in points and points[column].notna().any():
            ax.plot(points["epoch"], points[column].astype(float), marker="o", ms=3, label=label)
    epoch, lr = history["epoch"], history["lr"].to_numpy()
    smooth = _falls_smoothly(history)
    for ax in axes:
        for i in range(1, len(lr)):
            if not smooth and lr[i] < lr[i - 1] * 0.5:  # a drop, not the decay of a cosine
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


def _falls_smoothly(history: pd.DataFrame) -> bool:
    """Whether the run's learning rate falls smoothly: its schedule says so, or (a history read
    back without it) the rate recorded within the epochs (``attrs["steps"]``) takes more values
    than there are epochs, which a rate constant between steps cannot."""
    schedule = history.attrs.get("schedule")
    if schedule is not None:
        return schedule in SMOOTH_SCHEDULES
    steps = history.attrs.get("steps")
    return steps is not None and "lr" in steps and steps["lr"].nunique() > len(history)


def _with_steps(history: pd.DataFrame) -> pd.DataFrame:
    """The epochs' rows and the validations within them (``attrs["steps"]``), by epoch; a
    validation within 0.005 epochs of an epoch's end gives way to that epoch's row."""
    steps = history.attrs.get("steps")
    if steps is None or len(steps) == 0:
        return history
    rows = pd.concat([steps, history], ignore_index=True)
    # a validation a step or two before an epoch's end is that end's point (the epoch's row wins)
    rows = rows.assign(at=rows["epoch"].round(2)).drop_duplicates("at", keep="last")
    return rows.drop(columns="at").sort_values("epoch", ignore_index=True)
