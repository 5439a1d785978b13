"""Publishing: seal the buffer, put every pending batch in one Hub commit, archive the batches.

The only module that imports huggingface_hub (and its HTTP client, httpx2), and only inside
functions, so `status` and a collect without a push never pay for the import.

Two ways to lay out the dataset (spec section 6, "Push"):
- shard mode (the target has `{batch_id}`): one file per batch, at a path that depends only on
  the batch, so a push repeated after a crash rewrites identical files; plus a README.md card,
  written once, whose `configs` make the viewer read every shard as one table.
- append mode (the seed's `metrics.csv`): download the file, add the rows not already there
  under it, commit with `parent_commit` so a concurrent writer is noticed, and retry.

Every Hub call is bounded: each request by `HubLimits.request_seconds`, the whole push by
`HubLimits.total_seconds` (the library's own retries included). A refused connection fails at
once instead of being retried for 23 s.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from inference_tracker import __version__
from inference_tracker.config import CARD_PATH, ConfigError, Settings
from inference_tracker.csvfile import decode_rows, encode_rows
from inference_tracker.dataset import LayoutError, dataset_card, merge_csv
from inference_tracker.logs import EventLog, adopt_library_handlers
from inference_tracker.record import (
    ERROR_MESSAGE_LIMIT,
    Row,
    Scrubber,
    iso_ms,
)
from inference_tracker.state import PushNote
from inference_tracker.store import Batch, Store

if TYPE_CHECKING:
    import ssl

    from huggingface_hub import HfApi

CONFLICT_ATTEMPTS = 5
_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\]\s*")


class PushError(Exception):
    """The push failed; every row is still on disk. The message is one line."""


@dataclass(frozen=True)
class HubLimits:
    total_seconds: float = 60.0  # the whole push, the library's retries and waits included
    request_seconds: float = 20.0  # connect, and each read or write of one request


DEFAULT_LIMITS = HubLimits()  # a dead Hub fails a push in about a minute


@dataclass(frozen=True)
class PushTarget:
    repo_id: str
    filename_template: str
    endpoint: str
    token: str = field(repr=False)
    probe_id: str
    revision: str = "main"

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


# --- settings --------------------------------------------------------------------------------


def target_from_settings(settings: Settings) -> PushTarget:
    """The push target, or a ConfigError naming the setting that stops a push."""
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
    return PushTarget(
        repo_id=repo_id,
        filename_template=settings.hf_dataset_target_filename,
        endpoint=settings.hf_endpoint,
        token=token,
        probe_id=settings.probe_id,
    )


# --- the push --------------------------------------------------------------------------------


def push_pending(
    store: Store,
    target: PushTarget,
    log: EventLog,
    now: datetime,
    *,
    limits: HubLimits | None = None,
    lock_wait: float | None = None,
) -> PushResult:
    """Seal the buffer, commit every pending batch at once, archive them. Raises PushError,
    or LockBusy when another push held the lock longer than `lock_wait` seconds."""
    limits = limits or DEFAULT_LIMITS
    scrub = Scrubber([target.token])
    with store.push_lock(lock_wait):
        store.seal()
        batches = store.pending()
        if not batches:
            log.info("push_skipped", reason="nothing pending")
            return PushResult(rows=0, files=0, batches=0, commit_url=None)
        loaded = [_load(batch, log) for batch in batches]
        rows = sum(len(rows) for _, rows, _ in loaded)
        cycles = len(
            {row["cycle_timestamp_iso"] for _, batch_rows, _ in loaded for row in batch_rows}
        )
        mode = "shards" if target.shard_mode else "append"
        log.info(
            "push_started",
            repo=target.repo_id,
            mode=mode,
            batches=len(batches),
            rows=rows,
            cycles=cycles,
        )
        try:
            with _bounded_client(limits):
                if target.shard_mode:
                    url, files, duplicates = _push_shards(target, loaded, rows, cycles)
                else:
                    url, files, duplicates = _push_append(target, loaded, cycles, log)
        except Exception as exc:
            message = _describe(exc, target, limits)
            if message is None:
                store.note_error("push", f"internal error: {type(exc).__name__}", now)
                raise
            message = scrub.cut(message, ERROR_MESSAGE_LIMIT)
            log.error("push_failed", error=message, batches=len(batches), rows=rows)
            store.note_error("push", message, now)
            raise PushError(message) from None
        store.archive(batches, now)
        result = PushResult(rows, files, len(batches), url, duplicates)

        note = PushNote(
            at=iso_ms(now),
            rows=rows,
            cycles=cycles,
            batches=len(batches),
            files=files,
            commit_url=url,
            repo_id=target.repo_id,
        )
        store.update_state(lambda state: state.record_push(note))
        log.info(
            "pushed",
            rows=rows,
            cycles=cycles,
            batches=len(batches),
            files=files,
            duplicates=duplicates,
            commit_url=url,
        )
        return result


def _load(batch: Batch, log: EventLog) -> tuple[Batch, list[Row], bytes]:
    data = batch.path.read_bytes()
    read = decode_rows(data, str(batch.path))
    if read.problems:
        log.warning(
            "batch_damaged", batch=batch.id, problems=read.problems[:5], rows=len(read.rows)
        )
        data = encode_rows(read.rows, header=True)  # push what can be read; the file stays archived
    return batch, read.rows, data


def _api(target: PushTarget) -> HfApi:
    from huggingface_hub import HfApi

    adopt_library_handlers()

    return HfApi(
        endpoint=target.endpoint,
        token=target.token,  # explicit: never HF_TOKEN or a stored login
        library_name="inference-tracker",
        library_version=__version__,
    )


def _push_shards(
    target: PushTarget, loaded: list[tuple[Batch, list[Row], bytes]], rows: int, cycles: int
) -> tuple[str | None, int, int]:
    from huggingface_hub import CommitOperationAdd

    api = _api(target)
    operations = [
        CommitOperationAdd(path_in_repo=target.path_for(batch), path_or_fileobj=data)
        for batch, batch_rows, data in loaded
        if batch_rows
    ]
    if not _exists(api, target, CARD_PATH):
        card = dataset_card(target.filename_template).encode()
        operations.append(CommitOperationAdd(path_in_repo=CARD_PATH, path_or_fileobj=card))
    if not operations:
        return None, 0, 0
    info = api.create_commit(
        target.repo_id,
        operations,
        commit_message=f"Add {_count(rows, 'row')} from {_count(cycles, 'cycle')}"
        f" (probe {target.probe_id})",
        commit_description=_description(loaded),
        repo_type="dataset",
        revision=target.revision,
        token=target.token,
    )
    return info.commit_url, len(operations), 0


def _push_append(
    target: PushTarget, loaded: list[tuple[Batch, list[Row], bytes]], cycles: int, log: EventLog
) -> tuple[str | None, int, int]:
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    api = _api(target)
    by_path: dict[str, list[Row]] = {}
    for batch, batch_rows, _ in loaded:
        by_path.setdefault(target.path_for(batch), []).extend(batch_rows)
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        info = api.dataset_info(
            target.repo_id, revision=target.revision, expand=["sha"], token=target.token
        )
        head = info.sha
        if head is None:
            raise ValueError("the Hub did not say which commit the dataset is at")
        operations, added, duplicates = [], 0, 0
        for path, rows in by_path.items():
            merged, path_added, path_duplicates = merge_csv(
                _download(target, path, head), rows, path
            )
            added, duplicates = added + path_added, duplicates + path_duplicates
            if path_added:
                operations.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=merged))
        if not operations:
            log.info("push_already_there", duplicates=duplicates)
            return None, 0, duplicates
        where = operations[0].path_in_repo if len(operations) == 1 else f"{len(operations)} files"
        try:
            commit = api.create_commit(
                target.repo_id,
                operations,
                commit_message=(
                    f"Append {_count(added, 'row')} from {_count(cycles, 'cycle')} to {where}"
                    f" (probe {target.probe_id})"
                ),
                commit_description=_description(loaded),
                repo_type="dataset",
                revision=target.revision,
                token=target.token,
                parent_commit=head,
            )
        except HfHubHTTPError as exc:
            if exc.response is None or exc.response.status_code != 412:
                raise
            log.warning("push_conflict", attempt=attempt, of=CONFLICT_ATTEMPTS)
            continue
        if duplicates:
            log.info("push_duplicates_skipped", duplicates=duplicates)
        return commit.commit_url, len(operations), duplicates
    raise PushError(
        f"Hub refused the commit: 412 the dataset kept changing during the push"
        f" ({CONFLICT_ATTEMPTS} tries); the rows are kept for the next push"
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _description(loaded: list[tuple[Batch, list[Row], bytes]]) -> str:
    ids = ", ".join(batch.id for batch, _, _ in loaded)
    return f"Pushed by inference-tracker {__version__}. Batches: {ids}."


def _exists(api: HfApi, target: PushTarget, path: str) -> bool:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import RemoteEntryNotFoundError

    url = hf_hub_url(
        target.repo_id,
        path,
        repo_type="dataset",
        revision=target.revision,
        endpoint=target.endpoint,
    )
    try:
        get_hf_file_metadata(url, token=target.token, endpoint=target.endpoint)
    except RemoteEntryNotFoundError:
        return False
    return True


def _download(target: PushTarget, path: str, revision: str) -> bytes | None:
    """The file at `revision`, or None when the dataset has no such file."""
    from huggingface_hub import hf_hub_url

    # The public names in huggingface_hub.utils are implicit re-exports, which mypy --strict
    # refuses; the modules that define them are stable within the pinned major version.
    from huggingface_hub.utils._headers import build_hf_headers
    from huggingface_hub.utils._http import hf_raise_for_status, http_backoff

    url = hf_hub_url(
        target.repo_id, path, repo_type="dataset", revision=revision, endpoint=target.endpoint
    )
    headers = build_hf_headers(
        token=target.token, library_name="inference-tracker", library_version=__version__
    )
    response = http_backoff("GET", url, headers=headers)
    if response.status_code == 404 and response.headers.get("X-Error-Code") == "EntryNotFound":
        return None
    hf_raise_for_status(response)
    return response.content


# --- bounded HTTP ------------------------------------------------------------------------------


class _HubDeadline(Exception):
    """The push ran out of time. Not an httpx error, so the library does not retry it."""


class _HubUnreachable(Exception):
    """The connection was refused or the name did not resolve. Not retried either."""


@contextlib.contextmanager
def _bounded_client(
    limits: HubLimits, clock: Callable[[], float] = time.monotonic
) -> Iterator[None]:
    """Give huggingface_hub an httpx2 client whose every request ends by the push's deadline.

    The library's default client has no timeout, and it passes `timeout=None` itself in places:
    a request hook caps whatever the request carries, a response hook checks the deadline on
    every chunk of the body (a Hub that trickles bytes never trips a per-read timeout), and the
    transport turns a refused connection into an error the library does not retry.
    """
    import httpx2
    from huggingface_hub.utils._http import (
        default_client_factory,
        hf_request_event_hook,
        set_client_factory,
    )

    deadline = clock() + limits.total_seconds

    def remaining() -> float:
        left = deadline - clock()
        if left <= 0:
            raise _HubDeadline(f"no answer within {limits.total_seconds:g} s")
        return left

    def cap_timeouts(request: httpx2.Request) -> None:
        cap = min(limits.request_seconds, remaining())
        asked = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            part: cap if asked.get(part) is None else min(float(asked[part]), cap)
            for part in ("connect", "read", "write", "pool")
        }

    class Body(httpx2.SyncByteStream):
        def __init__(self, inner: httpx2.SyncByteStream) -> None:
            self._inner = inner

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                remaining()
                yield chunk

        def close(self) -> None:
            self._inner.close()

    def watch_body(response: httpx2.Response) -> None:
        if isinstance(response.stream, httpx2.SyncByteStream):
            response.stream = Body(response.stream)

    class Transport(httpx2.BaseTransport):
        def __init__(self) -> None:
            self._inner = httpx2.HTTPTransport(verify=_ssl_context())

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            try:
                return self._inner.handle_request(request)
            except httpx2.ConnectError as exc:
                raise _HubUnreachable(_reason(exc)) from None

        def close(self) -> None:
            self._inner.close()

    def factory() -> httpx2.Client:
        return httpx2.Client(
            event_hooks={
                "request": [hf_request_event_hook, cap_timeouts],
                "response": [watch_body],
            },
            follow_redirects=True,
            timeout=httpx2.Timeout(limits.request_seconds),
            transport=Transport(),
        )

    set_client_factory(factory)
    try:
        yield
    finally:
        set_client_factory(default_client_factory)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx2's default context (certifi, SSL_CERT_FILE...), built once: it costs ~0.1 s."""
    import httpx2

    return httpx2.create_ssl_context()


