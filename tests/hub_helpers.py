"""Helpers for tests that push to the fake Hub.

- `fake_pauses`: the CLI's clock with a retry pause that only records the delay, so retried
  Hub requests cost nothing and the delays can be checked.
- `dataset_rows`: every row of every CSV in a fake Hub dataset, as the viewer would read them.
"""

from __future__ import annotations

import csv
import io

import pytest

from inference_tracker.clock import Clock
from inference_tracker.record import COLUMNS, ROW_KEY, Row
from tests.fakes.hub import FakeHub

REPO = "me/inference-metrics"
HUB_TOKEN = "hf_" + "FakeHubWrite" * 3
READ_TOKEN = "hf_" + "FakeHubRead0" * 3
INFERENCE_TOKEN = "hf_" + "FakeInference" * 3


def fake_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The CLI's retry pauses recorded instead of waited; returns the list of delays."""
    from inference_tracker import cli

    pauses: list[float] = []
    monkeypatch.setattr(cli, "CLOCK", Clock(sleep=pauses.append))
    return pauses


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
