"""``python -m course_lib <command>``: the course's command line.

Each command lives in its own module under :mod:`course_lib.commands` and is listed in
``course_lib.commands.COMMANDS``; see that package for how to add one.
"""

from __future__ import annotations

import argparse
import sys

from .commands import COMMANDS, bench, doctor, fetch, prepare, score, train
from .errors import CourseError, one_line

# every command module, by the name COMMANDS lists it under
MODULES = {module.__name__.rsplit(".", 1)[1]: module
           for module in (doctor, bench, score, fetch, prepare, train)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib",
        description="The ImageNet → AlexNet course: environment checks, data, training, scoring.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMANDS:
        module = MODULES[module_name]
        command = sub.add_parser(
            module.NAME, help=module.HELP, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error of the course's family (:mod:`course_lib.errors`) that the
    command did not report itself becomes one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except CourseError as exc:
        print(f"error: {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
