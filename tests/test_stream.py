from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from inference_tracker.stream import StreamAssembler, StreamSummary
from tests.test_sse import TOGETHER_BODY, split

# The time the second event of TOGETHER_BODY (content "Hello") is complete.
HELLO_END = TOGETHER_BODY.index(b"\n\n", TOGETHER_BODY.index(b'"content":"Hello"')) + 2


def event(obj: object) -> bytes:
    """One SSE event: `obj` as JSON, or the `[DONE]` sentinel as is."""
    if obj == "[DONE]":
        return b"data: [DONE]\n\n"
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(
    finish_reason: str | None = None, usage: dict[str, Any] | None = None, **delta: Any
) -> dict[str, Any]:
    """One `chat.completion.chunk` whose choice 0 carries `delta`."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "org/model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        "usage": usage,
    }


def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
    return {**chunk(), "choices": [], "usage": usage}


def assemble(*chunks: bytes) -> StreamSummary:
    """Feed each chunk at time 1.0, 2.0, 3.0, ..."""
    assembler = StreamAssembler()
    for i, piece in enumerate(chunks, start=1):
        assembler.feed(piece, float(i))
    return assembler.finish()


def events(*objs: object) -> StreamSummary:
    """Each object as its own event, in its own chunk, at time 1.0, 2.0, ..."""
    return assemble(*(event(obj) for obj in objs))


def untimed(summary: StreamSummary) -> StreamSummary:
    return dataclasses.replace(summary, first_token_at=None, last_token_at=None)


def test_recorded_together_stream() -> None:
    summary = assemble(TOGETHER_BODY)
    assert summary == StreamSummary(
        content="Hello!",
        reasoning="",
        finish_reason="stop",
        prompt_tokens=20,
        completion_tokens=3,
        reasoning_tokens=None,
        has_usage=True,
        token_chunks=2,
        first_token_at=1.0,
        last_token_at=1.0,
        done=True,
        error=None,
        events=6,
        unparsable=0,
        id="oPNHZvd-28Eivz-9ae9a606fc201b59",
        model="Qwen/Qwen3-Coder-480B-A35B-Instruct",
        created=1765840584,
        cut_mid_event=False,
    )


def test_recorded_stream_event_by_event_times_the_tokens() -> None:
    pieces = [part + b"\n\n" for part in TOGETHER_BODY.split(b"\n\n")[:-1]]
    assert len(pieces) == 6
    summary = assemble(*pieces)
    assert (summary.first_token_at, summary.last_token_at) == (2.0, 3.0)
    assert summary.content == "Hello!"


def test_recorded_stream_one_byte_at_a_time() -> None:
    body = TOGETHER_BODY
    summary = assemble(*(body[i : i + 1] for i in range(len(body))))
    # The token is there once the byte that ends its event has arrived (times start at 1.0).
    assert summary.first_token_at == float(HELLO_END)
    assert untimed(summary) == untimed(assemble(body))


def test_split_across_two_reads_at_every_byte_position() -> None:
    for i in range(len(TOGETHER_BODY) + 1):
        summary = assemble(TOGETHER_BODY[:i], TOGETHER_BODY[i:])
        assert summary.content == "Hello!", i
        assert (summary.done, summary.events, summary.completion_tokens) == (True, 6, 3), i
        assert summary.first_token_at == (1.0 if i >= HELLO_END else 2.0), i


def test_crlf_and_cr_line_ends() -> None:
    expected = assemble(TOGETHER_BODY)
    assert (expected.content, expected.events, expected.done) == ("Hello!", 6, True)
    assert assemble(TOGETHER_BODY.replace(b"\n", b"\r\n")) == expected
    assert assemble(TOGETHER_BODY.replace(b"\n", b"\r")) == expected


def test_data_without_space() -> None:
    summary = assemble(TOGETHER_BODY.replace(b"data: ", b"data:"))
    assert (summary.content, summary.done, summary.events) == ("Hello!", True, 6)


def test_usage_in_the_last_choice_chunk() -> None:
    summary = events(
        chunk(role="assistant", content=""),
        chunk(content="Hi"),
        chunk("length", {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}),
        "[DONE]",
    )
    assert (summary.finish_reason, summary.has_usage) == ("length", True)
    assert (summary.prompt_tokens, summary.completion_tokens) == (9, 1)


def test_last_usage_object_wins() -> None:
    summary = events(
        chunk(content="a", usage={"prompt_tokens": 5, "completion_tokens": 1}),
        chunk(content="b", usage={"prompt_tokens": 5, "completion_tokens": 2}),
    )
    assert (summary.prompt_tokens, summary.completion_tokens) == (5, 2)


def test_no_usage() -> None:
    summary = events(chunk(content="Hi"), chunk("stop"), "[DONE]")
    assert (summary.content, summary.done) == ("Hi", True)
    assert not summary.has_usage
    assert (summary.prompt_tokens, summary.completion_tokens, summary.reasoning_tokens) == (
        None,
        None,
        None,
    )
    assert "usage" not in summary.completion()


def test_float_and_invalid_usage_values() -> None:
    summary = events(usage_chunk({"prompt_tokens": 20.0, "completion_tokens": 3.0}))
    assert (summary.prompt_tokens, summary.completion_tokens) == (20, 3)
    for bad in [-1, 2.5, True, "20", None, [], float("inf")]:
        summary = events(usage_chunk({"prompt_tokens": bad, "completion_tokens": 3}))
        assert summary.has_usage, bad
        assert (summary.prompt_tokens, summary.completion_tokens) == (None, 3), bad


def test_reasoning_tokens() -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 50,
        "completion_tokens_details": {"reasoning_tokens": 42},
    }
    assert events(usage_chunk(usage)).reasoning_tokens == 42
    usage["completion_tokens_details"] = None
    assert events(usage_chunk(usage)).reasoning_tokens is None


def test_reasoning_content_first_then_content() -> None:
    summary = events(
        chunk(role="assistant", content="", reasoning_content=None),
        chunk(content=None, reasoning_content="Let me"),
        chunk(content=None, reasoning_content=" think."),
        chunk(content="Four", reasoning_content=None),
        chunk("stop", content=""),
    )
    assert (summary.reasoning, summary.content) == ("Let me think.", "Four")
    assert (summary.first_token_at, summary.last_token_at) == (2.0, 4.0)
    assert summary.token_chunks == 3


def test_reasoning_key_variant() -> None:
    summary = events(
        chunk(role="assistant", content=""),
        chunk(content="", reasoning="Hmm"),
        chunk(content="Yes", reasoning=None),
    )
    assert (summary.reasoning, summary.content) == ("Hmm", "Yes")
    assert (summary.first_token_at, summary.token_chunks) == (2.0, 2)


def test_reasoning_in_both_keys_is_counted_once() -> None:
    summary = events(chunk(reasoning_content="Hmm", reasoning="Hmm"), chunk(content="Yes"))
    assert summary.reasoning == "Hmm"


def test_role_only_empty_and_null_chunks_are_not_tokens() -> None:
    summary = events(
        chunk(role="assistant"),
        chunk(role="assistant", content=""),
        chunk(content=None, reasoning=None, reasoning_content=None),
        chunk(),
        chunk(content="x"),
    )
    assert (summary.first_token_at, summary.token_chunks, summary.content) == (5.0, 1, "x")


def test_keep_alive_comments_between_events() -> None:
    summary = assemble(
        b": ping\n\n",
        event(chunk(role="assistant", content="")),
        b": ping\n\n",
        b": OPENROUTER PROCESSING\n\n",
        event(chunk(content="Hi")),
        b":\n\n",
        event("[DONE]"),
    )
    assert (summary.first_token_at, summary.events, summary.content) == (5.0, 3, "Hi")
    assert summary.done


def test_a_snapshot_is_readable_while_streaming() -> None:
    """What a stream cut by the caller's deadline had said; reading it changes nothing."""
    assembler = StreamAssembler()
    assembler.feed(event(chunk(role="assistant", content="")), 1.0)
    assert assembler.snapshot().first_token_at is None
    assembler.feed(event(chunk(content="a"))[:-1], 2.0)  # the event is not complete yet
    early = assembler.snapshot()
    assert (early.first_token_at, early.content, early.cut_mid_event) == (None, "", True)
    assembler.feed(b"\n" + event(chunk(content="b")), 3.0)
    later = assembler.snapshot()
    assert (later.first_token_at, later.content, later.cut_mid_event) == (3.0, "ab", False)
    assembler.feed(event(chunk(content="c")), 4.0)
    summary = assembler.finish()
    assert (summary.first_token_at, summary.last_token_at, summary.content) == (3.0, 4.0, "abc")


