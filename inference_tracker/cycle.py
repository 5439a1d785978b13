"""A whole cycle: plan the calls, run them concurrently under one deadline, store the rows."""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import requests

from inference_tracker.catalog import Background, advertised_for
from inference_tracker.clock import Clock
from inference_tracker.config import Settings
from inference_tracker.discovery import Pair
from inference_tracker.errors import StoreError
from inference_tracker.logs import EventLog
from inference_tracker.probe import Limits, Progress, probe
from inference_tracker.providers import ProviderMap
from inference_tracker.record import (
    NOT_CALLED,
    Call,
    CycleSummary,
    Outcome,
    Row,
    Scrubber,
    body_text,
    build_row,
    iso_ms,
    summarise,
)
from inference_tracker.snapshot import spent_usd
from inference_tracker.store import StateNotSaved, Store

UNIFIED_ROUTE = "/v1/chat/completions"
STOP_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class CallTemplate:
    """What every call of a cycle shares (the prompt, the router, the headers)."""

    router_base_url: str
    prompt: str
    max_tokens: int
    user_agent: str
    bill_to: str = ""
    stream: bool = True  # ask for a streamed answer (STREAM)


def plan_calls(
    pairs: list[Pair], providers: ProviderMap, template: CallTemplate, log: EventLog
) -> list[Call]:
    """One Call per (model, live provider) pair, routed by providers.toml; warns once per
    unmapped provider."""
    headers = {"Content-Type": "application/json", "User-Agent": template.user_agent}
    if template.bill_to:
        headers["X-HF-Bill-To"] = template.bill_to
    calls: list[Call] = []
    unmapped: set[str] = set()
    for pair in pairs:
        route = providers.routes.get(pair.provider_name)
        skip = ""
        if route is not None:
            url = template.router_base_url + route.replace(
                "{model}", quote(pair.provider_model_id, safe="/")
            )
            model = pair.provider_model_id
        else:
            url = template.router_base_url + UNIFIED_ROUTE
            model = f"{pair.model_id}:{pair.provider_name}"
            if pair.provider_name in providers.no_chat_route:
                skip = f"{pair.provider_name}: {providers.no_chat_route[pair.provider_name]}"
            elif not providers.unified_fallback:
                skip = f"{pair.provider_name} is not in {providers.source} (fallback off)"
            else:
                unmapped.add(pair.provider_name)
            if skip:
                url = ""  # no call is made
        body = {
            "messages": [{"role": "user", "content": template.prompt}],
            "max_tokens": template.max_tokens,
            "model": model,
            **(
                {"stream": True, "stream_options": {"include_usage": True}}
                if template.stream
                else {"stream": False}
            ),
        }
        calls.append(
            Call(
                model_id=pair.model_id,
                provider_name=pair.provider_name,
                provider_model_id=pair.provider_model_id,
                url=url,
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                headers=headers,
                skip_reason=skip,
            )
        )
    if unmapped:
        log.warning(
            "unmapped_providers",
            providers=sorted(unmapped),
            route=template.router_base_url + UNIFIED_ROUTE,
            hint=providers.how_to_add(),
        )
    return calls


@dataclass(frozen=True)
class Began:
    """When a cycle began, by the wall and the monotonic clock, and when all must be over."""

    wall: datetime
    monotonic: float
    deadline: float

    @classmethod
    def now(cls, clock: Clock, deadline_seconds: float) -> Began:
        wall, mono = clock.wall(), clock.monotonic()
        return cls(wall, mono, mono + deadline_seconds)


@dataclass(frozen=True)
class Stored:
    """A cycle as it was stored: its rows, their summary and the new cycle counter."""

    rows: list[Row]
    summary: CycleSummary
    counter: int


