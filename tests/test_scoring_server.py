"""The evaluation server: quotas, the log, public/private scores, the Ladder, an adaptive attacker,
and what a team can (not) learn from it."""

import dataclasses
import math
import string
import unicodedata

import numpy as np
import pytest

from course_lib.scoring import (
    WEEK,
    ChallengeOpenError,
    EvaluationServer,
    LeaderboardRow,
    SubmissionRecord,
    SubmissionResult,
    adaptive_attack,
    team_key,
    topk_error,
    write_submission,
)

DAY = 24 * 3600.0


class FakeClock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def labels():
    return np.random.default_rng(0).integers(0, 10, 400)


def test_quota_stops_a_flood(labels):
    # ILSVRC allowed two submissions a week (FACTS.md §6.4); a team floods the server with 40
    clock = FakeClock()
    server = EvaluationServer(labels, quota=2, period=WEEK, clock=clock, num_classes=10)
    rng = np.random.default_rng(1)
    results = []
    for _ in range(40):
        results.append(server.submit("flood", rng.integers(0, 10, len(labels))))
        clock.now += 60  # one a minute
    assert [r.accepted for r in results] == [True, True] + [False] * 38
    assert [r.remaining for r in results[:3]] == [1, 0, 0]
    assert len(server.log) == 40
    refused = [r for r in server.log if not r.accepted]
    assert all("quota" in r.reason and r.reported_error is None for r in refused)
    assert server.remaining("flood") == 0
    assert server.remaining("someone else") == 2
    clock.now = WEEK + 61  # the first two (at 0 s and 60 s) left the window
    assert server.remaining("flood") == 2
    assert server.submit("flood", labels).accepted


def test_quota_is_a_sliding_window(labels):
    clock = FakeClock()
    server = EvaluationServer(labels, quota=2, period=WEEK, clock=clock)
    assert server.submit("t", labels).accepted
    clock.now = 3 * DAY
    assert server.submit("t", labels).accepted
    clock.now = 6 * DAY
    refused = server.submit("t", labels)
    assert not refused.accepted and "next allowed in 86400 s" in refused.reason
    clock.now = 7 * DAY + 1  # only the first has expired
    assert server.submit("t", labels).accepted
    assert not server.submit("t", labels).accepted
    unlimited = EvaluationServer(labels, quota=None, clock=clock)
    assert all(unlimited.submit("t", labels).accepted for _ in range(20))
    assert unlimited.remaining("t") == math.inf


def test_scores_arrays_and_logs_invalid_submissions(tmp_path, labels):
    clock = FakeClock()
    server = EvaluationServer(labels, quota=2, clock=clock, num_classes=10)
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((len(labels), 10))
    assert server.submit("a", scores).reported_error == pytest.approx(topk_error(scores, labels, 5))
    # invalid submissions are refused, logged with the reason, and not counted in the quota
    path = write_submission(tmp_path / "pred.txt", scores, num_classes=10)
    from_file = server.submit("c", path)
    assert not from_file.accepted and "invalid submission" in from_file.reason
    assert "read a submission file with course_lib.scoring.read_submission" in from_file.reason
    short = server.submit("c", np.zeros(3, dtype=np.int64))
    assert "3 rows; the test set has 400 images" in short.reason
    wrong_width = server.submit("c", np.zeros((len(labels), 5)))
    assert "scores for 5 classes; this test set has 10" in wrong_width.reason
    assert server.remaining("c") == 2 and wrong_width.remaining == 2
    assert [r.number for r in server.log] == [1, 2, 3, 4]
    assert [(r.team, r.accepted) for r in server.log] == [("a", True)] + [("c", False)] * 3


def test_public_and_private_parts(labels):
    server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.25, seed=3)
    assert server.n_public == 100
    guesses = labels.copy()
    guesses[:200] = (guesses[:200] + 1) % 10  # wrong on the first half
    result = server.submit("t", guesses)
    server.close()
    record = server.audit()[0]
    wrong = record.public_error * 100 + record.private_error * 300
    assert wrong == pytest.approx(200)  # the two parts partition the test set
    assert result.reported_error == record.reported_error == record.public_error


def test_leaderboards(labels):
    server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.5)
    good, bad = labels.copy(), (labels + 1) % 10
    server.submit("bad", bad)
    server.submit("good", bad)
    server.submit("Good ", good)  # the same team
    board = server.leaderboard()
    assert [row.team for row in board] == ["good", "bad"]
    assert board[0].reported_error == 0.0 and board[0].submissions == 2


