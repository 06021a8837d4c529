"""An ILSVRC-style evaluation server: hidden test labels, submission quotas, a log, a leaderboard.

ILSVRC kept the test labels secret and let each team submit at most **two times a week**; in
2015 a team used at least 30 accounts to submit at least 200 times, including more than 40
submissions in 5 days, and its results were ruled "not directly comparable" (FACTS.md §6.4).
Every extra look at the test score lets a team tune to the test set. :class:`EvaluationServer`
lets notebook 10 replay this: it enforces a quota per team per period (with an injectable clock,
so a simulation can fast-forward weeks), logs every submission, accepted or refused, and reports
the score on a public part of the test set while keeping the rest private, so overfitting to
the public score shows in the private one. With ``ladder_step`` it reports scores the way the
Ladder mechanism does (Blum & Hardt, "The Ladder: a reliable leaderboard for machine learning
competitions", ICML 2015): a team's public score changes only when a submission beats its best
by more than the step, and is then rounded to a multiple of the step.

A quota is per team name; it cannot see that several accounts are one team.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from os import PathLike

import numpy as np

from .metrics import MAX_GUESSES, _num_classes, per_image_topk_error, top_guesses
from .submission import SubmissionError, read_submission

WEEK = 7 * 24 * 3600.0
"""Seconds in a week: ILSVRC's quota period (two submissions a week, FACTS.md §6.4)."""


@dataclass(frozen=True)
class SubmissionRecord:
    """One line of the server's log.

    ``reported_error``: what the team was told (None when refused); ``public_error`` and
    ``private_error``: the true top-k error on the public and private parts, kept server-side
    (``private_error`` is None without a private part).
    """

    number: int
    team: str
    time: float
    accepted: bool
    reason: str
    reported_error: float | None = None
    public_error: float | None = None
    private_error: float | None = None


