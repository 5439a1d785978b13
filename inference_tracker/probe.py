"""One inference call: retries, timing of the final attempt, a total time bound, a body cap."""

from __future__ import annotations

import contextlib
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


class _Overtime(Exception):
    """The attempt's time ran out while the body was still arriving."""


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
) -> Outcome:
    """Send `call`, retrying network errors and 5xx; never past `deadline` (monotonic)."""
    wait = sleep if sleep is not None else stop.wait
    headers = {**call.headers, "Authorization": f"Bearer {token}"}
    attempts = 0
    while True:
        attempts += 1
        outcome, retryable = _attempt(session, call, headers, limits, deadline, clock)
        if not retryable or attempts > limits.max_retries:
            break
        delay = limits.retry_delays[min(attempts - 1, len(limits.retry_delays) - 1)]
        if clock.monotonic() + delay >= deadline or stop.is_set():
            break
        wait(delay)
        if stop.is_set():
            break
    return Outcome(
        error_class=outcome.error_class,
        status=outcome.status,
        body=outcome.body,
        cut_bytes=outcome.cut_bytes,
        headers=outcome.headers,
        error_message=outcome.error_message,
        attempts=attempts,
        started=outcome.started,
        duration_ms=outcome.duration_ms,
    )


def _attempt(
    session: requests.Session,
    call: Call,
    headers: dict[str, str],
    limits: Limits,
    deadline: float,
    clock: Clock,
) -> tuple[Outcome, bool]:
    """One try. Returns the outcome and whether a retry may help."""
    budget = min(limits.request_timeout, deadline - clock.monotonic())
    cut_by_deadline = deadline - clock.monotonic() <= limits.request_timeout
    late_class = "deadline" if cut_by_deadline else "timeout"
    late_message = (
        "cut by the cycle deadline"
        if cut_by_deadline
        else f"no complete response within {limits.request_timeout:g} s"
    )
    if budget <= 0:
        return Outcome(error_class="deadline", error_message="cut by the cycle deadline"), False
    started = clock.wall()
    t0 = clock.monotonic()
    ends_at = t0 + budget

    def elapsed_ms() -> float:
        return (clock.monotonic() - t0) * 1000.0

    response: requests.Response | None = None
    try:
        # What session.post would do, split so the clock starts as the request goes out: under
        # 64-way load, preparing it (and waiting for the GIL meanwhile) took milliseconds.
        request = requests.Request(
            "POST", call.url, data=call.body.encode("utf-8"), headers=headers
        )
        prepared = session.prepare_request(request)
        settings = session.merge_environment_settings(prepared.url, {}, True, None, None)
        started = clock.wall()
        t0 = clock.monotonic()
        response = session.send(
            prepared, timeout=(min(CONNECT_TIMEOUT_SECONDS, budget), budget), **settings
        )
        body, cut = _read_body(response, limits.body_cap, ends_at, clock)
    except (_Overtime, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        outcome = Outcome(
            error_class=late_class,
            status=-1,
            error_message=late_message,
            started=started,
            duration_ms=elapsed_ms(),
            headers=dict(response.headers) if response is not None else None,
        )
        return outcome, late_class == "timeout"
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


def _read_body(
    response: requests.Response, cap: int, ends_at: float, clock: Clock
) -> tuple[bytes, int]:
    """Read the whole body by `ends_at`, keeping the first `cap` bytes and counting the rest."""
    kept = bytearray()
    cut = 0
    raw = response.raw
    while True:
        left = ends_at - clock.monotonic()
        if left <= 0:
            raise _Overtime
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
    return f"{type(exc).__name__}: {exc}"[:300]
