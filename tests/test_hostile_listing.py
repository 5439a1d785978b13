"""Hostile listings through the real `collect`: clear errors or skipped entries, no traceback."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference_tracker import cli
from inference_tracker.clock import Clock
from inference_tracker.csvfile import read_csv
from tests.fakes.router import FakeRouter, World, listing
from tests.fakes.slow_server import BEFORE_A_RESTART, LATE, LIMIT, late_trickling_server
from tests.helpers import ShiftedClock, error_of, run_cli, use_router

TOKEN = "hf_" + "H0st" * 9


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World()) as fake:
        use_router(monkeypatch, fake, TOKEN)
        yield fake


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"<!DOCTYPE html><html><body>Too many requests</body></html>", "is HTML, not JSON"),
        (json.dumps(listing({"org/m": ["groq"]})).encode()[:-20], "is not valid JSON"),
        (b'{"numTotalItems": 3}', "has no 'models' key"),
        (b'{"models": "lots"}', "'models' is not a list"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
    ],
)
def test_unusable_listing_skips_the_cycle(
    router: FakeRouter, tmp_path: Path, raw: bytes, message: str
) -> None:
    router.world.listing_raw = raw
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert error_of(result).startswith("model listing from ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics_buffer.csv").exists()
    assert router.seen == []


def test_bad_entries_are_skipped_and_the_rest_measured(router: FakeRouter, tmp_path: Path) -> None:
    good = listing({"org/good": ["groq"]})["models"][0]
    router.world.listing = {
        "models": [
            {
                "id": "org/a",
                "availableInferenceProviders": [
                    {"providerId": "x", "providerStatus": "live", "modelStatus": "live"}
                ],
            },
            {
                "id": "org/b",
                "availableInferenceProviders": [
                    {"provider": "groq", "providerStatus": "live", "modelStatus": "live"}
                ],
            },
            {"id": ["not", "a", "string"]},
            {
                "id": "org/c",
                "availableInferenceProviders": [
                    {"provider": 5, "providerId": {}, "providerStatus": True, "modelStatus": None}
                ],
            },
            good,
        ]
    }
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    [row] = read_csv(tmp_path / "metrics_buffer.csv").rows
    assert row["model_id"] == "org/good"
    events = [json.loads(line) for line in result.stderr.splitlines()]
    skipped = [e for e in events if e["event"].endswith("_entry_skipped")]
    assert len(skipped) == 4


def test_a_listing_down_for_a_moment_costs_no_cycle(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two 503s from the listing, then its answer: the cycle is measured, the retries are in
    the log, and the pauses (1 s, 3 s) are the clock's, not waited."""
    router.world.listing = listing({"org/m": ["groq"]})
    router.world.listing_fails = 2
    clock = ShiftedClock()
    monkeypatch.setattr(cli, "CLOCK", clock.clock())
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    assert [row["error_class"] for row in read_csv(tmp_path / "metrics_buffer.csv").rows] == ["ok"]
    events = [json.loads(line) for line in result.stderr.splitlines()]
    retries = [e for e in events if e["event"] == "listing_retry"]
    assert [(e["attempt"], e["retry_in_s"]) for e in retries] == [(1, 1.0), (2, 3.0)]
    assert all("answered HTTP 503" in e["error"] for e in retries)
    assert clock.pauses == [1.0, 3.0]


def test_a_signal_while_the_listing_waits_to_try_again_is_an_interruption(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM during the pause before the listing's next try: the run stops as interrupted
    (exit 143, cycle_interrupted), not as a failed listing recorded for status."""
    router.world.listing_fails = 5

    def pause_then_terminated(seconds: float) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the tracker's handler sets its stop event

    monkeypatch.setattr(cli, "CLOCK", Clock(sleep=pause_then_terminated))
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 143, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events if e["level"] == "error"] == []
    assert any(e["event"] == "cycle_interrupted" for e in events), events
    assert router.calls["listing"] == 1  # no try after the signal
    assert not (tmp_path / ".tracker" / "state.json").exists()  # nothing recorded as failed


def test_ten_thousand_models(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    router.world.listing = listing({f"org/m{i}": ["groq", "together"] for i in range(10_000)})
    monkeypatch.setenv("MODELS_TO_FETCH", "5")
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    assert len(read_csv(tmp_path / "metrics_buffer.csv").rows) == 10
    assert len(router.seen) == 10


def test_a_late_trickling_listing_cannot_hold_the_cycle_past_its_deadline(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYCLE_DEADLINE_SECONDS", str(LIMIT))
    with late_trickling_server(late=LATE) as base:
        monkeypatch.setenv("MODELS_API_URL", base + "/models-json")
        began = time.monotonic()
        result = run_cli("collect", "--no-push")
        took = time.monotonic() - began
    # Headers at LATE leave the body LIMIT - LATE: the run ends near LIMIT, its start-up
    # included. A budget restarted at the headers ends after LATE + LIMIT; the whole body, never.
    assert took < BEFORE_A_RESTART
    assert result.exit_code == 1
    assert "model listing from" in error_of(result) and "did not arrive whole" in result.stderr
    assert router.seen == []
