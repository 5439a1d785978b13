from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

from inference_tracker.logs import EventLog, route_library_logs
from inference_tracker.record import Scrubber

SECRET = "hf_" + "L0g" * 11
NOW = datetime(2026, 11, 27, 10, 0, 0, 5000, tzinfo=UTC)


def test_json_lines_with_ts_level_event_and_fields() -> None:
    out = io.StringIO()
    EventLog(out, "info", as_json=True, now=lambda: NOW).info("cycle_finished", rows=3, ids=["a"])
    assert json.loads(out.getvalue()) == {
        "ts": "2026-11-27T10:00:00.005Z", "level": "info", "event": "cycle_finished", "rows": 3, "ids": ["a"],
    }  # fmt: skip


def test_level_threshold() -> None:
    out = io.StringIO()
    log = EventLog(out, "warning", as_json=True)
    log.debug("a")
    log.info("b")
    log.warning("c")
    log.error("d")
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["c", "d"]


def test_text_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    EventLog(out, "info", now=lambda: NOW).warning("call_failed", provider="groq", status=500)
    assert (
        out.getvalue() == "2026-11-27T10:00:00.005Z WARNING call_failed provider=groq status=500\n"
    )


def test_every_line_is_scrubbed() -> None:
    out = io.StringIO()
    log = EventLog(out, "debug", as_json=True, scrub=Scrubber([SECRET]))
    log.error("boom", error=f"Authorization: Bearer {SECRET}", other="hf_" + "x" * 40)
    assert SECRET not in out.getvalue()
    assert out.getvalue().count("[REDACTED]") == 2


def test_library_logs_are_quiet_unless_debug_and_scrubbed() -> None:
    out = io.StringIO()
    log = EventLog(out, "info", as_json=True, scrub=Scrubber([SECRET]))
    route_library_logs(log, "info")
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection")
    assert out.getvalue() == ""
    route_library_logs(log, "debug")
    log2 = EventLog(out, "debug", as_json=True, scrub=Scrubber([SECRET]))
    route_library_logs(log2, "debug")
    logging.getLogger("urllib3.connectionpool").debug("header: Bearer %s", SECRET)
    line = json.loads(out.getvalue())
    assert line["event"] == "library" and line["logger"] == "urllib3.connectionpool"
    assert SECRET not in out.getvalue()
    route_library_logs(EventLog(io.StringIO(), "info"), "info")


def test_a_broken_stderr_does_not_raise() -> None:
    out = io.StringIO()
    out.close()
    EventLog(out, "info", as_json=True).info("x")
