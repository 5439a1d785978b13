"""One call, with `responses` standing in for the router: retries, timing, body cap."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from inference_tracker.clock import Clock
from inference_tracker.probe import Limits, Progress, probe
from inference_tracker.record import Call, Outcome
from tests.fakes.router import completion

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