class EvaluationServer:
    """Scores submissions against hidden labels, with a quota, a log and a public/private split.

    ``test_labels``: ``(N,)`` int class indices, kept hidden. ``k``: the top-k error reported
    (5 as in ILSVRC). ``quota`` submissions per team within any window of ``period`` seconds
    (a sliding window; ``quota=None``: unlimited). ``clock()`` returns the time in seconds
    (default ``time.time``; tests pass a fake). ``public_fraction``: the share of test images,
    drawn at random with ``seed``, whose error is reported; the rest is private. ``ladder_step``:
    report Ladder scores with this step (in error units, e.g. 0.01) instead of raw errors.
    Files are read with :func:`course_lib.scoring.read_submission` and ``num_classes``,
    ``zero_based``, ``devkit_dir``.
    """

    def __init__(self, test_labels, *, k: int = MAX_GUESSES, quota: int | None = 2,
                 period: float = WEEK, clock: Callable[[], float] = time.time,
                 public_fraction: float = 1.0, seed: int = 0, ladder_step: float | None = None,
                 num_classes: int = 1000, zero_based: bool = False, devkit_dir=None):
        labels = np.asarray(test_labels)
        if labels.ndim != 1 or len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"test_labels must be a non-empty (N,) integer array, got "
                             f"{labels.dtype} {labels.shape}")
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"test_labels must be class indices in 0..{num_classes - 1}; "
                             f"test_labels[{i}] = {labels[i]}")
        if not 0 < public_fraction <= 1:
            raise ValueError(f"public_fraction must be in (0, 1], got {public_fraction}")
        if quota is not None and quota < 1:
            raise ValueError(f"quota must be at least 1 (or None), got {quota}")
        if period <= 0 or (ladder_step is not None and ladder_step <= 0):
            raise ValueError(f"period and ladder_step must be positive, got period={period}, "
                             f"ladder_step={ladder_step}")
        self._labels = labels.astype(np.int64)
        n_public = max(1, round(public_fraction * len(labels)))
        order = np.random.default_rng(seed).permutation(len(labels))
        self._public = np.sort(order[:n_public])
        self._private = np.sort(order[n_public:])
        self.k, self.quota, self.period, self.clock = k, quota, float(period), clock
        self.ladder_step = ladder_step
        self._read_options = dict(num_classes=num_classes, zero_based=zero_based,
                                  devkit_dir=devkit_dir)
        self._log: list[SubmissionRecord] = []
        self._ladder: dict[str, float] = {}

    @property
    def n_images(self) -> int:
        return len(self._labels)

    @property
    def n_public(self) -> int:
        return len(self._public)

    @property
    def log(self) -> tuple[SubmissionRecord, ...]:
        """Every submission so far, accepted or refused, in order."""
        return tuple(self._log)

    def _recent(self, team: str, now: float) -> list[SubmissionRecord]:
        return [r for r in self._log
                if r.team == team and r.accepted and r.time > now - self.period]

    def remaining(self, team: str) -> float:
        """Submissions ``team`` may still make in the current window (``inf`` without quota)."""
        if self.quota is None:
            return math.inf
        return max(0, self.quota - len(self._recent(str(team), self.clock())))

    def _refuse(self, team: str, now: float, reason: str) -> SubmissionRecord:
        record = SubmissionRecord(len(self._log) + 1, team, now, False, reason)
        self._log.append(record)
        return record

    def _guesses(self, submission) -> np.ndarray:
        if isinstance(submission, (str, PathLike)):
            return read_submission(submission, expected_lines=self.n_images,
                                   expected_source="the test set", **self._read_options)
        num_classes = self._read_options["num_classes"]
        width = _num_classes(submission)
        if width is not None and width != num_classes:
            raise ValueError(f"scores for {width} classes; this test set has {num_classes}")
        guesses = top_guesses(submission, self.k)
        if len(guesses) != self.n_images:
            raise ValueError(f"{len(guesses)} rows; the test set has {self.n_images} images")
        if guesses.max(initial=-1) >= num_classes:
            i, j = np.unravel_index(np.argmax(guesses), guesses.shape)
            raise ValueError(f"guess [{i}, {j}] = {guesses[i, j]} is >= {num_classes}, the "
                             "number of classes")
        return guesses

    def _reported(self, team: str, public_error: float) -> float:
        if self.ladder_step is None:
            return public_error
        best = self._ladder.get(team, math.inf)
        if public_error < best - self.ladder_step:
            best = round(round(public_error / self.ladder_step) * self.ladder_step, 12)
            self._ladder[team] = best
        return best

    def submit(self, team: str, submission) -> SubmissionRecord:
        """Score ``submission`` for ``team`` and log it; returns the log record.

        ``submission``: a file path (devkit layout) or predictions as for
        :func:`course_lib.scoring.topk_error` (``(N, C)`` scores, ``(N, G)`` guesses or ``(N,)``
        labels). Refused, and logged with the reason, when the team's quota is used up (the
        submission is not even read) or the submission is invalid (not counted in the quota).
        """
        team, now = str(team), self.clock()
        if self.quota is not None:
            recent = self._recent(team, now)
            if len(recent) >= self.quota:
                wait = recent[0].time + self.period - now
                return self._refuse(team, now, f"quota: {self.quota} submissions per "
                                               f"{self.period / 86400:.3g} days already used; "
                                               f"next allowed in {wait:g} s")
        try:
            guesses = self._guesses(submission)
            errors = per_image_topk_error(guesses, self._labels, self.k)
        except (SubmissionError, ValueError) as exc:
            return self._refuse(team, now, f"invalid submission: {exc}")
        public = float(errors[self._public].mean())
        private = float(errors[self._private].mean()) if len(self._private) else None
        record = SubmissionRecord(len(self._log) + 1, team, now, True, "",
                                  self._reported(team, public), public, private)
        self._log.append(record)
        return record

    def leaderboard(self) -> list[dict]:
        """Public leaderboard: each team's best reported error, best first.

        Rows: ``team``, ``reported_error``, ``submissions`` (accepted), ``refused``.
        """
        rows: dict[str, dict] = {}
        for r in self._log:
            row = rows.setdefault(r.team, dict(team=r.team, reported_error=math.inf,
                                               submissions=0, refused=0))
            if r.accepted:
                row["submissions"] += 1
                row["reported_error"] = min(row["reported_error"], r.reported_error)
            else:
                row["refused"] += 1
        return sorted((r for r in rows.values() if r["submissions"]),
                      key=lambda r: r["reported_error"])

    def final_leaderboard(self) -> list[dict]:
        """End of the challenge: for each team, its submission with the best public error is
        scored on the private part (on the whole test set if there is none), best first.

        Rows: ``team``, ``public_error``, ``private_error``, ``submission`` (log number).
        """
        best: dict[str, SubmissionRecord] = {}
        for r in self._log:
            if r.accepted and (r.team not in best or r.public_error < best[r.team].public_error):
                best[r.team] = r
        rows = [dict(team=t, public_error=r.public_error,
                     private_error=r.public_error if r.private_error is None else r.private_error,
                     submission=r.number) for t, r in best.items()]
        return sorted(rows, key=lambda row: row["private_error"])

    def log_frame(self):
        """The log as a pandas DataFrame, one row per submission."""
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self._log])


def adaptive_attack(server: EvaluationServer, team: str, num_classes: int, rounds: int,
                    flips: int = 10, seed: int = 0, start=None) -> dict[str, np.ndarray]:
    """Hill-climb the public score with random label flips, keeping a change only when the
    reported score improves: overfitting the test set by resubmitting.

    Starts from ``start`` (``(N,)`` labels; default: random labels), and each round changes
    ``flips`` random images to random labels and submits one guess per image. Stops early at
    the first refused submission (e.g. the quota). Returns ``(R,)`` arrays over the ``R``
    accepted rounds, describing the submission kept after each: ``reported`` (what the
    attacker saw), ``public`` and ``private`` (true errors, from the server's side).
    """
    rng = np.random.default_rng(seed)
    n = server.n_images
    current = rng.integers(0, num_classes, n) if start is None else np.array(start, dtype=np.int64)
    history: dict[str, list[float]] = {"reported": [], "public": [], "private": []}
    best = None
    for _ in range(rounds):
        candidate = current.copy()
        if best is not None:  # the first round submits the starting point itself
            where = rng.choice(n, size=min(flips, n), replace=False)
            candidate[where] = rng.integers(0, num_classes, len(where))
        record = server.submit(team, candidate)
        if not record.accepted:
            break
        if best is None or record.reported_error < best.reported_error:
            best, current = record, candidate
        history["reported"].append(best.reported_error)
        history["public"].append(best.public_error)
        history["private"].append(math.nan if best.private_error is None else best.private_error)
    return {key: np.array(values) for key, values in history.items()}
