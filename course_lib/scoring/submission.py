"""ILSVRC submission and ground-truth files (devkit layout, FACTS.md §2.4).

* **Submission** (classification task): one line per test image, in file-name order; each line
  holds one to five labels separated by whitespace, best first.
* **Ground truth**: one label per line, in the same order.

Label conventions (DESIGN.md, clarifications): the course's label space is the 0–999 index of
its class table (the 1000 wnids in sorted order). Files hold **1-based labels by default**:

* no devkit: a 1-based label ``L`` is index ``L − 1`` of the course's class table. This is
  *not* the official ILSVRC2012_ID, whose mapping ships only with the official devkit;
* ``devkit_dir`` given: labels are ILSVRC2012_IDs, mapped through the devkit's ``meta.mat``
  with :func:`course_lib.classes.devkit_ids_to_indices`;
* ``zero_based=True``: labels are the 0-based indices themselves.

Readers return course indices and reject bad input with :class:`SubmissionError`, whose message
names the file (escaped by :func:`printable_name` when it holds control characters), the
1-based line number and the problem. A label repeated on one line is allowed but suspicious: it
raises a :class:`DuplicateLabelWarning`.

Files are treated as hostile: only regular files are opened (a FIFO would hang the reader,
``/dev/zero`` would never end), they are read in blocks rather than whole, and a line longer
than :data:`MAX_LINE_BYTES` is refused, so memory stays at one block plus the labels read.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import warnings
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .. import classes
from ..errors import CourseError, CourseValueError, CourseWarning
from .metrics import MAX_GUESSES, top_guesses

_INTEGER = re.compile(r"[+-]?[0-9]+")
MAX_DUPLICATE_WARNINGS = 10
"""Lines warned about individually; further duplicate lines are summed up in one warning."""
MAX_LINE_BYTES = 4096
"""Longest line accepted, in bytes without the newline. Five labels fit in 25; a longer line
means a wrong file, and refusing it keeps the memory a line needs bounded."""
_BLOCK_BYTES = 1 << 16  # files are read in blocks of this size (plus a partial line)


def printable_name(path) -> str:
    """``path`` as text that is safe to print: unchanged when every character is printable,
    else Python's ``repr`` of it (quoted, with newlines, terminal escapes, bidi controls and
    undecodable bytes escaped), so that a file name cannot forge or hide output."""
    text = os.fsdecode(path) if isinstance(path, (bytes, PathLike)) else str(path)
    return text if text.isprintable() else repr(text)


class SubmissionError(CourseError, ValueError):
    """A submission or ground-truth file that cannot be scored; says file, line and problem.

    ``path``: the file name as given; the message shows it through :func:`printable_name`."""

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        shown = printable_name(path)
        where = f"{shown}, line {line}" if line is not None else shown
        super().__init__(f"{where}: {problem}")


class DuplicateLabelWarning(CourseWarning):
    """The same label appears more than once on a line of a submission."""


def label_convention(zero_based: bool = False, devkit_dir=None) -> str:
    """One sentence saying what the labels in a file mean under these options."""
    if zero_based and devkit_dir is not None:
        raise CourseValueError("devkit ILSVRC2012_IDs are 1-based: do not combine zero_based with a "
                         "devkit directory")
    if devkit_dir is not None:
        return (f"1-based ILSVRC2012_IDs, mapped to class-table indices with the devkit in "
                f"{printable_name(devkit_dir)}")
    if zero_based:
        return "0-based: label i is index i of the course class table (sorted wnids)"
    return ("1-based: label L is index L-1 of the course class table (sorted wnids), "
            "not the official ILSVRC2012_ID (give a devkit for those)")


def _labels_to_indices(labels: np.ndarray, zero_based: bool, devkit_dir) -> np.ndarray:
    """Valid file labels (any shape, already range-checked) → class-table indices."""
    if devkit_dir is not None:
        return classes.devkit_ids_to_indices(labels, devkit_dir)
    return labels if zero_based else labels - 1


def _indices_to_labels(indices: np.ndarray, zero_based: bool, devkit_dir) -> np.ndarray:
    if devkit_dir is not None:
        return classes.indices_to_devkit_ids(indices, devkit_dir)
    return indices if zero_based else indices + 1


# --- opening: regular files only -------------------------------------------------------------

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")
        raise SubmissionError(path, None, f"not a regular file ({kind}); give the path of a "
                                          "text file")


def _stat_regular(path: Path) -> None:
    """Raise :class:`SubmissionError` unless ``path`` names a regular file (nothing is opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise SubmissionError(path, None, f"cannot read the file ({exc.strerror or exc})") from exc
    _check_regular(path, mode)


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for binary reading, after checking that it is a regular file.

    A FIFO would block until a writer comes, a device such as ``/dev/zero`` never ends and a
    directory cannot be read: all are refused before any byte is read. The file is opened with
    ``O_NONBLOCK`` (so that opening a FIFO swapped in after the check cannot hang) and checked
    again on the open descriptor.
    """
    _stat_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise SubmissionError(path, None, f"cannot read the file ({exc.strerror or exc})") from exc
    try:
        _check_regular(path, os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --- reading: streamed in blocks of whole lines ----------------------------------------------

_ALLOWED = np.zeros(256, dtype=bool)
_ALLOWED[list(b"0123456789 \t\r\n")] = True
_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[list(b"0123456789")] = True
_MAX_FAST_DIGITS = 18  # 18 digits always fit in int64


@dataclass
class _Format:
    """What a file of labels must look like: ``width`` labels at most per line (``exact``: all
    lines have exactly ``width``), in ``low..high``."""

    zero_based: bool
    num_classes: int
    width: int
    exact: bool

    @property
    def low(self) -> int:
        return 0 if self.zero_based else 1

    @property
    def high(self) -> int:
        return self.num_classes - 1 if self.zero_based else self.num_classes

    def count_problem(self, count: int) -> str | None:
        if self.exact and count != self.width:
            return f"{count} labels; the ground truth has exactly one per line"
        if count > self.width:
            return f"{count} labels; at most {self.width} per line"
        return None


def _parse_labels(path: Path, number: int, tokens: list[str], fmt: _Format) -> list[int]:
    """The labels of one non-empty line, each checked (the reference for :func:`_fast_rows`)."""
    labels = []
    for token in tokens:
        if not _INTEGER.fullmatch(token):
            shown = token if len(token) <= 30 else token[:27] + "..."
            raise SubmissionError(path, number, f"{shown!r} is not an integer label")
        label = int(token)
        if not fmt.low <= label <= fmt.high:
            hint = ""
            if not fmt.zero_based and label == 0:
                hint = "; 0-based file? use zero_based=True (--zero-based)"
            elif fmt.zero_based and label == fmt.num_classes:
                hint = "; 1-based file? drop zero_based (--zero-based)"
            convention = "0-based" if fmt.zero_based else "1-based"
            raise SubmissionError(path, number, f"label {label} is outside {fmt.low}..{fmt.high} "
                                                f"({convention} labels){hint}")
        labels.append(label)
    problem = fmt.count_problem(len(labels))
    if problem:
        raise SubmissionError(path, number, problem)
    return labels


def _fast_rows(block: bytes, newlines: np.ndarray, fmt: _Format) -> np.ndarray | None:
    """``(lines, width)`` labels of a block of whole lines, vectorized; None when the block has
    anything unusual (a byte other than ASCII digits, spaces, tabs and line endings, an empty
    line, a wrong label count, a long number, a label out of range): the line-by-line reader
    then parses it and names the problem."""
    data = np.frombuffer(block, dtype=np.uint8)
    if not _ALLOWED[data].all():
        return None
    digit = _IS_DIGIT[data]
    change = np.diff(digit.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(change == 1), np.flatnonzero(change == -1)
    line_of = np.searchsorted(newlines, starts)  # the line each number is on
    counts = np.bincount(line_of, minlength=len(newlines))
    if counts.min() == 0 or counts.max() > fmt.width or (fmt.exact and counts.max() != fmt.width):
        return None
    lengths = ends - starts
    if lengths.max() > _MAX_FAST_DIGITS:
        return None
    values = np.zeros(len(starts), dtype=np.int64)
    for place in range(int(lengths.max())):  # Horner's rule, one digit of every number at a time
        digit_at = data[np.minimum(starts + place, len(data) - 1)].astype(np.int64) - ord("0")
        values = np.where(lengths > place, values * 10 + digit_at, values)
    if values.min() < fmt.low or values.max() > fmt.high:
        return None
    column = np.arange(len(values)) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = np.full((len(newlines), fmt.width), -1, dtype=np.int64)
    rows[line_of, column] = values
    return rows


def _too_long(path: Path, number: int) -> SubmissionError:
    return SubmissionError(path, number, f"line longer than {MAX_LINE_BYTES:,} bytes; a line "
                                         "holds one to five labels (is this the right file?)")


class _LabelReader:
    """Reads a file of labels block by block: memory stays at one block and the labels read.

    Errors name the file and the 1-based line. A blank line is an error unless every line is
    blank (then the file is empty); ``expected_lines`` stops the reading at the first extra
    line.
    """

    def __init__(self, path: Path, fmt: _Format, expected_lines: int | None,
                 expected_source: str):
        self.path, self.fmt = path, fmt
        self.expected_lines, self.expected_source = expected_lines, expected_source
        self.rows: list[np.ndarray] = []  # blocks of rows, unless the line count is known
        self.labels = 0  # lines with labels so far
        # with a known line count the labels go straight into the result (no second copy)
        self.out = (None if expected_lines is None else
                    np.full((expected_lines, fmt.width), -1, dtype=np.int64))
        self.lines = 0  # lines read so far
        self.blank: int | None = None  # first blank line not yet followed by a label
        self.carry = b""  # the start of a line whose end has not been read yet
        self.duplicates = _Duplicates(path)

    def read(self) -> np.ndarray:
        """``(N, width)`` int64 file labels, -1 padded."""
        with _open_regular(self.path) as stream:
            for offset, block in self._blocks(stream):
                self._block(stream, offset, block)
        if not self.labels:
            raise SubmissionError(self.path, None, "empty file (no labels)")
        if self.blank is not None:
            raise SubmissionError(self.path, self.blank, "empty line (every image needs one to "
                                                         "five labels)")
        if self.expected_lines is not None and self.lines < self.expected_lines:
            raise SubmissionError(self.path, self.lines + 1,
                                  f"missing line: the file ends after {self.lines} lines but "
                                  f"{self.expected_source} has {self.expected_lines} (one per "
                                  "image)")
        return self.out if self.out is not None else np.concatenate(self.rows)

    def _blocks(self, stream: BinaryIO):
        """``(file offset, bytes)`` of whole lines, each ending in a newline (one is added to a
        last line without). Raises for a line longer than :data:`MAX_LINE_BYTES`."""
        offset, first = 0, True
        while True:
            chunk = stream.read(_BLOCK_BYTES)
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk, offset = chunk[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
            first = False
            if not chunk:
                if self.carry:
                    yield offset, self.carry + b"\n"
                return
            data = self.carry + chunk
            cut = data.rfind(b"\n") + 1
            self.carry = data[cut:]
            if cut:
                yield offset, data[:cut]
                offset += cut
            if len(self.carry) > MAX_LINE_BYTES:
                raise _too_long(self.path, self.lines + 1)

    def _block(self, stream: BinaryIO, offset: int, block: bytes) -> None:
        newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n"))
        lengths = np.diff(newlines, prepend=-1) - 1
        if lengths.max() > MAX_LINE_BYTES:
            raise _too_long(self.path, self.lines + 1 + int(np.argmax(lengths > MAX_LINE_BYTES)))
        extra = rest = None
        if self.expected_lines is not None and self.lines + len(newlines) > self.expected_lines:
            keep = self.expected_lines - self.lines
            extra = len(newlines) - keep
            rest = _count_lines(stream, bool(self.carry))
            block = block[: newlines[keep - 1] + 1] if keep else b""
            newlines = newlines[:keep]
        if len(newlines):
            rows = _fast_rows(block, newlines, self.fmt)
            if rows is not None and self.blank is not None:
                raise SubmissionError(self.path, self.blank, "empty line (every image needs one "
                                                             "to five labels)")
            if rows is None:
                rows = self._slow_rows(offset, block)
            if not self.fmt.exact:
                self.duplicates.add(self.lines + 1, rows)
            if self.out is not None:
                self.out[self.labels:self.labels + len(rows)] = rows
            elif len(rows):
                self.rows.append(rows)
            self.labels += len(rows)
            self.lines += len(newlines)
        if extra is not None:
            total = "at least " * (not rest[1]) + f"{self.lines + extra + rest[0]:,}"
            raise SubmissionError(self.path, self.expected_lines + 1,
                                  f"extra line: {self.expected_source} has {self.expected_lines} "
                                  f"lines (one per image) but this file has {total}")

    def _slow_rows(self, offset: int, block: bytes) -> np.ndarray:
        """The block line by line with :func:`_parse_labels`: the reference, and the messages."""
        rows = []
        start = 0
        for number, raw in enumerate(block[:-1].split(b"\n"), start=self.lines + 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = offset + start + exc.start
                raise SubmissionError(self.path, number, f"not text (byte {raw[exc.start]:#04x} "
                                                         f"at offset {at} is not UTF-8)") from exc
            start += len(raw) + 1
            tokens = line.split()
            if not tokens:
                if self.blank is None:
                    self.blank = number
                continue
            if self.blank is not None:
                raise SubmissionError(self.path, self.blank, "empty line (every image needs "
                                                             "one to five labels)")
            row = _parse_labels(self.path, number, tokens, self.fmt)
            rows.append(row + [-1] * (self.fmt.width - len(row)))
        return np.array(rows, dtype=np.int64).reshape(len(rows), self.fmt.width)


_COUNT_LIMIT = 64 << 20  # bytes read to count the lines of a file that is too long anyway


def _count_lines(stream: BinaryIO, started: bool) -> tuple[int, bool]:
    """``(lines, complete)``: the lines left in ``stream`` (a last line without a newline
    counts), read block by block; ``started``: part of the first of them was read already.
    After :data:`_COUNT_LIMIT` bytes it stops: ``lines`` is then a lower bound, ``complete``
    False."""
    count, last, read = 0, b"x" if started else b"\n", 0
    while chunk := stream.read(_BLOCK_BYTES):
        count, last, read = count + chunk.count(b"\n"), chunk[-1:], read + len(chunk)
        if read >= _COUNT_LIMIT:
            return max(count, int(started)), False
    return count + (last != b"\n"), True


class _Duplicates:
    """Lines whose labels repeat: the first :data:`MAX_DUPLICATE_WARNINGS` kept in full, the
    rest counted."""

    def __init__(self, path: Path):
        self.path = path
        self.first: list[tuple[int, list[int]]] = []
        self.more, self.more_first, self.more_last = 0, 0, 0

    def add(self, first_line: int, rows: np.ndarray) -> None:
        width = rows.shape[1]
        repeated = np.zeros(len(rows), dtype=bool)
        for j in range(1, width):  # -1 pads the end of a row: only a label can repeat one
            for i in range(j):
                repeated |= (rows[:, j] == rows[:, i]) & (rows[:, j] >= 0)
        for i in np.flatnonzero(repeated).tolist():
            number = first_line + i
            if len(self.first) < MAX_DUPLICATE_WARNINGS:
                row = [x for x in rows[i].tolist() if x >= 0]
                self.first.append((number, sorted({x for x in row if row.count(x) > 1})))
            else:
                self.more_first = self.more_first or number
                self.more, self.more_last = self.more + 1, number

    def warn(self) -> None:
        shown = printable_name(self.path)
        for number, labels in self.first:
            warnings.warn(f"{shown}, line {number}: label {', '.join(map(str, labels))} appears "
                          "more than once (counted once)", DuplicateLabelWarning, stacklevel=4)
        if self.more:
            warnings.warn(f"{shown}: {self.more} more lines with a repeated label (lines "
                          f"{self.more_first}..{self.more_last})", DuplicateLabelWarning,
                          stacklevel=4)


def _read_labels(path: Path, fmt: _Format, expected_lines: int | None = None,
                 expected_source: str = "the ground truth") -> np.ndarray:
    reader = _LabelReader(path, fmt, expected_lines, expected_source)
    labels = reader.read()
    reader.duplicates.warn()
    return labels


def read_submission(path: str | PathLike, *, num_classes: int = 1000, zero_based: bool = False,
                    devkit_dir=None, expected_lines: int | None = None,
                    expected_source: str = "the ground truth") -> np.ndarray:
    """Read a classification submission: ``(N, 5)`` int64 class indices, best first, padded
    with -1 where a line has fewer labels.

    ``expected_lines``: the number of images (lines of the ground truth, named by
    ``expected_source`` in messages); a shorter or longer file is an error. Raises
    :class:`SubmissionError` (file, line, problem) for a file that is not a regular file
    (a FIFO, a device, a directory), an empty file, an empty line, a line longer than
    :data:`MAX_LINE_BYTES`, a token that is not an integer, a label out of range, more than
    five labels or a wrong line count; warns :class:`DuplicateLabelWarning` for a label
    repeated on a line. The file is read in blocks: memory holds one block and the labels.
    """
    path = Path(path)
    label_convention(zero_based, devkit_dir)  # rejects contradictory options
    fmt = _Format(zero_based, num_classes, MAX_GUESSES, exact=False)
    labels = _read_labels(path, fmt, expected_lines, expected_source)
    valid = labels >= 0
    if devkit_dir is None:  # in place: the labels may fill most of the memory
        if not zero_based:
            np.subtract(labels, 1, out=labels, where=valid)
        return labels
    indices = np.full_like(labels, -1)
    indices[valid] = _labels_to_indices(labels[valid], zero_based, devkit_dir)
    return indices


def read_ground_truth(path: str | PathLike, *, num_classes: int = 1000, zero_based: bool = False,
                      devkit_dir=None) -> np.ndarray:
    """Read a ground-truth file (one label per line): ``(N,)`` int64 class indices. Bad input
    raises :class:`SubmissionError` as for :func:`read_submission`."""
    path = Path(path)
    label_convention(zero_based, devkit_dir)
    labels = _read_labels(path, _Format(zero_based, num_classes, 1, exact=True))[:, 0]
    return _labels_to_indices(labels, zero_based, devkit_dir)


def read_pair(pred_path: str | PathLike, gt_path: str | PathLike, *, num_classes: int = 1000,
              zero_based: bool = False, devkit_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Read a ground truth and a submission checked against it line for line.

    Returns ``(guesses (N, 5) int64 padded with -1, targets (N,) int64)`` as class indices.
    """
    options = dict(num_classes=num_classes, zero_based=zero_based, devkit_dir=devkit_dir)
    _stat_regular(Path(pred_path))  # a FIFO or a missing submission fails before a long read
    targets = read_ground_truth(gt_path, **options)
    guesses = read_submission(pred_path, expected_lines=len(targets),
                              expected_source=f"the ground truth {printable_name(gt_path)}",
                              **options)
    return guesses, targets


def _write_lines(path: Path, rows) -> Path:
    path.write_text("".join(" ".join(map(str, row)) + "\n" for row in rows), encoding="ascii")
    return path


def write_submission(path: str | PathLike, predictions, *, k: int = MAX_GUESSES,
                     num_classes: int = 1000, zero_based: bool = False,
                     devkit_dir=None) -> Path:
    """Write a submission file that :func:`read_submission` reads back unchanged.

    ``predictions``: ``(N, C)`` scores (the top ``k`` classes are written, ``torch.topk``),
    ``(N, G)`` integer guesses best first (-1 = none, skipped; only the first ``k`` columns are
    written) or ``(N,)`` labels, all as class-table indices; ``k`` ≤ 5. Written as 1-based
    labels unless ``zero_based``; with ``devkit_dir``, as ILSVRC2012_IDs.
    """
    path = Path(path)
    label_convention(zero_based, devkit_dir)
    if not 1 <= k <= MAX_GUESSES:
        raise CourseValueError(f"k = {k}: a submission line holds 1 to {MAX_GUESSES} labels")
    guesses = top_guesses(predictions, k)
    if len(guesses) == 0:
        raise CourseValueError("no images: a submission has one line per image")
    if guesses.max(initial=-1) >= num_classes:
        i = int(np.argmax(guesses.max(axis=1)))
        raise CourseValueError(f"row {i}: class index {guesses[i].max()} >= num_classes {num_classes}")
    valid = guesses >= 0
    if not valid.any(axis=1).all():
        i = int(np.argmin(valid.any(axis=1)))
        raise CourseValueError(f"row {i} has no guess; every line needs one to five labels")
    labels = np.full_like(guesses, -1)
    labels[valid] = _indices_to_labels(guesses[valid], zero_based, devkit_dir)
    return _write_lines(path, ([x for x in row if x >= 0] for row in labels.tolist()))


def write_ground_truth(path: str | PathLike, targets, *, num_classes: int = 1000,
                       zero_based: bool = False, devkit_dir=None) -> Path:
    """Write ``targets`` ``(N,)`` class indices as a ground-truth file, one label per line."""
    path = Path(path)
    label_convention(zero_based, devkit_dir)
    targets = np.asarray(targets)
    if targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer) or not len(targets):
        raise CourseValueError(f"targets must be (N,) integer indices with N > 0, got {targets.dtype} "
                         f"{targets.shape}")
    bad = (targets < 0) | (targets >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise CourseValueError(f"targets[{i}] = {targets[i]} is outside 0..{num_classes - 1}")
    labels = _indices_to_labels(targets.astype(np.int64), zero_based, devkit_dir)
    return _write_lines(path, ([x] for x in labels.tolist()))
