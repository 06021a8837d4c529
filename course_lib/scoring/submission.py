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
names the file, the 1-based line number and the problem. A label repeated on one line is
allowed but suspicious: it raises a :class:`DuplicateLabelWarning`.
"""

from __future__ import annotations

import importlib
import re
import warnings
from os import PathLike
from pathlib import Path

import numpy as np

from .metrics import MAX_GUESSES, top_guesses

_INTEGER = re.compile(r"[+-]?[0-9]+")
MAX_DUPLICATE_WARNINGS = 10
"""Lines warned about individually; further duplicate lines are summed up in one warning."""


class SubmissionError(ValueError):
    """A submission or ground-truth file that cannot be scored; says file, line and problem."""

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


class DuplicateLabelWarning(UserWarning):
    """The same label appears more than once on a line of a submission."""


def label_convention(zero_based: bool = False, devkit_dir=None) -> str:
    """One sentence saying what the labels in a file mean under these options."""
    if zero_based and devkit_dir is not None:
        raise ValueError("devkit ILSVRC2012_IDs are 1-based: do not combine zero_based with a "
                         "devkit directory")
    if devkit_dir is not None:
        return (f"1-based ILSVRC2012_IDs, mapped to class-table indices with the devkit in "
                f"{devkit_dir}")
    if zero_based:
        return "0-based: label i is index i of the course class table (sorted wnids)"
    return ("1-based: label L is index L-1 of the course class table (sorted wnids), "
            "not the official ILSVRC2012_ID (give a devkit for those)")


def _classes():
    return importlib.import_module("course_lib.classes")


def _labels_to_indices(labels: np.ndarray, zero_based: bool, devkit_dir) -> np.ndarray:
    """Valid file labels (any shape, already range-checked) → class-table indices."""
    if devkit_dir is not None:
        flat = _classes().devkit_ids_to_indices(labels.ravel(), devkit_dir)
        return np.asarray(flat, dtype=np.int64).reshape(labels.shape)
    return labels if zero_based else labels - 1


def _indices_to_labels(indices: np.ndarray, zero_based: bool, devkit_dir) -> np.ndarray:
    if devkit_dir is not None:
        flat = _classes().indices_to_devkit_ids(indices.ravel(), devkit_dir)
        return np.asarray(flat, dtype=np.int64).reshape(indices.shape)
    return indices if zero_based else indices + 1


def _read_lines(path: Path) -> list[str]:
    """The file's lines (without line endings); a final newline does not start a new line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SubmissionError(path, None, f"cannot read the file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubmissionError(path, line, f"not text (byte {data[exc.start]:#04x} at offset "
                                          f"{exc.start} is not UTF-8)") from exc
    if not text.strip():
        raise SubmissionError(path, None, "empty file (no labels)")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _parse_labels(path: Path, number: int, line: str, zero_based: bool,
                  num_classes: int) -> list[int]:
    tokens = line.split()
    if not tokens:
        raise SubmissionError(path, number, "empty line (every image needs one to five labels)")
    low, high = (0, num_classes - 1) if zero_based else (1, num_classes)
    labels = []
    for token in tokens:
        if not _INTEGER.fullmatch(token):
            shown = token if len(token) <= 30 else token[:27] + "..."
            raise SubmissionError(path, number, f"{shown!r} is not an integer label")
        label = int(token)
        if not low <= label <= high:
            hint = ""
            if not zero_based and label == 0:
                hint = "; 0-based file? use zero_based=True (--zero-based)"
            elif zero_based and label == num_classes:
                hint = "; 1-based file? drop zero_based (--zero-based)"
            convention = "0-based" if zero_based else "1-based"
            raise SubmissionError(path, number, f"label {label} is outside {low}..{high} "
                                                f"({convention} labels){hint}")
        labels.append(label)
    return labels


