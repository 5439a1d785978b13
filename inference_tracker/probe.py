"""One inference call: retries, timing of the final attempt, a total time bound, a body cap."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import datetime

import requests

from inference_tracker.clock import Clock
from inference_tracker.net import (
    CONNECT_TIMEOUT_SECONDS,
    NETWORK_ERRORS,
    TIMEOUTS,
    describe_error,
    read_body,
)
from inference_tracker.record import Call, Outcome, error_summary

DEADLINE_SLACK_SECONDS = 0.01  # a socket timer may fire a hair before the time it was set for
CUT_BY_DEADLINE = "cut by the cycle deadline"


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 60.0
    max_retries: int = 2
    body_cap: int = 65536
    retry_delays: tuple[float, ...] = (1.0, 3.0)


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
    progress: Progress | None = None,
) -> Outcome:
    """Send `call`, retrying network errors, timeouts and 5xx; never past `deadline`. The
    pause between tries ends early on `stop` (unless the clock brings its own sleep)."""
    wait = clock.sleep if clock.sleep is not None else stop.wait
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
