"""The one exception type users see: a message naming the file/row at fault and the fix."""


class MedrlError(Exception):
    """A problem with the user's input or settings; the CLI prints it without a traceback."""
