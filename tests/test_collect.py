"""`tracker collect` end to end: the real CLI against the fake router on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from inference_tracker import cli, cycle
from inference_tracker.csvfile import read_csv
from inference_tracker.record import COLUMNS
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import ShiftedClock, error_of, run_cli, use_router

TOKEN = "hf_" + "T0ken" * 7
HUB_TOKEN = "hf_" + "HubT" * 9
PROVIDERS = ["groq", "together", "novita"]
FIVE_MODELS = {f"org/model-{i}": PROVIDERS for i in range(5)}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing(FIVE_MODELS))) as fake:
        use_router(monkeypatch, fake, TOKEN)
        monkeypatch.setenv("HF_HUB_TOKEN", HUB_TOKEN)
        monkeypatch.setenv("MAX_RETRIES", "0")
        yield fake


def rows(tmp_path: Path) -> list[dict[str, str]]:
    read = read_csv(tmp_path / "metrics_buffer.csv")
    assert read.problems == []
    return read.rows


def state(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / ".tracker" / "state.json").read_text())


def only(world: FakeRouter, pairs: dict[str, list[str]], **behaviours: dict[str, Any]) -> None:
    world.world.listing = listing(pairs)
    world.world.behaviours = behaviours


def test_a_cycle_stores_one_correct_row_per_live_pair(world: FakeRouter, tmp_path: Path) -> None:
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    stored = rows(tmp_path)
    assert len(stored) == 15
    assert len(world.seen) == 15
    assert {(r["model_id"], r["provider_name"]) for r in stored} == {
        (m, p) for m in FIVE_MODELS for p in PROVIDERS
    }
    header = (tmp_path / "metrics_buffer.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS)
    for row in stored:
        assert row["error_class"] == "ok"
        assert row["response_status_code"] == "200"
        assert row["answer_correct"] == "true"
        assert row["attempts"] == "1"
        assert (row["prompt_tokens"], row["completion_tokens"], row["finish_reason"]) == (
            "20",
            "42",
            "stop",
        )
        assert float(row["duration_ms"]) > 0
        assert row["request_start_iso"] <= row["response_end_iso"]
        assert row["probe_id"] == "test-probe"
        assert row["request_url"].startswith(world.url)
        assert len({r["cycle_timestamp_iso"] for r in stored}) == 1
    groq = next(r for r in stored if r["provider_name"] == "groq")
    assert groq["request_url"] == f"{world.url}/groq/openai/v1/chat/completions"
    assert json.loads(groq["request_body"])["model"] == groq["provider_model_id"]
    sent = world.seen[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"].startswith("inference-tracker/")
    assert state(tmp_path)["cycle_counter"] == 1
    last = state(tmp_path)["last_cycle"]
    assert (last["rows"], last["ok"], last["failed"]) == (15, 15, 0)


def test_cycles_append_under_one_header(world: FakeRouter, tmp_path: Path) -> None:
    for _ in range(3):
        assert run_cli("collect", "--no-push").exit_code == 0
    assert len(rows(tmp_path)) == 45
    assert (tmp_path / "metrics_buffer.csv").read_text().count("cycle_timestamp_iso") == 1
    assert state(tmp_path)["cycle_counter"] == 3


def test_calls_run_concurrently(world: FakeRouter, tmp_path: Path) -> None:
    """Each call is held until all 12 are in flight: only calls made at once can answer."""
    only(world, {f"org/m{i}": ["groq", "together", "novita"] for i in range(4)})
    world.world.default = {"kind": "ok", "gather": 12}
    assert run_cli("collect", "--no-push").exit_code == 0
    assert world.peak == 12
    assert [r["error_class"] for r in rows(tmp_path)] == ["ok"] * 12


def test_concurrency_is_bounded(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(world, {f"org/m{i}": ["groq", "together"] for i in range(3)})
    world.world.default = {"kind": "ok", "gather": 2, "latency": 0.05}
    monkeypatch.setenv("MAX_CONCURRENCY", "2")
    assert run_cli("collect", "--no-push").exit_code == 0
    assert world.peak == 2  # two at once, never more
    assert len(rows(tmp_path)) == 6


def test_the_deadline_holds_against_hanging_and_trickling_providers(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(
        world,
        {"org/m": ["hang", "trickle", "noheaders", "groq"]},
        hang={"kind": "hang"},
        trickle={"kind": "trickle", "interval": 0.1},
        noheaders={"kind": "no_headers"},
    )
    # Long enough that the calls are sent well before it even on a slow, busy machine.
    monkeypatch.setenv("CYCLE_DEADLINE_SECONDS", "4")
    began = time.monotonic()
    result = run_cli("collect", "--no-push")
    took = time.monotonic() - began
    assert result.exit_code == 0, result.stderr
    assert took < 60  # the providers would hold it for an hour (a trickle: 6 minutes)
    by_provider = {r["provider_name"]: r for r in rows(tmp_path)}
    for name in ("hang", "trickle", "noheaders"):
        row = by_provider[name]
        assert row["error_class"] == "deadline", name
        assert row["response_status_code"] == "-1"
        cycle = datetime.fromisoformat(row["cycle_timestamp_iso"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(row["response_end_iso"].replace("Z", "+00:00"))
        assert (ended - cycle).total_seconds() >= 3.99  # cut at the deadline, not before
        assert 0 < float(row["duration_ms"]) < took * 1000
    assert by_provider["groq"]["error_class"] == "ok"
    failed = [json.loads(line) for line in result.stderr.splitlines() if '"call_failed"' in line]
    assert sorted(e["provider"] for e in failed) == ["hang", "noheaders", "trickle"]
    assert {e["error_class"] for e in failed} == {"deadline"}
    names = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert names.index("cycle_finished") > max(i for i, n in enumerate(names) if n == "call_failed")


def test_request_timeout_is_a_total_not_per_read(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte every 0.1 s never trips a per-read timeout; the 1 s total must."""
    only(world, {"org/m": ["trickle"]}, trickle={"kind": "trickle", "interval": 0.1})
    monkeypatch.setenv("REQUEST_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("CYCLE_DEADLINE_SECONDS", "20")
    assert run_cli("collect", "--no-push").exit_code == 0
    [row] = rows(tmp_path)
    assert row["error_class"] == "timeout"  # not cut by the 20 s deadline, not 6 minutes late
    assert 990 <= float(row["duration_ms"]) < 20_000


def test_provider_failures_are_data(world: FakeRouter, tmp_path: Path) -> None:
    recorded_401 = json.loads((Path(__file__).parent / "data" / "v1_chat_401.json").read_text())
    recorded_502 = json.loads(
        (Path(__file__).parent / "data" / "v1_chat_502_html.json").read_text()
    )
    only(
        world,
        {"org/m": ["p401", "p502", "drop", "big", "notjson", "badutf8", "wrong"]},
        p401={"kind": "status", "status": 401, "body": recorded_401["response"]["body"]},
        p502={
            "kind": "status",
            "status": 502,
            "body": recorded_502["response"]["body"],
            "ctype": "text/html",
        },
        drop={"kind": "drop"},
        big={"kind": "big", "size": 5_000_000},
        notjson={"kind": "raw", "body": "I am not JSON"},
        badutf8={"kind": "invalid_utf8"},
        wrong={"kind": "ok", "answer": "The result is 1771.3"},
    )
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    got = {r["provider_name"]: r for r in rows(tmp_path)}
    assert got["p401"]["error_class"] == "http_error"
    assert got["p401"]["error_message"] == "HTTP 401: Invalid credentials in Authorization header"
    assert got["p502"]["response_status_code"] == "502"
    assert got["p502"]["error_message"] == "HTTP 502: HTML error page"
    assert (
        got["drop"]["error_class"] == "connection_error"
        and got["drop"]["response_status_code"] == "-1"
    )
    assert got["big"]["error_class"] == "invalid_response"
    assert len(got["big"]["response_body_raw"].encode()) < 66_000
    assert "bytes not stored]" in got["big"]["response_body_raw"]
    assert got["notjson"]["error_class"] == "invalid_response"
    assert "\ufffd" in got["badutf8"]["response_body_raw"]
    assert got["wrong"]["answer_correct"] == "false"
    assert state(tmp_path)["last_cycle"]["failed"] == 6


def test_5xx_is_retried_end_to_end(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(world, {"org/m": ["flaky"]}, flaky={"kind": "flaky", "fail_times": 1, "status": 503})
    monkeypatch.setenv("MAX_RETRIES", "2")
    clock = ShiftedClock()
    monkeypatch.setattr(cli, "CLOCK", clock.clock())
    assert run_cli("collect", "--no-push").exit_code == 0
    [row] = rows(tmp_path)
    assert (row["error_class"], row["attempts"]) == ("ok", "2")
    assert clock.pauses == [1.0]


@pytest.mark.parametrize(
    "token",
    [TOKEN, "sk-live-" + "Q7" * 12],  # the second is caught only by its value, not its shape
    ids=["hf-shaped", "any-shape"],
)
def test_an_echoed_token_never_reaches_the_data_or_the_logs(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    only(world, {"org/m": ["echo", "groq"]}, echo={"kind": "echo"})
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0
    assert world.seen[0].headers["Authorization"] == f"Bearer {token}"  # it was really sent
    echoed = next(r for r in rows(tmp_path) if r["provider_name"] == "echo")
    assert "Bearer [REDACTED]" in echoed["response_body_raw"]
    headers = json.loads(echoed["response_headers_sanitized"])
    assert headers["X-Echo-Authorization"] == "Bearer [REDACTED]"
    everything = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert token.encode() not in everything
    assert token not in result.stdout + result.stderr
    assert HUB_TOKEN not in result.stdout + result.stderr


def test_listing_failure_skips_the_cycle(world: FakeRouter, tmp_path: Path) -> None:
    assert run_cli("collect", "--no-push").exit_code == 0
    before = (tmp_path / "metrics_buffer.csv").read_bytes()
    world.world.listing_status = 500
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert "model listing answered HTTP 500" in error_of(result)
    assert (tmp_path / "metrics_buffer.csv").read_bytes() == before
    assert state(tmp_path)["cycle_counter"] == 1
    assert "HTTP 500" in state(tmp_path)["last_error"]["message"]
    assert len(world.seen) == 15


def test_rows_that_cannot_be_written_exit_1_naming_the_place(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LOCAL_CSV_PATH", str(tmp_path / "file" / "buf.csv"))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    assert error_of(result) == (
        f"cannot store rows: cannot create {tmp_path / 'file'}: {tmp_path / 'file'} is not a folder"
    )
    assert "Traceback" not in result.stderr


def test_log_events_of_a_cycle(world: FakeRouter, tmp_path: Path) -> None:
    only(world, {"org/m": ["groq", "bad"]}, bad={"kind": "status", "status": 400})
    result = run_cli("collect", "--no-push")
    events = [json.loads(line) for line in result.stderr.splitlines()]
    names = [e["event"] for e in events]
    for expected in (
        "cycle_started",
        "models_fetched",
        "calls_started",
        "call_succeeded",
        "call_failed",
        "cycle_finished",
    ):
        assert expected in names
    finished = events[names.index("cycle_finished")]
    assert (finished["rows"], finished["ok"], finished["failed"]) == (2, 1, 1)
    assert "duration_s" in finished


def test_log_level_error_is_quiet(world: FakeRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "error")
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0 and result.stderr == ""


def test_no_live_pairs_is_an_empty_cycle(world: FakeRouter, tmp_path: Path) -> None:
    only(world, {})
    assert run_cli("collect", "--no-push").exit_code == 0
    assert state(tmp_path)["cycle_counter"] == 1


def test_a_bug_prints_a_scrubbed_traceback_and_exits_1(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"bug while holding Bearer {TOKEN} and {HUB_TOKEN}")

    monkeypatch.setattr(cycle, "build_row", broken)
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 1
    [report] = [json.loads(line) for line in result.stderr.splitlines() if "internal_error" in line]
    assert "Traceback" in report["traceback"]
    assert "RuntimeError: bug while holding" in report["traceback"]
    assert TOKEN not in result.stderr and HUB_TOKEN not in result.stderr
    assert error_of(result).startswith("internal error")


def test_a_good_cycle_clears_a_listing_error(world: FakeRouter, tmp_path: Path) -> None:
    world.world.listing_status = 502
    assert run_cli("collect", "--no-push").exit_code == 1
    assert state(tmp_path)["last_error"]["where"] == "listing"
    world.world.listing_status = 200
    assert run_cli("collect", "--no-push").exit_code == 0
    assert "last_error" not in state(tmp_path)


def test_one_providers_cookie_is_never_sent_to_another(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only(
        world,
        {"org/m": ["sets", "other"]},
        sets={"kind": "ok", "headers": {"Set-Cookie": "affinity=node-7; Path=/"}},
    )
    monkeypatch.setenv("MAX_CONCURRENCY", "1")  # "sets" answers before "other" is called
    assert run_cli("collect", "--no-push").exit_code == 0
    assert [json.loads(s.body)["model"] for s in world.seen] == ["org/m:sets", "org/m:other"]
    assert "Cookie" not in world.seen[1].headers
    stored = {r["provider_name"]: r for r in rows(tmp_path)}
    assert json.loads(stored["sets"]["response_headers_sanitized"])["Set-Cookie"] == "[MASKED]"


def test_a_call_cut_while_retrying_reports_its_last_attempt(
    world: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503, a 1 s retry delay, then a hang cut by the deadline: 2 attempts, and the duration
    of the second one only (spec 6: earlier attempts and retry sleeps are not in it)."""
    only(world, {"org/m": ["cold"]}, cold={"kind": "flaky", "fail_times": 1, "then": "hang"})
    monkeypatch.setenv("MAX_RETRIES", "2")
    monkeypatch.setenv("CYCLE_DEADLINE_SECONDS", "4")  # room for a slow first attempt
    clock = ShiftedClock()  # the 1 s pause moves the clocks, it is not waited out
    monkeypatch.setattr(cli, "CLOCK", clock.clock())
    assert run_cli("collect", "--no-push").exit_code == 0
    assert clock.pauses == [1.0]
    [row] = rows(tmp_path)
    assert (row["error_class"], row["attempts"]) == ("deadline", "2")
    cycle = datetime.fromisoformat(row["cycle_timestamp_iso"].replace("Z", "+00:00"))
    sent = datetime.fromisoformat(row["request_start_iso"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(row["response_end_iso"].replace("Z", "+00:00"))
    assert (sent - cycle).total_seconds() >= 0.95  # the second attempt went after the wait
    assert (ended - cycle).total_seconds() >= 3.99  # and was cut at the deadline
    measured = (ended - sent).total_seconds() * 1000
    assert abs(float(row["duration_ms"]) - measured) <= 2  # from that send only
