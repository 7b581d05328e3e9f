"""Exceptions of the forest package. Messages say what to change."""


class ForestError(Exception):
    """Base class for errors a user can act on (unknown dataset, bad tree shape)."""
