"""User-facing errors: one line that names the file and the problem."""


class ObjPropError(Exception):
    """An error a user can fix (bad input file, missing data, wrong flag).

    The message is one line, normally ``"<path>: <problem> (<item>)"``; the CLI prints it
    without a traceback and exits with status 2.
    """

    def __init__(self, message, path=None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
