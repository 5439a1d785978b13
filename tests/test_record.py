from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from inference_tracker.record import (
    COLUMN_TYPES,
    COLUMNS,
    ERROR_CLASSES,
    Advertised,
    Call,
    Outcome,
    Scrubber,
    advertised_figure,
    build_row,
    canonical_value,
    error_summary,
    iso_ms,
    mask_headers,
    output_speed,
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


# --- the schema ---------------------------------------------------------------------------

TODAYS_21 = (
    "cycle_timestamp_iso", "model_id", "provider_name", "provider_model_id", "request_url",
    "request_body", "request_headers_sanitized", "request_start_iso", "response_end_iso",
    "duration_ms", "response_status_code", "response_body_raw", "response_headers_sanitized",
    "error_message", "attempts", "error_class", "prompt_tokens", "completion_tokens",
    "finish_reason", "answer_correct", "probe_id",
)  # fmt: skip
NEW_COLUMNS = (
    "streamed", "ttft_ms", "output_tokens_per_s", "reasoning_tokens", "tokens_source",
    "advertised_status", "advertised_ttft_ms", "advertised_tokens_per_s", "price_input_per_m",
    "price_output_per_m", "cost_usd",
)  # fmt: skip


def test_columns_only_grow_at_the_end() -> None:
    assert COLUMNS[:21] == TODAYS_21
    assert COLUMNS[21:] == NEW_COLUMNS
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_every_column_has_one_type_in_the_order_of_the_columns() -> None:
    assert tuple(COLUMN_TYPES) == COLUMNS
    assert set(COLUMN_TYPES.values()) <= {"string", "int64", "float64", "bool"}
    by_type = {
        kind: [name for name, of in COLUMN_TYPES.items() if of == kind]
        for kind in ("int64", "float64", "bool")
    }
    assert by_type == {
        "int64": [
            "response_status_code", "attempts", "prompt_tokens", "completion_tokens",
            "reasoning_tokens",
        ],
        "float64": [
            "duration_ms", "ttft_ms", "output_tokens_per_s", "advertised_ttft_ms",
            "advertised_tokens_per_s", "price_input_per_m", "price_output_per_m", "cost_usd",
        ],
        "bool": ["answer_correct", "streamed"],
    }  # fmt: skip


def test_error_classes_include_those_of_the_next_issues() -> None:
    assert ERROR_CLASSES[:7] == (
        "ok", "http_error", "timeout", "connection_error", "invalid_response", "deadline",
        "unmapped_provider",
    )  # fmt: skip
    assert {"stream_error", "budget"} <= set(ERROR_CLASSES)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("int64", "20", "20"),
        ("int64", "20.0", "20"),
        ("int64", " 20 ", "20"),
        ("int64", "-1", "-1"),
        ("int64", "+7", "7"),
        ("int64", "1e3", "1000"),
        ("int64", "0", "0"),
        ("int64", "-0.0", "0"),
        ("int64", "", ""),
        ("int64", "20.5", ""),  # not an integer: no value rather than a wrong one
        ("int64", "abc", ""),
        ("int64", "nan", ""),
        ("int64", "inf", ""),
        ("int64", "99999999999999999999", ""),  # past int64
        ("int64", "true", ""),
        ("float64", "1234.5", "1234.5"),
        ("float64", "100.0", "100.0"),
        ("float64", "100", "100.0"),
        ("float64", "100.50", "100.5"),
        ("float64", "0.1", "0.1"),
        ("float64", "-3", "-3.0"),
        ("float64", "1e-05", "0.00001"),
        ("float64", "1.5E3", "1500.0"),
        ("float64", "1e16", "10000000000000000.0"),
        ("float64", "", ""),
        ("float64", "nan", ""),
        ("float64", "-inf", ""),
        ("float64", "fast", ""),
        ("bool", "true", "true"),
        ("bool", "false", "false"),
        ("bool", "True", "true"),
        ("bool", "FALSE", "false"),
        ("bool", "1", "true"),
        ("bool", "0", "false"),
        ("bool", "1.0", "true"),
        ("bool", "0.0", "false"),
        ("bool", "", ""),
        ("bool", "maybe", ""),
        ("string", " kept as is ", " kept as is "),
        ("string", "20.0", "20.0"),
        ("string", "", ""),
    ],
)
def test_canonical_values(kind: str, value: str, stored: str) -> None:
    assert canonical_value(kind, value) == stored
    assert canonical_value(kind, stored) == stored  # canonical is a fixed point


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


