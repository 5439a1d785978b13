"""What state.json holds: the cycle counter, the last cycle, the last push and the last error.

A typed value with its JSON form; store.py is the only module that reads or writes the file.
Reading is strict about what would mislead (a negative counter, a count that is not a whole
number): such a file is refused like a corrupt one and rebuilt from the files on disk.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from inference_tracker.record import CycleSummary, iso_ms

STATE_VERSION = 1
# The kinds of last_error a stored cycle resolves (config: collect stopped on a setting).
CYCLE_ERRORS = ("config", "listing", "store", "state")


class StateInvalid(ValueError):
    """state.json holds something this tracker did not write. One-line message."""


@dataclass(frozen=True)
class ErrorNote:
    at: str | None
    where: str  # config, listing, store, state, push
    message: str


@dataclass(frozen=True)
class PushNote:
    at: str | None
    rows: int | None = None  # None when rebuilt from the files on disk
    cycles: int | None = None
    batches: int | None = None
    files: int | None = None
    commit_url: str | None = None
    repo_id: str | None = None


@dataclass(frozen=True)
class Recovery:
    why: str
    cycles_found: int


@dataclass
class State:
    cycle_counter: int = 0
    last_cycle: CycleSummary | None = None
    last_push: PushNote | None = None
    last_error: ErrorNote | None = None
    push_error: ErrorNote | None = None  # the last push's failure, until a push succeeds
    buffer_bytes: int | None = None  # the buffer's size as the tracker last wrote it
    recovered: Recovery | None = None  # set when this state was rebuilt from the files
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer version wrote

    def note_error(self, where: str, message: str, at: datetime) -> None:
        self.last_error = ErrorNote(iso_ms(at), where, message)
        if where == "push":
            self.push_error = self.last_error

    def clear_error(self, *wheres: str) -> None:
        """Forget the last error when it was of a kind that just succeeded."""
        if self.last_error is not None and self.last_error.where in wheres:
            self.last_error = None

    def record_cycle(self, summary: CycleSummary, buffer_bytes: int) -> None:
        self.cycle_counter += 1
        self.last_cycle = summary
        self.buffer_bytes = buffer_bytes
        self.recovered = None
        self.clear_error(*CYCLE_ERRORS)

    def record_push(self, note: PushNote) -> None:
        self.last_push = note
        self.push_error = None
        self.clear_error("push")

    # --- JSON ------------------------------------------------------------------------------

    def to_json(self) -> bytes:
        data: dict[str, Any] = {**self.extra, "version": STATE_VERSION}
        for item in dataclasses.fields(self):
            if item.name == "extra":
                continue
            value = getattr(self, item.name)
            if isinstance(value, CycleSummary | PushNote | ErrorNote | Recovery):
                data[item.name] = dataclasses.asdict(value)
            elif value is not None:
                data[item.name] = value
        return json.dumps(data, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> State:
        """Parse state.json; StateInvalid when it is not JSON or holds impossible values."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StateInvalid(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StateInvalid("not a state object")
        known = {item.name for item in dataclasses.fields(cls)} | {"version"}
        return cls(
            cycle_counter=_count(data, "cycle_counter", required=True) or 0,
            last_cycle=_part(data, "last_cycle", CycleSummary),
            last_push=_part(data, "last_push", PushNote),
            last_error=_part(data, "last_error", ErrorNote),
            push_error=_part(data, "push_error", ErrorNote),
            buffer_bytes=_count(data, "buffer_bytes"),
            recovered=_part(data, "recovered", Recovery),
            extra={key: value for key, value in data.items() if key not in known},
        )


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "int | None": (int, type(None)),
    "str": (str,),
    "str | None": (str, type(None)),
    "float | None": (int, float, type(None)),
    "bool": (bool,),
}


def _count(data: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StateInvalid(f"{key} is {value!r}, not a count")
    return value


_Part = TypeVar("_Part")


def _part(data: dict[str, Any], key: str, kind: type[_Part]) -> _Part | None:
    """A nested object of `kind`: its fields checked for type (counts never negative); keys
    it does not know are ignored, missing ones with a default take it."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise StateInvalid(f"{key} is not an object")
    values: dict[str, Any] = {}
    for item in dataclasses.fields(kind):  # type: ignore[arg-type]
        if item.name not in value:
            if item.default is dataclasses.MISSING:
                raise StateInvalid(f"{key}.{item.name} is missing")
            continue
        got = value[item.name]
        allowed = _TYPES[str(item.type)]
        bad_bool = isinstance(got, bool) and bool not in allowed
        if not isinstance(got, allowed) or bad_bool:
            raise StateInvalid(f"{key}.{item.name} is {got!r}, not {item.type}")
        if isinstance(got, int) and not isinstance(got, bool) and got < 0:
            raise StateInvalid(f"{key}.{item.name} is {got}, not a count")
        values[item.name] = got
    return kind(**values)