def run_cycle(
    session: requests.Session,
    pairs: list[Pair],
    calls: list[Call],
    settings: Settings,
    store: Store,
    *,
    began: Began,
    models_listed: int,
    stop: threading.Event,
    log: EventLog,
    scrub: Scrubber,
    catalog: Background | None = None,
    clock: Clock = Clock(),
) -> Stored:
    """Make the planned calls (one per pair, in order), build one row per call measured with
    what the router's catalog advertises for its pair, store them and count the cycle.

    Raises StoreError when the rows cannot be kept, checked before any (billed) call too;
    either way the failure is noted where `status` finds it. Over MAX_DAILY_SPEND_USD in the
    last 24 h, no call is made: the cycle counts, with a `budget` row per pair."""
    assert settings.hf_token is not None  # the CLI refuses to collect without it
    try:
        store.check_writable()
    except StoreError as exc:
        store.note_error("store", str(exc), clock.wall())
        raise
    over = _over_budget(store, settings.max_daily_spend_usd, clock.wall())
    if over is not None:
        log.warning("spending_cap_reached", detail=over)
        result = CycleResult([(call, _not_called(call, over)) for call in calls], False)
    else:
        result = _measure(session, calls, settings, began, stop, log, clock)
    advertised = catalog.take() if catalog is not None else {}
    listed = {(pair.model_id, pair.provider_name): pair for pair in pairs}
    rows = [
        _stored(
            build_row(
                began.wall,
                call,
                outcome,
                expected_answer=settings.expected_answer,
                probe_id=settings.probe_id,
                scrub=scrub,
                advertised=advertised_for(listed[(call.model_id, call.provider_name)], advertised),
            ),
            outcome,
            settings.max_response_body_bytes,
            scrub,
        )
        for call, outcome in result.outcomes
    ]
    if settings.max_daily_spend_usd is not None:
        _warn_unseen_spend(rows, log)
    summary = summarise(
        rows,
        iso_ms(began.wall),
        duration_s=round(clock.monotonic() - began.monotonic, 3),
        interrupted=result.interrupted,
        models=models_listed,
    )
    try:
        counter = store.append_cycle(rows, summary)
    except StoreError as exc:
        store.note_error("state" if isinstance(exc, StateNotSaved) else "store", str(exc),
                         clock.wall())  # fmt: skip
        raise
    log.info("cycle_finished", **dataclasses.asdict(summary), cycle_counter=counter)
    return Stored(rows, summary, counter)


def _stored(row: Row, outcome: Outcome, cap: int, scrub: Scrubber) -> Row:
    """The row as stored: a streamed completion, graded whole by build_row, is kept cut at
    the body cap with the marker a plain body gets (the probe cannot cut what is graded)."""
    if outcome.streamed and len(outcome.body) > cap:
        row["response_body_raw"] = body_text(outcome.body[:cap], len(outcome.body) - cap, scrub)
    return row


def _warn_unseen_spend(rows: list[Row], log: EventLog) -> None:
    """The spending cap counts cost_usd, known only with both prices and the usage: a call that
    produced tokens without it is spending the cap cannot see (as when the catalog came late
    or lists no price for the pair)."""
    unseen = [
        row
        for row in rows
        if row["error_class"] not in NOT_CALLED
        and (row["prompt_tokens"] or row["completion_tokens"])
        and not row["cost_usd"]
    ]
    if unseen:
        log.warning(
            "spend_unknown",
            calls=len(unseen),
            detail="no price (router catalog) or no usage for these calls: MAX_DAILY_SPEND_USD"
            " does not count what they cost",
        )


def _over_budget(store: Store, cap: float | None, now: datetime) -> str | None:
    """Why no call is made this cycle (the rows of the last 24 h cost the cap), or None."""
    if cap is None:
        return None
    spent = spent_usd(store, now=now, hours=24)
    if spent < cap:
        return None
    return (
        f"the calls of the last 24 h cost ${spent:.4f}, at or over MAX_DAILY_SPEND_USD"
        f" (${cap:g}): no call this cycle"
    )


def _not_called(call: Call, why: str) -> Outcome:
    if call.skip_reason:  # not called anyway (providers.toml)
        return _skipped(call)
    return Outcome(error_class="budget", error_message=why)


def _skipped(call: Call) -> Outcome:
    """The row of a pair providers.toml says not to call."""
    return Outcome(error_class="unmapped_provider", error_message=call.skip_reason)


def _measure(
    session: requests.Session,
    calls: list[Call],
    settings: Settings,
    began: Began,
    stop: threading.Event,
    log: EventLog,
    clock: Clock,
) -> CycleResult:
    assert settings.hf_token is not None
    log.info("calls_started", calls=len(calls), max_concurrency=settings.max_concurrency)
    return run_calls(
        session,
        calls,
        settings.hf_token.get_secret_value(),
        limits=Limits(
            request_timeout=settings.request_timeout_seconds,
            max_retries=settings.max_retries,
            body_cap=settings.max_response_body_bytes,
        ),
        deadline=began.deadline,
        max_concurrency=settings.max_concurrency,
        stop=stop,
        log=log,
        clock=clock,
    )


