"""Hostile disk through the real `collect`: clear message, exit 1, nothing stored is damaged."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference_tracker.csvfile import read_csv
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import error_of, run_cli, use_router

TOKEN = "hf_" + "D1sk" * 9


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing({"org/m": ["groq", "together"]}))) as fake:
        use_router(monkeypatch, fake, TOKEN)
        yield fake


def test_disk_full_exits_1_and_keeps_what_was_stored(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("collect", "--no-push").exit_code == 0
    before = (tmp_path / "metrics_buffer.csv").read_bytes()
    state_before = (tmp_path / ".tracker" / "state.json").read_bytes()

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    result = run_cli("collect", "--no-push")
    monkeypatch.undo()
    assert result.exit_code == 1
    assert error_of(result) == (  # found before any call was made
        f"cannot store rows: cannot write a file in {tmp_path}: no space left on device"
    )
    assert len(router.seen) == 2  # the first cycle's calls only
    assert (tmp_path / "metrics_buffer.csv").read_bytes() == before
    assert (tmp_path / ".tracker" / "state.json").read_bytes() == state_before
    assert [p.name for p in tmp_path.glob(".*tmp*")] == []


def test_buffer_folder_that_cannot_be_created(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    monkeypatch.setenv("LOCAL_CSV_PATH", str(tmp_path / "blocker" / "sub" / "buf.csv"))
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert "cannot store rows: cannot create" in error_of(result)
    assert "blocker is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_state_is_recovered_not_reset(router: FakeRouter, tmp_path: Path) -> None:
    for _ in range(3):
        assert run_cli("collect", "--no-push").exit_code == 0
    (tmp_path / ".tracker" / "state.json").write_bytes(b"\x00\x00garbage{")
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    state = json.loads((tmp_path / ".tracker" / "state.json").read_text())
    assert state["cycle_counter"] == 4  # 3 cycles found on disk, plus this one
    warning = next(
        json.loads(line) for line in result.stderr.splitlines() if "store_warning" in line
    )
    assert "rebuilt from the files on disk: 3 cycles found" in warning["detail"]
    assert len(read_csv(tmp_path / "metrics_buffer.csv").rows) == 8


def test_status_with_a_state_dir_that_is_a_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state-file").write_text("not a folder")
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state-file"))
    result = run_cli("status", "--json")
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    status = json.loads(result.stdout)
    assert any("state-file" in problem for problem in status["problems"]), status["problems"]


def test_an_unusable_state_dir_stops_collect_before_any_call(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "afile"))
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert error_of(result).startswith("cannot store rows: cannot create")
    assert router.seen == []  # no billed call whose row could not be kept