def test_ladder_reports_only_clear_improvements_rounded():
    # 16 images, step 0.25: errors 8/16, 7/16, 4/16, 3/16
    labels = np.zeros(16, dtype=np.int64)
    server = EvaluationServer(labels, k=1, quota=None, ladder_step=0.25, num_classes=2)
    reported = []
    for wrong in (8, 7, 4, 3):
        guesses = np.zeros(16, dtype=np.int64)
        guesses[:wrong] = 1
        reported.append(server.submit("t", guesses).reported_error)
    # 0.4375 and 0.25 do not beat 0.5 by more than the step; 0.1875 does and is rounded
    assert reported == [0.5, 0.5, 0.5, 0.25]
    server.close()
    assert [r.public_error for r in server.audit()] == [0.5, 0.4375, 0.25, 0.1875]


def test_adaptive_attacker_overfits_the_public_part_and_the_ladder_limits_it():
    labels = np.random.default_rng(4).integers(0, 10, 2000)

    def attack(ladder_step):
        server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.5, seed=0,
                                  ladder_step=ladder_step)
        history = adaptive_attack(server, "attacker", 10, rounds=300, flips=10, seed=3)
        with pytest.raises(ChallengeOpenError):
            server.true_errors(history["submission"])
        server.close()
        public, private = server.true_errors(history["submission"])
        return history["reported"], public, private

    reported, public, private = attack(None)
    public_gain = public[0] - public[-1]
    assert public_gain > 0.05          # the public score improves a lot ...
    assert private[0] - private[-1] < 0.02  # ... the labels are random: the private one cannot
    assert private[-1] > 0.85          # still at chance (90 % error with 10 classes)
    assert np.all(np.diff(reported) <= 0) and np.array_equal(reported, public)
    _, ladder_public, _ = attack(0.01)
    assert ladder_public[0] - ladder_public[-1] < public_gain / 3


def test_the_quota_stops_the_attack():
    labels = np.random.default_rng(5).integers(0, 10, 200)
    server = EvaluationServer(labels, k=1, quota=2, clock=FakeClock())
    history = adaptive_attack(server, "attacker", 10, rounds=100)
    assert len(history["reported"]) == 2
    assert len(server.log) == 3 and not server.log[-1].accepted


def test_server_rejects_bad_configuration(labels):
    with pytest.raises(ValueError, match="public_fraction"):
        EvaluationServer(labels, public_fraction=0)
    with pytest.raises(ValueError, match="quota"):
        EvaluationServer(labels, quota=0)
    with pytest.raises(ValueError, match="test_labels"):
        EvaluationServer(np.zeros(3))
    with pytest.raises(ValueError, match=r"class indices in 0\.\.4"):
        EvaluationServer(labels, num_classes=5)
    first_bad = int(np.argmax(labels >= 5))
    with pytest.raises(ValueError, match=rf"test_labels\[{first_bad}\] = {labels[first_bad]}"):
        EvaluationServer(labels, num_classes=5)
    with pytest.raises(ValueError, match="period=0"):
        EvaluationServer(labels, period=0)
    with pytest.raises(TypeError, match="clock"):
        EvaluationServer(labels, clock=3.0)
    server = EvaluationServer(labels, quota=None, num_classes=10)
    guesses = np.zeros((len(labels), 2), dtype=np.int64)
    guesses[3, 1] = 12
    result = server.submit("t", guesses)
    assert not result.accepted and r"guess [3, 1] = 12 is >= 10" in result.reason
    broken = EvaluationServer(labels, clock=lambda: math.nan)
    with pytest.raises(ValueError, match=r"clock\(\) must return finite seconds, got nan"):
        broken.submit("t", labels)


# --- what a team can learn: each leak of the old server, closed ------------------------------

