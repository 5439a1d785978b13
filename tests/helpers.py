"""Small shared helpers for tests."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

from click.testing import Result

from inference_tracker.clock import Clock
from inference_tracker.logs import EventLog


def quiet_log(level: str = "debug") -> tuple[EventLog, io.StringIO]:
    stream = io.StringIO()
    return EventLog(stream, level, as_json=True), stream


def run_cli(*args: str) -> Result:
    """The real CLI in-process; stdout and stderr apart, as cron sees them (no TTY)."""
    from typer.testing import CliRunner

    from inference_tracker.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


class ShiftedClock:
    """Real time plus an offset that a retry pause adds to instead of waiting: the pause
    "happens" (the clocks move past it) without the test spending it."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.offset += seconds

    def clock(self) -> Clock:
        return Clock(
            monotonic=lambda: time.monotonic() + self.offset,
            wall=lambda: datetime.now(UTC) + timedelta(seconds=self.offset),
            sleep=self.sleep,
        )
