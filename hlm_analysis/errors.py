"""Whose fault it is decides the exit status (DESIGN.md §5.12).

- `InputError`, exit 2: the user's config, data or command line is wrong and they can fix it.
- `ToolError`, exit 3: a tool we drive (pandoc, Typst, Quarto, git, the Jupyter kernel, the SMTP
  setup) failed; the message names the tool.
- anything else is a bug in hlm-report: exit 1, the traceback goes to an error.log.
Each message is one line (several problems found at once: a count, then one line each; see
`problems_error`): the CLI prints it as it is.
"""


class InputError(Exception):
    """Bad input the user can fix: a missing file, an unknown key, an unusable column."""


class ToolError(Exception):
    """An external tool failed or is missing; the message starts with the tool's name."""


def problems_error(where: str, problems: list[str]) -> InputError:
    """Every problem one check found, at once: a single one as the usual one line; several as a
    first line with their count and then one line each, so that one run shows them all."""
    problems = list(dict.fromkeys(problems))  # one cause reached by two checks is said once
    if len(problems) == 1:
        return InputError(f"{where}: {problems[0]}")
    lines = [f"{len(problems)} problems in {where}:", *(f"  {where}: {p}" for p in problems)]
    return InputError("\n".join(lines))
