"""The tracker's local data: the buffer, state.json, pending batches, the archive.

Every file is replaced atomically (files.atomic_write), so a kill -9 at any moment leaves
either the old or the new file, never a torn one. The buffer and state are changed only under
`STATE_DIR/lock`; a push holds `STATE_DIR/push.lock` for its length.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inference_tracker.csvfile import (
    CURRENT_HEADER,
    RowsRead,
    decode_rows,
    encode_rows,
    read_csv,
    record_count,
    rows_in_our_layout,
)
from inference_tracker.errors import StoreError
from inference_tracker.files import (
    atomic_write,
    file_lock,
    fsync_dir,
    probe_folder,
    strerror,
    why_unusable,
)
from inference_tracker.record import CycleSummary, Row, iso_ms, parse_iso, summarise
from inference_tracker.render import plural
from inference_tracker.state import ErrorNote, PushNote, Recovery, State, StateInvalid

ARCHIVE_DAYS = 7
LOCK_TIMEOUT_SECONDS = 60.0
_EPOCH = datetime.fromtimestamp(0, UTC)


class StateNotSaved(StoreError):
    """The cycle's rows are in the buffer, but state.json could not be written."""


@dataclass(frozen=True)
class Batch:
    """An immutable sealed buffer, waiting for (pending/) or done with (archive/) a push."""

    id: str
    path: Path
    first_cycle: datetime


def batch_files(folder: Path, problems: list[str] | None = None) -> list[Path]:
    """The batch files in a folder: *.csv, not hidden (temp files are). A folder that is
    missing holds none; one that cannot be listed is noted in `problems` when given."""
    try:
        return sorted(
            p for p in folder.iterdir() if p.suffix == ".csv" and not p.name.startswith(".")
        )
    except FileNotFoundError:
        return []
    except OSError as exc:  # not a folder, no permission: writes will say why
        if problems is not None:
            problems.append(f"{folder}: cannot list: {exc.strerror or exc}")
        return []


# --- the store ------------------------------------------------------------------------------


