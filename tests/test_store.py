from __future__ import annotations

import csv
import json
import multiprocessing
import os
from datetime import timedelta
from pathlib import Path

import pytest

from inference_tracker.csvfile import decode_rows, encode_rows, read_csv
from inference_tracker.errors import StoreError
from inference_tracker.record import COLUMNS, CycleSummary
from inference_tracker.store import FAILURE_RECORD_BYTES, Store, batch_id_for
from tests.rows import T0, cycle_rows, make_row

SUMMARY = CycleSummary(started="2026-11-27T10:00:00.000Z", rows=4, ok=4, failed=0, duration_s=0.1)


def store_at(tmp_path: Path, warnings: list[str] | None = None) -> Store:
    told = warnings if warnings is not None else []
    return Store(
        tmp_path / "buf.csv", tmp_path / ".tracker", lock_timeout=2, on_warning=told.append
    )


def test_append_writes_the_header_once_and_counts_cycles(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    assert store.append_cycle(cycle_rows(0), SUMMARY) == 1
    assert store.append_cycle(cycle_rows(1), SUMMARY) == 2
    data = (tmp_path / "buf.csv").read_bytes()
    assert data.count(b"cycle_timestamp_iso,model_id") == 1
    assert data.startswith(",".join(COLUMNS).encode() + b"\r\n")
    read = store.buffer_rows()
    assert read.problems == [] and len(read.rows) == 8
    assert store.read_state().cycle_counter == 2
    assert store.read_state().last_cycle == SUMMARY


def test_rfc4180_round_trip(tmp_path: Path) -> None:
    nasty = 'a,b "quoted" \r\n new line, \x00 nul, émoji 🙂'
    store = store_at(tmp_path)
    store.append_cycle([make_row(body=nasty)], SUMMARY)
    with open(tmp_path / "buf.csv", encoding="utf-8", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["response_body_raw"] == nasty
    assert list(row) == list(COLUMNS)


def test_no_temp_files_are_left(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    leftovers = [p.name for p in tmp_path.rglob(".*tmp*")]
    assert leftovers == []


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.ensure_dirs()
    (tmp_path / ".buf.csv.tmp-99999").write_bytes(b"half a row")
    (tmp_path / ".tracker" / ".state.json.tmp-99999").write_bytes(b"{")
    (tmp_path / ".editor.swp.tmp-1").write_bytes(b"someone else's")
    store.append_cycle(cycle_rows(0), SUMMARY)
    assert not (tmp_path / ".buf.csv.tmp-99999").exists()
    assert not (tmp_path / ".tracker" / ".state.json.tmp-99999").exists()
    assert (tmp_path / ".editor.swp.tmp-1").exists()


def test_a_torn_last_row_is_reported_not_raised() -> None:
    whole = encode_rows(cycle_rows(0), header=True)
    torn = whole + encode_rows([make_row(5)], header=False)[:40]
    read = decode_rows(torn, "buf.csv")
    assert len(read.rows) == 4
    assert len(read.problems) == 1 and "buf.csv line" in read.problems[0]


def test_a_buffer_of_another_layout_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "buf.csv").write_text("when,what\n2025,x\n")
    warnings: list[str] = []
    store = store_at(tmp_path, warnings)
    store.append_cycle(cycle_rows(0), SUMMARY)
    assert len(store.buffer_rows().rows) == 4
    aside = list(tmp_path.glob("buf.csv.other-schema-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith("when,what\n")
    assert "another column layout" in warnings[0]


def _append_many(args: tuple[str, int]) -> None:
    folder, worker = args
    store = Store(Path(folder) / "buf.csv", Path(folder) / ".tracker", lock_timeout=30)
    for cycle in range(5):
        store.append_cycle(cycle_rows(worker * 100 + cycle), SUMMARY)


def test_overlapping_processes_each_count_once_and_lose_nothing(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append_many, [(str(tmp_path), w) for w in range(4)])
    store = store_at(tmp_path)
    read = store.buffer_rows()
    assert read.problems == []
    assert len(read.rows) == 4 * 5 * 4
    assert (
        len({(r["cycle_timestamp_iso"], r["model_id"], r["provider_name"]) for r in read.rows})
        == 80
    )
    assert store.read_state().cycle_counter == 20


def test_lock_wait_is_bounded_and_says_so(tmp_path: Path) -> None:
    waits: list[str] = []
    holder = store_at(tmp_path)
    waiter = Store(
        tmp_path / "buf.csv", tmp_path / ".tracker", lock_timeout=0.2, on_wait=waits.append
    )
    message = r"another tracker run holds .*lock; gave up after 0.2 s"
    with holder.data_lock(), pytest.raises(StoreError, match=message), waiter.data_lock():
        pass
    assert waits == ["data lock"]
    with waiter.data_lock():  # free again once the holder is done
        pass


def test_unwritable_buffer_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    store = Store(tmp_path / "not-a-dir" / "buf.csv", tmp_path / ".tracker")
    with pytest.raises(StoreError, match=r"cannot create .*not-a-dir"):
        store.append_cycle(cycle_rows(0), SUMMARY)


def test_disk_full_keeps_the_old_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    before = (tmp_path / "buf.csv").read_bytes()
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreError, match="no space left on device"):
        store.append_cycle(cycle_rows(1), SUMMARY)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert (tmp_path / "buf.csv").read_bytes() == before
    assert store.read_state().cycle_counter == 1


def test_corrupt_state_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    for cycle in range(3):
        store.append_cycle(cycle_rows(cycle), SUMMARY)
    store.state_file.write_text("{not json")
    state = store.read_state()
    assert state.cycle_counter == 3
    assert state.last_error is not None
    assert "rebuilt from the files on disk" in state.last_error.message
    assert store.append_cycle(cycle_rows(3), SUMMARY) == 4


def test_seal_moves_the_buffer_to_a_deterministic_pending_batch(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    data = (tmp_path / "buf.csv").read_bytes()
    batch = store.seal()
    assert batch is not None
    assert batch.id == batch_id_for(cycle_rows(0), data)
    assert batch.id.startswith("20261127T100000Z-")
    assert len(read_csv(batch.path).rows) == 4 and batch.first_cycle == T0
    assert not (tmp_path / "buf.csv").exists()
    assert store.pending() == [batch]
    assert store.seal() is None
    store.append_cycle(cycle_rows(1), SUMMARY)
    assert store.buffer_rows().rows[0]["cycle_timestamp_iso"].startswith("2026-11-27T10:05")


def test_same_content_same_batch_id() -> None:
    """Two separate seals of the same rows (a push repeated after a crash) agree."""
    rows = cycle_rows(0)
    data = encode_rows(rows, header=True)
    again = cycle_rows(0)
    assert batch_id_for(rows, data) == batch_id_for(again, encode_rows(again, header=True))
    other = encode_rows(cycle_rows(1), header=True)
    assert batch_id_for(rows, data) != batch_id_for(cycle_rows(1), other)


def test_archive_moves_batches_and_prunes_after_seven_days(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    old = store.seal()
    assert old is not None
    store.archive([old], T0 - timedelta(days=8))
    store.append_cycle(cycle_rows(1), SUMMARY)
    new = store.seal()
    assert new is not None
    store.archive([new], T0)
    assert store.pending() == []
    assert [p.name for p in store.archived()] == [new.path.name]
    assert len(read_csv(store.archived()[0]).rows) == 4


def test_state_file_is_json(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    assert json.loads(store.state_file.read_text())["cycle_counter"] == 1


def test_recovery_rebuilds_the_last_cycle_and_dates_what_it_says(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    for cycle in range(2):
        store.append_cycle(cycle_rows(cycle), SUMMARY)
    batch = store.seal()
    assert batch is not None
    store.archive([batch], T0)
    rows = cycle_rows(2)
    rows[0]["error_class"] = "timeout"
    rows[1]["error_class"] = "unmapped_provider"  # not called on purpose: not a failure
    store.append_cycle(rows, SUMMARY)
    store.state_file.write_text("[]")
    state = store.read_state()
    assert state.cycle_counter == 3
    assert state.last_cycle == CycleSummary(rows[0]["cycle_timestamp_iso"], 4, 2, 1, skipped=1)
    assert state.last_error is not None and state.last_error.at is not None
    assert state.last_error.at.endswith("Z")
    assert state.last_push is not None and state.last_push.at == "2026-11-27T10:00:00.000Z"


def test_a_batch_file_not_named_by_seal_still_has_a_first_cycle(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.ensure_dirs()
    (store.pending_dir / "by-hand.csv").write_bytes(encode_rows(cycle_rows(2), header=True))
    [batch] = store.pending()
    assert batch.first_cycle == T0 + timedelta(minutes=10)


def test_the_original_tools_buffer_is_carried_over_not_set_aside(tmp_path: Path) -> None:
    """An existing .env keeps working, so its buffer (the seed's 14 columns) is kept: the old
    rows are padded to the 21 columns and go with the next push."""
    seed = (
        ",".join(COLUMNS[:14])
        + "\n"
        + ",".join(["2026-01-01T00:00:00.000Z", "org/old"] + ["x"] * 12)
        + "\n"
    )
    (tmp_path / "buf.csv").write_text(seed)
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    read = store.buffer_rows()
    assert read.problems == []
    assert [r["model_id"] for r in read.rows][:1] == ["org/old"]
    assert read.rows[0]["probe_id"] == "" and len(read.rows) == 5
    assert list(tmp_path.glob("buf.csv.other-schema-*")) == []


def test_a_buffer_saved_with_lf_line_ends_is_kept(tmp_path: Path) -> None:
    data = encode_rows(cycle_rows(0), header=True).replace(b"\r\n", b"\n")
    (tmp_path / "buf.csv").write_bytes(data)
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(1), SUMMARY)
    assert len(store.buffer_rows().rows) == 8
    assert list(tmp_path.glob("buf.csv.other-schema-*")) == []


def test_rows_that_are_not_ours_are_reported_not_kept() -> None:
    """An unclosed quote swallows the next row into one field: field counts can still match,
    so rows are checked for a cycle timestamp and an error class of ours."""
    good = encode_rows(cycle_rows(0), header=True)
    swallowed = good + b'2026-01-01,"unterminated\r\n' + encode_rows(cycle_rows(1), header=False)
    read = decode_rows(swallowed, "buf.csv")
    assert read.problems and all("buf.csv line" in p for p in read.problems)
    assert read.rows[:4] == cycle_rows(0)
    assert all(row["cycle_timestamp_iso"].startswith("2026-11-27T10:") for row in read.rows)


def test_a_buffer_damaged_from_outside_is_repaired_before_appending(tmp_path: Path) -> None:
    warnings: list[str] = []
    store = store_at(tmp_path, warnings)
    store.append_cycle(cycle_rows(0), SUMMARY)
    with open(tmp_path / "buf.csv", "ab") as buffer:
        buffer.write(b'2026-01-01,"unterminated\r\n')  # someone's editor, a full disk...
    store.append_cycle(cycle_rows(1), SUMMARY)
    read = store.buffer_rows()
    assert read.problems == []
    assert len(read.rows) == 8  # the good rows before, and every new one
    assert len(list(tmp_path.glob("buf.csv.damaged-*"))) == 1
    assert any("damaged" in w for w in warnings)


def test_an_intact_buffer_is_not_reparsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_at(tmp_path)
    store.append_cycle(cycle_rows(0), SUMMARY)
    import inference_tracker.store as module

    def no_parse(*args: object) -> None:
        raise AssertionError("parsed an intact buffer")

    monkeypatch.setattr(module, "decode_rows", no_parse)
    store.append_cycle(cycle_rows(1), SUMMARY)


def test_a_record_not_whole_in_the_original_tools_buffer_is_kept_in_a_copy(
    tmp_path: Path,
) -> None:
    """Carrying the original tool's buffer over rewrites it: a record that is not whole cannot
    go into the new layout, so the buffer as it was is set aside, as for a damaged buffer."""
    old = ",".join(["2026-01-01T00:00:00.000Z", "org/old"] + ["x"] * 12)
    seed = ",".join(COLUMNS[:14]) + "\n" + old + "\n" + old + ",one too many\n" + old + "\n"
    (tmp_path / "buf.csv").write_text(seed)
    warnings: list[str] = []
    store = store_at(tmp_path, warnings)
    store.append_cycle(cycle_rows(0), SUMMARY)
    assert len(store.buffer_rows().rows) == 2 + 4
    [copy] = tmp_path.glob("buf.csv.damaged-*")
    assert copy.read_text() == seed
    assert any(str(copy) in warning and "2 good rows" in warning for warning in warnings)


@pytest.mark.parametrize(
    "message", ["x" * 5000, "\x00" * 5000, "\udc80" * 5000, "\U0001f600" * 5000, "disk full"]
)
def test_a_failure_record_is_always_its_full_size_and_reads_back(
    tmp_path: Path, message: str
) -> None:
    """last_failure.json must keep its size, whatever the message, to be written over in
    place on a full disk; and status must read it back."""
    store = Store(tmp_path / "b.csv", tmp_path / "state")
    store.ensure_dirs()
    store.state_file.mkdir()  # state.json cannot take the error: last_failure.json does
    assert store.note_error("store", message, T0)
    assert store.failure_file.stat().st_size == FAILURE_RECORD_BYTES
    failure = store.last_failure()
    assert failure is not None and failure.where == "store"
    assert failure.message and message.startswith(failure.message)
