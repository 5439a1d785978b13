from __future__ import annotations

import json
import random
from itertools import pairwise

import pytest

from inference_tracker.sse import Event, SSEParser

# The body of a real streamed answer from the router (provider together), byte for byte.
TOGETHER_BODY = (
    b'data: {"id":"oPNHZvd-28Eivz-9ae9a606fc201b59","object":"chat.completion.chunk","created":1765840584,"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":null,"delta":{"token_id":null,"role":"assistant","content":"","reasoning":null}}],"model":"Qwen/Qwen3-Coder-480B-A35B-Instruct","usage":null}\n\n'
    b'data: {"id":"oPNHZvd-28Eivz-9ae9a606fc201b59","object":"chat.completion.chunk","created":1765840584,"choices":[{"index":0,"text":"Hello","logprobs":null,"finish_reason":null,"delta":{"token_id":null,"role":"assistant","content":"Hello","reasoning":null}}],"model":"Qwen/Qwen3-Coder-480B-A35B-Instruct","usage":null}\n\n'
    b'data: {"id":"oPNHZvd-28Eivz-9ae9a606fc201b59","object":"chat.completion.chunk","created":1765840584,"choices":[{"index":0,"text":"!","logprobs":null,"finish_reason":null,"delta":{"token_id":null,"role":"assistant","content":"!","reasoning":null}}],"model":"Qwen/Qwen3-Coder-480B-A35B-Instruct","usage":null}\n\n'
    b'data: {"id":"oPNHZvd-28Eivz-9ae9a606fc201b59","object":"chat.completion.chunk","created":1765840584,"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop","delta":{"token_id":null,"role":"assistant","content":"","reasoning":null}}],"model":"Qwen/Qwen3-Coder-480B-A35B-Instruct","usage":null}\n\n'
    b'data: {"id":"oPNHZvd-28Eivz-9ae9a606fc201b59","object":"chat.completion.chunk","created":1765840584,"choices":[],"model":"Qwen/Qwen3-Coder-480B-A35B-Instruct","usage":{"prompt_tokens":20,"total_tokens":23,"completion_tokens":3,"prompt_tokens_details":null}}\n\n'
    b"data: [DONE]\n\n"
)


def parse(*chunks: bytes) -> list[Event]:
    parser = SSEParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    assert parser.close() == []
    return events


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    """`body` cut at the given (sorted) positions."""
    return [body[a:b] for a, b in pairwise([0, *cuts, len(body)])]


def datas(*chunks: bytes) -> list[str]:
    return [event.data for event in parse(*chunks)]


def test_recorded_stream() -> None:
    events = parse(TOGETHER_BODY)
    assert len(events) == 6
    assert events[-1] == Event(data="[DONE]")
    first = json.loads(events[0].data)
    assert first["object"] == "chat.completion.chunk"
    assert json.loads(events[1].data)["choices"][0]["delta"]["content"] == "Hello"
    assert json.loads(events[4].data)["usage"]["completion_tokens"] == 3


def test_recorded_stream_one_byte_at_a_time() -> None:
    whole = parse(TOGETHER_BODY)
    assert len(whole) == 6
    one_by_one = parse(*(TOGETHER_BODY[i : i + 1] for i in range(len(TOGETHER_BODY))))
    assert one_by_one == whole


def test_recorded_stream_at_random_split_points() -> None:
    whole = parse(TOGETHER_BODY)
    assert len(whole) == 6
    rng = random.Random(1234)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(TOGETHER_BODY)), rng.randint(1, 40)))
        assert parse(*split(TOGETHER_BODY, cuts)) == whole, cuts


def test_feed_returns_the_events_each_chunk_completes() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\n\ndata: b\n") == [Event("a")]
    assert parser.feed(b"\n") == [Event("b")]
    assert parser.feed(b"data: c\n\ndata: d\n\n") == [Event("c"), Event("d")]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_line_ends(end: bytes) -> None:
    body = b"data: one" + end + b"data: two" + end + end + b"data: three" + end + end
    assert datas(body) == ["one\ntwo", "three"]


