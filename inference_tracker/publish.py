"""Publishing: seal the buffer, put every pending batch in one Hub commit, archive the batches.

Two ways to lay out the dataset (spec section 6, "Push"):
- shard mode (the file name has `{batch_id}`): one file per batch, at a path that depends only
  on the batch, so a push repeated after a crash rewrites identical files.
- append mode (the seed's `metrics.csv`): download the file, add the rows not already there
  under it.
Either way the same commit keeps the dataset loadable (dataset.py): the README.md card gets our
`configs` and `dataset_info` merged in, and files of the table written with fewer columns are
rewritten with all of them. What the commit derives from the dataset (the append file, the card,
the upgrades) is read at the head commit, and the commit names that commit as its parent: when
someone else committed meanwhile (412), it is all read again from the new head and retried.

hub.py does the talking (bounded in time, public huggingface_hub API only); it is imported
inside functions, so `status` and a collect without a push never load huggingface_hub.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from inference_tracker import __version__
from inference_tracker.clock import Clock
from inference_tracker.config import CARD_PATH, Settings
from inference_tracker.csvfile import CURRENT_HEADER, decode_rows, encode_rows
from inference_tracker.dataset import (
    HEADER_PEEK,
    LayoutError,
    card_is_current,
    in_table,
    merge_card,
    merge_csv,
    older_header,
    upgraded_csv,
)
from inference_tracker.errors import ConfigError, PushError, PushNotRecorded, StoreError
from inference_tracker.leaderboard import leaderboard_section, merge_section
from inference_tracker.logs import EventLog, adopt_library_handlers
from inference_tracker.record import COLUMNS, ERROR_MESSAGE_LIMIT, Row, Scrubber, iso_ms
from inference_tracker.render import plural
from inference_tracker.snapshot import read_snapshot
from inference_tracker.state import PushNote
from inference_tracker.states import Thresholds, provider_states
from inference_tracker.stats import WEEK_HOURS
from inference_tracker.store import Batch, Store

if TYPE_CHECKING:
    from inference_tracker.hub import Hub, HubLimits

CONFLICT_ATTEMPTS = 5
# An upgrade reads the start of every file of the table once, and downloads and rewrites the
# old ones: time for that on top of the push's own limit, so a large dataset can be upgraded at
# all. A Hub that stops answering still fails the push as before: each request stays bounded,
# and a request that fails ends the push.
SECONDS_PER_FILE_LOOKED_AT = 0.5
SECONDS_PER_FILE_UPGRADED = 2.0


@dataclass(frozen=True)
class Destination:
    """Where pushes go: the dataset, the file name template, and who writes."""

    repo_id: str
    filename_template: str
    endpoint: str
    token: str = field(repr=False)
    probe_id: str
    private: bool = False  # a dataset the first push creates is private

    @property
    def shard_mode(self) -> bool:
        return "{batch_id}" in self.filename_template

    def path_for(self, batch: Batch) -> str:
        """Depends on the batch alone: the same batch always lands at the same path."""
        return self.filename_template.format(
            date=batch.first_cycle.strftime("%Y-%m-%d"), probe_id=self.probe_id, batch_id=batch.id
        )


@dataclass(frozen=True)
class PushResult:
    rows: int  # rows of the batches now in the dataset
    files: int  # files written by the commit
    batches: int
    commit_url: str | None  # None when no commit was needed
    duplicates: int = 0  # append mode: rows that were already in the file


@dataclass(frozen=True)
class Loaded:
    """A pending batch read back: its rows and the bytes to upload."""

    batch: Batch
    rows: list[Row]
    data: bytes


def destination_from_settings(settings: Settings) -> Destination:
    """Where to push, or a ConfigError naming the setting that stops a push."""
    token = settings.hf_hub_token.get_secret_value().strip() if settings.hf_hub_token else ""
    if not token:
        raise ConfigError(
            "HF_HUB_TOKEN is not set; push needs a write token for the dataset"
            " (HF_TOKEN is never used for pushing)"
        )
    repo_id = settings.hf_dataset_repo_id.strip()
    if not repo_id:
        raise ConfigError(
            "HF_DATASET_REPO_ID is not set; push needs the dataset to write to,"
            " e.g. me/inference-metrics"
        )
    return Destination(
        repo_id=repo_id,
        filename_template=settings.hf_dataset_target_filename,
        endpoint=settings.hf_endpoint,
        token=token,
        probe_id=settings.probe_id,
        private=settings.hf_dataset_private,
    )


# --- the push --------------------------------------------------------------------------------


def push_pending(
    store: Store,
    destination: Destination,
    log: EventLog,
    now: datetime,
    *,
    limits: HubLimits | None = None,
    clock: Clock = Clock(),
    lock_wait: float | None = None,
    thresholds: Thresholds | None = None,
) -> PushResult:
    """Seal the buffer, commit every pending batch at once, archive them. Raises PushError,
    or LockBusy when another push held the lock longer than `lock_wait` seconds."""
    from inference_tracker.hub import DEFAULT_LIMITS, Hub

    adopt_library_handlers()  # huggingface_hub's own log lines go through ours
    scrub = Scrubber([destination.token])
    with store.push_lock(lock_wait):
        store.seal()
        batches = store.pending()
        if not batches:
            log.info("push_skipped", reason="nothing pending")
            return PushResult(rows=0, files=0, batches=0, commit_url=None)
        loaded = [_load(batch, log) for batch in batches]
        rows = sum(len(one.rows) for one in loaded)
        cycles = len({row["cycle_timestamp_iso"] for one in loaded for row in one.rows})
        log.info(
            "push_started",
            repo=destination.repo_id,
            mode="shards" if destination.shard_mode else "append",
            batches=len(batches),
            rows=rows,
            cycles=cycles,
        )
        hub = Hub(
            destination.endpoint,
            destination.token,
            limits=limits or DEFAULT_LIMITS,
            clock=clock,
            on_retry=lambda what: log.warning("hub_retry", request=what),
        )

        pending = [row for one in loaded for row in one.rows]
        board = _leaderboard(store, pending, destination.probe_id, now, thresholds, log)

        def attempt() -> tuple[str | None, int, int]:
            if destination.shard_mode:
                return _push_shards(hub, destination, loaded, rows, cycles, log, board)
            return _push_append(hub, destination, loaded, cycles, log, board)

        try:
            with hub:
                try:
                    url, files, duplicates = attempt()
                except Exception as exc:
                    refusal = hub.refusal(exc)
                    if refusal is None or not refusal.repo_not_found:
                        raise
                    _create(hub, destination, log)
                    url, files, duplicates = attempt()
        except Exception as exc:
            message = _failure_message(exc, hub, destination)
            if message is None:
                store.note_error("push", f"internal error: {type(exc).__name__}", now)
                raise
            message = scrub.cut(message, ERROR_MESSAGE_LIMIT)
            store.note_error("push", message, now)
            raise PushError(message) from None
        note = PushNote(
            at=iso_ms(now),
            rows=rows,
            cycles=cycles,
            batches=len(batches),
            files=files,
            commit_url=url,
            repo_id=destination.repo_id,
        )
        try:
            store.archive(batches, now)
            store.update_state(lambda state: state.record_push(note))
        except StoreError as exc:  # a batch still pending is sent again, harmlessly
            where = url or "already there: no commit was needed"
            landed = scrub.cut(
                f"the push landed: {plural(rows, 'row')} {'is' if rows == 1 else 'are'} in"
                f" {destination.repo_id} ({where}), but it could not be recorded: {exc}",
                ERROR_MESSAGE_LIMIT,
            )
            store.note_error("push", landed, now)
            raise PushNotRecorded(landed) from None
        log.info(
            "pushed",
            rows=rows,
            cycles=cycles,
            batches=len(batches),
            files=files,
            duplicates=duplicates,
            commit_url=url,
        )
        return PushResult(rows, files, len(batches), url, duplicates)


def _create(hub: Hub, destination: Destination, log: EventLog) -> None:
    """The first push makes the dataset, as huggingface_hub's CommitScheduler does."""
    try:
        hub.create_repo(destination.repo_id, private=destination.private)
    except Exception as exc:
        refusal = hub.refusal(exc)
        if refusal is None:
            raise
        raise PushError(
            f"dataset {destination.repo_id} does not exist at {destination.endpoint} and could"
            f" not be created: {refusal.status} {refusal.reason} (check HF_DATASET_REPO_ID and"
            " that HF_HUB_TOKEN may create datasets there)"
        ) from None
    visibility = "private" if destination.private else "public"
    log.info("dataset_created", repo=destination.repo_id, visibility=visibility)


