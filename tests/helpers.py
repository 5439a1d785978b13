"""Small shared helpers for tests."""

from __future__ import annotations

import io

from click.testing import Result

from inference_tracker.logs import EventLog


def quiet_log(level: str = "debug") -> tuple[EventLog, io.StringIO]:
    stream = io.StringIO()
    return EventLog(stream, level, as_json=True), stream


def run_cli(*args: str) -> Result:
    """The real CLI in-process; stdout and stderr apart, as cron sees them (no TTY)."""
    from typer.testing import CliRunner

    from inference_tracker.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)
