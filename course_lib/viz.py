"""Plots shared by the notebooks (matplotlib; each function returns the Axes or Figure it drew).

Kept here so notebook cells stay short: a notebook computes the numbers with the library and
hands them to one of these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def _axes(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_confidence_tables(tables: Mapping[str, np.ndarray], max_votes: int = 6):
    """Heatmaps of P(good | #yes, #no), one panel per table.

    ``tables``: title → ``(V+1, V+1)`` array indexed ``[yes, no]`` (NaN: no data); cells with
    more than ``max_votes`` votes in all are blanked. Returns the Figure.
    """
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.6), squeeze=False)
    for ax, (title, table) in zip(axes[0], tables.items()):
        size = max_votes + 1
        grid = np.full((size, size), np.nan)
        part = np.asarray(table, dtype=float)[:size, :size]
        grid[: part.shape[0], : part.shape[1]] = part
        y, n = np.indices(grid.shape)
        grid[(y + n > max_votes) | (y + n == 0)] = np.nan  # no votes: not a confidence
        image = ax.imshow(grid, origin="lower", cmap="RdYlGn", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value) and i + j > 0:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6)
        ax.set_xlabel("# no votes")
        ax.set_ylabel("# yes votes")
        ax.set_title(title, fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="P(good | votes)")
    return fig


def plot_votes_vs_precision(results: Mapping[str, pd.DataFrame], ax=None, target: float | None = None):
    """Precision of the kept labels against votes spent per image, one colour per crowd.

    ``results``: crowd name → :func:`course_lib.crowd.compare_methods` frame. Dynamic consensus
    is drawn as circles joined by a line (labelled with its threshold), majority voting as
    squares (labelled with k). ``target``: a horizontal reference line (e.g. 0.997).
    """
    ax = _axes(ax, (7, 4.5))
    for i, (name, df) in enumerate(results.items()):
        for method, marker, style in (("dynamic consensus", "o", "-"), ("majority vote", "s", ":")):
            part = df[df["method"] == method].sort_values("votes_per_image")
            ax.plot(part["votes_per_image"], part["precision"], marker=marker, ls=style,
                    color=f"C{i}", label=f"{name}: {method}")
            for j, (_, row) in enumerate(part.iterrows()):
                text = f"{row['setting']:g}" if method == "dynamic consensus" else f"k={row['setting']:g}"
                # thresholds crowd together at the top: alternate above and below the line
                above = method == "dynamic consensus" and j % 2 == 0
                ax.annotate(text, (row["votes_per_image"], row["precision"]), fontsize=6,
                            textcoords="offset points", xytext=(-3, 5) if above else (3, -8),
                            ha="right" if above else "left")
    if target is not None:
        ax.axhline(target, color="grey", lw=1, ls="--", label=f"{target:.1%}")
    ax.set_xlabel("votes spent per candidate image (seed votes included)")
    ax.set_ylabel("precision of the kept images")
    ax.set_title("Votes against label quality")
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_candidate_growth(df: pd.DataFrame, ax=None):
    """Distinct candidates and good candidates against the number of queries
    (:func:`course_lib.crowd.candidate_pool_growth`), with language boundaries marked."""
    ax = _axes(ax, (7, 3.5))
    ax.plot(df["query"], df["returned"].cumsum(), ":", color="grey", label="results returned (with duplicates)")
    ax.plot(df["query"], df["unique"], "o-", ms=3, label="distinct candidates")
    ax.plot(df["query"], df["good"], "s-", ms=3, label="distinct good candidates")
    starts = df.groupby("language")["query"].min()
    for lang, q in starts.items():
        ax.axvline(q - 0.5, color="grey", lw=0.5)
        ax.text(q - 0.4, ax.get_ylim()[1] * 0.95, "English" if lang == 0 else f"language {lang + 1}",
                fontsize=6, va="top")
    ax.set_xlabel("queries sent (synonyms, then parent-word expansions, per language)")
    ax.set_ylabel("images")
    ax.legend(fontsize=7, loc="center right")
    return ax


def plot_error_intervals(labels: Sequence[str], errors: Sequence[float],
                         intervals: Sequence[tuple[float, float]], ax=None, title: str = ""):
    """Horizontal error bars, first label at the top: ``labels (K,)``, ``errors (K,)`` fractions
    and ``intervals (K, 2)`` their ``(low, high)`` bounds, drawn in percent."""
    ax = _axes(ax, (7, 0.35 * len(labels) + 1.2))
    errors = np.asarray(errors) * 100
    low = errors - np.array([lo for lo, _ in intervals]) * 100
    high = np.array([hi for _, hi in intervals]) * 100 - errors
    pos = np.arange(len(labels))[::-1]
    ax.errorbar(errors, pos, xerr=[low, high], fmt="o", ms=4, capsize=3)
    ax.set_yticks(pos)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("top-5 error (%)")
    ax.set_title(title, fontsize=8)
    return ax


class Table:
    """A styled table that shows as HTML in a notebook and as the same formatted text anywhere
    else (a terminal, ``nbconvert --to markdown``, nbval, a screen reader) — never as
    ``<pandas.io.formats.style.Styler at 0x...>``. Build it with :func:`table`."""

    def __init__(self, styler):
        self.styler = styler

    def _repr_html_(self) -> str:
        return self.styler.to_html()

    def __repr__(self) -> str:
        rows = [line.split("\t") for line in
                self.styler.to_string(delimiter="\t").rstrip("\n").split("\n")]
        widths = [max(len(row[i]) for row in rows if i < len(row))
                  for i in range(max(map(len, rows)))]
        return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w)
                                    for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                          for row in rows)


def table(data, formats=None) -> Table:
    """``data``: a DataFrame (formatted with ``formats``, a format string or a
    ``{column: format}`` dict, as ``DataFrame.style.format`` takes) or a ready pandas Styler.
    Returns a :class:`Table` to end a notebook cell with."""
    styler = data if not isinstance(data, pd.DataFrame) else data.style
    if formats is not None:
        styler = styler.format(formats)
    return Table(styler)
