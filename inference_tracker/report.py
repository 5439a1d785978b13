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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference_tracker.csvfile import RowsRead, read_csv
from inference_tracker.files import why_unusable
from inference_tracker.record import NOT_CALLED, ROW_KEY, CycleSummary, Row, iso_ms, parse_iso
from inference_tracker.render import ago, plural, span
from inference_tracker.state import ErrorNote, State
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
        if row.get("error_class") in NOT_CALLED:
            continue  # no call on purpose (providers.toml, the spending cap): nothing to judge
        by_provider.setdefault(row.get("provider_name", ""), []).append(row)
    stats = [_one_provider(name, group) for name, group in by_provider.items()]
    return sorted(stats, key=_badness)


def _one_provider(name: str, rows: list[Row]) -> ProviderStats:
    """The numbers of one provider's rows (calls made, in the window)."""
    ok_rows = [row for row in rows if row.get("error_class") == "ok"]
    durations = _numbers(ok_rows, "duration_ms")
    streamed = [row for row in ok_rows if row.get("streamed") == "true"]
    ttfts = _numbers(streamed, "ttft_ms")
    costs = _numbers(rows, "cost_usd")
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
        p50_tokens_per_s=percentile(_numbers(streamed, "output_tokens_per_s"), 50),
        advertised_ttft_ms=percentile(_numbers(rows, "advertised_ttft_ms"), 50),
        advertised_tokens_per_s=percentile(_numbers(rows, "advertised_tokens_per_s"), 50),
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


def _numbers(rows: Iterable[Row], column: str) -> list[float]:
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


# --- what is on disk (read only: status never writes, locks or repairs) ---------------------


@dataclass
class Snapshot:
    state: State
    buffer_rows: int = 0
    pending_batches: int = 0
    pending_rows: int = 0
    rows: list[Row] = field(default_factory=list)  # buffer, pending and archive, each row once
    problems: list[str] = field(default_factory=list)
    failure: ErrorNote | None = None  # what last_failure.json holds (state.json could not)
    oldest_unpushed: str | None = None  # the first cycle of the rows not yet pushed


