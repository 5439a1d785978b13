"""The row schema: column order and types, canonical values, header masking, secret
scrubbing, reading a completion and grading its answer (answer.py).

Pure functions over plain data; nothing here touches the network, the disk or the clock.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from inference_tracker.answer import answer_text, is_correct

# Every column, in file order, with its type. Columns only ever grow, at the end: files,
# batches and datasets written with a start of this list (the original tool's first 14, the
# 21 before the streaming and catalog issues) are read, and upgraded, with the columns they
# lack empty. The dataset card declares the types (dataset.py) and every value is written in
# its type's canonical form (canonical_value); types are the `datasets` library's dtype names.
COLUMN_TYPES: dict[str, str] = {
    "cycle_timestamp_iso": "string",
    "model_id": "string",
    "provider_name": "string",
    "provider_model_id": "string",
    "request_url": "string",
    "request_body": "string",
    "request_headers_sanitized": "string",
    "request_start_iso": "string",
    "response_end_iso": "string",
    "duration_ms": "float64",
    "response_status_code": "int64",
    "response_body_raw": "string",
    "response_headers_sanitized": "string",
    "error_message": "string",
    "attempts": "int64",
    "error_class": "string",
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "finish_reason": "string",
    "answer_correct": "bool",
    "probe_id": "string",
    # the streaming issue
    "streamed": "bool",
    "ttft_ms": "float64",
    "output_tokens_per_s": "float64",
    "reasoning_tokens": "int64",
    "tokens_source": "string",
    # the router catalog issue
    "advertised_status": "string",
    "advertised_ttft_ms": "float64",
    "advertised_tokens_per_s": "float64",
    "price_input_per_m": "float64",
    "price_output_per_m": "float64",
    "cost_usd": "float64",
}
COLUMNS: tuple[str, ...] = tuple(COLUMN_TYPES)
OLDEST_LAYOUT = 14  # the original tool's columns: the shortest start of COLUMNS that is ours
ERROR_CLASSES = (
    "ok",
    "http_error",
    "timeout",
    "connection_error",
    "invalid_response",
    "deadline",
    "unmapped_provider",
    "stream_error",  # the streaming issue
    "budget",  # the router catalog issue
)
# Rows of pairs deliberately not called (providers.toml, the spending cap): no failure.
NOT_CALLED = ("unmapped_provider", "budget")
# What makes a row unique across pushes (append mode skips rows already present).
ROW_KEY = ("cycle_timestamp_iso", "model_id", "provider_name", "probe_id")

Row = dict[str, str]

_INT64 = (-(2**63), 2**63 - 1)
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def canonical_value(kind: str, value: str) -> str:
    """`value` in the one form a column of type `kind` is written in: integers without `.0`
    (20.0 is 20), floats as plain decimals with a point (100.0, 0.00001), booleans `true` or
    `false`, empty for missing. A value that is not of the type becomes empty: a reader
    would fail on it. Strings are kept as they are."""
    if kind == "string" or not value:
        return value
    if kind == "bool":
        word = value.strip().lower()
        number = _decimal(word)
        if number is not None and number in (0, 1):
            word = "1" if number else "0"
        return "true" if word in _TRUE else "false" if word in _FALSE else ""
    number = _decimal(value)
    if number is None:
        return ""
    if kind == "int64":
        if number != number.to_integral_value() or not _INT64[0] <= number <= _INT64[1]:
            return ""
        return str(int(number))
    text = format(Decimal(repr(float(number))), "f")  # float64's value, without an exponent
    text = "0" if text in ("-0", "-0.0") else text
    return text if "." in text else text + ".0"


def _decimal(text: str) -> Decimal | None:
    """A finite number, or None."""
    try:
        number = Decimal(text.strip().replace("_", "x"))  # Decimal would take 1_000
    except InvalidOperation:
        return None
    if not number.is_finite() or not math.isfinite(float(number)):
        return None
    return number


REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8
MASKED = "[MASKED]"
HF_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{30,}")
_TOKEN_START_AT_END = re.compile(r"hf_[A-Za-z0-9]*\Z")
MIN_FRAGMENT = 6  # a cut secret's start this long or longer is redacted
_CREDENTIAL_HEADERS = {"set-cookie", "cookie", "authorization", "proxy-authorization"}
_CREDENTIAL_PARTS = ("token", "secret", "api-key", "api_key", "apikey")
ERROR_MESSAGE_LIMIT = 500


class Scrubber:
    """Replaces secret values and anything shaped like a Hugging Face token."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole. Nothing shorter
        # than a token: scrubbing "1" would rewrite every number (settings refuse such tokens).
        real = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(real, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return HF_TOKEN_SHAPE.sub(REDACTED, text)

    def tail(self, text: str) -> str:
        """For text that was cut: the start of a token left at its end is redacted too."""
        text = _TOKEN_START_AT_END.sub(REDACTED, text)
        for secret in self._secrets:
            for size in range(len(secret) - 1, MIN_FRAGMENT - 1, -1):
                if text.endswith(secret[:size]):
                    return text[:-size] + REDACTED
        return text

    def cut(self, text: str, limit: int) -> str:
        """Scrub, then cut to `limit` characters without leaving part of a token behind."""
        text = self(text)
        if len(text) <= limit:
            return text
        return self.tail(text[: limit - len(REDACTED)])


def iso_ms(moment: datetime) -> str:
    """ISO 8601, UTC, milliseconds, Z."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _CREDENTIAL_HEADERS or any(part in lowered for part in _CREDENTIAL_PARTS)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Credential-bearing headers keep their name; the value becomes a mask."""
    masked: dict[str, str] = {}
    for name, value in headers.items():
        if not is_credential_header(name):
            masked[name] = value
        elif value.lower().startswith("bearer "):
            masked[name] = f"Bearer {MASKED}"
        else:
            masked[name] = MASKED
    return masked


# --- reading a response ------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """What a chat completion says, as far as the row needs it."""

    answer: str  # the message's content as text, reasoning removed ("" when it has none)
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens


def read_completion(body: bytes) -> Completion | None:
    """The chat completion in a body, or None when the body is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    prompt_tokens, completion_tokens, reasoning_tokens = read_usage(data.get("usage"))
    reason = choices[0].get("finish_reason")
    return Completion(
        # Only `content` is the answer: reasoning_content / reasoning never are.
        answer=answer_text(message.get("content")),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=reason if isinstance(reason, str) else None,
        reasoning_tokens=reasoning_tokens,
    )


def read_usage(usage: Any) -> tuple[int | None, int | None, int | None]:
    """Prompt, completion and reasoning tokens of a `usage` object (of a whole completion or
    of a stream's chunk); None for each one missing or not a count."""
    if not isinstance(usage, dict):
        return None, None, None
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return (
        whole_count(usage.get("prompt_tokens")),
        whole_count(usage.get("completion_tokens")),
        whole_count(reasoning),
    )


def whole_count(value: Any) -> int | None:
    """A count (tokens, a timestamp): a whole number >= 0, also when sent as a float (20.0);
    None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if value >= 0 else None


def error_summary(status: int, body: bytes) -> str:
    """A short message for a non-2xx answer: the provider's own message when it gives one."""
    detail = ""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("message", data.get("detail")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            detail = error if isinstance(error, str) else json.dumps(error)
    elif body.lstrip()[:1] == b"<":
        detail = "HTML error page"
    return f"HTTP {status}: {detail}" if detail else f"HTTP {status}"


def body_text(body: bytes, cut_bytes: int, scrub: Scrubber) -> str:
    """The stored form of a body: UTF-8 with replacement characters, scrubbed, a cut marker."""
    text = scrub(body.decode("utf-8", errors="replace"))
    if cut_bytes:
        text = scrub.tail(text)
        text += (
            f"\n[inference-tracker: body cut after {len(body)} bytes, {cut_bytes} bytes not stored]"
        )
    return text


# --- a cycle's rows in a few numbers -----------------------------------------------------


@dataclass(frozen=True)
class CycleSummary:
    """What status shows of a cycle: its start, how its rows ended, how long it took."""

    started: str
    rows: int
    ok: int
    failed: int
    skipped: int = 0  # pairs deliberately not called (providers.toml): not failures
    duration_s: float | None = None  # None when rebuilt from the rows on disk
    interrupted: bool = False
    models: int | None = None  # models the listing gave (None when rebuilt from the rows)


def summarise(
    rows: Sequence[Row],
    started: str,
    *,
    duration_s: float | None = None,
    interrupted: bool = False,
    models: int | None = None,
) -> CycleSummary:
    ok = sum(1 for row in rows if row.get("error_class") == "ok")
    skipped = sum(1 for row in rows if row.get("error_class") in NOT_CALLED)
    return CycleSummary(
        started=started,
        rows=len(rows),
        ok=ok,
        failed=len(rows) - ok - skipped,
        skipped=skipped,
        duration_s=duration_s,
        interrupted=interrupted,
        models=models,
    )


# --- building a row ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One planned request: what goes on the wire, bar the Authorization header."""

    model_id: str
    provider_name: str
    provider_model_id: str
    url: str
    body: str
    headers: Mapping[str, str]
    skip_reason: str = ""  # set when no request is made (unmapped_provider)


@dataclass(frozen=True)
class Outcome:
    """What happened to one call; `started` and `duration_ms` are of the final attempt."""

    error_class: str
    status: int = -1
    body: bytes = b""
    cut_bytes: int = 0
    headers: Mapping[str, str] | None = None
    error_message: str = ""
    attempts: int = 0
    started: datetime | None = None
    duration_ms: float | None = None
    # A streamed answer (`body` is then the completion reassembled from its chunks):
    streamed: bool = False
    ttft_ms: float | None = None  # from the send to the first chunk that carried a token
    token_span_ms: float | None = None  # from that chunk to the last one that carried a token
    token_chunks: int = 0  # chunks that carried a token (the count when there is no usage)


@dataclass(frozen=True)
class Advertised:
    """What the router's catalog (or, for gaps, the listing) says of a pair; None where it
    says nothing. See catalog.py."""

    status: str | None = None  # "live" or "error"
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    price_input_per_m: float | None = None  # USD per million tokens
    price_output_per_m: float | None = None


def advertised_figure(value: Any) -> float | None:
    """A figure of the catalog or the listing: a finite, non-negative number (bools are not
    numbers); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # an int past a float's range raises
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


COST_DECIMALS = 12  # of a dollar: float noise (0.00029204999999999997) stays out


def cost_usd(prompt: int | None, completion: int | None, advertised: Advertised) -> float | None:
    """What a call cost at the advertised prices; None when a price or the usage is unknown."""
    price_in, price_out = advertised.price_input_per_m, advertised.price_output_per_m
    if prompt is None or completion is None or price_in is None or price_out is None:
        return None
    return round((prompt * price_in + completion * price_out) / 1_000_000, COST_DECIMALS)


MIN_TOKEN_SPAN_MS = 10.0  # below this, the chunks came together: a rate would be noise


def output_speed(tokens: int | None, span_ms: float | None) -> float | None:
    """(tokens - 1) / seconds from the first to the last token chunk, as Artificial Analysis
    measures it, to 3 decimals; None when it is undefined (fewer than 2 tokens) or cannot be
    measured (the token chunks arrived within MIN_TOKEN_SPAN_MS of each other, as when a
    provider sends the whole answer in one burst)."""
    if tokens is None or tokens < 2 or span_ms is None or span_ms < MIN_TOKEN_SPAN_MS:
        return None
    return round((tokens - 1) / (span_ms / 1000.0), 3)


def build_row(
    cycle_start: datetime,
    call: Call,
    outcome: Outcome,
    *,
    expected_answer: str,
    probe_id: str,
    scrub: Scrubber,
    advertised: Advertised | None = None,
) -> Row:
    """One CSV row, every field scrubbed of secrets."""
    error_class = outcome.error_class
    error_message = outcome.error_message
    completion = read_completion(outcome.body) if outcome.body and not outcome.cut_bytes else None
    if error_class == "ok" and completion is None:
        error_class = "invalid_response"
        cut = " (body over the size cap)" if outcome.cut_bytes else ""
        error_message = error_message or f"HTTP {outcome.status} body is not a chat completion{cut}"
    ended = ""
    if outcome.started is not None and outcome.duration_ms is not None:
        ended = iso_ms(outcome.started + timedelta(milliseconds=outcome.duration_ms))
    request_headers = {**call.headers, "Authorization": f"Bearer {MASKED}"}
    prompt_tokens = completion.prompt_tokens if completion else None
    tokens = completion.completion_tokens if completion else None
    source = "usage" if tokens is not None else ""
    if tokens is None and outcome.streamed and outcome.token_chunks:
        tokens, source = outcome.token_chunks, "chunks"  # no usage: counted, and said so
    speed = output_speed(tokens, outcome.token_span_ms) if outcome.streamed else None
    advertised = advertised or Advertised()
    cost = cost_usd(prompt_tokens, tokens if source == "usage" else None, advertised)
    called = error_class not in NOT_CALLED
    row: Row = {
        "cycle_timestamp_iso": iso_ms(cycle_start),
        "model_id": call.model_id,
        "provider_name": call.provider_name,
        "provider_model_id": call.provider_model_id,
        "request_url": call.url,
        "request_body": call.body,
        "request_headers_sanitized": json.dumps(mask_headers(request_headers)),
        "request_start_iso": iso_ms(outcome.started) if outcome.started else "",
        "response_end_iso": ended,
        "duration_ms": _fmt_ms(outcome.duration_ms),
        "response_status_code": str(outcome.status),
        "response_body_raw": body_text(outcome.body, outcome.cut_bytes, scrub),
        "response_headers_sanitized": (
            json.dumps(mask_headers(outcome.headers)) if outcome.headers is not None else ""
        ),
        "error_message": scrub.cut(error_message, ERROR_MESSAGE_LIMIT),
        "attempts": str(outcome.attempts),
        "error_class": error_class,
        "prompt_tokens": _opt(prompt_tokens),
        "completion_tokens": _opt(tokens),
        "finish_reason": (completion.finish_reason or "") if completion else "",
        # Empty only without a completion; a completion without a final answer is false.
        "answer_correct": ""
        if completion is None
        else str(is_correct(completion.answer, expected_answer)).lower(),
        "probe_id": probe_id,
        "streamed": ("true" if outcome.streamed else "false") if called else "",
        "ttft_ms": _fmt_ms(outcome.ttft_ms),
        "output_tokens_per_s": _number(speed),
        "reasoning_tokens": _opt(completion.reasoning_tokens if completion else None),
        "tokens_source": source,
        "advertised_status": advertised.status or "",
        "advertised_ttft_ms": _number(advertised.ttft_ms),
        "advertised_tokens_per_s": _number(advertised.tokens_per_s),
        "price_input_per_m": _number(advertised.price_input_per_m),
        "price_output_per_m": _number(advertised.price_output_per_m),
        "cost_usd": _number(cost),
    }
    return {name: scrub(row.get(name, "")) for name in COLUMNS}


def _fmt_ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _number(value: float | None) -> str:
    """A float column's value (encode_rows writes it in its canonical form)."""
    return "" if value is None else repr(value)


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)
