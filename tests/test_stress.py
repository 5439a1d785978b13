"""Spec section 8 under stress, against the real CLI in subprocesses, the fake router and the
fake Hub on 127.0.0.1: kill -9 at random moments, overlapping runs, signals mid-push."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inference_tracker.csvfile import read_csv
from inference_tracker.record import ROW_KEY
from tests.fakes.hub import FakeHub
from tests.fakes.router import FakeRouter, World, listing
from tests.hub_helpers import HUB_TOKEN, REPO, dataset_rows, keys

pytestmark = pytest.mark.slow

TOKEN = "hf_" + "Str3ss" * 6
PAIRS = {f"org/model-{i}": ["groq", "together", "novita"] for i in range(3)}


@dataclass
class Fakes:
    router: FakeRouter
    hub: FakeHub
    env: dict[str, str]


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[Fakes]:
    rng = random.Random(7)
    behaviours = {
        p: {"kind": "ok", "latency": round(rng.uniform(0.0, 0.4), 2)}
        for p in ("groq", "together", "novita")
    }
    with (
        FakeRouter(World(listing=listing(PAIRS), behaviours=behaviours)) as router,
        FakeHub(tokens={HUB_TOKEN: "write"}, hang_limit=300) as hub,
    ):
        hub.create_repo(REPO)
        env = {
            **os.environ,
            "HF_TOKEN": TOKEN,
            "HF_HUB_TOKEN": HUB_TOKEN,
            "HF_DATASET_REPO_ID": REPO,
            "HF_ENDPOINT": hub.url,
            "MODELS_API_URL": router.listing_url,
            "ROUTER_BASE_URL": router.url,
            "MAX_RETRIES": "0",
            "PUSH_INTERVAL_CYCLES": "3",
            "PROBE_ID": "stress",
        }
        yield Fakes(router, hub, env)


def start(fakes: Fakes, cwd: Path, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "inference_tracker", *args],
        cwd=cwd,
        env={**fakes.env, **extra},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def rows_on_disk(folder: Path) -> set[tuple[str, ...]]:
    """Keys of every row in the buffer, pending and archive; every file must parse whole."""
    files = [folder / "metrics_buffer.csv", *sorted((folder / ".tracker").glob("*/*.csv"))]
    found: set[tuple[str, ...]] = set()
    for path in files:
        read = read_csv(path)
        assert read.problems == [], read.problems
        found.update(tuple(row[name] for name in ROW_KEY) for row in read.rows)
    return found


def hub_keys(hub: FakeHub) -> list[tuple[str, ...]]:
    return keys(dataset_rows(hub))


class Watched:
    """A tracker run whose stderr (JSON log lines) is read as it comes, event by event."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.events: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                event = str(json.loads(line)["event"])
            except (ValueError, KeyError, TypeError):
                event = "?"
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self.events.append("<eof>")
            self._changed.notify_all()

    def wait_for(self, event: str, timeout: float) -> bool:
        """True once `event` was logged; False when the run ended (or `timeout` passed) first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: event in self.events or "<eof>" in self.events, timeout
            ) and (event in self.events)


# Where a kill lands: right after one of these events, plus a random moment more.
KILL_AFTER = {
    "collect": (
        "cycle_started",
        "models_fetched",
        "calls_started",
        "call_succeeded",
        "cycle_finished",
    ),
    "push": ("push_started",),
}
PAUSE_AFTER = {"collect": 0.3, "push": 0.05}  # a push is over in a few tens of ms
KILLS_WANTED = {"collect": 8, "push": 4}


def unpushed(folder: Path) -> bool:
    pending = folder / ".tracker" / "pending"
    return (folder / "metrics_buffer.csv").exists() or any(pending.glob("*.csv"))


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
    fakes: Fakes, tmp_path: Path
) -> None:
    """Kill -9 collect and push runs at seeded random points until enough kills have landed
    inside a cycle or a push (a run that ended before its kill point does not count), then
    check that every row ever stored reaches the Hub exactly once. The number of kills is an
    outcome the loop waits for, not what a fixed time allowed."""
    rng = random.Random(20261127)
    ever_on_disk: set[tuple[str, ...]] = set()
    landed = {"collect": 0, "push": 0}
    give_up = time.monotonic() + 600  # a generous bound; a normal run needs well under 60 s
    runs = 0
    while any(landed[c] < KILLS_WANTED[c] for c in landed):
        assert time.monotonic() < give_up and runs < 200, f"kills landed: {landed}"
        runs += 1
        wanted = [c for c in landed if landed[c] < KILLS_WANTED[c]]
        command = "push" if "push" in wanted and rng.random() < 0.3 else "collect"
        command = command if command in wanted else wanted[0]
        if command == "push" and not unpushed(tmp_path):
            command = "collect"  # a push with nothing to send has nothing to interrupt
        point = rng.choice(KILL_AFTER[command])
        pause = rng.uniform(0.0, PAUSE_AFTER[command])
        run = Watched(start(fakes, tmp_path, command))
        if run.wait_for(point, timeout=60):
            time.sleep(pause)
            if run.proc.poll() is None:
                run.proc.kill()
        run.proc.wait(timeout=60)
        if run.proc.returncode == -signal.SIGKILL:
            landed[command] += 1
        else:
            assert run.proc.returncode == 0, (command, run.proc.returncode, run.events)
        ever_on_disk |= rows_on_disk(tmp_path)
    final = start(fakes, tmp_path, "push")
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err.decode()
    on_hub = hub_keys(fakes.hub)
    assert len(on_hub) == len(set(on_hub)), "a row landed twice"
    assert set(on_hub) == ever_on_disk | rows_on_disk(tmp_path)
    assert not (tmp_path / "metrics_buffer.csv").exists()
    assert list((tmp_path / ".tracker" / "pending").iterdir()) == []


def test_overlapping_collects_and_a_manual_push(fakes: Fakes, tmp_path: Path) -> None:
    fakes.router.world.default = {"kind": "ok", "latency": 1.0}
    fakes.router.world.behaviours = {}
    procs = []
    for i in range(4):
        procs.append(start(fakes, tmp_path, "collect", PUSH_INTERVAL_CYCLES="2"))
        time.sleep(0.3)
        if i == 1:
            procs.append(start(fakes, tmp_path, "push"))
    codes = []
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        codes.append((proc.returncode, err.decode()[-500:]))
    assert [code for code, _ in codes] == [0] * 5, codes
    final = start(fakes, tmp_path, "push")
    assert final.wait(timeout=60) == 0
    on_hub = hub_keys(fakes.hub)
    assert len(on_hub) == len(set(on_hub)) == 4 * 9
    assert len({k[0] for k in on_hub}) == 4  # four cycles
    state = (tmp_path / ".tracker" / "state.json").read_text()
    assert '"cycle_counter": 4' in state


def test_a_run_waiting_for_the_lock_says_so_then_proceeds(fakes: Fakes, tmp_path: Path) -> None:
    (tmp_path / ".tracker").mkdir()
    lock = os.open(tmp_path / ".tracker" / "push.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    run = Watched(start(fakes, tmp_path, "push"))
    assert run.wait_for("waiting_for_lock", timeout=60)
    proc = run.proc
    assert proc.poll() is None  # waiting, not failing, not skipping the lock
    fcntl.flock(lock, fcntl.LOCK_UN)
    os.close(lock)
    assert proc.wait(timeout=60) == 0
    assert "waiting_for_lock" in run.events


@pytest.mark.parametrize("applied", [False, True], ids=["commit-not-made", "commit-made"])
def test_sigterm_mid_push_loses_nothing_and_the_next_push_completes(
    fakes: Fakes, tmp_path: Path, applied: bool
) -> None:
    collect = start(fakes, tmp_path, "collect", "--no-push")
    assert collect.wait(timeout=60) == 0
    on_disk = rows_on_disk(tmp_path)
    assert len(on_disk) == 9
    fakes.hub.hang("commit", times=1, apply=applied)
    pusher = start(fakes, tmp_path, "push")
    deadline = time.monotonic() + 30
    while not fakes.hub.calls("commit") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fakes.hub.calls("commit"), "the push never reached the commit"
    pusher.send_signal(signal.SIGTERM)
    pusher.wait(timeout=60)
    assert pusher.returncode in (-signal.SIGTERM, 143)
    assert rows_on_disk(tmp_path) == on_disk
    again = start(fakes, tmp_path, "push")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    on_hub = hub_keys(fakes.hub)
    assert sorted(on_hub) == sorted(on_disk)
    history = list(reversed(fakes.hub.history(REPO)))  # oldest first
    wrote_rows = [
        new for old, new in itertools.pairwise(history)
        if any(old.files.get(path) != data for path, data in new.files.items()
               if path.endswith(".csv"))
    ]  # fmt: skip
    assert len(wrote_rows) == 1  # exactly one push wrote the rows, whichever made it


def test_sigterm_during_a_chained_push_ends_collect_promptly(fakes: Fakes, tmp_path: Path) -> None:
    fakes.hub.hang("commit", times=1)
    proc = start(fakes, tmp_path, "collect", PUSH_INTERVAL_CYCLES="1")
    deadline = time.monotonic() + 30
    while not fakes.hub.calls("commit") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fakes.hub.calls("commit"), "the chained push never reached the commit"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert time.monotonic() - sent < 30  # not held until the push's own 60 s limit
    assert proc.returncode in (-signal.SIGTERM, 143)
    stored = rows_on_disk(tmp_path)
    assert len(stored) == 9
    again = start(fakes, tmp_path, "push")
    assert again.wait(timeout=60) == 0
    assert sorted(hub_keys(fakes.hub)) == sorted(stored)


def test_a_chained_push_finding_another_push_running_leaves_it_the_work(
    fakes: Fakes, tmp_path: Path
) -> None:
    """A manual push holds the push lock: the cycle's rows are stored and go with the next
    push; collect neither waits a minute nor reports a failed push (exit 0, not 3)."""
    (tmp_path / ".tracker").mkdir()
    lock = os.open(tmp_path / ".tracker" / "push.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        began = time.monotonic()
        proc = start(fakes, tmp_path, "collect", PUSH_INTERVAL_CYCLES="1")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        assert time.monotonic() - began < 40  # not the push lock's 60 s wait
        assert b'"event": "push_skipped"' in err and b"another push is running" in err
    finally:
        os.close(lock)
    assert len(rows_on_disk(tmp_path)) == 9
    assert start(fakes, tmp_path, "push").wait(timeout=60) == 0
    assert len(hub_keys(fakes.hub)) == 9
