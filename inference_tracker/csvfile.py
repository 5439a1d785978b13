"""The row file format: RFC 4180 CSV, UTF-8, a header of our columns, then rows.

Writing puts every value in its column's canonical form (record.canonical_value): this is the
one place rows are encoded, so rows carried over from older files are normalised too.
Reading takes files of every layout we ever wrote (our columns, or a start of them: the 21
before the streaming and catalog columns, the original tool's 14) and pads their rows with the
columns they lack, empty. Reading never raises on damaged data: rows that are not whole are
reported as problems, the rest are kept. Every module that reads or writes rows (the buffer,
batches, the dataset) uses these, so there is one format.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from inference_tracker.record import (
    COLUMN_TYPES,
    COLUMNS,
    ERROR_CLASSES,
    OLDEST_LAYOUT,
    Row,
    canonical_value,
)

_CYCLE_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

# The csv module refuses a field over 128 KiB by default, and a response body can be as large
# as MAX_RESPONSE_BODY_BYTES allows. 2**31 - 1 is the most a C long holds on every platform
# (Windows' is 32 bits); no field we write comes near it.
FIELD_SIZE_LIMIT = 2**31 - 1
csv.field_size_limit(FIELD_SIZE_LIMIT)


@dataclass
class RowsRead:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_TYPED = tuple((name, COLUMN_TYPES[name]) for name in COLUMNS)


def encode_rows(rows: Iterable[Row], *, header: bool) -> bytes:
    """RFC 4180 CSV (CRLF line ends, quotes doubled), UTF-8, columns in schema order, every
    value in its column's canonical form."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([canonical_value(kind, row.get(name, "")) for name, kind in _TYPED])
    return out.getvalue().encode("utf-8")


CURRENT_HEADER = encode_rows([], header=True)  # how a file in the current layout begins


def layout_width(header: Iterable[str]) -> int | None:
    """How many of our columns a header holds when it is a layout of ours (all of COLUMNS, or
    a start of them at least as long as the original tool's); None for any other header."""
    names = tuple(header)
    if len(names) < OLDEST_LAYOUT or names != COLUMNS[: len(names)]:
        return None
    return len(names)


def _padded(values: list[str]) -> Row:
    if len(values) == len(COLUMNS):
        return dict(zip(COLUMNS, values, strict=True))
    return {name: (values[i] if i < len(values) else "") for i, name in enumerate(COLUMNS)}


def _records(data: bytes, problems: list[str], source: str) -> Iterator[tuple[int, list[str]]]:
    """Every record with the line it ends on. One the reader refuses is reported and reading
    goes on at the next line, so one bad record never costs the rows after it."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(f"{source} line {reader.line_num}: {exc}")
            continue
        yield reader.line_num, values


def decode_rows(data: bytes, source: str) -> RowsRead:
    """Parse CSV bytes; rows that are not whole are reported, not raised."""
    result = RowsRead()
    records = _records(data, result.problems, source)
    _, header = next(records, (0, None))
    if header is None:
        return result
    width = layout_width(header)
    if width is None:
        result.problems.append(f"{source}: header is not the expected {len(COLUMNS)} columns")
        return result
    for line, values in records:
        if len(values) != width:
            result.problems.append(f"{source} line {line}: {len(values)} fields, expected {width}")
            continue
        row = _padded(values)
        if not _CYCLE_STAMP.fullmatch(row["cycle_timestamp_iso"]) or (
            row["error_class"] not in (*ERROR_CLASSES, "")  # "": the original tool's rows
        ):  # e.g. an unclosed quote that swallowed the rows after it
            result.problems.append(f"{source} line {line}: not a row of ours")
            continue
        result.rows.append(row)
    return result


def rows_in_our_layout(data: bytes) -> tuple[bool, list[Row]] | None:
    """The rows of a CSV whose header is a layout of ours (layout_width), padded to all of our
    columns, and whether the header was ours whole; None for another layout. Records that are
    not whole are left out: a caller that rewrites the file compares with record_count."""
    records = [values for _, values in _records(data, [], "")]
    width = layout_width(records[0]) if records else None
    if width is None:
        return None
    rows = [_padded(record) for record in records[1:] if len(record) == width]
    return width == len(COLUMNS), rows


def record_count(data: bytes) -> int:
    """How many records follow the header, whole or not (a record the reader refuses too)."""
    refused: list[str] = []
    read = sum(1 for _ in _records(data, refused, ""))
    return max(read - 1, 0) + len(refused)


def read_csv(path: Path) -> RowsRead:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return RowsRead()
    except OSError as exc:
        return RowsRead(problems=[f"{path}: cannot read: {exc.strerror or exc}"])
    return decode_rows(data, str(path))
