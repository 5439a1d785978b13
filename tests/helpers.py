"""Small shared helpers for tests."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import Result

from inference_tracker.clock import Clock
from inference_tracker.logs import EventLog

if TYPE_CHECKING:
    import pytest

    from tests.fakes.router import FakeRouter


def quiet_log(level: str = "debug") -> tuple[EventLog, io.StringIO]:
    stream = io.StringIO()
    return EventLog(stream, level, as_json=True), stream


def use_router(monkeypatch: pytest.MonkeyPatch, router: FakeRouter, token: str) -> None:
    """Point the tracker's listing and router at the fake, with `token` as HF_TOKEN."""
    monkeypatch.setenv("MODELS_API_URL", router.listing_url)
    monkeypatch.setenv("ROUTER_BASE_URL", router.url)
    monkeypatch.setenv("HF_TOKEN", token)


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


def error_lines(stderr: str) -> list[str]:
    """The failures a run reported: the `error` of each JSON line at level error (cron), or
    the text of each `Error: ...` line (a terminal)."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("Error: "):
            found.append(line.removeprefix("Error: "))
        elif line.startswith("{"):
            event = json.loads(line)
            if event.get("level") == "error":
                found.append(str(event.get("error", event.get("event"))))
    return found


def error_of(result: Result) -> str:
    """The one failure a run reported (see error_lines)."""
    found = error_lines(result.stderr)
    assert len(found) == 1, result.stderr
    return found[0]


def run_on_terminal(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> tuple[int, str]:
    """The real program in a subprocess whose stdout and stderr are a terminal (a pty), as a
    person at a shell sees it; returns the exit code and everything written."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inference_tracker", *args],
            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=cwd,
        )  # fmt: skip
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(timeout=timeout)
    finally:
        os.close(leader)
    return code, out.decode(errors="replace").replace("\r\n", "\n")
