"""The Prometheus textfile: what node_exporter's textfile collector serves after every cycle.

Built with prometheus_client: a fresh CollectorRegistry per file (no global state), gauges only,
and `write_to_textfile`. As its source shows (exposition.py, read in 0.26.0), it writes the
whole text to a temporary file in the same folder, `<path>.<pid>.<thread id>` (not a `*.prom`
name, so the collector never reads it half written), then `os.rename`s it over `path`: a
reader sees the old file or the new one, never half of one, and a failed write leaves the old
file and removes the temporary one. It does not fsync: after a power cut the file may be old
or empty, and the next cycle writes it again.

Names follow the Prometheus conventions: the prefix `inference_tracker_`, base units in the
names (`_seconds`, `_ratio`), no `_total` on a gauge. A value that is unknown is not exported
for its labels (never NaN). The statistics come from states.provider_states (state, uptime)
and stats.provider_stats over the last hour (percentiles, speed, answers).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from inference_tracker.errors import StoreError
from inference_tracker.files import strerror
from inference_tracker.record import ERROR_CLASSES, NOT_CALLED, Row, parse_iso
from inference_tracker.snapshot import read_snapshot
from inference_tracker.states import STATES, ProviderState, Thresholds, provider_states
from inference_tracker.stats import WEEK_HOURS, ProviderStats, provider_stats
from inference_tracker.store import Store

PREFIX = "inference_tracker_"
STATS_HOURS = 1  # the window of the percentiles, speed and answer rate

# name, help, label names.
_METRICS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "provider_state",
        "1 for the provider's current state (up, degraded, down, unknown), 0 for the others.",
        ("provider", "state"),
    ),
    (
        "provider_state_since_timestamp_seconds",
        "Start of the cycle in which the provider entered its current state (unix time).",
        ("provider",),
    ),
    (
        "provider_uptime_ratio",
        "Successful / (successful + failed) calls over the window, 429s left out;"
        " not exported under 5 calls.",
        ("provider", "window"),
    ),
    (
        "provider_ttft_seconds",
        "Time to first token of successful streamed calls over the last hour, by quantile.",
        ("provider", "quantile"),
    ),
    (
        "provider_duration_seconds",
        "Duration of successful calls over the last hour, by quantile.",
        ("provider", "quantile"),
    ),
    (
        "provider_output_tokens_per_second",
        "Median output speed of successful streamed calls over the last hour.",
        ("provider",),
    ),
    (
        "provider_answer_correct_ratio",
        "Correct answers / answers graded over the last hour.",
        ("provider",),
    ),
    (
        "provider_last_cycle_calls",
        "Calls made in the last cycle, by error_class (ok for a success).",
        ("provider", "error_class"),
    ),
    (
        "last_cycle_timestamp_seconds",
        "Start of the last cycle (unix time).",
        (),
    ),
    (
        "last_cycle_duration_seconds",
        "Duration of the last cycle.",
        (),
    ),
    (
        "rows_buffered",
        "Rows in the local buffer, not yet sealed for a push.",
        (),
    ),
    (
        "rows_pending",
        "Rows sealed in pending batches, waiting for a successful push.",
        (),
    ),
    (
        "last_push_timestamp_seconds",
        "Time of the last successful push (unix time).",
        (),
    ),
    (
        "oldest_unpushed_timestamp_seconds",
        "Start of the oldest cycle whose rows wait for a push, buffered or pending (unix time).",
        (),
    ),
)
METRIC_NAMES: tuple[str, ...] = tuple(PREFIX + name for name, _, _ in _METRICS)
_HELP = {name: (text, labels) for name, text, labels in _METRICS}
UPTIME_WINDOWS = ("1h", "24h", "7d")


@dataclass(frozen=True)
class TrackerFacts:
    """What the tracker knows about itself after a cycle (None: not known, not exported)."""

    last_cycle_started: datetime | None = None
    last_cycle_duration_s: float | None = None
    rows_buffered: int = 0
    rows_pending: int = 0
    last_push_at: datetime | None = None  # the last successful push
    oldest_unpushed: datetime | None = None  # the first cycle of the rows not yet pushed
    last_cycle_rows: Sequence[Row] = ()  # to count the last cycle's calls by error_class


def write_textfile(
    path: Path,
    *,
    rows: Iterable[Row],
    states: dict[str, ProviderState],
    tracker: TrackerFacts,
    now: datetime,
) -> None:
    """Write the metrics to `path` whole (temp file beside it, then rename); StoreError when the
    folder does not take it, and the old file is left as it was."""
    registry = build_registry(rows, states=states, tracker=tracker, now=now)
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise StoreError(f"cannot write PROMETHEUS_TEXTFILE {path}: {strerror(exc)}") from None


def build_registry(
    rows: Iterable[Row],
    *,
    states: dict[str, ProviderState],
    tracker: TrackerFacts,
    now: datetime,
) -> CollectorRegistry:
    """A fresh registry holding every metric of the file."""
    registry = CollectorRegistry(auto_describe=True)
    gauges: dict[str, Gauge] = {}

    def put(name: str, value: float | None, *labels: str) -> None:
        if value is None or not math.isfinite(value):
            return  # unknown: no sample for these labels
        gauge = gauges.get(name)
        if gauge is None:  # made on first use: a gauge without labels always has a sample
            text, label_names = _HELP[name]
            gauge = gauges[name] = Gauge(PREFIX + name, text, label_names, registry=registry)
        (gauge.labels(*labels) if labels else gauge).set(value)

    for provider, state in sorted(states.items()):
        for name in STATES:
            put("provider_state", 1.0 if state.state == name else 0.0, provider, name)
        since = _timestamp(state.since)
        put("provider_state_since_timestamp_seconds", since, provider)
        windows = (state.uptime_1h, state.uptime_24h, state.uptime_7d)
        for window, value in zip(UPTIME_WINDOWS, windows, strict=True):
            put("provider_uptime_ratio", value, provider, window)
    for stats in sorted(provider_stats(rows, now=now, hours=STATS_HOURS), key=_name):
        name = stats.provider
        quantiles = (
            ("0.5", stats.p50_ttft_ms, stats.p50_ms),
            ("0.95", stats.p95_ttft_ms, stats.p95_ms),
        )
        for quantile, ttft_ms, duration_ms in quantiles:
            put("provider_ttft_seconds", _seconds(ttft_ms), name, quantile)
            put("provider_duration_seconds", _seconds(duration_ms), name, quantile)
        put("provider_output_tokens_per_second", stats.p50_tokens_per_s, name)
        put("provider_answer_correct_ratio", stats.answer_correct_rate, name)
    for (provider, error_class), count in sorted(_last_cycle_calls(tracker.last_cycle_rows)):
        put("provider_last_cycle_calls", count, provider, error_class)
    started = tracker.last_cycle_started
    put("last_cycle_timestamp_seconds", started.timestamp() if started else None)
    put("last_cycle_duration_seconds", tracker.last_cycle_duration_s)
    put("rows_buffered", tracker.rows_buffered)
    put("rows_pending", tracker.rows_pending)
    pushed = tracker.last_push_at
    put("last_push_timestamp_seconds", pushed.timestamp() if pushed else None)
    waiting = tracker.oldest_unpushed
    put("oldest_unpushed_timestamp_seconds", waiting.timestamp() if waiting else None)
    return registry


def _last_cycle_calls(rows: Iterable[Row]) -> Iterable[tuple[tuple[str, str], int]]:
    """Calls per (provider, error_class), every known class of a provider with a call at 0."""
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        error_class = row.get("error_class", "") or "unknown"
        if error_class in NOT_CALLED:
            continue  # no call was made
        counts[(row.get("provider_name", ""), error_class)] += 1
    for provider in {provider for provider, _ in counts}:
        for error_class in ERROR_CLASSES:
            if error_class not in NOT_CALLED:
                counts.setdefault((provider, error_class), 0)
    return counts.items()


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 6)  # to the microsecond: no float noise


def _timestamp(iso: str | None) -> float | None:
    at = _parsed(iso)
    return at.timestamp() if at is not None else None


def _parsed(iso: str | None) -> datetime | None:
    if iso is None:
        return None
    try:
        return parse_iso(iso)
    except ValueError:
        return None


def _name(stats: ProviderStats) -> str:
    return stats.provider


def write_metrics(
    store: Store, path: Path, *, now: datetime, thresholds: Thresholds, pushing: bool = True
) -> None:
    """Read the last 7 days on disk and write the textfile (the states need a week: the
    latency of the last hour is judged against the provider's own 7-day median). Rows wait
    for a push only when `pushing` (a dataset is set); else they stay local by design."""
    snap = read_snapshot(store, now=now, hours=WEEK_HOURS)
    states = provider_states(snap.rows, now=now, thresholds=thresholds)
    cycle, push = snap.state.last_cycle, snap.state.last_push
    started = cycle.started if cycle else None
    facts = TrackerFacts(
        last_cycle_started=parse_iso(cycle.started) if cycle else None,
        last_cycle_duration_s=cycle.duration_s if cycle else None,
        rows_buffered=snap.buffer_rows,
        rows_pending=snap.pending_rows,
        last_push_at=parse_iso(push.at) if push and push.at else None,
        oldest_unpushed=_parsed(snap.oldest_unpushed) if pushing else None,
        last_cycle_rows=[row for row in snap.rows if row["cycle_timestamp_iso"] == started],
    )
    write_textfile(path, rows=snap.rows, states=states, tracker=facts, now=now)
