"""Event logging: JSON lines on stderr (readable text on a TTY), every line scrubbed."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from inference_tracker.record import iso_ms

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_LIBRARIES = ("urllib3", "requests", "huggingface_hub", "httpx", "httpx2", "filelock")


class EventLog:
    """One object per line: ts, level, event, then the fields. Thread-safe."""

    def __init__(
        self,
        stream: IO[str],
        level: str = "info",
        *,
        scrub: Callable[[str], str] = lambda text: text,
        as_json: bool | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._stream = stream
        self._threshold = LEVELS[level]
        self._scrub = scrub
        self._json = not is_terminal(stream) if as_json is None else as_json
        self._now = now
        self._lock = threading.Lock()

    def debug(self, event: str, **fields: Any) -> None:
        self.emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self.emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self.emit("error", event, fields)

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self._threshold

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if not self.enabled(level):
            return
        ts = iso_ms(self._now())
        if self._json:
            line = json.dumps({"ts": ts, "level": level, "event": event, **fields}, default=str)
        else:
            extra = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
            line = f"{ts} {level.upper():7} {event} {extra}".rstrip()
        line = self._scrub(line)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stderr must not stop the measurement


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Forward(logging.Handler):
    """Sends library log records through the EventLog, so they are scrubbed too."""

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        level = "debug" if record.levelno < 20 else logging.getLevelName(record.levelno).lower()
        level = level if level in LEVELS else "error"
        self._log.emit(level, "library", {"logger": record.name, "message": record.getMessage()})


def route_library_logs(log: EventLog, level: str) -> None:
    """Libraries speak only at warning and above, unless the user asked for debug; Python
    warnings (huggingface_hub warns about the card's metadata with `warnings.warn`) go the
    same way, so under cron they are JSON lines too, not plain text."""
    handler = _Forward(log)
    logging.captureWarnings(True)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    for name in _LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def adopt_library_handlers() -> None:
    """Libraries that install their own stderr handler on import (huggingface_hub does) speak
    through ours instead, so every line stays one scrubbed JSON object. Call after importing."""
    for name in _LIBRARIES:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
