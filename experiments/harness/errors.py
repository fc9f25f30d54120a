"""Expected failures: reported as one line on stderr, without a traceback."""


class ExperimentError(Exception):
    """A run cannot proceed for a reason the user can fix (missing data, missing dependency)."""


class MissingExtraError(ExperimentError):
    """An optional dependency is not installed: one line naming the extra to install; the program
    exits 2 (a setup problem, as a bad parameter, not a failed run)."""

    exit_code = 2

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed; install the {extra!r} extra: "
                         f"pip install -e '.[{extra}]' (make install does)")
