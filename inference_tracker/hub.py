"""The Hub, through huggingface_hub's public API only, with every request bounded in time.

The only module that imports huggingface_hub and httpx2 (publish.py imports it inside
functions, so `status` and a collect without a push never pay for the import).

huggingface_hub's default HTTP client has no timeout and passes `timeout=None` itself in
places, retries a refused connection for 23 s and sleeps between retries with `time.sleep`.
Here the client it uses (set with its public `set_client_factory`) has a transport that, for
the Hub session in progress:
- caps every request's timeouts by `HubLimits.request_seconds` and by what is left of
  `HubLimits.total_seconds`, and checks that limit on every chunk of a body (a Hub that
  trickles bytes never trips a per-read timeout);
- fails a refused connection at once;
- retries what the library would retry (408, 429, 5xx, timeouts, dropped connections) for
  every request but the commit, with its own pauses (the injected clock's), then raises an
  error the library does not retry again.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx2
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    RepoFile,
    constants,
    get_session,
    hf_hub_url,
    hf_raise_for_status,
    set_client_factory,
)
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from inference_tracker import __version__
from inference_tracker.clock import Clock

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
REPO_TYPE = "dataset"
_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\]\s*")


@dataclass(frozen=True)
class HubLimits:
    total_seconds: float = 60.0  # a whole push or check, retries and pauses included
    request_seconds: float = 20.0  # connect, and each read or write of one request
    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 8.0)  # the library's own back-off


DEFAULT_LIMITS = HubLimits()  # a dead Hub fails a push in about a minute


class HubFailure(Exception):
    """A Hub request failed in a way this module recognised. One-line message."""


class HubUnreachable(HubFailure):
    """No connection: refused, or the name did not resolve."""


class HubTimeout(HubFailure):
    """No (complete) answer within a time limit; the message names the limit hit."""


class HubDropped(HubFailure):
    """The connection broke before the answer was complete."""


class HubConflict(HubFailure):
    """The branch moved since the commit named as parent (412): someone else committed."""


class HubBusy(HubFailure):
    """The Hub kept answering with a status worth retrying (408, 429, 5xx); `request` names
    the request, as `_request_name` does."""

    def __init__(self, status: int, reason: str, request: str) -> None:
        super().__init__(f"{status} {reason}".rstrip())
        self.status = status
        self.request = request


@dataclass(frozen=True)
class Refusal:
    """The Hub answered a request with an error status (not worth retrying)."""

    status: int
    reason: str  # the Hub's own first line (X-Error-Message or the JSON error)
    repo_not_found: bool  # the repo does not exist, or is private and the token cannot see it


class Hub:
    """A session with the Hub for one push or check, as `with Hub(...) as hub:`."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        limits: HubLimits = DEFAULT_LIMITS,
        clock: Clock = Clock(),
        on_retry: Callable[[str], object] = lambda what: None,
    ) -> None:
        self.endpoint = endpoint
        self._token = token
        self._limits = limits
        self._clock = clock
        self._on_retry = on_retry
        self._budget: contextvars.Token[_Budget | None] | None = None
        self.api = HfApi(
            endpoint=endpoint,
            token=token,  # explicit: never HF_TOKEN or a stored login
            library_name="inference-tracker",
            library_version=__version__,
        )

    def __enter__(self) -> Hub:
        if constants.is_offline_mode():
            raise HubFailure("HF_HUB_OFFLINE is set, which blocks every Hub call; unset it")
        _install_client()
        budget = _Budget(self._limits, self._clock, self._clock.monotonic(), self._on_retry)
        self._budget = _BUDGET.set(budget)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._budget is not None:
            _BUDGET.reset(self._budget)
            self._budget = None

    def pause(self, seconds: float) -> None:
        """Wait `seconds` (the injected clock's sleep) when this session has that time left;
        else go on at once: the next request then fails in time."""
        budget = _BUDGET.get()
        if budget is None or seconds < budget.left():
            (self._clock.sleep or time.sleep)(seconds)

    def allow(self, seconds: float) -> None:
        """Give this session `seconds` more in all, for work whose size is known up front (the
        files of an upgrade); each request stays bounded by `request_seconds`."""
        budget = _BUDGET.get()
        if budget is not None:
            budget.extra += seconds

    # --- what publish and check ask of the Hub ------------------------------------------------

    def head(self, repo_id: str, revision: str = "main") -> str:
        """The commit the dataset's branch is at."""
        with _answer_of("dataset info"):
            info = self.api.dataset_info(repo_id, revision=revision, expand=["sha"])
            if not isinstance(info.sha, str) or not info.sha:
                raise ValueError("no commit named as the head of the dataset")
            return info.sha

    def read(self, repo_id: str, path: str, revision: str = "main") -> bytes | None:
        """The file at `revision`, or None when the dataset has no such file."""
        return self._get_file(repo_id, path, revision, {})

    def list_files(self, repo_id: str, revision: str = "main") -> list[str]:
        """Every file of the dataset at `revision` (folders walked, not listed)."""
        with _answer_of("file listing"):
            entries = self.api.list_repo_tree(
                repo_id, recursive=True, revision=revision, repo_type=REPO_TYPE
            )
            paths = [entry.path for entry in entries if isinstance(entry, RepoFile)]
            if not all(isinstance(path, str) for path in paths):
                raise TypeError("a file path that is not a string")
            return paths

    def read_start(self, repo_id: str, path: str, revision: str, size: int) -> bytes | None:
        """The first `size` bytes of a file (one ranged request), or None when there is no such
        file. A Hub that ignores the range still gives only `size` bytes back."""
        data = self._get_file(repo_id, path, revision, {"Range": f"bytes=0-{size - 1}"})
        return None if data is None else data[:size]

    def _get_file(
        self, repo_id: str, path: str, revision: str, headers: dict[str, str]
    ) -> bytes | None:
        url = hf_hub_url(
            repo_id, path, repo_type=REPO_TYPE, revision=revision, endpoint=self.endpoint
        )
        response = get_session().get(
            url, headers={**self._headers(), **headers}, follow_redirects=True
        )
        if response.status_code == 404 and response.headers.get("X-Error-Code") == "EntryNotFound":
            return None
        if response.status_code == 416:  # a range of an empty file: it has no byte 0
            return b""
        hf_raise_for_status(response)
        return response.content

    def commit(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        message: str,
        description: str,
        parent: str | None = None,
        revision: str = "main",
    ) -> str | None:
        """Add or replace `files` in one commit; its URL. The library leaves out files whose
        content is already there, and makes no commit at all when nothing changed. With
        `parent`, raises HubConflict when the branch is no longer there."""
        try:
            with _answer_of("commit"):
                info = self.api.create_commit(
                    repo_id,
                    [
                        CommitOperationAdd(path_in_repo=p, path_or_fileobj=d)
                        for p, d in files.items()
                    ],
                    commit_message=message,
                    commit_description=description,
                    repo_type=REPO_TYPE,
                    revision=revision,
                    parent_commit=parent,
                )
                url = info.commit_url
                if url is not None and not isinstance(url, str):
                    raise TypeError(f"commitUrl is {url!r}")
                return url
        except HfHubHTTPError as exc:
            if parent is not None and exc.response.status_code == 412:
                raise HubConflict(f"{repo_id} changed since {parent[:8]}") from None
            raise

    def whoami(self) -> dict[str, Any]:
        """GET /api/whoami-v2 for this session's token: the account, its orgs, and the token's
        role and (fine-grained) permissions under auth.accessToken."""
        with _answer_of("whoami"):
            answer = self.api.whoami()
            if not isinstance(answer, dict):
                raise TypeError(f"whoami is a {type(answer).__name__}, not an object")
            return answer

    def repo_exists(self, repo_id: str) -> bool:
        """Whether the dataset exists as this token sees it (a private one it cannot see does
        not)."""
        with _answer_of("dataset info"):
            return self.api.repo_exists(repo_id, repo_type=REPO_TYPE)

    def can_write(self, repo_id: str) -> None:
        """Raises unless this token may write the dataset's content (GET .../auth-check/write):
        403 when it may only read it, RepositoryNotFoundError when it cannot see it."""
        with _answer_of("auth-check"):
            self.api.auth_check(repo_id, repo_type=REPO_TYPE, write=True)

    def create_repo(self, repo_id: str, *, private: bool) -> None:
        """Create the dataset; one that exists already is left as it is."""
        with _answer_of("repo creation"):
            self.api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)

    @staticmethod
    def refusal(exc: BaseException) -> Refusal | None:
        """The status and the Hub's words when `exc` is an error answer from the Hub (401, 403,
        404...); None for anything else (no answer, a retried status, a bug)."""
        if not isinstance(exc, HfHubHTTPError) or exc.response is None:
            return None
        detail = (exc.server_message or "").strip().splitlines()
        reason = (detail[0] if detail else exc.response.reason_phrase or "").strip()
        return Refusal(exc.response.status_code, reason, isinstance(exc, RepositoryNotFoundError))

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "User-Agent": f"inference-tracker/{__version__}",
        }

    # --- errors -----------------------------------------------------------------------------

    def describe(self, exc: BaseException, repo_id: str) -> str | None:
        """One line for a known failure of a Hub call; None for anything else (a bug)."""
        hub = self.endpoint
        if isinstance(exc, HubUnreachable | HubTimeout):
            return f"Hub unreachable at {hub}: {exc}"
        if isinstance(exc, HubDropped):
            return f"Hub connection failed at {hub}: {exc}"
        if isinstance(exc, HubBusy) and exc.status >= 500:
            return f"Hub failed: {exc}"
        if isinstance(exc, HubBusy):  # 408 or 429, still after the retries
            return f"Hub busy at {exc.request} after retries: {exc}"
        if isinstance(exc, RepositoryNotFoundError):
            return (
                f"dataset {repo_id} not found at {hub}"
                " (check HF_DATASET_REPO_ID and that HF_HUB_TOKEN can see it)"
            )
        if isinstance(exc, HfHubHTTPError) and exc.response is not None:
            status = exc.response.status_code
            detail = (exc.server_message or "").strip().splitlines()
            reason = (detail[0] if detail else exc.response.reason_phrase or "").strip()
            try:
                request = _request_name(exc.response.request)
            except RuntimeError:  # an answer made without its request
                request = "a request"
            return _failed(status, f"{status} {reason}".rstrip(), request)
        if isinstance(exc, HubFailure):
            return str(exc)
        return None


