"""The failures a user can meet, each with a one-line message, and the exit code of each.

No dependencies, so the CLI's error boundary can name them without importing pydantic,
requests or huggingface_hub (as huggingface_hub's CLI keeps its error table in one place).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # an operational failure: the listing, the disk, the Hub
EXIT_CONFIG = 2  # a setting or a file the user controls
EXIT_PARTIAL = 3  # collect stored its rows but the chained push failed
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class ConfigError(Exception):
    """A setting or a file the user controls is wrong."""

    event = "config_error"  # the log event that reports it under cron


class StoreError(Exception):
    """A local file could not be read or written; the message names the path."""

    event = "store_failed"


class LockBusy(StoreError):
    """Another tracker run held the lock for longer than we would wait."""


class PushNotRecorded(StoreError):
    """The push landed in the dataset, but this machine could not record it (the message
    says so first: the rows are not "kept for the next push", they are there)."""

    event = "push_not_recorded"


class ListingError(Exception):
    """The model listing could not be had or read; the cycle is skipped. `transient`: a 5xx
    or a network error, which the next try may not meet."""

    event = "listing_failed"

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class PushError(Exception):
    """The push failed; every row is still on disk."""

    event = "push_failed"


ROWS_KEPT = "push failed; the rows are kept for the next push"  # what a failed push says first


# Most specific first: the boundary takes the first entry the error is an instance of.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, EXIT_CONFIG),
    (StoreError, EXIT_FAILED),
    (ListingError, EXIT_FAILED),
    (PushError, EXIT_FAILED),
)


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of a known failure; None for anything else (a bug)."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return None
