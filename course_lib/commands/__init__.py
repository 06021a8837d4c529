"""The subcommands of ``python -m course_lib``.

A command is a module here with:

* ``NAME`` (the word typed after ``python -m course_lib``) and ``HELP`` (one line);
* a module docstring, shown by ``python -m course_lib NAME --help``;
* ``add_arguments(parser)`` that declares its options;
* ``run(args) -> int`` that does the work and returns the exit status.

List the module in :data:`COMMANDS` and in ``course_lib.__main__``'s imports to make it appear
(a test checks that the two agree).
"""

COMMANDS: tuple[str, ...] = ("doctor", "bench", "score", "fetch", "prepare", "train")
