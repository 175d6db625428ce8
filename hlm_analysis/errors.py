"""The one exception type that means "the user's input is wrong".

The CLI turns it into exit status 2 and a single line on stderr; anything else is a bug and
keeps its traceback.
"""


class InputError(Exception):
    """Bad input the user can fix: a missing file, an unknown key, an unusable column."""