def _load(batch: Batch, log: EventLog) -> Loaded:
    """A pending batch as it goes to the Hub: every readable row, in the current layout (a batch
    sealed before the columns grew gets them, empty; a whole batch in the current layout is
    its file as is: encode_rows wrote it)."""
    data = batch.path.read_bytes()
    read = decode_rows(data, str(batch.path))
    if read.problems:
        log.warning(
            "batch_damaged", batch=batch.id, problems=read.problems[:5], rows=len(read.rows)
        )  # push what can be read; the file stays archived
    elif data.startswith(CURRENT_HEADER):
        return Loaded(batch, read.rows, data)
    return Loaded(batch, read.rows, encode_rows(read.rows, header=True))


def _upkeep(
    hub: Hub,
    destination: Destination,
    head: str,
    writing: set[str],
    log: EventLog,
    leaderboard: str = "",
) -> tuple[dict[str, bytes], int]:
    """What the commit must also carry for the dataset at `head` to load as one table: every
    file of the table with an earlier header, upgraded (but the files in `writing`, which the
    commit writes anyway), and the card with our keys merged in, when that changes it. Returns
    those files and how many were upgraded. A card that declares our features means every
    file was upgraded with it: then no file is looked at; so while a file cannot be upgraded,
    the card keeps what it declared."""
    repo, template = destination.repo_id, destination.filename_template
    raw = hub.read(repo, CARD_PATH, head)
    card = raw.decode("utf-8", errors="replace") if raw is not None else None
    files: dict[str, bytes] = {}
    left = 0
    if not card_is_current(card):
        files, left = _upgrades(hub, destination, head, writing, log)
    merged_card = merge_card(card, template) if not left else (card or "")
    if leaderboard:  # this probe's section; every other probe's stays as it is
        merged_card = merge_section(merged_card, destination.probe_id, leaderboard)
    merged = merged_card.encode()
    if merged and merged != raw:  # never an empty card where there was none
        files[CARD_PATH] = merged
    return files, len(files) - (CARD_PATH in files)


