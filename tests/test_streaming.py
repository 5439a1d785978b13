"""Streamed calls end to end (issue 13): the real CLI against the fake router streaming
server-sent events on 127.0.0.1 with real sockets, every shape a provider sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference_tracker.csvfile import read_csv
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import run_cli, use_router

TOKEN = "hf_" + "Str3am" * 6
WORDS = ["The ", "answer ", "is ", "**1771.2**"]


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing({"org/m": ["p"]}))) as fake:
        use_router(monkeypatch, fake, TOKEN)
        monkeypatch.setenv("MAX_RETRIES", "0")
        yield fake


def one_row(router: FakeRouter, tmp_path: Path, **how: Any) -> dict[str, str]:
    router.world.behaviours = {"p": {"kind": "ok", "tokens": WORDS, **how}}
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    [row] = read_csv(tmp_path / "metrics_buffer.csv").rows
    (tmp_path / "metrics_buffer.csv").unlink()
    return row


def completion_of(row: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(row["response_body_raw"])
    return body


def test_the_request_asks_for_a_stream_with_usage(router: FakeRouter, tmp_path: Path) -> None:
    one_row(router, tmp_path)
    sent = json.loads(router.seen[0].body)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_usage_in_a_separate_final_chunk(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, usage="chunk", ttft=0.2, interval=0.05)
    assert (row["error_class"], row["streamed"], row["tokens_source"]) == ("ok", "true", "usage")
    assert (row["prompt_tokens"], row["completion_tokens"]) == ("20", "42")
    ttft, duration = float(row["ttft_ms"]), float(row["duration_ms"])
    assert 200 <= ttft < duration
    # 41 / the span from the first to the last token chunk, which lies inside the time after
    # the first token: a span from the send, or the whole call, would be slower than this.
    # (No upper bound: a busy client that reads the first token late sees a shorter span.)
    assert float(row["output_tokens_per_s"]) >= 41 / ((duration - ttft + 0.1) / 1000)
    body = completion_of(row)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "".join(WORDS)
    assert body["choices"][0]["finish_reason"] == "stop" == row["finish_reason"]
    assert body["usage"]["completion_tokens"] == 42
    assert row["answer_correct"] == "true"


def test_usage_inside_the_last_choice_chunk(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, usage="last")
    assert (row["completion_tokens"], row["tokens_source"]) == ("42", "usage")


def test_no_usage_counts_the_chunks_and_says_so(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, usage="none", interval=0.05)
    assert (row["completion_tokens"], row["tokens_source"]) == ("4", "chunks")
    assert row["prompt_tokens"] == ""
    assert float(row["output_tokens_per_s"]) > 0


def test_reasoning_first_times_the_first_reasoning_token(
    router: FakeRouter, tmp_path: Path
) -> None:
    row = one_row(
        router, tmp_path, reasoning=["Let ", "me ", "think."], ttft=0.1, interval=0.1,
        reasoning_tokens=3, reasoning_key="reasoning",
    )  # fmt: skip
    assert 100 <= float(row["ttft_ms"]) < float(row["duration_ms"])
    assert row["reasoning_tokens"] == "3"
    message = completion_of(row)["choices"][0]["message"]
    assert message["reasoning_content"] == "Let me think."
    assert message["content"] == "".join(WORDS)
    assert row["answer_correct"] == "true"  # graded on the content, not the reasoning


def test_reasoning_alone_has_a_first_token(router: FakeRouter, tmp_path: Path) -> None:
    """No content token ever comes: a time to first token can only be the reasoning's."""
    row = one_row(router, tmp_path, reasoning=["Let ", "me ", "think."], tokens=[""], usage="none")
    assert (row["error_class"], row["completion_tokens"], row["tokens_source"]) == (
        "ok", "3", "chunks",
    )  # fmt: skip
    # The whole stream may come in one read: then the first token ends the call too.
    assert 0 <= float(row["ttft_ms"]) <= float(row["duration_ms"])
    assert completion_of(row)["choices"][0]["message"]["content"] == ""


def test_keep_alives_crlf_and_events_split_across_reads(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, keepalive=True, crlf=True, split=7)
    assert (row["error_class"], row["completion_tokens"]) == ("ok", "42")
    assert completion_of(row)["choices"][0]["message"]["content"] == "".join(WORDS)


def test_an_error_event_mid_stream_is_a_stream_error(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, error_after=2)
    assert (row["error_class"], row["response_status_code"]) == ("stream_error", "200")
    assert "upstream overloaded" in row["error_message"]
    assert row["streamed"] == "true" and row["ttft_ms"] != ""
    assert row["attempts"] == "1"  # never retried once the stream has begun


def test_a_stream_without_finish_reason_is_a_stream_error(
    router: FakeRouter, tmp_path: Path
) -> None:
    row = one_row(router, tmp_path, finish=False, done=False)
    assert row["error_class"] == "stream_error"
    assert "without a finish_reason" in row["error_message"]


