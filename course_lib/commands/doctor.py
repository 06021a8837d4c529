"""Print the environment report: versions, device, precision, profile, data directory.

Paste its output (or ``--json``) into any bug report.
"""

from __future__ import annotations

import json

from ..device import environment_report, format_report

NAME = "doctor"
HELP = "check the environment: versions, device, profile, datasets"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    report = environment_report()  # an unknown COURSE_PROFILE: one line from __main__
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
