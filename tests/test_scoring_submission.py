"""Submission and ground-truth files: round trips, label conventions, and every bad-input case."""

import warnings

import numpy as np
import pytest
from devkit_files import write_devkit

from course_lib.classes import load_class_table
from course_lib.scoring import (
    DuplicateLabelWarning,
    SubmissionError,
    label_convention,
    read_ground_truth,
    read_pair,
    read_submission,
    top_guesses,
    topk_error,
    write_ground_truth,
    write_submission,
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def make_devkit(root, id_to_index):
    """A devkit whose ILSVRC2012_ID i names class id_to_index[i - 1]."""
    wnids = load_class_table()["wnid"].tolist()
    return write_devkit(root, [wnids[index] for index in id_to_index])


def random_guesses(rng, n, c=1000):
    rows = np.full((n, 5), -1, dtype=np.int64)
    for i in range(n):
        g = int(rng.integers(1, 6))
        rows[i, :g] = rng.choice(c, g, replace=False)
    return rows


# --- round trips and conventions -----------------------------------------------------------

@pytest.mark.parametrize("zero_based", [False, True])
def test_submission_round_trip(tmp_path, zero_based):
    rng = np.random.default_rng(0)
    guesses = random_guesses(rng, 200)
    targets = rng.integers(0, 1000, 200)
    pred = write_submission(tmp_path / "pred.txt", guesses, zero_based=zero_based)
    gt = write_ground_truth(tmp_path / "gt.txt", targets, zero_based=zero_based)
    got, got_targets = read_pair(pred, gt, zero_based=zero_based)
    assert np.array_equal(got, guesses)
    assert np.array_equal(got_targets, targets)


def test_one_based_label_is_index_plus_one(tmp_path):
    write_submission(tmp_path / "p.txt", np.array([[0, 999, -1], [5, -1, -1]]))
    assert (tmp_path / "p.txt").read_text() == "1 1000\n6\n"
    write_submission(tmp_path / "z.txt", np.array([[0, 999], [5, 6]]), zero_based=True)
    assert (tmp_path / "z.txt").read_text() == "0 999\n5 6\n"
    assert read_ground_truth(write(tmp_path / "g.txt", "1\n1000\n")).tolist() == [0, 999]
    assert "L-1" in label_convention() and "0-based" in label_convention(zero_based=True)


def test_scores_are_written_as_their_top_five(tmp_path):
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((50, 1000)).astype(np.float32)
    path = write_submission(tmp_path / "pred.txt", scores)
    assert all(len(line.split()) == 5 for line in path.read_text().splitlines())
    assert np.array_equal(read_submission(path), top_guesses(scores, 5))
    path3 = write_submission(tmp_path / "pred3.txt", scores, k=3)
    assert np.array_equal(read_submission(path3)[:, :3], top_guesses(scores, 3))


def test_flat_error_from_files_matches_brute_force(tmp_path):
    rng = np.random.default_rng(2)
    lines, truth = [], []
    for _ in range(300):
        labels = [int(x) for x in rng.integers(1, 21, int(rng.integers(1, 6)))]
        lines.append(" ".join(map(str, labels)))
        truth.append(int(rng.integers(1, 21)))
    pred = write(tmp_path / "pred.txt", "\n".join(lines) + "\n")
    gt = write(tmp_path / "gt.txt", "\n".join(map(str, truth)) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DuplicateLabelWarning)
        guesses, targets = read_pair(pred, gt)
    for k in range(1, 6):
        wrong = sum(t not in [int(x) for x in line.split()][:k] for line, t in zip(lines, truth))
        assert topk_error(guesses, targets, k) == pytest.approx(wrong / 300)


def test_devkit_ids_map_through_meta_mat(tmp_path):
    rng = np.random.default_rng(3)
    id_to_index = rng.permutation(1000)
    devkit = make_devkit(tmp_path / "devkit", id_to_index)
    pred = write(tmp_path / "pred.txt", "1 2\n1000\n")
    got = read_submission(pred, devkit_dir=devkit)
    assert got[:, :2].tolist() == [[id_to_index[0], id_to_index[1]], [id_to_index[999], -1]]
    gt = read_ground_truth(write(tmp_path / "gt.txt", "7\n"), devkit_dir=devkit)
    assert gt.tolist() == [id_to_index[6]]
    guesses = random_guesses(rng, 100)
    path = write_submission(tmp_path / "out.txt", guesses, devkit_dir=devkit)
    assert np.array_equal(read_submission(path, devkit_dir=devkit), guesses)
    # the same file read without the devkit names other classes
    assert not np.array_equal(read_submission(path), guesses)
    assert str(devkit) in label_convention(devkit_dir=devkit)
    with pytest.raises(ValueError, match="1-based"):
        read_submission(pred, devkit_dir=devkit, zero_based=True)


def test_crlf_tabs_and_missing_final_newline_are_accepted(tmp_path):
    path = write(tmp_path / "p.txt", "3\t4  5\r\n 6\r\n7 8")
    assert read_submission(path)[:, :3].tolist() == [[2, 3, 4], [5, -1, -1], [6, 7, -1]]


def test_fewer_than_five_labels_padded(tmp_path):
    got = read_submission(write(tmp_path / "p.txt", "1\n1 2 3 4 5\n"))
    assert got.tolist() == [[0, -1, -1, -1, -1], [0, 1, 2, 3, 4]]


# --- bad input: each case names the file and the 1-based line ------------------------------

BAD_SUBMISSIONS = [
    ("1 2\n3 1001\n", {}, 2, "label 1001 is outside 1..1000"),
    ("1 2\n0 3\n", {}, 2, "label 0 is outside 1..1000.*zero_based"),
    ("5\n6\n1000\n", {"zero_based": True}, 3, "label 1000 is outside 0..999"),
    ("5\n-1\n", {"zero_based": True}, 2, "label -1 is outside 0..999"),
    ("1\n2\n3 4.0\n", {}, 3, "'4.0' is not an integer label"),
    ("1\nabc\n", {}, 2, "'abc' is not an integer label"),
    ("1,2\n", {}, 1, "'1,2' is not an integer label"),
    ("1\n1 2 3 4 5 6\n", {}, 2, "6 labels; at most 5 per line"),
    ("1\n\n2\n", {}, 2, "empty line"),
    ("1\n   \t\n2\n", {}, 2, "empty line"),
    ("1\n2\n\n", {}, 3, "empty line"),
]


@pytest.mark.parametrize("text,options,line,message", BAD_SUBMISSIONS)
def test_bad_submission_names_file_and_line(tmp_path, text, options, line, message):
    path = write(tmp_path / "pred.txt", text)
    with pytest.raises(SubmissionError, match=message) as info:
        read_submission(path, **options)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}, line {line}: ")