def test_a_plain_answer_fills_the_stream_columns_as_not_streamed() -> None:
    row = row_for(ok(completion()))
    assert (row["streamed"], row["ttft_ms"], row["output_tokens_per_s"]) == ("false", "", "")
    assert row["tokens_source"] == "usage"
    assert [row[name] for name in NEW_COLUMNS[5:]] == [""] * 6  # no catalog: nothing advertised


def test_a_streamed_answer_times_and_speed() -> None:
    row = row_for(ok(completion(), streamed=True, ttft_ms=250.04, token_span_ms=2000.0))
    assert (row["streamed"], row["ttft_ms"], row["tokens_source"]) == ("true", "250.0", "usage")
    assert float(row["output_tokens_per_s"]) == pytest.approx((42 - 1) / 2.0)


def test_a_stream_without_usage_counts_its_chunks_and_says_so() -> None:
    body = completion(usage=False)
    row = row_for(ok(body, streamed=True, ttft_ms=100.0, token_span_ms=1000.0, token_chunks=11))
    assert (row["completion_tokens"], row["tokens_source"]) == ("11", "chunks")
    assert float(row["output_tokens_per_s"]) == pytest.approx(10.0)
    assert row["cost_usd"] == ""  # never priced from counted chunks


def test_what_the_catalog_advertised_and_the_cost() -> None:
    advertised = Advertised("live", 320.0, 55.5, 0.5, 2.0)
    row = build_row(
        START, CALL, ok(completion()), expected_answer="1771.2", probe_id="p1",
        scrub=Scrubber([]), advertised=advertised,
    )  # fmt: skip
    assert row["advertised_status"] == "live"
    assert (float(row["advertised_ttft_ms"]), float(row["advertised_tokens_per_s"])) == (320, 55.5)
    assert (float(row["price_input_per_m"]), float(row["price_output_per_m"])) == (0.5, 2.0)
    assert float(row["cost_usd"]) == pytest.approx((20 * 0.5 + 42 * 2.0) / 1e6)


def test_rows_without_a_call_have_no_stream_columns() -> None:
    skipped = Outcome(error_class="budget", error_message="over the daily cap")
    row = row_for(skipped)
    assert (row["streamed"], row["tokens_source"], row["cost_usd"]) == ("", "", "")


def test_wrong_answer_and_missing_usage() -> None:
    row = row_for(ok(completion("It is 42.", usage=False)))
    assert row["answer_correct"] == "false"
    assert row["prompt_tokens"] == row["completion_tokens"] == ""


def test_a_completion_without_content_is_not_correct() -> None:
    """Empty stays reserved for "no completion at all": a completion whose content is null
    (the model ran out of tokens, or said nothing) has no final answer, so it is false."""
    row = row_for(ok(completion(None)))
    assert row["error_class"] == "ok"
    assert row["answer_correct"] == "false"


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


# --- answer_correct: the completion's final answer, graded by answer.py ---------------------


def chat(message: dict[str, object], usage: object = None, reason: object = "stop") -> bytes:
    body: dict[str, object] = {
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": reason}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("message", "correct"),
    [
        ({"content": "The answer is 1771.2."}, "true"),
        ({"content": "It is not 1771.2; the answer is 2.135"}, "false"),
        ({"content": "8856/5"}, "true"),
        ({"content": [{"type": "text", "text": "The answer is"}, {"type": "text", "text": "1771.2"}]}, "true"),
        ({"content": [{"type": "text", "text": "The answer is 2.135"}]}, "false"),
        ({"content": ["1771.2"]}, "true"),
        ({"content": []}, "false"),
        ({"content": "<think>61.5 * 28.8 = 1771.2</think>The answer is 2.135"}, "false"),
        ({"content": "<think>maybe 1728?</think>\n\n**1771.2**"}, "true"),
        ({"content": "<think>1771.2 ... still thinking when the tokens ran out"}, "false"),
        ({"content": None, "reasoning_content": "123/2*3.2*9 = 1771.2"}, "false"),
        ({"content": "", "reasoning_content": "The answer is 1771.2"}, "false"),
        ({"content": "   ", "reasoning": "The answer is 1771.2"}, "false"),
        ({"content": "2.135", "reasoning_content": "The answer is 1771.2"}, "false"),
        ({"content": "1771.2", "reasoning_content": "no, 1728"}, "true"),
        ({"reasoning_content": "1771.2"}, "false"),  # no content key at all
        ({"content": 1771.2}, "false"),  # not text: no answer to grade
    ],
)  # fmt: skip
def test_answer_correct_grades_the_contents_final_answer(
    message: dict[str, object], correct: str
) -> None:
    row = row_for(ok(chat(message)))
    assert row["error_class"] == "ok"
    assert row["answer_correct"] == correct


