"""An ILSVRC-style evaluation server: hidden test labels, submission quotas, a log, a leaderboard.

ILSVRC kept the test labels secret and let each team submit at most **two times a week**; in
2015 a team used at least 30 accounts to submit at least 200 times, including more than 40
submissions in 5 days, and its results were ruled "not directly comparable" (FACTS.md §6.4).
Every extra look at the test score lets a team tune to the test set. :class:`EvaluationServer`
lets a notebook replay this: it enforces a quota per team per period (with an injectable clock,
so a simulation can fast-forward weeks), logs every submission, accepted or refused, and reports
the score on a public part of the test set while keeping the rest private, so overfitting to
the public score shows in the private one. With ``ladder_step`` it reports scores the way the
Ladder mechanism does (Blum & Hardt, "The Ladder: a reliable leaderboard for machine learning
competitions", ICML 2015): a team's public score changes only when a submission beats its best
by more than the step, and is then rounded to a multiple of the step.

What a team learns is what a real server would tell it, and nothing more:
:meth:`EvaluationServer.submit` returns a frozen :class:`SubmissionResult` (accepted or not, why,
the reported score and the submissions left); :meth:`~EvaluationServer.leaderboard` gives each
team's best reported score. The true public and private errors stay inside until the challenge
closes (:meth:`~EvaluationServer.close`, or the clock reaching ``deadline``); then
:meth:`~EvaluationServer.audit` and :meth:`~EvaluationServer.true_errors` reveal them.
Everything returned is a copy: frozen records (changing one, even with ``object.__setattr__``,
leaves the server's own log as it was), tuples and fresh arrays.
Server and learner share one Python process, so this is the shape of a real boundary, not a
boundary: the point is that the public API teaches what a team can and cannot see.

A quota is per team name, and a team name follows one rule a learner can check by eye: after
Unicode NFKC normalisation, case folding, trimming and collapsing runs of white space to one
space (:func:`team_key`), it must consist of ASCII letters, digits, spaces, ``-`` and ``_``.
So ``"Team A"``, ``"team  a"`` and ``"ＴＥＡＭ Ａ"`` (full-width letters, which NFKC makes
ASCII) are one team, ``"account 1"`` and ``"account 2"`` are two, and a name with any other
character (an accent, a zero-width space, a Cyrillic ``а`` that looks like a Latin ``a``, a
right-to-left override) is refused with a ``ValueError`` that names the character and its
position. Telling look-alikes apart in every script would need Unicode's whole confusables
table; refusing every other character is simpler, and leaves only ASCII's own look-alikes
(``l`` and ``1``, ``O`` and ``0``) as different names. The server still cannot see that
genuinely different names are one team: that is what the 2015 rules were about.

Array submissions are held to what a submission file could say: at most
:data:`~course_lib.scoring.MAX_GUESSES` guesses per image, each a class index or ``-1`` (no
guess), checked before any conversion (so a uint64 ``2**64 - 1`` cannot turn into ``-1``).
"""

from __future__ import annotations

import math
import string
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from numbers import Integral
from os import PathLike

import numpy as np

from ..errors import CourseError, CourseValueError
from .metrics import (
    MAX_GUESSES,
    as_numpy,
    is_float,
    num_classes_of,
    per_image_topk_error,
    top_guesses,
)

WEEK = 7 * 24 * 3600.0
"""Seconds in a week: ILSVRC's quota period (two submissions a week, FACTS.md §6.4)."""

MAX_TEAM_NAME = 100
"""Longest team name accepted, in characters (after :func:`team_key`'s clean-up)."""


class ChallengeOpenError(CourseError, RuntimeError):
    """Private scores were asked for while the challenge is still open."""


# --- team names ----------------------------------------------------------------------------

_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_ ")
"""What a team name may contain once normalised: ASCII letters, digits, ``-``, ``_``, space."""


def _shown(name: str) -> str:
    """``repr(name)``, cut short for a very long name."""
    if len(name) <= 2 * MAX_TEAM_NAME:
        return repr(name)
    return f"{name[:MAX_TEAM_NAME]!r}... ({len(name)} characters)"


def describe(ch: str) -> str:
    """``'\\u200b' (U+200B ZERO WIDTH SPACE)``: a character with its code point and name."""
    name = unicodedata.name(ch, f"unnamed, category {unicodedata.category(ch)}")
    return f"{ascii(ch)} (U+{ord(ch):04X} {name})"  # ascii(): a combining mark shows as such