def _upgrades(
    hub: Hub, destination: Destination, head: str, writing: set[str], log: EventLog
) -> tuple[dict[str, bytes], int]:
    """Every file of the table with an earlier header, in our columns; and how many files
    could not be upgraded (a record not whole: left as it is, never cut)."""
    repo, template = destination.repo_id, destination.filename_template
    files: dict[str, bytes] = {}
    left = 0
    table = [
        path
        for path in hub.list_files(repo, head)
        if path not in writing and path != CARD_PATH and in_table(path, template)
    ]
    hub.allow(SECONDS_PER_FILE_LOOKED_AT * len(table))
    for path in table:
        start = hub.read_start(repo, path, head, HEADER_PEEK)
        if start is None or not older_header(start):
            continue  # ours already, or not ours: left alone
        hub.allow(SECONDS_PER_FILE_UPGRADED)  # its download, and its share of the upload
        data = hub.read(repo, path, head)
        new = upgraded_csv(data) if data is not None else None
        if new is None:
            log.warning(
                "dataset_file_not_upgraded",
                path=path,
                reason="a record is not whole; the card keeps its old columns until it is mended",
            )
            left += 1
            continue
        files[path] = new
    if files:
        log.info("dataset_upgrade", files=len(files), columns=len(COLUMNS))
    return files, left


def _leaderboard(
    store: Store,
    pending: list[Row],
    probe_id: str,
    now: datetime,
    thresholds: Thresholds | None,
    log: EventLog,
) -> str:
    """This probe's live section of the dataset card: its providers over 24 h and 7 d, from
    the rows on disk (the pending batches' rows, read already, and the archive). It is a view
    of the rows: when it cannot be built, even by a bug, the rows go without it (the card
    keeps the section it has) and the log says why."""
    try:
        snap = read_snapshot(store, now=now, hours=WEEK_HOURS, pending=pending)
        states = provider_states(snap.rows, now=now, thresholds=thresholds or Thresholds())
        return leaderboard_section(snap.rows, probe_id=probe_id, states=states, now=now)
    except Exception as exc:
        log.warning("leaderboard_not_built", error=f"{type(exc).__name__}: {exc}")
        return ""


