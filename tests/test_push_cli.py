"""`tracker push` and collect's chained push, end to end: the real CLI, the fake Hub, the real
huggingface_hub client, and (for whole cycles) the fake router."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference_tracker import hub as hub_module
from inference_tracker.csvfile import read_csv
from inference_tracker.errors import StoreError
from inference_tracker.record import Row
from inference_tracker.store import Store
from tests.fakes.hub import FakeHub
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import error_lines, error_of, run_cli, use_router
from tests.hub_helpers import (
    HUB_TOKEN,
    INFERENCE_TOKEN,
    REPO,
    assert_each_once,
    dataset_rows,
    fake_pauses,
)
from tests.rows import cycle_rows, summary_of

PAIRS = {"org/model-0": ["groq", "together"], "org/model-1": ["groq", "together"]}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub(tokens={HUB_TOKEN: "write"}) as fake:
        fake.create_repo(REPO)
        monkeypatch.setenv("HF_HUB_TOKEN", HUB_TOKEN)
        monkeypatch.setenv("HF_DATASET_REPO_ID", REPO)
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return fake_pauses(monkeypatch)


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing(PAIRS))) as fake:
        use_router(monkeypatch, fake, INFERENCE_TOKEN)
        monkeypatch.setenv("MAX_RETRIES", "0")
        yield fake


def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")


def buffer_cycles(tmp_path: Path, count: int) -> list[Row]:
    rows: list[Row] = []
    for cycle in range(count):
        stored = cycle_rows(cycle)
        store(tmp_path).append_cycle(stored, summary_of(stored))
        rows += stored
    return rows


def waiting_rows(tmp_path: Path) -> int:
    local = store(tmp_path)
    return len(local.buffer_rows().rows) + sum(len(read_csv(b.path).rows) for b in local.pending())


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


# --- tracker push ---------------------------------------------------------------------------


def test_push_uploads_the_buffer_and_says_so_in_the_log(hub: FakeHub, tmp_path: Path) -> None:
    expected = buffer_cycles(tmp_path, 3)
    result = run_cli("push")
    assert result.exit_code == 0, result.stderr
    said = json.loads(result.stdout)  # not a terminal: the result as one JSON object
    assert said["rows"] == 12 and said["repo_id"] == REPO and said["commit_url"].startswith("http")
    assert_each_once(dataset_rows(hub), expected)
    pushed = [e for e in events(result.stderr) if e["event"] == "pushed"]
    assert len(pushed) == 1 and pushed[0]["rows"] == 12
    assert pushed[0]["commit_url"] == store(tmp_path).read_state().last_push.commit_url
    assert waiting_rows(tmp_path) == 0


def test_push_with_nothing_to_push_exits_0_without_calling_the_hub(hub: FakeHub) -> None:
    result = run_cli("push")
    assert result.exit_code == 0, result.stderr
    assert hub.requests == []


def test_push_without_hf_hub_token_is_a_config_error_even_with_hf_token(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_TOKEN")
    monkeypatch.setenv("HF_TOKEN", INFERENCE_TOKEN)
    buffer_cycles(tmp_path, 1)
    result = run_cli("push")
    assert result.exit_code == 2
    assert error_of(result) == (
        "HF_HUB_TOKEN is not set; push needs a write token for the dataset"
        " (HF_TOKEN is never used for pushing)"
    )
    assert len(result.stderr.splitlines()) == 1
    assert hub.requests == [] and waiting_rows(tmp_path) == 4


def test_push_without_a_dataset_is_a_config_error(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_DATASET_REPO_ID")
    result = run_cli("push")
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        "HF_DATASET_REPO_ID is not set; push needs the dataset to write to,"
        " e.g. me/inference-metrics"
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("case", ["401", "404", "refused", "hang"])
def test_a_failed_push_exits_1_with_one_clear_line_and_loses_nothing(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    buffer_cycles(tmp_path, 2)
    if case == "401":
        hub.tokens = {}
        expected = (
            "Hub refused GET /api/datasets/me/inference-metrics/revision/main: 401 Invalid"
            " credentials in Authorization header (check HF_HUB_TOKEN)"
        )
    elif case == "404":
        monkeypatch.setenv("HF_DATASET_REPO_ID", "me/x")
        words = "You don't have the rights to create a dataset under this namespace"
        hub.fail("create", 403, body={"error": words}, headers={"X-Error-Message": words})
        expected = (
            f"dataset me/x does not exist at {hub.url} and could not be created:"
            f" 403 {words} (check HF_DATASET_REPO_ID and that HF_HUB_TOKEN may create"
            " datasets there)"
        )
    elif case == "refused":
        endpoint = f"http://127.0.0.1:{_closed_port()}"
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        expected = f"Hub unreachable at {endpoint}: connection refused"
    else:
        hub.hang("*")
        monkeypatch.setattr(hub_module, "DEFAULT_LIMITS", hub_module.HubLimits(1.0, 0.3))
        expected = f"Hub unreachable at {hub.url}: no answer within 0.3 s"

    result = run_cli("push")

    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"push failed; the rows are kept for the next push: {expected}"
    ]
    assert json.loads(result.stderr.splitlines()[-1])["exit_code"] == 1
    assert "Traceback" not in result.stderr and HUB_TOKEN not in result.stderr
    assert waiting_rows(tmp_path) == 8
    assert store(tmp_path).read_state().last_error.message == expected

    if case != "404":
        return
    monkeypatch.setenv("HF_DATASET_REPO_ID", REPO)  # fixed: the next push sends everything
    assert run_cli("push").exit_code == 0
    assert len(dataset_rows(hub)) == 8


def test_the_default_limits_fail_a_dead_hub_in_about_a_minute() -> None:
    assert hub_module.DEFAULT_LIMITS.total_seconds <= 60
    assert hub_module.DEFAULT_LIMITS.request_seconds < hub_module.DEFAULT_LIMITS.total_seconds


def test_push_in_a_subprocess_uses_hf_hub_token_only(hub: FakeHub, tmp_path: Path) -> None:
    """The real entry point, in a clean process: no HF_TOKEN fallback, no stored login."""
    expected = buffer_cycles(tmp_path, 1)
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text("hf_" + "StoredLogin0" * 3)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_TOKEN": INFERENCE_TOKEN,
        "HF_HUB_TOKEN": HUB_TOKEN,
        "HF_DATASET_REPO_ID": REPO,
        "HF_ENDPOINT": hub.url,
        "PROBE_ID": "test-probe",
    }
    done = subprocess.run(
        [sys.executable, "-m", "inference_tracker", "push"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_each_once(dataset_rows(hub), expected)
    assert hub.tokens_seen == {HUB_TOKEN}
    assert HUB_TOKEN not in done.stdout + done.stderr and INFERENCE_TOKEN not in done.stderr


# --- collect chains into push -----------------------------------------------------------------


def test_collect_chains_into_push_when_the_counter_reaches_the_interval(
    hub: FakeHub, router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "2")
    assert run_cli("collect").exit_code == 0
    assert hub.calls("commit") == []
    result = run_cli("collect")
    assert result.exit_code == 0, result.stderr
    assert len(hub.calls("commit")) == 1
    assert len(dataset_rows(hub)) == 8 and waiting_rows(tmp_path) == 0


def test_collect_no_push_never_pushes(
    hub: FakeHub, router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
    assert run_cli("collect", "--no-push").exit_code == 0
    assert hub.requests == [] and waiting_rows(tmp_path) == 4


def test_a_failed_chained_push_exits_3_and_keeps_the_rows(
    hub: FakeHub, router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
    hub.tokens = {}
    result = run_cli("collect")
    assert result.exit_code == 3
    assert error_lines(result.stderr) == [
        "push failed; the rows are kept for the next push:"
        " Hub refused GET /api/datasets/me/inference-metrics/revision/main: 401 Invalid"
        " credentials in Authorization header (check HF_HUB_TOKEN)"
    ]
    assert waiting_rows(tmp_path) == 4


def test_a_chained_push_without_hf_hub_token_exits_3_naming_it(
    hub: FakeHub, router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
    monkeypatch.delenv("HF_HUB_TOKEN")
    result = run_cli("collect")
    assert result.exit_code == 3
    [line] = error_lines(result.stderr)
    assert line.startswith("push failed; the rows are kept for the next push: HF_HUB_TOKEN")
    assert hub.requests == [] and waiting_rows(tmp_path) == 4


@pytest.mark.parametrize("template", ["data/{date}/{probe_id}-{batch_id}.csv", "metrics.csv"])
@pytest.mark.parametrize("fault", ["commit refused", "commit landed, answer lost"])
def test_six_cycles_with_hub_failures_and_repeated_pushes_hold_every_row_once(
    hub: FakeHub,
    router: FakeRouter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    template: str,
    fault: str,
) -> None:
    """The issue's "done when": six cycles, a Hub failure at the first push, every row once."""
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "3")
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", template)
    monkeypatch.setenv("HF_TOKEN", INFERENCE_TOKEN)
    codes = []
    for cycle in range(1, 7):
        if cycle == 3:
            hub.fail("commit", 500, apply=fault == "commit landed, answer lost")
        result = run_cli("collect")
        codes.append(result.exit_code)
        assert HUB_TOKEN not in result.stdout + result.stderr
        assert INFERENCE_TOKEN not in result.stdout + result.stderr
    assert codes == [0, 0, 3, 0, 0, 0]
    again = run_cli("push")  # a push with nothing new changes nothing
    assert again.exit_code == 0, again.stderr

    local = store(tmp_path)
    pushed = [row for path in local.archived() for row in read_csv(path).rows]
    assert len(pushed) == 24 and waiting_rows(tmp_path) == 0
    assert len({row["cycle_timestamp_iso"] for row in pushed}) == 6
    assert_each_once(dataset_rows(hub), pushed)
    assert hub.tokens_seen == {HUB_TOKEN}
    assert all(s.headers.get("Authorization") == f"Bearer {INFERENCE_TOKEN}" for s in router.seen)


