"""Every Hub fault at both steps of a push (preupload, commit): one clear line, exit 1, every
row kept, and the next push lands them once (issue 6 #7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inference_tracker import hub as hub_module
from inference_tracker.csvfile import read_csv
from inference_tracker.record import Row
from inference_tracker.store import Store
from tests.fakes.hub import FakeHub
from tests.helpers import error_lines, error_of, run_cli
from tests.hub_helpers import HUB_TOKEN, REPO, assert_each_once, dataset_rows, fake_pauses
from tests.rows import cycle_rows, summary_of

FAULTS = {
    401: "Hub refused the commit: 401 Invalid credentials in Authorization header",
    403: "Hub refused the commit: 403 You don't have the rights to create a commit in this repository",
    404: f"dataset {REPO} not found at",
    412: "Hub refused the commit: 412 ",
    429: "Hub refused the commit: 429 You have exceeded our hourly quotas",
    500: "Hub failed: 500 Internal Error",
    "hang": "Hub unreachable at",
    "reset": "Hub connection failed at",
}
# What the retried step of a commit (preupload) says when a 429 outlasts the retries.
RETRIED = {429: "Hub busy at the commit after retries: 429 You have exceeded our hourly quotas"}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    pauses = fake_pauses(monkeypatch)
    monkeypatch.setattr(hub_module, "DEFAULT_LIMITS", hub_module.HubLimits(2.0, 0.5))
    with FakeHub(tokens={HUB_TOKEN: "write"}) as fake:
        fake.pauses = pauses  # type: ignore[attr-defined]  # the CLI's retry pauses
        fake.create_repo(REPO)
        monkeypatch.setenv("HF_HUB_TOKEN", HUB_TOKEN)
        monkeypatch.setenv("HF_DATASET_REPO_ID", REPO)
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


def buffered(tmp_path: Path, cycles: int = 2) -> list[Row]:
    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    rows: list[Row] = []
    for cycle in range(cycles):
        stored = cycle_rows(cycle)
        store.append_cycle(stored, summary_of(stored))
        rows += stored
    return rows


@pytest.mark.parametrize(
    "template", ["data/{date}/{probe_id}-{batch_id}.csv", "metrics.csv"], ids=["shards", "append"]
)
@pytest.mark.parametrize("endpoint", ["preupload", "commit"])
@pytest.mark.parametrize("fault", list(FAULTS), ids=str)
def test_hub_fault_then_recovery(
    hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: int | str,
    endpoint: str,
    template: str,
) -> None:
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", template)
    expected = buffered(tmp_path)
    if fault == "hang":
        hub.hang(endpoint, times=None)
    elif fault == "reset":
        hub.reset(endpoint, times=None)
    else:
        assert isinstance(fault, int)
        hub.fail(endpoint, fault, times=None)

    result = run_cli("push")

    assert result.exit_code == 1, result.stderr
    kept = "push failed; the rows are kept for the next push: "
    retried = endpoint == "preupload" and fault in RETRIED  # a commit is never retried
    expected_line = RETRIED[fault] if retried else FAULTS[fault]
    assert error_of(result).startswith(kept + expected_line), result.stderr
    assert "Traceback" not in result.stderr and HUB_TOKEN not in result.stderr
    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    assert sum(len(read_csv(b.path).rows) for b in store.pending()) == len(expected)
    assert [f for f in hub.files(REPO) if f.endswith(".csv")] == []

    hub.clear_faults()
    more = cycle_rows(5)
    store.append_cycle(more, summary_of(more))
    assert run_cli("push").exit_code == 0
    assert run_cli("push").exit_code == 0  # nothing left: no second copy
    assert_each_once(dataset_rows(hub), expected + more)
    assert store.pending() == []


def test_library_chatter_is_json_lines_too(hub: FakeHub, tmp_path: Path) -> None:
    """huggingface_hub installs its own stderr handler on import and warns with
    warnings.warn; under cron every line must still be one JSON object (or the final error
    line). A subprocess: a fresh import. The library speaks when the Hub's YAML check of the
    card has warnings, and when a push fails at the commit."""
    import os
    import subprocess
    import sys

    buffered(tmp_path)
    hub.fail("validate-yaml", 200, body={"errors": [], "warnings": [{"message": "odd tag"}]})
    hub.fail("commit", 500, times=1, apply=True)
    env = {
        **os.environ,
        "HF_HUB_TOKEN": HUB_TOKEN,
        "HF_DATASET_REPO_ID": REPO,
        "HF_ENDPOINT": hub.url,
    }
    runs = [
        subprocess.run(
            [sys.executable, "-m", "inference_tracker", "push"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [1, 0]
    assert error_lines(runs[0].stderr)[0].startswith(
        "push failed; the rows are kept for the next push: Hub failed: 500"
    )
    lines = runs[0].stderr.splitlines() + runs[1].stderr.splitlines()
    library = [line for line in lines if '"event": "library"' in line]
    assert any("odd tag" in line for line in library), lines
    for line in lines:
        assert line.startswith("{"), line


def test_retries_of_the_hub_are_logged_and_never_waited_for_real(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "DEFAULT_LIMITS", hub_module.HubLimits())  # room to retry
    expected = buffered(tmp_path)
    hub.fail("preupload", 503, times=2)
    result = run_cli("push")
    assert result.exit_code == 0, result.stderr
    retries = [line for line in result.stderr.splitlines() if '"event": "hub_retry"' in line]
    assert len(retries) == 2 and "503 Service Unavailable" in retries[0]
    assert hub.pauses == [1.0, 2.0]  # type: ignore[attr-defined]
    assert_each_once(dataset_rows(hub), expected)


def test_a_successful_push_clears_the_push_error(hub: FakeHub, tmp_path: Path) -> None:
    buffered(tmp_path)
    hub.fail("commit", 500, times=None)
    assert run_cli("push").exit_code == 1
    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    assert store.read_state().last_error.where == "push"
    hub.clear_faults()
    assert run_cli("push").exit_code == 0
    assert store.read_state().last_error is None
