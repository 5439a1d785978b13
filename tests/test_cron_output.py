"""Cron logs a machine can read, and interruptions that say what happens (issue 10, parts 6
and 7). Under cron (stderr not a terminal) every line on stderr is one JSON object and a
failure is reported once; on a terminal the plain `Error: ...` line stays."""

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

from inference_tracker import cli, cycle
from tests.fakes.hub import FakeHub
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import ShiftedClock, run_cli, run_on_terminal, use_router
from tests.hub_helpers import HUB_TOKEN, REPO

TOKEN = "hf_" + "Cr0n" * 9


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing({"org/m": ["groq", "together"]}))) as fake:
        use_router(monkeypatch, fake, TOKEN)
        yield fake


def json_lines(stderr: str) -> list[dict[str, object]]:
    """Every line parsed as JSON: fails the test on a line that is not one object."""
    parsed = []
    for line in stderr.splitlines():
        event = json.loads(line)
        assert isinstance(event, dict), line
        parsed.append(event)
    return parsed


def errors(stderr: str) -> list[dict[str, object]]:
    return [event for event in json_lines(stderr) if event["level"] == "error"]


def test_a_listing_failure_is_one_json_error_line(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router.world.listing_status = 500
    monkeypatch.setattr(cli, "CLOCK", ShiftedClock().clock())
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    retries = [e for e in json_lines(result.stderr) if e["event"] == "listing_retry"]
    assert len(retries) == 2  # MAX_RETRIES, each a warning line; the failure is said once
    [error] = errors(result.stderr)
    assert error["event"] == "listing_failed" and error["exit_code"] == 1
    assert "answered HTTP 500" in str(error["error"])


def test_a_configuration_error_is_one_json_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELS_TO_FETCH", "lots")
    result = run_cli("status")
    assert result.exit_code == 2
    [error] = json_lines(result.stderr)
    assert error["event"] == "config_error" and error["exit_code"] == 2


def test_a_store_failure_is_one_json_error_line(router: FakeRouter, tmp_path: Path) -> None:
    (tmp_path / "metrics_buffer.csv").mkdir()
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    [error] = errors(result.stderr)
    assert error["event"] == "store_failed"


def test_a_failed_push_is_one_json_error_line(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHub(tokens={}) as hub:  # refuses every token
        hub.create_repo(REPO)
        monkeypatch.setenv("HF_HUB_TOKEN", HUB_TOKEN)
        monkeypatch.setenv("HF_DATASET_REPO_ID", REPO)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert run_cli("collect", "--no-push").exit_code == 0
        result = run_cli("push")
        assert result.exit_code == 1
        [error] = errors(result.stderr)
        assert error["event"] == "push_failed" and "401" in str(error["error"])
        assert "the rows are kept for the next push" in str(error["error"])
        monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
        chained = run_cli("collect")
        assert chained.exit_code == 3
        [error] = errors(chained.stderr)
        assert error["event"] == "push_failed" and error["exit_code"] == 3
        assert "the rows are kept for the next push" in str(error["error"])


def test_a_bug_is_one_json_line_with_a_scrubbed_traceback(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"bug with {TOKEN}")

    monkeypatch.setattr(cycle, "build_row", broken)
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    [error] = errors(result.stderr)
    assert error["event"] == "internal_error"
    assert "RuntimeError: bug with [REDACTED]" in str(error["traceback"])
    assert TOKEN not in result.stderr


def test_a_usage_error_under_cron_is_one_json_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "inference_tracker", "colect"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    [error] = json_lines(proc.stderr)
    assert error["event"] == "usage_error" and "colect" in str(error["error"])


def test_on_a_terminal_the_plain_error_line_stays(router: FakeRouter, tmp_path: Path) -> None:
    router.world.listing_status = 500
    env = {**os.environ, "MAX_RETRIES": "0"}  # a subprocess: its retry pauses would be real
    code, text = run_on_terminal("collect", "--no-push", env=env, cwd=tmp_path)
    assert code == 1
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: model listing answered HTTP 500")
    assert sum(1 for line in lines if "HTTP 500" in line) == 1  # once
    assert not any(line.startswith("{") for line in lines)


def test_push_prints_its_result_on_stdout_on_a_terminal_too(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHub(tokens={HUB_TOKEN: "write"}) as hub:
        hub.create_repo(REPO)
        env = {
            **os.environ,
            "HF_HUB_TOKEN": HUB_TOKEN,
            "HF_DATASET_REPO_ID": REPO,
            "HF_ENDPOINT": hub.url,
        }
        assert run_cli("collect", "--no-push").exit_code == 0
        code, text = run_on_terminal("push", env=env, cwd=tmp_path)
        assert code == 0, text
        assert f"Pushed 2 rows to {REPO}: {hub.url}" in text
        code, text = run_on_terminal("push", env=env, cwd=tmp_path)
        assert code == 0 and "Nothing to push." in text


# --- interruptions -------------------------------------------------------------------------------


class Run:
    """The real program in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inference_tracker", *args],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait(self) -> int:
        """The exit code, once every line the process wrote has been read."""
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=60)
        return code


def wait_for(lines: list[str], event: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(f'"event": "{event}"' in line for line in lines):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {event} in {lines}")


def test_ctrl_c_during_collect_says_at_once_that_it_finishes_the_calls_in_flight(
    tmp_path: Path,
) -> None:
    world = World(
        listing=listing({"org/m": ["fast", "slow"]}), behaviours={"slow": {"kind": "hang"}}
    )
    with FakeRouter(world) as router:
        env = {**os.environ, "HF_TOKEN": TOKEN, "MODELS_API_URL": router.listing_url,
               "ROUTER_BASE_URL": router.url, "MAX_RETRIES": "0"}  # fmt: skip
        run = Run(["collect", "--no-push"], env, tmp_path)
        wait_for(run.lines, "call_succeeded")
        run.proc.send_signal(signal.SIGINT)
        assert run.wait() == 130
    lines = run.lines
    events = [json.loads(line)["event"] for line in lines]
    assert events.index("stopping") < events.index("cycle_finished")
    stopping = json.loads(next(line for line in lines if '"stopping"' in line))
    assert stopping["signal"] == "SIGINT" and "calls in flight" in stopping["detail"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_push_says_the_rows_are_kept(
    router: FakeRouter, tmp_path: Path, sig: int, code: int
) -> None:
    assert run_cli("collect", "--no-push").exit_code == 0
    with FakeHub(tokens={HUB_TOKEN: "write"}, hang_limit=120) as hub:
        hub.create_repo(REPO)
        hub.hang("commit", times=1)
        env = {**os.environ, "HF_HUB_TOKEN": HUB_TOKEN, "HF_DATASET_REPO_ID": REPO,
               "HF_ENDPOINT": hub.url}  # fmt: skip
        run = Run(["push"], env, tmp_path)
        end = time.monotonic() + 60
        while not hub.calls("commit") and time.monotonic() < end:
            time.sleep(0.02)
        run.proc.send_signal(sig)
        assert run.wait() == code
    [error] = errors("".join(run.lines))
    assert error["event"] == "push_interrupted"
    assert "every row is kept and goes with the next push" in str(error["error"])
    assert len(list((tmp_path / ".tracker" / "pending").glob("*.csv"))) == 1


def test_ctrl_c_during_start_up_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """The mapping file is a FIFO nobody writes: collect waits in start-up, before any signal
    handler of its own, until the Ctrl-C."""
    fifo = tmp_path / "providers.toml"
    os.mkfifo(fifo)
    env = {**os.environ, "HF_TOKEN": TOKEN, "PROVIDER_ENDPOINT_MAPPING_PATH": str(fifo)}
    run = Run(["collect"], env, tmp_path)
    writer = None
    end = time.monotonic() + 60
    while writer is None and time.monotonic() < end:  # until collect has the FIFO open
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.02)
    assert writer is not None, "collect never opened providers.toml"
    try:
        run.proc.send_signal(signal.SIGINT)
        assert run.wait() == 130
    finally:
        os.close(writer)
    text = "".join(run.lines)
    assert "Traceback" not in text
    assert [event["event"] for event in errors(text)] == ["interrupted"]