def _upgrade_note(upgraded: int) -> str:
    return f"; upgrade {plural(upgraded, 'file')} to {len(COLUMNS)} columns" if upgraded else ""


def _push_shards(
    hub: Hub,
    destination: Destination,
    loaded: list[Loaded],
    rows: int,
    cycles: int,
    log: EventLog,
    leaderboard: str,
) -> tuple[str | None, int, int]:
    from inference_tracker.hub import HubConflict

    shards = {destination.path_for(one.batch): one.data for one in loaded if one.rows}
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        head = hub.head(destination.repo_id)
        extra, upgraded = _upkeep(hub, destination, head, set(shards), log, leaderboard)
        files = {**shards, **extra}
        if not files:
            return None, 0, 0
        try:
            url = hub.commit(
                destination.repo_id,
                files,
                message=f"Add {plural(rows, 'row')} from {plural(cycles, 'cycle')}"
                f" (probe {destination.probe_id}){_upgrade_note(upgraded)}",
                description=_description(loaded),
                # Shards alone are new files: they cannot undo anyone's change, so they need
                # no parent (and never meet a 412). What was derived from `head` does.
                parent=head if extra else None,
            )
        except HubConflict:
            log.warning("push_conflict", attempt=attempt, of=CONFLICT_ATTEMPTS)
            _after_conflict(hub, attempt)
            continue
        return url, len(files), 0
    raise _kept_changing()


def _push_append(
    hub: Hub,
    destination: Destination,
    loaded: list[Loaded],
    cycles: int,
    log: EventLog,
    leaderboard: str,
) -> tuple[str | None, int, int]:
    from inference_tracker.hub import HubConflict

    by_path: dict[str, list[Row]] = {}
    for one in loaded:
        by_path.setdefault(destination.path_for(one.batch), []).extend(one.rows)
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        head = hub.head(destination.repo_id)
        files, added, duplicates = {}, 0, 0
        for path, rows in by_path.items():
            existing = hub.read(destination.repo_id, path, head)
            merged, path_added, path_duplicates = merge_csv(existing, rows, path)
            added, duplicates = added + path_added, duplicates + path_duplicates
            if merged != existing:  # rows added, or the file upgraded to our columns
                files[path] = merged
        extra, upgraded = _upkeep(hub, destination, head, set(by_path), log, leaderboard)
        if not files and not extra:
            log.info("push_already_there", duplicates=duplicates)
            return None, 0, duplicates
        where = next(iter(files)) if len(files) == 1 else f"{len(files)} files"
        what = (
            f"Append {plural(added, 'row')} from {plural(cycles, 'cycle')} to {where}"
            if added
            else "Upgrade the dataset"  # the rows were there; the card or a layout was not
        )
        try:
            url = hub.commit(
                destination.repo_id,
                {**files, **extra},
                message=f"{what} (probe {destination.probe_id}){_upgrade_note(upgraded)}",
                description=_description(loaded),
                parent=head,
            )
        except HubConflict:
            log.warning("push_conflict", attempt=attempt, of=CONFLICT_ATTEMPTS)
            _after_conflict(hub, attempt)
            continue
        if duplicates:
            log.info("push_duplicates_skipped", duplicates=duplicates)
        return url, len(files) + len(extra), duplicates
    raise _kept_changing()


def _after_conflict(hub: Hub, attempt: int) -> None:
    """A growing pause of random length before the next attempt, none after the last: probes
    that push in the same minute all change the card, and a fixed rhythm would make them
    meet again at every attempt."""
    if attempt < CONFLICT_ATTEMPTS:
        hub.pause(random.uniform(0.5, 1.5) * attempt)


def _kept_changing() -> PushError:
    return PushError(
        f"Hub refused the commit: 412 the dataset kept changing during the push"
        f" ({CONFLICT_ATTEMPTS} tries)"
    )


def _description(loaded: list[Loaded]) -> str:
    ids = ", ".join(one.batch.id for one in loaded)
    return f"Pushed by inference-tracker {__version__}. Batches: {ids}."


def _failure_message(exc: BaseException, hub: Hub, destination: Destination) -> str | None:
    """One line for a known failure; None for a bug."""
    if isinstance(exc, PushError | LayoutError):
        return str(exc)
    return hub.describe(exc, destination.repo_id)
