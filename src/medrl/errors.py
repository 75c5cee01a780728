"""The one exception type users see: a message naming the file/row at fault and the fix."""


class MedrlError(Exception):
    """A problem with the user's input or settings; the CLI prints it without a traceback."""


class EmptyResult(MedrlError):
    """A run that finished but produced nothing usable (a build split with 0 rows): exit status 1, not 2."""

    exit_code = 1