def test_mixed_line_ends() -> None:
    assert datas(b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r") == ["a\nb\nc", "d"]


def test_cr_and_lf_split_across_chunks_are_one_line_end() -> None:
    # Were the LF a second line end, "a" would be dispatched on its own.
    assert datas(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == ["a\nb"]
    assert datas(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_cr_then_cr_is_a_blank_line_even_across_chunks() -> None:
    assert datas(b"data: a\r", b"\rdata: b\r\r") == ["a", "b"]


def test_event_split_at_every_byte_position() -> None:
    body = "data: caf\u00e9 \u20ac\r\ndata: \U0001f600\r\n\r\n".encode()
    expected = ["caf\u00e9 \u20ac\n\U0001f600"]
    for i in range(len(body) + 1):
        assert datas(body[:i], body[i:]) == expected, i
    assert datas(*(body[i : i + 1] for i in range(len(body)))) == expected


def test_bom_at_the_start_is_skipped() -> None:
    assert datas(b"\xef\xbb\xbfdata: x\n\n") == ["x"]
    assert datas(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == ["x"]


def test_only_one_bom_is_skipped() -> None:
    # The second BOM makes the field name "\ufeffdata", an unknown field.
    assert datas(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []
    assert datas(b"data: x\n\n\xef\xbb\xbfdata: y\n\n") == ["x"]


def test_invalid_utf8_is_replaced() -> None:
    assert datas(b"data: a\xffb\xe2\x82\n\n") == ["a\ufffdb\ufffd"]


def test_comments_are_ignored() -> None:
    assert datas(b": ping\n\ndata: a\n: inside\ndata: b\n\n:\n\n") == ["a\nb"]


def test_data_without_space_and_only_one_space_removed() -> None:
    assert datas(b"data:x\n\ndata:  y\n\ndata:\tz\n\n") == ["x", " y", "\tz"]


def test_value_keeps_later_colons() -> None:
    assert datas(b'data: {"a": 1}\n\n') == ['{"a": 1}']


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    assert parse(b"data\n\n") == [Event("")]
    assert datas(b"data\ndata\n\n") == ["\n"]
    assert datas(b"data: a\ndata\n\n") == ["a\n"]


def test_multiple_data_lines_are_joined_with_newlines() -> None:
    assert datas(b'data: {\ndata:  "a": 1\ndata: }\n\n') == ['{\n "a": 1\n}']


def test_event_without_data_is_not_dispatched() -> None:
    assert parse(b"event: ping\n\nid: 7\n\nretry: 10\n\n") == []
    # ... and its event type does not leak into the next event.
    assert parse(b"event: ping\n\ndata: a\n\n") == [Event("a", id="")]


def test_event_field() -> None:
    assert parse(b"event: error\ndata: x\n\ndata: y\n\n") == [Event("x", "error"), Event("y")]


def test_id_field_persists_and_ignores_nul() -> None:
    events = parse(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x00\ndata: c\n\nid\ndata: d\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1"), ("c", "1"), ("d", "")]


def test_retry_and_unknown_fields_are_ignored() -> None:
    assert parse(b"retry: 1000\nfoo: bar\nDATA: no\ndata: a\n\n") == [Event("a")]


def test_close_discards_an_unterminated_event_and_reports_it() -> None:
    for tail in [b"data: x\n", b"data: x", b"da", b"event: e\n", b"data: x\r", b"\xe2\x82"]:
        parser = SSEParser()
        assert parser.feed(b"data: a\n\n" + tail) == [Event("a")]
        assert parser.close() == []
        assert parser.pending, tail


def test_close_after_complete_events_is_not_pending() -> None:
    for body in [
        b"",
        b"data: a\n\n",
        b"data: a\n\n: ping\n",
        b"data: a\n\n:ping\n",
        b"data: a\r\r",
        b"data: a\n\n\n",
    ]:
        parser = SSEParser()
        assert parser.feed(body) == ([Event("a")] if body else []), body
        assert parser.close() == []
        assert not parser.pending, body


def test_pending_while_streaming() -> None:
    parser = SSEParser()
    assert not parser.pending
    parser.feed(b"data: a")
    assert parser.pending
    parser.feed(b"\n\n")
    assert not parser.pending


def test_a_long_line_fed_in_small_pieces() -> None:
    line = b"data: " + b"x" * 1_000_000
    parser = SSEParser()
    for i in range(0, len(line), 997):
        assert parser.feed(line[i : i + 997]) == []
    assert parser.feed(b"\n\n") == [Event("x" * 1_000_000)]
