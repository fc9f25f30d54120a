"""Expected failures: reported as one line on stderr, without a traceback."""


class ExperimentError(Exception):
    """A run cannot proceed for a reason the user can fix (missing data, missing dependency)."""