def read_snapshot(store: Store, *, now: datetime, hours: int) -> Snapshot:
    """Read state, buffer, pending batches and the archive files that can hold rows of the window.

    Files are read in the direction rows move (buffer, then pending, then archive), so a push
    running meanwhile can make a row appear twice (dropped here by its key) but never vanish.
    """
    snap = Snapshot(state=store.read_state(), failure=store.last_failure())
    for folder in (store.buffer_path.parent, store.state_dir):
        why = why_unusable(folder)
        if why is not None and why not in snap.problems:
            snap.problems.append(why)
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
    unpushed = [row.get("cycle_timestamp_iso", "") for row in snap.rows]
    snap.oldest_unpushed = min(unpushed) if unpushed else None
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
    state_dir: str  # absolute: so status run from the wrong folder is obvious
    hf_token_set: bool
    hf_hub_token_set: bool
    working_folder: str
    env_file: str | None  # the .env file read, absolute; None when there is none

    @classmethod
    def from_settings(cls, settings: Settings, env_file: Path | None) -> SettingsView:
        return cls(
            repo=settings.hf_dataset_repo_id,
            target=settings.hf_dataset_target_filename,
            interval_s=settings.schedule_interval_seconds,
            push_interval_cycles=settings.push_interval_cycles,
            probe_id=settings.probe_id,
            buffer=str(settings.local_csv_path),
            state_dir=str(settings.state_folder.absolute()),
            hf_token_set=settings.hf_token is not None,
            hf_hub_token_set=settings.hf_hub_token is not None,
            working_folder=str(Path.cwd()),
            env_file=str(env_file.absolute()) if env_file is not None else None,
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
    error = _newest(state.last_error, snap.failure)
    last_error = _pick(error, ("at", "where", "message"))
    health = _health(snap, settings, error, now)

    window_rows = in_window(snap.rows, now=now, hours=hours)
    providers = provider_stats(window_rows, now=now, hours=hours)
    return {
        "generated_at": iso_ms(now),
        "settings": asdict(settings),
        "cycle_counter": counter,
        "cycles_until_push": interval - counter % interval,
        "last_cycle": last_cycle,
        "cron_stale": health.cron_stale,
        "buffer_rows": snap.buffer_rows,
        "pending_batches": snap.pending_batches,
        "pending_rows": snap.pending_rows,
        "last_push": last_push,
        "last_error": last_error,
        "window_hours": hours,
        "window_rows": len(window_rows),
        "providers": [_provider_json(p) for p in providers],
        "warnings": health.warnings,
        "problems": list(snap.problems),
    }


@dataclass
class Health:
    """What is wrong with the tracker itself (not with the providers), in words."""

    cron_stale: bool = False
    warnings: list[str] = field(default_factory=list)


def _health(
    snap: Snapshot, settings: SettingsView, error: ErrorNote | None, now: datetime
) -> Health:
    health = Health()
    cycle = snap.state.last_cycle
    failed = _cycle_failure(error, cycle)
    if cycle is None:
        health.warnings.append(failed or "no cycle has run yet")
    else:
        age = _age(cycle.started, now)
        if age is not None and age > STALE_AFTER_INTERVALS * settings.interval_s:
            health.cron_stale = True
            if failed is None:
                health.warnings.append(
                    f"the last cycle started {ago(age)}, more than twice "
                    f"SCHEDULE_INTERVAL_SECONDS ({settings.interval_s:g} s): is cron running?"
                )
        if failed is not None:
            health.warnings.append(failed)
        if cycle.interrupted:
            health.warnings.append("the last cycle was interrupted before all its calls ended")
        if cycle.ok + cycle.failed == 0:
            health.warnings.append(_measured_nothing(cycle))
    waited = _age(snap.oldest_unpushed, now)
    push_every = settings.push_interval_cycles * settings.interval_s
    if settings.repo and waited is not None and waited > STALE_AFTER_INTERVALS * push_every:
        push_error = snap.state.push_error
        why = push_error.message if push_error else "no push has been tried (is cron pushing?)"
        health.warnings.append(f"pushes have failed for {span(waited)}: {why}")
    return health


_CYCLE_FAILURES = {
    "store": "could not store its rows",
    "state": "stored its rows but not its count",
    "listing": "was skipped",
}


def _cycle_failure(error: ErrorNote | None, cycle: CycleSummary | None) -> str | None:
    """A failure of a cycle later than the last stored cycle, in words; else None."""
    if error is None or error.where not in _CYCLE_FAILURES or error.at is None:
        return None
    if cycle is not None and error.at <= cycle.started:
        return None
    return f"the last cycle, at {error.at}, {_CYCLE_FAILURES[error.where]}: {error.message}"


def _measured_nothing(cycle: CycleSummary) -> str:
    if cycle.rows:
        return "the last cycle measured nothing: every pair was skipped (providers.toml)"
    if cycle.models == 0:
        return "the last cycle measured nothing: the listing gave no model (check MODELS_API_URL)"
    listed = "the listing" if cycle.models is None else plural(cycle.models, "model") + " listed"
    return (
        f"the last cycle measured nothing: {listed}, no live (model, provider) pair"
        " (check MODELS_API_URL and the listing's filter)"
    )


def _newest(*errors: ErrorNote | None) -> ErrorNote | None:
    """The latest of the errors recorded (ISO times in one format compare as text)."""
    known = [error for error in errors if error is not None]
    return max(known, key=lambda error: error.at or "") if known else None


_CYCLE_KEYS = (
    "started",
    "rows",
    "ok",
    "failed",
    "skipped",
    "duration_s",
    "interrupted",
    "models",
)


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
        "uptime": _round(stats.uptime),
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "p50_ttft_ms": stats.p50_ttft_ms,
        "p95_ttft_ms": stats.p95_ttft_ms,
        "p50_tokens_per_s": _round(stats.p50_tokens_per_s),
        "advertised_ttft_ms": stats.advertised_ttft_ms,
        "advertised_tokens_per_s": _round(stats.advertised_tokens_per_s),
        "ttft_vs_advertised": _round(stats.ttft_vs_advertised),
        "speed_vs_advertised": _round(stats.speed_vs_advertised),
        "failed_while_live": stats.failed_while_live,
        "cost_usd": _round(stats.cost_usd, 6),
        "answered": stats.answered,
        "answer_correct_rate": _round(stats.answer_correct_rate),
        "errors": stats.errors,
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def scrub_all(value: Any, scrub: Callable[[str], str]) -> Any:
    """Every string in a JSON-like value (keys too) passed through the scrubber."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_all(k, scrub): scrub_all(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_all(v, scrub) for v in value]
    return value
