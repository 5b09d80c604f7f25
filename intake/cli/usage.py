"""The error a command line gets when it cannot be carried out."""


class UsageError(Exception):
    """A command line that cannot be carried out; the message says why."""
