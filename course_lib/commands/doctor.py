"""Print the environment report: versions, device, precision, profile, data directory.

Paste its output (or ``--json``) into any bug report.
"""

from __future__ import annotations

import json
import sys

from ..device import environment_report, format_report
from ..errors import CourseError, one_line

NAME = "doctor"
HELP = "check the environment: versions, device, profile, datasets"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    try:
        report = environment_report()
    except CourseError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