def test_submit_reports_only_what_a_real_server_would(labels):
    # the old submit() returned the log record itself, true public and private errors included
    server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.5, ladder_step=0.05)
    guesses = labels.copy()
    guesses[::3] = (guesses[::3] + 1) % 10
    result = server.submit("t", guesses)
    assert isinstance(result, SubmissionResult)
    assert [f.name for f in dataclasses.fields(result)] == [
        "number", "team", "time", "accepted", "reason", "reported_error", "remaining"]
    assert not hasattr(result, "public_error") and not hasattr(result, "private_error")
    steps = result.reported_error / 0.05
    assert steps == pytest.approx(round(steps))  # a Ladder score: a multiple of the step
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reported_error = 0.0
    assert all(not hasattr(r, "public_error") for r in server.log)
    # nothing public holds the hidden labels or the split
    public_values = [getattr(server, name) for name in dir(server) if not name.startswith("_")]
    assert not any(isinstance(value, np.ndarray) for value in public_values)
    server.close()
    truth = server.audit()[0].public_error  # revealed after the close
    assert truth != result.reported_error and abs(truth - result.reported_error) <= 0.025


def test_private_scores_wait_for_the_close(labels):
    # the old final_leaderboard() answered mid-challenge
    clock = FakeClock()
    server = EvaluationServer(labels, quota=None, clock=clock, deadline=10 * DAY)
    server.submit("t", labels)
    for reveal in (server.audit, lambda: server.true_errors([1])):
        with pytest.raises(ChallengeOpenError, match=r"only when the challenge has closed "
                                                     r"\(call close\(\) or at the deadline"):
            reveal()
    assert not server.closed
    clock.now = 10 * DAY  # the deadline closes it
    assert server.closed and server.remaining("t") == 0
    late = server.submit("t", labels)
    assert not late.accepted and late.reason.startswith("closed:") and late.remaining == 0
    assert len(server.audit()) == 2 and server.audit()[1].public_error is None
    clock.now = 0.0  # turning the clock back does not reopen it
    assert server.closed and not server.submit("t", labels).accepted
    with pytest.raises(ValueError, match="not an accepted submission"):
        server.true_errors([2])
    manual = EvaluationServer(labels, quota=None)
    manual.submit("t", labels)
    manual.close()
    assert manual.closed and manual.audit()[0].private_error is None  # no private part


@pytest.mark.parametrize("variant", ["Team A", "team a", "  team   a ", "TEAM\tA", "team\u00a0a",
                                     "team\u3000a", "ＴＥＡＭ Ａ",
                                     "\U0001d42d\U0001d41e\U0001d41a\U0001d426 a"])
def test_case_space_and_width_variants_share_one_quota(labels, variant):
    # NFKC makes full-width (and mathematical bold) letters ASCII: the same team, not a refusal
    server = EvaluationServer(labels, quota=2, clock=FakeClock())
    assert team_key(variant) == team_key("team a")
    assert server.submit("team a", labels).accepted
    assert server.submit(variant, labels).accepted
    refused = server.submit(variant, labels)
    assert not refused.accepted and refused.reason.startswith("quota")
    assert {r.team for r in server.log} == {"team a"}  # shown as first registered
    assert server.remaining(variant) == 0


def test_team_names_must_be_str(labels):
    # an object whose str() changes on every call was a new team each time
    class Shifty:
        calls = 0

        def __str__(self):
            Shifty.calls += 1
            return f"team {Shifty.calls}"

    class LyingStr(str):
        def __str__(self):
            return "someone else"

    server = EvaluationServer(labels, quota=1, clock=FakeClock())
    for bad in (Shifty(), 7, b"team", None):
        with pytest.raises(TypeError, match="a team name must be a str"):
            server.submit(bad, labels)
    assert server.submit(LyingStr("me"), labels).team == "me"
    assert not server.submit("ME", labels).accepted
    for empty in ("", "   ", "\u3000\t\n"):
        with pytest.raises(ValueError, match="empty"):
            server.submit(empty, labels)
    with pytest.raises(ValueError, match=r"character 0 .* \(U\+200B ZERO WIDTH SPACE\)"):
        server.submit("\u200b\u200d", labels)
    with pytest.raises(ValueError, match="at most 100"):
        server.submit("x" * 101, labels)
    assert len(server.log) == 2


def test_settings_are_read_only(labels):
    # the old server let a team write server.quota = None or server.clock = ...
    server = EvaluationServer(labels, quota=2, clock=FakeClock(), ladder_step=0.1)
    for name, value in [("quota", None), ("clock", lambda: 1e12), ("period", 1.0), ("k", 10),
                        ("ladder_step", None), ("deadline", 0.0), ("closed", True),
                        ("log", ()), ("n_images", 1), ("_hidden", 0)]:
        with pytest.raises(AttributeError):
            setattr(server, name, value)
    assert (server.quota, server.k, server.period, server.ladder_step) == (2, 5, WEEK, 0.1)


