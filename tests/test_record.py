from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from inference_tracker.record import (
    COLUMNS,
    Call,
    Outcome,
    Scrubber,
    answer_matches,
    build_row,
    error_summary,
    iso_ms,
    mask_headers,
    read_completion,
)
from tests.fakes.router import completion

TOKEN = "hf_" + "A1b2" * 9
HUB_TOKEN = "hf_" + "Z9y8" * 9
START = datetime(2026, 11, 27, 10, 15, 0, 123456, tzinfo=UTC)
CALL = Call(
    model_id="org/m",
    provider_name="groq",
    provider_model_id="g/m",
    url="https://router.test/groq/openai/v1/chat/completions",
    body='{"messages":[],"max_tokens":512,"model":"g/m","stream":false}',
    headers={"Content-Type": "application/json"},
)


def row_for(outcome: Outcome, expected: str = "1771.2") -> dict[str, str]:
    return build_row(
        START, CALL, outcome, expected_answer=expected, probe_id="p1",
        scrub=Scrubber([TOKEN, HUB_TOKEN]),
    )  # fmt: skip


def ok(body: bytes, **kwargs: object) -> Outcome:
    return Outcome(
        error_class="ok", status=200, body=body, headers={"content-type": "application/json"},
        attempts=1, started=START, duration_ms=1234.5, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "1771.2",
        "The answer is **1771.2**.",
        "= 1,771.2",
        "1771.20",
        "\\boxed{1771.2}",
        "Result: 1771.2000 units",
        "first 61.5, then 196.8, finally 1771.2",
    ],
)
def test_answer_matches(text: str) -> None:
    assert answer_matches(text, "1771.2")


@pytest.mark.parametrize(
    "text", ["17712", "1771.25", "11771.2", "1771", "1771.3", "no number", "1,771,2", "-1771.2"]
)
def test_answer_does_not_match(text: str) -> None:
    assert not answer_matches(text, "1771.2")


def test_answer_with_comma_expected() -> None:
    assert answer_matches("1771.2", "1,771.2")


def test_iso_ms() -> None:
    assert iso_ms(START) == "2026-11-27T10:15:00.123Z"


def test_mask_headers() -> None:
    masked = mask_headers(
        {
            "Authorization": f"Bearer {TOKEN}",
            "Set-Cookie": "session=abc",
            "cookie": "a=b",
            "Proxy-Authorization": "Basic xyz",
            "X-Api-Key": "k",
            "x-amz-security-token": "t",
            "X-Client-Secret": "s",
            "X-Request-Id": "r-1",
            "Retry-After": "2",
        }
    )
    assert masked == {
        "Authorization": "Bearer [MASKED]",
        "Set-Cookie": "[MASKED]",
        "cookie": "[MASKED]",
        "Proxy-Authorization": "[MASKED]",
        "X-Api-Key": "[MASKED]",
        "x-amz-security-token": "[MASKED]",
        "X-Client-Secret": "[MASKED]",
        "X-Request-Id": "r-1",
        "Retry-After": "2",
    }


def test_scrubber_removes_known_secrets_and_token_shapes() -> None:
    scrub = Scrubber(["s3cret-value", TOKEN])
    other = "hf_" + "Q" * 30
    text = f"a s3cret-value b {TOKEN} c {other} d hf_short"
    assert scrub(text) == "a [REDACTED] b [REDACTED] c [REDACTED] d hf_short"


def test_successful_row() -> None:
    row = row_for(ok(completion()))
    assert list(row) == list(COLUMNS)
    assert row["cycle_timestamp_iso"] == "2026-11-27T10:15:00.123Z"
    assert row["request_start_iso"] == "2026-11-27T10:15:00.123Z"
    assert row["response_end_iso"] == "2026-11-27T10:15:01.357Z"
    assert row["duration_ms"] == "1234.5"
    assert row["response_status_code"] == "200"
    assert row["error_class"] == "ok"
    assert row["error_message"] == ""
    assert row["attempts"] == "1"
    assert (row["prompt_tokens"], row["completion_tokens"], row["finish_reason"]) == (
        "20",
        "42",
        "stop",
    )
    assert row["answer_correct"] == "true"
    assert row["probe_id"] == "p1"
    assert json.loads(row["request_headers_sanitized"]) == {
        "Content-Type": "application/json", "Authorization": "Bearer [MASKED]",
    }  # fmt: skip


def test_wrong_answer_and_missing_usage() -> None:
    row = row_for(ok(completion("It is 42.", usage=False)))
    assert row["answer_correct"] == "false"
    assert row["prompt_tokens"] == row["completion_tokens"] == ""


def test_no_answer_leaves_answer_correct_empty() -> None:
    row = row_for(ok(completion(None)))
    assert row["error_class"] == "ok"
    assert row["answer_correct"] == ""


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"object":"error"}', b'{"choices":[]}', b'{"choices":["x"]}', b""],
)
def test_200_that_is_not_a_chat_completion(body: bytes) -> None:
    row = row_for(ok(body))
    assert row["error_class"] == "invalid_response"
    assert "not a chat completion" in row["error_message"]
    assert row["answer_correct"] == ""