def test_done_is_known_as_soon_as_it_arrives() -> None:
    assembler = StreamAssembler()
    assembler.feed(event(chunk("stop", content="Hi")), 1.0)
    assert not assembler.done
    assembler.feed(event("[DONE]"), 2.0)
    assert assembler.done


def test_error_event_mid_stream() -> None:
    summary = events(
        chunk(content="Hel"),
        {"error": {"message": "Internal server error", "type": "server_error", "code": 500}},
    )
    assert summary.error == "Internal server error"
    assert (summary.content, summary.done, summary.events, summary.unparsable) == (
        "Hel",
        False,
        2,
        0,
    )


def test_error_as_text_and_first_error_wins() -> None:
    assert events({"error": "overloaded"}, {"error": {"message": "later"}}).error == "overloaded"


def test_error_without_a_message_keeps_the_raw_event() -> None:
    assert events({"error": {"code": 500}}).error == '{"error": {"code": 500}}'
    assert events({"error": ""}).error == '{"error": ""}'
    assert events(chunk(content="a") | {"error": None}).error is None


def test_no_done() -> None:
    summary = events(chunk(content="Hi"), chunk("stop"))
    assert (summary.done, summary.content, summary.finish_reason) == (False, "Hi", "stop")
    assert not summary.cut_mid_event


