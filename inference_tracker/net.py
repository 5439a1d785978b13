"""HTTP plumbing shared by the listing, the catalog and the probes: the session, bounded
reads and the bounded GET of a whole document.

`requests` gives a timeout per socket read; a server that trickles one byte at a time never
trips it. `read_body` bounds the whole body instead, `get_whole` the whole exchange, and
`describe_error` turns a network failure into a short, stable phrase for rows and error lines.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import socket
from collections.abc import Iterator, Sequence

import requests
import urllib3.exceptions

from inference_tracker.clock import Clock
from inference_tracker.errors import ListingError

CONNECT_TIMEOUT_SECONDS = 10.0
READ_CHUNK_BYTES = 65536
RETRY_DELAYS = (1.0, 3.0)  # between tries of a call or the listing; the last repeats


def retry_delay(delays: Sequence[float], attempt: int) -> float:
    """The pause after try `attempt` (1, 2, ...): the delays in turn, the last one repeated."""
    return delays[min(attempt, len(delays)) - 1]


class Overtime(Exception):
    """The time for a response ran out while its body was still arriving."""


def make_session(max_connections: int) -> requests.Session:
    """One session for a cycle: pooled connections, no retries of its own, no cookies kept."""
    session = requests.Session()
    # Every provider sits behind the same router host: a cookie one sets must never reach
    # the next (hf-api.md: never persist cookies).
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4, pool_maxsize=max_connections, max_retries=0
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def read_body(
    response: requests.Response, cap: int, ends_at: float, clock: Clock
) -> tuple[bytes, int]:
    """Read the whole body by `ends_at`, keeping the first `cap` bytes and counting the rest."""
    kept = bytearray()
    cut = 0
    for chunk in read_chunks(response, ends_at, clock):
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        cut += max(0, len(chunk) - max(room, 0))
    return bytes(kept), cut


def read_chunks(response: requests.Response, ends_at: float, clock: Clock) -> Iterator[bytes]:
    """The body's chunks as they arrive; raises Overtime when `ends_at` passes first."""
    raw = response.raw
    while True:
        left = ends_at - clock.monotonic()
        if left <= 0:
            raise Overtime
        _bound_next_read(raw, left)
        chunk = raw.read1(READ_CHUNK_BYTES, decode_content=True)
        if not chunk:
            return
        yield chunk


def _bound_next_read(raw: urllib3.BaseHTTPResponse, seconds: float) -> None:
    """Make the next socket read wait at most `seconds` (requests' timeout is per read)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


TIMEOUTS = (Overtime, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)
_SOCKET_ERRORS = (ConnectionRefusedError, ConnectionResetError, socket.gaierror)


def describe_error(exc: BaseException) -> str:
    """A short, stable description of a network error (no URL credentials, no repr noise)."""
    reason: BaseException | None = exc
    while reason is not None and not isinstance(reason, _SOCKET_ERRORS):
        reason = reason.__cause__ or reason.__context__
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(reason, socket.gaierror):
        return "name resolution failed"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError):
        return "connection dropped before the response was complete"
    return f"{type(exc).__name__}: {exc}"  # cut, after scrubbing, where it is stored


def get_whole(
    session: requests.Session,
    url: str,
    user_agent: str,
    ends_at: float,
    clock: Clock,
    *,
    what: str,
    limit: int,
) -> bytes:
    """One document, whole, by `ends_at` (on `clock`) and within `limit` bytes; ListingError,
    naming `what`, for anything else. `ends_at` is one budget for the headers and the body:
    headers that come late leave the body only what is left, so a fetch never outlasts it."""
    budget = ends_at - clock.monotonic()
    if budget <= 0:
        raise ListingError(f"{what} from {url} did not arrive whole before the deadline")
    response = None
    try:
        response = session.get(
            url,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            timeout=(min(CONNECT_TIMEOUT_SECONDS, budget), budget),
            stream=True,
        )
        if response.status_code != 200:
            raise ListingError(
                f"{what} answered HTTP {response.status_code}: {url}",
                transient=response.status_code >= 500,
            )
        body, cut = read_body(response, limit, ends_at, clock)
    except TIMEOUTS:
        raise ListingError(
            f"{what} from {url} did not arrive whole within {budget:.3g} s"
        ) from None
    except NETWORK_ERRORS as exc:
        raise ListingError(
            f"{what} unreachable at {url}: {describe_error(exc)}", transient=True
        ) from None
    finally:
        if response is not None:
            response.close()
    if cut:
        raise ListingError(f"{what} from {url} is over {limit} bytes")
    return body