@pytest.mark.parametrize("private", [False, True])
def test_the_first_push_creates_the_dataset(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private: bool
) -> None:
    expected = buffer_cycles(tmp_path, 2)
    monkeypatch.setenv("HF_DATASET_REPO_ID", "me/new-metrics")
    monkeypatch.setenv("HF_DATASET_PRIVATE", str(private).lower())
    result = run_cli("push")
    assert result.exit_code == 0, result.stderr
    created = [line for line in result.stderr.splitlines() if '"dataset_created"' in line]
    visibility = "private" if private else "public"
    assert len(created) == 1 and f'"visibility": "{visibility}"' in created[0]
    assert hub.repo("me/new-metrics").private is private
    assert_each_once(dataset_rows(hub, "me/new-metrics"), expected)


def _state_json_becomes_a_folder_at_the_commit(hub: FakeHub, tmp_path: Path) -> None:
    state_file = tmp_path / ".tracker" / "state.json"
    hub.before("commit", lambda: (state_file.unlink(), state_file.mkdir()))


def test_a_push_that_landed_but_could_not_be_recorded_says_so(hub: FakeHub, tmp_path: Path) -> None:
    """The commit landed, then state.json could not take the push: the line must say the
    rows are in the dataset, never that they are kept for the next push (issue 10, part 2)."""
    rows = buffer_cycles(tmp_path, 2)
    _state_json_becomes_a_folder_at_the_commit(hub, tmp_path)
    result = run_cli("push")
    assert result.exit_code == 1
    [line] = error_lines(result.stderr)
    assert line.startswith(f"the push landed: {len(rows)} rows are in {REPO} (")
    assert "but it could not be recorded" in line and "state.json" in line
    assert "kept for the next push" not in line
    assert_each_once(dataset_rows(hub), rows)
    failure = store(tmp_path).last_failure()  # where status finds what state.json could not take
    assert failure is not None and (failure.where, failure.message) == ("push", line)


