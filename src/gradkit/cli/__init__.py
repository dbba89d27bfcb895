"""The `gradkit` command: thin — it parses, calls the packages, prints.

`_app` holds the command group, the one-line errors and their exit codes (0 done, 2 bad input
or usage, 3 training diverged, 130 interrupted, 141 stdout closed, 1 a bug); `_run` the commands
that train and use a model, `_recipe` search and doctor. Importing the two registers their
commands on the group.
"""

from gradkit.cli import _recipe, _run  # noqa: F401  (register the commands)
from gradkit.cli._app import (EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED,
                              EXIT_STDOUT_CLOSED, cli, main)

__all__ = ["EXIT_BAD_INPUT", "EXIT_DIVERGED", "EXIT_INTERRUPTED", "EXIT_STDOUT_CLOSED", "cli",
           "main"]
