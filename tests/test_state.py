"""state.json: a typed value, strict about what would mislead, tolerant of what is unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inference_tracker.record import CycleSummary
from inference_tracker.state import ErrorNote, PushNote, State, StateInvalid
from inference_tracker.store import Store
from tests.rows import cycle_rows, summary_of

FULL = State(
    cycle_counter=7,
    last_cycle=CycleSummary("2026-11-27T10:00:00.000Z", 9, 7, 1, skipped=1, duration_s=2.5),
    last_push=PushNote("2026-11-27T10:01:00.000Z", rows=54, commit_url="https://x/commit/1"),
    last_error=ErrorNote("2026-11-27T10:02:00.000Z", "push", "HTTP 503"),
    buffer_bytes=1234,
)


def test_round_trip() -> None:
    assert State.from_json(FULL.to_json()) == FULL
    assert json.loads(FULL.to_json())["version"] == 1


def test_keys_a_newer_version_wrote_are_kept() -> None:
    data = json.loads(FULL.to_json())
    data["future_key"] = {"a": 1}
    data["last_cycle"]["future_field"] = True
    again = State.from_json(json.dumps(data).encode())
    assert again.extra == {"future_key": {"a": 1}}
    assert json.loads(again.to_json())["future_key"] == {"a": 1}
    assert again.last_cycle == FULL.last_cycle


def test_a_state_written_before_skipped_and_interrupted_existed_reads() -> None:
    old = {"cycle_counter": 2, "last_cycle": {"started": "x", "rows": 3, "ok": 3, "failed": 0}}
    state = State.from_json(json.dumps(old).encode())
    assert state.last_cycle == CycleSummary("x", 3, 3, 0, skipped=0, interrupted=False)


@pytest.mark.parametrize(
    "data",
    [
        [],
        "state",
        {},
        {"cycle_counter": -1},
        {"cycle_counter": "3"},
        {"cycle_counter": 2.5},
        {"cycle_counter": True},
        {"cycle_counter": 1, "last_cycle": "oops"},
        {"cycle_counter": 1, "last_cycle": {"started": "x", "rows": -4, "ok": 0, "failed": 0}},
        {"cycle_counter": 1, "last_cycle": {"started": "x", "rows": "4", "ok": 0, "failed": 0}},
        {"cycle_counter": 1, "last_cycle": {"rows": 4, "ok": 4, "failed": 0}},
        {"cycle_counter": 1, "last_error": ["?"]},
        {"cycle_counter": 1, "last_error": {"at": None, "where": 3, "message": "m"}},
        {"cycle_counter": 1, "last_push": {"at": "t", "rows": True}},
        {"cycle_counter": 1, "buffer_bytes": -5},
    ],
    ids=repr,
)
def test_impossible_values_are_refused(data: object) -> None:
    with pytest.raises(StateInvalid):
        State.from_json(json.dumps(data).encode())


def test_a_hand_edited_impossible_state_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    warnings: list[str] = []
    store = Store(tmp_path / "buf.csv", tmp_path / ".tracker", on_warning=warnings.append)
    for cycle in range(2):
        rows = cycle_rows(cycle)
        store.append_cycle(rows, summary_of(rows))
    store.state_file.write_text(json.dumps({"cycle_counter": -40}))
    state = store.read_state()
    assert state.cycle_counter == 2
    assert state.recovered is not None and "not a count" in state.recovered.why
    assert any("rebuilt from the files on disk" in w for w in warnings)


def test_a_stored_cycle_resolves_cycle_errors_but_not_push_errors() -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    state = State()
    state.note_error("listing", "HTTP 500", at)
    state.record_cycle(CycleSummary("x", 1, 1, 0), buffer_bytes=10)
    assert state.last_error is None and state.cycle_counter == 1
    state.note_error("push", "HTTP 503", at)
    state.record_cycle(CycleSummary("y", 1, 1, 0), buffer_bytes=20)
    assert state.last_error == ErrorNote("2026-11-27T00:00:00.000Z", "push", "HTTP 503")
    state.record_push(PushNote("z", rows=2))
    assert state.last_error is None