def _failed(status: int, answer: str, request: str) -> str:
    """One line for an error answer: a 5xx is the Hub failing; a 4xx names what it refused,
    and a 401 the setting to check."""
    if status >= 500:
        return f"Hub failed: {answer}"
    hint = " (check HF_HUB_TOKEN)" if status == 401 else ""
    return f"Hub refused {request}: {answer}{hint}"


def _request_name(request: httpx2.Request) -> str:
    """What was refused: "the commit" for either step of one (preupload, commit), else the
    method and path."""
    path = request.url.path
    if _is_commit(request) or (request.method == "POST" and "/preupload/" in path):
        return "the commit"
    return f"{request.method} {path}"


# The plain errors a library raises when an answer has another shape than it expects.
_ODD_ANSWER = (ValueError, KeyError, TypeError, AttributeError, IndexError)


@contextlib.contextmanager
def _answer_of(what: str) -> Iterator[None]:
    """huggingface_hub reads each answer as it goes; one of another shape (a list for an
    object, a key missing) makes it raise a plain Python error. That is the Hub's answer not
    understood, a one-line failure, not a bug of ours."""
    try:
        yield
    except (HubFailure, HfHubHTTPError):  # an error answer (BadRequestError is a ValueError)
        raise
    except _ODD_ANSWER as exc:
        raise HubFailure(f"Hub answer not understood ({what}): {_first_line(exc)}") from None