def test_cut_mid_event() -> None:
    cut = event(chunk(content=" there"))[:-5]
    summary = assemble(event(chunk(content="Hi")), cut)
    assert (summary.content, summary.events, summary.done) == ("Hi", 1, False)
    assert summary.cut_mid_event


def test_multiple_data_lines_in_one_event() -> None:
    body = b'data: {"choices": [{"index": 0,\ndata: "delta": {"content": "Hi"}}]}\n\n'
    summary = assemble(body)
    assert (summary.content, summary.unparsable, summary.events) == ("Hi", 0, 1)


def test_first_non_empty_id_model_created_win() -> None:
    summary = events(
        {**chunk(content="a"), "id": "", "model": "", "created": None},
        {**chunk(content="b"), "id": "x", "model": "m1", "created": 5.0},
        {**chunk(content="c"), "id": "y", "model": "m2", "created": 6},
    )
    assert (summary.id, summary.model, summary.created) == ("x", "m1", 5)


def test_finish_reason_last_non_null_wins() -> None:
    assert events(chunk("length"), chunk(None), chunk("stop"), chunk(None)).finish_reason == "stop"


def test_only_choice_index_0_counts() -> None:
    two = {
        **chunk(),
        "choices": [
            {"index": 1, "delta": {"content": "other"}, "finish_reason": "length"},
            {"index": 0, "delta": {"content": "mine"}, "finish_reason": None},
        ],
    }
    summary = events(two)
    assert (summary.content, summary.finish_reason, summary.token_chunks) == ("mine", None, 1)
    no_index = {**chunk(), "choices": [{"delta": {"content": "x"}}]}
    assert events(no_index).content == "x"


def test_choice_level_text_is_not_content() -> None:
    # together repeats the delta in choice.text; counting both would double the answer.
    both = {**chunk(), "choices": [{"index": 0, "text": "Hi", "delta": {"content": "Hi"}}]}
    assert events(both).content == "Hi"