def _first_refused(name: str) -> int | None:
    """Index of the first character of ``name`` that is not white space and does not become
    allowed characters under NFKC and case folding (None: all are allowed).

    Checking character by character is the same as checking the normalised name as a whole
    (NFKC composes only into non-ASCII characters), and it points at what the user typed."""
    for i, ch in enumerate(name):
        if not ch.isspace() and not _NAME_CHARACTERS.issuperset(
                unicodedata.normalize("NFKC", ch).casefold()):
            return i
    return None


def _clean_team_name(name) -> tuple[str, str]:
    """``(shown, key)`` for a team name: ``shown`` is ``name`` in NFKC with runs of white space
    collapsed to one space and stripped (how the leaderboard shows the team), ``key`` is the
    same case folded (how teams are compared). Raises as :func:`team_key` says."""
    if not isinstance(name, str):
        raise TypeError(f"a team name must be a str, got {type(name).__name__}")
    name = str.__str__(name)  # a str subclass cannot lie about its value
    shown = " ".join(unicodedata.normalize("NFKC", name).split())
    key = " ".join(shown.casefold().split())
    if not key:
        raise CourseValueError(f"team name {_shown(name)} is empty once white space is removed")
    if len(key) > MAX_TEAM_NAME:
        raise CourseValueError(f"team name {_shown(name)} has {len(key)} characters once normalised; "
                         f"at most {MAX_TEAM_NAME}")
    bad = _first_refused(name)
    if bad is not None:
        raise CourseValueError(f"team name {_shown(name)} refused: character {bad} (counting from 0) "
                         f"is {describe(name[bad])}; a team name may use only ASCII letters, "
                         "digits, spaces, '-' and '_' (after NFKC normalisation, so full-width "
                         "letters count as ASCII)")
    return shown, key


def team_key(name: str) -> str:
    """The form under which the server compares team names: two names with the same key are
    one team (one quota, one leaderboard row).

    The name in Unicode NFKC (full-width letters, ligatures and compatibility spaces become
    plain ones), case folded, with runs of white space collapsed to one space and stripped.
    The result must consist of ASCII letters, digits, spaces, ``-`` and ``_`` and have 1 to
    :data:`MAX_TEAM_NAME` characters (so besides characters that NFKC makes ASCII, such as
    full-width letters, only ``ß`` and ``ẞ`` pass, as they case fold to ``ss``). Raises
    ``TypeError`` for a non-str and ``ValueError`` otherwise (naming the name and the first
    character refused, with its position in the name as given, its code point and its
    Unicode name)."""
    return _clean_team_name(name)[1]


