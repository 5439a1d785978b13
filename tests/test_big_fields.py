"""Fields over the csv module's default limit (128 KiB): a response body can be as large as
MAX_RESPONSE_BODY_BYTES says, so rows holding one are read back like any other, and a record
the reader refuses costs that record only, never the rows after it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from inference_tracker.clock import Clock
from inference_tracker.csvfile import decode_rows, encode_rows, read_csv
from inference_tracker.hub import HubLimits
from inference_tracker.publish import Destination, push_pending
from inference_tracker.record import CycleSummary
from inference_tracker.store import Store
from tests.fakes.hub import FakeHub
from tests.helpers import quiet_log
from tests.hub_helpers import HUB_TOKEN, REPO, dataset_rows
from tests.rows import T0, cycle_rows

BIG = 300_000  # characters: over the csv module's default field limit of 131072
SUMMARY = CycleSummary(started="2026-11-27T10:00:00.000Z", rows=4, ok=4, failed=0, duration_s=0.1)


def rows_with_a_big_body(at: int, size: int = BIG) -> list[dict[str, str]]:
    rows = cycle_rows(0)
    rows[at]["response_body_raw"] = '{"choices": "' + "x" * size + '"}'
    return rows


def test_a_field_over_128_kib_round_trips() -> None:
    rows = rows_with_a_big_body(1)
    read = decode_rows(encode_rows(rows, header=True), "buf.csv")
    assert read.problems == []
    assert read.rows == rows


@pytest.mark.parametrize("at", [0, 1, 3])
def test_a_big_row_is_sealed_and_read_with_every_other_row(tmp_path: Path, at: int) -> None:
    store = Store(tmp_path / "buf.csv", tmp_path / ".tracker", lock_timeout=2)
    rows = rows_with_a_big_body(at)
    store.append_cycle(rows, SUMMARY)
    batch = store.seal()
    assert batch is not None  # a big first row used to leave the buffer unsealed for ever
    read = read_csv(batch.path)
    assert read.problems == []
    assert read.rows == rows


@pytest.fixture
def small_field_limit() -> Iterator[int]:
    """A limit the test's record is over, standing for any record the reader refuses."""
    before = csv.field_size_limit(1000)
    try:
        yield 1000
    finally:
        csv.field_size_limit(before)


def test_a_record_the_reader_refuses_is_reported_and_the_rows_after_it_kept(
    small_field_limit: int,
) -> None:
    rows = rows_with_a_big_body(1, size=small_field_limit * 2)
    read = decode_rows(encode_rows(rows, header=True), "buf.csv")
    assert read.rows == [rows[0], *rows[2:]]
    assert read.problems == [f"buf.csv line 4: field larger than field limit ({small_field_limit})"]


@pytest.mark.parametrize("template", ["data/{date}/{probe_id}-{batch_id}.csv", "metrics.csv"])
def test_a_big_first_row_is_pushed_with_every_other_row(tmp_path: Path, template: str) -> None:
    store = Store(tmp_path / "buf.csv", tmp_path / ".tracker", lock_timeout=2)
    rows = rows_with_a_big_body(0)
    store.append_cycle(rows, SUMMARY)
    with FakeHub(tokens={HUB_TOKEN: "write"}) as hub:
        hub.create_repo(REPO)
        destination = Destination(REPO, template, hub.url, HUB_TOKEN, "test-probe")
        result = push_pending(
            store,
            destination,
            quiet_log()[0],
            T0 + timedelta(hours=1),
            limits=HubLimits(total_seconds=10.0, request_seconds=5.0),
            clock=Clock(sleep=lambda seconds: None),
        )
        assert result.rows == 4
        assert dataset_rows(hub) == rows
    assert store.pending() == []
