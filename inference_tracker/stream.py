"""Assemble a streamed OpenAI-compatible chat completion (`"stream": true`) as its bytes arrive.

The caller reads the body and passes each chunk with the monotonic time it arrived; a token's
time is the time of the chunk that completed its event. Pure (no I/O, no clock), and no input
makes it raise: whatever is not a well-formed chunk is counted and skipped.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from inference_tracker.record import read_usage, whole_count
from inference_tracker.sse import SSEParser


@dataclass
class StreamSummary:
    """What a stream said. The defaults describe an empty stream."""

    content: str = ""  # the delta.content strings, joined
    reasoning: str = ""  # the delta.reasoning_content (or else delta.reasoning) strings, joined
    finish_reason: str | None = None  # the last non-null finish_reason seen
    prompt_tokens: int | None = None  # from the last usage object seen
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens
    has_usage: bool = False  # a usage object was seen
    token_chunks: int = 0  # chunks with non-empty content or reasoning
    first_token_at: float | None = None  # arrival time of the first such chunk
    last_token_at: float | None = None  # ... and of the last one
    done: bool = False  # `data: [DONE]` seen
    error: str | None = None  # the message of the first error event
    events: int = 0  # data events, [DONE] included
    unparsable: int = 0  # data events that are neither a JSON object nor [DONE]
    id: str = ""  # the first non-empty one
    model: str = ""  # the first non-empty one
    created: int | None = None  # the first one given
    cut_mid_event: bool = False  # the body ended inside an event, which was dropped

    def completion(self) -> dict[str, object]:
        """The stream as one OpenAI `chat.completion` object."""
        message: dict[str, object] = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        completion: dict[str, object] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        if self.has_usage:
            usage: dict[str, object] = {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            }
            if self.prompt_tokens is not None and self.completion_tokens is not None:
                usage["total_tokens"] = self.prompt_tokens + self.completion_tokens
            if self.reasoning_tokens is not None:
                usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
            completion["usage"] = usage
        return completion


class StreamAssembler:
    """Feed the body's bytes as they arrive, then `finish()` once at its end."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._summary = StreamSummary()
        self._content: list[str] = []  # joined at the end: no quadratic string building
        self._reasoning: list[str] = []

    @property
    def done(self) -> bool:
        """`data: [DONE]` has arrived: the answer is complete, whatever the connection does."""
        return self._summary.done

    def feed(self, chunk: bytes, at: float) -> None:
        for event in self._parser.feed(chunk):
            self._data(event.data, at)

    def snapshot(self) -> StreamSummary:
        """What the stream has said so far, for a stream cut by the caller's deadline; feeding
        may go on after it."""
        return dataclasses.replace(
            self._summary,
            content="".join(self._content),
            reasoning="".join(self._reasoning),
            cut_mid_event=self._parser.pending,
        )

    def finish(self) -> StreamSummary:
        self._parser.close()
        return self.snapshot()

    def _data(self, data: str, at: float) -> None:
        summary = self._summary
        summary.events += 1
        if data.strip() == "[DONE]":
            summary.done = True
            return
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            chunk = None
        if not isinstance(chunk, dict):
            summary.unparsable += 1
            return
        error = chunk.get("error")
        if error is not None and summary.error is None:
            summary.error = _message(error) or data
        if not summary.id and isinstance(chunk.get("id"), str):
            summary.id = chunk["id"]
        if not summary.model and isinstance(chunk.get("model"), str):
            summary.model = chunk["model"]
        if summary.created is None:
            summary.created = whole_count(chunk.get("created"))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            summary.has_usage = True
            tokens = read_usage(usage)
            summary.prompt_tokens, summary.completion_tokens, summary.reasoning_tokens = tokens
        choices = chunk.get("choices")
        if isinstance(choices, list) and self._choices(choices):
            summary.token_chunks += 1
            if summary.first_token_at is None:
                summary.first_token_at = at
            summary.last_token_at = at

    def _choices(self, choices: list[Any]) -> bool:
        """Take in choice 0 of a chunk; True when it carried text."""
        tokens = False
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index") not in (0, None):
                continue
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self._summary.finish_reason = reason
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            content = _text(delta.get("content"))
            # Some servers send the same text under both names: take one.
            reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
            if content:
                self._content.append(content)
            if reasoning:
                self._reasoning.append(reasoning)
            tokens = tokens or bool(content or reasoning)
        return tokens


def _text(value: object) -> str:
    """A delta's text: a string, or a list of {"type": "text", "text": ...} parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part["text"]
            for part in value
            if isinstance(part, dict)
            and part.get("type", "text") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _message(error: object) -> str:
    """The message of `{"error": {"message": ...}}` or `{"error": "..."}`; "" when none."""
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) else ""
