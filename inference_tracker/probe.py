"""One inference call: retries, timing of the final attempt, a total time bound, a body cap;
and a streamed answer read event by event, its first token timed on arrival."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime

import requests

from inference_tracker.clock import Clock
from inference_tracker.net import (
    CONNECT_TIMEOUT_SECONDS,
    NETWORK_ERRORS,
    RETRY_DELAYS,
    TIMEOUTS,
    describe_error,
    read_body,
    read_chunks,
    retry_delay,
)
from inference_tracker.record import Call, Outcome, error_summary
from inference_tracker.stream import StreamAssembler, StreamSummary

DEADLINE_SLACK_SECONDS = 0.01  # a socket timer may fire a hair before the time it was set for
CUT_BY_DEADLINE = "cut by the cycle deadline"
MAX_STREAM_BYTES = 16 * 1024 * 1024  # a stream read past this is cut: memory stays bounded
AFTER_DONE_SECONDS = 1.0  # how long the body's end may follow [DONE] to keep the connection


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 60.0
    max_retries: int = 2
    body_cap: int = 65536
    retry_delays: tuple[float, ...] = RETRY_DELAYS


@dataclass
class Streaming:
    """A streamed answer as far as it has come: the probe reads into it, and the cycle builds
    the row of a call it cuts at the deadline from it, both under `Progress.lock`."""

    status: int
    headers: dict[str, str]
    assembler: StreamAssembler = field(default_factory=StreamAssembler)
    raw: bytearray = field(default_factory=bytearray)  # the first bytes, if it does not parse
    cut: int = 0  # bytes past the body cap, not kept in `raw`
    total: int = 0  # bytes read

    def feed(self, chunk: bytes, at: float, cap: int) -> None:
        self.assembler.feed(chunk, at)
        kept = chunk[: max(cap - len(self.raw), 0)]
        self.raw += kept
        self.cut += len(chunk) - len(kept)
        self.total += len(chunk)

    def outcome(
        self,
        summary: StreamSummary,
        *,
        error_class: str,
        message: str,
        started: datetime,
        sent_at: float,
        now: float,
    ) -> Outcome:
        """The call's outcome from what the stream said, ended at `now`. The completion is
        whole: the cycle grades all of it, then stores it cut at the body cap."""
        if error_class == "ok" and summary.error is not None:
            error_class, message = "stream_error", f"error event in the stream: {summary.error}"
        elif error_class == "ok" and summary.events and summary.finish_reason is None:
            error_class, message = "stream_error", "the stream ended without a finish_reason"
        if message and summary.cut_mid_event:
            message += "; its last event was cut off and dropped"
        parsed = summary.events > summary.unparsable
        body = (
            json.dumps(summary.completion(), ensure_ascii=False).encode()
            if parsed
            else bytes(self.raw)
        )
        first, last = summary.first_token_at, summary.last_token_at
        span = (last - first) * 1000.0 if first is not None and last is not None else None
        return Outcome(
            error_class=error_class,
            status=self.status,
            body=body,
            cut_bytes=0 if parsed else self.cut,
            headers=self.headers,
            error_message=message,
            started=started,
            duration_ms=(now - sent_at) * 1000.0,
            streamed=True,
            ttft_ms=(first - sent_at) * 1000.0 if first is not None else None,
            token_span_ms=span,
            token_chunks=summary.token_chunks,
        )


@dataclass
class Progress:
    """Where a call is, for the cycle to describe a call it cuts off at the deadline. The
    probe writes it and the cycle reads it under `lock`: a cut row never pairs one attempt's
    start with another's send time, nor reads a stream while a chunk is being fed."""

    attempts: int = 0
    started: datetime | None = None  # wall time the current attempt was sent
    sent_at: float | None = None  # monotonic time of that; None between attempts
    stream: Streaming | None = None  # that attempt's streamed answer, once its headers came
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def cut(self, now: float) -> Outcome:
        """The outcome of this call cut at the deadline `now`, from what its probe last
        reported: a stream keeps its status, its time to first token and what it had said."""
        with self.lock:
            if self.attempts == 0:
                return Outcome(
                    error_class="deadline", error_message="not started before the cycle deadline"
                )
            if self.started is None or self.sent_at is None:  # between attempts
                return Outcome(
                    error_class="deadline",
                    error_message=f"{CUT_BY_DEADLINE} while waiting to retry",
                    attempts=self.attempts,
                )
            if self.stream is not None:
                outcome = self.stream.outcome(
                    self.stream.assembler.snapshot(), error_class="deadline",
                    message=CUT_BY_DEADLINE, started=self.started, sent_at=self.sent_at, now=now,
                )  # fmt: skip
            else:
                outcome = Outcome(
                    error_class="deadline",
                    error_message=CUT_BY_DEADLINE,
                    started=self.started,
                    duration_ms=(now - self.sent_at) * 1000.0,
                )
            return dataclasses.replace(outcome, attempts=self.attempts)


def probe(
    session: requests.Session,
    call: Call,
    token: str,
    *,
    limits: Limits,
    deadline: float,
    stop: threading.Event,
    clock: Clock = Clock(),
    progress: Progress | None = None,
) -> Outcome:
    """Send `call`, retrying network errors, timeouts and 5xx; never past `deadline`. The
    pause between tries ends early on `stop` (unless the clock brings its own sleep)."""
    wait = clock.pause_until_stopped(stop)
    progress = progress if progress is not None else Progress()
    headers = {**call.headers, "Authorization": f"Bearer {token}"}
    while True:
        with progress.lock:
            progress.attempts += 1
        outcome, retryable = _attempt(session, call, headers, limits, deadline, clock, progress)
        if not retryable or progress.attempts > limits.max_retries:
            break  # the final attempt: a cut from now on still reports its start and time
        delay = retry_delay(limits.retry_delays, progress.attempts)
        if clock.monotonic() + delay >= deadline or stop.is_set():
            break
        with progress.lock:
            progress.sent_at = None  # between attempts
        wait(delay)
        if stop.is_set():
            break
    return dataclasses.replace(outcome, attempts=progress.attempts)


