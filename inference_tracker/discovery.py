"""The model listing: fetch it, parse it, keep the live (model, provider) pairs."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference_tracker.clock import Clock
from inference_tracker.errors import ConfigError, ListingError
from inference_tracker.logs import EventLog
from inference_tracker.net import RETRY_DELAYS, get_whole, retry_delay
from inference_tracker.record import advertised_figure

LISTING_TIMEOUT_SECONDS = 30.0  # each page, headers and body together
MAX_LISTING_BYTES = 64 * 1024 * 1024
MAX_PAGES = 50


class ProviderEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)

    provider: str = Field(min_length=1, validation_alias="provider")
    providerId: str = Field(min_length=1)
    providerStatus: str
    modelStatus: str


class ListedModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1)
    availableInferenceProviders: list[Any] | None = None


@dataclass(frozen=True)
class Pair:
    """One (model, live provider) pair to measure, with the figures the listing gives for it
    (optional: a missing or mistyped one is None, never a reason to drop the pair)."""

    model_id: str
    provider_name: str
    provider_model_id: str
    tokens_per_s: float | None = None  # the listing's tokensPerSecond
    price_output_per_m: float | None = None  # the listing's pricingOutput, USD per 1M tokens


@dataclass(frozen=True)
class Page:
    models: list[dict[str, Any]]
    total: int | None


def parse_page(payload: bytes | str, source: str) -> Page:
    """Decode one page of the listing; anything but a JSON object with `models` is an error."""
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    if text.lstrip()[:1] == "<":
        raise ListingError(f"model listing from {source} is HTML, not JSON")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ListingError(f"model listing from {source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "models" not in data:
        raise ListingError(f"model listing from {source} has no 'models' key")
    models = data["models"]
    if not isinstance(models, list):
        raise ListingError(f"model listing from {source}: 'models' is not a list")
    total = data.get("numTotalItems")
    return Page(
        models=models,
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
    )


def live_pairs(models: list[Any], models_to_fetch: int, log: EventLog) -> list[Pair]:
    """The first `models_to_fetch` well-formed models and their live/live providers."""
    pairs: list[Pair] = []
    kept = 0
    for index, raw in enumerate(models):
        if kept >= models_to_fetch:
            break
        try:
            model = ListedModel.model_validate(_with_name_alias(raw, None))
        except ValidationError as exc:
            log.warning("listing_entry_skipped", index=index, reason=_why_invalid(exc))
            continue
        kept += 1
        for raw_provider in model.availableInferenceProviders or []:
            try:
                entry = ProviderEntry.model_validate(_with_name_alias(raw_provider, "provider"))
            except ValidationError as exc:
                log.warning("provider_entry_skipped", model_id=model.id, reason=_why_invalid(exc))
                continue
            if entry.providerStatus == "live" and entry.modelStatus == "live":
                figures = raw_provider if isinstance(raw_provider, dict) else {}
                pairs.append(
                    Pair(
                        model.id,
                        entry.provider,
                        entry.providerId,
                        tokens_per_s=advertised_figure(figures.get("tokensPerSecond")),
                        price_output_per_m=advertised_figure(figures.get("pricingOutput")),
                    )
                )
    return pairs


def _with_name_alias(raw: Any, key: str | None) -> Any:
    """The original tool called the provider `name`; accept both."""
    if key and isinstance(raw, dict) and key not in raw and "name" in raw:
        return {**raw, key: raw["name"]}
    return raw


def _why_invalid(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "entry"
    return f"{where}: {first['msg']}"


def page_url(url: str, page: int) -> str:
    """The listing URL for page `page` (the models-json pages with `p=`)."""
    if page == 0:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "p"]
    query.append(("p", str(page)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def fetch_models(
    session: requests.Session,
    url: str,
    models_to_fetch: int,
    user_agent: str,
    deadline: float,
    clock: Clock = Clock(),
    *,
    retries: int = 0,
    stop: threading.Event | None = None,
    log: EventLog | None = None,
) -> list[Any]:
    """GET the listing, following pages until there are enough models, all by `deadline`. A
    page that fails with a 5xx or a network error is tried `retries` more times, as a call is
    (RETRY_DELAYS apart), while the pause ends before `deadline` and no `stop` came."""
    models: list[Any] = []
    for page in range(MAX_PAGES):
        current = page_url(url, page)
        body = _fetch_page(session, current, user_agent, deadline, clock, retries, stop, log)
        listing = parse_page(body, current)
        models.extend(listing.models)
        total = listing.total if listing.total is not None else len(models)
        if len(models) >= models_to_fetch or not listing.models or len(models) >= total:
            break
    return models


def _fetch_page(
    session: requests.Session,
    url: str,
    user_agent: str,
    deadline: float,
    clock: Clock,
    retries: int,
    stop: threading.Event | None,
    log: EventLog | None,
) -> bytes:
    stop = stop if stop is not None else threading.Event()
    pause = clock.pause_until_stopped(stop)
    attempt = 0
    while True:
        attempt += 1
        ends_at = min(deadline, clock.monotonic() + LISTING_TIMEOUT_SECONDS)
        try:
            return get_whole(
                session,
                url,
                user_agent,
                ends_at,
                clock,
                what="model listing",
                limit=MAX_LISTING_BYTES,
            )
        except ListingError as exc:
            delay = retry_delay(RETRY_DELAYS, attempt)
            if (
                not exc.transient
                or attempt > retries
                or clock.monotonic() + delay >= deadline
                or stop.is_set()
            ):
                raise
            if log is not None:
                log.warning("listing_retry", attempt=attempt, error=str(exc), retry_in_s=delay)
            pause(delay)
            if stop.is_set():
                raise


def read_models_file(path: Path) -> list[Any]:
    """A saved models-json page (for replaying a cycle offline). The file is the user's own
    argument: when it is missing or not a listing, that is a usage error (ConfigError)."""
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"--models-file {path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"--models-file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        return parse_page(payload, str(path)).models
    except ListingError as exc:
        raise ConfigError(f"--models-file: {exc}") from None