class Store:
    """The buffer at `buffer_path` and the state folder beside it."""

    def __init__(
        self,
        buffer_path: Path,
        state_dir: Path,
        *,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        on_wait: Callable[[str], object] = lambda what: None,
        on_warning: Callable[[str], object] = lambda detail: None,
    ) -> None:
        """`on_wait` is told when a wait for a lock begins; `on_warning` of anything the store
        repaired or set aside on its own (a damaged buffer, a rebuilt state)."""
        self.buffer_path = buffer_path
        self.state_dir = state_dir
        self.state_file = state_dir / "state.json"
        self.failure_file = state_dir / "last_failure.json"  # when state.json cannot be written
        self.pending_dir = state_dir / "pending"
        self.archive_dir = state_dir / "archive"
        self.lock_timeout = lock_timeout
        self._on_wait = on_wait
        self._on_warning = on_warning

    # folders and locks

    def ensure_dirs(self) -> None:
        for folder in (self.buffer_path.parent, self.state_dir, self.pending_dir, self.archive_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                why = why_unusable(folder) or strerror(exc)
                raise StoreError(f"cannot create {folder}: {why}") from None

    def check_writable(self) -> None:
        """Before any (billed) call: the buffer's folder and STATE_DIR take a file (created,
        written, fsynced, removed), and the buffer and state.json, where they exist, are files.
        Raises StoreError saying what stands in the way."""
        try:
            self.ensure_dirs()
            for path in (self.buffer_path, self.state_file):
                if path.exists() and not path.is_file():
                    raise StoreError(f"{path} is a folder, not a file")
            for folder in (self.buffer_path.parent, self.state_dir):
                probe_folder(folder)
        except StoreError as exc:
            raise StoreError(f"cannot store rows: {exc}") from None

    def data_lock(self) -> contextlib.AbstractContextManager[None]:
        """Guards the buffer and state.json; held for milliseconds."""
        self.ensure_dirs()
        return file_lock(
            self.state_dir / "lock", self.lock_timeout, lambda: self._on_wait("data lock")
        )

    def push_lock(self, timeout: float | None = None) -> contextlib.AbstractContextManager[None]:
        """Held by a push from sealing to archiving, so two pushes never upload the same batch."""
        self.ensure_dirs()
        wait = self.lock_timeout if timeout is None else timeout
        return file_lock(self.state_dir / "push.lock", wait, lambda: self._on_wait("push lock"))

    # state.json

    def read_state(self) -> State:
        """The state, rebuilt from the files on disk if state.json is unreadable or holds
        impossible values (the rebuild is reported through on_warning)."""
        try:
            raw = self.state_file.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            return self._recover_state(strerror(exc))
        try:
            return State.from_json(raw)
        except StateInvalid as exc:
            return self._recover_state(str(exc))

    def _recover_state(self, why: str) -> State:
        """Rebuild what the files on disk can tell: cycles stored, the last cycle, the last push."""
        rows = [
            row
            for path in [self.buffer_path, *batch_files(self.pending_dir), *self.archived()]
            for row in read_csv(path).rows
        ]
        cycles = {row["cycle_timestamp_iso"] for row in rows}
        message = (
            f"{self.state_file} was unreadable ({why[:120]}); "
            f"rebuilt from the files on disk: {len(cycles)} cycles found"
        )
        self._on_warning(message)
        state = State(
            cycle_counter=len(cycles),
            recovered=Recovery(why[:200], len(cycles)),
            last_error=ErrorNote(_mtime_iso(self.state_file), "state", message),
        )
        if cycles:
            newest = max(cycles)
            state.last_cycle = summarise(
                [row for row in rows if row["cycle_timestamp_iso"] == newest], newest
            )
        archived = self.archived()
        if archived:
            newest_file = max(archived, key=lambda p: p.stat().st_mtime)
            state.last_push = PushNote(at=_mtime_iso(newest_file))
        return state

    def write_state(self, state: State) -> None:
        atomic_write(self.state_file, [state.to_json()])

    def update_state(self, change: Callable[[State], None]) -> State:
        """Read, change and write the state under the data lock."""
        with self.data_lock():
            state = self.read_state()
            change(state)
            self.write_state(state)
            return state

    def note_error(self, where: str, message: str, at: datetime) -> bool:
        """Record the last error for status, in state.json or, when that cannot be written,
        in last_failure.json beside it. Best effort: False when neither could be written.

        last_failure.json is kept FAILURE_RECORD_BYTES long, blank while there is nothing to
        say, so that on a full disk (no new file, no byte more) it can still be written over
        in place."""
        try:
            self.update_state(lambda state: state.note_error(where, message, at))
        except StoreError:
            record = _failure_record(iso_ms(at), where, message)
            try:
                atomic_write(self.failure_file, [record])
            except StoreError:
                return _write_over(self.failure_file, record)
        return True

    def _clear_failure(self) -> None:
        """A stored cycle resolves the recorded failure: blank the record, or make one (best
        effort), so that it is there when the disk is full."""
        blank = b" " * FAILURE_RECORD_BYTES
        try:
            if self.failure_file.read_bytes() == blank:
                return
        except OSError:
            pass
        with contextlib.suppress(StoreError):
            atomic_write(self.failure_file, [blank])

    def last_failure(self) -> ErrorNote | None:
        """The failure last_failure.json holds, if any (what state.json could not take)."""
        try:
            data = json.loads(self.failure_file.read_bytes())
            return ErrorNote(str(data["at"]), str(data["where"]), str(data["message"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # the buffer

    def append_cycle(self, rows: list[Row], summary: CycleSummary) -> int:
        """Store a cycle's rows and count it, under the lock. Returns the new counter."""
        with self.data_lock():
            self._clean_temps()
            state = self.read_state()  # before the buffer changes: recovery counts what is there
            existing = self._buffer_bytes()
            if existing and len(existing) != state.buffer_bytes:
                existing = self._checked(existing)  # changed since we wrote it: by whom?
            chunks = [existing] if existing else []
            chunks.append(encode_rows(rows, header=not existing))
            atomic_write(self.buffer_path, chunks)
            state.record_cycle(summary, buffer_bytes=sum(len(chunk) for chunk in chunks))
            try:
                self.write_state(state)
            except StoreError as exc:
                raise StateNotSaved(
                    f"the {plural(len(rows), 'row')} of this cycle are stored in "
                    f"{self.buffer_path}, but the cycle counter did not advance: {exc}"
                ) from None
            self._clear_failure()
            return state.cycle_counter

    def _buffer_bytes(self) -> bytes:
        """The buffer as it is, or b"" when absent. A buffer of another schema is set aside."""
        try:
            data = self.buffer_path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise StoreError(f"cannot read {self.buffer_path}: {strerror(exc)}") from None
        if not data or data.startswith(CURRENT_HEADER):
            return data
        converted = self._convert(data)
        if converted is not None:
            return converted
        if data:
            aside = self.buffer_path.with_name(
                f"{self.buffer_path.name}.other-schema-{int(time.time())}"
            )
            try:
                os.replace(self.buffer_path, aside)
            except OSError as exc:
                raise StoreError(f"cannot move aside {self.buffer_path}: {strerror(exc)}") from None
            self._on_warning(f"{self.buffer_path} had another column layout; moved to {aside}")
            return b""
        return data

    def _checked(self, data: bytes) -> bytes:
        """A buffer not as this tracker left it: kept as is when whole; else a copy is set
        aside and the buffer goes on from its good rows, so new rows cannot be swallowed."""
        read = decode_rows(data, str(self.buffer_path))
        if not read.problems:
            return data
        self._keep_copy(data, read.problems[0], len(read.rows))
        return encode_rows(read.rows, header=True)

    def _convert(self, data: bytes) -> bytes | None:
        """A buffer in the original tool's layout, or ours saved with other line ends,
        rewritten in our layout; None for anything else. A record that is not whole cannot be
        rewritten: the buffer as it was is kept in a copy, as _checked does."""
        layout = rows_in_our_layout(data)
        if layout is None:
            return None
        whole_header, rows = layout
        left_out = record_count(data) - len(rows)
        if left_out:
            self._keep_copy(data, f"{plural(left_out, 'record')} not whole", len(rows))
        if not whole_header:
            self._on_warning(
                f"{self.buffer_path} had the original tool's columns; "
                f"{len(rows)} rows carried over with the new columns empty"
            )
        return encode_rows(rows, header=True)

    def _keep_copy(self, data: bytes, problem: str, good_rows: int) -> None:
        """Set a damaged buffer's bytes aside before the buffer goes on without what could not
        be read, so nothing is lost for good."""
        aside = self.buffer_path.with_name(f"{self.buffer_path.name}.damaged-{int(time.time())}")
        atomic_write(aside, [data])
        self._on_warning(
            f"{self.buffer_path} was damaged ({problem}); a copy is at {aside}, "
            f"its {good_rows} good rows are kept"
        )

    def _clean_temps(self) -> None:
        """Temp files a killed run left behind: ours only, and only under the lock."""
        for target in (self.buffer_path, self.state_file):
            for tmp in target.parent.glob(f".{target.name}.tmp-*"):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def buffer_rows(self) -> RowsRead:
        return read_csv(self.buffer_path)

    # batches

    def seal(self) -> Batch | None:
        """Turn the buffer into an immutable pending batch (under the data lock)."""
        with self.data_lock():
            try:
                data = self.buffer_path.read_bytes()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise StoreError(f"cannot read {self.buffer_path}: {strerror(exc)}") from None
            read = decode_rows(data, str(self.buffer_path))
            if not read.rows:
                return None
            batch_id = batch_id_for(read.rows, data)
            path = self.pending_dir / f"{batch_id}.csv"
            try:
                os.replace(self.buffer_path, path)
                fsync_dir(self.pending_dir)
                fsync_dir(self.buffer_path.parent)
            except OSError as exc:
                raise StoreError(
                    f"cannot move {self.buffer_path} to {path}: {strerror(exc)}"
                ) from None
            return self._batch(path)

    def pending(self) -> list[Batch]:
        return [self._batch(path) for path in batch_files(self.pending_dir)]

    def archived(self) -> list[Path]:
        return batch_files(self.archive_dir)

    def archive(self, batches: list[Batch], now: datetime) -> None:
        """Move pushed batches to archive/ and drop archived ones older than 7 days."""
        for batch in batches:
            target = self.archive_dir / batch.path.name
            try:
                os.replace(batch.path, target)
                stamp = now.timestamp()
                os.utime(target, (stamp, stamp))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(f"cannot archive {batch.path}: {strerror(exc)}") from None
        cutoff = (now - timedelta(days=ARCHIVE_DAYS)).timestamp()
        for path in batch_files(self.archive_dir):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def _batch(self, path: Path) -> Batch:
        """A batch by its file name (which starts with its first cycle), without reading it."""
        try:
            first = datetime.strptime(path.stem.split("-", 1)[0], "%Y%m%dT%H%M%SZ")
        except ValueError:  # not a name seal() gave: ask the rows
            stamps = [row["cycle_timestamp_iso"] for row in read_csv(path).rows]
            return Batch(path.stem, path, parse_iso(min(stamps)) if stamps else _EPOCH)
        return Batch(path.stem, path, first.replace(tzinfo=UTC))


def _mtime_iso(path: Path) -> str | None:
    try:
        return iso_ms(datetime.fromtimestamp(path.stat().st_mtime, UTC))
    except OSError:
        return None


def batch_id_for(rows: list[Row], data: bytes) -> str:
    """Deterministic: the first cycle's time and a hash of the content."""
    first = min(row["cycle_timestamp_iso"] for row in rows)
    stamp = parse_iso(first).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(data).hexdigest()[:12]}"


FAILURE_RECORD_BYTES = 4096
FAILURE_MESSAGE_CHARS = 600  # at most 6 bytes a character below: the record always fits


def _failure_record(at: str, where: str, message: str) -> bytes:
    """The failure as JSON, padded with spaces to FAILURE_RECORD_BYTES. (UTF-8 takes 4 bytes
    a character at most; JSON escapes a control character, the encoder a lone surrogate, in 6.)"""
    note = {"at": at, "where": where, "message": message[:FAILURE_MESSAGE_CHARS]}
    text = json.dumps(note, ensure_ascii=False)
    return text.encode(errors="backslashreplace").ljust(FAILURE_RECORD_BYTES)


def _write_over(path: Path, record: bytes) -> bool:
    """Write `record` over the start of the existing file `path`, in place: needs no free
    space when the file is already that long. False when that fails too."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return False
    try:
        written = os.pwrite(fd, record, 0)
        os.fsync(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return written == len(record)