def test_a_chained_push_that_landed_but_could_not_be_recorded_says_so(
    hub: FakeHub, router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
    _state_json_becomes_a_folder_at_the_commit(hub, tmp_path)
    result = run_cli("collect")
    assert result.exit_code == 3
    [line] = error_lines(result.stderr)
    assert line.startswith(f"the push landed: 4 rows are in {REPO} (")
    assert "kept for the next push" not in line
    assert len(dataset_rows(hub)) == 4


@pytest.mark.parametrize(
    "template", ["data/{date}/{probe_id}-{batch_id}.csv", "metrics.csv"], ids=["shards", "append"]
)
def test_a_batch_pushed_but_not_archived_lands_once_with_the_next_push(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    """The README's promise for a push that landed but could not be recorded: the batch stays
    pending, the next push sends it again, and the dataset still holds each row once."""
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", template)
    rows = buffer_cycles(tmp_path, 2)

    def cannot_archive(self: Store, batches: object, now: object) -> None:
        raise StoreError("cannot move a batch: no space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "archive", cannot_archive)
        first = run_cli("push")
    assert first.exit_code == 1 and "the push landed" in error_of(first)
    assert waiting_rows(tmp_path) == len(rows)  # still pending
    assert run_cli("push").exit_code == 0
    assert waiting_rows(tmp_path) == 0
    assert_each_once(dataset_rows(hub), rows)
