"""Submission and ground-truth files treated as hostile: FIFOs, devices, directories, over-long
lines, huge files (memory stays bounded), file names with control characters, and the block
reader against a brute-force line-by-line parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tracemalloc
import warnings

import numpy as np
import pytest

from course_lib.__main__ import main
from course_lib.scoring import (
    MAX_LINE_BYTES,
    DuplicateLabelWarning,
    SubmissionError,
    printable_name,
    read_ground_truth,
    read_pair,
    read_submission,
)
from course_lib.scoring import submission as submission_module


def brute_read(text: str, zero_based: bool = False) -> list[list[int]]:
    """The devkit format by hand: split on newlines, tokens on white space, labels to indices."""
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    shift = 0 if zero_based else 1
    return [[int(t) - shift for t in line.split()] for line in lines]


def padded(rows: list[list[int]], width: int = 5) -> np.ndarray:
    return np.array([row + [-1] * (width - len(row)) for row in rows], dtype=np.int64)


POSIX = pytest.mark.skipif(os.name != "posix", reason="FIFOs and control characters in file "
                                                          "names need a POSIX system")


# --- not a regular file ---------------------------------------------------------------------

@POSIX
def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pred.fifo"
    os.mkfifo(fifo)
    outcome = {}

    def read():
        try:
            read_submission(fifo)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # the old reader blocks in open(); a writer releases it
        with open(fifo, "wb"):
            pass
        reader.join(timeout=10)
        pytest.fail("reading a FIFO blocked until a writer came")
    error = outcome["error"]
    assert isinstance(error, SubmissionError)
    assert str(error) == f"{fifo}: not a regular file (a FIFO (named pipe)); give the path of a text file"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_before_reading():
    # the old reader read /dev/zero until MemoryError
    tracemalloc.start()
    try:
        with pytest.raises(SubmissionError, match="^/dev/zero: not a regular file "
                                                  r"\(a character device\)"):
            read_submission("/dev/zero")
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def test_directory_is_refused(tmp_path):
    with pytest.raises(SubmissionError, match=r"not a regular file \(a directory\)"):
        read_ground_truth(tmp_path)


def test_pair_checks_the_submission_before_reading_the_ground_truth(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1\nnot a label\n")  # would fail if it were read first
    with pytest.raises(SubmissionError, match=r"not a regular file \(a directory\)"):
        read_pair(tmp_path, gt)
    with pytest.raises(SubmissionError, match=r"missing\.txt: cannot read the file"):
        read_pair(tmp_path / "missing.txt", gt)


@pytest.mark.slow
@POSIX
def test_score_refuses_a_fifo_with_status_2(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1\n2\n")
    fifo = tmp_path / "pred.fifo"
    os.mkfifo(fifo)
    # a subprocess with a timeout: the old command hung here for good
    result = subprocess.run([sys.executable, "-m", "course_lib", "score", "--pred", str(fifo),
                             "--gt", str(gt)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"error: {fifo}: not a regular file (a FIFO (named pipe)); give the "
                             "path of a text file\n")


# --- over-long lines ------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["single", "middle", "last without newline"])
def test_long_line_names_file_and_line_and_reads_little(tmp_path, where):
    path = tmp_path / "pred.txt"
    long = b"1 " * (4 << 20)  # 8 MiB on one line
    data = {"single": long + b"\n",
            "middle": b"1\n2\n" + long + b"\n3\n",
            "last without newline": b"1\n2\n" + long}[where]
    path.write_bytes(data)
    line = 1 if where == "single" else 3
    tracemalloc.start()
    try:
        with pytest.raises(SubmissionError) as info:
            read_submission(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.line == line
    assert str(info.value) == (f"{path}, line {line}: line longer than {MAX_LINE_BYTES:,} bytes; "
                               "a line holds one to five labels (is this the right file?)")
    assert peak < 4 << 20  # the reader never holds the whole line (the old one held it twice)


def test_line_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "pred.txt"
    line = "7" + " " * (MAX_LINE_BYTES - 2) + "8"
    assert len(line) == MAX_LINE_BYTES
    path.write_text(f"1\n{line}\r\n")  # the limit counts the \r too: this line is one byte over
    with pytest.raises(SubmissionError, match="line 2: line longer"):
        read_submission(path)
    path.write_text(f"1\n{line}\n")
    assert read_submission(path)[1, :2].tolist() == [6, 7]


# --- memory ---------------------------------------------------------------------------------

def peak_while(fn, *args, **kwargs):
    """``(result, peak bytes traced)`` of ``fn(*args, **kwargs)``."""
    tracemalloc.start()
    try:
        result = fn(*args, **kwargs)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_holds_the_labels_not_the_text(tmp_path):
    rng = np.random.default_rng(0)
    n = 400_000
    truth = rng.integers(1, 1001, n)
    gt = tmp_path / "gt.txt"
    gt.write_text("\n".join(map(str, truth.tolist())) + "\n")  # 1.9 MB
    got, peak = peak_while(read_ground_truth, gt)
    assert np.array_equal(got, truth - 1)
    # the old reader held the text, its decoded copy and a str per line: 29 MB here; blocks of
    # 64 KiB need well under 1 MB, and the blocks' labels are concatenated once at the end
    assert peak < 2 * got.nbytes + (2 << 20)
    top1 = np.where(rng.random(n) < 0.5, truth, rng.integers(1, 1001, n))
    pred = tmp_path / "pred.txt"
    pred.write_text("\n".join(map(str, top1.tolist())) + "\n")
    guesses, peak = peak_while(read_submission, pred, expected_lines=n)
    assert np.array_equal(guesses[:, 0], top1 - 1) and (guesses[:, 1:] == -1).all()
    # with the line count known, the labels go straight into the result; a bool mask of the
    # valid guesses (n x 5 bytes) is the only other large array
    assert peak < guesses.nbytes + n * 5 + (2 << 20)


# --- the block reader against a brute-force parser ------------------------------------------

QUIRKS = ["{}", "{}", "{}", "0{}", "00{}", "{} ", " {}", "\t{}", "{}\t"]


def quirky_file(rng, n, zero_based=False) -> str:
    """Valid lines with every accepted oddity: leading zeros, tabs, runs of spaces, CRLF."""
    low, high = (0, 999) if zero_based else (1, 1000)
    lines = []
    for _ in range(n):
        count = int(rng.integers(1, 6))
        labels = rng.integers(low, high + 1, count)
        tokens = [QUIRKS[int(rng.integers(len(QUIRKS)))].format(x) for x in labels]
        sep = [" ", "  ", "\t", " \t "][int(rng.integers(4))]
        lines.append(sep.join(tokens) + ("\r" if rng.random() < 0.2 else ""))
    return "\n".join(lines) + ("\n" if rng.random() < 0.5 else "")


@pytest.mark.parametrize("block", [7, 64, 1 << 18])
@pytest.mark.parametrize("fast", [True, False])
def test_block_reader_equals_brute_force(tmp_path, monkeypatch, block, fast):
    monkeypatch.setattr(submission_module, "_BLOCK_BYTES", block)
    if not fast:
        monkeypatch.setattr(submission_module, "_fast_rows", lambda *args: None)
    rng = np.random.default_rng(block)
    for trial in range(3):
        text = quirky_file(rng, 300)
        if trial == 1:  # a BOM, a sign, a no-break space
            text = "\ufeff" + text.removesuffix("\n") + "\n+5 \u00a0 6\n"
        path = tmp_path / f"pred{trial}.txt"
        path.write_bytes(text.encode("utf-8"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DuplicateLabelWarning)
            got = read_submission(path)
        assert np.array_equal(got, padded(brute_read(text)))


@pytest.mark.parametrize("block,n", [(5, 300), (1 << 16, 20_000)])
def test_errors_name_the_right_line_across_blocks(tmp_path, monkeypatch, block, n):
    monkeypatch.setattr(submission_module, "_BLOCK_BYTES", block)
    good = "".join(f"{i % 1000 + 1} {(i * 7) % 1000 + 1}\n" for i in range(n))
    head = good[:good.index("\n", len(good) // 2) + 1]
    cases = [(good + "1 1001\n", n + 1, "label 1001 is outside 1..1000"),
             (good + "\n7\n", n + 1, "empty line"),
             (good + "3 x\n", n + 1, "'x' is not an integer label"),
             (good + "1 2 3 4 5 6\n", n + 1, "6 labels; at most 5 per line"),
             (head + "\n" * 3, head.count("\n") + 1, "empty line")]
    for text, line, message in cases:
        path = tmp_path / "pred.txt"
        path.write_text(text)
        with pytest.raises(SubmissionError, match=message) as info:
            read_submission(path)
        assert info.value.line == line
    path.write_bytes(good.encode() + b"12\n\xff3\n")
    offset = len(good) + 3
    with pytest.raises(SubmissionError, match=f"line {n + 2}: not text \\(byte 0xff at offset "
                                              f"{offset} is not UTF-8\\)"):
        read_submission(path)


@pytest.mark.parametrize("block", [3, 1 << 18])
def test_extra_lines_are_counted_to_the_end(tmp_path, monkeypatch, block):
    monkeypatch.setattr(submission_module, "_BLOCK_BYTES", block)
    gt = tmp_path / "gt.txt"
    gt.write_text("1\n2\n3\n")
    for text, total in [("1\n2\n3\n4\n5\n", 5), ("1\n2\n3\n4\n55", 5), ("1\n2\n3\n\n", 4)]:
        pred = tmp_path / "pred.txt"
        pred.write_text(text)
        with pytest.raises(SubmissionError, match=f"line 4: extra line.*has 3 lines .* but this "
                                                  f"file has {total}$"):
            read_pair(pred, gt)
    # counting stops after _COUNT_LIMIT bytes: a huge file is not read to the end for a message
    monkeypatch.setattr(submission_module, "_COUNT_LIMIT", 8)
    pred.write_text("1\n2\n3\n" + "4\n" * 100)
    total = "103" if block > 300 else "at least [4-9]"  # a big block holds the whole file
    with pytest.raises(SubmissionError, match=f"but this file has {total}$"):
        read_pair(pred, gt)


def test_duplicates_across_blocks_are_summarized(tmp_path, monkeypatch):
    monkeypatch.setattr(submission_module, "_BLOCK_BYTES", 16)
    path = tmp_path / "pred.txt"
    path.write_text("1 2\n" * 5 + "7 7\n" * 25 + "3 4 3\n")
    with pytest.warns(DuplicateLabelWarning) as record:
        read_submission(path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 11
    assert messages[0] == f"{path}, line 6: label 7 appears more than once (counted once)"
    assert messages[10] == f"{path}: 16 more lines with a repeated label (lines 16..31)"


# --- names that could forge output ----------------------------------------------------------

EVIL = "pred\n\x1b[31mOK\x1b[0m\u202e.txt"


def test_printable_name_escapes_control_characters():
    assert printable_name("/tmp/plain name é.txt") == "/tmp/plain name é.txt"
    shown = printable_name(EVIL)
    assert shown == repr(EVIL) and shown.isprintable()
    assert "\\n" in shown and "\\x1b" in shown and "\\u202e" in shown
    assert printable_name(os.fsdecode(b"bad\xffname")) == "'bad\\udcffname'"


@POSIX
def test_errors_and_warnings_escape_the_file_name(tmp_path):
    path = tmp_path / EVIL
    path.write_text("1 1\n0\n")
    with pytest.raises(SubmissionError) as info:
        read_submission(path)
    assert str(info.value).startswith(repr(str(path)) + ", line 2: label 0 is outside")
    assert info.value.path == str(path)  # the raw name stays available to programs
    assert str(info.value).isprintable()
    path.write_text("1 1\n")
    with pytest.warns(DuplicateLabelWarning) as record:
        read_submission(path)
    assert str(record[0].message).startswith(repr(str(path)) + ", line 1:")


@POSIX
def test_score_prints_escaped_names(tmp_path, capsys):
    pred, gt = tmp_path / EVIL, tmp_path / ("gt\x1b]0;title\x07.txt")
    pred.write_text("1\n2\n")
    gt.write_text("1\n3\n")
    assert main(["score", "--pred", str(pred), "--gt", str(gt)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert out.splitlines()[0] == f"{repr(str(pred))} against {repr(str(gt))}: 2 images"
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pred"] == str(pred)  # JSON escapes by itself
    pred.write_text("1\n2\n3\n")
    assert main(["score", "--pred", str(pred), "--gt", str(gt)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert err.startswith(f"error: {repr(str(pred))}, line 3: extra line")
