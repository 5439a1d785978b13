"""The row file format: canonical values where rows are encoded, and files of earlier column
layouts (the 21 columns before the streaming and catalog issues, the original tool's 14) read
everywhere with the columns they lack empty."""

from __future__ import annotations

import pytest

from inference_tracker.csvfile import decode_rows, encode_rows, rows_in_our_layout
from inference_tracker.record import COLUMN_TYPES, COLUMNS, canonical_value
from tests.hub_helpers import parse_csv
from tests.rows import cycle_rows, make_row, old_layout


def test_encoding_writes_every_value_in_its_columns_canonical_form() -> None:
    row = make_row(0)
    row.update(
        prompt_tokens="20.0",
        completion_tokens="42",
        response_status_code="200.0",
        answer_correct="True",
        duration_ms="100",
        ttft_ms="1e2",
        streamed="0",
        reasoning_tokens="not a count",
        error_message="20.0",  # a string stays as it was
    )
    header, [record] = parse_csv(encode_rows([row], header=True))
    stored = dict(zip(header, record, strict=True))
    assert {name: stored[name] for name in ("prompt_tokens", "completion_tokens")} == {
        "prompt_tokens": "20",
        "completion_tokens": "42",
    }
    assert stored["response_status_code"] == "200"
    assert stored["answer_correct"] == "true"
    assert (stored["duration_ms"], stored["ttft_ms"], stored["streamed"]) == (
        "100.0",
        "100.0",
        "false",
    )
    assert stored["reasoning_tokens"] == ""
    assert stored["error_message"] == "20.0"


def test_encoding_canonical_rows_changes_nothing() -> None:
    rows = [*cycle_rows(0), make_row(1, error_class="timeout", duration_ms=60000.0)]
    data = encode_rows(rows, header=True)
    assert decode_rows(data, "x").rows == rows
    assert encode_rows(decode_rows(data, "x").rows, header=True) == data
    for row in rows:
        for name, value in row.items():
            assert canonical_value(COLUMN_TYPES[name], value) == value


@pytest.mark.parametrize("width", [21, 14])
def test_a_file_of_an_earlier_layout_is_read_with_the_new_columns_empty(width: int) -> None:
    rows = cycle_rows(0)
    read = decode_rows(old_layout(rows, width), "old.csv")
    assert read.problems == []
    assert len(read.rows) == 4
    for got, want in zip(read.rows, rows, strict=True):
        assert list(got) == list(COLUMNS)
        assert {n: got[n] for n in COLUMNS[:width]} == {n: want[n] for n in COLUMNS[:width]}
        assert all(got[n] == "" for n in COLUMNS[width:])


def test_a_torn_row_in_an_earlier_layout_is_counted_against_that_layout() -> None:
    data = old_layout(cycle_rows(0)) + b"2026-11-27T10:00:00.000Z,torn-row\r\n"
    read = decode_rows(data, "old.csv")
    assert len(read.rows) == 4
    assert len(read.problems) == 1
    assert read.problems[0].endswith(": 2 fields, expected 21")


@pytest.mark.parametrize(
    "header",
    [
        ",".join(COLUMNS[:13]),  # shorter than any layout of ours
        ",".join([*COLUMNS, "from_a_newer_version"]),  # longer: not one we can read whole
        ",".join((*COLUMNS[:20], "something_else")),
        "timestamp,model,provider",
    ],
    ids=["13", "newer", "other-21st", "foreign"],
)
def test_a_header_that_is_not_a_layout_of_ours_is_a_problem(header: str) -> None:
    read = decode_rows(header.encode() + b"\r\n1,2,3\r\n", "x.csv")
    assert read.rows == []
    assert read.problems == [f"x.csv: header is not the expected {len(COLUMNS)} columns"]
    assert rows_in_our_layout(header.encode() + b"\r\n1,2,3\r\n") is None


@pytest.mark.parametrize("width", [21, 14])
def test_rows_in_our_layout_pads_an_earlier_layout(width: int) -> None:
    layout = rows_in_our_layout(old_layout(cycle_rows(0), width))
    assert layout is not None
    whole, rows = layout
    assert not whole and len(rows) == 4 and all(list(r) == list(COLUMNS) for r in rows)
    assert rows_in_our_layout(encode_rows(cycle_rows(0), header=True)) == (True, cycle_rows(0))


def test_re_encoding_an_earlier_layout_gives_the_current_one() -> None:
    rows = cycle_rows(0)
    again = encode_rows(decode_rows(old_layout(rows), "old.csv").rows, header=True)
    assert again == encode_rows(rows, header=True)
