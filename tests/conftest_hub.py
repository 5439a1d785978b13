"""Helpers for tests that push to the fake Hub (imported explicitly; not a pytest conftest).

- `patch_retry_sleeps`: huggingface_hub's retry loop (utils/_http.py, `_http_backoff_base`) waits
  with `time.sleep` (1, 2, 4, 8, 8 s); tests swap the module's `time` for one whose `sleep` only
  records the delay, so retried calls cost nothing and the delays can be checked.
- `dataset_rows`: every row of every CSV in a fake Hub dataset, as the viewer would read them.
"""

from __future__ import annotations

import csv
import io
import time
import types

import pytest

from inference_tracker.record import COLUMNS, ROW_KEY, Row
from tests.fakes.hub import FakeHub

REPO = "me/inference-metrics"
HUB_TOKEN = "hf_" + "FakeHubWrite" * 3
READ_TOKEN = "hf_" + "FakeHubRead0" * 3
INFERENCE_TOKEN = "hf_" + "FakeInference" * 3


def patch_retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make huggingface_hub's retry back-off instant; returns the list of delays it asked for."""
    import huggingface_hub.utils._http as hub_http

    delays: list[float] = []
    fake_time = types.SimpleNamespace(
        sleep=delays.append,
        time=time.time,
        monotonic=time.monotonic,
        perf_counter=time.perf_counter,
    )
    monkeypatch.setattr(hub_http, "time", fake_time)
    return delays


def parse_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return (records[0] if records else []), records[1:]


def dataset_rows(hub: FakeHub, repo: str = REPO) -> list[Row]:
    """Rows of every .csv file in the dataset; each file must have our header, once, on top."""
    rows: list[Row] = []
    for path, data in sorted(hub.files(repo).items()):
        if not path.endswith(".csv"):
            continue
        header, records = parse_csv(data)
        assert tuple(header) == COLUMNS, f"{path}: unexpected header"
        for record in records:
            assert tuple(record) != COLUMNS, f"{path}: header repeated"
            assert len(record) == len(COLUMNS), f"{path}: ragged row"
            rows.append(dict(zip(COLUMNS, record, strict=True)))
    return rows


def keys(rows: list[Row]) -> list[tuple[str, ...]]:
    return [tuple(row[name] for name in ROW_KEY) for row in rows]


def assert_each_once(rows: list[Row], expected: list[Row]) -> None:
    """The dataset holds exactly the expected rows, none twice, none missing, none changed."""
    got = keys(rows)
    assert len(got) == len(set(got)), "a row landed twice"
    assert sorted(got) == sorted(keys(expected))
    by_key = {tuple(r[n] for n in ROW_KEY): r for r in expected}
    for row in rows:
        assert row == by_key[tuple(row[n] for n in ROW_KEY)]
