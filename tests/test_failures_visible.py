"""Nothing fails silently: every failure of a cycle or a push reaches `status`, and collect
checks that its rows can be kept before it spends money on calls (issue 10, parts 2 and 3)."""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inference_tracker import cli
from inference_tracker.clock import Clock
from inference_tracker.csvfile import read_csv
from inference_tracker.errors import StoreError
from inference_tracker.state import State
from inference_tracker.store import Store
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import error_of, run_cli, use_router
from tests.rows import make_row, summary_of

TOKEN = "hf_" + "Fa1l" * 9


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing({"org/m": ["groq", "together"]}))) as fake:
        use_router(monkeypatch, fake, TOKEN)
        yield fake


def status_json(*args: str) -> dict[str, Any]:
    result = run_cli("status", "--json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def store_at(tmp_path: Path) -> Store:
    return Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")


# --- collect checks before spending ----------------------------------------------------------


def test_a_buffer_that_cannot_be_written_stops_collect_before_any_call_and_status_says_so(
    router: FakeRouter, tmp_path: Path
) -> None:
    (tmp_path / "metrics_buffer.csv").mkdir()  # a folder where the buffer file should be
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert error_of(result) == ("cannot store rows: metrics_buffer.csv is a folder, not a file")
    assert router.seen == []
    status = status_json()
    assert status["last_error"]["where"] == "store"
    assert "metrics_buffer.csv is a folder" in status["last_error"]["message"]
    assert any("could not store" in w for w in status["warnings"]), status["warnings"]


def test_a_disk_that_takes_no_file_stops_collect_before_any_call(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert error_of(result).startswith("cannot store rows: ")
    assert "no space left on device" in result.stderr.splitlines()[-1]
    assert router.seen == []
    assert [p.name for p in tmp_path.rglob(".probe*")] == []  # the probe file was removed


@contextlib.contextmanager
def full_disk() -> Iterator[None]:
    """The file system is full: no new file, no byte more to a file; a file that exists can be
    opened (a lock) and what it holds written over. (Python's open, io.open and os.open: the
    tracker writes with them.)"""
    real_open, real_os_open = builtins.open, os.open

    def no_space() -> OSError:
        return OSError(errno.ENOSPC, "No space left on device")

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wxa"):
            raise no_space()
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        new = flags & os.O_CREAT and not os.path.exists(path)
        if new or flags & (os.O_TRUNC | os.O_APPEND):
            raise no_space()
        return real_os_open(path, flags, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", fake_open)
        patch.setattr(io, "open", fake_open)
        patch.setattr(os, "open", fake_os_open)
        yield


def test_a_full_disk_is_recorded_where_status_finds_it(router: FakeRouter, tmp_path: Path) -> None:
    """Neither state.json nor a new last_failure.json can be written on a full disk: the
    failure still reaches status, which must not say "Last error none" and blame cron."""
    assert run_cli("collect", "--no-push").exit_code == 0
    with full_disk():
        result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert "no space left on device" in error_of(result)
    assert len(router.seen) == 2  # the first cycle only: nothing spent on rows not kept
    status = status_json()
    assert status["last_error"]["where"] == "store"
    assert "no space left on device" in status["last_error"]["message"]
    assert any("could not store its rows" in w for w in status["warnings"]), status["warnings"]
    assert run_cli("collect", "--no-push").exit_code == 0  # space again: the record goes
    assert status_json()["last_error"] is None


def test_a_storage_folder_that_became_a_file_is_blamed_not_cron(tmp_path: Path) -> None:
    """Cycles stop when STATE_DIR is a file: that is what status --check must say, not "is
    cron running?" (cron runs; every cycle fails before it can record why)."""
    now = datetime.now(UTC)
    store = store_at(tmp_path)
    rows = [make_row(0, start=now - timedelta(minutes=30))]
    store.append_cycle(rows, summary_of(rows))
    shutil.rmtree(tmp_path / ".tracker")
    (tmp_path / ".tracker").write_text("")
    result = run_cli("status", "--check")
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("FAIL: ") and ".tracker" in line and "not a folder" in line, line
    assert "is cron running" not in line


def test_a_state_json_that_is_a_folder_is_recorded_where_status_finds_it(
    router: FakeRouter, tmp_path: Path
) -> None:
    assert run_cli("collect", "--no-push").exit_code == 0
    state_file = tmp_path / ".tracker" / "state.json"
    state_file.unlink()
    state_file.mkdir()
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert "state.json is a folder, not a file" in result.stderr.splitlines()[-1]
    assert len(router.seen) == 2  # the first cycle only
    status = status_json()
    assert status["last_error"]["where"] == "store"
    assert "state.json is a folder" in status["last_error"]["message"]
    assert any("state.json" in p for p in status["problems"]), status["problems"]


def test_rows_stored_but_state_not_written_says_exactly_that(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(self: Store, state: State) -> None:
        raise StoreError(f"cannot write {self.state_file}: no space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "write_state", cannot)
        result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    last = error_of(result)
    assert last.startswith("the 2 rows of this cycle are stored in metrics_buffer.csv,")
    assert "the cycle counter did not advance" in last
    assert "no space left on device" in last
    assert len(read_csv(tmp_path / "metrics_buffer.csv").rows) == 2
    status = status_json()
    assert status["last_error"]["where"] == "state"
    assert status["buffer_rows"] == 2


def test_a_stored_cycle_clears_the_recorded_failure(router: FakeRouter, tmp_path: Path) -> None:
    (tmp_path / "metrics_buffer.csv").mkdir()
    assert run_cli("collect", "--no-push").exit_code == 1
    (tmp_path / "metrics_buffer.csv").rmdir()
    assert run_cli("collect", "--no-push").exit_code == 0
    status = status_json()
    assert status["last_error"] is None
    assert not any("could not store" in w for w in status["warnings"])


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("HF_TOKEN", "", "HF_TOKEN is not set"),
        ("MAX_TOKENS_DEFAULT", "abc", "invalid setting MAX_TOKENS_DEFAULT"),
    ],
)
def test_a_configuration_error_under_cron_reaches_status_and_cron_is_not_blamed(
    router: FakeRouter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: str,
    said: str,
) -> None:
    """An edited .env that breaks collect: every cron run exits 2 before its cycle. status
    must say so, not ask whether cron runs; the next stored cycle clears it."""
    assert run_cli("collect", "--no-push").exit_code == 0
    monkeypatch.setenv("SCHEDULE_INTERVAL_SECONDS", "10")
    with monkeypatch.context() as patch:
        patch.setenv(setting, value)
        result = run_cli("collect", "--no-push")
    assert result.exit_code == 2
    status = status_json()
    assert status["last_error"]["where"] == "config"
    assert said in status["last_error"]["message"]
    later = datetime.now(UTC) + timedelta(minutes=5)  # cron looks stale by now
    with monkeypatch.context() as patch:
        patch.setattr(cli, "CLOCK", Clock(wall=lambda: later))
        check = run_cli("status", "--check")
    assert check.exit_code == 1
    assert said in check.stdout and "is cron running" not in check.stdout, check.stdout
    assert run_cli("collect", "--no-push").exit_code == 0
    assert status_json()["last_error"] is None


def test_a_configuration_error_is_recorded_only_where_a_tracker_already_runs(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron line without `cd` runs collect in $HOME with no .env: HF_TOKEN unset there must
    not make a .tracker folder where no tracker ever ran. A mistyped --models-file in a run by
    hand is a usage error of that run, not a fault of the tracker cron runs."""
    monkeypatch.delenv("HF_TOKEN")
    assert run_cli("collect", "--no-push").exit_code == 2
    assert not (tmp_path / ".tracker").exists()
    use_router(monkeypatch, router, TOKEN)
    assert run_cli("collect", "--no-push").exit_code == 0
    assert run_cli("collect", "--no-push", "--models-file", "nope.json").exit_code == 2
    assert status_json()["last_error"] is None


def test_an_unparsable_env_line_under_cron_is_still_one_json_line(
    router: FakeRouter, tmp_path: Path
) -> None:
    """A process of its own: python-dotenv logs through `logging`, which an in-process run
    would not show in the CLI's captured stderr."""
    assert run_cli("collect", "--no-push").exit_code == 0
    (tmp_path / ".env").write_text('HF_DATASET_PRIVATE=true\nBROKEN="no end\n')
    result = subprocess.run(
        [sys.executable, "-m", "inference_tracker", "collect", "--no-push"],
        cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert json.loads(line)["event"] == "config_error"


def test_a_models_file_that_does_not_exist_is_a_usage_error(router: FakeRouter) -> None:
    result = run_cli("collect", "--models-file", "nope.json")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()  # nothing else: no cycle started
    assert json.loads(line)["error"] == "--models-file nope.json: file not found"
    assert router.seen == []


# --- status shows every failure ---------------------------------------------------------------


def test_cron_is_not_blamed_when_cycles_run_but_fail_to_store(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = store_at(tmp_path)
    rows = [make_row(0, start=now - timedelta(minutes=30))]
    store.append_cycle(rows, summary_of(rows))
    store.note_error("store", "cannot store rows: no space left on device", now)
    status = status_json()
    assert status["cron_stale"] is True
    assert not any("is cron running" in w for w in status["warnings"]), status["warnings"]
    assert any(
        "could not store its rows" in w and "no space left" in w for w in status["warnings"]
    ), status["warnings"]
    [fault] = status["faults"]  # once, though cron looks stale too
    assert "could not store its rows" in fault
    line = run_cli("status", "--check").stdout
    assert "more problem" not in line and "no space left" in line, line


def test_pushes_failing_for_two_push_intervals_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASET_REPO_ID", "me/metrics")
    now = datetime.now(UTC)
    store = store_at(tmp_path)
    for minutes in (65, 35, 5):
        rows = [make_row(0, start=now - timedelta(minutes=minutes))]
        store.append_cycle(rows, summary_of(rows))
    store.note_error("push", "Hub failed: 503 Service Unavailable", now - timedelta(minutes=5))
    warnings = status_json()["warnings"]
    assert "pushes have failed for 1h 5m: Hub failed: 503 Service Unavailable" in warnings


def test_rows_waiting_less_than_two_push_intervals_are_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASET_REPO_ID", "me/metrics")
    now = datetime.now(UTC)
    store = store_at(tmp_path)
    rows = [make_row(0, start=now - timedelta(minutes=50))]  # 2 x 6 x 5 min = 60 min
    store.append_cycle(rows, summary_of(rows))
    assert not any("pushes have failed" in w for w in status_json()["warnings"])


def test_an_empty_listing_is_a_warning_in_the_log_and_in_status(
    router: FakeRouter, tmp_path: Path
) -> None:
    router.world.listing = listing({})
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stderr.splitlines()]
    [warning] = [e for e in events if e["event"] == "nothing_to_measure"]
    assert warning["models"] == 0 and warning["pairs"] == 0
    assert any("the last cycle measured nothing" in w for w in status_json()["warnings"])


def test_a_listing_without_live_pairs_is_a_warning_too(router: FakeRouter, tmp_path: Path) -> None:
    router.world.listing = listing({"org/m": ["groq"]}, extra_status="error")
    assert run_cli("collect", "--no-push").exit_code == 0
    warnings = status_json()["warnings"]
    assert any("1 model listed, no live (model, provider) pair" in w for w in warnings), warnings


def test_status_says_which_folder_env_file_and_state_dir_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = status_json()["settings"]
    assert settings["working_folder"] == str(tmp_path)
    assert settings["env_file"] is None
    assert settings["state_dir"] == str(tmp_path / ".tracker")
    (tmp_path / ".env").write_text("PROBE_ID=from-env-file\n")
    monkeypatch.delenv("PROBE_ID")
    settings = status_json()["settings"]
    assert settings["env_file"] == str(tmp_path / ".env")
    text = run_cli("status").stdout
    assert f"working folder {tmp_path}" in text and f".env {tmp_path / '.env'}" in text


def test_a_hand_edited_state_with_impossible_values_is_a_problem(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    rows = [make_row(0)]
    store.append_cycle(rows, summary_of(rows))
    store.state_file.write_text(json.dumps({"cycle_counter": -3}))
    status = status_json()
    assert status["cycle_counter"] == 1
    assert any("rebuilt" in p and "not a count" in p for p in status["problems"])


def test_status_finds_a_storage_folder_it_could_not_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv("LOCAL_CSV_PATH", str(tmp_path / "blocker" / "buf.csv"))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    status = status_json()
    assert not status["healthy"]
    [fault] = status["faults"]
    assert "blocker" in fault and "not a folder" in fault
    assert "the next cycle cannot store its rows" in fault
    result = run_cli("status", "--check")
    assert result.exit_code == 1
    assert result.stdout.startswith("FAIL: ") and "not a folder" in result.stdout


def test_a_folder_this_user_cannot_write_is_a_warning_not_a_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monitoring agent often runs as another user than cron: what it cannot write, cron may.
    (os.access is answered for the folder, so the test holds when run as root too.)"""
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("LOCAL_CSV_PATH", str(locked / "buf.csv"))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    rows = [make_row(0, start=datetime.now(UTC) - timedelta(minutes=1))]
    Store(locked / "buf.csv", tmp_path / "state").append_cycle(rows, summary_of(rows))
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        return Path(path) != locked and real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    status = status_json()
    check = run_cli("status", "--check")
    monkeypatch.undo()
    assert any("not writable" in w for w in status["warnings"]), status["warnings"]
    assert status["faults"] == [] and status["healthy"]
    assert check.exit_code == 0, check.stdout


# --- status --check ----------------------------------------------------------------------------


def test_check_fails_while_no_cycle_has_ever_run(tmp_path: Path) -> None:
    """A pinger set up where cron never ran collect (cron not installed, or the pinger in
    another folder) must not read OK for ever: it names the STATE_DIR it looked in."""
    result = run_cli("status", "--check")
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("FAIL: no cycle has run yet")
    assert str((tmp_path / ".tracker").absolute()) in line and "cron" in line


def test_check_is_ok_for_a_healthy_tracker_whatever_the_providers_do(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = store_at(tmp_path)
    rows = [make_row(0, start=now - timedelta(minutes=1), error_class="timeout")]
    store.append_cycle(rows, summary_of(rows))  # a provider failing is data, not a fault
    result = run_cli("status", "--check")
    assert result.exit_code == 0
    assert result.stdout.startswith("OK: the tracker is healthy (last cycle ")
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize("cause", ["cron stale", "rows not stored", "pushes failing"])
def test_check_fails_with_one_line_for_each_unhealthy_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cause: str
) -> None:
    now = datetime.now(UTC)
    store = store_at(tmp_path)
    if cause == "pushes failing":  # rows from 3 h ago still wait for a push
        monkeypatch.setenv("HF_DATASET_REPO_ID", "me/metrics")
        old = [make_row(0, start=now - timedelta(hours=3), model="org/old")]
        store.append_cycle(old, summary_of(old))
        store.note_error("push", "Hub failed: 503 Service Unavailable", now)
    minutes = {"cron stale": 30, "rows not stored": 3, "pushes failing": 3}[cause]
    rows = [make_row(0, start=now - timedelta(minutes=minutes))]
    store.append_cycle(rows, summary_of(rows))
    if cause == "rows not stored":
        store.note_error("store", "cannot store rows: no space left on device", now)
    result = run_cli("status", "--check")
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    expected = {
        "cron stale": "is cron running?",
        "rows not stored": "could not store its rows: cannot store rows: no space left",
        "pushes failing": "pushes have failed for 3h: Hub failed: 503",
    }[cause]
    assert line.startswith("FAIL: ") and expected in line, line
