"""The ILSVRC classification leaderboard 2010-2017, the 2012 results, and the human estimate.

Every figure is copied from the course's facts sheet (``../shared/FACTS.md`` §3, with its
source keys S2, S3, ... kept in each row) into ``course_lib/resources/ilsvrc_leaderboard.csv``
and ``ilsvrc2012_results.csv``. Errors are **top-5 errors**: ``top5_error_pct`` in percent as
quoted by the source, ``official_error`` / ``error`` as a fraction where an official-style
value is known (e.g. 0.15315). Rows whose value is uncertain say so in ``status`` (``P`` primary
source read, ``P-abs`` only its abstract or opening, ``S`` secondary, ``discrepancy`` sources
disagree; see ``note``). Runners-up not verified in FACTS.md (2010, 2011, 2013, 2015-2017) are
absent rather than guessed.
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

from .errors import CourseValueError

#: Top-5 error of a trained human annotator (Karpathy) on 1,500 ILSVRC test images, in percent
#: (S10, FACTS.md §3). Caveats in :data:`HUMAN_ESTIMATE`.
HUMAN_TOP5_ERROR = 5.1

#: The human estimate with its caveats (S10 unless noted; FACTS.md §3). Errors in percent.
HUMAN_ESTIMATE = {
    "top5_error_pct": 5.1,
    "n_images": 1500,
    "split": "test",
    "annotators": "one trained annotator (Karpathy)",
    "googlenet_same_images_pct": 6.8,
    "googlenet_full_test_pct": 6.7,
    "difference_pct": 1.7,  # "approximately 1.7%"
    "p_value_one_sided": 0.022,  # Z-test
    "second_annotator_pct": 12.0,  # "about 12%", 280 images, less training
    "second_annotator_n_images": 280,
    "optimistic_estimate_pct": 3.0,  # "~3% is an optimistic estimate", S27 [S]
    "source": "S10 (Karpathy blog, describing IJCV Sec. 6.4); optimistic estimate S27 [S]",
}


def _read(name: str) -> pd.DataFrame:
    path = resources.files("course_lib") / "resources" / name
    with path.open("r", encoding="utf-8") as f:
        return pd.read_csv(f, keep_default_na=False, na_values={"official_error": [""]})


@functools.lru_cache(maxsize=1)
def _leaderboard() -> pd.DataFrame:
    df = _read("ilsvrc_leaderboard.csv")
    extra = {"True": True, "False": False, "": pd.NA}
    bad = sorted(set(df["extra_data"].astype(str)) - set(extra))
    if bad:
        raise CourseValueError(f"ilsvrc_leaderboard.csv: extra_data must be True, False or empty: {bad}")
    df["extra_data"] = df["extra_data"].astype(str).map(extra).astype("boolean")
    return df


def load_leaderboard() -> pd.DataFrame:
    """ILSVRC classification winners and runners-up 2010-2017, one row per entry.

    Columns: ``year``, ``place`` (1 winner, 2 runner-up, 3 third; team places), ``team``,
    ``top5_error_pct`` (percent), ``official_error`` (fraction or NaN), ``entry``, ``method``
    (empty where FACTS.md does not say), ``extra_data`` (boolean: outside training data used;
    <NA> where FACTS.md does not say), ``headline`` (True for the one row per year and place
    that tables usually quote; 2012 and 2013 also list the team's other-track entry),
    ``status``, ``source`` (FACTS.md keys), ``note``. A fresh copy each call.
    """
    return _leaderboard().copy()


def results_2012() -> pd.DataFrame:
    """The 2012 Task 1 (classification) results table (S3), error with 5 guesses.

    Columns: ``team``, ``error`` (fraction), ``top5_error_pct``, ``team_rank``,
    ``best_of_team``, ``entry``, ``note``; sorted by team rank, then error.
    """
    df = _read("ilsvrc2012_results.csv")
    df.insert(2, "top5_error_pct", df["error"] * 100)
    return df.sort_values(["team_rank", "error"], kind="stable").reset_index(drop=True)
