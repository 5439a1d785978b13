"""An incremental parser for server-sent events (`text/event-stream`), after the WHATWG rules.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

The caller reads the body itself (under its own deadline and byte cap) and feeds the bytes as
they arrive; events come back as soon as the blank line that ends them has arrived.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One dispatched event."""

    data: str  # the data lines joined with "\n"
    event: str = ""  # the `event:` field, "" when none
    id: str = ""  # the last event id (it carries over to later events, as in the standard)


class SSEParser:
    """Feed bytes in any pieces; get back the events each piece completes."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # the first character (a BOM to skip) has been seen
        self._after_cr = False  # the text so far ends with CR: a LF next belongs to that line end
        self._line: list[str] = []  # the line being received, in pieces
        self._in_event = False  # a field line was seen since the last blank line
        self._data: list[str] = []
        self._event = ""
        self._id = ""

    @property
    def pending(self) -> bool:
        """True while the bytes of an unfinished event are held (after close: it was cut)."""
        return self._in_event or bool(self._line) or bool(self._decoder.getstate()[0])

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by this chunk, in order."""
        return self._text(self._decoder.decode(chunk))

    def close(self) -> list[Event]:
        """End of stream: an unterminated event is dropped, per the standard (see `pending`)."""
        self._text(self._decoder.decode(b"", final=True))  # no line end can come out of this
        return []

    def _text(self, text: str) -> list[Event]:
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = text.endswith("\r")
        lines = _LINE_END.split(text)  # the last item is the start of a line still to be ended
        if len(lines) > 1:
            lines[0] = "".join([*self._line, lines[0]])
            self._line = []
        if rest := lines.pop():
            self._line.append(rest)
        return [event for line in lines if (event := self._field(line)) is not None]

    def _field(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, such as a keep-alive
        self._in_event = True
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # `retry` and unknown fields are ignored

    def _dispatch(self) -> Event | None:
        data, event = self._data, self._event
        self._data, self._event, self._in_event = [], "", False
        return Event("\n".join(data), event, self._id) if data else None