# --- the bounded client ----------------------------------------------------------------------


@dataclass
class _Budget:
    """The time a Hub session has, and how its requests are retried."""

    limits: HubLimits
    clock: Clock
    started: float
    on_retry: Callable[[str], object]
    extra: float = 0.0  # given by Hub.allow for work whose size is known

    def left(self) -> float:
        total = self.limits.total_seconds + self.extra
        left = self.started + total - self.clock.monotonic()
        if left <= 0:
            raise HubTimeout(f"no answer within {total:g} s")
        return left

    def send(self, inner: httpx2.BaseTransport, request: httpx2.Request) -> httpx2.Response:
        retry = not _is_commit(request)  # the library never retries a commit either
        delays = iter(self.limits.retry_delays if retry else ())
        while True:
            outcome = self._try(inner, request, retry)
            if isinstance(outcome, httpx2.Response):
                return outcome
            failure, asked = outcome
            pause = next(delays, None)
            if pause is None:
                raise failure
            pause = asked if asked is not None else pause
            if pause >= self.left():
                raise failure
            self.on_retry(f"{request.method} {request.url.path}: {failure}; again in {pause:g} s")
            (self.clock.sleep or time.sleep)(pause)

    def _try(
        self, inner: httpx2.BaseTransport, request: httpx2.Request, retry: bool
    ) -> httpx2.Response | tuple[HubFailure, float | None]:
        """One attempt: the response, or the failure and the pause the Hub asked for."""
        cap = min(self.limits.request_seconds, self.left())
        request.extensions["timeout"] = dict.fromkeys(("connect", "read", "write", "pool"), cap)
        try:
            response = inner.handle_request(request)
        except httpx2.ConnectError as exc:
            raise HubUnreachable(_first_line(exc)) from None
        except httpx2.TimeoutException:
            return HubTimeout(f"no answer within {cap:.3g} s"), None
        except httpx2.TransportError as exc:
            return HubDropped(_first_line(exc)), None
        if response.status_code not in RETRY_STATUSES or not retry:
            response.stream = _Watched(response.stream, self)
            return response
        try:
            response.read()
        finally:
            response.close()
        busy = HubBusy(response.status_code, _status_reason(response), _request_name(request))
        return busy, _retry_after(response)


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "inference_tracker_hub_budget", default=None
)