def test_no_completion_at_all_leaves_answer_correct_empty() -> None:
    for outcome in (
        ok(b"not json"),
        ok(b'{"choices": [{"finish_reason": "stop"}]}'),  # no message: not a completion
        Outcome(error_class="http_error", status=500, body=b'{"error": "1771.2"}'),
        Outcome(error_class="timeout", attempts=1),
    ):
        assert row_for(outcome)["answer_correct"] == ""


def test_a_length_cut_completion_without_content_is_false_and_says_why() -> None:
    body = chat({"content": None, "reasoning_content": "1771.2"}, reason="length")
    row = row_for(ok(body))
    assert (row["answer_correct"], row["finish_reason"]) == ("false", "length")


@pytest.mark.parametrize(
    ("usage", "prompt", "completion_tokens"),
    [
        ({"prompt_tokens": 20, "completion_tokens": 42}, "20", "42"),
        ({"prompt_tokens": 20.0, "completion_tokens": 42.0}, "20", "42"),
        ({"prompt_tokens": 20.5, "completion_tokens": -1}, "", ""),
        ({"prompt_tokens": True, "completion_tokens": "42"}, "", ""),
        ({"prompt_tokens": 1e400, "completion_tokens": None}, "", ""),  # inf in JSON
        ({"prompt_tokens": 0.0, "completion_tokens": 0}, "0", "0"),
    ],
)
def test_usage_counts_sent_as_floats_are_stored_as_integers(
    usage: dict[str, object], prompt: str, completion_tokens: str
) -> None:
    body = (
        json.dumps(
            {"choices": [{"message": {"content": "1771.2"}, "finish_reason": "stop"}]}
        ).encode()[:-1]
        + b', "usage": '
        + json.dumps(usage).replace("Infinity", "1e400").encode()
        + b"}"
    )
    row = row_for(ok(body))
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion_tokens)
    done = read_completion(body)
    assert done is not None
    assert done.prompt_tokens is None or isinstance(done.prompt_tokens, int)


def test_every_value_build_row_writes_is_canonical_for_its_column() -> None:
    rows = [
        row_for(ok(completion())),
        row_for(ok(chat({"content": None}, usage={"prompt_tokens": 3.0}))),
        row_for(Outcome(error_class="timeout", attempts=2, started=START, duration_ms=60000.0)),
    ]
    for row in rows:
        for name, value in row.items():
            assert canonical_value(COLUMN_TYPES[name], value) == value, name


@pytest.mark.parametrize(
    ("tokens", "span_ms", "speed"),
    [
        (41, 2000.0, 20.0),
        (3, 10.0, 200.0),  # the shortest span still measured
        (41, 9.99, None),  # chunks that arrived together: no rate to speak of
        (41, 0.0, None),
        (41, None, None),
        (1, 500.0, None),  # one token has no span
        (None, 500.0, None),
        (4, 3000.0, 1.0),
        (2, 3.0e3 * 7, 0.048),  # rounded to 3 decimals
    ],
)
def test_output_speed(tokens: int | None, span_ms: float | None, speed: float | None) -> None:
    assert output_speed(tokens, span_ms) == speed


@pytest.mark.parametrize(
    ("value", "figure"),
    [(55.5, 55.5), (3, 3.0), (0, 0.0), (-1, None), (True, None), ("5", None), (None, None),
     (float("inf"), None), (float("nan"), None), (10**400, None)],
)  # fmt: skip
def test_an_advertised_figure_is_a_finite_non_negative_number(
    value: object, figure: object
) -> None:
    assert advertised_figure(value) == figure
