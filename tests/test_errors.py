"""The one error table: which failures are known and the exit code of each."""

from __future__ import annotations

import pytest

from inference_tracker.errors import (
    ConfigError,
    ListingError,
    LockBusy,
    PushError,
    StoreError,
    exit_code_for,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad setting"), 2),
        (StoreError("cannot write"), 1),
        (LockBusy("held"), 1),
        (ListingError("HTTP 500"), 1),
        (PushError("Hub refused"), 1),
        (RuntimeError("a bug"), None),
        (KeyError("a bug"), None),
    ],
)
def test_exit_code_for(error: Exception, code: int | None) -> None:
    assert exit_code_for(error) == code