@dataclass
class CycleResult:
    outcomes: list[tuple[Call, Outcome]]
    interrupted: bool


def run_calls(
    session: requests.Session,
    calls: list[Call],
    token: str,
    *,
    limits: Limits,
    deadline: float,
    max_concurrency: int,
    stop: threading.Event,
    log: EventLog,
    clock: Clock = Clock(),
) -> CycleResult:
    """Run every call, at most `max_concurrency` at once, all ended by `deadline` (monotonic).

    Worker threads are daemons: a thread stuck in a socket read past the deadline does not
    keep the process alive; its call becomes a `deadline` row. On `stop` no new call starts,
    calls in flight get a few seconds, and only what was measured is returned.
    """
    results: dict[int, Outcome] = {}
    in_flight: dict[int, Progress] = {}
    lock = threading.Lock()
    all_done = threading.Event()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    live = [i for i, call in enumerate(calls) if not call.skip_reason]
    for i, call in enumerate(calls):
        if call.skip_reason:
            results[i] = _skipped(call)
    for i in live:
        todo.put(i)
    remaining = [len(live)]
    if not live:
        all_done.set()

    def work() -> None:
        while not stop.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            progress = Progress()
            with lock:
                if stop.is_set():  # a signal came while this call was being taken
                    return
                in_flight[index] = progress
            call = calls[index]
            log.debug("call_started", model_id=call.model_id, provider=call.provider_name)
            try:
                outcome = probe(
                    session, call, token, limits=limits, deadline=deadline, stop=stop,
                    clock=clock, progress=progress,
                )  # fmt: skip
            except Exception as exc:  # a bug in one call must not lose the cycle
                outcome = Outcome(
                    error_class="connection_error", error_message=f"internal: {exc!r}"
                )
                log.error("call_crashed", model_id=call.model_id, provider=call.provider_name)
            with lock:
                late = index in results  # cut by the deadline meanwhile, and logged then
                results.setdefault(index, outcome)
                in_flight.pop(index, None)
                remaining[0] -= 1
                if remaining[0] == 0:
                    all_done.set()
            if not late:
                _log_outcome(log, call, outcome)

    for n in range(min(max_concurrency, len(live))):
        threading.Thread(target=work, name=f"probe-{n}", daemon=True).start()

    def busy() -> bool:
        with lock:
            return bool(in_flight)

    interrupted = _wait(all_done, stop, deadline, clock, busy)
    with lock:
        if interrupted:
            measured = sorted(results)
        else:
            now = clock.monotonic()
            for index in live:
                if index not in results:
                    results[index] = _cut_by_deadline(in_flight.get(index), now)
                    _log_outcome(log, calls[index], results[index])
            measured = list(range(len(calls)))
        return CycleResult([(calls[i], results[i]) for i in measured], interrupted)


def _cut_by_deadline(progress: Progress | None, now: float) -> Outcome:
    """The row of a call still running at the deadline, from what its probe last reported
    (no progress: the call was never taken up)."""
    return (progress or Progress()).cut(now)


def _wait(
    all_done: threading.Event,
    stop: threading.Event,
    deadline: float,
    clock: Clock,
    busy: Callable[[], bool],
) -> bool:
    """Wait for the calls; returns True when stopped by a signal. After a signal, calls in
    flight get STOP_GRACE_SECONDS (calls not yet started never start)."""
    while not all_done.is_set():
        left = deadline - clock.monotonic()
        if left <= 0:
            return False
        if stop.is_set():
            grace_end = min(deadline, clock.monotonic() + STOP_GRACE_SECONDS)
            while busy() and clock.monotonic() < grace_end:
                all_done.wait(_POLL_SECONDS)
            return True
        all_done.wait(min(left, _POLL_SECONDS))
    return stop.is_set()


def _log_outcome(log: EventLog, call: Call, outcome: Outcome) -> None:
    fields = {
        "model_id": call.model_id,
        "provider": call.provider_name,
        "status": outcome.status,
        "error_class": outcome.error_class,
        "attempts": outcome.attempts,
        "duration_ms": round(outcome.duration_ms, 1) if outcome.duration_ms is not None else None,
    }
    if outcome.error_class == "ok":
        log.info("call_succeeded", **fields)
    else:
        log.warning("call_failed", **fields, error=outcome.error_message)
