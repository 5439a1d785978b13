"""`tracker status`: reads local files only, always exits 0, never prints a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inference_tracker.cli import app
from inference_tracker.csvfile import encode_rows
from inference_tracker.record import COLUMNS, CycleSummary, Row, iso_ms
from inference_tracker.state import PushNote, State
from inference_tracker.store import Store
from tests.helpers import error_of

TOKEN = "hf_" + "Q" * 34
HUB_TOKEN = "hf_" + "W" * 34


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCAL_CSV_PATH", str(tmp_path / "data" / "metrics_buffer.csv"))
    return Store(tmp_path / "data" / "metrics_buffer.csv", tmp_path / "data" / ".tracker")


def now() -> datetime:
    return datetime.now(UTC)


def make_row(provider: str, *, ago: timedelta = timedelta(minutes=5), **fields: str) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        cycle_timestamp_iso=iso_ms(now() - ago),
        model_id="org/model",
        provider_name=provider,
        duration_ms="250.0",
        error_class="ok",
        answer_correct="true",
        probe_id="test-probe",
    )
    row.update(fields)
    return row


def cycle_summary(rows: int, ago: timedelta = timedelta(minutes=2)) -> CycleSummary:
    return CycleSummary(iso_ms(now() - ago), rows=rows, ok=rows, failed=0, duration_s=2.0)


def write_batch(folder: Path, name: str, rows: list[Row]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_bytes(encode_rows(rows, header=True))


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["status", *args])


def tree(root: Path) -> dict[str, tuple[float, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_status_before_the_first_cycle_needs_no_token_and_writes_nothing(
    store: Store, tmp_path: Path
) -> None:
    result = run()
    assert result.exit_code == 0, result.stderr
    assert "no cycle has run yet" in result.stdout
    assert "next push in 6 cycles" in result.stdout
    assert "no rows in the last 24 h" in result.stdout
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_status_json_counts_buffer_pending_and_archive(store: Store) -> None:
    store.append_cycle(
        [make_row("groq"), make_row("groq", model_id="org/m2", error_class="timeout")],
        cycle_summary(2),
    )
    write_batch(store.pending_dir, "p1", [make_row("groq", ago=timedelta(hours=2))])
    write_batch(store.archive_dir, "a1", [make_row("cerebras", ago=timedelta(hours=5))])
    result = run("--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cycle_counter"] == 1
    assert data["cycles_until_push"] == 5
    assert data["buffer_rows"] == 2
    assert (data["pending_batches"], data["pending_rows"]) == (1, 1)
    assert data["last_cycle"]["rows"] == 2 and data["cron_stale"] is False
    assert data["window_hours"] == 24
    assert [(p["provider"], p["calls"], p["success_rate"]) for p in data["providers"]] == [
        ("groq", 3, pytest.approx(2 / 3, abs=1e-4)),
        ("cerebras", 1, 1.0),
    ]
    assert data["providers"][0]["p50_ms"] == 250.0
    assert data["warnings"] == [] and data["problems"] == []
    assert data["settings"]["hf_token_set"] is False


@pytest.mark.parametrize(("since", "hours", "calls"), [("1h", 1, 1), ("6h", 6, 2), ("7d", 168, 3)])
def test_since_picks_the_window(store: Store, since: str, hours: int, calls: int) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1))
    write_batch(store.pending_dir, "p1", [make_row("groq", ago=timedelta(hours=3))])
    write_batch(store.pending_dir, "p2", [make_row("groq", ago=timedelta(days=2))])
    data = json.loads(run("--json", "--since", since).stdout)
    assert data["window_hours"] == hours
    assert data["providers"][0]["calls"] == calls


def test_since_rejects_other_values(store: Store) -> None:
    result = run("--since", "3d")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert error_of(result) == "--since must be one of 1h, 6h, 24h, 7d (got '3d')"


def test_stale_cron_is_a_warning(store: Store) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1, ago=timedelta(minutes=11)))
    data = json.loads(run("--json").stdout)
    assert data["cron_stale"] is True
    text = run().stdout
    assert "more than twice SCHEDULE_INTERVAL_SECONDS (300 s): is cron running?" in text


def test_interval_setting_moves_the_stale_limit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1, ago=timedelta(minutes=11)))
    monkeypatch.setenv("SCHEDULE_INTERVAL_SECONDS", "600")
    assert json.loads(run("--json").stdout)["cron_stale"] is False


def test_damaged_buffer_is_reported_and_status_still_works(store: Store) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1))
    with store.buffer_path.open("ab") as buffer:
        buffer.write(b'2025-06-01T11:55:00.000Z,"unterminated quote\r\n')
    result = run()
    assert result.exit_code == 0, result.stderr
    assert "Problem:" in result.stdout and "metrics_buffer.csv" in result.stdout
    data = json.loads(run("--json").stdout)
    assert data["buffer_rows"] == 1
    assert len(data["problems"]) == 1 and "metrics_buffer.csv" in data["problems"][0]


def test_unreadable_state_is_reported(store: Store) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1))
    store.state_file.write_bytes(b"\x00garbage")
    data = json.loads(run("--json").stdout)
    assert data["cycle_counter"] == 1
    assert any("rebuilt from the files on disk" in p for p in data["problems"])
    assert data["last_error"]["where"] == "state"


def test_status_never_prints_a_secret(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_TOKEN", HUB_TOKEN)
    monkeypatch.setenv("HF_DATASET_REPO_ID", "me/metrics")
    store.append_cycle([make_row(f"echo{TOKEN}")], cycle_summary(1))

    def leak(state: State) -> None:
        # long enough that the text view wraps it: the token must not survive split in two
        state.note_error("push", f"401 {'x' * 100}{HUB_TOKEN}", now())
        state.last_push = PushNote(iso_ms(now()), rows=1, commit_url=f"u?{TOKEN}")

    store.update_state(leak)
    for args in ((), ("--json",)):
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        for output in (result.stdout, result.stderr):
            assert TOKEN not in output and HUB_TOKEN not in output
            assert "hf_QQQQ" not in output and "hf_WWWW" not in output  # not even wrapped
        assert "[REDACTED]" in result.stdout
    data = json.loads(run("--json").stdout)
    assert data["settings"]["hf_token_set"] is True
    assert data["settings"]["hf_hub_token_set"] is True
    assert data["settings"]["repo"] == "me/metrics"


def test_status_is_read_only(store: Store, tmp_path: Path) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1))
    write_batch(store.pending_dir, "p1", [make_row("groq")])
    store.state_file.write_text("{broken")  # even a damaged state is only reported, not repaired
    before = tree(tmp_path)
    assert run().exit_code == 0
    assert run("--json").exit_code == 0
    assert tree(tmp_path) == before


def test_plain_text_without_a_terminal(store: Store) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1))
    stdout = run().stdout
    assert "\x1b[" not in stdout
    assert "groq" in stdout and "100.0%" in stdout


def test_bad_setting_is_one_line_exit_2(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "abc")
    result = run()
    assert result.exit_code == 2
    assert result.stdout == ""
    assert error_of(result).startswith("invalid setting PUSH_INTERVAL_CYCLES")
    assert result.stderr.count("\n") == 1


def test_status_json_imports_neither_rich_nor_huggingface_hub(store: Store) -> None:
    store.append_cycle([make_row("groq")], cycle_summary(1))
    code = (
        "import sys\n"
        "from inference_tracker.cli import app\n"
        "try:\n"
        "    app(['status', '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'huggingface_hub'})\n"
        "print(heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["buffer_rows"] == 1
    assert done.stderr.strip() == "[]"


def test_a_reader_that_goes_away_is_not_an_error(store: Store) -> None:
    """`tracker status | head -1`: the pipe closes early; no traceback, exit 0."""
    store.append_cycle([make_row("groq")], cycle_summary(1))
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the child writes: its first write gets EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "inference_tracker", "status"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 0


def test_uptime_7d_covers_seven_days_whatever_the_window(store: Store) -> None:
    """uptime_7d and the 7-day baseline are the 7 days they are named for, not the table's
    window: a plain `status` (24 h) reads a week of the archive too."""
    models = [f"org/m{n}" for n in range(5)]
    store.append_cycle([make_row("groq", model_id=m) for m in models], cycle_summary(5))
    three_days = timedelta(days=3)
    old = [
        make_row("groq", ago=three_days, model_id=m, error_class="timeout", duration_ms="")
        for m in models
    ]
    write_batch(store.archive_dir, "a3", old)
    pushed = (now() - three_days + timedelta(minutes=6)).timestamp()
    os.utime(store.archive_dir / "a3.csv", (pushed, pushed))
    for window in ("24h", "7d"):
        [groq] = json.loads(run("--json", "--since", window).stdout)["providers"]
        assert groq["uptime_24h"] == 1.0, window
        assert groq["uptime_7d"] == 0.5, window


def test_check_reads_only_the_window_of_the_archive(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pinger runs --check every minute: provider states never change its answer, so it
    does not pay for the week of rows they need."""
    from inference_tracker import snapshot

    read: list[int] = []
    real = snapshot.read_snapshot

    def spy(*args: Any, hours: int, **kwargs: Any) -> snapshot.Snapshot:
        read.append(hours)
        return real(*args, hours=hours, **kwargs)

    monkeypatch.setattr(snapshot, "read_snapshot", spy)
    run("--check")
    run("--json")
    assert read == [24, 168]