# --- what the server returns ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """What the server tells the team about one submission, and all it tells.

    ``number``: 1-based position in the log; ``team``: the team's name as first registered;
    ``time``: the server's clock; ``reason``: why it was refused (``""`` when accepted);
    ``reported_error``: the public score under the server's rule (the top-k error on the public
    part, or its Ladder score), None when refused; ``remaining``: submissions the team may still
    make in the current window (``inf`` without a quota, 0 once the challenge is closed).
    """

    number: int
    team: str
    time: float
    accepted: bool
    reason: str
    reported_error: float | None
    remaining: float


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    """The server's own log line, revealed by :meth:`EvaluationServer.audit` after the close.

    ``reported_error``: what the team was told (None when refused); ``public_error`` and
    ``private_error``: the true top-k error on the public and private parts (``private_error``
    is None without a private part, both None when refused).
    """

    number: int
    team: str
    time: float
    accepted: bool
    reason: str
    reported_error: float | None = None
    public_error: float | None = None
    private_error: float | None = None


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """A team on the public leaderboard: its best reported error and how often it submitted."""

    team: str
    reported_error: float
    submissions: int
    refused: int


def _check_guess_array(submission, num_classes: int) -> None:
    """Refuse integer guesses that a submission file could not hold.

    ``submission``: ``(N,)`` or ``(N, G)`` integer guesses (anything else is left to
    :func:`~course_lib.scoring.top_guesses`, which says what is wrong). Raises ``ValueError``
    when ``G`` exceeds :data:`~course_lib.scoring.MAX_GUESSES` (a file line with more labels is
    refused too) or when a guess, in any column, is not a class index ``0..num_classes-1`` or
    ``-1`` (no guess). The check runs on the array as given, before any cast to int64, under
    which a uint64 ``2**64 - 1`` would become ``-1``.
    """
    if is_float(submission):
        return
    guesses = as_numpy(submission)
    if guesses.dtype == bool or not np.issubdtype(guesses.dtype, np.integer) \
            or guesses.ndim not in (1, 2):
        return
    if guesses.ndim == 2 and guesses.shape[1] > MAX_GUESSES:
        raise CourseValueError(f"{guesses.shape[1]} guesses per image (shape {guesses.shape}); at most "
                         f"{MAX_GUESSES} are allowed, as a submission file allows at most "
                         f"{MAX_GUESSES} labels on a line")
    bad = guesses >= num_classes
    if np.issubdtype(guesses.dtype, np.signedinteger):
        bad |= guesses < -1
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = int(guesses[where])
        what = f">= {num_classes}, the number of classes" if value >= 0 else "below -1"
        raise CourseValueError(f"guess [{', '.join(map(str, where))}] = {value} is {what}; a guess is a "
                         f"class index in 0..{num_classes - 1}, or -1 for no guess")


class EvaluationServer:
    """Scores submissions against hidden labels, with a quota, a log and a public/private split.

    ``test_labels``: ``(N,)`` int class indices, kept hidden (copied). ``k``: the top-k error
    reported (5 as in ILSVRC). ``quota`` submissions per team within any window of ``period``
    seconds (a sliding window; ``quota=None``: unlimited). ``clock()`` returns the time in
    seconds (default ``time.time``; a simulation passes a fake one and moves it forward; if it
    goes backwards the server keeps its latest time). ``deadline``: the clock time at which the
    challenge closes (None: only :meth:`close` closes it). ``public_fraction``: the share of
    test images, drawn at random with ``seed``, whose error is reported; the rest is private.
    ``ladder_step``: report Ladder scores with this step (in error units, e.g. 0.01) instead of
    raw errors. ``num_classes``: the number of classes a guess may name.

    The settings are read-only properties, and no attribute can be added (``__slots__``); the
    labels, the split and the true errors are not exposed until the challenge is closed.
    """

    __slots__ = ("_labels", "_public", "_private", "_k", "_quota", "_period", "_clock",
                 "_deadline", "_ladder_step", "_num_classes", "_records", "_results", "_names",
                 "_accepted", "_ladder", "_time", "_closed")

    def __init__(self, test_labels, *, k: int = MAX_GUESSES, quota: int | None = 2,
                 period: float = WEEK, clock: Callable[[], float] = time.time,
                 deadline: float | None = None, public_fraction: float = 1.0, seed: int = 0,
                 ladder_step: float | None = None, num_classes: int = 1000):
        labels = np.array(test_labels)  # a copy: the caller's array may change later
        if labels.ndim != 1 or len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise CourseValueError(f"test_labels must be a non-empty (N,) integer array, got "
                             f"{labels.dtype} {labels.shape}")
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            i = int(np.argmax(bad))
            raise CourseValueError(f"test_labels must be class indices in 0..{num_classes - 1}; "
                             f"test_labels[{i}] = {labels[i]}")
        if not 0 < public_fraction <= 1:
            raise CourseValueError(f"public_fraction must be in (0, 1], got {public_fraction}")
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, Integral)
                                  or quota < 1):
            raise CourseValueError(f"quota must be an int of at least 1 (or None), got {quota!r}")
        if period <= 0 or (ladder_step is not None and ladder_step <= 0):
            raise CourseValueError(f"period and ladder_step must be positive, got period={period}, "
                             f"ladder_step={ladder_step}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        if deadline is not None and not math.isfinite(deadline):
            raise CourseValueError(f"deadline must be a finite clock time or None, got {deadline}")
        self._labels = labels.astype(np.int64)
        self._labels.flags.writeable = False
        n_public = max(1, round(public_fraction * len(labels)))
        order = np.random.default_rng(seed).permutation(len(labels))
        self._public = np.sort(order[:n_public])
        self._private = np.sort(order[n_public:])
        self._k, self._period = int(k), float(period)
        self._quota = None if quota is None else int(quota)
        self._clock, self._deadline, self._ladder_step = clock, deadline, ladder_step
        self._num_classes = num_classes
        self._records: list[SubmissionRecord] = []
        self._results: list[SubmissionResult] = []
        self._names: dict[str, str] = {}  # team key -> name as first registered
        self._accepted: dict[str, list[float]] = {}  # team key -> times of accepted submissions
        self._ladder: dict[str, float] = {}  # team key -> Ladder score
        self._time = -math.inf
        self._closed = False

    # --- read-only settings -------------------------------------------------------------------

    n_images = property(lambda self: len(self._labels), doc="Number of test images.")
    n_public = property(lambda self: len(self._public), doc="Images in the public part.")
    k = property(lambda self: self._k, doc="The top-k error reported.")
    quota = property(lambda self: self._quota, doc="Submissions per team per period (None: "
                     "unlimited).")
    period = property(lambda self: self._period, doc="The quota window in seconds.")
    ladder_step = property(lambda self: self._ladder_step, doc="The Ladder step, or None.")
    deadline = property(lambda self: self._deadline, doc="Clock time of the close, or None.")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the clock reached ``deadline`` (for good)."""
        self._now()
        return self._closed

    @property
    def log(self) -> tuple[SubmissionResult, ...]:
        """Every answer the server gave, accepted or refused, in order (no hidden errors);
        copies, so changing one (even with ``object.__setattr__``) changes nothing here."""
        return tuple(replace(r) for r in self._results)

    def _now(self) -> float:
        now = self._clock()
        if isinstance(now, bool) or not isinstance(now, (int, float, np.floating, np.integer)) \
                or not math.isfinite(now):
            raise CourseValueError(f"clock() must return finite seconds, got {now!r}")
        self._time = max(self._time, float(now))
        if self._deadline is not None and self._time >= self._deadline:
            self._closed = True
        return self._time

    def close(self) -> None:
        """End the challenge: no more submissions; the private scores can be revealed."""
        self._closed = True

    def _require_closed(self, what: str) -> None:
        if not self.closed:
            when = "" if self._deadline is None else f" or at the deadline ({self._deadline:g} s)"
            raise ChallengeOpenError(f"{what} is revealed only when the challenge has closed "
                                     f"(call close(){when}); while it is open a team sees only "
                                     "its reported score")

    # --- quota ----------------------------------------------------------------------------------

    def _recent(self, key: str, now: float) -> list[float]:
        """Times of the team's accepted submissions inside the window ending at ``now``."""
        return [t for t in self._accepted.get(key, ()) if t > now - self._period]

    def _remaining(self, key: str, now: float) -> float:
        if self._closed:
            return 0
        if self._quota is None:
            return math.inf
        return max(0, self._quota - len(self._recent(key, now)))

    def remaining(self, team: str) -> float:
        """Submissions ``team`` may still make in the current window (``inf`` without quota,
        0 once closed). ``team``: a str, compared by :func:`team_key`."""
        return self._remaining(team_key(team), self._now())

    # --- submitting -----------------------------------------------------------------------------

    def _guesses(self, submission) -> np.ndarray:
        """``(N, G)`` int64 guesses, best first (-1 = none), from an array; raises
        ``ValueError`` saying what is wrong."""
        if isinstance(submission, (str, PathLike)):
            raise CourseValueError("the server scores arrays: read a submission file with "
                                   "course_lib.scoring.read_submission first")
        num_classes = self._num_classes
        width = num_classes_of(submission)
        if width is not None and width != num_classes:
            raise CourseValueError(f"scores for {width} classes; this test set has {num_classes}")
        _check_guess_array(submission, num_classes)
        guesses = top_guesses(submission, self._k)
        if len(guesses) != self.n_images:
            raise CourseValueError(f"{len(guesses)} rows; the test set has {self.n_images} images")
        return guesses

    def _reported(self, key: str, public_error: float) -> float:
        if self._ladder_step is None:
            return public_error
        best = self._ladder.get(key, math.inf)
        if public_error < best - self._ladder_step:
            best = round(round(public_error / self._ladder_step) * self._ladder_step, 12)
            self._ladder[key] = best
        return best

    def _log(self, key: str, now: float, record: SubmissionRecord) -> SubmissionResult:
        """Store ``record`` and the answer to the team; returns a copy of the answer."""
        self._records.append(record)
        result = SubmissionResult(record.number, record.team, now, record.accepted,
                                  record.reason, record.reported_error,
                                  self._remaining(key, now))
        self._results.append(result)
        return replace(result)

    def submit(self, team: str, submission) -> SubmissionResult:
        """Score ``submission`` for ``team`` and log it; returns what the team is told.

        ``team``: a str (``TypeError`` otherwise), compared by :func:`team_key`.
        ``submission``: predictions as for :func:`course_lib.scoring.topk_error` (``(N, C)``
        scores, ``(N, G)`` guesses or ``(N,)`` labels; integer guesses: at most ``MAX_GUESSES``
        columns, each a class index or -1).
        Refused, and logged with the reason, when the challenge is closed or the team's quota is
        used up (the submission is not even read), or when the submission is invalid (not
        counted in the quota). A team name that :func:`team_key` refuses raises ``ValueError``
        and is not logged. Returns a copy of the log entry.
        """
        shown, key = _clean_team_name(team)
        name = self._names.setdefault(key, shown)
        now = self._now()
        number = len(self._records) + 1

        def refuse(reason: str) -> SubmissionResult:
            return self._log(key, now, SubmissionRecord(number, name, now, False, reason))

        if self._closed:
            return refuse("closed: the challenge is over, no more submissions")
        if self._quota is not None:
            recent = self._recent(key, now)
            if len(recent) >= self._quota:
                wait = recent[0] + self._period - now
                return refuse(f"quota: {self._quota} submissions per "
                              f"{self._period / 86400:.3g} days already used; "
                              f"next allowed in {wait:g} s")
        try:
            guesses = self._guesses(submission)
            errors = per_image_topk_error(guesses, self._labels, self._k)
        except ValueError as exc:
            return refuse(f"invalid submission: {exc}")
        public = float(errors[self._public].mean())
        private = float(errors[self._private].mean()) if len(self._private) else None
        self._accepted.setdefault(key, []).append(now)
        return self._log(key, now, SubmissionRecord(number, name, now, True, "",
                                                    self._reported(key, public), public, private))

    # --- the leaderboard, and what the close reveals --------------------------------------------

    def leaderboard(self) -> tuple[LeaderboardRow, ...]:
        """Public leaderboard: each team's best reported error, best first (ties: first to
        submit first). Teams without an accepted submission are left out."""
        rows: dict[str, dict] = {}
        for r in self._results:
            row = rows.setdefault(r.team, dict(team=r.team, reported_error=math.inf,
                                               submissions=0, refused=0))
            if r.accepted:
                row["submissions"] += 1
                row["reported_error"] = min(row["reported_error"], r.reported_error)
            else:
                row["refused"] += 1
        board = sorted((r for r in rows.values() if r["submissions"]),
                       key=lambda r: r["reported_error"])
        return tuple(LeaderboardRow(**row) for row in board)

    def audit(self) -> tuple[SubmissionRecord, ...]:
        """The server's own log with the true public and private errors of every submission.

        Raises :class:`ChallengeOpenError` while the challenge is open.
        """
        self._require_closed("the audit log")
        return tuple(replace(r) for r in self._records)

    def true_errors(self, numbers: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(public (R,), private (R,))`` true errors of the accepted submissions with these log
        ``numbers`` (private: NaN without a private part). Raises :class:`ChallengeOpenError`
        while the challenge is open and ``ValueError`` for a number that is not an accepted
        submission."""
        self._require_closed("a submission's true error")
        public, private = [], []
        for number in numbers:
            number = int(number)
            if not 1 <= number <= len(self._records) or not self._records[number - 1].accepted:
                raise CourseValueError(f"submission {number} is not an accepted submission of this "
                                 f"server (log numbers 1..{len(self._records)})")
            r = self._records[number - 1]
            public.append(r.public_error)
            private.append(math.nan if r.private_error is None else r.private_error)
        return np.array(public, dtype=float), np.array(private, dtype=float)


def adaptive_attack(server: EvaluationServer, team: str | Sequence[str], num_classes: int,
                    rounds: int, flips: int = 10, seed: int = 0,
                    start=None) -> dict[str, np.ndarray]:
    """Hill-climb the public score with random label flips, keeping a change only when the
    reported score improves: overfitting the test set by resubmitting.

    ``team``: a team name, or a sequence of names used in turn, one per submission (several
    accounts, as in 2015; names that :func:`team_key` makes equal share one quota).
    Starts from ``start`` (``(N,)`` labels; default: random labels), and each round changes
    ``flips`` random images to random labels and submits one guess per image. Stops early at
    the first refused submission (e.g. the quota). Uses only what a team sees. Returns ``(R,)``
    arrays over the ``R`` accepted rounds, describing the submission kept after each:
    ``reported`` (the score the attacker saw) and ``submission`` (its log number). Once the
    challenge is closed, ``server.true_errors(result["submission"])`` gives its true public and
    private errors.
    """
    names = [team] if isinstance(team, str) else list(team)
    if not names:
        raise CourseValueError("adaptive_attack: no team name given")
    rng = np.random.default_rng(seed)
    n = server.n_images
    current = rng.integers(0, num_classes, n) if start is None else np.array(start, dtype=np.int64)
    reported: list[float] = []
    kept: list[int] = []
    best = None
    for i in range(rounds):
        candidate = current.copy()
        if best is not None:  # the first round submits the starting point itself
            where = rng.choice(n, size=min(flips, n), replace=False)
            candidate[where] = rng.integers(0, num_classes, len(where))
        result = server.submit(names[i % len(names)], candidate)
        if not result.accepted:
            break
        if best is None or result.reported_error < best.reported_error:
            best, current = result, candidate
        reported.append(best.reported_error)
        kept.append(best.number)
    return {"reported": np.array(reported, dtype=float),
            "submission": np.array(kept, dtype=np.int64)}