def test_line_count_must_match_the_ground_truth(tmp_path):
    gt = write(tmp_path / "gt.txt", "1\n2\n3\n")
    short = write(tmp_path / "short.txt", "1\n2\n")
    with pytest.raises(SubmissionError, match=f"line 3: missing line.*{gt}.* has 3") as info:
        read_pair(short, gt)
    assert info.value.path == str(short)
    long = write(tmp_path / "long.txt", "1\n2\n3\n4\n5\n")
    with pytest.raises(SubmissionError, match=f"{long}, line 4: extra line.*{gt} has 3 lines"):
        read_pair(long, gt)


@pytest.mark.parametrize("text", ["", "\n", "  \n\n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path / "pred.txt", text)
    with pytest.raises(SubmissionError, match="empty file") as info:
        read_submission(path)
    assert str(info.value).startswith(str(path))
    with pytest.raises(SubmissionError, match="empty file"):
        read_ground_truth(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(SubmissionError, match="cannot read"):
        read_submission(tmp_path / "nope.txt")
    path = tmp_path / "bin.txt"
    path.write_bytes(b"1 2\n3\n\xff\xfe\n")
    with pytest.raises(SubmissionError, match="line 3: not text"):
        read_submission(path)


def test_ground_truth_has_one_label_per_line(tmp_path):
    path = write(tmp_path / "gt.txt", "1\n2 3\n")
    with pytest.raises(SubmissionError, match="line 2: 2 labels; the ground truth has exactly one"):
        read_ground_truth(path)
    with pytest.raises(SubmissionError, match="line 1: label 1001"):
        read_ground_truth(write(tmp_path / "gt2.txt", "1001\n"))


def test_duplicate_label_is_a_warning_naming_file_and_line(tmp_path):
    path = write(tmp_path / "pred.txt", "1 2\n3 4 3\n5\n")
    with pytest.warns(DuplicateLabelWarning, match=f"{path}, line 2: label 3") as record:
        got = read_submission(path)
    assert len(record) == 1
    assert got[1].tolist() == [2, 3, 2, -1, -1]
    assert topk_error(got, np.array([0, 2, 4]), 5) == 0.0


def test_many_duplicate_lines_are_summarised(tmp_path):
    path = write(tmp_path / "pred.txt", "7 7\n" * 25)
    with pytest.warns(DuplicateLabelWarning) as record:
        read_submission(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 11
    assert "line 10:" in messages[9] and "15 more lines" in messages[10]


def test_writers_reject_what_readers_would(tmp_path):
    with pytest.raises(ValueError, match="row 1 has no guess"):
        write_submission(tmp_path / "p.txt", np.array([[0, 1], [-1, -1]]))
    with pytest.raises(ValueError, match="1000 >= num_classes"):
        write_submission(tmp_path / "p.txt", np.array([[0], [1000]]))
    with pytest.raises(ValueError, match="1 to 5 labels"):
        write_submission(tmp_path / "p.txt", np.zeros((2, 10)), k=6)
    with pytest.raises(ValueError, match=r"targets\[1\] = 1000"):
        write_ground_truth(tmp_path / "g.txt", np.array([0, 1000]))
