"""One inference call: retries, timing of the final attempt, a total time bound, a body cap."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
import urllib3.exceptions

from inference_tracker.record import Call, Outcome, error_summary

CONNECT_TIMEOUT_SECONDS = 10.0
DEADLINE_SLACK_SECONDS = 0.01  # a socket timer may fire a hair before the time it was set for
CUT_BY_DEADLINE = "cut by the cycle deadline"
READ_CHUNK_BYTES = 65536


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 60.0
    max_retries: int = 2
    body_cap: int = 65536
    retry_delays: tuple[float, ...] = (1.0, 3.0)


@dataclass(frozen=True)
class Clock:
    """The clocks a probe reads and the sleep it uses, injectable for tests."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class Overtime(Exception):
    """The attempt's time ran out while the body was still arriving."""


@dataclass
class Progress:
    """Where a call is, for the cycle to describe a call it cuts off at the deadline."""

    attempts: int = 0
    started: datetime | None = None  # wall time the current attempt was sent
    sent_at: float | None = None  # monotonic time of that; None between attempts


def probe(
    session: requests.Session,
    call: Call,
    token: str,
    *,
    limits: Limits,
    deadline: float,
    stop: threading.Event,
    clock: Clock = Clock(),
    sleep: Callable[[float], object] | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Send `call`, retrying network errors, timeouts and 5xx; never past `deadline`."""
    wait = sleep if sleep is not None else stop.wait
    progress = progress if progress is not None else Progress()
    headers = {**call.headers, "Authorization": f"Bearer {token}"}
    while True:
        progress.attempts += 1
        outcome, retryable = _attempt(session, call, headers, limits, deadline, clock, progress)
        progress.sent_at = None
        if not retryable or progress.attempts > limits.max_retries:
            break
        delay = limits.retry_delays[min(progress.attempts - 1, len(limits.retry_delays) - 1)]
        if clock.monotonic() + delay >= deadline or stop.is_set():
            break
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
    progress.started, progress.sent_at = started, t0

    def elapsed_ms() -> float:
        return (clock.monotonic() - t0) * 1000.0

    response: requests.Response | None = None
    try:
        response = session.send(
            prepared, timeout=(min(CONNECT_TIMEOUT_SECONDS, budget), budget), **settings
        )
        body, cut = read_body(response, limits.body_cap, ends_at, clock)
    except (Overtime, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
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
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
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


def read_body(
    response: requests.Response, cap: int, ends_at: float, clock: Clock
) -> tuple[bytes, int]:
    """Read the whole body by `ends_at`, keeping the first `cap` bytes and counting the rest."""
    kept = bytearray()
    cut = 0
    raw = response.raw
    while True:
        left = ends_at - clock.monotonic()
        if left <= 0:
            raise Overtime
        _bound_next_read(raw, left)
        chunk = raw.read1(READ_CHUNK_BYTES, decode_content=True)
        if not chunk:
            return bytes(kept), cut
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        cut += max(0, len(chunk) - max(room, 0))


def _bound_next_read(raw: urllib3.BaseHTTPResponse, seconds: float) -> None:
    """Make the next socket read wait at most `seconds` (requests' timeout is per read)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


_SOCKET_ERRORS = (ConnectionRefusedError, ConnectionResetError, socket.gaierror)


def describe_error(exc: BaseException) -> str:
    """A short, stable description of a network error (no URL credentials, no repr noise)."""
    reason: BaseException | None = exc
    while reason is not None and not isinstance(reason, _SOCKET_ERRORS):
        reason = reason.__cause__ or reason.__context__
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(reason, socket.gaierror):
        return "name resolution failed"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        return "connection dropped before the response was complete"
    return f"{type(exc).__name__}: {exc}"  # cut, after scrubbing, where it is stored
