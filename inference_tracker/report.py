"""`tracker status`: statistics over the rows on disk (render.py shows them).

The statistics are pure functions of rows, state, settings values and `now`. Percentiles use the
nearest-rank method: the p-th percentile of n sorted values is the value at rank ceil(p/100 * n),
so it is always a duration that was really measured. Rates are None (JSON null) when nothing
was counted, never a division by zero.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from inference_tracker.csvfile import RowsRead, read_csv
from inference_tracker.record import ROW_KEY, Row, iso_ms, parse_iso
from inference_tracker.render import ago
from inference_tracker.state import State
from inference_tracker.store import Store, batch_files

if TYPE_CHECKING:
    from inference_tracker.config import Settings

# --since values and the hours they stand for.
WINDOWS = {"1h": 1, "6h": 6, "24h": 24, "7d": 168}
STALE_AFTER_INTERVALS = 2

# --- statistics ----------------------------------------------------------------------------


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


def in_window(rows: Iterable[Row], *, now: datetime, hours: int) -> list[Row]:
    """The rows whose cycle started in the last `hours`; unreadable timestamps are left out."""
    since = now - timedelta(hours=hours)
    kept = []
    for row in rows:
        try:
            at = parse_iso(row.get("cycle_timestamp_iso", ""))
        except ValueError:
            continue
        if at.tzinfo is not None and at >= since:
            kept.append(row)
    return kept


def provider_stats(rows: Iterable[Row], *, now: datetime, hours: int) -> list[ProviderStats]:
    """Per provider over the window, worst first.

    A call succeeded when error_class is "ok"; p50/p95 are over successful calls' duration_ms;
    answer_correct "" (no answer) is left out of the answer rate's denominator.
    """
    by_provider: dict[str, list[Row]] = {}
    for row in in_window(rows, now=now, hours=hours):
        if row.get("error_class") == "unmapped_provider":
            continue  # skipped on purpose (providers.toml): no call, nothing to judge
        by_provider.setdefault(row.get("provider_name", ""), []).append(row)
    stats = [_one_provider(name, group) for name, group in by_provider.items()]
    return sorted(stats, key=_badness)


def _one_provider(name: str, rows: list[Row]) -> ProviderStats:
    ok_rows = [row for row in rows if row.get("error_class") == "ok"]
    durations = [
        d for d in (_float(row.get("duration_ms", "")) for row in ok_rows) if d is not None
    ]
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
    )


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


# --- what is on disk (read only: status never writes, locks or repairs) ---------------------


@dataclass
class Snapshot:
    state: State
    buffer_rows: int = 0
    pending_batches: int = 0
    pending_rows: int = 0
    rows: list[Row] = field(default_factory=list)  # buffer, pending and archive, each row once
    problems: list[str] = field(default_factory=list)


def read_snapshot(store: Store, *, now: datetime, hours: int) -> Snapshot:
    """Read state, buffer, pending batches and the archive files that can hold rows of the window.

    Files are read in the direction rows move (buffer, then pending, then archive), so a push
    running meanwhile can make a row appear twice (dropped here by its key) but never vanish.
    """
    snap = Snapshot(state=store.read_state())
    recovered = snap.state.recovered
    if recovered is not None:
        snap.problems.append(
            f"{store.state_file} was unreadable ({recovered.why}); counter and "
            f"last push rebuilt from the files on disk ({recovered.cycles_found} cycles found)"
        )
    seen: set[tuple[str, ...]] = set()

    def take(read: RowsRead) -> int:
        snap.problems.extend(read.problems)
        for row in read.rows:
            key = tuple(row.get(name, "") for name in ROW_KEY)
            if key not in seen:
                seen.add(key)
                snap.rows.append(row)
        return len(read.rows)

    snap.buffer_rows = take(read_csv(store.buffer_path))
    for path in batch_files(store.pending_dir, snap.problems):
        snap.pending_batches += 1
        snap.pending_rows += take(read_csv(path))
    # An archive file's mtime is when it was pushed; its rows are all older than that.
    since = (now - timedelta(hours=hours)).timestamp()
    for path in batch_files(store.archive_dir, snap.problems):
        try:
            if path.stat().st_mtime < since:
                continue
        except OSError:
            continue  # dropped by a push's archive clean-up meanwhile
        take(read_csv(path))
    return snap


# --- the status object ------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsView:
    """The settings status shows: no secret, only whether each token is set."""

    repo: str
    target: str
    interval_s: float
    push_interval_cycles: int
    probe_id: str
    buffer: str
    state_dir: str
    hf_token_set: bool
    hf_hub_token_set: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsView:
        return cls(
            repo=settings.hf_dataset_repo_id,
            target=settings.hf_dataset_target_filename,
            interval_s=settings.schedule_interval_seconds,
            push_interval_cycles=settings.push_interval_cycles,
            probe_id=settings.probe_id,
            buffer=str(settings.local_csv_path),
            state_dir=str(settings.state_folder),
            hf_token_set=settings.hf_token is not None,
            hf_hub_token_set=settings.hf_hub_token is not None,
        )


def build_status(
    snap: Snapshot, settings: SettingsView, *, now: datetime, hours: int
) -> dict[str, Any]:
    """The whole status as plain JSON-able data; the text view renders this same object."""
    state = snap.state
    counter = state.cycle_counter
    interval = settings.push_interval_cycles
    last_cycle = _with_age(state.last_cycle, "started", _CYCLE_KEYS, now)
    last_push = _with_age(state.last_push, "at", ("at", "rows", "commit_url"), now)
    last_error = _pick(state.last_error, ("at", "where", "message"))

    warnings: list[str] = []
    stale = False
    if last_cycle is None:
        warnings.append("no cycle has run yet")
    else:
        age = last_cycle["age_s"]
        limit = STALE_AFTER_INTERVALS * settings.interval_s
        if isinstance(age, float) and age > limit:
            stale = True
            warnings.append(
                f"the last cycle started {ago(age)}, more than twice "
                f"SCHEDULE_INTERVAL_SECONDS ({settings.interval_s:g} s): is cron running?"
            )
        if last_cycle.get("interrupted") is True:
            warnings.append("the last cycle was interrupted before all its calls ended")

    window_rows = in_window(snap.rows, now=now, hours=hours)
    providers = provider_stats(window_rows, now=now, hours=hours)
    return {
        "generated_at": iso_ms(now),
        "settings": asdict(settings),
        "cycle_counter": counter,
        "cycles_until_push": interval - counter % interval,
        "last_cycle": last_cycle,
        "cron_stale": stale,
        "buffer_rows": snap.buffer_rows,
        "pending_batches": snap.pending_batches,
        "pending_rows": snap.pending_rows,
        "last_push": last_push,
        "last_error": last_error,
        "window_hours": hours,
        "window_rows": len(window_rows),
        "providers": [_provider_json(p) for p in providers],
        "warnings": warnings,
        "problems": list(snap.problems),
    }


_CYCLE_KEYS = ("started", "rows", "ok", "failed", "skipped", "duration_s", "interrupted")


def _pick(value: object, keys: Sequence[str]) -> dict[str, Any] | None:
    """The named fields of a state entry; None when there is none."""
    if value is None:
        return None
    return {key: getattr(value, key) for key in keys}


def _with_age(
    value: object, time_key: str, keys: Sequence[str], now: datetime
) -> dict[str, Any] | None:
    picked = _pick(value, keys)
    if picked is None:
        return None
    picked["age_s"] = _age(picked.get(time_key), now)
    return picked


def _age(stamp: object, now: datetime) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        at = parse_iso(stamp)
        return round((now - at).total_seconds(), 3)
    except (ValueError, TypeError):  # TypeError: a time without a zone
        return None


def _provider_json(stats: ProviderStats) -> dict[str, Any]:
    return {
        "provider": stats.provider,
        "calls": stats.calls,
        "ok": stats.ok,
        "success_rate": _round(stats.success_rate),
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "answered": stats.answered,
        "answer_correct_rate": _round(stats.answer_correct_rate),
        "errors": stats.errors,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def scrub_all(value: Any, scrub: Callable[[str], str]) -> Any:
    """Every string in a JSON-like value (keys too) passed through the scrubber."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_all(k, scrub): scrub_all(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_all(v, scrub) for v in value]
    return value