def read_submission(path: str | PathLike, *, num_classes: int = 1000, zero_based: bool = False,
                    devkit_dir=None, expected_lines: int | None = None,
                    expected_source: str = "the ground truth",
                    max_guesses: int = MAX_GUESSES) -> np.ndarray:
    """Read a classification submission: ``(N, max_guesses)`` int64 class indices, best first,
    padded with -1 where a line has fewer labels.

    ``expected_lines``: the number of images (lines of the ground truth, named by
    ``expected_source`` in messages); a shorter or longer file is an error. Raises
    :class:`SubmissionError` (file, line, problem) for an empty file, an empty line, a token
    that is not an integer, a label out of range, more than ``max_guesses`` labels or a wrong
    line count; warns :class:`DuplicateLabelWarning` for a label repeated on a line.
    """
    path = Path(path)
    label_convention(zero_based, devkit_dir)  # rejects contradictory options
    lines = _read_lines(path)
    if expected_lines is not None and len(lines) > expected_lines:
        raise SubmissionError(path, expected_lines + 1,
                              f"extra line: {expected_source} has {expected_lines} lines "
                              f"(one per image) but this file has {len(lines)}")
    labels = np.full((len(lines), max_guesses), -1, dtype=np.int64)
    duplicates = []
    for number, line in enumerate(lines, start=1):
        row = _parse_labels(path, number, line, zero_based, num_classes)
        if len(row) > max_guesses:
            raise SubmissionError(path, number, f"{len(row)} labels; at most {max_guesses} "
                                                "per line")
        if len(set(row)) < len(row):
            duplicates.append((number, sorted({x for x in row if row.count(x) > 1})))
        labels[number - 1, : len(row)] = row
    if expected_lines is not None and len(lines) < expected_lines:
        raise SubmissionError(path, len(lines) + 1,
                              f"missing line: the file ends after {len(lines)} lines but "
                              f"{expected_source} has {expected_lines} (one per image)")
    _warn_duplicates(path, duplicates)
    valid = labels >= 0
    indices = np.full_like(labels, -1)
    indices[valid] = _labels_to_indices(labels[valid], zero_based, devkit_dir)
    return indices


def _warn_duplicates(path: Path, duplicates: list[tuple[int, list[int]]]) -> None:
    for number, repeated in duplicates[:MAX_DUPLICATE_WARNINGS]:
        warnings.warn(f"{path}, line {number}: label {', '.join(map(str, repeated))} appears "
                      "more than once (counted once)", DuplicateLabelWarning, stacklevel=3)
    if len(duplicates) > MAX_DUPLICATE_WARNINGS:
        rest = duplicates[MAX_DUPLICATE_WARNINGS:]
        warnings.warn(f"{path}: {len(rest)} more lines with a repeated label (lines "
                      f"{rest[0][0]}..{rest[-1][0]})", DuplicateLabelWarning, stacklevel=3)


def read_ground_truth(path: str | PathLike, *, num_classes: int = 1000, zero_based: bool = False,
                      devkit_dir=None) -> np.ndarray:
    """Read a ground-truth file (one label per line): ``(N,)`` int64 class indices."""
    path = Path(path)
    label_convention(zero_based, devkit_dir)
    lines = _read_lines(path)
    labels = np.empty(len(lines), dtype=np.int64)
    for number, line in enumerate(lines, start=1):
        row = _parse_labels(path, number, line, zero_based, num_classes)
        if len(row) != 1:
            raise SubmissionError(path, number, f"{len(row)} labels; the ground truth has "
                                                "exactly one per line")
        labels[number - 1] = row[0]
    return _labels_to_indices(labels, zero_based, devkit_dir)


def read_pair(pred_path: str | PathLike, gt_path: str | PathLike, *, num_classes: int = 1000,
              zero_based: bool = False, devkit_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Read a ground truth and a submission checked against it line for line.

    Returns ``(guesses (N, 5) int64 padded with -1, targets (N,) int64)`` as class indices.
    """
    options = dict(num_classes=num_classes, zero_based=zero_based, devkit_dir=devkit_dir)
    targets = read_ground_truth(gt_path, **options)
    guesses = read_submission(pred_path, expected_lines=len(targets),
                              expected_source=f"the ground truth {gt_path}", **options)
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
    written) or ``(N,)`` labels, all as class-table indices; ``k`` ≤ 5. Written as 1-based labels unless ``zero_based``; with
    ``devkit_dir``, as ILSVRC2012_IDs.
    """
    path = Path(path)
    label_convention(zero_based, devkit_dir)
    if not 1 <= k <= MAX_GUESSES:
        raise ValueError(f"k = {k}: a submission line holds 1 to {MAX_GUESSES} labels")
    guesses = top_guesses(predictions, k)
    if len(guesses) == 0:
        raise ValueError("no images: a submission has one line per image")
    if guesses.max(initial=-1) >= num_classes:
        i = int(np.argmax(guesses.max(axis=1)))
        raise ValueError(f"row {i}: class index {guesses[i].max()} >= num_classes {num_classes}")
    valid = guesses >= 0
    if not valid.any(axis=1).all():
        i = int(np.argmin(valid.any(axis=1)))
        raise ValueError(f"row {i} has no guess; every line needs one to five labels")
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
        raise ValueError(f"targets must be (N,) integer indices with N > 0, got {targets.dtype} "
                         f"{targets.shape}")
    bad = (targets < 0) | (targets >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"targets[{i}] = {targets[i]} is outside 0..{num_classes - 1}")
    labels = _indices_to_labels(targets.astype(np.int64), zero_based, devkit_dir)
    return _write_lines(path, ([x] for x in labels.tolist()))