def _attempt(
    session: requests.Session,
    call: Call,
    headers: dict[str, str],
    limits: Limits,
    deadline: float,
    clock: Clock,
    progress: Progress,
) -> tuple[Outcome, bool]:
    """One try. Returns the outcome and whether a retry may help."""
    # What session.post would do, split so the clock starts as the request goes out: under
    # 64-way load, preparing it (and waiting for the GIL meanwhile) took milliseconds.
    request = requests.Request("POST", call.url, data=call.body.encode("utf-8"), headers=headers)
    prepared = session.prepare_request(request)
    settings = session.merge_environment_settings(prepared.url, {}, True, None, None)
    started = clock.wall()
    t0 = clock.monotonic()
    budget = min(limits.request_timeout, deadline - t0)
    if budget <= 0:
        return Outcome(error_class="deadline", error_message=CUT_BY_DEADLINE), False
    ends_at = t0 + budget
    with progress.lock:
        progress.started, progress.sent_at, progress.stream = started, t0, None

    def elapsed_ms() -> float:
        return (clock.monotonic() - t0) * 1000.0

    response: requests.Response | None = None
    try:
        response = session.send(
            prepared, timeout=(min(CONNECT_TIMEOUT_SECONDS, budget), budget), **settings
        )
        if response.ok and _is_event_stream(response):  # once it has begun, never retried
            streamed = _read_stream(
                response, limits, ends_at, deadline, clock, started, t0, progress
            )
            return streamed, False
        body, cut = read_body(response, limits.body_cap, ends_at, clock)
    except TIMEOUTS:
        # Decided now, not before sending: a connect timeout long before the deadline is a
        # plain (retryable) timeout even when the deadline is near.
        at_deadline = clock.monotonic() >= deadline - DEADLINE_SLACK_SECONDS
        outcome = Outcome(
            error_class="deadline" if at_deadline else "timeout",
            status=-1,
            error_message=(
                CUT_BY_DEADLINE
                if at_deadline
                else f"no complete response within {elapsed_ms() / 1000:.3g} s"
            ),
            started=started,
            duration_ms=elapsed_ms(),
            headers=dict(response.headers) if response is not None else None,
        )
        return outcome, not at_deadline
    except NETWORK_ERRORS as exc:
        outcome = Outcome(
            error_class="connection_error",
            status=-1,
            error_message=describe_error(exc),
            started=started,
            duration_ms=elapsed_ms(),
        )
        return outcome, True
    finally:
        if response is not None:
            response.close()
    duration = elapsed_ms()
    status = response.status_code
    ok = 200 <= status < 300
    outcome = Outcome(
        error_class="ok" if ok else "http_error",
        status=status,
        body=body,
        cut_bytes=cut,
        headers=dict(response.headers),
        error_message="" if ok else error_summary(status, body),
        started=started,
        duration_ms=duration,
    )
    return outcome, status >= 500


def _is_event_stream(response: requests.Response) -> bool:
    media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return media == "text/event-stream"


def _read_stream(
    response: requests.Response,
    limits: Limits,
    ends_at: float,
    deadline: float,
    clock: Clock,
    started: datetime,
    t0: float,
    progress: Progress,
) -> Outcome:
    """A streamed answer, read as it comes until `[DONE]` (a provider may keep the connection
    open after it) or the body's end. Each chunk is timed on arrival (the first token's time
    is the TTFT) and fed, under the progress lock, to what a cut at the deadline reads."""
    stream = Streaming(response.status_code, dict(response.headers))
    with progress.lock:
        progress.stream = stream
    error_class, broken = "ok", ""  # how the stream ended, and why if it broke
    try:
        for chunk in read_chunks(response, ends_at, clock):
            at = clock.monotonic()
            with progress.lock:
                stream.feed(chunk, at, limits.body_cap)
            if stream.total > MAX_STREAM_BYTES:
                error_class, broken = "invalid_response", f"stream over {MAX_STREAM_BYTES} bytes"
                break
            if stream.assembler.done:
                break
    except TIMEOUTS:
        at_deadline = clock.monotonic() >= deadline - DEADLINE_SLACK_SECONDS
        error_class = "deadline" if at_deadline else "timeout"
        broken = CUT_BY_DEADLINE if at_deadline else (
            f"stream not complete within {(clock.monotonic() - t0):.3g} s"
        )  # fmt: skip
    except NETWORK_ERRORS as exc:
        error_class, broken = "stream_error", f"stream broke off: {describe_error(exc)}"
    now = clock.monotonic()
    if stream.assembler.done:  # never into the cycle's last second: it would cut this call
        _read_rest(response, min(now + AFTER_DONE_SECONDS, deadline - AFTER_DONE_SECONDS), clock)
    with progress.lock:
        summary = stream.assembler.finish()
    return stream.outcome(
        summary, error_class=error_class, message=broken, started=started, sent_at=t0, now=now
    )


def _read_rest(response: requests.Response, until: float, clock: Clock) -> None:
    """Read what follows [DONE], untimed and unkept: usually just the body's end, which lets
    the connection go back to the pool. One held open past `until` is closed instead."""
    with contextlib.suppress(*TIMEOUTS, *NETWORK_ERRORS):
        for _ in read_chunks(response, until, clock):
            pass
