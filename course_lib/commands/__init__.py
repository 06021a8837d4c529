"""The subcommands of ``python -m course_lib``.

A command is a module here with:

* ``NAME`` (the word typed after ``python -m course_lib``) and ``HELP`` (one line);
* a module docstring, shown by ``python -m course_lib NAME --help``;
* ``add_arguments(parser)`` that declares its options (keep imports at module level light:
  ``--help`` imports every command);
* ``run(args) -> int`` that does the work and returns the exit status.

List the module in :data:`COMMANDS` to make it appear.
"""

COMMANDS: tuple[str, ...] = ("doctor", "bench", "score", "fetch", "prepare", "train")