def test_cut_body_has_a_marker_and_is_invalid() -> None:
    row = row_for(ok(b'{"choices": [' + b"x" * 100, cut_bytes=4_900_000))
    assert row["response_body_raw"].endswith(
        "[inference-tracker: body cut after 113 bytes, 4900000 bytes not stored]"
    )
    assert row["error_class"] == "invalid_response"


def test_invalid_utf8_is_replaced_not_a_crash() -> None:
    row = row_for(ok(b'{"choices":[{"message":{"content":"\xff 1771.2"}}]}'))
    assert "\ufffd" in row["response_body_raw"]


def test_http_error_row_keeps_the_provider_message() -> None:
    body = b'{"error":"Invalid credentials in Authorization header"}'
    outcome = Outcome(
        error_class="http_error", status=401, body=body, headers={}, attempts=1,
        error_message=error_summary(401, body), started=START, duration_ms=5.0,
    )  # fmt: skip
    row = row_for(outcome)
    assert row["error_message"] == "HTTP 401: Invalid credentials in Authorization header"
    assert row["answer_correct"] == ""


@pytest.mark.parametrize(
    "status, body, message",
    [
        (
            400,
            b'{"error":{"message":"model_not_found","type":"invalid_request_error"}}',
            "HTTP 400: model_not_found",
        ),
        (502, b"<html><body>502 Bad Gateway</body></html>", "HTTP 502: HTML error page"),
        (500, b"", "HTTP 500"),
        (429, b'{"message":"rate limited"}', "HTTP 429: rate limited"),
    ],
)
def test_error_summary(status: int, body: bytes, message: str) -> None:
    assert error_summary(status, body) == message


def test_no_response_row() -> None:
    row = row_for(
        Outcome(
            error_class="timeout",
            error_message="no complete response within 60 s",
            attempts=3,
            started=START,
            duration_ms=60000.0,
        )
    )
    assert row["response_status_code"] == "-1"
    assert row["response_headers_sanitized"] == ""
    assert row["attempts"] == "3"


def test_echoed_token_never_reaches_the_row() -> None:
    body = completion(f"you sent Bearer {TOKEN} and {HUB_TOKEN}")
    outcome = ok(body)
    outcome = Outcome(
        **{**outcome.__dict__, "headers": {"X-Echo": f"Bearer {TOKEN}", "X-Other": TOKEN}}
    )
    row = row_for(outcome)
    joined = "".join(row.values())
    assert TOKEN not in joined and HUB_TOKEN not in joined
    assert "[REDACTED]" in row["response_body_raw"]


def test_read_completion_reads_usage_and_reason() -> None:
    done = read_completion(completion("hi"))
    assert done is not None
    assert (done.answer, done.prompt_tokens, done.completion_tokens, done.finish_reason) == (
        "hi",
        20,
        42,
        "stop",
    )


def test_real_recorded_success_parses() -> None:
    """The together 200 recorded from real router traffic (tests/data)."""
    from pathlib import Path

    recorded = json.loads(
        (Path(__file__).parent / "data" / "v1_chat_200_together.json").read_text()
    )
    done = read_completion(recorded["response"]["body"].encode())
    assert done is not None and done.answer == "Hello!" and done.completion_tokens == 3


def test_short_secrets_are_not_scrubbed_everywhere() -> None:
    """A 1-character 'secret' would turn every digit 1 into [REDACTED]; settings refuse such
    tokens, and the scrubber ignores anything too short to be one."""
    assert Scrubber(["1", " "])("2026-11-27T10:15:00.123Z") == "2026-11-27T10:15:00.123Z"


NOT_HF_SHAPED = "sk-live-" + "Q7" * 12  # a secret only the value itself can catch


@pytest.mark.parametrize("at", [480, 490, 495, 499])
def test_a_token_cut_by_the_message_limit_does_not_leak_in_part(at: int) -> None:
    for secret in (TOKEN, NOT_HF_SHAPED):
        body = json.dumps({"error": "x" * (at - 20) + f" bad key {secret} end"}).encode()
        outcome = Outcome(
            error_class="http_error", status=401, body=body, headers={}, attempts=1,
            error_message=error_summary(401, body), started=START, duration_ms=5.0,
        )  # fmt: skip
        row = build_row(
            START, CALL, outcome, expected_answer="1771.2", probe_id="p1",
            scrub=Scrubber([secret]),
        )  # fmt: skip
        assert secret[:12] not in row["error_message"], row["error_message"][-40:]
        assert len(row["error_message"]) <= 500


@pytest.mark.parametrize("keep", [3, 10, 20, 36])
def test_a_token_cut_by_the_body_cap_does_not_leak_in_part(keep: int) -> None:
    for secret in (TOKEN, NOT_HF_SHAPED):
        prefix = b'{"choices": "' + b"y" * 50
        body = prefix + secret.encode()[:keep]
        outcome = Outcome(
            error_class="ok", status=200, body=body, cut_bytes=1000, headers={}, attempts=1,
            started=START, duration_ms=5.0,
        )  # fmt: skip
        row = build_row(
            START, CALL, outcome, expected_answer="1771.2", probe_id="p1",
            scrub=Scrubber([secret]),
        )  # fmt: skip
        stored = row["response_body_raw"]
        if keep >= 6:  # a fragment long enough to mean something
            assert secret[:6] not in stored, stored
        assert "bytes not stored]" in stored
