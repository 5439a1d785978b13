"""Process-level behaviour of collect: signals, and a prompt exit with threads stuck in sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference_tracker.csvfile import read_csv
from tests.fakes.router import FakeRouter, World, listing

TOKEN = "hf_" + "S1gnal" * 6


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    world = World(
        listing=listing({"org/m": ["fast1", "fast2", "slow"]}),
        behaviours={"slow": {"kind": "hang"}},
    )
    with FakeRouter(world) as fake:
        yield fake


def start(
    router: FakeRouter, tmp_path: Path, **extra: str
) -> tuple[subprocess.Popen[str], list[str]]:
    env = {
        **os.environ,
        "HF_TOKEN": TOKEN,
        "MODELS_API_URL": router.listing_url,
        "ROUTER_BASE_URL": router.url,
        "MAX_RETRIES": "0",
        "PROBE_ID": "sig",
        **extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference_tracker", "collect", "--no-push"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(lines: list[str], event: str, count: int = 1, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = sum(1 for line in lines if f'"event": "{event}"' in line)
        if seen >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {event} in {lines}")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_cycle_stores_what_was_measured(
    router: FakeRouter, tmp_path: Path, sig: int, code: int
) -> None:
    proc, lines = start(router, tmp_path)
    wait_for(lines, "call_succeeded", count=2)
    sent = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    assert time.monotonic() - sent < 30  # not held by the hanging call until the deadline
    stored = read_csv(tmp_path / "metrics_buffer.csv")
    assert stored.problems == []
    assert sorted(r["provider_name"] for r in stored.rows) == ["fast1", "fast2"]
    assert all(r["error_class"] == "ok" for r in stored.rows)
    state = json.loads((tmp_path / ".tracker" / "state.json").read_text())
    assert state["last_cycle"]["interrupted"] is True
    assert TOKEN not in "".join(lines)


def test_process_exits_promptly_with_a_thread_stuck_in_a_socket(
    router: FakeRouter, tmp_path: Path
) -> None:
    began = time.monotonic()
    proc, _ = start(router, tmp_path, CYCLE_DEADLINE_SECONDS="4")  # fast calls end well before
    assert proc.wait(timeout=60) == 0
    assert time.monotonic() - began < 60  # the stuck thread would hold it for an hour
    stored = {r["provider_name"]: r for r in read_csv(tmp_path / "metrics_buffer.csv").rows}
    assert stored["slow"]["error_class"] == "deadline"
    assert stored["fast1"]["error_class"] == "ok"


def test_after_a_signal_calls_not_yet_started_never_start_and_nothing_waits_for_them(
    tmp_path: Path,
) -> None:
    world = World(
        listing=listing({"org/m": [f"p{i}" for i in range(6)]}),
        default={"kind": "ok", "latency": 0.4},
    )
    with FakeRouter(world) as slow:
        proc, lines = start(slow, tmp_path, MAX_CONCURRENCY="1")
        wait_for(lines, "call_succeeded", count=1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        assert len(slow.seen) <= 2
    assert len(read_csv(tmp_path / "metrics_buffer.csv").rows) == len(slow.seen)


def test_after_a_signal_the_wait_ends_when_no_call_is_in_flight() -> None:
    """Calls not yet started are not waited for: with none in flight the grace is not spent."""
    from inference_tracker.clock import Clock
    from inference_tracker.cycle import STOP_GRACE_SECONDS, _wait

    now = [0.0]
    waits: list[float] = []

    class Done(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            now[0] += timeout or 0.0
            return False

    stop = threading.Event()
    stop.set()
    clock = Clock(monotonic=lambda: now[0])
    assert _wait(Done(), stop, deadline=240.0, clock=clock, busy=lambda: False) is True
    assert waits == []
    in_flight = [True]
    assert _wait(Done(), stop, deadline=240.0, clock=clock, busy=lambda: in_flight[0]) is True
    assert 0 < sum(waits) <= STOP_GRACE_SECONDS + 0.2  # a call in flight gets the grace, no more
