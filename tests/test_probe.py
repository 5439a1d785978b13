"""One call, with `responses` standing in for the router: retries, timing, body cap."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from inference_tracker.clock import Clock
from inference_tracker.cycle import _cut_by_deadline
from inference_tracker.net import make_session
from inference_tracker.probe import Limits, Progress, probe
from inference_tracker.record import Call, Outcome
from tests.fakes.router import FakeRouter, completion

URL = "https://router.test/groq/openai/v1/chat/completions"
TOKEN = "hf_" + "p" * 34
CALL = Call("org/m", "groq", "g/m", URL, '{"model":"g/m"}', {"Content-Type": "application/json"})


DEFAULT_LIMITS = Limits()


class FakeClock:
    """Monotonic time that moves only when told (each read can advance it)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step
        self.start_wall = datetime(2026, 11, 27, tzinfo=UTC)

    def monotonic(self) -> float:
        self.now += self.step
        return self.now

    def wall(self) -> datetime:
        return self.start_wall + timedelta(seconds=self.now - 1000.0)

    def clock(self, sleep: Callable[[float], object] | None = None) -> Clock:
        return Clock(monotonic=self.monotonic, wall=self.wall, sleep=sleep)


def run(
    limits: Limits = DEFAULT_LIMITS, deadline: float = 1e9, clock: FakeClock | None = None
) -> tuple[Outcome, list[float]]:
    slept: list[float] = []
    fake = clock or FakeClock()
    outcome = probe(
        requests.Session(), CALL, TOKEN, limits=limits, deadline=deadline,
        stop=threading.Event(), clock=fake.clock(slept.append),
    )  # fmt: skip
    return outcome, slept


@responses.activate
def test_success_sends_the_token_and_reads_the_body() -> None:
    responses.post(URL, body=completion())
    outcome, slept = run()
    assert outcome.error_class == "ok" and outcome.status == 200 and outcome.attempts == 1
    assert outcome.body == completion()
    assert slept == []
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == b'{"model":"g/m"}'


@responses.activate
def test_503_then_200_retries_once_after_one_second() -> None:
    responses.post(URL, status=503, body="cold start")
    responses.post(URL, body=completion())
    outcome, slept = run()
    assert outcome.error_class == "ok" and outcome.attempts == 2
    assert slept == [1.0]
    assert slept == [1.0]


@responses.activate
def test_500_three_times_gives_up_after_two_retries() -> None:
    for _ in range(4):
        responses.post(URL, status=500, json={"error": "boom"})
    outcome, slept = run()
    assert outcome.error_class == "http_error" and outcome.status == 500
    assert outcome.attempts == 3
    assert outcome.error_message == "HTTP 500: boom"
    assert slept == [1.0, 3.0]
    assert len(responses.calls) == 3


@pytest.mark.parametrize("status", [400, 401, 402, 404, 422, 429])
@responses.activate
def test_4xx_is_never_retried(status: int) -> None:
    responses.post(URL, status=status, json={"error": "no"})
    outcome, slept = run()
    assert outcome.error_class == "http_error" and outcome.status == status
    assert outcome.attempts == 1 and slept == []


@responses.activate
def test_timeout_is_retried_then_recorded() -> None:
    for _ in range(3):
        responses.post(URL, body=requests.ReadTimeout("read timed out"))
    outcome, slept = run()
    assert outcome.error_class == "timeout" and outcome.status == -1
    assert outcome.attempts == 3 and slept == [1.0, 3.0]


@responses.activate
def test_connection_reset_then_success() -> None:
    responses.post(
        URL, body=requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    )
    responses.post(URL, body=completion())
    outcome, slept = run()
    assert outcome.error_class == "ok" and outcome.attempts == 2
    assert slept == [1.0]


@responses.activate
def test_connection_errors_to_the_end() -> None:
    for _ in range(3):
        responses.post(URL, body=requests.ConnectionError("refused"))
    outcome, _ = run(Limits(max_retries=2))
    assert outcome.error_class == "connection_error" and outcome.status == -1
    assert outcome.attempts == 3


@responses.activate
def test_zero_retries() -> None:
    responses.post(URL, status=503)
    outcome, slept = run(Limits(max_retries=0))
    assert outcome.attempts == 1 and slept == []


@responses.activate
def test_no_retry_when_the_delay_would_pass_the_deadline() -> None:
    responses.post(URL, status=503)
    clock = FakeClock()
    outcome, slept = run(deadline=clock.now + 0.5, clock=clock)
    assert outcome.attempts == 1 and slept == []


@responses.activate
def test_body_over_the_cap_is_cut_and_counted() -> None:
    responses.post(URL, body=b"x" * 5_000_000)
    outcome, _ = run(Limits(body_cap=1000))
    assert len(outcome.body) == 1000
    assert outcome.cut_bytes == 4_999_000


@responses.activate
def test_duration_is_the_final_attempt_only() -> None:
    """Each read of the clock moves it 0.1 s and a retry sleep moves it too: the duration and
    the start are the final attempt's, without the first attempt or the 1 s wait."""
    responses.post(URL, status=503)
    responses.post(URL, body=completion())
    clock = FakeClock(step=0.1)

    def sleep(seconds: float) -> None:
        clock.now += seconds

    outcome = probe(
        requests.Session(), CALL, TOKEN, limits=Limits(), deadline=1e9,
        stop=threading.Event(), clock=clock.clock(sleep),
    )  # fmt: skip
    assert outcome.attempts == 2
    # Attempt 1 and the retry check cost 0.4 s of clock reads, the wait 1 s: the final attempt
    # is sent at 1.4 s and lasts its own three reads, 300 ms (1,700 if the first counted).
    assert outcome.started is not None
    assert (outcome.started - clock.start_wall).total_seconds() == pytest.approx(1.4)
    assert outcome.duration_ms == pytest.approx(300.0)


