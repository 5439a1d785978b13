"""Provider states: up, degraded or down (unknown with nothing to judge), with hysteresis.

Pure functions of rows, thresholds and `now` (status, the Prometheus textfile and the dataset
card's leaderboard all read the same answer).

The rules, in the spirit of Gatus' failure and success thresholds:

- A provider's rows of the last 7 days are grouped by cycle (`cycle_timestamp_iso`), oldest
  first. Calls that do not count are left out: rows of pairs not called on purpose
  (`record.NOT_CALLED`) and rate-limited calls (HTTP 429), as in `report.uptime`.
- A cycle is GOOD when a call succeeded (`error_class == "ok"`), BAD when it has counted calls
  and every one failed. A cycle without a counted call (only 429s, say) is skipped: it neither
  breaks nor extends a run, so it never downs nor ups a provider.
- Walking the cycles from "up": `down` once `down_after` bad cycles come in a row; from down,
  `up` again only after `up_after` good cycles in a row. One good cycle does not flap a down
  provider up, and fewer than `down_after` bad ones do not flap an up provider down.
- When not down, `degraded` when over the last hour the success ratio (`report.uptime`: needs
  5 counted calls) is under `degraded_success`, or the p95 duration of successful calls (needs
  5) is over `degraded_latency_factor` times the provider's own median over 7 days, of the
  calls before that hour (needs 20);
  each test must fail for the hour without its worst cycle too (the most failed calls, the
  slowest call), so one bad or slow cycle alone never degrades a provider, and two do.
- `unknown` when the provider has no counted call in the last 24 hours.

`since` is the cycle at which the current state was entered: for `down`, the cycle that made
the bad run reach `down_after` (the 3rd bad cycle by default, not the first: the state began
when the threshold was crossed, and a `since` never moves back as more rows arrive); for `up`
after `down`, the `up_after`-th good cycle. To find when `degraded` began (or ended), the
degraded test is run at every cycle over the hour before it, against today's 7-day median
(of the calls before the last hour). A
state that holds over the whole 7 days is "since" the first cycle of the window: the oldest
rows looked at. When the state at `now` differs from the one at the newest cycle (the hour
moved on without a new cycle), `since` is the newest cycle.

Rows are expected to come from one probe: the cycles of several probes would interleave.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from inference_tracker.record import NOT_CALLED, Row, parse_iso
from inference_tracker.render import plural
from inference_tracker.stats import UPTIME_MIN_CALLS, WEEK_HOURS, in_window, percentile, uptime

if TYPE_CHECKING:
    from inference_tracker.config import Settings

UP, DEGRADED, DOWN, UNKNOWN = "up", "degraded", "down", "unknown"
STATES = (UP, DEGRADED, DOWN, UNKNOWN)

RECENT_HOURS = 1  # the window of the degraded tests
KNOWN_HOURS = 24  # no counted call in this window: unknown
LATENCY_MIN_CALLS = 5  # successful calls in the hour for its p95
BASELINE_MIN_CALLS = 20  # successful calls in 7 days for the baseline median


@dataclass(frozen=True)
class Thresholds:
    down_after: int = 3  # cycles in a row in which every counted call of the provider failed
    up_after: int = 2  # good cycles in a row to be up again after down
    degraded_success: float = 0.95  # success ratio over the last hour under this: degraded
    degraded_latency_factor: float = 2.0  # last hour's p95 over this x the 7-day median

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            down_after=settings.provider_down_after_cycles,
            up_after=settings.provider_up_after_cycles,
            degraded_success=settings.provider_degraded_success_ratio,
            degraded_latency_factor=settings.provider_degraded_latency_factor,
        )


@dataclass(frozen=True)
class ProviderState:
    provider: str
    state: str  # one of STATES
    since: str | None  # the cycle_timestamp_iso where the state began; None when unknown
    reason: str  # one short line: why
    uptime_1h: float | None  # report.uptime over each window (None under 5 counted calls)
    uptime_24h: float | None
    uptime_7d: float | None


def provider_states(
    rows: Iterable[Row], *, now: datetime, thresholds: Thresholds
) -> dict[str, ProviderState]:
    """Each provider with a call in the last 7 days, by name."""
    by_provider: dict[str, list[Row]] = {}
    for row in in_window(rows, now=now, hours=WEEK_HOURS):
        if row.get("error_class", "") in NOT_CALLED:
            continue
        by_provider.setdefault(row.get("provider_name", ""), []).append(row)
    return {
        name: _provider_state(name, by_provider[name], now, thresholds)
        for name in sorted(by_provider)
    }


@dataclass
class _Cycle:
    iso: str
    at: datetime
    ok: int = 0  # counted calls that succeeded
    failed: int = 0  # counted calls that failed
    durations: list[float] = field(default_factory=list)  # of the successful calls


def _provider_state(name: str, rows: list[Row], now: datetime, t: Thresholds) -> ProviderState:
    hour = in_window(rows, now=now, hours=RECENT_HOURS)
    day = in_window(rows, now=now, hours=KNOWN_HOURS)
    uptimes = uptime(hour), uptime(day), uptime(rows)

    def make(state: str, since: str | None, reason: str) -> ProviderState:
        return ProviderState(name, state, since, reason, *uptimes)

    if not any(_counted(row) for row in day):
        return make(UNKNOWN, None, f"no counted call in the last {KNOWN_HOURS} h")
    cycles = _cycles(rows)
    down, bad_run, good_run = _walk(cycles, t)
    baseline = _baseline(cycles, before=now - timedelta(hours=RECENT_HOURS))
    if down[-1]:
        state, reason = DOWN, _down_reason(bad_run, good_run, t)
    else:
        last_hour = [cycle for cycle in cycles if cycle.at >= now - timedelta(hours=RECENT_HOURS)]
        worries = _degraded(last_hour, baseline, t)
        if worries:
            state, reason = DEGRADED, "; ".join(worries)
        else:
            state, reason = UP, _up_reason(bad_run, last_hour, t)
    timeline = _timeline(cycles, down, baseline, t)
    return make(state, _since(cycles, timeline, state), reason)


def _counted(row: Row) -> bool:
    """A call that counts for or against a provider (report.uptime's rule)."""
    return (
        row.get("error_class", "") not in NOT_CALLED
        and row.get("response_status_code", "") != "429"
    )


def _ok_duration(row: Row) -> float | None:
    """The duration of a successful call, when readable."""
    if row.get("error_class") != "ok":
        return None
    try:
        value = float(row.get("duration_ms", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _cycles(rows: list[Row]) -> list[_Cycle]:
    """The cycles with at least one counted call, oldest first (rows from in_window)."""
    by_iso: dict[str, _Cycle] = {}
    for row in rows:
        if not _counted(row):
            continue
        iso = row.get("cycle_timestamp_iso", "")
        cycle = by_iso.get(iso)
        if cycle is None:
            cycle = by_iso[iso] = _Cycle(iso, parse_iso(iso))
        if row.get("error_class") == "ok":
            cycle.ok += 1
            duration = _ok_duration(row)
            if duration is not None:
                cycle.durations.append(duration)
        else:
            cycle.failed += 1
    return sorted(by_iso.values(), key=lambda cycle: cycle.at)


def _walk(cycles: list[_Cycle], t: Thresholds) -> tuple[list[bool], int, int]:
    """Whether the provider is down after each cycle, and the bad and good runs at the end."""
    down = False
    bad_run = good_run = 0
    after: list[bool] = []
    for cycle in cycles:
        if cycle.ok:
            good_run, bad_run = good_run + 1, 0
        else:
            good_run, bad_run = 0, bad_run + 1
        if not down and bad_run >= t.down_after:
            down = True
        elif down and good_run >= t.up_after:
            down = False
        after.append(down)
    return after, bad_run, good_run


def _baseline(cycles: list[_Cycle], *, before: datetime) -> float | None:
    """The median duration of the successful calls of 7 days that came `before` the hour
    judged (the provider's usual self, not the hour itself), with enough of them."""
    durations = [d for cycle in cycles if cycle.at < before for d in cycle.durations]
    return percentile(durations, 50) if len(durations) >= BASELINE_MIN_CALLS else None


def _degraded(hour: list[_Cycle], baseline: float | None, t: Thresholds) -> list[str]:
    """Why an hour of cycles is degraded; empty when it is not (or cannot be told).

    Each test must fail for the hour without its worst cycle too (the one with the most failed
    calls, the one with the slowest call): one bad or slow cycle alone never degrades a
    provider, two do (hysteresis; a run of failed cycles is for `down`). The figures said are
    the whole hour's."""
    worries = []
    success = _success(hour)
    if success is not None and success < t.degraded_success:
        without = _success(_without_worst(hour))
        if without is not None and without < t.degraded_success:
            worries.append(f"success {_percent(success)} in the last hour")
    p95 = _p95(hour)
    if baseline and p95 is not None and p95 > t.degraded_latency_factor * baseline:
        slowest = max(hour, key=lambda cycle: max(cycle.durations, default=-math.inf))
        without = _p95([cycle for cycle in hour if cycle is not slowest])
        if without is not None and without > t.degraded_latency_factor * baseline:
            worries.append(
                f"p95 {p95:,.0f} ms in the last hour, {p95 / baseline:.1f}x its 7-day median "
                f"{baseline:,.0f} ms"
            )
    return worries


def _without_worst(hour: list[_Cycle]) -> list[_Cycle]:
    """The hour without the cycle with the most failed calls."""
    most_failed = max(hour, key=lambda cycle: cycle.failed)
    return [cycle for cycle in hour if cycle is not most_failed]


def _success(cycles: list[_Cycle]) -> float | None:
    """The share of the counted calls that succeeded; None under UPTIME_MIN_CALLS calls."""
    ok = sum(cycle.ok for cycle in cycles)
    calls = ok + sum(cycle.failed for cycle in cycles)
    return ok / calls if calls >= UPTIME_MIN_CALLS else None


def _p95(cycles: list[_Cycle]) -> float | None:
    """The p95 duration of the successful calls; None under LATENCY_MIN_CALLS of them."""
    durations = [duration for cycle in cycles for duration in cycle.durations]
    return percentile(durations, 95) if len(durations) >= LATENCY_MIN_CALLS else None


def _timeline(
    cycles: list[_Cycle], down: list[bool], baseline: float | None, t: Thresholds
) -> list[str]:
    """The state after each cycle, the degraded tests run over the hour up to it."""
    window = timedelta(hours=RECENT_HOURS)
    first = 0
    states = []
    for last, (cycle, is_down) in enumerate(zip(cycles, down, strict=True)):
        while cycles[first].at < cycle.at - window:
            first += 1
        if is_down:
            states.append(DOWN)
        else:
            hour = cycles[first : last + 1]
            states.append(DEGRADED if _degraded(hour, baseline, t) else UP)
    return states


def _since(cycles: list[_Cycle], timeline: list[str], state: str) -> str:
    """The first cycle of the run of `state` the timeline ends with (or the newest cycle)."""
    start = len(timeline) - 1
    if timeline[start] != state:
        return cycles[start].iso
    while start > 0 and timeline[start - 1] == state:
        start -= 1
    return cycles[start].iso


def _down_reason(bad_run: int, good_run: int, t: Thresholds) -> str:
    if good_run:
        return (
            f"recovering: {plural(good_run, 'good cycle')} in a row, {t.up_after} needed to be up"
        )
    failed = f"every call failed in the last {plural(bad_run, 'cycle')}"
    if bad_run >= t.down_after:
        return failed
    return f"{failed}; not {t.up_after} good cycles in a row since it went down"


def _up_reason(bad_run: int, hour: list[_Cycle], t: Thresholds) -> str:
    if bad_run:
        return (
            f"every call failed in the last {plural(bad_run, 'cycle')} "
            f"({t.down_after} in a row make it down)"
        )
    success = _success(hour)
    if success is not None and success < t.degraded_success:  # one bad cycle: not degraded
        without = _success(_without_worst(hour))
        rest = "too few calls" if without is None else _percent(without)
        return f"success {_percent(success)} in the last hour; {rest} without its worst cycle"
    if success is not None:
        return f"success {_percent(success)} in the last hour"
    return "too few calls in the last hour for a success ratio"


def _percent(value: float) -> str:
    """'82%', '83.3%': one decimal, none when it is 0."""
    return f"{value * 100:.1f}".removesuffix(".0") + "%"
