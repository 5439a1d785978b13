"""`tracker status`: the status object, built from what is on disk (snapshot.py reads it; the
statistics are in stats.py, the provider states in states.py; render.py shows it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference_tracker.record import CycleSummary, Row, iso_ms, parse_iso
from inference_tracker.render import ago, plural, span
from inference_tracker.snapshot import Snapshot
from inference_tracker.state import ErrorNote
from inference_tracker.states import ProviderState, Thresholds, provider_states
from inference_tracker.stats import WEEK_HOURS, ProviderStats, in_window, numbers, provider_stats

if TYPE_CHECKING:
    from inference_tracker.config import Settings

# --since values and the hours they stand for.
WINDOWS = {"1h": 1, "6h": 6, "24h": 24, "7d": WEEK_HOURS}
STALE_AFTER_INTERVALS = 2

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
    snap: Snapshot,
    settings: SettingsView,
    *,
    now: datetime,
    hours: int,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """The whole status as plain JSON-able data; the text view renders this same object.
    Provider states are judged over the rows read (status reads 7 days)."""
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
    states = provider_states(snap.rows, now=now, thresholds=thresholds or Thresholds())
    covered = _covered_seconds(window_rows, now=now, hours=hours, interval_s=settings.interval_s)
    return {
        "generated_at": iso_ms(now),
        "settings": asdict(settings),
        "cycle_counter": counter,
        "cycles_until_push": interval - counter % interval,
        "last_cycle": last_cycle,
        "healthy": not health.faults,
        "faults": health.faults,
        "cron_stale": health.cron_stale,
        "buffer_rows": snap.buffer_rows,
        "pending_batches": snap.pending_batches,
        "pending_rows": snap.pending_rows,
        "last_push": last_push,
        "last_error": last_error,
        "window_hours": hours,
        "window_rows": len(window_rows),
        "spend": _spend(window_rows, covered),
        "providers": [_provider_json(p, states.get(p.provider), covered) for p in providers],
        "warnings": health.warnings,
        "problems": list(snap.problems),
    }


@dataclass
class Health:
    """What is wrong with the tracker itself (not with the providers), in words. `faults`
    make it unhealthy (status --check): cron stale, a cycle's rows not stored, pushes failing.
    A provider down is data, never a fault of the tracker."""

    cron_stale: bool = False
    warnings: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)


def _health(
    snap: Snapshot, settings: SettingsView, error: ErrorNote | None, now: datetime
) -> Health:
    health = Health()
    # Access and free space are judged as the user running status, who may not be cron's
    # (a monitoring agent): only what stands in every user's way makes the tracker unhealthy.
    for why in snap.unusable:
        health.warnings.append(f"storage: {why}: the next cycle cannot store its rows")
        if why in snap.blocked:
            health.faults.append(health.warnings[-1])
    storage_blocked = bool(snap.blocked)  # cycles run, but stop before they can say why
    cycle = snap.state.last_cycle
    failed = _cycle_failure(error, cycle)
    if error is not None and error.where in ("config", "store", "state") and failed is not None:
        health.faults.append(failed)
    if cycle is None:  # a tracker that never ran is not healthy: cron may never run it
        health.warnings.append(
            failed
            or f"no cycle has run yet with STATE_DIR {settings.state_dir}: is cron set up to"
            " run collect with these settings?"
        )
        if not storage_blocked and health.warnings[-1] not in health.faults:
            health.faults.append(health.warnings[-1])
    else:
        age = _age(cycle.started, now)
        if age is not None and age > STALE_AFTER_INTERVALS * settings.interval_s:
            health.cron_stale = True
            late = (
                f"the last cycle started {ago(age)}, more than twice "
                f"SCHEDULE_INTERVAL_SECONDS ({settings.interval_s:g} s)"
            )
            if failed is None and storage_blocked:
                health.warnings.append(f"{late}: no cycle can store its rows (storage, above)")
            elif failed is None:
                health.warnings.append(f"{late}: is cron running?")
                health.faults.insert(0, health.warnings[-1])
            elif failed not in health.faults:  # a skipped listing: stored rows fail below
                health.faults.insert(0, failed)
        if failed is not None:
            health.warnings.append(failed)
        if cycle.interrupted:
            health.warnings.append(
                f"the last stored cycle, at {cycle.started}, was interrupted before all its"
                " calls ended"
            )
        if cycle.ok + cycle.failed == 0:
            health.warnings.append(_measured_nothing(cycle, snap.rows))
    waited = _age(snap.oldest_unpushed, now)
    push_every = settings.push_interval_cycles * settings.interval_s
    if settings.repo and waited is not None and waited > STALE_AFTER_INTERVALS * push_every:
        push_error = snap.state.push_error
        why = push_error.message if push_error else "no push has been tried (is cron pushing?)"
        health.warnings.append(f"pushes have failed for {span(waited)}: {why}")
        health.faults.append(health.warnings[-1])
    return health


_CYCLE_FAILURES = {
    "config": "could not start",
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


def _measured_nothing(cycle: CycleSummary, rows: list[Row]) -> str:
    if cycle.rows:
        last = [row for row in rows if row.get("cycle_timestamp_iso") == cycle.started]
        if any(row.get("error_class") == "budget" for row in last):
            return (
                "the last cycle measured nothing: the spending cap was reached (the calls of"
                " the last 24 h cost MAX_DAILY_SPEND_USD); calls resume as older ones age out"
            )
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


def _covered_seconds(rows: list[Row], *, now: datetime, hours: int, interval_s: float) -> float:
    """The time the window's rows stand for, to turn their cost into a pace per day: a fresh
    install is not diluted by an empty day, and the newest cycle stands for a whole
    SCHEDULE_INTERVAL_SECONDS."""
    starts = [_age(row.get("cycle_timestamp_iso"), now) for row in rows]
    oldest = max((age for age in starts if age is not None), default=0.0)
    return min(oldest + interval_s, hours * 3600.0)


def _per_day(spent: float | None, covered: float) -> float | None:
    return round(spent * 86400 / covered, 4) if spent is not None and covered > 0 else None


def _spend(rows: list[Row], covered: float) -> dict[str, Any]:
    """The money the window's calls cost (rows with a known cost), and that pace over a day."""
    costs = numbers(rows, "cost_usd")
    spent = sum(costs) if costs else None
    return {
        "window_usd": round(spent, 6) if spent is not None else None,
        "per_day_usd": _per_day(spent, covered),
        "costed_calls": len(costs),
    }


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


def _provider_json(
    stats: ProviderStats, state: ProviderState | None, covered: float
) -> dict[str, Any]:
    return {
        "provider": stats.provider,
        "state": state.state if state else "unknown",
        "state_since": state.since if state else None,
        "state_reason": state.reason if state else "",
        "uptime_1h": _round(state.uptime_1h) if state else None,
        "uptime_24h": _round(state.uptime_24h) if state else None,
        "uptime_7d": _round(state.uptime_7d) if state else None,
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
        "cost_per_day_usd": _per_day(stats.cost_usd, covered),
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
