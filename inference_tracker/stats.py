"""Statistics over rows: pure functions of rows, a window and `now`.

Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the value at
rank ceil(p/100 * n), so it is always a duration that was really measured. Rates are None (JSON
null) when nothing was counted, never a division by zero. status (report.py), the provider
states, the Prometheus file and the dataset card's leaderboard all read these.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inference_tracker.record import NOT_CALLED, Row, parse_iso

# The longest window: of the states' history and latency baseline, and of what the Prometheus
# textfile and the leaderboard read.
WEEK_HOURS = 7 * 24


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (0 < p <= 100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(p * len(ordered) / 100)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


UPTIME_MIN_CALLS = 5  # fewer counted calls give no uptime (OpenRouter's rule of thumb)


@dataclass(frozen=True)
class ProviderStats:
    provider: str
    calls: int
    ok: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    answered: int
    correct: int
    answer_correct_rate: float | None
    errors: dict[str, int] = field(default_factory=dict)
    uptime: float | None = None  # ok / (ok + failed), 429s left out; None under 5 calls
    p50_ttft_ms: float | None = None  # over successful streamed calls
    p95_ttft_ms: float | None = None
    p50_tokens_per_s: float | None = None
    advertised_ttft_ms: float | None = None  # medians of what the router's catalog said
    advertised_tokens_per_s: float | None = None
    failed_while_live: int = 0  # failed calls while the catalog said the pair was live
    cost_usd: float | None = None  # the summed cost of the calls whose cost is known
    costed_calls: int = 0  # the calls whose cost is known

    @property
    def ttft_vs_advertised(self) -> float | None:
        """Measured median TTFT over the advertised one (above 1: slower than advertised)."""
        return _ratio(self.p50_ttft_ms, self.advertised_ttft_ms)

    @property
    def speed_vs_advertised(self) -> float | None:
        """Measured median output speed over the advertised one (below 1: slower)."""
        return _ratio(self.p50_tokens_per_s, self.advertised_tokens_per_s)

    @property
    def cost_per_1000_calls(self) -> float | None:
        if self.cost_usd is None or not self.costed_calls:
            return None
        return self.cost_usd / self.costed_calls * 1000


def in_window(rows: Iterable[Row], *, now: datetime, hours: int) -> list[Row]:
    """The rows whose cycle started in the last `hours`; unreadable timestamps are left out."""
    since = now - timedelta(hours=hours)
    inside: dict[str, bool] = {}  # by timestamp: the rows of a cycle share one
    kept = []
    for row in rows:
        stamp = row.get("cycle_timestamp_iso", "")
        if stamp not in inside:
            try:
                at = parse_iso(stamp)
                inside[stamp] = at.tzinfo is not None and at >= since
            except ValueError:
                inside[stamp] = False
        if inside[stamp]:
            kept.append(row)
    return kept


def provider_stats(rows: Iterable[Row], *, now: datetime, hours: int) -> list[ProviderStats]:
    """Per provider over the window, worst first.

    A call succeeded when error_class is "ok"; p50/p95 are over successful calls' duration_ms;
    answer_correct "" (no answer) is left out of the answer rate's denominator.
    """
    by_provider: dict[str, list[Row]] = {}
    for row in in_window(rows, now=now, hours=hours):
        if row.get("error_class") in NOT_CALLED:
            continue  # no call on purpose (providers.toml, the spending cap): nothing to judge
        by_provider.setdefault(row.get("provider_name", ""), []).append(row)
    stats = [_one_provider(name, group) for name, group in by_provider.items()]
    return sorted(stats, key=_badness)


def _one_provider(name: str, rows: list[Row]) -> ProviderStats:
    """The numbers of one provider's rows (calls made, in the window)."""
    ok_rows = [row for row in rows if row.get("error_class") == "ok"]
    durations = numbers(ok_rows, "duration_ms")
    streamed = [row for row in ok_rows if row.get("streamed") == "true"]
    ttfts = numbers(streamed, "ttft_ms")
    costs = numbers(rows, "cost_usd")
    failed_live = sum(
        1
        for row in rows
        if row.get("error_class") != "ok" and row.get("advertised_status") == "live"
    )
    answers = [row.get("answer_correct", "") for row in rows]
    answered = sum(1 for a in answers if a in ("true", "false"))
    correct = sum(1 for a in answers if a == "true")
    errors = Counter(row.get("error_class", "") or "unknown" for row in rows)
    errors.pop("ok", None)
    return ProviderStats(
        provider=name,
        calls=len(rows),
        ok=len(ok_rows),
        success_rate=rate(len(ok_rows), len(rows)),
        p50_ms=percentile(durations, 50),
        p95_ms=percentile(durations, 95),
        answered=answered,
        correct=correct,
        answer_correct_rate=rate(correct, answered),
        errors=dict(errors.most_common()),
        uptime=uptime(rows),
        p50_ttft_ms=percentile(ttfts, 50),
        p95_ttft_ms=percentile(ttfts, 95),
        p50_tokens_per_s=percentile(numbers(streamed, "output_tokens_per_s"), 50),
        advertised_ttft_ms=percentile(numbers(rows, "advertised_ttft_ms"), 50),
        advertised_tokens_per_s=percentile(numbers(rows, "advertised_tokens_per_s"), 50),
        failed_while_live=failed_live,
        cost_usd=sum(costs) if costs else None,
        costed_calls=len(costs),
    )


def uptime(rows: Iterable[Row]) -> float | None:
    """OpenRouter's uptime: successful / (successful + failed) calls; rate-limited (429) calls
    and calls not made on purpose are left out; None with fewer than UPTIME_MIN_CALLS."""
    ok = failed = 0
    for row in rows:
        kind = row.get("error_class", "")
        if kind in NOT_CALLED or row.get("response_status_code") == "429":
            continue
        ok, failed = (ok + 1, failed) if kind == "ok" else (ok, failed + 1)
    return ok / (ok + failed) if ok + failed >= UPTIME_MIN_CALLS else None


def numbers(rows: Iterable[Row], column: str) -> list[float]:
    """The column's finite numbers; empty and unreadable cells left out."""
    return [n for n in (_float(row.get(column, "")) for row in rows) if n is not None]


def _ratio(part: float | None, whole: float | None) -> float | None:
    return part / whole if part is not None and whole else None


def _badness(stats: ProviderStats) -> tuple[float, float, float, str]:
    """Sort key, worst first: lowest success rate, then lowest answer rate, then slowest p95."""
    return (
        stats.success_rate if stats.success_rate is not None else 0.0,
        stats.answer_correct_rate if stats.answer_correct_rate is not None else 0.0,
        -(stats.p95_ms if stats.p95_ms is not None else math.inf),
        stats.provider,
    )


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