def test_no_done_but_a_finish_reason_is_fine(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, done=False)
    assert row["error_class"] == "ok"


def test_a_stall_after_the_first_token_is_cut_and_keeps_its_ttft(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUEST_TIMEOUT_SECONDS", "1")
    row = one_row(router, tmp_path, stall_after=1, ttft=0.1)
    assert row["error_class"] == "timeout"
    assert row["response_status_code"] == "200"
    assert 100 <= float(row["ttft_ms"]) < 1000
    assert float(row["duration_ms"]) >= 990
    assert row["attempts"] == "1"


def test_a_stall_cut_by_the_cycle_deadline_keeps_its_ttft_status_and_partial_answer(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's read and the cycle's wait end at the same deadline: whichever wins, the
    row keeps what the stream had said."""
    monkeypatch.setenv("CYCLE_DEADLINE_SECONDS", "4")  # the first token comes well before
    row = one_row(router, tmp_path, stall_after=1)
    assert (row["error_class"], row["response_status_code"], row["streamed"]) == (
        "deadline", "200", "true",
    )  # fmt: skip
    assert row["error_message"].startswith("cut by the cycle deadline")
    assert 0 <= float(row["ttft_ms"]) < float(row["duration_ms"])
    assert completion_of(row)["choices"][0]["message"]["content"] == "The "
    assert (row["completion_tokens"], row["tokens_source"], row["attempts"]) == ("1", "chunks", "1")


def test_done_ends_the_stream_though_the_connection_stays_open(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUEST_TIMEOUT_SECONDS", "20")
    row = one_row(router, tmp_path, hold_after_done=3600)
    assert (row["error_class"], row["error_message"]) == ("ok", "")
    assert float(row["duration_ms"]) < 20_000
    assert row["answer_correct"] == "true"


def test_a_stream_cut_mid_event_says_so(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, cut_after=2)
    assert row["error_class"] == "stream_error"
    assert row["error_message"] == (
        "the stream ended without a finish_reason; its last event was cut off and dropped"
    )
    assert completion_of(row)["choices"][0]["message"]["content"] == "The answer "


def test_a_long_streamed_answer_is_graded_whole_and_stored_cut(
    router: FakeRouter, tmp_path: Path
) -> None:
    """300 KB of text before the answer: the grade needs all of it, the row keeps the cap."""
    filler = ["Some words without numbers. " * 36] * 300  # about 1 KB each
    row = one_row(router, tmp_path, tokens=[*filler, "The answer is **1771.2**"])
    assert (row["error_class"], row["answer_correct"]) == ("ok", "true")
    stored = row["response_body_raw"]
    assert stored.startswith('{"id": "cmpl-s"')
    assert "1771.2" not in stored
    kept, marker = stored.rsplit("\n", 1)
    assert len(kept.encode()) <= 65536
    assert marker.startswith("[inference-tracker: body cut after 65536 bytes, ")


def test_a_provider_that_ignores_stream_is_parsed_as_today(
    router: FakeRouter, tmp_path: Path
) -> None:
    row = one_row(router, tmp_path, ignore_stream=True)
    assert (row["error_class"], row["streamed"], row["ttft_ms"]) == ("ok", "false", "")
    assert row["output_tokens_per_s"] == "" and row["tokens_source"] == "usage"
    assert row["completion_tokens"] == "42"


def test_a_token_echoed_inside_a_delta_never_reaches_the_data(
    router: FakeRouter, tmp_path: Path
) -> None:
    router.world.behaviours = {"p": {"kind": "echo"}}
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0
    assert router.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    everything = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN.encode() not in everything
    [row] = read_csv(tmp_path / "metrics_buffer.csv").rows
    assert "Bearer [REDACTED]" in row["response_body_raw"] and row["streamed"] == "true"


def test_stream_false_keeps_todays_behaviour(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM", "false")
    row = one_row(router, tmp_path)
    sent = json.loads(router.seen[0].body)
    assert sent["stream"] is False and "stream_options" not in sent
    assert (row["streamed"], row["ttft_ms"], row["tokens_source"]) == ("false", "", "usage")
    assert json.loads(row["response_body_raw"])["usage"]["completion_tokens"] == 42


def test_one_token_has_no_output_speed(router: FakeRouter, tmp_path: Path) -> None:
    row = one_row(router, tmp_path, tokens=["1771.2"], usage="none")
    assert row["output_tokens_per_s"] == ""
    assert row["ttft_ms"] != ""


def test_a_stream_that_is_not_server_sent_events_keeps_the_raw_text(
    router: FakeRouter, tmp_path: Path
) -> None:
    router.world.behaviours = {
        "p": {"kind": "status", "status": 200, "ctype": "text/event-stream",
              "body": "this is not an event stream at all"}
    }  # fmt: skip
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0
    [row] = read_csv(tmp_path / "metrics_buffer.csv").rows
    assert row["error_class"] in ("invalid_response", "stream_error")
    assert "this is not an event stream" in row["response_body_raw"]