def test_content_as_list_of_parts() -> None:
    parts = [
        {"type": "text", "text": "Hel"},
        {"type": "thinking", "text": "not the answer"},
        {"text": "lo"},
        {"type": "image"},
    ]
    summary = events(chunk(content=parts), chunk(content=[]))
    assert (summary.content, summary.token_chunks) == ("Hello", 1)


def test_hostile_events_are_tolerated() -> None:
    summary = assemble(
        event([1, 2]),
        event("text"),
        event(None),
        b"data: {not json\n\n",
        b"data: " + b"[" * 100_000 + b"\n\n",
        b"data: 1e999999\n\n",
        event({"choices": "nope", "usage": "none"}),
        event({"choices": [1, None, "x", {"index": 0, "delta": "text"}]}),
        event({"choices": [{"index": 0, "delta": {"content": 5, "reasoning": {"a": 1}}}]}),
        event({"choices": [{"index": [], "delta": {"content": "no"}}]}),
        event({"usage": {"prompt_tokens": "20", "completion_tokens_details": [1]}}),
        event({"id": 5, "model": ["m"], "created": "now"}),
        b"data: \xff\xfe\x00\n\n",
        b"data: " + b"y" * 1_000_000 + b"\n\n",
        event(chunk(content="ok")),
    )
    assert summary.content == "ok"
    assert summary.events == 15
    assert summary.unparsable == 8
    assert summary.has_usage
    assert (summary.prompt_tokens, summary.id, summary.model) == (None, "chatcmpl-1", "org/model")


def test_completion_shape() -> None:
    summary = events(
        chunk(role="assistant", content=""),
        chunk(reasoning_content="Hmm."),
        chunk(content="4"),
        chunk("stop"),
        usage_chunk(
            {
                "prompt_tokens": 12,
                "completion_tokens": 7,
                "total_tokens": 19,
                "completion_tokens_details": {"reasoning_tokens": 6},
            }
        ),
        "[DONE]",
    )
    assert summary.completion() == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "org/model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "4", "reasoning_content": "Hmm."},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "completion_tokens_details": {"reasoning_tokens": 6},
        },
    }


def test_completion_shape_without_reasoning_or_usage() -> None:
    completion = events(chunk(content="Hi")).completion()
    assert completion == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "org/model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": None}
        ],
    }
    json.dumps(completion)  # serialisable as is


def test_completion_usage_with_a_count_missing() -> None:
    usage = events(usage_chunk({"completion_tokens": 3})).completion()["usage"]
    assert usage == {"prompt_tokens": None, "completion_tokens": 3}


def test_empty_stream() -> None:
    summary = assemble()
    assert summary == StreamSummary()
    assert summary.completion()["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": None}
    ]


FRAGMENTS = [
    b"data: ",
    b"data:",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b": ping\n\n",
    b"event: x\n",
    b"id: 1\n",
    b"[DONE]",
    b'{"id":"a","model":"m","created":1,"choices":[{"index":0,"delta":{"content":"x"}}]}',
    b'{"choices":[{"index":0,"delta":{"reasoning":"r"},"finish_reason":"stop"}]}',
    b'{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2.0}}',
    b'{"error":{"message":"e"}}',
    b'{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"p"}]}}]}',
    "\u00e9\U0001f600".encode(),
    b"\xef\xbb\xbf",
    b"\xff",
    b"[[[[",
]

bodies = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=20)), max_size=40).map(
    b"".join
)


@given(body=bodies, data=st.data())
def test_any_bytes_at_any_split_points(body: bytes, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=10)))
    pieces = split(body, cuts)
    summary = assemble(*pieces)
    assert untimed(summary) == untimed(assemble(body))
    # Whatever came before, two line ends close it: a [DONE] after them is always seen.
    assert assemble(*pieces, b"\n\ndata: [DONE]\n\n").done
    assert (summary.first_token_at is None) == (summary.token_chunks == 0)
    if summary.first_token_at is not None:
        assert summary.last_token_at is not None
        assert 1.0 <= summary.first_token_at <= summary.last_token_at <= len(pieces)
