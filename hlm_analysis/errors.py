"""Whose fault it is decides the exit status (DESIGN.md §5.12).

- `InputError`, exit 2: the user's config, data or command line is wrong and they can fix it.
- `ToolError`, exit 3: a tool we drive (pandoc, Typst, Quarto, git, the Jupyter kernel, the SMTP
  setup) failed; the message names the tool.
- anything else is a bug in hlm-report: exit 1, the traceback goes to an error.log.
Each message is one line: the CLI prints it as it is.
"""


class InputError(Exception):
    """Bad input the user can fix: a missing file, an unknown key, an unusable column."""


class ToolError(Exception):
    """An external tool failed or is missing; the message starts with the tool's name."""