@responses.activate
def test_deadline_already_passed_makes_no_request() -> None:
    clock = FakeClock()
    outcome, _ = run(deadline=clock.now - 1, clock=clock)
    assert outcome.error_class == "deadline"
    assert len(responses.calls) == 0


@responses.activate
def test_a_timeout_far_from_the_deadline_is_a_retryable_timeout() -> None:
    """The deadline is near enough to cap the attempt, but this connect timeout came at once:
    it is a timeout, and retried, not a deadline cut."""
    responses.post(URL, body=requests.ConnectTimeout("connect timed out"))
    responses.post(URL, body=completion())
    clock = FakeClock()
    outcome, slept = run(Limits(request_timeout=60), deadline=clock.now + 30, clock=clock)
    assert outcome.error_class == "ok" and outcome.attempts == 2
    assert slept == [1.0]


@responses.activate
def test_a_timeout_at_the_deadline_is_a_deadline_cut() -> None:
    clock = FakeClock()
    deadline = clock.now + 30

    def late(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        clock.now = deadline  # the read waited until the deadline
        raise requests.ReadTimeout("read timed out")

    responses.add_callback(responses.POST, URL, callback=late)
    outcome, slept = run(Limits(request_timeout=60), deadline=deadline, clock=clock)
    assert (outcome.error_class, outcome.attempts, slept) == ("deadline", 1, [])


@responses.activate
def test_the_final_attempt_stays_on_record_for_a_cut_at_the_deadline() -> None:
    """The cycle may cut a call at the deadline just after its last attempt returned and
    before its row was taken: it must then still see that attempt (its start and time), not
    'waiting to retry' with no time at all."""
    responses.post(URL, status=503)
    responses.post(URL, status=400)
    progress = Progress()
    during_pause: list[float | None] = []
    fake = FakeClock()
    outcome = probe(
        requests.Session(), CALL, TOKEN, limits=Limits(max_retries=2), deadline=1e9,
        stop=threading.Event(), clock=fake.clock(lambda s: during_pause.append(progress.sent_at)),
        progress=progress,
    )  # fmt: skip
    assert (outcome.status, outcome.attempts) == (400, 2)
    assert during_pause == [None]  # between attempts: nothing in flight
    assert progress.sent_at is not None and progress.started is not None  # the final one


def stream_body(*contents: str) -> bytes:
    """Server-sent events, one chunk per content delta, no finish_reason (the stream stalls)."""
    chunks = [{"choices": [{"index": 0, "delta": {"content": text}}]} for text in contents]
    return b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)


@responses.activate
def test_a_stream_cut_at_the_deadline_keeps_its_status_first_token_and_partial_answer() -> None:
    """The cycle builds the row of a call it cuts from the call's progress: a stream that had
    begun keeps its status, its time to first token and what it had said."""
    responses.post(URL, body=stream_body("The ", "answer "), content_type="text/event-stream")
    progress = Progress()
    clock = FakeClock()
    probe(
        requests.Session(), CALL, TOKEN, limits=Limits(), deadline=1e9,
        stop=threading.Event(), clock=clock.clock(), progress=progress,
    )  # fmt: skip
    cut = _cut_by_deadline(progress, clock.now + 2.5)
    assert (cut.error_class, cut.error_message) == ("deadline", "cut by the cycle deadline")
    assert (cut.status, cut.streamed, cut.attempts) == (200, True, 1)
    assert (cut.ttft_ms, cut.token_span_ms, cut.token_chunks) == (0.0, 0.0, 2)
    assert cut.duration_ms == pytest.approx(2500.0)
    assert cut.headers is not None and cut.headers["Content-Type"] == "text/event-stream"
    assert json.loads(cut.body)["choices"][0]["message"]["content"] == "The answer "


@responses.activate
def test_the_probe_writes_its_progress_under_its_lock() -> None:
    """The cycle reads a call's progress under that lock: a cut row never pairs one attempt's
    start with another's send time."""
    written: list[tuple[str, bool]] = []

    class Watched(Progress):
        def __setattr__(self, name: str, value: object) -> None:
            lock = self.__dict__.get("lock")
            written.append((name, lock is not None and lock.locked()))
            super().__setattr__(name, value)

    responses.post(URL, status=503)
    responses.post(URL, body=stream_body("Hi"), content_type="text/event-stream")
    outcome = probe(
        requests.Session(), CALL, TOKEN, limits=Limits(), deadline=1e9,
        stop=threading.Event(), clock=FakeClock().clock(lambda s: None), progress=Watched(),
    )  # fmt: skip
    assert outcome.attempts == 2
    by_the_probe = written[len(dataclasses.fields(Progress)) :]  # after __init__
    assert {name for name, _ in by_the_probe} >= {"attempts", "started", "sent_at"}
    assert [name for name, locked in by_the_probe if not locked] == []


def test_a_stream_read_to_done_leaves_its_connection_to_the_next_call() -> None:
    """Reading stops at [DONE], and the body's end that follows is read too: the connection
    goes back to the pool (a new one would put a handshake into the next call's timings)."""
    with FakeRouter() as router:
        body = json.dumps({"model": "m", "stream": True})
        call = Call("org/m", "p", "m", f"{router.url}/p/v1/chat/completions", body, {})
        session = make_session(1)
        for _ in range(2):
            outcome = probe(
                session, call, TOKEN, limits=Limits(), deadline=time.monotonic() + 60,
                stop=threading.Event(),
            )  # fmt: skip
            assert (outcome.error_class, outcome.streamed) == ("ok", True)
    assert len({seen.client_port for seen in router.seen}) == 1