def _reason(exc: BaseException) -> str:
    text = _ERRNO_PREFIX.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return (text[:1].lower() + text[1:]).rstrip(".") or "connection failed"


def _describe(exc: BaseException, target: PushTarget, limits: HubLimits) -> str | None:
    """One line for a known failure; None for a bug."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    hub = target.endpoint
    if isinstance(exc, PushError | LayoutError):
        return str(exc)
    if isinstance(exc, _HubDeadline):
        return f"Hub unreachable at {hub}: {exc}"
    if isinstance(exc, _HubUnreachable):
        return f"Hub unreachable at {hub}: {exc}"
    if isinstance(exc, RepositoryNotFoundError):
        return (
            f"dataset {target.repo_id} not found at {hub}"
            " (check HF_DATASET_REPO_ID and that HF_HUB_TOKEN can see it)"
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        detail = (exc.server_message or "").strip().splitlines()
        reason = (detail[0] if detail else exc.response.reason_phrase or "").strip()
        verb = "Hub failed" if status >= 500 else "Hub refused the commit"
        return f"{verb}: {status} {reason}".rstrip()
    if isinstance(exc, httpx2.TimeoutException):
        return f"Hub unreachable at {hub}: no answer within {limits.request_seconds:g} s"
    if isinstance(exc, httpx2.TransportError):
        return f"Hub connection failed at {hub}: {_reason(exc)}"
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, which blocks every Hub call; unset it to push"
    if isinstance(exc, ValueError):
        return f"Hub answer not understood: {_reason(exc)}"
    return None
