"""The row file format: RFC 4180 CSV, UTF-8, a header of our columns, then rows.

Reading never raises on damaged data: rows that are not whole are reported as problems, the
rest are kept. Every module that reads or writes rows (the buffer, batches, the dataset) uses
these, so there is one format.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from inference_tracker.record import COLUMNS, ERROR_CLASSES, Row

_CYCLE_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass
class RowsRead:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def encode_rows(rows: Iterable[Row], *, header: bool) -> bytes:
    """RFC 4180 CSV (CRLF line ends, quotes doubled), UTF-8, columns in schema order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.get(name, "") for name in COLUMNS])
    return out.getvalue().encode("utf-8")


def decode_rows(data: bytes, source: str) -> RowsRead:
    """Parse CSV bytes; rows that are not whole are reported, not raised."""
    result = RowsRead()
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return result
        if tuple(header) != COLUMNS:
            result.problems.append(f"{source}: header is not the expected {len(COLUMNS)} columns")
            return result
        for values in reader:
            if len(values) != len(COLUMNS):
                result.problems.append(
                    f"{source} line {reader.line_num}: "
                    f"{len(values)} fields, expected {len(COLUMNS)}"
                )
                continue
            row = dict(zip(COLUMNS, values, strict=True))
            if not _CYCLE_STAMP.fullmatch(row["cycle_timestamp_iso"]) or (
                row["error_class"] not in (*ERROR_CLASSES, "")  # "": the original tool's rows
            ):  # e.g. an unclosed quote that swallowed the rows after it
                result.problems.append(f"{source} line {reader.line_num}: not a row of ours")
                continue
            result.rows.append(row)
    except csv.Error as exc:
        result.problems.append(f"{source} line {reader.line_num}: {exc}")
    return result


def rows_in_our_layout(data: bytes) -> tuple[bool, list[Row]] | None:
    """The rows of a CSV whose header is our columns or their start (the original tool's 14),
    padded to all of ours, and whether the header was ours whole; None for another layout.
    Records that are not whole are left out."""
    records = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline="")))
    header = tuple(records[0]) if records else ()
    if not header or header != COLUMNS[: len(header)]:
        return None
    rows = [
        {name: (record[i] if i < len(record) else "") for i, name in enumerate(COLUMNS)}
        for record in records[1:]
        if len(record) == len(header)
    ]
    return header == COLUMNS, rows


def read_csv(path: Path) -> RowsRead:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return RowsRead()
    except OSError as exc:
        return RowsRead(problems=[f"{path}: cannot read: {exc.strerror or exc}"])
    return decode_rows(data, str(path))