def test_returned_boards_and_logs_are_immutable_copies(labels):
    server = EvaluationServer(labels, k=1, quota=None)
    server.submit("a", labels)
    board = server.leaderboard()
    assert isinstance(board, tuple) and isinstance(server.log, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        board[0].reported_error = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        server.log[0].accepted = False
    with pytest.raises(TypeError):
        server.log[0] = None
    server.close()
    audit = server.audit()
    assert isinstance(audit, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        audit[0].public_error = 0.5
    assert server.leaderboard()[0].reported_error == 0.0


def test_caller_changing_its_labels_changes_nothing(labels):
    mine = labels.copy()
    server = EvaluationServer(mine, k=1, quota=None)
    mine[:] = 0
    assert server.submit("t", labels).reported_error == 0.0


def test_label_recovery_under_fresh_looking_names_hits_the_quota():
    # the reported incident: 200 hidden labels recovered with 683 submissions under fresh names;
    # case, space and width variants of one name are one team; invisible characters and
    # look-alike letters are refused outright
    labels = np.random.default_rng(6).integers(0, 10, 200)
    variants = ["attacker", "Attacker", " attacker", "ATTACKER ", "ａｔｔａｃｋｅｒ",
                "\U0001d41attacker", "attacker\u00a0"]
    server = EvaluationServer(labels, k=1, quota=2, clock=FakeClock())
    history = adaptive_attack(server, variants, 10, rounds=683, flips=1)
    assert len(history["reported"]) == 2
    assert len(server.log) == 3 and server.log[-1].reason.startswith("quota")
    # genuinely different names are different teams: a quota per name cannot see through them
    # (what the 2015 rules were about), which the docstring says
    fresh = EvaluationServer(labels, k=1, quota=2, clock=FakeClock())
    history = adaptive_attack(fresh, [f"account {i}" for i in range(10)], 10, rounds=20)
    assert len(history["reported"]) == 20


# --- team names: one readable rule instead of a look-alike table ------------------------------

# (a name a team registers, a variant that looks like it, index of the first refused character
# in the variant, its code point). The old server's hand-made table let most of these through
# as new teams, and mapped the rest (zero-width characters, its Cyrillic and Greek letters) to
# the original team; the rule refuses every one of them.
HOSTILE_VARIANTS = [
    ("team a", "te\u0301am a", 2, 0x0301),         # combining acute accent
    ("team a", "tea\u0308m a", 3, 0x0308),         # combining diaeresis (NFKC composes "ä")
    ("team a", "team a\u0332", 6, 0x0332),         # combining low line
    ("team a", "team a\u034f", 6, 0x034F),         # combining grapheme joiner
    ("team a", "team\u2800a", 4, 0x2800),          # Braille pattern blank
    ("team a", "\u202ea maet", 0, 0x202E),         # right-to-left override: shows "team a"
    ("team a", "\u202ba maet\u202c", 0, 0x202B),   # right-to-left embedding
    ("team a", "te\u200dam a", 2, 0x200D),         # zero-width joiner
    ("team a", "te\u200cam a", 2, 0x200C),         # zero-width non-joiner
    ("team a", "team\u200ba", 4, 0x200B),          # zero-width space
    ("team a", "team a\u2060", 6, 0x2060),         # word joiner
    ("team a", "\ufeffteam a", 0, 0xFEFF),         # byte order mark
    ("team a", "tea\u00adm a", 3, 0x00AD),         # soft hyphen
    ("team a", "team a\ufe0f", 6, 0xFE0F),         # variation selector
    ("team a", "team\u3164a", 4, 0x3164),          # Hangul filler
    ("team a", "team\u180ea", 4, 0x180E),          # Mongolian vowel separator
    ("team a", "team a\U000e0061", 6, 0xE0061),    # tag latin small letter a
    ("team a", "team a\x00", 6, 0x0000),           # NUL
    ("hello", "\u0570ello", 0, 0x0570),            # Armenian ho
    ("good", "g\u0585\u0585d", 1, 0x0585),         # Armenian oh
    ("TEAM A", "\u13a2\u13ac\u13aa\u13b7 \u13aa", 0, 0x13A2),  # Cherokee
    ("TEAM A", "\ua4d4\ua4f0\ua4ee\ua4df \ua4ee", 0, 0xA4D4),  # Lisu
    ("team a", "team \u0430", 5, 0x0430),          # Cyrillic a (in the old table)
    ("team a", "t\u0435am a", 1, 0x0435),          # Cyrillic ie (in the old table)
    ("victors", "\u0475ictors", 0, 0x0475),        # Cyrillic izhitsa (not in the old table)
    ("TEAM A", "\u03a4\u0395\u0391\u039c \u0391", 0, 0x03A4),  # Greek capitals
    ("cats", "\u03f2ats", 0, 0x03F2),              # Greek lunate sigma
    ("info", "\u0131nfo", 0, 0x0131),              # Latin dotless i
]


@pytest.mark.parametrize(("original", "variant", "position", "code"), HOSTILE_VARIANTS)
def test_hostile_look_alike_names_are_refused(labels, original, variant, position, code):
    server = EvaluationServer(labels, quota=1, clock=FakeClock(), num_classes=10)
    assert server.submit(original, labels).accepted
    char = chr(code)
    with pytest.raises(ValueError) as refused:
        server.submit(variant, labels)
    message = str(refused.value)
    assert message.startswith(f"team name {variant!r} refused")
    assert f"character {position} (counting from 0)" in message
    assert f"U+{code:04X} {unicodedata.name(char, 'unnamed')}" in message
    assert "ASCII letters, digits, spaces, '-' and '_'" in message
    assert variant[position] == char  # the reference points at the right character
    with pytest.raises(ValueError, match=f"U\\+{code:04X}"):
        team_key(variant)
    with pytest.raises(ValueError, match=f"U\\+{code:04X}"):
        server.remaining(variant)
    assert len(server.log) == 1 and [row.team for row in server.leaderboard()] == [original]


def _rule_disagreements(codes) -> list[str]:
    """Code points where ``team_key("a" + ch + "b")`` disagrees with the rule as the module
    docstring states it (NFKC, case fold, white space collapsed; then ASCII letters, digits,
    spaces, '-', '_' only), or refuses without naming ``ch`` at position 1."""
    allowed = set(string.ascii_letters + string.digits + "-_ ")
    wrong = []
    for code in codes:
        name = f"a{chr(code)}b"
        normal = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
        try:
            key = team_key(name)
        except ValueError as exc:
            if set(normal) <= allowed or "character 1 (counting from 0) is " not in str(exc) \
                    or f"(U+{code:04X} " not in str(exc):
                wrong.append(f"U+{code:04X} refused: {exc}")
        else:
            if key != normal or not set(normal) <= allowed:
                wrong.append(f"U+{code:04X} accepted as {key!r}")
    return wrong


def test_the_name_rule_against_every_code_point_of_the_usual_planes():
    # the Basic Multilingual Plane, mathematical and enclosed letters and digits (which NFKC
    # makes ASCII), tags and variation selectors; the server checks character by character
    codes = [*range(0x10000), *range(0x1D400, 0x1D800), *range(0x1F100, 0x1F200),
             *range(0xE0000, 0xE01F0)]
    assert _rule_disagreements(codes) == []


def test_thirty_accounts_are_thirty_teams(labels):
    # notebook 11 replays the 2015 incident with "account 1" ... "account 30"
    names = [f"account {i}" for i in range(1, 31)]
    server = EvaluationServer(labels, k=1, quota=1, clock=FakeClock(), num_classes=10)
    assert all(server.submit(name, labels).accepted for name in names)
    assert sorted(row.team for row in server.leaderboard()) == sorted(names)
    assert len({team_key(name) for name in names}) == 30
    # NFKC turns the full-width spelling into "account 1": the same team, out of quota
    again = server.submit("ａｃｃｏｕｎｔ １", labels)
    assert not again.accepted and again.team == "account 1"
    for name in ("Team_B-2", "a b", "x" * 100):
        assert team_key(name) == name.lower()


# --- what the server returns is a copy --------------------------------------------------------

def test_changing_returned_records_changes_nothing_on_the_server(labels):
    # the old submit() and log returned the server's own records: object.__setattr__ on one
    # rewrote the leaderboard, and audit() handed out the server's own records
    server = EvaluationServer(labels, k=1, quota=2, clock=FakeClock(), num_classes=10,
                              public_fraction=0.5)
    wrong = (labels + 1) % 10
    result = server.submit("a", wrong)
    expected = SubmissionResult(1, "a", 0.0, True, "", 1.0, 1)
    assert result == expected
    for field, value in [("reported_error", 0.0), ("team", "b"), ("accepted", False),
                         ("number", 7), ("remaining", math.inf)]:
        object.__setattr__(result, field, value)
        object.__setattr__(server.log[0], field, value)
    board = server.leaderboard()
    object.__setattr__(board[0], "reported_error", 0.0)
    assert server.log == (expected,)
    assert server.leaderboard() == (LeaderboardRow("a", 1.0, 1, 0),)
    assert server.remaining("a") == 1
    server.close()
    for record in server.audit():
        object.__setattr__(record, "public_error", 0.0)
        object.__setattr__(record, "private_error", 0.0)
        object.__setattr__(record, "accepted", False)
    assert server.audit() == (SubmissionRecord(1, "a", 0.0, True, "", 1.0, 1.0, 1.0),)
    public, private = server.true_errors([1])
    public[:], private[:] = 0.0, 0.0
    assert server.true_errors([1])[0].tolist() == [1.0] == server.true_errors([1])[1].tolist()


# --- guess arrays: what a submission file could hold, nothing more ----------------------------

def _refused(server, submission, reason):
    """Submit and check it is refused with ``reason`` in the message, without using quota."""
    before = server.remaining("t")
    result = server.submit("t", submission)
    assert not result.accepted and result.reason.startswith("invalid submission")
    assert reason in result.reason, result.reason
    assert server.remaining("t") == before


def test_guess_arrays_with_more_than_five_columns_are_refused(labels):
    # the old server kept the first five columns of a (N, 6) array; a file with six labels on a
    # line is refused, and so is the array now
    server = EvaluationServer(labels, quota=2, clock=FakeClock(), num_classes=10)
    six = np.tile(np.arange(6), (len(labels), 1))
    _refused(server, six, "6 guesses per image (shape (400, 6)); at most 5 are allowed")
    assert server.submit("t", six[:, :5]).accepted
    padded = np.full((len(labels), 5), -1)  # -1 still means "no guess"
    padded[:, 0] = labels
    assert server.submit("t", padded).reported_error == 0.0


def test_uint64_guesses_do_not_wrap_to_no_guess(labels):
    # the old server cast uint64 2**64 - 1 to int64 -1, "no guess", and 2**63 to a negative
    # number, and accepted both
    server = EvaluationServer(labels, quota=2, clock=FakeClock(), num_classes=10)
    top = np.full(len(labels), 2**64 - 1, dtype=np.uint64)
    _refused(server, top, "guess [0] = 18446744073709551615 is >= 10")
    _refused(server, [2**64 - 1] * len(labels), "guess [0] = 18446744073709551615 is >= 10")
    half = labels.astype(np.uint64)
    half[7] = 2**63
    _refused(server, half, "guess [7] = 9223372036854775808 is >= 10")
    column = np.zeros((len(labels), 2), dtype=np.uint64)
    column[3, 1] = 2**64 - 1
    _refused(server, column, "guess [3, 1] = 18446744073709551615 is >= 10, the number of classes")
    assert server.submit("t", labels.astype(np.uint64)).reported_error == 0.0


def test_every_guess_column_is_checked_against_the_class_range(labels):
    # the old server checked only the first k columns: with k=1 a second column of 10 (or -7)
    # with 10 classes was dropped unchecked
    server = EvaluationServer(labels, k=1, quota=2, clock=FakeClock(), num_classes=10)
    guesses = np.stack([labels, labels], axis=1)
    guesses[5, 1] = 10
    _refused(server, guesses, "guess [5, 1] = 10 is >= 10, the number of classes")
    guesses[5, 1] = -7
    _refused(server, guesses, "guess [5, 1] = -7 is below -1")
    guesses[5, 1] = -1
    assert server.submit("t", guesses).reported_error == 0.0
    wide = EvaluationServer(labels, k=5, quota=None, num_classes=10)
    five = np.tile(np.arange(5), (len(labels), 1))
    five[9, 4] = 10
    result = wide.submit("t", five)
    assert not result.accepted and "guess [9, 4] = 10 is >= 10" in result.reason
