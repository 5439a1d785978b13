"""Build well-formed rows for tests that need data without running a cycle."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from inference_tracker.record import COLUMNS, CycleSummary, Row, iso_ms, summarise

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def make_row(
    cycle: int = 0,
    model: str = "org/m",
    provider: str = "groq",
    *,
    error_class: str = "ok",
    duration_ms: float = 100.0,
    answer_correct: str = "true",
    body: str = 'hello, "world"\nsecond line',
    probe_id: str = "test-probe",
    start: datetime = T0,
) -> Row:
    when = start + timedelta(minutes=5 * cycle)
    row = {name: "" for name in COLUMNS}
    row.update(
        cycle_timestamp_iso=iso_ms(when),
        model_id=model,
        provider_name=provider,
        provider_model_id=f"{provider}/{model}",
        request_url=f"https://router.test/{provider}/v1/chat/completions",
        request_body='{"model":"x"}',
        request_headers_sanitized='{"Authorization": "Bearer [MASKED]"}',
        request_start_iso=iso_ms(when),
        response_end_iso=iso_ms(when + timedelta(milliseconds=duration_ms)),
        duration_ms=f"{duration_ms:.1f}",
        response_status_code="200" if error_class == "ok" else "-1",
        response_body_raw=body,
        response_headers_sanitized="{}",
        attempts="1",
        error_class=error_class,
        answer_correct=answer_correct if error_class == "ok" else "",
        probe_id=probe_id,
    )
    return row


def cycle_rows(
    cycle: int, models: int = 2, providers: tuple[str, ...] = ("groq", "together")
) -> list[Row]:
    return [make_row(cycle, f"org/m{m}", p) for m in range(models) for p in providers]


def summary_of(rows: list[Row]) -> CycleSummary:
    """The summary collect would store with these rows (of one cycle)."""
    started = rows[0]["cycle_timestamp_iso"] if rows else iso_ms(T0)
    return summarise(rows, started, duration_s=1.0)


def old_layout(rows: list[Row], width: int = 21) -> bytes:
    """`rows` as an earlier version wrote them: the first `width` columns (21 before the
    streaming and catalog columns, 14 for the original tool), RFC 4180, CRLF, UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS[:width])
    for row in rows:
        writer.writerow([row.get(name, "") for name in COLUMNS[:width]])
    return out.getvalue().encode("utf-8")
