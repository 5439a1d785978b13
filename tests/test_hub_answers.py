"""A Hub that answers 200 with something else than what the client expects: one clear line,
exit 1 (collect: 3), every row kept, no traceback (issue 10, part 6). Every response a push
or a check reads is fuzzed with wrong types and missing keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference_tracker import cli
from inference_tracker import hub as hub_module
from inference_tracker.clock import Clock
from inference_tracker.csvfile import read_csv
from inference_tracker.store import Store
from tests.fakes.hub import FakeHub
from tests.helpers import run_cli
from tests.hub_helpers import HUB_TOKEN, REPO, assert_each_once, dataset_rows
from tests.rows import cycle_rows, summary_of

SHARDS = "data/{date}/{probe_id}-{batch_id}.csv"
BODIES: list[Any] = [
    {},
    [],
    "text",
    None,
    7,
    {"files": "x"},
    {"files": [{"path": 3}]},
    {"files": [{"path": "p", "uploadMode": 5, "shouldIgnore": "no"}]},
    {"commitUrl": 5, "commitOid": []},
    {"commitUrl": None},
    {"sha": 12, "siblings": "x"},
    b"not json at all",
    b"",
]


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    monkeypatch.setattr(cli, "CLOCK", Clock(sleep=lambda seconds: None))
    monkeypatch.setattr(hub_module, "DEFAULT_LIMITS", hub_module.HubLimits(5.0, 2.0))
    with FakeHub(tokens={HUB_TOKEN: "write"}) as fake:
        fake.create_repo(REPO)
        monkeypatch.setenv("HF_HUB_TOKEN", HUB_TOKEN)
        monkeypatch.setenv("HF_DATASET_REPO_ID", REPO)
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


def buffered(tmp_path: Path) -> list[dict[str, str]]:
    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    rows = cycle_rows(0)
    store.append_cycle(rows, summary_of(rows))
    return rows


def unpushed(tmp_path: Path) -> int:
    files = [tmp_path / "metrics_buffer.csv", *(tmp_path / ".tracker" / "pending").glob("*.csv")]
    return sum(len(read_csv(path).rows) for path in files)


@pytest.mark.parametrize("template", [SHARDS, "metrics.csv"], ids=["shards", "append"])
@pytest.mark.parametrize("endpoint", ["preupload", "commit", "resolve", "info", "tree"])
@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_an_answer_of_the_wrong_shape_is_one_line_and_keeps_the_rows(
    hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    body: Any,
    template: str,
) -> None:
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", template)
    expected = buffered(tmp_path)
    hub.fail(endpoint, 200, body=body if body is not None else b"null", times=None)
    result = run_cli("push")
    assert "Traceback" not in result.stderr, result.stderr
    if result.exit_code == 0:  # the client never read that answer in this layout
        assert_each_once(dataset_rows(hub), expected)
        return
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(errors) <= 1, errors
    assert unpushed(tmp_path) == 4
    hub.clear_faults()
    assert run_cli("push").exit_code == 0
    assert_each_once(dataset_rows(hub), expected)


def test_a_commit_answer_without_commit_url_is_exit_3_for_collect(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.router import FakeRouter, World, listing

    with FakeRouter(World(listing=listing({"org/m": ["groq"]}))) as router:
        monkeypatch.setenv("MODELS_API_URL", router.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", router.url)
        monkeypatch.setenv("HF_TOKEN", "hf_" + "C0llect" * 5)
        monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
        hub.fail("commit", 200, body={"success": True})  # no commitUrl, no commitOid
        result = run_cli("collect")
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "Hub answer not understood (commit)" in result.stderr
    assert unpushed(tmp_path) == 1


@pytest.mark.parametrize("body", BODIES, ids=repr)
def test_check_reads_an_odd_whoami_as_a_failed_check(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, body: Any
) -> None:
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    monkeypatch.setenv("MODELS_API_URL", "http://127.0.0.1:9/models-json")  # nothing there
    hub.fail("whoami", 200, body=body if body is not None else b"null", times=None)
    result = run_cli("check", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code in (0, 1)