class _Watched(httpx2.SyncByteStream):
    """A response body that stops when the session's time is up, however slowly it comes."""

    def __init__(self, inner: Any, budget: _Budget) -> None:
        self._inner = inner
        self._budget = budget

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._budget.left()
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _Transport(httpx2.BaseTransport):
    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport(verify=_ssl_context())

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        budget = _BUDGET.get()
        if budget is None:  # not inside a Hub session: plain, but never without a timeout
            cap = DEFAULT_LIMITS.request_seconds
            asked = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {
                part: cap if asked.get(part) is None else min(float(asked[part]), cap)
                for part in ("connect", "read", "write", "pool")
            }
            return self._inner.handle_request(request)
        return budget.send(self._inner, request)

    def close(self) -> None:
        self._inner.close()


def _client() -> httpx2.Client:
    return httpx2.Client(
        follow_redirects=True,
        timeout=httpx2.Timeout(DEFAULT_LIMITS.request_seconds),
        transport=_Transport(),
    )


@functools.cache
def _install_client() -> None:
    """Once per process: huggingface_hub makes its shared client with our factory."""
    set_client_factory(_client)


@functools.cache
def _ssl_context() -> Any:
    """httpx2's default context (certifi, SSL_CERT_FILE...), built once: it costs ~0.1 s."""
    return httpx2.create_ssl_context()


def _is_commit(request: httpx2.Request) -> bool:
    return request.method == "POST" and "/commit/" in request.url.path


def _status_reason(response: httpx2.Response) -> str:
    """The Hub's own words for a failed request: X-Error-Message, a JSON error, the phrase."""
    message = response.headers.get("X-Error-Message")
    if not message:
        with contextlib.suppress(ValueError):
            body = response.json()
            error = body.get("error") if isinstance(body, dict) else None
            message = error if isinstance(error, str) else None
    text = (message or response.reason_phrase or "").strip()
    return text.splitlines()[0] if text else ""


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) + 1 if value.isdigit() else None  # +1 s as the library does


def _first_line(exc: BaseException) -> str:
    text = _ERRNO_PREFIX.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return (text[:1].lower() + text[1:]).rstrip(".") or "connection failed"
