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


def format_report(report: dict) -> str:
    """The report as a two-column table."""
    width = max(len(key) for key in report)
    lines = []
    for key, value in report.items():
        if isinstance(value, list):
            value = ", ".join(value) if value else "(none yet)"
        elif value is None:
            value = "-"
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


def run(args) -> int:
    from ..device import DeviceError, environment_report
    from ..profiles import UnknownProfileError

    try:
        report = environment_report()
    except (UnknownProfileError, DeviceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
