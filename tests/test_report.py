"""report.py: the statistics behind `tracker status`, the files it reads, and how it renders."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inference_tracker import render, report, snapshot, stats
from inference_tracker.csvfile import encode_rows
from inference_tracker.record import COLUMNS, CycleSummary, Row, Scrubber, iso_ms
from inference_tracker.state import ErrorNote, PushNote, State
from inference_tracker.store import Store

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def make_row(
    provider: str = "groq",
    *,
    at: datetime = NOW - timedelta(minutes=5),
    error_class: str = "ok",
    duration_ms: str = "100.0",
    answer_correct: str = "true",
    model: str = "org/model",
    probe: str = "test-probe",
    **more: str,
) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        cycle_timestamp_iso=iso_ms(at),
        model_id=model,
        provider_name=provider,
        duration_ms=duration_ms,
        error_class=error_class,
        answer_correct=answer_correct,
        probe_id=probe,
    )
    row.update(more)
    return row


# --- percentiles and rates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([10.0, 20.0, 30.0, 40.0], 50, 20.0),
        ([10.0, 20.0, 30.0, 40.0], 95, 40.0),
        ([float(v) for v in range(1, 101)], 50, 50.0),
        ([float(v) for v in range(1, 101)], 95, 95.0),
        ([float(v) for v in range(1, 21)], 95, 19.0),
        ([float(v) for v in range(1, 11)], 95, 10.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),  # rank ceil(2.5) = 3, not a rounded 2
        ([float(v) for v in range(1, 31)], 95, 29.0),  # rank ceil(28.5) = 29
        ([7.5], 50, 7.5),
        ([7.5], 95, 7.5),
        ([40.0, 10.0, 30.0, 20.0], 50, 20.0),  # order of the input does not matter
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float) -> None:
    assert stats.percentile(values, p) == expected


def test_percentile_of_nothing_is_none() -> None:
    assert stats.percentile([], 50) is None


def test_rate_with_zero_calls_is_none_not_an_error() -> None:
    assert stats.rate(0, 0) is None
    assert stats.rate(0, 4) == 0.0
    assert stats.rate(3, 4) == 0.75


# --- per-provider statistics ---------------------------------------------------------------


def test_provider_stats_counts_successes_durations_and_answers() -> None:
    rows = [
        make_row("groq", duration_ms="100.0", answer_correct="true"),
        make_row("groq", duration_ms="300.0", answer_correct="false"),
        make_row("groq", duration_ms="200.0", answer_correct=""),
        # failures count as calls but their duration is not a latency of a successful call
        make_row("groq", error_class="timeout", duration_ms="60000.0", answer_correct=""),
    ]
    (groq,) = stats.provider_stats(rows, now=NOW, hours=24)
    assert groq.provider == "groq"
    assert groq.calls == 4
    assert groq.ok == 1 + 1 + 1
    assert groq.success_rate == 0.75
    assert groq.p50_ms == 200.0
    assert groq.p95_ms == 300.0
    # the empty answer is left out of the denominator
    assert groq.answered == 2
    assert groq.answer_correct_rate == 0.5
    assert groq.errors == {"timeout": 1}


def test_uptime_leaves_out_rate_limits_and_needs_five_calls() -> None:
    ok = [make_row("p", response_status_code="200") for _ in range(4)]
    limited = [make_row("p", error_class="http_error", response_status_code="429")] * 3
    failed = [make_row("p", error_class="http_error", response_status_code="503")]
    assert stats.uptime(ok + limited) is None  # 4 counted calls
    assert stats.uptime(ok + limited + failed) == 0.8
    skipped = [make_row("p", error_class="unmapped_provider")] * 10
    assert stats.uptime(ok + skipped) is None


def test_streamed_numbers_and_what_the_catalog_advertised() -> None:
    def streamed(ttft: str, speed: str, **more: str) -> Row:
        return make_row("p", streamed="true", ttft_ms=ttft, output_tokens_per_s=speed, **more)

    rows = [
        streamed("100.0", "50.0", advertised_status="live", advertised_ttft_ms="200",
                 advertised_tokens_per_s="100", cost_usd="0.001"),
        streamed("300.0", "40.0", advertised_status="live", advertised_ttft_ms="200",
                 advertised_tokens_per_s="100", cost_usd="0.003"),
        make_row("p", streamed="false", ttft_ms="", output_tokens_per_s=""),  # not streamed
        make_row("p", error_class="timeout", streamed="true", ttft_ms="5000.0",
                 advertised_status="live"),  # failed: its ttft is no success's
        make_row("p", error_class="http_error", advertised_status="error"),
    ]  # fmt: skip
    (p,) = stats.provider_stats(rows, now=NOW, hours=24)
    assert (p.p50_ttft_ms, p.p95_ttft_ms, p.p50_tokens_per_s) == (100.0, 300.0, 40.0)
    assert (p.advertised_ttft_ms, p.advertised_tokens_per_s) == (200.0, 100.0)
    assert p.ttft_vs_advertised == 0.5 and p.speed_vs_advertised == 0.4
    assert p.failed_while_live == 1
    assert p.cost_usd == pytest.approx(0.004) and p.costed_calls == 2
    assert p.cost_per_1000_calls == pytest.approx(2.0)


def test_provider_without_answers_or_successes_has_null_rates() -> None:
    rows = [make_row("down", error_class="connection_error", duration_ms="", answer_correct="")]
    (down,) = stats.provider_stats(rows, now=NOW, hours=24)
    assert down.calls == 1
    assert down.success_rate == 0.0
    assert down.p50_ms is None and down.p95_ms is None
    assert down.answer_correct_rate is None


def test_unparseable_durations_are_skipped() -> None:
    rows = [make_row(duration_ms="abc"), make_row(duration_ms="nan"), make_row(duration_ms="50.0")]
    (one,) = stats.provider_stats(rows, now=NOW, hours=24)
    assert one.calls == 3
    assert one.p50_ms == 50.0


def test_window_keeps_only_rows_of_the_last_hours() -> None:
    rows = [
        make_row("a", at=NOW - timedelta(minutes=59)),
        make_row("a", at=NOW - timedelta(hours=1, minutes=1)),
        make_row("b", at=NOW - timedelta(hours=5)),
        make_row("c", at=NOW - timedelta(days=3)),
    ]
    one_hour = stats.provider_stats(rows, now=NOW, hours=1)
    assert [(s.provider, s.calls) for s in one_hour] == [("a", 1)]
    six_hours = stats.provider_stats(rows, now=NOW, hours=6)
    assert sorted((s.provider, s.calls) for s in six_hours) == [("a", 2), ("b", 1)]
    week = stats.provider_stats(rows, now=NOW, hours=168)
    assert sorted((s.provider, s.calls) for s in week) == [("a", 2), ("b", 1), ("c", 1)]


def test_rows_with_an_unreadable_timestamp_are_left_out() -> None:
    bad = make_row("a")
    bad["cycle_timestamp_iso"] = "yesterday"
    found = stats.provider_stats([bad, make_row("a")], now=NOW, hours=24)
    assert [(s.provider, s.calls) for s in found] == [("a", 1)]


def test_worst_providers_come_first() -> None:
    rows = [
        *[make_row("healthy") for _ in range(10)],
        *[make_row("flaky") for _ in range(9)],
        make_row("flaky", error_class="http_error"),
        *[make_row("broken", error_class="timeout") for _ in range(3)],
        make_row("broken"),
        # all calls succeed, but every answer is wrong: worse than healthy
        *[make_row("wrong", answer_correct="false") for _ in range(5)],
        # as good as healthy but slower: slower comes first among equals
        *[make_row("slow", duration_ms="5000.0") for _ in range(5)],
    ]
    order = [s.provider for s in stats.provider_stats(rows, now=NOW, hours=24)]
    assert order == ["broken", "flaky", "wrong", "slow", "healthy"]


# --- what is on disk ------------------------------------------------------------------------


def make_store(tmp_path: Path) -> Store:
    return Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")


def write_batch(folder: Path, name: str, rows: list[Row], *, mtime: datetime = NOW) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    path.write_bytes(encode_rows(rows, header=True))
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def summary(rows: int = 1, started: datetime = NOW - timedelta(minutes=5)) -> CycleSummary:
    return CycleSummary(iso_ms(started), rows=rows, ok=rows, failed=0, duration_s=1.5)


def test_snapshot_before_the_first_cycle_is_empty_and_writes_nothing(tmp_path: Path) -> None:
    snap = snapshot.read_snapshot(make_store(tmp_path), now=NOW, hours=24)
    assert snap.state.cycle_counter == 0
    assert (snap.buffer_rows, snap.pending_batches, snap.pending_rows) == (0, 0, 0)
    assert snap.rows == [] and snap.problems == []
    assert list(tmp_path.iterdir()) == []


def test_snapshot_reads_buffer_pending_and_archive(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.append_cycle([make_row("buffered"), make_row("buffered", model="o/m2")], summary(2))
    write_batch(store.pending_dir, "p1", [make_row("pending", at=NOW - timedelta(hours=2))])
    write_batch(store.pending_dir, "p2", [make_row("pending", at=NOW - timedelta(hours=3))])
    write_batch(
        store.archive_dir,
        "a1",
        [make_row("archived", at=NOW - timedelta(hours=20))],
        mtime=NOW - timedelta(hours=19),
    )
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert snap.buffer_rows == 2
    assert (snap.pending_batches, snap.pending_rows) == (2, 2)
    assert sorted(r["provider_name"] for r in snap.rows) == [
        "archived",
        "buffered",
        "buffered",
        "pending",
        "pending",
    ]
    assert snap.problems == []


def test_a_row_seen_twice_during_a_concurrent_push_counts_once(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    row = make_row("groq")
    store.append_cycle([row], summary())
    write_batch(store.pending_dir, "p1", [row])  # sealed while status was reading
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert len(snap.rows) == 1


def test_archive_files_pushed_before_the_window_are_not_read(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    old = store.archive_dir / "old.csv"
    write_batch(store.archive_dir, "old", [make_row("old", at=NOW - timedelta(days=3))])
    old.write_bytes(b"garbage that would be a problem if it were read")
    stamp = (NOW - timedelta(days=2)).timestamp()
    os.utime(old, (stamp, stamp))
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert snap.rows == [] and snap.problems == []
    week = snapshot.read_snapshot(store, now=NOW, hours=168)
    assert week.problems and "old.csv" in week.problems[0]


def test_damaged_buffer_is_reported_and_the_whole_rows_still_count(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.append_cycle([make_row("a"), make_row("b")], summary(2))
    with store.buffer_path.open("ab") as buffer:
        buffer.write(b"2025-06-01T11:55:00.000Z,torn-row\r\n")
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert snap.buffer_rows == 2
    assert len(snap.rows) == 2
    assert len(snap.problems) == 1
    assert f"metrics_buffer.csv line 4: 2 fields, expected {len(COLUMNS)}" in snap.problems[0]


def test_buffer_of_another_layout_is_reported(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.buffer_path.write_text("timestamp,model,provider\r\n1,2,3\r\n")
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert snap.buffer_rows == 0
    assert snap.problems == [
        f"{store.buffer_path}: header is not the expected {len(COLUMNS)} columns",
    ]


def test_unreadable_state_is_reported_as_recovered(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.append_cycle([make_row()], summary())
    store.state_file.write_text("{not json")
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert snap.state.cycle_counter == 1
    assert any("state.json" in p and "rebuilt" in p for p in snap.problems)
    assert store.state_file.read_text() == "{not json"  # status never repairs, only reports


def test_a_batch_folder_that_cannot_be_listed_is_a_problem(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.state_dir.mkdir()
    store.pending_dir.write_text("a file where a folder should be")
    snap = snapshot.read_snapshot(store, now=NOW, hours=24)
    assert len(snap.problems) == 1 and "pending: cannot list" in snap.problems[0]


# --- the status object -----------------------------------------------------------------------

SETTINGS = report.SettingsView(
    repo="me/inference-metrics",
    target="data/{date}/{probe_id}-{batch_id}.csv",
    interval_s=300.0,
    push_interval_cycles=6,
    probe_id="test-probe",
    buffer="metrics_buffer.csv",
    state_dir=".tracker",
    hf_token_set=True,
    hf_hub_token_set=False,
    working_folder="/srv/tracker",
    env_file=None,
)
TOP_KEYS = {
    "generated_at",
    "spend",
    "healthy",
    "faults",
    "settings",
    "cycle_counter",
    "cycles_until_push",
    "last_cycle",
    "cron_stale",
    "buffer_rows",
    "pending_batches",
    "pending_rows",
    "last_push",
    "last_error",
    "window_hours",
    "window_rows",
    "providers",
    "warnings",
    "problems",
}
PROVIDER_KEYS = {
    "provider",
    "state",
    "state_since",
    "state_reason",
    "uptime_1h",
    "uptime_24h",
    "uptime_7d",
    "calls",
    "ok",
    "success_rate",
    "uptime",
    "p50_ms",
    "p95_ms",
    "p50_ttft_ms",
    "p95_ttft_ms",
    "p50_tokens_per_s",
    "advertised_ttft_ms",
    "advertised_tokens_per_s",
    "ttft_vs_advertised",
    "speed_vs_advertised",
    "failed_while_live",
    "cost_usd",
    "cost_per_day_usd",
    "answered",
    "answer_correct_rate",
    "errors",
}


def status_of(state: State, rows: list[Row] | None = None, **snap: Any) -> dict[str, Any]:
    read = snapshot.Snapshot(state=state, rows=rows or [], **snap)
    return report.build_status(read, SETTINGS, now=NOW, hours=24)


def test_status_json_shape() -> None:
    state = State(
        cycle_counter=5,
        last_cycle=summary(3),
        last_push=PushNote(iso_ms(NOW - timedelta(minutes=30)), rows=120, commit_url="u"),
        last_error=ErrorNote(iso_ms(NOW), "push", "HTTP 503"),
    )
    rows = [make_row("groq"), make_row("groq", error_class="timeout", answer_correct="")]
    data = status_of(state, rows, buffer_rows=2, pending_batches=1, pending_rows=7)
    assert set(data) == TOP_KEYS
    assert json.loads(render.render_json(data)) == data
    assert data["generated_at"] == "2025-06-01T12:00:00.000Z"
    assert data["cycle_counter"] == 5
    assert data["cycles_until_push"] == 1
    assert data["last_cycle"] == {**asdict(summary(3)), "age_s": 300.0}
    assert data["cron_stale"] is False
    assert (data["buffer_rows"], data["pending_batches"], data["pending_rows"]) == (2, 1, 7)
    assert data["last_push"] == {
        "at": iso_ms(NOW - timedelta(minutes=30)),
        "rows": 120,
        "commit_url": "u",
        "age_s": 1800.0,
    }
    assert data["last_error"] == {"at": iso_ms(NOW), "where": "push", "message": "HTTP 503"}
    assert data["window_hours"] == 24
    assert data["window_rows"] == 2
    assert data["settings"] == {
        "repo": "me/inference-metrics",
        "target": "data/{date}/{probe_id}-{batch_id}.csv",
        "interval_s": 300.0,
        "push_interval_cycles": 6,
        "probe_id": "test-probe",
        "buffer": "metrics_buffer.csv",
        "state_dir": ".tracker",
        "hf_token_set": True,
        "hf_hub_token_set": False,
        "working_folder": "/srv/tracker",
        "env_file": None,
    }
    (groq,) = data["providers"]
    assert set(groq) == PROVIDER_KEYS
    assert groq == {
        "provider": "groq",
        "state": "up",  # its one cycle had a success
        "state_since": iso_ms(NOW - timedelta(minutes=5)),
        "state_reason": "too few calls in the last hour for a success ratio",
        "uptime_1h": None,
        "uptime_24h": None,
        "uptime_7d": None,
        "calls": 2,
        "ok": 1,
        "success_rate": 0.5,
        "uptime": None,  # 2 calls: too few
        "p50_ms": 100.0,
        "p95_ms": 100.0,
        "p50_ttft_ms": None,
        "p95_ttft_ms": None,
        "p50_tokens_per_s": None,
        "advertised_ttft_ms": None,
        "advertised_tokens_per_s": None,
        "ttft_vs_advertised": None,
        "speed_vs_advertised": None,
        "failed_while_live": 0,
        "cost_usd": None,
        "cost_per_day_usd": None,
        "answered": 1,
        "answer_correct_rate": 1.0,
        "errors": {"timeout": 1},
    }
    assert data["warnings"] == [] and data["problems"] == []


def test_render_json_is_one_line() -> None:
    text = render.render_json(status_of(State()))
    assert text.endswith("\n") and text.count("\n") == 1


@pytest.mark.parametrize(("counter", "left"), [(0, 6), (1, 5), (5, 1), (6, 6), (7, 5), (12, 6)])
def test_cycles_until_push(counter: int, left: int) -> None:
    assert status_of(State(cycle_counter=counter))["cycles_until_push"] == left


def test_before_the_first_cycle() -> None:
    data = status_of(State())
    assert data["last_cycle"] is None and data["last_push"] is None
    assert data["last_error"] is None
    assert data["cron_stale"] is False
    assert data["providers"] == [] and data["window_rows"] == 0
    [warning] = data["warnings"]
    assert warning.startswith("no cycle has run yet with STATE_DIR ")
    assert data["faults"] == [warning] and data["healthy"] is False  # cron may never run it


@pytest.mark.parametrize(
    ("age", "stale"),
    [(timedelta(minutes=9), False), (timedelta(minutes=10), False), (timedelta(minutes=11), True)],
)
def test_stale_cron_warning_after_twice_the_interval(age: timedelta, stale: bool) -> None:
    data = status_of(State(cycle_counter=3, last_cycle=summary(started=NOW - age)))
    assert data["cron_stale"] is stale
    expected = (
        [
            "the last cycle started 11 min ago, more than twice SCHEDULE_INTERVAL_SECONDS (300 s): "
            "is cron running?"
        ]
        if stale
        else []
    )
    assert data["warnings"] == expected


def test_a_push_time_that_is_not_a_time_has_no_age() -> None:
    data = status_of(State(cycle_counter=2, last_push=PushNote("not a time")))
    assert data["last_push"] == {
        "at": "not a time",
        "rows": None,
        "commit_url": None,
        "age_s": None,
    }


def test_interrupted_last_cycle_is_a_warning() -> None:
    interrupted = dataclasses.replace(summary(), interrupted=True)
    data = status_of(State(cycle_counter=1, last_cycle=interrupted))
    started = data["last_cycle"]["started"]  # the stored cycle, named: a later one may fail
    assert data["warnings"] == [
        f"the last stored cycle, at {started}, was interrupted before all its calls ended"
    ]


def test_problems_of_the_snapshot_are_passed_on() -> None:
    data = status_of(State(), problems=["buffer.csv line 9: torn"])
    assert data["problems"] == ["buffer.csv line 9: torn"]


def test_scrub_reaches_every_string_of_the_status() -> None:
    token = "hf_" + "a" * 34
    state = State(cycle_counter=1, last_error=ErrorNote(iso_ms(NOW), "push", f"401 for {token}"))
    data = status_of(state, [make_row(f"echo-{token}")], problems=[f"bad {token}"])
    clean = report.scrub_all(data, Scrubber([token]))
    assert token not in json.dumps(clean)
    assert clean["last_error"]["message"] == "401 for [REDACTED]"
    assert clean["providers"][0]["provider"] == "echo-[REDACTED]"
    assert clean["problems"] == ["bad [REDACTED]"]


# --- rendering --------------------------------------------------------------------------------


def full_status() -> dict[str, Any]:
    state = State(
        cycle_counter=13,
        last_cycle=summary(2, started=NOW - timedelta(hours=2)),
        last_push=PushNote(
            iso_ms(NOW - timedelta(minutes=30)),
            rows=120,
            commit_url="https://huggingface.co/datasets/me/m/commit/abc",
        ),
        last_error=ErrorNote(iso_ms(NOW), "push", "HTTP 503 [bold]x[/bold]"),
    )
    rows = [
        make_row("groq", duration_ms="120.0"),
        make_row("cerebras", error_class="timeout", answer_correct=""),
    ]
    return status_of(
        state, rows, buffer_rows=2, pending_batches=1, pending_rows=7, problems=["torn row"]
    )


def test_text_shows_every_part_of_the_summary() -> None:
    text = render.render_text(full_status(), color=False)
    for expected in (
        "me/inference-metrics",
        "data/{date}/{probe_id}-{batch_id}.csv",
        "300 s",
        "test-probe",
        "13",
        "next push in 5 cycles",
        "2 rows, 2 ok, 0 failed, 1.5 s",
        "2 h ago",
        "2 rows",
        "1 batch, 7 rows",
        "https://huggingface.co/datasets/me/m/commit/abc",
        "120 rows",
        "HTTP 503 [bold]x[/bold]",  # data is never read as rich markup
        "is cron running?",
        "torn row",
        "last 24 h",
    ):
        assert expected in text, expected
    # worst first: cerebras (0% success) above groq
    assert text.index("cerebras") < text.index("groq")
    assert "\x1b[" not in text


def test_text_provider_table_columns() -> None:
    text = render.render_text(full_status(), color=False)
    groq_line = next(line for line in text.splitlines() if "groq" in line)
    assert "100.0%" in groq_line and "120" in groq_line
    cerebras_line = next(line for line in text.splitlines() if "cerebras" in line)
    assert "0.0%" in cerebras_line and "timeout 1" in cerebras_line


def test_text_has_colour_only_when_asked() -> None:
    assert "\x1b[" in render.render_text(full_status(), color=True)


def test_text_before_the_first_cycle() -> None:
    text = render.render_text(status_of(State()), color=False)
    assert "no cycle has run yet" in text
    assert "no rows in the last 24 h" in text
    assert "never" in text  # last push


def test_plain_text_has_no_trailing_spaces() -> None:
    text = render.render_text(full_status(), color=False)
    assert all(line == line.rstrip() for line in text.splitlines())


def test_text_says_which_tokens_are_set_without_showing_them() -> None:
    text = render.render_text(full_status(), color=False)
    assert "HF_TOKEN set, HF_HUB_TOKEN not set" in text


def test_pairs_skipped_on_purpose_are_not_provider_failures() -> None:
    """[no_chat_route] providers and the fallback turned off make rows without a call: they
    must not rank among the worst providers."""
    from tests.rows import make_row

    rows = [
        make_row(0, provider="groq"),
        make_row(0, provider="nebius", error_class="unmapped_provider"),
    ]
    found = stats.provider_stats(rows, now=datetime(2026, 11, 27, 10, 1, tzinfo=UTC), hours=24)
    assert [s.provider for s in found] == ["groq"]


def test_at_80_columns_the_commit_url_is_whole_on_its_own_line() -> None:
    status = full_status()
    url = "https://huggingface.co/datasets/some-org/inference-metrics-long-name/commit/" + "f" * 40
    status["last_push"]["commit_url"] = url
    for color in (False, True):
        text = render.render_text(status, color=color, width=80)
        assert any(line.rstrip().endswith(url) for line in text.splitlines()), text


def _crowded_status() -> dict[str, Any]:
    measured = {  # the widest figures the catalog table meets in practice
        "ttft_ms": "12345.6", "output_tokens_per_s": "1234.5", "advertised_status": "live",
        "advertised_ttft_ms": "320", "advertised_tokens_per_s": "55.5", "cost_usd": "12.3456",
        "streamed": "true",
    }  # fmt: skip
    rows = [
        make_row("fireworks-ai", duration_ms="1234.5", **measured),
        make_row("fireworks-ai", error_class="timeout", answer_correct=""),
        make_row("fireworks-ai", error_class="http_error", answer_correct=""),
        make_row("featherless-ai", duration_ms="98765.4"),
        make_row("groq", duration_ms="120.0"),
    ]
    return status_of(State(cycle_counter=1), rows)


def test_at_80_columns_the_provider_table_keeps_whole_names_and_fits() -> None:
    for color in (False, True):
        text = render.render_text(_crowded_status(), color=color, width=80)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
        assert all(len(line) <= 80 for line in plain.splitlines()), plain
        assert "…" not in plain, plain
        for name in ("fireworks-ai", "featherless-ai", "groq"):
            line = next(line for line in plain.splitlines() if name in line)
            assert "up" in line and "%" in line, line
        assert "timeout 1" in plain and "http_error 1" in plain


@pytest.mark.parametrize("width", [80, 100, 110, 125, 129, 130, 160])
def test_the_catalog_table_keeps_every_figure_whole_at_any_width(width: int) -> None:
    narrow = ("12,346", "38.58x", "1234.5", "22.24x", "$12.3456")
    wide = (*narrow, "320", "55.5")  # the advertised figures, with room for them
    for color in (False, True):
        text = render.render_text(_crowded_status(), color=color, width=width)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
        catalog = plain[plain.index("Measured against the router's catalog") :]
        assert all(len(line) <= width for line in catalog.splitlines()), catalog
        assert "…" not in catalog, catalog
        line = next(line for line in catalog.splitlines() if "fireworks-ai" in line)
        for figure in wide if width >= render.CATALOG_WIDE else narrow:
            assert figure in line, (figure, line)
        assert "featherless-ai" in catalog


def test_a_wide_terminal_shows_every_provider_column() -> None:
    text = render.render_text(_crowded_status(), color=False, width=140)
    header = next(line for line in text.splitlines() if "provider" in line)
    for name in ("calls", "success", "uptime", "p50 ms", "p95 ms", "TTFT", "tok/s", "answer"):
        assert name in header, header


def test_the_commit_url_follows_the_last_push_line() -> None:
    lines = render.render_text(full_status(), color=False).splitlines()
    push = next(i for i, line in enumerate(lines) if line.startswith("Last push"))
    assert lines[push + 1].startswith("Commit")
