"""Score an ILSVRC classification submission against a ground-truth file.

Files follow the ILSVRC devkit: the submission has one line per image, in file-name order,
with one to five labels separated by spaces, best first; the ground truth has one label per
line. Prints the top-1 and top-5 error with 95% Wilson intervals and the error for 1 to 5
guesses, as the devkit's demo does; --hierarchical adds the ILSVRC 2010-2011 hierarchical cost
(height of the lowest common ancestor of guess and truth in the course's WordNet hierarchy,
raw as in the 2010 devkit and divided by the maximum height as on the 2011 page; the devkit
measured heights in the full ImageNet hierarchy, so compare these only with each other).

What the labels mean:
  default       1-based: label L is index L-1 of the course's class table (the 1000 wnids in
                sorted order; 1 = n01440764 tench). This is NOT the official ILSVRC2012_ID,
                whose mapping ships only with the official devkit.
  --devkit DIR  1-based ILSVRC2012_IDs as in the official devkit, mapped to classes with
                DIR/data/meta.mat.
  --zero-based  0-based: label i is index i of the course's class table.
Flat errors never depend on which classes the labels name; the hierarchical cost does.

Bad input (a label out of range, a token that is not an integer, more than five labels, an
empty line, a line count different from the ground truth, an empty file, a line longer than
4,096 bytes, something other than a regular file such as a FIFO, a device or a directory) exits
with status 2 and the file, line and problem on stderr; nothing is printed on stdout. The files
are read in blocks, so memory holds the labels, not the text. File names are printed escaped
(Python repr) when they hold control characters such as newlines or terminal escapes.
"""

from __future__ import annotations

import json
import sys
import warnings

from ..classes import load_class_table
from ..errors import CourseError
from ..hierarchy import load_imagenet_hierarchy
from ..scoring import (
    hierarchical_cost,
    label_convention,
    lca_matrix_in_order,
    per_image_topk_error,
    printable_name,
    read_pair,
    wilson_interval,
)

HIERARCHY_NOTE = ("heights are measured in the course's WordNet 3.0 DAG above the 1000 classes "
                  "(course_lib.hierarchy); the 2010 devkit's cost matrix used the full ImageNet "
                  "hierarchy, so the numbers are not comparable with published ones")

NAME = "score"
HELP = "score an ILSVRC submission file: top-1/top-5 error, intervals, hierarchical cost"


def add_arguments(parser) -> None:
    parser.add_argument("--pred", required=True, metavar="FILE",
                        help="submission: one line per image, 1-5 labels, best first")
    parser.add_argument("--gt", required=True, metavar="FILE",
                        help="ground truth: one label per line")
    parser.add_argument("--zero-based", action="store_true",
                        help="labels are 0-based class-table indices (default: 1-based, L = "
                             "index L-1 of the class table, or devkit IDs with --devkit)")
    parser.add_argument("--devkit", metavar="DIR", default=None,
                        help="official ILSVRC2012 devkit folder: read labels as its "
                             "ILSVRC2012_IDs (data/meta.mat)")
    parser.add_argument("--hierarchical", action="store_true",
                        help="also report the hierarchical cost (ILSVRC 2010-2011)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def load_lca_matrix():
    """``((1000, 1000) LCA heights in class-table order, max height)`` for the ImageNet classes."""
    hierarchy = load_imagenet_hierarchy()
    return lca_matrix_in_order(hierarchy, load_class_table()["wnid"]), hierarchy.max_height


def compute(args) -> dict:
    """The results as a dict (the ``--json`` output). Raises on bad input."""
    convention = label_convention(args.zero_based, args.devkit)
    guesses, targets = read_pair(args.pred, args.gt, zero_based=args.zero_based,
                                 devkit_dir=args.devkit)
    n = len(targets)
    result = {"pred": str(args.pred), "gt": str(args.gt), "n_images": n,
              "label_convention": convention, "zero_based": args.zero_based,
              "devkit": args.devkit}
    by_guesses = []
    for k in range(1, guesses.shape[1] + 1):
        errors = int(per_image_topk_error(guesses, targets, k).sum())
        by_guesses.append(errors / n)
        if k in (1, 5):
            result[f"top{k}_error"] = errors / n
            result[f"top{k}_error_ci95"] = list(wilson_interval(errors, n, 0.95))
    result["error_by_guesses"] = by_guesses
    result["ci_method"] = "Wilson score interval, 95%"
    if args.hierarchical:
        matrix, max_height = load_lca_matrix()
        raw = hierarchical_cost(guesses, targets, matrix, max_height=max_height)
        normalized = hierarchical_cost(guesses, targets, matrix, normalize=True,
                                       max_height=max_height)
        result.update(hierarchical_cost=raw.mean, hierarchical_cost_form=raw.form,
                      hierarchical_cost_normalized=normalized.mean,
                      hierarchical_cost_normalized_form=normalized.form,
                      hierarchical_max_height=max_height, hierarchical_note=HIERARCHY_NOTE)
    return result


def format_table(result: dict) -> str:
    """The results as a small text table (file names escaped by ``printable_name``)."""
    lines = [f"{printable_name(result['pred'])} against {printable_name(result['gt'])}: "
             f"{result['n_images']:,} images", f"labels: {result['label_convention']}", ""]
    rows = [("metric", "value", "95% CI (Wilson)")]
    for k in (1, 5):
        if f"top{k}_error" in result:
            lo, hi = result[f"top{k}_error_ci95"]
            rows.append((f"top-{k} error", f"{result[f'top{k}_error']:.4f}",
                         f"[{lo:.4f}, {hi:.4f}]"))
    if "hierarchical_cost" in result:
        rows.append(("hierarchical cost, raw", f"{result['hierarchical_cost']:.4f}", ""))
        rows.append((f"hierarchical cost / {result['hierarchical_max_height']}",
                     f"{result['hierarchical_cost_normalized']:.4f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    table.insert(1, "  ".join("-" * w for w in widths))
    lines += table
    lines.append("")
    lines.append("error by number of guesses: " + "  ".join(
        f"{k}: {e:.4f}" for k, e in enumerate(result["error_by_guesses"], start=1)))
    if "hierarchical_cost" in result:
        lines.append(f"hierarchical cost, {result['hierarchical_cost_form']}")
        lines.append(f"hierarchical cost / {result['hierarchical_max_height']}, "
                     f"{result['hierarchical_cost_normalized_form']}")
        lines.append(f"note: {result['hierarchical_note']}")
    return "\n".join(lines)


def _printable(message: str) -> str:
    """``message`` with any character that is not printable escaped (``\\n``, ``\\x1b``...):
    a last guard for text from elsewhere (an OS error naming a file, a devkit reader)."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def run(args) -> int:
    result = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = compute(args)
        except (CourseError, OSError) as exc:
            error = exc
    for w in caught:
        print(f"warning: {_printable(str(w.message))}", file=sys.stderr)
    if error is not None:
        print(f"error: {_printable(str(error))}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
