"""The one error a user reads.

Every failure the `jazari` command reports is a `JazariError` whose message is
already translated and says what went wrong and what to do. Library code
raises it; only `cli.main` prints it and picks the exit code.
"""


class JazariError(Exception):
    """A failure explained in the user's language, printed as one line."""

    exit_code = 1

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message
