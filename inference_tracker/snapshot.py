"""What is on disk, read without writing, locking or repairing: state, buffer, pending batches
and the archive. Read by status (report.py), the spending cap (cycle.py), the leaderboard
(publish.py) and the Prometheus textfile (metrics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inference_tracker.csvfile import RowsRead, read_csv
from inference_tracker.files import why_blocked, why_unusable
from inference_tracker.record import ROW_KEY, Row
from inference_tracker.state import ErrorNote, State
from inference_tracker.stats import in_window, numbers
from inference_tracker.store import Store, batch_files


@dataclass
class Snapshot:
    state: State
    buffer_rows: int = 0
    pending_batches: int = 0
    pending_rows: int = 0
    rows: list[Row] = field(default_factory=list)  # buffer, pending and archive, each row once
    problems: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)  # why a storage folder takes no file
    blocked: list[str] = field(default_factory=list)  # those of them true for every user
    failure: ErrorNote | None = None  # what last_failure.json holds (state.json could not)
    oldest_unpushed: str | None = None  # the first cycle of the rows not yet pushed


def read_snapshot(
    store: Store, *, now: datetime, hours: int, pending: Sequence[Row] | None = None
) -> Snapshot:
    """Read state, buffer, pending batches and the archive files that can hold rows of the window.

    Files are read in the direction rows move (buffer, then pending, then archive), so a push
    running meanwhile can make a row appear twice (dropped here by its key) but never vanish.
    A push, which holds the pending batches' rows already (and the lock that keeps them as
    they are), passes them as `pending`: they are not read twice.
    """
    snap = Snapshot(state=store.read_state(), failure=store.last_failure())
    for folder in (store.buffer_path.parent, store.state_dir):
        why = why_unusable(folder)
        if why is not None and why not in snap.unusable:
            snap.unusable.append(why)
            if why == why_blocked(folder):
                snap.blocked.append(why)
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
    if pending is not None:
        snap.pending_rows = take(RowsRead(rows=list(pending)))
    else:
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


def spent_usd(store: Store, *, now: datetime, hours: int) -> float:
    """The summed cost of the calls of the last `hours` on disk (rows with a known cost)."""
    rows = in_window(read_snapshot(store, now=now, hours=hours).rows, now=now, hours=hours)
    return sum(numbers(rows, "cost_usd"))
