"""Exceptions of the forest package. Messages say what to change."""


class ForestError(Exception):
    """Base class for errors a user can act on (unknown dataset, bad tree shape)."""


class ForestFormatError(ForestError):
    """A saved forest is unreadable: a missing, truncated, corrupted or mismatched file, or
    another schema version. The message names the file and what is wrong with it."""
