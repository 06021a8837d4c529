"""Print the environment report: versions, device, precision, profile, data directory.

Paste its output (or ``--json``) into any bug report.
"""

from __future__ import annotations

import json
import sys

NAME = "doctor"
HELP = "check the environment: versions, device, profile, datasets"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from ..device import DeviceError, environment_report, format_report
    from ..profiles import UnknownProfileError

    try:
        report = environment_report()
    except (UnknownProfileError, DeviceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
