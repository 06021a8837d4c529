"""The evaluation server: quotas, the log, public/private scores, the Ladder, an adaptive attacker."""

import math

import numpy as np
import pytest

from course_lib.scoring import (
    WEEK,
    EvaluationServer,
    adaptive_attack,
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
    records = []
    for _ in range(40):
        records.append(server.submit("flood", rng.integers(0, 10, len(labels))))
        clock.now += 60  # one a minute
    assert [r.accepted for r in records] == [True, True] + [False] * 38
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


def test_scores_files_and_arrays_and_logs_invalid_submissions(tmp_path, labels):
    clock = FakeClock()
    server = EvaluationServer(labels, quota=2, clock=clock, num_classes=10)
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((len(labels), 10))
    path = write_submission(tmp_path / "pred.txt", scores, num_classes=10)
    from_file = server.submit("a", path)
    assert from_file.accepted
    assert from_file.public_error == pytest.approx(topk_error(scores, labels, 5))
    assert from_file.private_error is None
    assert server.submit("b", scores).public_error == from_file.public_error
    # invalid submissions are refused, logged with the reason, and not counted in the quota
    short = write_submission(tmp_path / "short.txt", scores[:-1], num_classes=10)
    bad = server.submit("c", short)
    assert not bad.accepted and "invalid submission" in bad.reason
    assert f"line {len(labels)}: missing line" in bad.reason
    assert not server.submit("c", np.zeros(3, dtype=np.int64)).accepted
    wrong_width = server.submit("c", np.zeros((len(labels), 5)))
    assert "scores for 5 classes; this test set has 10" in wrong_width.reason
    assert server.remaining("c") == 2
    assert [r.number for r in server.log] == [1, 2, 3, 4, 5]
    frame = server.log_frame()
    assert list(frame["accepted"]) == [True, True, False, False, False]
    assert list(frame["team"]) == ["a", "b", "c", "c", "c"]


def test_public_and_private_parts(labels):
    server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.25, seed=3)
    assert server.n_public == 100
    guesses = labels.copy()
    guesses[:200] = (guesses[:200] + 1) % 10  # wrong on the first half
    record = server.submit("t", guesses)
    wrong = record.public_error * 100 + record.private_error * 300
    assert wrong == pytest.approx(200)  # the two parts partition the test set
    assert record.reported_error == record.public_error


def test_leaderboards(labels):
    server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.5)
    good, bad = labels.copy(), (labels + 1) % 10
    server.submit("bad", bad)
    server.submit("good", bad)
    server.submit("good", good)
    board = server.leaderboard()
    assert [row["team"] for row in board] == ["good", "bad"]
    assert board[0]["reported_error"] == 0.0 and board[0]["submissions"] == 2
    final = server.final_leaderboard()
    assert final[0] == dict(team="good", public_error=0.0, private_error=0.0, submission=3)
    assert final[1]["private_error"] == 1.0


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
    assert [r.public_error for r in server.log] == [0.5, 0.4375, 0.25, 0.1875]


def test_adaptive_attacker_overfits_the_public_part_and_the_ladder_limits_it():
    labels = np.random.default_rng(4).integers(0, 10, 2000)

    def attack(ladder_step):
        server = EvaluationServer(labels, k=1, quota=None, public_fraction=0.5, seed=0,
                                  ladder_step=ladder_step)
        return adaptive_attack(server, "attacker", 10, rounds=300, flips=10, seed=3)

    plain = attack(None)
    public_gain = plain["public"][0] - plain["public"][-1]
    private_gain = plain["private"][0] - plain["private"][-1]
    assert public_gain > 0.05          # the public score improves a lot ...
    assert private_gain < 0.02         # ... the labels are random: the private one cannot
    assert plain["private"][-1] > 0.85  # still at chance (90 % error with 10 classes)
    assert np.all(np.diff(plain["reported"]) <= 0)
    ladder = attack(0.01)
    ladder_gain = ladder["public"][0] - ladder["public"][-1]
    assert ladder_gain < public_gain / 3


def test_the_quota_stops_the_attack():
    labels = np.random.default_rng(5).integers(0, 10, 200)
    server = EvaluationServer(labels, k=1, quota=2, clock=FakeClock())
    history = adaptive_attack(server, "attacker", 10, rounds=100)
    assert len(history["public"]) == 2
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
    server = EvaluationServer(labels, quota=None, num_classes=10)
    guesses = np.zeros((len(labels), 2), dtype=np.int64)
    guesses[3, 1] = 12
    record = server.submit("t", guesses)
    assert not record.accepted and r"guess [3, 1] = 12 is >= 10" in record.reason
