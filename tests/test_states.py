"""states.py: provider states with hysteresis (up, degraded, down, unknown) and uptime windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inference_tracker.config import Settings
from inference_tracker.record import COLUMNS, Row, iso_ms
from inference_tracker.states import ProviderState, Thresholds, provider_states

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CYCLE = timedelta(minutes=5)
# The default thresholds with the success-ratio test switched off, to watch the hysteresis alone
# (with one call per cycle, two failed cycles in an hour are a success ratio far under 95%).
HYSTERESIS = Thresholds(degraded_success=0.001)


def make_row(
    provider: str = "groq",
    *,
    at: datetime,
    error_class: str = "ok",
    status: str | None = None,
    duration_ms: float = 100.0,
    model: str = "org/m",
) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        cycle_timestamp_iso=iso_ms(at),
        model_id=model,
        provider_name=provider,
        duration_ms=f"{duration_ms:.1f}",
        error_class=error_class,
        response_status_code=status or ("200" if error_class == "ok" else "-1"),
        answer_correct="true" if error_class == "ok" else "",
    )
    return row


# One letter per cycle, oldest first; the last one is 5 minutes before NOW.
# G: a call succeeded; B: the call failed; R: rate-limited (429); N: not called on purpose.
KINDS: dict[str, tuple[str, str | None]] = {  # error_class, response_status_code
    "G": ("ok", None),
    "B": ("timeout", None),
    "R": ("http_error", "429"),
    "N": ("unmapped_provider", None),
}


def history(script: str, provider: str = "groq", *, end: datetime = NOW - CYCLE) -> list[Row]:
    rows = []
    for i, letter in enumerate(script):
        at = end - CYCLE * (len(script) - 1 - i)
        error_class, status = KINDS[letter]
        rows.append(make_row(provider, at=at, error_class=error_class, status=status))
    return rows


def calls_two_days_ago(count: int, duration_ms: float) -> list[Row]:
    """Successful calls two days ago: the 7-day median without touching the last hour."""
    start = NOW - timedelta(days=2)
    return [make_row(at=start - CYCLE * i, duration_ms=duration_ms) for i in range(count)]


def cycle_iso(script: str, index: int, *, end: datetime = NOW - CYCLE) -> str:
    """The cycle_timestamp_iso of the cycle at `index` of a history() script."""
    if index < 0:
        index += len(script)
    return iso_ms(end - CYCLE * (len(script) - 1 - index))


def state_of(rows: list[Row], thresholds: Thresholds = HYSTERESIS) -> ProviderState:
    states = provider_states(rows, now=NOW, thresholds=thresholds)
    return states["groq"]


# --- hysteresis --------------------------------------------------------------------------------


def test_steady_up_since_the_first_cycle() -> None:
    script = "G" * 12
    state = state_of(history(script), Thresholds())
    assert state.state == "up"
    assert state.since == cycle_iso(script, 0)
    assert state.reason == "success 100% in the last hour"
    assert state.uptime_1h == 1.0


def test_two_bad_cycles_do_not_down_a_provider() -> None:
    script = "G" * 10 + "BB"
    state = state_of(history(script))
    assert state.state == "up"
    assert state.since == cycle_iso(script, 0)
    assert state.reason == "every call failed in the last 2 cycles (3 in a row make it down)"


def test_two_bad_cycles_in_an_hour_of_single_calls_are_degraded_not_down() -> None:
    state = state_of(history("G" * 10 + "BB"), Thresholds())
    assert state.state == "degraded"
    assert state.reason == "success 83.3% in the last hour"


def test_three_bad_cycles_down_it_since_the_third() -> None:
    script = "G" * 10 + "BBB"
    state = state_of(history(script))
    assert state.state == "down"
    assert state.since == cycle_iso(script, -1)  # when the threshold was crossed
    assert state.reason == "every call failed in the last 3 cycles"


def test_down_stays_down_while_failing_and_since_does_not_move() -> None:
    script = "G" * 5 + "BBBBBB"
    state = state_of(history(script))
    assert state.state == "down"
    assert state.since == cycle_iso(script, 7)
    assert state.reason == "every call failed in the last 6 cycles"


def test_one_good_cycle_after_down_does_not_bring_it_up() -> None:
    script = "GGBBBG"
    state = state_of(history(script))
    assert state.state == "down"
    assert state.since == cycle_iso(script, 4)
    assert state.reason == "recovering: 1 good cycle in a row, 2 needed to be up"


def test_two_good_cycles_after_down_bring_it_up_since_the_second() -> None:
    script = "GGBBBGG"
    state = state_of(history(script))
    assert state.state == "up"
    assert state.since == cycle_iso(script, -1)


def test_recovered_with_a_poor_hour_is_degraded_not_up() -> None:
    state = state_of(history("GGBBBGG"), Thresholds())
    assert state.state == "degraded"
    assert state.reason == "success 57.1% in the last hour"


def test_a_bad_cycle_while_recovering_starts_the_count_again() -> None:
    script = "BBBGBG"
    state = state_of(history(script))
    assert state.state == "down"
    assert state.since == cycle_iso(script, 2)
    state = state_of(history(script + "G"))
    assert state.state == "up"


def test_flapping_never_downs() -> None:
    for thresholds in (HYSTERESIS, Thresholds()):
        state = state_of(history("BGBGBGBGBGBG"), thresholds)
        assert state.state != "down"


def test_a_mixed_cycle_is_good() -> None:
    rows = history("BB", end=NOW - 4 * CYCLE)
    for i in range(3):  # three more cycles, each with one failed and one successful call
        at = NOW - CYCLE * (3 - i)
        rows.append(make_row(at=at, error_class="timeout", model="org/a"))
        rows.append(make_row(at=at, model="org/b"))
    assert state_of(rows).state == "up"


def test_a_cycle_where_every_call_failed_is_bad_whatever_the_models() -> None:
    rows = []
    for i in range(3):
        at = NOW - CYCLE * (3 - i)
        rows.append(make_row(at=at, error_class="timeout", model="org/a"))
        rows.append(make_row(at=at, error_class="http_error", status="500", model="org/b"))
    assert state_of(rows).state == "down"


# --- calls that do not count -----------------------------------------------------------------


def test_rate_limited_cycles_do_not_down_an_up_provider() -> None:
    state = state_of(history("GGGG" + "RRRRR"))
    assert state.state == "up"


def test_rate_limited_cycles_do_not_bring_a_down_provider_up() -> None:
    script = "BBB" + "RRRRR"
    state = state_of(history(script))
    assert state.state == "down"
    assert state.since == cycle_iso(script, 2)


def test_rate_limited_cycles_neither_break_nor_extend_a_bad_run() -> None:
    assert state_of(history("GGBBRRR")).state == "up"  # 2 bad cycles, 429s not counted
    assert state_of(history("GGBBRRRB")).state == "down"  # the 429s did not break the run


def test_a_cycle_of_429s_and_one_failure_is_bad() -> None:
    rows = history("GG", end=NOW - 4 * CYCLE)
    for i in range(3):
        at = NOW - CYCLE * (3 - i)
        rows.append(make_row(at=at, error_class="http_error", status="429", model="org/a"))
        rows.append(make_row(at=at, error_class="timeout", model="org/b"))
    assert state_of(rows).state == "down"


def test_not_called_rows_are_neutral_and_alone_make_no_provider() -> None:
    assert state_of(history("BBNNNNB")).state == "down"
    states = provider_states(history("NNNN", "hf-inference"), now=NOW, thresholds=HYSTERESIS)
    assert states == {}


def test_uptime_leaves_429s_out() -> None:
    state = state_of(history("GGGGB" + "RRRRR"))
    assert state.uptime_1h == 0.8


# --- too few calls, unknown ---------------------------------------------------------------------


def test_too_few_calls_give_no_uptime_and_no_degraded() -> None:
    state = state_of(history("GBG"), Thresholds())
    assert state.state == "up"
    assert state.uptime_1h is None
    assert state.uptime_24h is None
    assert state.uptime_7d is None
    assert state.reason == "too few calls in the last hour for a success ratio"


def test_uptime_windows() -> None:
    rows = history("G" * 12)  # the last hour: 12 good
    rows += history("B" * 6, end=NOW - timedelta(hours=3))  # within 24 h: 6 bad
    rows += history("G" * 2, end=NOW - timedelta(days=3))  # within 7 d: 2 good
    rows += history("B" * 50, end=NOW - timedelta(days=8))  # too old: left out
    state = state_of(rows, Thresholds())
    assert state.uptime_1h == 1.0
    assert state.uptime_24h == 12 / 18
    assert state.uptime_7d == 14 / 20


def test_unknown_with_no_counted_call_in_24_hours() -> None:
    rows = history("GGGGGG", end=NOW - timedelta(hours=30))
    state = state_of(rows, Thresholds())
    assert state.state == "unknown"
    assert state.since is None
    assert state.reason == "no counted call in the last 24 h"
    assert state.uptime_1h is None
    assert state.uptime_7d == 1.0


def test_unknown_when_the_last_day_was_only_rate_limited() -> None:
    rows = history("BBBB", end=NOW - timedelta(hours=30)) + history("RRRR")
    assert state_of(rows).state == "unknown"


def test_nothing_older_than_7_days_counts() -> None:
    rows = history("BBBB", end=NOW - timedelta(days=8)) + history("GGG")
    assert state_of(rows).state == "up"


# --- degraded -------------------------------------------------------------------------------------


def test_degraded_by_success_ratio_and_since_when_it_began() -> None:
    script = "G" * 6 + "GBGBGB"
    state = state_of(history(script), Thresholds())
    assert state.state == "degraded"
    assert state.reason == "success 75% in the last hour"
    # the first cycle whose last hour was under 95% with 5+ calls, without its worst cycle
    # too: the second B (8 of 10; one B alone, at cycle 7, does not degrade)
    assert state.since == cycle_iso(script, 9)


def test_degraded_since_needs_5_calls_in_the_hour_before_a_cycle() -> None:
    script = "BGGGB" + "GBGBGBG"
    state = state_of(history(script), Thresholds())
    assert state.state == "degraded"
    # cycle 4: 3 of 5, but 4 calls without its worst cycle: no ratio; cycle 5: 4 of 5 without
    assert state.since == cycle_iso(script, 5)


def test_degraded_by_latency_against_its_own_7_day_median() -> None:
    rows = calls_two_days_ago(30, 760.0)
    slow = [1830.0, 1800.0, 1700.0, 1750.0, 1810.0, 1820.0]
    for i, ms in enumerate(slow):
        rows.append(make_row(at=NOW - CYCLE * (len(slow) - i), duration_ms=ms))
    state = state_of(rows, Thresholds())
    assert state.state == "degraded"
    assert state.reason == "p95 1,830 ms in the last hour, 2.4x its 7-day median 760 ms"
    # 5 successful calls in the hour without its slowest cycle are needed: the sixth slow one
    assert state.since == rows[30 + 5]["cycle_timestamp_iso"]
    assert state_of(rows, Thresholds(degraded_latency_factor=2.5)).state == "up"


def test_both_degraded_reasons_are_given() -> None:
    rows = calls_two_days_ago(30, 100.0)
    for i in range(12):
        kind = "ok" if i % 2 else "timeout"
        rows.append(make_row(at=NOW - CYCLE * (12 - i), error_class=kind, duration_ms=500.0))
    state = state_of(rows, Thresholds())
    assert state.state == "degraded"
    assert state.reason == (
        "success 50% in the last hour; p95 500 ms in the last hour, 5.0x its 7-day median 100 ms"
    )


def test_latency_needs_20_calls_in_7_days_for_a_median() -> None:
    rows = calls_two_days_ago(19, 100.0)
    rows += [make_row(at=NOW - CYCLE * (i + 1), duration_ms=900.0) for i in range(6)]
    # 19 calls before the hour judged: no median to compare (the hour's own are not its usual)
    assert state_of(rows, Thresholds()).state == "up"
    rows.append(make_row(at=NOW - timedelta(days=3), duration_ms=100.0))
    assert state_of(rows, Thresholds()).state == "degraded"


def test_latency_needs_5_successful_calls_in_the_hour() -> None:
    rows = calls_two_days_ago(30, 100.0)
    rows += [make_row(at=NOW - CYCLE * (i + 1), duration_ms=900.0) for i in range(4)]
    assert state_of(rows, Thresholds()).state == "up"


def test_latency_ignores_failed_calls() -> None:
    rows = calls_two_days_ago(30, 100.0)
    rows += [make_row(at=NOW - CYCLE * (i + 1), duration_ms=100.0) for i in range(11)]
    rows.append(make_row(at=NOW - CYCLE * 12, error_class="timeout", duration_ms=60000.0))
    assert state_of(rows, HYSTERESIS).state == "up"  # 11 of 12 is degraded by success alone


def hour_of_cycles(*cycles: list[tuple[str, float]]) -> list[Row]:
    """The last hour's cycles, oldest first, each a list of (error_class, duration_ms) calls
    to as many models."""
    rows = []
    for i, calls in enumerate(cycles):
        at = NOW - CYCLE * (len(cycles) - i)
        for n, (kind, ms) in enumerate(calls):
            rows.append(make_row(at=at, error_class=kind, duration_ms=ms, model=f"org/m{n}"))
    return rows


FIVE_OK = [("ok", 100.0)] * 5


def test_one_bad_cycle_in_the_hour_does_not_degrade_a_provider() -> None:
    """Hysteresis for degraded too: a cycle where every call failed costs an hour of 5-call
    cycles 8% (under 95%), but one bad cycle alone is noise; the down rule watches runs."""
    rows = hour_of_cycles(*[FIVE_OK] * 6, [("timeout", 0.0)] * 5, *[FIVE_OK] * 5)
    state = state_of(rows, Thresholds())
    assert state.state == "up", state.reason
    assert state.reason == "success 91.7% in the last hour; 100% without its worst cycle"
    assert state.uptime_1h == pytest.approx(55 / 60, abs=1e-4)


def test_one_bad_cycle_among_too_few_calls_is_not_called_degraded() -> None:
    state = state_of(history("GGGB"), Thresholds())  # 3 calls besides the bad cycle
    assert state.state == "up"
    assert state.reason == "every call failed in the last 1 cycle (3 in a row make it down)"
    state = state_of(history("GGGGBG"), Thresholds())
    assert state.state == "up"
    assert state.reason == "success 83.3% in the last hour; 100% without its worst cycle"
    state = state_of(history("GGGBG"), Thresholds())
    assert state.reason == "success 80% in the last hour; too few calls without its worst cycle"


def test_failures_in_two_cycles_of_the_hour_degrade_it() -> None:
    bad = [("timeout", 0.0)] * 5
    state = state_of(
        hour_of_cycles(*[FIVE_OK] * 5, bad, FIVE_OK, bad, *[FIVE_OK] * 4), Thresholds()
    )
    assert state.state == "degraded"
    assert state.reason == "success 83.3% in the last hour"


def test_failures_scattered_over_the_hour_degrade_it() -> None:
    one_failed = [("timeout", 0.0)] + [("ok", 100.0)] * 4
    rows = hour_of_cycles(*[FIVE_OK] * 8, *[one_failed] * 4)  # 56 of 60: 93.3%
    assert state_of(rows, Thresholds()).state == "degraded"


def test_one_slow_cycle_in_the_hour_does_not_degrade_a_provider() -> None:
    rows = calls_two_days_ago(30, 100.0)
    rows += hour_of_cycles(*[FIVE_OK] * 6, [("ok", 1000.0)] * 5, *[FIVE_OK] * 5)
    assert state_of(rows, Thresholds()).state == "up"
    slow_twice = hour_of_cycles(*[FIVE_OK] * 6, *[[("ok", 1000.0)] * 5] * 2, *[FIVE_OK] * 4)
    state = state_of(calls_two_days_ago(30, 100.0) + slow_twice, Thresholds())
    assert state.state == "degraded"
    assert state.reason.startswith("p95 1,000 ms in the last hour")


def test_the_hour_judged_is_not_its_own_baseline() -> None:
    """A new install's first hour has no usual self to be slower than: the 7-day median is of
    the calls before the hour judged, so jitter within that hour alone degrades nothing."""
    jitter = [("ok", 100.0)] * 4 + [("ok", 900.0)]
    rows = hour_of_cycles(*[jitter] * 12)  # p95 900 ms, median 100 ms, all in the last hour
    assert state_of(rows, Thresholds()).state == "up"
    usual = calls_two_days_ago(20, 100.0)  # with a week behind it, the same hour is slow
    assert state_of(usual + rows, Thresholds()).state == "degraded"


def test_up_again_after_degraded_since_the_first_good_hour() -> None:
    script = "GBGBGB" + "G" * 14  # the failures leave the last hour after 12 cycles
    state = state_of(history(script), Thresholds())
    assert state.state == "up"
    # degraded while the hour holds two failures: cycle 15's holds those of cycles 3 and 5,
    # cycle 16's only that of cycle 5 (one failed cycle alone does not degrade)
    assert state.since == cycle_iso(script, 16)


def test_a_down_provider_is_not_called_degraded() -> None:
    state = state_of(history("GGGGGGBBB"), Thresholds())
    assert state.state == "down"


# --- thresholds ---------------------------------------------------------------------------------


def test_thresholds_from_settings_change_the_outcome() -> None:
    settings = Settings(
        provider_down_after_cycles=5,
        provider_up_after_cycles=1,
        provider_degraded_success_ratio=0.5,
        provider_degraded_latency_factor=10.0,
    )
    thresholds = Thresholds.from_settings(settings)
    assert thresholds == Thresholds(
        down_after=5, up_after=1, degraded_success=0.5, degraded_latency_factor=10.0
    )
    assert state_of(history("GGGBBB"), Thresholds()).state == "down"
    assert state_of(history("GGGBBB"), thresholds).state != "down"  # 5 bad cycles needed
    assert state_of(history("BBBBBG"), Thresholds()).state == "down"
    assert state_of(history("BBBBBG"), thresholds).state == "degraded"  # 1 good cycle is enough
    assert state_of(history("GGGGGGBB"), Thresholds()).state == "degraded"
    assert state_of(history("GGGGGGBB"), thresholds).state == "up"  # 75% is over 50%


def test_defaults_match_the_settings_defaults() -> None:
    assert Thresholds.from_settings(Settings()) == Thresholds()


def test_providers_are_independent() -> None:
    rows = history("GGG", "groq") + history("BBB", "together")
    states = provider_states(rows, now=NOW, thresholds=HYSTERESIS)
    assert {name: s.state for name, s in states.items()} == {"groq": "up", "together": "down"}
    assert states["together"].provider == "together"


@pytest.mark.parametrize("stamp", ["", "yesterday", "2025-06-01T11:55:00"])  # naive: left out
def test_unreadable_timestamps_are_left_out(stamp: str) -> None:
    rows = history("GGG")
    bad = make_row(at=NOW, error_class="timeout")
    bad["cycle_timestamp_iso"] = stamp
    assert state_of([*rows, bad, bad, bad]).state == "up"
