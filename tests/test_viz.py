"""The notebook plots draw the numbers they are given (checked on the artists, not by eye)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_lib import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_confidence_tables_blank_cells_beyond_max_votes():
    table = np.arange(16, dtype=float).reshape(4, 4) / 16
    fig = viz.plot_confidence_tables({"a": table, "b": table[:2, :2]}, max_votes=2)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 2
    shown = np.ma.filled(images[0].astype(float), np.nan)
    assert shown.shape == (3, 3)
    for (y, n), value in np.ndenumerate(shown):
        if y + n == 0 or y + n > 2:
            assert np.isnan(value)  # no votes, or more than max_votes
        else:
            assert value == table[y, n]
    assert np.isnan(np.ma.filled(images[1].astype(float), np.nan)[2, 0])  # smaller table padded


def test_votes_vs_precision_plots_each_method_in_order():
    df = pd.DataFrame({
        "method": ["dynamic consensus"] * 2 + ["majority vote"] * 2,
        "setting": [0.9, 0.6, 1, 3],
        "votes_per_image": [3.0, 2.0, 1.0, 3.0],
        "precision": [0.99, 0.95, 0.8, 0.9],
    })
    ax = viz.plot_votes_vs_precision({"cat": df}, target=0.997)
    lines = {line.get_label(): line for line in ax.get_lines()}
    dyn = lines["cat: dynamic consensus"]
    assert list(dyn.get_xdata()) == [2.0, 3.0] and list(dyn.get_ydata()) == [0.95, 0.99]
    assert list(lines["cat: majority vote"].get_ydata()) == [0.8, 0.9]
    assert lines["99.7%"].get_ydata()[0] == 0.997


def test_candidate_growth_plots_the_columns():
    df = pd.DataFrame({"query": [1, 2, 3, 4], "language": [0, 0, 1, 1],
                       "returned": [10, 10, 10, 10], "unique": [10, 15, 25, 30],
                       "good": [1, 2, 3, 3]})
    ax = viz.plot_candidate_growth(df)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["results returned (with duplicates)"].get_ydata()) == [10, 20, 30, 40]
    assert list(lines["distinct candidates"].get_ydata()) == [10, 15, 25, 30]
    assert [t.get_text() for t in ax.texts] == ["English", "language 2"]


def test_error_intervals_in_percent_first_label_on_top():
    ax = viz.plot_error_intervals(["a", "b"], [0.2, 0.1], [(0.15, 0.3), (0.05, 0.12)])
    points = ax.get_lines()[0]
    assert list(points.get_xdata()) == pytest.approx([20, 10])
    assert list(points.get_ydata()) == [1, 0]
    names = {float(t.get_position()[1]): t.get_text() for t in ax.get_yticklabels()}
    assert names == {1.0: "a", 0.0: "b"}
    bars = ax.collections[0].get_segments()
    assert [tuple(s[:, 0]) for s in bars] == [pytest.approx((15, 30)), pytest.approx((5, 12))]


def test_table_shows_the_formatted_values_as_text_and_html():
    frame = pd.DataFrame({"top-1 error": [0.2512, 0.3], "p": [0.0123, 0.5]}, index=["a", "b"])
    shown = viz.table(frame, {"top-1 error": "{:.1%}", "p": "{:.2g}"})
    text = repr(shown)
    assert "Styler" not in text and " at 0x" not in text
    assert text.splitlines() == ["   top-1 error      p", "a        25.1%  0.012",
                                 "b        30.0%    0.5"]
    html = shown._repr_html_()
    assert "<table" in html and "25.1%" in html and "0.012" in html


def test_table_takes_a_ready_styler():
    frame = pd.DataFrame({"x": [0.5]}, index=["row"])
    text = repr(viz.table(frame.style.format("{:.0%}").set_properties(**{"color": "red"})))
    assert text.splitlines()[-1].split() == ["row", "50%"]
